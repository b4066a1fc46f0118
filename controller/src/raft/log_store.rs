//! The Raft log on disk: one append-only file of records (an entry, "drop
//! entries from index N on", "entries up to this id are purged"), each
//! framed as `len: u32 LE | crc32c: u32 LE | postcard`, fsynced before
//! Raft is told an append is durable. The vote and the committed id are
//! small files of their own ([`super::files`]). Entries are kept in memory
//! as well: the controller's log is small (a few entries per broker event,
//! purged after each snapshot), so reads never touch the disk.
//!
//! Opening replays the file. A record cut short or failing its checksum at
//! the end is what a crash during an append leaves; it was never
//! acknowledged, so the file is cut back to the last whole record. When
//! purged records make up most of the file it is rewritten (temporary
//! file, fsync, rename).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    AnyError, Entry, LogId, LogState, RaftLogReader, StorageError, StorageIOError, Vote,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::files;
use super::types::TypeConfig;

const LOG_FILE: &str = "raft-log";
const VOTE_FILE: &str = "raft-vote";
const COMMITTED_FILE: &str = "raft-committed";
/// Largest record accepted when reading the file back.
const MAX_RECORD: usize = 64 << 20;
/// Rewrite the file once it holds this many records more than entries.
const REWRITE_AFTER_DEAD: usize = 4096;

/// One record of the log file.
#[derive(Serialize, Deserialize)]
enum Record {
    Entry(Entry<TypeConfig>),
    /// Entries from this index on are gone (a conflict with the leader).
    TruncateFrom(u64),
    /// Entries up to and including this id are gone (after a snapshot).
    Purge(LogId<u64>),
}

struct Inner {
    dir: PathBuf,
    file: File,
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    last_purged: Option<LogId<u64>>,
    vote: Option<Vote<u64>>,
    committed: Option<LogId<u64>>,
    /// Records in the file.
    records: usize,
}

/// The Raft log store; clones share one log.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

fn io_err(e: impl Into<io::Error>) -> AnyError {
    AnyError::new(&e.into())
}

fn encode(rec: &Record, out: &mut Vec<u8>) -> io::Result<()> {
    let body = postcard::to_stdvec(rec).map_err(io::Error::other)?;
    let len = u32::try_from(body.len()).map_err(io::Error::other)?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(())
}

impl LogStore {
    /// Opens (or creates) the log in `dir`.
    ///
    /// # Errors
    /// I/O errors, and a vote or committed file that fails its checksum.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(LOG_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let mut entries = BTreeMap::new();
        let mut last_purged = None;
        let mut pos = 0usize;
        let mut records = 0usize;
        while let Some(rec) = next_record(&bytes, &mut pos) {
            records += 1;
            match rec {
                Record::Entry(e) => {
                    entries.insert(e.log_id.index, e);
                }
                Record::TruncateFrom(i) => {
                    entries.split_off(&i);
                }
                Record::Purge(id) => {
                    entries = entries.split_off(&(id.index + 1));
                    last_purged = Some(id);
                }
            }
        }
        if pos < bytes.len() {
            tracing::warn!(
                file = %path.display(),
                at = pos,
                len = bytes.len(),
                "cutting an unfinished record off the end of the Raft log"
            );
            file.set_len(pos as u64)?;
            file.sync_all()?;
        }
        file.seek(SeekFrom::End(0))?;
        let vote = files::read_whole(dir, VOTE_FILE)?;
        let committed = files::read_whole::<Option<LogId<u64>>>(dir, COMMITTED_FILE)?.flatten();
        files::sync_dir(dir)?;
        Ok(Self {
            inner: Arc::new(Mutex::new(Inner {
                dir: dir.to_path_buf(),
                file,
                entries,
                last_purged,
                vote,
                committed,
                records,
            })),
        })
    }

    /// Appends records and fsyncs them, off the async threads.
    async fn write(&self, recs: Vec<Record>) -> io::Result<()> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.lock().write(recs))
            .await
            .map_err(io::Error::other)?
    }
}

/// The next whole record at `pos`, moving `pos` past it; `None` at the end
/// or at a record that is cut short or damaged.
fn next_record(bytes: &[u8], pos: &mut usize) -> Option<Record> {
    let head = bytes.get(*pos..*pos + 8)?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if len > MAX_RECORD {
        return None;
    }
    let body = bytes.get(*pos + 8..*pos + 8 + len)?;
    if crc32c::crc32c(body) != crc {
        return None;
    }
    let rec = postcard::from_bytes(body).ok()?;
    *pos += 8 + len;
    Some(rec)
}

