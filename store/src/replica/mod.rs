//! What the store offers master/slave replication; the broker's HA module
//! does the networking on top.
//!
//! * Master side: [`MessageStore::read_raw`] hands out the commit log
//!   byte for byte, whole records and end-of-segment markers, up to what
//!   is flushed (`read_raw`).
//! * Slave side: [`MessageStore::append_replicated`] writes those bytes at
//!   the same offsets through the same writer, flusher and dispatcher as
//!   an append (`append`, `validate`, `write`); the slave's dispatcher
//!   builds its own consume queues and index from them, with the queue
//!   offsets the master stamped. [`MessageStore::truncate_to`] first cuts
//!   a tail the new master never had (`truncate`);
//!   [`MessageStore::reset_to`] empties a slave that shares nothing with
//!   what its master still has (`reset`).
//! * Both sides: the epoch history ([`MessageStore::begin_epoch`],
//!   `epoch`) and the role ([`StoreRole`]), which keeps producers'
//!   appends and replicated bytes apart.

mod append;
mod read_raw;
pub(crate) mod reset;
mod truncate;
pub(crate) mod validate;
pub(crate) mod write;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use ferromq_protocol::CommitLogOffset;

use super::epoch::EpochEntry;
use super::error::StoreError;
use super::MessageStore;

pub use append::MAX_REPLICATED_CHUNK;

/// Which appends a store takes. Not a setting: the broker sets it at run
/// time (a slave is promoted, a master steps down), starting from
/// `Master` at every open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoreRole {
    /// Takes `append` (producers' batches); the writer assigns offsets.
    Master,
    /// Takes `append_replicated` (its master's log, verbatim) and may be
    /// truncated; `append` is refused.
    Slave,
}

impl fmt::Display for StoreRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Master => "master",
            Self::Slave => "slave",
        })
    }
}

/// The role, readable on the hot path with one load.
#[derive(Default)]
pub(crate) struct RoleCell(AtomicBool);

impl RoleCell {
    pub(crate) fn get(&self) -> StoreRole {
        if self.0.load(Ordering::Acquire) {
            StoreRole::Slave
        } else {
            StoreRole::Master
        }
    }

    fn set(&self, role: StoreRole) {
        self.0.store(role == StoreRole::Slave, Ordering::Release);
    }
}

impl MessageStore {
    /// The store's role (`Master` after every open).
    pub fn role(&self) -> StoreRole {
        self.shared.role.get()
    }

    /// Makes the store take producers' appends (`Master`) or its
    /// master's log (`Slave`). Blocking only for as long as the writer
    /// takes to finish the group it is writing: the switch happens between
    /// two groups, so no group mixes the two kinds. Requests queued for
    /// the other role are refused when the writer reaches them
    /// (`AppendError::WrongRole`); records already written are flushed
    /// and dispatched as usual.
    ///
    /// A slave keeps the writer's table of next queue offsets up to date
    /// from the records it takes, so a promoted slave continues every
    /// queue where its old master left it. The broker must set the role
    /// right after `open` and before any append: it is not stored.
    pub fn set_role(&self, role: StoreRole) {
        // Holding the offset table stops the writer between groups.
        let _writer = self.shared.offsets.lock();
        if self.shared.role.get() != role {
            tracing::info!(%role, "store role changed");
        }
        self.shared.role.set(role);
    }

    /// The epoch history, oldest first.
    pub fn epochs(&self) -> Vec<EpochEntry> {
        self.shared.epochs.list()
    }

    /// Records that the master of `epoch` wrote the log from `start` on,
    /// in the `epochs` file (replaced atomically, fsynced) before it
    /// returns. A master calls it with its log end when it takes over; a
    /// slave calls it with the master's epoch start when its log reaches
    /// that offset (before it appends the records that follow). An epoch
    /// starting where the last one starts replaces it (that one holds no
    /// record). Blocking (a file write and fsyncs); holds the writer for
    /// that long.
    ///
    /// # Errors
    /// `Epoch` if `epoch` is not above the last one or `start` is before
    /// the last one's start or beyond the end of the log; `Io` writing
    /// the file.
    pub fn begin_epoch(&self, epoch: u32, start: CommitLogOffset) -> Result<(), StoreError> {
        let s = &self.shared;
        // The log's end cannot move (nor a truncation run) meanwhile.
        let _writer = s.offsets.lock();
        let end = s.written.load(Ordering::Acquire);
        s.epochs.begin(EpochEntry { epoch, start }, end)?;
        tracing::info!(epoch, start = start.get(), "epoch begun");
        Ok(())
    }

    /// End of the commit log as written (the next append's offset).
    pub fn log_end(&self) -> CommitLogOffset {
        CommitLogOffset::new(self.shared.written.load(Ordering::Acquire))
    }

    /// End of the part of the commit log an fdatasync covers: what a crash
    /// cannot take back, and how far `read_raw` serves.
    pub fn flushed_end(&self) -> CommitLogOffset {
        CommitLogOffset::new(self.shared.flushed.load(Ordering::Acquire))
    }
}
