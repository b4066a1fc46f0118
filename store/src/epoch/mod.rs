//! Leader epochs (Kafka's leader-epoch checkpoint, RocketMQ 5's
//! `EpochFile`): every change of master starts a new epoch, and each
//! store keeps the list of (epoch, start offset) pairs its log went
//! through, so a slave and its master can find where their logs part
//! ([`agreed_end`]) and the slave can cut what follows.
//!
//! * this file: [`EpochEntry`], the rules a new entry must follow, and
//!   [`Epochs`], the running store's history and its file;
//! * `file`: the `epochs` file (format, atomic replace, damage);
//! * `agreed`: [`agreed_end`], the rule two histories are compared by.
//!
//! Invariant: epochs and start offsets both strictly increase, and no
//! entry starts past the end of the log. An epoch that begins where the
//! last one began replaces it (the last one holds no record, so it is no
//! history worth keeping; Kafka does the same).

mod agreed;
mod file;

use std::path::PathBuf;

use ferromq_protocol::CommitLogOffset;
use parking_lot::Mutex;

pub use agreed::agreed_end;

use super::error::StoreError;

/// One epoch of a log: from `start` on (up to the next entry's start),
/// the records were written by the master of `epoch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EpochEntry {
    /// The epoch number, increasing with every change of master.
    pub epoch: u32,
    /// Commit-log offset of the epoch's first record.
    pub start: CommitLogOffset,
}

impl EpochEntry {
    /// The entry for `epoch` starting at `start`.
    pub fn new(epoch: u32, start: u64) -> Self {
        Self {
            epoch,
            start: CommitLogOffset::new(start),
        }
    }
}

/// Why `MessageStore::begin_epoch` refused an epoch; nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EpochError {
    /// Epochs only grow.
    #[error("epoch {epoch} is not above the last epoch {last}")]
    NotAbove {
        /// The refused epoch.
        epoch: u32,
        /// The last epoch of the history.
        last: u32,
    },
    /// An epoch cannot begin before the one it follows.
    #[error("epoch {epoch} would start at {start}, before the last epoch's start {last_start}")]
    StartsBeforeLast {
        /// The refused epoch.
        epoch: u32,
        /// Its start offset.
        start: u64,
        /// The start offset of the last epoch.
        last_start: u64,
    },
    /// An epoch begins at a record the log holds or at its end, never
    /// beyond.
    #[error("epoch {epoch} would start at {start}, beyond the end of the log {end}")]
    StartsBeyondEnd {
        /// The refused epoch.
        epoch: u32,
        /// Its start offset.
        start: u64,
        /// The end of the log.
        end: u64,
    },
}

/// Whether `next` may follow `history` in a log ending at `end`.
pub(crate) fn check_next(
    history: &[EpochEntry],
    next: EpochEntry,
    end: u64,
) -> Result<(), EpochError> {
    let (epoch, start) = (next.epoch, next.start.get());
    if start > end {
        return Err(EpochError::StartsBeyondEnd { epoch, start, end });
    }
    let Some(last) = history.last() else {
        return Ok(());
    };
    if epoch <= last.epoch {
        return Err(EpochError::NotAbove {
            epoch,
            last: last.epoch,
        });
    }
    if start < last.start.get() {
        return Err(EpochError::StartsBeforeLast {
            epoch,
            start,
            last_start: last.start.get(),
        });
    }
    Ok(())
}

/// `history` with `next` (checked by [`check_next`]) added: replacing the
/// last entry if it starts at the same offset (it holds no record).
fn with_next(history: &[EpochEntry], next: EpochEntry) -> Vec<EpochEntry> {
    let mut out = history.to_vec();
    if out.last().is_some_and(|l| l.start == next.start) {
        out.pop();
    }
    out.push(next);
    out
}

/// The store's epoch history and its file. Not on any hot path: changed
/// when a master is chosen and when a slave truncates, read when a slave
/// connects.
pub(crate) struct Epochs {
    dir: PathBuf,
    /// The history; the file holds the same. Held across the file write,
    /// so the file and memory change together, one change at a time.
    entries: Mutex<Vec<EpochEntry>>,
}

impl Epochs {
    /// Loads `dir/epochs` (empty if there is none) and drops entries that
    /// start past `log_end`: their records were lost with an unflushed
    /// tail, or cut by a truncation a crash interrupted (Kafka trims its
    /// cache at startup the same way).
    ///
    /// # Errors
    /// `CorruptFile` if the file does not verify: a store that cannot say
    /// which epochs its log holds must not take part in replication, so
    /// this stops the open (an operator who accepts that removes the
    /// file; the slave is then truncated to nothing on its next connect).
    pub(crate) fn load(dir: PathBuf, log_end: u64) -> Result<Self, StoreError> {
        let entries = file::read(&dir)?;
        let kept: Vec<EpochEntry> = entries
            .iter()
            .copied()
            .filter(|e| e.start.get() <= log_end)
            .collect();
        if kept.len() != entries.len() {
            tracing::warn!(
                dropped = entries.len() - kept.len(),
                log_end,
                "dropped epochs that start past the end of the log"
            );
            file::write(&dir, &kept)?;
        }
        Ok(Self {
            dir,
            entries: Mutex::new(kept),
        })
    }

