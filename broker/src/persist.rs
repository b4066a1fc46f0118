//! Small JSON state files (topics, consumer offsets), replaced atomically:
//! write a temp file, fsync it, rename over the old one, fsync the directory.
//! A crash leaves either the old or the new file, never half of one.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Writes `value` to `path` atomically and durably.
///
/// # Errors
/// Any I/O or encoding error; the old file is then untouched.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    let bytes = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    {
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

/// Reads a JSON file; `Ok(None)` if it does not exist.
///
/// # Errors
/// I/O errors and malformed content (a corrupt state file must stop the
/// broker rather than be silently replaced by an empty one).
pub fn read_json<T: DeserializeOwned>(path: &Path) -> std::io::Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A JSON state file written in the background: changes mark it dirty and
/// [`DirtyJson::save`] writes it only if something changed since the last
/// successful write.
pub struct DirtyJson {
    path: std::path::PathBuf,
    /// Set by changes, cleared by a successful write.
    dirty: std::sync::atomic::AtomicBool,
    /// Serialises writes so an older snapshot never overwrites a newer one.
    write_lock: parking_lot::Mutex<()>,
}

impl DirtyJson {
    /// A clean file at `path`.
    pub fn new(path: std::path::PathBuf) -> Self {
        Self {
            path,
            dirty: std::sync::atomic::AtomicBool::new(false),
            write_lock: parking_lot::Mutex::new(()),
        }
    }

    /// Notes a change to be written.
    pub fn mark(&self) {
        self.dirty.store(true, std::sync::atomic::Ordering::Release);
    }

    /// Writes `snapshot()` if anything changed.
    ///
    /// # Errors
    /// The I/O error; the file stays dirty and is retried next time.
    pub fn save<T: Serialize>(&self, snapshot: impl FnOnce() -> T) -> std::io::Result<()> {
        use std::sync::atomic::Ordering;
        let _guard = self.write_lock.lock();
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        write_json(&self.path, &snapshot()).inspect_err(|_| self.mark())
    }
}