impl Inner {
    fn write(&mut self, recs: Vec<Record>) -> io::Result<()> {
        let mut buf = Vec::new();
        for r in &recs {
            encode(r, &mut buf)?;
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()?;
        self.records += recs.len();
        for r in recs {
            match r {
                Record::Entry(e) => {
                    self.entries.insert(e.log_id.index, e);
                }
                Record::TruncateFrom(i) => {
                    self.entries.split_off(&i);
                }
                Record::Purge(id) => {
                    self.entries = self.entries.split_off(&(id.index + 1));
                    self.last_purged = Some(id);
                }
            }
        }
        if self.records > self.entries.len() + REWRITE_AFTER_DEAD {
            self.rewrite()?;
        }
        Ok(())
    }

    /// Writes only what is live to a new file and swaps it in.
    fn rewrite(&mut self) -> io::Result<()> {
        let mut buf = Vec::new();
        if let Some(p) = self.last_purged {
            encode(&Record::Purge(p), &mut buf)?;
        }
        for e in self.entries.values() {
            encode(&Record::Entry(e.clone()), &mut buf)?;
        }
        let tmp = self.dir.join(format!("{LOG_FILE}.tmp"));
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&buf)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, self.dir.join(LOG_FILE))?;
        files::sync_dir(&self.dir)?;
        self.file = OpenOptions::new()
            .append(true)
            .open(self.dir.join(LOG_FILE))?;
        self.records = self.entries.len() + usize::from(self.last_purged.is_some());
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<u64>> {
        let inner = self.inner.lock();
        Ok(inner.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<u64>> {
        let inner = self.inner.lock();
        let last = inner
            .entries
            .last_key_value()
            .map(|(_, e)| e.log_id)
            .or(inner.last_purged);
        Ok(LogState {
            last_purged_log_id: inner.last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError<u64>> {
        let (inner, vote) = (self.inner.clone(), *vote);
        tokio::task::spawn_blocking(move || {
            let mut g = inner.lock();
            files::write_atomic(&g.dir, VOTE_FILE, &vote)?;
            g.vote = Some(vote);
            Ok::<_, io::Error>(())
        })
        .await
        .map_err(io::Error::other)
        .and_then(|r| r)
        .map_err(|e| StorageIOError::write_vote(io_err(e)).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError<u64>> {
        Ok(self.inner.lock().vote)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<u64>>,
    ) -> Result<(), StorageError<u64>> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut g = inner.lock();
            if g.committed == committed {
                return Ok(());
            }
            files::write_atomic(&g.dir, COMMITTED_FILE, &committed)?;
            g.committed = committed;
            Ok::<_, io::Error>(())
        })
        .await
        .map_err(io::Error::other)
        .and_then(|r| r)
        .map_err(|e| StorageIOError::write(io_err(e)).into())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, StorageError<u64>> {
        Ok(self.inner.lock().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let recs: Vec<Record> = entries.into_iter().map(Record::Entry).collect();
        match self.write(recs).await {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let msg = e.to_string();
                callback.log_io_completed(Err(io::Error::other(msg)));
                Err(StorageIOError::write_logs(io_err(e)).into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        self.write(vec![Record::TruncateFrom(log_id.index)])
            .await
            .map_err(|e| StorageIOError::write_logs(io_err(e)).into())
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        self.write(vec![Record::Purge(log_id)])
            .await
            .map_err(|e| StorageIOError::write_logs(io_err(e)).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::state_machine::StateMachine;
    use openraft::storage::RaftLogStorage;
    use openraft::testing::{StoreBuilder, Suite};
    use openraft::{CommittedLeaderId, EntryPayload};

    struct Builder;

    impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
        async fn build(
            &self,
        ) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<u64>> {
            let dir = tempfile::tempdir().map_err(|e| StorageIOError::write(io_err(e)))?;
            let log = LogStore::open(dir.path()).map_err(|e| StorageIOError::write(io_err(e)))?;
            let sm =
                StateMachine::open(dir.path()).map_err(|e| StorageIOError::write(io_err(e)))?;
            Ok((dir, log, sm))
        }
    }

    /// The Raft library's own conformance suite for storage.
    #[test]
    fn passes_the_raft_library_storage_suite() {
        Suite::test_all(Builder).unwrap_or_else(|e| panic!("{e}"));
    }

    fn entry(term: u64, index: u64) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
            payload: EntryPayload::Blank,
        }
    }

    async fn append(log: &mut LogStore, entries: Vec<Entry<TypeConfig>>) {
        log.write(entries.into_iter().map(Record::Entry).collect())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    #[tokio::test]
    async fn reopening_replays_appends_truncations_and_purges_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        {
            let mut log = LogStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
            append(&mut log, (1..=10).map(|i| entry(1, i)).collect()).await;
            log.truncate(LogId::new(CommittedLeaderId::new(1, 1), 8))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            append(&mut log, vec![entry(2, 8)]).await;
            log.purge(LogId::new(CommittedLeaderId::new(1, 1), 3))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        // A crash in the middle of the next append: half a record.
        let path = dir.path().join(LOG_FILE);
        let mut half = Vec::new();
        encode(&Record::Entry(entry(2, 9)), &mut half).unwrap_or_else(|e| panic!("{e}"));
        half.truncate(half.len() / 2);
        let whole_len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(&half))
            .unwrap_or_else(|e| panic!("{e}"));

        let mut log = LogStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let state = log.get_log_state().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(state.last_purged_log_id.map(|l| l.index), Some(3));
        assert_eq!(
            state.last_log_id.map(|l| (l.leader_id.term, l.index)),
            Some((2, 8))
        );
        let got = log
            .try_get_log_entries(0..100)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<(u64, u64)> = got
            .iter()
            .map(|e| (e.log_id.leader_id.term, e.log_id.index))
            .collect();
        assert_eq!(ids, vec![(1, 4), (1, 5), (1, 6), (1, 7), (2, 8)]);
        assert_eq!(
            std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
            whole_len,
            "the torn record is cut off"
        );
        // And the log goes on from there.
        append(&mut log, vec![entry(2, 9)]).await;
        drop(log);
        let mut log = LogStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let state = log.get_log_state().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(state.last_log_id.map(|l| l.index), Some(9));
    }

    #[tokio::test]
    async fn many_purged_records_are_rewritten_away() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut log = LogStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let n = REWRITE_AFTER_DEAD as u64 + 100;
        for chunk in (1..=n).collect::<Vec<_>>().chunks(500) {
            append(&mut log, chunk.iter().map(|i| entry(1, *i)).collect()).await;
        }
        log.purge(LogId::new(CommittedLeaderId::new(1, 1), n - 5))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(log.inner.lock().records <= 6, "rewritten to what is live");
        drop(log);
        let mut log = LogStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let got = log
            .try_get_log_entries(0..u64::MAX)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.len(), 5);
        assert_eq!(got[0].log_id.index, n - 4);
    }
}
