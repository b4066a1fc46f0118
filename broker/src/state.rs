//! Broker-wide state that operators change at run time and that must
//! survive a restart: today the write permission (`wipeWritePerm`),
//! persisted in `config/broker.json`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};

use ferromq_protocol::header::{PERM_READ_WRITE, PERM_WRITE};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::persist;

#[derive(Serialize, Deserialize)]
struct StateFile {
    perm: u8,
}

/// The broker's own permission bits.
pub(crate) struct BrokerState {
    path: PathBuf,
    perm: AtomicU8,
    /// Serialises changes so the file always holds the latest value.
    write_lock: Mutex<()>,
}

impl BrokerState {
    pub(crate) fn load(config_dir: PathBuf) -> std::io::Result<Self> {
        let path = config_dir.join("broker.json");
        let perm = persist::read_json::<StateFile>(&path)?
            .map_or(PERM_READ_WRITE, |f| f.perm & PERM_READ_WRITE);
        Ok(Self {
            path,
            perm: AtomicU8::new(perm),
            write_lock: Mutex::new(()),
        })
    }

    pub(crate) fn perm(&self) -> u8 {
        self.perm.load(Ordering::Acquire)
    }

    pub(crate) fn writable(&self) -> bool {
        self.perm() & PERM_WRITE != 0
    }

    /// Sets or clears the write bit, durably.
    pub(crate) fn set_writable(&self, writable: bool) -> std::io::Result<()> {
        let _guard = self.write_lock.lock();
        let perm = if writable {
            self.perm() | PERM_WRITE
        } else {
            self.perm() & !PERM_WRITE
        };
        persist::write_json(&self.path, &StateFile { perm })?;
        self.perm.store(perm, Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wipe_survives_reload() {
        let dir = tempfile::tempdir().unwrap();
        let s = BrokerState::load(dir.path().to_path_buf()).unwrap();
        assert!(s.writable());
        s.set_writable(false).unwrap();
        assert!(!BrokerState::load(dir.path().to_path_buf())
            .unwrap()
            .writable());
        s.set_writable(true).unwrap();
        let s2 = BrokerState::load(dir.path().to_path_buf()).unwrap();
        assert!(s2.writable());
        assert_eq!(s2.perm(), PERM_READ_WRITE);
    }
}
