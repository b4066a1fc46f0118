//! One commit-log segment file: a fixed-size file named by the commit-log
//! offset of its first byte. Space never written reads as zeroes.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::error::io_at;
use super::fsutil::{file_name, fill_zeroes, preallocate, sync_dir};

/// Bytes zeroed at the start of a reused segment: one page, so that it
/// reads as unwritten (recovery, and `CommitLog::truncate`'s check of
/// segments past the end, look at a segment's first bytes).
const REUSED_HEAD: u64 = 4096;

pub(crate) struct Segment {
    base: u64,
    path: PathBuf,
    file: File,
    /// The same file opened with O_DIRECT, when the log bypasses the page
    /// cache (`StoreConfig::direct_io`); all log writes then go through it.
    direct: Option<File>,
}

/// Opens `path` for reading and writing with O_DIRECT.
pub(crate) fn open_direct(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .map_err(io_at("open segment for direct I/O", path))
}

impl Segment {
    /// Creates `dir/<base>` of `size` bytes, allocated ahead (see
    /// `fsutil::preallocate`) and, with `prefill`, written full of zeroes
    /// (see `StoreConfig::prefill_segments`), and makes its existence and
    /// contents durable. Never-written space reads back as zeroes either
    /// way: "unwritten".
    pub(crate) fn create(
        dir: &Path,
        base: u64,
        size: u64,
        prefill: bool,
        direct: bool,
    ) -> io::Result<Self> {
        let (path, file, _) = Self::create_file(dir, base, size, prefill)?;
        Self::with_file(path, base, file, direct)
    }

    /// The file part of [`Self::create`] (also how the allocator makes a
    /// prefilled spare): `dir/<base>` at full size, durable, and whether
    /// it was written full of zeroes. A half-made file is removed.
    pub(crate) fn create_file(
        dir: &Path,
        base: u64,
        size: u64,
        prefill: bool,
    ) -> io::Result<(PathBuf, File, bool)> {
        let path = dir.join(file_name(base));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_at("create segment", &path))?;
        let made = (|| {
            // Without allocated blocks (no room on the disk, or a file
            // system that cannot) zeroes would only fail the creation or
            // fill the disk.
            let filled = preallocate(&file, &path, size)? && prefill;
            if filled {
                fill_zeroes(&file, &path, size)?;
            }
            file.sync_all().map_err(io_at("fsync segment", &path))?;
            sync_dir(dir)?;
            Ok(filled)
        })();
        match made {
            Ok(filled) => Ok((path, file, filled)),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }

    /// Makes `spare`, a former segment of the same size that retention
    /// kept (see `StoreConfig::recycle_segments`), the segment `dir/<base>`:
    /// renames it, zeroes its first page so that the new segment reads as
    /// unwritten from its start, and makes both durable. The rest keeps its
    /// old bytes. Nothing serves them: readers stay below what the writer
    /// wrote, the writer zeroes the rest of every page it writes, and
    /// recovery accepts a record only where it was stamped to be (every
    /// record names its own commit-log offset, and these name an older one).
    pub(crate) fn reuse(spare: &Path, dir: &Path, base: u64, direct: bool) -> io::Result<Self> {
        let path = dir.join(file_name(base));
        std::fs::rename(spare, &path).map_err(io_at("reuse spare segment", spare))?;
        let prepared = (|| {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(io_at("open segment", &path))?;
            fill_zeroes(&file, &path, REUSED_HEAD)?;
            file.sync_data().map_err(io_at("fsync segment", &path))?;
            sync_dir(dir)?;
            if let Some(spares) = spare.parent() {
                sync_dir(spares)?;
            }
            Self::with_file(path.clone(), base, file, direct)
        })();
        if prepared.is_err() {
            // Leave no half-prepared segment behind for the caller's
            // fallback (a fresh file of the same name).
            let _ = std::fs::remove_file(&path);
        }
        prepared
    }

