//! How far the scheduler has delivered each delay level's queue, persisted
//! in `config/delayOffsets.json` every few seconds and at shutdown. After a
//! crash the scheduler resumes from the last saved offsets and may deliver
//! a few messages twice (at-least-once), never skip one.

use crate::persist::DirtyJson;
use std::collections::BTreeMap;
use std::path::PathBuf;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::persist;

#[derive(Serialize, Deserialize, Default)]
struct OffsetsFile {
    /// Delay level (1-based) → next queue offset to deliver.
    offsets: BTreeMap<u32, u64>,
}

/// Per-level delivery progress.
pub struct DelayOffsets {
    /// The file, written when changed.
    file: DirtyJson,
    /// Level → next offset. Touched only by the scheduler task and the
    /// persister; never held across an await.
    offsets: Mutex<BTreeMap<u32, u64>>,
}

impl DelayOffsets {
    /// Loads the file under `config_dir`.
    ///
    /// # Errors
    /// An unreadable or corrupt file.
    pub fn load(config_dir: PathBuf) -> std::io::Result<Self> {
        let path = config_dir.join("delayOffsets.json");
        let file: OffsetsFile = persist::read_json(&path)?.unwrap_or_default();
        Ok(Self {
            file: DirtyJson::new(path),
            offsets: Mutex::new(file.offsets),
        })
    }

    /// The next offset to deliver of a level (0 if never delivered).
    pub fn get(&self, level: u32) -> u64 {
        self.offsets.lock().get(&level).copied().unwrap_or(0)
    }

    /// Every level's progress.
    pub fn all(&self) -> Vec<(u32, u64)> {
        self.offsets.lock().iter().map(|(l, o)| (*l, *o)).collect()
    }

    /// Records progress.
    pub fn set(&self, level: u32, offset: u64) {
        self.offsets.lock().insert(level, offset);
        self.file.mark();
    }

    /// Writes the offsets if they changed since the last write.
    ///
    /// # Errors
    /// The I/O error; the offsets stay dirty and are retried next time.
    pub fn persist(&self) -> std::io::Result<()> {
        self.file.save(|| OffsetsFile {
            offsets: self.offsets.lock().clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_reload() {
        let dir = tempfile::tempdir().unwrap();
        let o = DelayOffsets::load(dir.path().to_path_buf()).unwrap();
        assert_eq!(o.get(3), 0);
        o.set(3, 7);
        o.set(18, 1);
        o.persist().unwrap();
        let o2 = DelayOffsets::load(dir.path().to_path_buf()).unwrap();
        assert_eq!((o2.get(3), o2.get(18), o2.get(1)), (7, 1, 0));
    }
}
