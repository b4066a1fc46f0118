//! Small JSON state files (topics, consumer offsets), replaced atomically:
//! write a temp file, fsync it, rename over the old one, fsync the directory.
//! A crash leaves either the old or the new file, never half of one.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Writes `value` to `path` atomically and durably. The file's directory
/// is created (durably) if it is missing, but not its parent: a store
/// directory removed under a running broker is not brought back holding
/// nothing but state files, which would look like an empty store with
/// offsets past its end at the next start.
///
/// # Errors
/// Any I/O or encoding error (`NotFound` when the parent directory is
/// gone); the old file is then untouched.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    if !dir.is_dir() {
        match fs::create_dir(dir) {
            Ok(()) => {
                let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
                File::open(parent.unwrap_or_else(|| Path::new(".")))?.sync_all()?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("create {}: {e}", dir.display()),
                ))
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_the_file_directory_but_not_a_missing_store() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config").join("offsets.json");
        write_json(&path, &vec![1, 2, 3]).unwrap();
        assert_eq!(read_json::<Vec<u32>>(&path).unwrap(), Some(vec![1, 2, 3]));
        // Replaced, not appended to.
        write_json(&path, &vec![4]).unwrap();
        assert_eq!(read_json::<Vec<u32>>(&path).unwrap(), Some(vec![4]));

        let gone = tmp.path().join("store");
        let err = write_json(&gone.join("config").join("offsets.json"), &vec![1]).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        assert!(err.to_string().contains("config"), "{err}");
        assert!(!gone.exists(), "the missing store directory was recreated");
    }
}