    pub(crate) fn open(path: PathBuf, base: u64, direct: bool) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_at("open segment", &path))?;
        Self::with_file(path, base, file, direct)
    }

    /// The segment around an open `file`, with its O_DIRECT handle if
    /// `direct`.
    fn with_file(path: PathBuf, base: u64, file: File, direct: bool) -> io::Result<Self> {
        let direct = direct.then(|| open_direct(&path)).transpose()?;
        Ok(Self {
            base,
            path,
            file,
            direct,
        })
    }

    pub(crate) fn base(&self) -> u64 {
        self.base
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Last modification of the file: retention's notion of its age.
    pub(crate) fn modified(&self) -> io::Result<std::time::SystemTime> {
        self.file
            .metadata()
            .and_then(|m| m.modified())
            .map_err(io_at("stat segment", &self.path))
    }

    pub(crate) fn len_on_disk(&self) -> io::Result<u64> {
        Ok(self
            .file
            .metadata()
            .map_err(io_at("stat segment", &self.path))?
            .len())
    }

    /// Reads exactly `buf.len()` bytes at `pos` (relative to the segment).
    pub(crate) fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        self.file
            .read_exact_at(buf, pos)
            .map_err(io_at("read segment", &self.path))
    }

    /// Reads up to `buf.len()` bytes at `pos`; bytes past the end of a
    /// (damaged, short) file are left as zeroes, which the scanner treats as
    /// unwritten space.
    pub(crate) fn read_zero_filled(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        super::fsutil::read_zero_filled(&self.file, &self.path, "read segment", buf, pos)
    }

    pub(crate) fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        self.file
            .write_all_at(buf, pos)
            .map_err(io_at("write segment", &self.path))
    }

    /// Whether the segment is open for O_DIRECT.
    pub(crate) fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    fn direct(&self) -> io::Result<&File> {
        self.direct.as_ref().ok_or_else(|| {
            io::Error::other(format!(
                "{} is not open for direct I/O",
                self.path.display()
            ))
        })
    }

    /// Writes `bufs`, back to back, at `pos` with O_DIRECT in one call:
    /// memory, `pos` and lengths aligned to 4 KiB (see
    /// `cache::BlockCache::write`). The kernel sends the device all of it
    /// at once instead of one request after another.
    pub(crate) fn write_direct_vectored_at(
        &self,
        bufs: &mut [io::IoSlice<'_>],
        pos: u64,
    ) -> io::Result<()> {
        let file = self.direct()?;
        let mut rest = bufs;
        let mut at = pos;
        while !rest.is_empty() {
            let n = rustix::io::pwritev(file, rest, at)
                .map_err(io::Error::from)
                .map_err(io_at("write segment", &self.path))?;
            if n == 0 {
                return Err(io_at("write segment", &self.path)(io::Error::from(
                    io::ErrorKind::WriteZero,
                )));
            }
            at += n as u64;
            io::IoSlice::advance_slices(&mut rest, n);
        }
        Ok(())
    }

    /// Fills `buf` (aligned, a multiple of 4 KiB) from `pos` with O_DIRECT;
    /// bytes past the end of a short file are zeroes.
    pub(crate) fn read_direct_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        super::fsutil::read_zero_filled(self.direct()?, &self.path, "read segment", buf, pos)
    }

    pub(crate) fn sync_data(&self) -> io::Result<()> {
        self.file
            .sync_data()
            .map_err(io_at("fdatasync segment", &self.path))
    }

    /// Drops everything from `pos` on: shrinking and re-growing the file turns
    /// the rest into zeroes without writing them, so stale records past a
    /// cut can never be mistaken for new ones later. The regrown part is
    /// allocated again for the appends that follow.
    pub(crate) fn cut(&self, pos: u64, size: u64) -> io::Result<()> {
        self.file
            .set_len(pos)
            .map_err(io_at("truncate segment", &self.path))?;
        preallocate(&self.file, &self.path, size)?;
        self.file
            .sync_all()
            .map_err(io_at("fsync segment", &self.path))
    }
}
