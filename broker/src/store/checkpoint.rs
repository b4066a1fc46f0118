//! The checkpoint file: how far the commit log is durable and how far the
//! consume queues are, so recovery only scans what came after.
//!
//! ```text
//! u32 magic "FMQC" | u32 version (1) | u64 flushed commit-log offset
//! | u64 cq-consistent commit-log offset | u64 written at (ms)
//! | u32 queue count | per queue: u8 topic len, topic, u32 queue id, u64 entries
//! | u32 CRC32C of everything before it
//! ```
//!
//! "cq-consistent" offset D: every consume-queue entry for a record below D
//! was fsynced before the file was written, and each queue then held exactly
//! the listed number of entries. Written to a temp file, fsynced, renamed
//! over the old one and the directory fsynced, so a crash leaves either the
//! old or the new checkpoint, never a torn one.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use ferromq_protocol::{QueueId, TopicName};

use super::error::{io_at, StoreError};
use super::fsutil::{now_ms, sync_dir};

const MAGIC: u32 = 0x464D_5143;
const VERSION: u32 = 1;
pub(crate) const FILE: &str = "checkpoint";
const TMP: &str = "checkpoint.tmp";
/// Refuse to read anything larger: ~ 4 million queues.
const MAX_LEN: u64 = 512 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub(crate) flushed: u64,
    pub(crate) cq_consistent: u64,
    pub(crate) queues: Vec<(TopicName, QueueId, u64)>,
}

impl Checkpoint {
    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(40 + self.queues.len() * 48);
        b.extend_from_slice(&MAGIC.to_be_bytes());
        b.extend_from_slice(&VERSION.to_be_bytes());
        b.extend_from_slice(&self.flushed.to_be_bytes());
        b.extend_from_slice(&self.cq_consistent.to_be_bytes());
        b.extend_from_slice(&now_ms().to_be_bytes());
        b.extend_from_slice(&(self.queues.len() as u32).to_be_bytes());
        for (topic, qid, n) in &self.queues {
            let t = topic.as_str().as_bytes();
            b.push(t.len() as u8); // topic names are at most 127 bytes
            b.extend_from_slice(t);
            b.extend_from_slice(&qid.get().to_be_bytes());
            b.extend_from_slice(&n.to_be_bytes());
        }
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&crc.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Result<Self, String> {
        let (body, crc) = b
            .split_last_chunk::<4>()
            .ok_or("shorter than its checksum")?;
        if crc32c::crc32c(body) != u32::from_be_bytes(*crc) {
            return Err("checksum mismatch".into());
        }
        let mut r = Reader(body);
        if r.u32()? != MAGIC {
            return Err("bad magic".into());
        }
        let version = r.u32()?;
        if version != VERSION {
            return Err(format!("unsupported version {version}"));
        }
        let flushed = r.u64()?;
        let cq_consistent = r.u64()?;
        let _written_at = r.u64()?;
        let n = r.u32()?;
        let mut queues = Vec::new();
        for _ in 0..n {
            let len = usize::from(r.take(1)?[0]);
            let name = std::str::from_utf8(r.take(len)?).map_err(|_| "topic is not UTF-8")?;
            let topic = TopicName::new(name).map_err(|e| e.to_string())?;
            queues.push((topic, QueueId::new(r.u32()?), r.u64()?));
        }
        if !r.0.is_empty() {
            return Err("trailing bytes".into());
        }
        Ok(Self {
            flushed,
            cq_consistent,
            queues,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("truncated".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32, String> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(a))
    }
    fn u64(&mut self) -> Result<u64, String> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
}

/// Replaces the checkpoint atomically.
pub(crate) fn write(dir: &Path, cp: &Checkpoint) -> std::io::Result<()> {
    let tmp = dir.join(TMP);
    let path = dir.join(FILE);
    let mut f = File::create(&tmp).map_err(io_at("create", &tmp))?;
    f.write_all(&cp.encode()).map_err(io_at("write", &tmp))?;
    f.sync_all().map_err(io_at("fsync", &tmp))?;
    drop(f);
    fs::rename(&tmp, &path).map_err(io_at("rename checkpoint to", &path))?;
    sync_dir(dir)
}

/// The checkpoint, `Ok(None)` if there is none, `Err(Corrupt)` if it does not
/// verify (the caller then recovers as if there were none).
pub(crate) fn read(dir: &Path) -> Result<Option<Checkpoint>, StoreError> {
    let path = dir.join(FILE);
    let len = match fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_at("stat", &path)(e).into()),
    };
    if len > MAX_LEN {
        return Err(StoreError::Corrupt(format!(
            "{} is {len} bytes, larger than any checkpoint",
            path.display()
        )));
    }
    let bytes = fs::read(&path).map_err(io_at("read", &path))?;
    Checkpoint::decode(&bytes)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            flushed: 123_456,
            cq_consistent: 120_000,
            queues: vec![
                (TopicName::new("TopicA").unwrap(), QueueId::new(0), 17),
                (TopicName::new("%RETRY%g").unwrap(), QueueId::new(3), 0),
            ],
        }
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
