//! The key index (RocketMQ's IndexService): finds records by key or unique
//! id without scanning the log.
//!
//! `<dir>/index/` holds fixed-size files (see `file`), oldest first; the
//! last one is active. The dispatcher adds an entry per indexed key of every
//! record it makes visible, in log order, in the same round as the consume
//! queues, so the index is consistent at the checkpoint's offset D like the
//! queues are. A lookup walks the slot's chain in each file, newest file
//! first, and hands every candidate commit-log offset to the caller, which
//! re-reads the record and compares the real key.

pub(crate) mod file;
mod format;
pub(crate) mod hash;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use self::file::IndexFile;
use super::error::{io_at, StoreError};
use super::fsutil::{create_dir_durable, numbered_files, sync_dir};

/// Directory of the index files under the store root.
pub(crate) const INDEX_DIR: &str = "index";
/// Most chain entries one lookup reads per file: a rare key sharing a slot
/// with a hot one must not turn a query into millions of reads.
const MAX_CHAIN_STEPS: u32 = 200_000;

/// One key occurrence to index.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IndexItem {
    pub(crate) hash: u32,
    /// Commit-log offset of the record.
    pub(crate) phys: u64,
    /// Its store time, ms.
    pub(crate) ts: u64,
}

/// Where the index stood at a checkpoint: the active file and its next
/// free entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IndexPos {
    pub(crate) base: u64,
    pub(crate) next: u32,
}

/// What the checkpoint says about the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IndexState {
    /// No usable record (no checkpoint, or one from before the index):
    /// everything is re-indexed from the start of the log.
    Unknown,
    /// No index file existed yet.
    Empty,
    /// Consistent at this position.
    At(IndexPos),
}

pub(crate) struct Index {
    dir: PathBuf,
    slots: u32,
    entries: u32,
    /// Oldest first; the last is active. Write-locked only to add a file
    /// (dispatcher) or drop old ones (retention); lookups clone the list.
    files: RwLock<Vec<Arc<IndexFile>>>,
    /// Full files whose slots are only in memory; the next checkpoint seals
    /// them, so a checkpoint never names a newer file than a sealed one.
    unsealed: Mutex<Vec<Arc<IndexFile>>>,
}

impl Index {
    /// Opens the index at recovery. Returns it and whether it is consistent
    /// with the checkpoint; if not, all files were removed and the caller
    /// must index the whole log again.
    pub(crate) fn open(
        root: &Path,
        slots: u32,
        entries: u32,
        state: IndexState,
    ) -> Result<(Self, bool), StoreError> {
        let dir = root.join(INDEX_DIR);
        create_dir_durable(&dir)?;
        let listed = numbered_files(&dir)?;
        let index = Self {
            dir,
            slots,
            entries,
            files: RwLock::new(Vec::new()),
            unsealed: Mutex::new(Vec::new()),
        };
        let restored = match state {
            IndexState::Unknown => None,
            IndexState::Empty => Some(Vec::new()),
            IndexState::At(pos) => index.restore(&listed, pos)?,
        };
        let consistent = restored.is_some();
        let keep = restored.unwrap_or_default();
        if !consistent && !listed.is_empty() {
            tracing::warn!(
                "the index does not match the checkpoint; rebuilding it from the commit log"
            );
        }
        let stale: Vec<&PathBuf> = listed
            .iter()
            .filter(|(base, _)| !keep.iter().any(|f| f.base == *base))
            .map(|(_, p)| p)
            .collect();
        for p in &stale {
            fs::remove_file(p).map_err(io_at("remove index file", p))?;
        }
        if !stale.is_empty() {
            sync_dir(&index.dir)?;
        }
        *index.files.write() = keep;
        Ok((index, consistent))
    }

