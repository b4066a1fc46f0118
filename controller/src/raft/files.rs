//! Small files the controller keeps whole (vote, committed index,
//! snapshot): written to a temporary file, fsynced, renamed over the old
//! one and the directory fsynced, so a crash leaves the old file or the
//! new one, never a mix. Each carries a CRC32C of its contents, so a file
//! damaged on disk is an error, not a wrong vote.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Writes `value` to `dir/name` atomically and durably.
pub(crate) fn write_atomic<T: Serialize>(dir: &Path, name: &str, value: &T) -> io::Result<()> {
    let body = postcard::to_stdvec(value).map_err(io::Error::other)?;
    let mut bytes = Vec::with_capacity(body.len() + 4);
    bytes.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
    bytes.extend_from_slice(&body);
    let tmp = dir.join(format!("{name}.tmp"));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

/// Reads `dir/name`, `None` if it does not exist.
///
/// # Errors
/// An I/O error, or `InvalidData` if the checksum or the encoding is wrong.
pub(crate) fn read_whole<T: DeserializeOwned>(dir: &Path, name: &str) -> io::Result<Option<T>> {
    let bytes = match fs::read(dir.join(name)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let bad = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {what}", dir.join(name).display()),
        )
    };
    if bytes.len() < 4 {
        return Err(bad("shorter than its checksum"));
    }
    let (crc, body) = bytes.split_at(4);
    if crc32c::crc32c(body).to_le_bytes() != crc {
        return Err(bad("checksum mismatch"));
    }
    postcard::from_bytes(body)
        .map(Some)
        .map_err(|e| bad(&format!("cannot decode: {e}")))
}

/// Makes a rename or a new file in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage_is_an_error() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_whole::<u64>(dir.path(), "v").ok(), Some(None));
        write_atomic(dir.path(), "v", &(7u64, "x".to_string())).unwrap_or_else(|e| panic!("{e}"));
        let back: Option<(u64, String)> =
            read_whole(dir.path(), "v").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, Some((7, "x".into())));
        let p = dir.path().join("v");
        let mut bytes = fs::read(&p).unwrap_or_else(|e| panic!("{e}"));
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&p, bytes).unwrap_or_else(|e| panic!("{e}"));
        let err = read_whole::<(u64, String)>(dir.path(), "v").err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidData));
    }
}
