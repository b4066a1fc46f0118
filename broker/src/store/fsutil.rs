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
    buf.fill(0);
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], pos + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_at(what, path)(e)),
        }
    }
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
}
