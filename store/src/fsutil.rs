//! Small file-system helpers shared by the store's files.

use std::fs::{self, File};
use std::io;
use std::path::Path;

use super::error::io_at;

/// Width of the zero-padded numbers that name segment and queue files, so
/// that lexical order is numeric order (as in RocketMQ).
const NAME_WIDTH: usize = 20;

pub(crate) fn file_name(n: u64) -> String {
    format!("{n:0NAME_WIDTH$}")
}

/// The number a store file is named by, or `None` for any other file.
pub(crate) fn parse_file_name(name: &str) -> Option<u64> {
    if name.len() != NAME_WIDTH || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// Makes creations, renames and removals inside `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_at("fsync directory", dir))
}

/// Replaces `dir/name` with `bytes` atomically: written to `dir/tmp`,
/// fsynced, renamed over `name`, and the directory fsynced. A crash leaves
/// the old file or the new one, never a torn one (a torn `tmp` is only
/// ever overwritten, never read).
pub(crate) fn replace_file(dir: &Path, name: &str, tmp: &str, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(tmp);
    let path = dir.join(name);
    let mut f = File::create(&tmp).map_err(io_at("create", &tmp))?;
    f.write_all(bytes).map_err(io_at("write", &tmp))?;
    f.sync_all().map_err(io_at("fsync", &tmp))?;
    drop(f);
    fs::rename(&tmp, &path).map_err(io_at("rename to", &path))?;
    sync_dir(dir)
}

/// Makes `file` at least `len` bytes long with its blocks allocated, so
/// later writes into it neither allocate blocks nor change the file size.
///
/// On ext4 a buffered write into a sparse range allocates as it goes and
/// runs at a fraction of the speed of one into allocated (unwritten-extent)
/// space (docs/STORE.md has the figures). Where the file system cannot
/// allocate ahead, or the disk has too little free space, the file is
/// extended sparse instead: slower, but correct. Returns whether the blocks
/// were allocated.
pub(crate) fn preallocate(file: &File, path: &Path, len: u64) -> io::Result<bool> {
    let have = file.metadata().map_err(io_at("stat", path))?.len();
    if have < len {
        // Sparse growth first: the file has its full length even if the
        // allocation below is refused, and reads past `have` see zeroes.
        file.set_len(len).map_err(io_at("extend", path))?;
    }
    match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len) {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::OPNOTSUPP || e == rustix::io::Errno::NOSYS => {
            tracing::debug!(path = %path.display(), "file system cannot preallocate; file stays sparse");
            Ok(false)
        }
        // Not enough free space to allocate the whole file ahead: the store
        // goes on with a sparse file, and the disk-usage limits (sends
        // refused above disk_reject_ratio) take over from here.
        Err(e) if e == rustix::io::Errno::NOSPC => {
            tracing::warn!(path = %path.display(), len, "not enough free space to preallocate; file stays sparse");
            Ok(false)
        }
        Err(e) => Err(io_at("preallocate", path)(io::Error::from(e))),
    }
}

/// O_DIRECT alignment of memory, file offsets and lengths.
pub(crate) const ALIGN: u64 = 4096;

/// `len` bytes of zeroed memory aligned for O_DIRECT, inside a slightly
/// larger allocation (no `unsafe` needed).
pub(crate) struct AlignedBuf {
    raw: Vec<u8>,
    at: usize,
    len: usize,
}

impl AlignedBuf {
    pub(crate) fn new(len: usize) -> Self {
        let raw = vec![0u8; len + ALIGN as usize];
        let at = raw.as_ptr().align_offset(ALIGN as usize);
        Self { raw, at, len }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.raw[self.at..self.at + self.len]
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.raw[self.at..self.at + self.len]
    }
}

/// Writes zeroes over the first `len` bytes of the file at `path`
/// (already open as `file`), bypassing the page cache with O_DIRECT where
/// the file system supports it and through `file` otherwise. Not synced.
pub(crate) fn fill_zeroes(file: &File, path: &Path, len: u64) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    const CHUNK: usize = 1 << 20;
    let zeroes = AlignedBuf::new(CHUNK);
    let zeroes = zeroes.as_slice();
    let mut done = 0;
    if len.is_multiple_of(ALIGN) {
        if let Ok(direct) = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
        {
            match write_zeroes(&direct, zeroes, &mut done, len) {
                Ok(()) => return Ok(()),
                // A file system that opens with O_DIRECT but refuses its
                // writes: go on through the page cache.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
                Err(e) => return Err(io_at("fill with zeroes", path)(e)),
            }
        }
    }
    write_zeroes(file, zeroes, &mut done, len).map_err(io_at("fill with zeroes", path))
}