    /// The files up to the checkpointed active one, restored; `None` if they
    /// do not fit the checkpoint (then everything is rebuilt).
    fn restore(
        &self,
        listed: &[(u64, PathBuf)],
        pos: IndexPos,
    ) -> Result<Option<Vec<Arc<IndexFile>>>, StoreError> {
        let mut files = Vec::new();
        for (base, path) in listed.iter().filter(|(b, _)| *b <= pos.base) {
            let f = match IndexFile::open(path.clone(), *base, self.slots, self.entries) {
                Ok(f) => f,
                Err(why) => {
                    // Damaged or unreadable alike: the log rebuilds it.
                    tracing::warn!(%why, "unusable index file");
                    return Ok(None);
                }
            };
            // Files before the active one were full when it was started.
            let (next, active) = if *base == pos.base {
                (pos.next, true)
            } else {
                (self.entries, false)
            };
            match f.restore(next, active) {
                Ok(()) => files.push(Arc::new(f)),
                Err(why @ StoreError::CorruptFile { .. }) => {
                    tracing::warn!(%why, "unusable index file");
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
        let found = files.last().is_some_and(|f| f.base == pos.base);
        Ok(found.then_some(files))
    }

    /// Adds entries, in log order. Dispatcher (or recovery) only.
    pub(crate) fn add(&self, items: &[IndexItem]) -> Result<(), StoreError> {
        let mut rest = items;
        while let Some(first) = rest.first() {
            let f = self.writable(first)?;
            let n = f.append(rest)?;
            rest = &rest[n..];
        }
        Ok(())
    }

    fn writable(&self, first: &IndexItem) -> Result<Arc<IndexFile>, StoreError> {
        if let Some(f) = self.files.read().last().filter(|f| !f.is_full()) {
            return Ok(f.clone());
        }
        let mut files = self.files.write();
        // Named after the first record; a record with more keys than a file
        // holds must still give the next file a new name.
        let base = files
            .last()
            .map_or(first.phys, |l| first.phys.max(l.base + 1));
        let f = Arc::new(IndexFile::create(
            &self.dir,
            base,
            first.ts,
            self.slots,
            self.entries,
        )?);
        if let Some(full) = files.last() {
            self.unsealed.lock().push(full.clone());
        }
        files.push(f.clone());
        Ok(f)
    }

    /// The active file and its next entry: taken by a checkpoint while the
    /// dispatcher is between rounds.
    pub(crate) fn snapshot(&self) -> Option<(Arc<IndexFile>, u32)> {
        self.files.read().last().map(|f| (f.clone(), f.next()))
    }

    /// Makes the snapshot durable before a checkpoint names it: seals full
    /// files, fdatasyncs the active one; `final_` (clean shutdown) also
    /// writes the active file's slots so the next open need not rebuild
    /// them.
    pub(crate) fn persist(
        &self,
        snap: Option<&(Arc<IndexFile>, u32)>,
        final_: bool,
    ) -> std::io::Result<()> {
        let full = std::mem::take(&mut *self.unsealed.lock());
        for f in &full {
            f.seal()?;
        }
        if let Some((f, _)) = snap {
            if final_ {
                f.persist_slots(false)?;
            } else {
                f.sync()?;
            }
        }
        Ok(())
    }

    /// Where the index stands at commit-log offset `at`: the position of
    /// the first entry for a record at or above it, as a checkpoint
    /// records it (`Empty` if every entry is).
    pub(crate) fn position_at(&self, at: u64) -> Result<IndexState, StoreError> {
        let files: Vec<Arc<IndexFile>> = self.files.read().clone();
        for f in files.iter().rev() {
            if let Some(next) = f.first_at_or_above(at)? {
                return Ok(IndexState::At(IndexPos { base: f.base, next }));
            }
        }
        Ok(IndexState::Empty)
    }

    /// Truncation: forgets every entry from `state` on (a position
    /// [`Self::position_at`] found): later files are deleted, the file
    /// holding the position becomes the active one again. Dispatch is
    /// idle meanwhile.
    pub(crate) fn cut(&self, state: IndexState) -> Result<(), StoreError> {
        let (doomed, kept) = {
            let mut files = self.files.write();
            let keep = match state {
                IndexState::At(pos) => match files.iter().position(|f| f.base == pos.base) {
                    Some(i) => i + 1,
                    None => {
                        return Err(StoreError::Corrupt(format!(
                            "index file {} vanished during a truncation",
                            pos.base
                        )))
                    }
                },
                IndexState::Empty | IndexState::Unknown => 0,
            };
            let doomed: Vec<Arc<IndexFile>> = files.drain(keep..).collect();
            (doomed, files.last().cloned())
        };
        // The kept file is active again: the next checkpoint must not seal
        // it (a full one is queued again when the next file starts).
        self.unsealed.lock().retain(|u| {
            !doomed.iter().any(|d| Arc::ptr_eq(u, d))
                && kept.as_ref().is_none_or(|k| !Arc::ptr_eq(u, k))
        });
        for f in &doomed {
            fs::remove_file(f.path()).map_err(io_at("remove index file", f.path()))?;
        }
        if !doomed.is_empty() {
            sync_dir(&self.dir)?;
        }
        if let (IndexState::At(pos), Some(f)) = (state, kept) {
            f.cut(pos.next)?;
        }
        Ok(())
    }

    /// Calls `visit` with the commit-log offset of every entry for `hash`
    /// stored within about `[begin, end]` ms and at or above `log_min`,
    /// newest first, until it returns `false`.
    pub(crate) fn lookup(
        &self,
        hash: u32,
        begin: u64,
        end: u64,
        log_min: u64,
        mut visit: impl FnMut(u64) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let files: Vec<Arc<IndexFile>> = self.files.read().clone();
        for f in files.iter().rev() {
            if f.end_phy() < log_min || !f.overlaps(begin, end) {
                continue;
            }
            let next = f.next();
            let mut idx = f.slot(hash)?;
            let mut steps = 0;
            while idx > 0 && idx < next {
                steps += 1;
                if steps > MAX_CHAIN_STEPS {
                    tracing::warn!(file = %f.path().display(), "index chain too long; lookup cut short");
                    break;
                }
                let e = f.entry(idx)?;
                // Chains run backwards in log order: everything after this
                // is below the log's start, or older than asked for.
                let (lo, hi) = f.entry_time(&e);
                if e.phys < log_min || (e.delta_s > 0 && hi <= begin) {
                    break;
                }
                if e.hash == hash && lo <= end && !visit(e.phys)? {
                    return Ok(());
                }
                if e.prev >= idx {
                    break; // never loop on a damaged chain
                }
                idx = e.prev;
            }
        }
        Ok(())
    }

    /// Deletes the files (never the active one) whose every entry points
    /// below `log_min`. Returns how many.
    pub(crate) fn delete_below(&self, log_min: u64) -> Result<usize, StoreError> {
        let doomed: Vec<Arc<IndexFile>> = {
            let mut files = self.files.write();
            let old = files.len().saturating_sub(1);
            let n = files[..old]
                .iter()
                .take_while(|f| f.end_phy() < log_min)
                .count();
            files.drain(..n).collect()
        };
        if doomed.is_empty() {
            return Ok(0);
        }
        self.unsealed
            .lock()
            .retain(|u| !doomed.iter().any(|d| Arc::ptr_eq(u, d)));
        for f in &doomed {
            match fs::remove_file(f.path()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_at("remove index file", f.path())(e).into()),
            }
            tracing::info!(file = %f.path().display(), "deleted index file below the commit log's start");
        }
        sync_dir(&self.dir)?;
        Ok(doomed.len())
    }

    #[cfg(test)]
    pub(crate) fn file_count(&self) -> usize {
        self.files.read().len()
    }
}
