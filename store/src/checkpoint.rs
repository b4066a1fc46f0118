//! The checkpoint file: how far the commit log is durable and how far the
//! consume queues are, so recovery only scans what came after.
//!
//! ```text
//! u32 magic "FMQC" | u32 version (2) | u64 flushed commit-log offset
//! | u64 cq-consistent commit-log offset | u64 written at (ms)
//! | u8 index state (0 unknown, 1 no file yet, 2 at) | u64 index file
//! | u32 index next entry
//! | u32 queue count | per queue: u8 topic len, topic, u32 queue id,
//!   u64 entries, u64 min offset
//! | u32 CRC32C of everything before it
//! ```
//!
//! Version 1 (no index fields, no min offsets) is still read: its index
//! state is "unknown" (the index is rebuilt) and its mins are 0.
//!
//! "cq-consistent" offset D: every consume-queue and index entry for a
//! record below D was fsynced before the file was written, and each queue
//! then held exactly the listed number of entries (the index: exactly its
//! files up to the listed one, which had the listed next entry). Written to
//! a temp file, fsynced, renamed over the old one and the directory
//! fsynced, so a crash leaves either the old or the new checkpoint, never a
//! torn one.

use std::fs;
use std::path::Path;

use ferromq_protocol::{QueueId, TopicName};

use super::error::{io_at, Damage, StoreError};
use super::fsutil::{now_ms, replace_file};
use super::index::{IndexPos, IndexState};

const MAGIC: u32 = 0x464D_5143;
const VERSION: u32 = 2;
pub(crate) const FILE: &str = "checkpoint";
const TMP: &str = "checkpoint.tmp";
/// Refuse to read anything larger: ~ 4 million queues.
const MAX_LEN: u64 = 512 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct QueueMark {
    pub(crate) topic: TopicName,
    pub(crate) queue_id: QueueId,
    /// Entries, i.e. the max offset.
    pub(crate) count: u64,
    pub(crate) min: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub(crate) flushed: u64,
    pub(crate) cq_consistent: u64,
    pub(crate) index: IndexState,
    pub(crate) queues: Vec<QueueMark>,
}

