//! How full the store's file system is, as `df` shows it: used blocks over
//! used plus those available to unprivileged users (so the root reserve
//! counts as full, which is when writes would start failing for us).

use std::io;
use std::path::PathBuf;

pub(crate) struct DiskMonitor {
    dir: PathBuf,
    /// Tests pretend the disk is this full.
    #[cfg(any(test, feature = "fault-injection"))]
    pub(crate) usage_override: parking_lot::Mutex<Option<f64>>,
}

impl DiskMonitor {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            #[cfg(any(test, feature = "fault-injection"))]
            usage_override: parking_lot::Mutex::new(None),
        }
    }

    /// Used fraction of the file system holding the store, 0.0 to 1.0.
    pub(crate) fn usage(&self) -> io::Result<f64> {
        #[cfg(any(test, feature = "fault-injection"))]
        if let Some(u) = *self.usage_override.lock() {
            return Ok(u);
        }
        let st = rustix::fs::statvfs(&self.dir).map_err(|e| {
            io::Error::new(
                io::Error::from(e).kind(),
                format!("statvfs {}: {e}", self.dir.display()),
            )
        })?;
        let used = st.f_blocks.saturating_sub(st.f_bfree);
        let total = used.saturating_add(st.f_bavail);
        if total == 0 {
            return Ok(0.0);
        }
        Ok(used as f64 / total as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_real_file_system_and_can_be_overridden() {
        let dir = tempfile::tempdir().unwrap();
        let d = DiskMonitor::new(dir.path().to_path_buf());
        let u = d.usage().unwrap();
        assert!((0.0..=1.0).contains(&u), "{u}");
        *d.usage_override.lock() = Some(0.93);
        assert_eq!(d.usage().unwrap(), 0.93);
        let gone = DiskMonitor::new(dir.path().join("missing"));
        assert!(gone.usage().is_err());
    }
}