/// Writes `zeroes` repeatedly from `*pos` up to `len`, advancing `*pos`.
fn write_zeroes(file: &File, zeroes: &[u8], pos: &mut u64, len: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    while *pos < len {
        let n = (len - *pos).min(zeroes.len() as u64) as usize;
        file.write_all_at(&zeroes[..n], *pos)?;
        *pos += n as u64;
    }
    Ok(())
}

/// Creates `dir` (and parents) and fsyncs it and its parent, so the new
/// directory survives a crash.
pub(crate) fn create_dir_durable(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(io_at("create directory", dir))?;
    sync_dir(dir)?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Numbered files in `dir`, sorted; other entries are ignored with a
/// warning (a stray editor backup must not stop the broker).
pub(crate) fn numbered_files(dir: &Path) -> io::Result<Vec<(u64, std::path::PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_at("list directory", dir))? {
        let entry = entry.map_err(io_at("list directory", dir))?;
        let name = entry.file_name();
        match name.to_str().and_then(parse_file_name) {
            Some(n) if entry.path().is_file() => out.push((n, entry.path())),
            _ => {
                tracing::warn!(file = %entry.path().display(), "ignoring unexpected file in store directory")
            }
        }
    }
    out.sort_unstable_by_key(|(n, _)| *n);
    Ok(out)
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Reads `buf.len()` bytes of `file` at `pos`; bytes past the end of the
/// file (a short or damaged one) are left as zeroes, which readers treat as
/// unwritten space.
pub(crate) fn read_zero_filled(
    file: &File,
    path: &Path,
    what: &'static str,
    buf: &mut [u8],
    pos: u64,
) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], pos + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_at(what, path)(e)),
        }
    }
    // Only what the file did not fill (zeroing the whole buffer first
    // cost a memset of every 1 MiB block loaded).
    buf[done..].fill(0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(file_name(65536), "00000000000000065536");
        assert_eq!(parse_file_name("00000000000000065536"), Some(65536));
        assert_eq!(parse_file_name("65536"), None);
        assert_eq!(parse_file_name("0000000000000006553x"), None);
    }

    /// A new, empty file open for reading and writing.
    fn scratch(path: &Path) -> File {
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .unwrap()
    }

    #[test]
    fn preallocated_files_have_their_blocks_and_read_as_zeroes() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let f = scratch(&path);
        let len = 3 << 20;
        assert!(
            preallocate(&f, &path, len).unwrap(),
            "ext4 and tmpfs allocate"
        );
        let meta = f.metadata().unwrap();
        assert_eq!(meta.len(), len);
        assert!(
            meta.blocks() * 512 >= len,
            "{} bytes allocated of {len}",
            meta.blocks() * 512
        );
        let mut buf = vec![1u8; 4096];
        read_zero_filled(&f, &path, "read", &mut buf, len - 4096).unwrap();
        assert!(buf.iter().all(|&b| b == 0));
        // Growing again keeps the length; shrinking is not its job.
        assert!(preallocate(&f, &path, len / 2).unwrap());
        assert_eq!(f.metadata().unwrap().len(), len);
    }

    #[test]
    fn a_read_past_the_end_zeroes_only_what_the_file_lacks() {
        use std::os::unix::fs::FileExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short");
        let f = scratch(&path);
        f.write_all_at(&[0xAB; 100], 0).unwrap();
        let mut buf = vec![0xFFu8; 4096];
        read_zero_filled(&f, &path, "read", &mut buf, 40).unwrap();
        assert_eq!(&buf[..60], &[0xAB; 60]);
        assert!(buf[60..].iter().all(|&b| b == 0));
    }

    #[test]
    fn zero_fill_overwrites_everything_aligned_or_not() {
        use std::os::unix::fs::FileExt;
        let dir = tempfile::tempdir().unwrap();
        // Aligned (O_DIRECT where supported) and unaligned (buffered).
        for len in [(2 << 20) + 8192, (1 << 20) + 123] {
            let path = dir.path().join(format!("f{len}"));
            let f = scratch(&path);
            f.write_all_at(&vec![0xAB; len as usize + 10], 0).unwrap();
            fill_zeroes(&f, &path, len).unwrap();
            let mut back = vec![0xFFu8; len as usize + 10];
            f.read_exact_at(&mut back, 0).unwrap();
            assert!(back[..len as usize].iter().all(|&b| b == 0), "len {len}");
            assert_eq!(&back[len as usize..], &[0xAB; 10], "nothing past len");
        }
    }
}
