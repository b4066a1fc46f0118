//! The state machine: [`ControllerState`] in memory, its last applied log
//! id and membership beside it, and the last snapshot in a file of its own
//! (written atomically). At start the state is the snapshot's; Raft then
//! applies the committed entries after it again.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    AnyError, BasicNode, Entry, EntryPayload, LogId, RaftSnapshotBuilder, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership,
};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use super::files;
use super::types::TypeConfig;
use crate::state::{ControllerState, Outcome};

const SNAPSHOT_FILE: &str = "raft-snapshot";

/// What has been applied.
#[derive(Clone, Debug, Default)]
pub struct Applied {
    /// The last applied entry.
    pub last_applied: Option<LogId<u64>>,
    /// The last applied membership.
    pub membership: StoredMembership<u64, BasicNode>,
    /// The groups.
    pub state: ControllerState,
}

/// A snapshot as kept on disk.
#[derive(Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<u64, BasicNode>,
    data: Vec<u8>,
}

/// The state machine; clones share one state.
#[derive(Clone)]
pub struct StateMachine {
    applied: Arc<RwLock<Applied>>,
    dir: PathBuf,
    snapshots_built: Arc<std::sync::atomic::AtomicU64>,
}

fn any(e: impl std::fmt::Display) -> AnyError {
    AnyError::error(e.to_string())
}

impl StateMachine {
    /// Opens the state machine in `dir`: the last snapshot's state, if any.
    ///
    /// # Errors
    /// I/O errors, or a snapshot file that fails its checksum or does not
    /// decode.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut applied = Applied::default();
        if let Some(s) = files::read_whole::<StoredSnapshot>(dir, SNAPSHOT_FILE)? {
            applied.state = postcard::from_bytes(&s.data).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidData, format!("snapshot state: {e}"))
            })?;
            applied.last_applied = s.meta.last_log_id;
            applied.membership = s.meta.last_membership;
        }
        Ok(Self {
            applied: Arc::new(RwLock::new(applied)),
            dir: dir.to_path_buf(),
            snapshots_built: Arc::default(),
        })
    }

    /// The applied state, shared with the service that reads it.
    pub fn applied(&self) -> Arc<RwLock<Applied>> {
        self.applied.clone()
    }

    async fn store_snapshot(&self, s: StoredSnapshot) -> io::Result<()> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || files::write_atomic(&dir, SNAPSHOT_FILE, &s))
            .await
            .map_err(io::Error::other)?
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<u64>> {
        let (data, last, membership) = {
            let a = self.applied.read();
            let data = postcard::to_stdvec(&a.state)
                .map_err(|e| StorageIOError::read_state_machine(any(e)))?;
            (data, a.last_applied, a.membership.clone())
        };
        let n = self
            .snapshots_built
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let meta = SnapshotMeta {
            last_log_id: last,
            last_membership: membership,
            snapshot_id: format!(
                "{}-{}-{n}",
                last.map_or(0, |l| l.leader_id.term),
                last.map_or(0, |l| l.index)
            ),
        };
        self.store_snapshot(StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        })
        .await
        .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), any(e)))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(data),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, BasicNode>), StorageError<u64>> {
        let a = self.applied.read();
        Ok((a.last_applied, a.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Outcome>, StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut a = self.applied.write();
        let mut out = Vec::new();
        for e in entries {
            a.last_applied = Some(e.log_id);
            let o = match e.payload {
                EntryPayload::Normal(cmd) => a.state.apply(&cmd),
                EntryPayload::Membership(m) => {
                    a.membership = StoredMembership::new(Some(e.log_id), m);
                    Outcome::none()
                }
                EntryPayload::Blank => Outcome::none(),
            };
            out.push(o);
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Vec<u8>>, StorageError<u64>> {
        Ok(Box::default())
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Vec<u8>>,
    ) -> Result<(), StorageError<u64>> {
        let state: ControllerState = postcard::from_bytes(&snapshot)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), any(e)))?;
        self.store_snapshot(StoredSnapshot {
            meta: meta.clone(),
            data: *snapshot,
        })
        .await
        .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), any(e)))?;
        let mut a = self.applied.write();
        a.state = state;
        a.last_applied = meta.last_log_id;
        a.membership = meta.last_membership.clone();
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<u64>> {
        let dir = self.dir.clone();
        let s = tokio::task::spawn_blocking(move || {
            files::read_whole::<StoredSnapshot>(&dir, SNAPSHOT_FILE)
        })
        .await
        .map_err(io::Error::other)
        .and_then(|r| r)
        .map_err(|e| StorageIOError::read_snapshot(None, any(e)))?;
        Ok(s.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(s.data),
        }))
    }
}