impl Checkpoint {
    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(40 + self.queues.len() * 48);
        b.extend_from_slice(&MAGIC.to_be_bytes());
        b.extend_from_slice(&VERSION.to_be_bytes());
        b.extend_from_slice(&self.flushed.to_be_bytes());
        b.extend_from_slice(&self.cq_consistent.to_be_bytes());
        b.extend_from_slice(&now_ms().to_be_bytes());
        let (state, pos) = match self.index {
            IndexState::Unknown => (0u8, IndexPos { base: 0, next: 0 }),
            IndexState::Empty => (1, IndexPos { base: 0, next: 0 }),
            IndexState::At(pos) => (2, pos),
        };
        b.push(state);
        b.extend_from_slice(&pos.base.to_be_bytes());
        b.extend_from_slice(&pos.next.to_be_bytes());
        b.extend_from_slice(&(self.queues.len() as u32).to_be_bytes());
        for q in &self.queues {
            let t = q.topic.as_str().as_bytes();
            b.push(t.len() as u8); // topic names are at most 127 bytes
            b.extend_from_slice(t);
            b.extend_from_slice(&q.queue_id.get().to_be_bytes());
            b.extend_from_slice(&q.count.to_be_bytes());
            b.extend_from_slice(&q.min.to_be_bytes());
        }
        let crc = ferromq_protocol::crc32c(&b);
        b.extend_from_slice(&crc.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Result<Self, Damage> {
        let (body, crc) = b.split_last_chunk::<4>().ok_or(Damage::Truncated)?;
        if ferromq_protocol::crc32c(body) != u32::from_be_bytes(*crc) {
            return Err(Damage::ChecksumMismatch);
        }
        let mut r = Reader(body);
        let magic = r.u32()?;
        if magic != MAGIC {
            return Err(Damage::BadMagic(magic));
        }
        let version = r.u32()?;
        if version != 1 && version != VERSION {
            return Err(Damage::UnsupportedVersion(version));
        }
        let flushed = r.u64()?;
        let cq_consistent = r.u64()?;
        let _written_at = r.u64()?;
        let index = if version == 1 {
            IndexState::Unknown
        } else {
            let state = r.take(1)?[0];
            let pos = IndexPos {
                base: r.u64()?,
                next: r.u32()?,
            };
            match state {
                0 => IndexState::Unknown,
                1 => IndexState::Empty,
                2 => IndexState::At(pos),
                other => return Err(Damage::UnknownIndexState(other)),
            }
        };
        let n = r.u32()?;
        let mut queues = Vec::new();
        for _ in 0..n {
            let len = usize::from(r.take(1)?[0]);
            let name = std::str::from_utf8(r.take(len)?).map_err(|_| Damage::TopicNotUtf8)?;
            let topic = TopicName::new(name)?;
            let queue_id = QueueId::new(r.u32()?);
            let count = r.u64()?;
            let min = if version == 1 { 0 } else { r.u64()? };
            queues.push(QueueMark {
                topic,
                queue_id,
                count,
                min,
            });
        }
        if !r.0.is_empty() {
            return Err(Damage::TrailingBytes);
        }
        Ok(Self {
            flushed,
            cq_consistent,
            index,
            queues,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Damage> {
        if self.0.len() < n {
            return Err(Damage::Truncated);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32, Damage> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(a))
    }
    fn u64(&mut self) -> Result<u64, Damage> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
}

/// Replaces the checkpoint atomically.
pub(crate) fn write(dir: &Path, cp: &Checkpoint) -> std::io::Result<()> {
    replace_file(dir, FILE, TMP, &cp.encode())
}

/// The checkpoint, `Ok(None)` if there is none, `Err(CorruptFile)` if it
/// does not verify (the caller then recovers as if there were none).
pub(crate) fn read(dir: &Path) -> Result<Option<Checkpoint>, StoreError> {
    let path = dir.join(FILE);
    let len = match fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_at("stat", &path)(e).into()),
    };
    if len > MAX_LEN {
        return Err(StoreError::CorruptFile {
            path,
            reason: Damage::TooLarge { len },
        });
    }
    let bytes = fs::read(&path).map_err(io_at("read", &path))?;
    match Checkpoint::decode(&bytes) {
        Ok(cp) => Ok(Some(cp)),
        Err(reason) => Err(StoreError::CorruptFile { path, reason }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(t: &str, q: u32, count: u64, min: u64) -> QueueMark {
        QueueMark {
            topic: TopicName::new(t).unwrap(),
            queue_id: QueueId::new(q),
            count,
            min,
        }
    }

    fn sample() -> Checkpoint {
        Checkpoint {
            flushed: 123_456,
            cq_consistent: 120_000,
            index: IndexState::At(IndexPos {
                base: 4096,
                next: 77,
            }),
            queues: vec![mark("TopicA", 0, 17, 5), mark("%RETRY%g", 3, 0, 0)],
        }
    }

    #[test]
    fn version_1_is_still_read() {
        let mut b = Vec::new();
        b.extend_from_slice(&MAGIC.to_be_bytes());
        b.extend_from_slice(&1u32.to_be_bytes());
        for v in [10u64, 9, 0] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        b.extend_from_slice(&1u32.to_be_bytes());
        b.push(1);
        b.push(b'T');
        b.extend_from_slice(&2u32.to_be_bytes());
        b.extend_from_slice(&33u64.to_be_bytes());
        let crc = ferromq_protocol::crc32c(&b);
        b.extend_from_slice(&crc.to_be_bytes());
        let c = Checkpoint::decode(&b).unwrap();
        assert_eq!(c.index, IndexState::Unknown);
        assert_eq!((c.flushed, c.cq_consistent), (10, 9));
        assert_eq!(c.queues, vec![mark("T", 2, 33, 0)]);
    }

    #[test]
    fn round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        write(dir.path(), &sample()).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(sample()));
        assert!(!dir.path().join(TMP).exists());
    }

    #[test]
    fn damage_is_named() {
        let reseal = |mut b: Vec<u8>| {
            b.truncate(b.len() - 4);
            let crc = ferromq_protocol::crc32c(&b);
            b.extend_from_slice(&crc.to_be_bytes());
            b
        };
        assert_eq!(Checkpoint::decode(&[1, 2]), Err(Damage::Truncated));
        let mut b = sample().encode();
        b[20] ^= 1;
        assert_eq!(Checkpoint::decode(&b), Err(Damage::ChecksumMismatch));
        let mut b = sample().encode();
        b[4..8].copy_from_slice(&9u32.to_be_bytes());
        assert_eq!(
            Checkpoint::decode(&reseal(b)),
            Err(Damage::UnsupportedVersion(9))
        );
        let mut b = sample().encode();
        b.insert(b.len() - 4, 0);
        assert_eq!(Checkpoint::decode(&reseal(b)), Err(Damage::TrailingBytes));

        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE), b"not a checkpoint").unwrap();
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
        let good = sample().encode();
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= 0x10;
            assert!(Checkpoint::decode(&b).is_err(), "flip at {i}");
        }
        for cut in 0..good.len() {
            assert!(Checkpoint::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
    }
}
