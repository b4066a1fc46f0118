//! The `epochs` file: the store's epoch history, big-endian.
//!
//! ```text
//! u32 magic "FMQE" | u32 version (1) | u32 entry count
//! | per entry: u32 epoch, u64 start offset
//! | u32 CRC32C of everything before it
//! ```
//!
//! Replaced atomically (temp file, fsync, rename, directory fsync; see
//! `fsutil::replace_file`), so a crash leaves the old history or the new
//! one. A file that does not verify is [`StoreError::CorruptFile`], never
//! silently taken as an empty history: that would let a slave keep bytes
//! its master never had.

use std::fs;
use std::path::Path;

use super::EpochEntry;
use crate::error::{io_at, Damage, StoreError};
use crate::fsutil::replace_file;

const MAGIC: u32 = 0x464D_5145;
const VERSION: u32 = 1;
pub(crate) const FILE: &str = "epochs";
const TMP: &str = "epochs.tmp";
const ENTRY_LEN: usize = 12;
/// Refuse to read anything larger: a million changes of master.
const MAX_LEN: u64 = 16 << 20;

fn encode(entries: &[EpochEntry]) -> Vec<u8> {
    let mut b = Vec::with_capacity(16 + entries.len() * ENTRY_LEN);
    b.extend_from_slice(&MAGIC.to_be_bytes());
    b.extend_from_slice(&VERSION.to_be_bytes());
    b.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    for e in entries {
        b.extend_from_slice(&e.epoch.to_be_bytes());
        b.extend_from_slice(&e.start.get().to_be_bytes());
    }
    let crc = ferromq_protocol::crc32c(&b);
    b.extend_from_slice(&crc.to_be_bytes());
    b
}

fn decode(b: &[u8]) -> Result<Vec<EpochEntry>, Damage> {
    let (body, crc) = b.split_last_chunk::<4>().ok_or(Damage::Truncated)?;
    if ferromq_protocol::crc32c(body) != u32::from_be_bytes(*crc) {
        return Err(Damage::ChecksumMismatch);
    }
    let u32_at = |i: usize| -> Result<u32, Damage> {
        let a = body.get(i..i + 4).ok_or(Damage::Truncated)?;
        Ok(u32::from_be_bytes([a[0], a[1], a[2], a[3]]))
    };
    let magic = u32_at(0)?;
    if magic != MAGIC {
        return Err(Damage::BadMagic(magic));
    }
    let version = u32_at(4)?;
    if version != VERSION {
        return Err(Damage::UnsupportedVersion(version));
    }
    let n = u32_at(8)? as usize;
    let rest = &body[12..];
    if rest.len() < n.saturating_mul(ENTRY_LEN) {
        return Err(Damage::Truncated);
    }
    if rest.len() > n * ENTRY_LEN {
        return Err(Damage::TrailingBytes);
    }
    let mut out: Vec<EpochEntry> = Vec::with_capacity(n);
    for (index, c) in rest.chunks_exact(ENTRY_LEN).enumerate() {
        let mut start = [0u8; 8];
        start.copy_from_slice(&c[4..]);
        let e = EpochEntry::new(
            u32::from_be_bytes([c[0], c[1], c[2], c[3]]),
            u64::from_be_bytes(start),
        );
        if out
            .last()
            .is_some_and(|l| l.epoch >= e.epoch || l.start >= e.start)
        {
            return Err(Damage::OutOfOrder { index });
        }
        out.push(e);
    }
    Ok(out)
}

/// Replaces the file with `entries` atomically.
pub(crate) fn write(dir: &Path, entries: &[EpochEntry]) -> std::io::Result<()> {
    replace_file(dir, FILE, TMP, &encode(entries))
}

/// The history in `dir`; empty if there is no file.
///
/// # Errors
/// `CorruptFile` if it does not verify, `Io` if it cannot be read.
pub(crate) fn read(dir: &Path) -> Result<Vec<EpochEntry>, StoreError> {
    let path = dir.join(FILE);
    let len = match fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_at("stat", &path)(e).into()),
    };
    if len > MAX_LEN {
        return Err(StoreError::CorruptFile {
            path,
            reason: Damage::TooLarge { len },
        });
    }
    let bytes = fs::read(&path).map_err(io_at("read", &path))?;
    decode(&bytes).map_err(|reason| StoreError::CorruptFile { path, reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<EpochEntry> {
        vec![
            EpochEntry::new(1, 0),
            EpochEntry::new(2, 4096),
            EpochEntry::new(7, 1 << 40),
        ]
    }

    #[test]
    fn round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).unwrap().is_empty());
        write(dir.path(), &sample()).unwrap();
        assert_eq!(read(dir.path()).unwrap(), sample());
        write(dir.path(), &[]).unwrap();
        assert!(read(dir.path()).unwrap().is_empty());
        assert!(!dir.path().join(TMP).exists());
    }

    #[test]
    fn a_torn_temp_file_leaves_the_old_history() {
        // A crash while the new history was being written: the temp file
        // holds part of it, the rename never happened.
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &sample()).unwrap();
        let new = encode(&[EpochEntry::new(9, 1 << 41)]);
        fs::write(dir.path().join(TMP), &new[..new.len() / 2]).unwrap();
        assert_eq!(read(dir.path()).unwrap(), sample());
        // The next write goes over it.
        write(dir.path(), &sample()[..1]).unwrap();
        assert_eq!(read(dir.path()).unwrap(), sample()[..1]);
    }

    #[test]
    fn damage_is_named() {
        let reseal = |mut b: Vec<u8>| {
            b.truncate(b.len() - 4);
            let crc = ferromq_protocol::crc32c(&b);
            b.extend_from_slice(&crc.to_be_bytes());
            b
        };
        assert_eq!(decode(&[1, 2]), Err(Damage::Truncated));
        let mut b = encode(&sample());
        b[14] ^= 1;
        assert_eq!(decode(&b), Err(Damage::ChecksumMismatch));
        let mut b = encode(&sample());
        b[4..8].copy_from_slice(&2u32.to_be_bytes());
        assert_eq!(decode(&reseal(b)), Err(Damage::UnsupportedVersion(2)));
        let mut b = encode(&sample());
        b.insert(b.len() - 4, 0);
        assert_eq!(decode(&reseal(b)), Err(Damage::TrailingBytes));
        let mut b = encode(&sample());
        b[8..12].copy_from_slice(&4u32.to_be_bytes());
        assert_eq!(decode(&reseal(b)), Err(Damage::Truncated));
        let swapped = [EpochEntry::new(2, 0), EpochEntry::new(1, 10)];
        assert_eq!(
            decode(&encode(&swapped)),
            Err(Damage::OutOfOrder { index: 1 })
        );
        let same_start = [EpochEntry::new(1, 10), EpochEntry::new(2, 10)];
        assert_eq!(
            decode(&encode(&same_start)),
            Err(Damage::OutOfOrder { index: 1 })
        );

        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE), b"not an epoch file").unwrap();
        match read(dir.path()) {
            Err(StoreError::CorruptFile { path, reason }) => {
                assert_eq!(path, dir.path().join(FILE));
                assert_eq!(reason, Damage::ChecksumMismatch);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn any_damage_is_detected() {
        let good = encode(&sample());
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= 0x10;
            assert!(decode(&b).is_err(), "flip at {i}");
        }
        for cut in 0..good.len() {
            assert!(decode(&good[..cut]).is_err(), "cut at {cut}");
        }
    }
}