    pub(crate) fn list(&self) -> Vec<EpochEntry> {
        self.entries.lock().clone()
    }

    /// Adds `next` in a log ending at `end`: the file first, then memory.
    pub(crate) fn begin(&self, next: EpochEntry, end: u64) -> Result<(), StoreError> {
        let mut entries = self.entries.lock();
        check_next(&entries, next, end)?;
        let new = with_next(&entries, next);
        file::write(&self.dir, &new)?;
        *entries = new;
        Ok(())
    }

    /// Drops the entries that start at or past `cut`: their records are
    /// gone. (One starting exactly at the cut has no record left; if the
    /// new master has that epoch too, the slave takes it again as it
    /// replicates.)
    pub(crate) fn cut(&self, cut: u64) -> Result<(), StoreError> {
        let mut entries = self.entries.lock();
        let keep = entries.partition_point(|e| e.start.get() < cut);
        if keep < entries.len() {
            file::write(&self.dir, &entries[..keep])?;
            entries.truncate(keep);
        }
        Ok(())
    }
}

impl Epochs {
    /// Forgets the whole history (a reset: the log holds nothing).
    pub(crate) fn clear(&self) -> Result<(), StoreError> {
        let mut entries = self.entries.lock();
        clear_file(&self.dir)?;
        entries.clear();
        Ok(())
    }
}

/// Empties the history in `dir`'s file.
pub(crate) fn clear_file(dir: &std::path::Path) -> std::io::Result<()> {
    file::write(dir, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(epoch: u32, start: u64) -> EpochEntry {
        EpochEntry::new(epoch, start)
    }

    #[test]
    fn new_epochs_follow_the_rules() {
        let h = [e(1, 0), e(3, 100)];
        assert_eq!(check_next(&h, e(4, 150), 200), Ok(()));
        assert_eq!(check_next(&[], e(7, 0), 0), Ok(()));
        assert_eq!(
            check_next(&h, e(3, 150), 200),
            Err(EpochError::NotAbove { epoch: 3, last: 3 })
        );
        assert_eq!(
            check_next(&h, e(4, 99), 200),
            Err(EpochError::StartsBeforeLast {
                epoch: 4,
                start: 99,
                last_start: 100
            })
        );
        assert_eq!(
            check_next(&h, e(4, 201), 200),
            Err(EpochError::StartsBeyondEnd {
                epoch: 4,
                start: 201,
                end: 200
            })
        );
        // Same start: the empty last epoch is replaced.
        assert_eq!(with_next(&h, e(4, 100)), vec![e(1, 0), e(4, 100)]);
        assert_eq!(
            with_next(&h, e(4, 120)),
            vec![e(1, 0), e(3, 100), e(4, 120)]
        );
    }

    #[test]
    fn history_survives_a_reopen_and_is_cut_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let epochs = Epochs::load(dir.path().to_path_buf(), 0).unwrap();
        assert!(epochs.list().is_empty());
        epochs.begin(e(1, 0), 0).unwrap();
        epochs.begin(e(2, 500), 800).unwrap();
        epochs.begin(e(5, 800), 800).unwrap();
        assert!(matches!(
            epochs.begin(e(5, 900), 900),
            Err(StoreError::Epoch(EpochError::NotAbove { .. }))
        ));
        let all = vec![e(1, 0), e(2, 500), e(5, 800)];
        assert_eq!(epochs.list(), all);
        drop(epochs);

        let epochs = Epochs::load(dir.path().to_path_buf(), 800).unwrap();
        assert_eq!(epochs.list(), all, "read back from the file");
        epochs.cut(500).unwrap();
        assert_eq!(
            epochs.list(),
            vec![e(1, 0)],
            "entries at or past the cut go"
        );
        drop(epochs);
        assert_eq!(
            Epochs::load(dir.path().to_path_buf(), 800).unwrap().list(),
            vec![e(1, 0)]
        );

        // An open with a shorter log drops what starts past its end.
        let epochs = Epochs::load(dir.path().to_path_buf(), 10).unwrap();
        epochs.begin(e(2, 10), 10).unwrap();
        drop(epochs);
        let epochs = Epochs::load(dir.path().to_path_buf(), 9).unwrap();
        assert_eq!(epochs.list(), vec![e(1, 0)]);
        assert_eq!(file::read(dir.path()).unwrap(), vec![e(1, 0)]);
    }
}
