//! `MessageStore::reset_to`: a slave whose log cannot be brought in line
//! with its master's by truncation (it shares nothing with what the
//! master still has) starts over, empty, where the master's log starts.
//!
//! # Crash safety
//!
//! Unlike a truncation, nothing of the old store stays, and the new log
//! may start below the old one's end, so no checkpoint can describe a
//! state half-way. The reset writes its intent first, a small file
//! (`reset`, replaced atomically) naming the new start: that is the
//! commit point. Everything after it (deleting the log, queues, index,
//! epochs and checkpoint, making the first segment, a checkpoint at the
//! new start) is redone from the beginning by the next open if a crash
//! interrupts it ([`apply_pending`]), and the intent goes last.

use std::fs;
use std::path::Path;

use ferromq_protocol::CommitLogOffset;

use super::StoreRole;
use crate::checkpoint::{self, Checkpoint};
use crate::checkpointer::{self, Mode};
use crate::commit_log::SPARE_DIR;
use crate::consume_queue::CONSUMEQUEUE_DIR;
use crate::error::{io_at, Damage, StoreError};
use crate::fsutil::{numbered_files, replace_file, sync_dir};
use crate::index::{IndexState, INDEX_DIR};
use crate::segment::Segment;
use crate::{MessageStore, COMMITLOG_DIR};

const FILE: &str = "reset";
const TMP: &str = "reset.tmp";
const MAGIC: u32 = 0x464D_5152;

impl MessageStore {
    /// Empties the store (commit log, consume queues, index, epoch
    /// history) and starts its log again at `offset`, which must be a
    /// segment base, usually the master's `commit_log_min_offset`: for a
    /// new slave whose master's log no longer starts at 0, and for a slave
    /// whose log shares nothing with what its master still has (it was
    /// away so long that retention deleted the master's records it needs
    /// next, or [`agreed_end`](crate::agreed_end) found nothing in
    /// common). Its queues start again at the queue offsets of the first
    /// records it takes. Crash-safe (see the module docs): once begun, a
    /// crash leaves the reset to the next open.
    ///
    /// For a slave only, its writer idle, as for
    /// [`truncate_to`](Self::truncate_to). Blocking.
    ///
    /// # Errors
    /// `WrongRole` on a master; `NotRecordBoundary` if `offset` is not a
    /// segment base; `Poisoned`, `ShuttingDown`, `Io` (the store is then
    /// poisoned if the reset had begun: the next open completes it).
    pub fn reset_to(&self, offset: CommitLogOffset) -> Result<(), StoreError> {
        let s = &self.shared;
        let role = s.role.get();
        if role != StoreRole::Slave {
            return Err(StoreError::WrongRole { op: "reset", role });
        }
        let start = offset.get();
        if !start.is_multiple_of(s.log.segment_size()) {
            return Err(StoreError::NotRecordBoundary(start));
        }
        let _retention = s.retention.hold();
        let mut last = s.checkpoint_lock.lock();
        let mut offsets = s.offsets.lock();
        super::truncate::settle(s)?;
        write_intent(&s.config.dir, start)?;
        let done = (|| {
            #[cfg(any(test, feature = "fault-injection"))]
            super::truncate::crash_point(s, crate::CrashPoint::ResetAfterIntent)?;
            super::truncate::marks_to(s, start);
            let topics: std::collections::BTreeSet<_> =
                s.cqs.all().iter().map(|cq| cq.topic().clone()).collect();
            for t in topics {
                s.cqs.remove_topic(t.as_str())?;
            }
            s.index.cut(IndexState::Empty)?;
            s.log.reset(start)?;
            s.epochs.clear()?;
            offsets.clear();
            checkpointer::checkpoint_locked(s, &mut last, Mode::Force)?;
            remove_intent(&s.config.dir)
        })();
        if let Err(e) = done {
            if !s.halted() {
                s.poison(format!("reset to {start} failed: {e}"));
            }
            return Err(e);
        }
        drop(offsets);
        s.allocator.wake.notify();
        tracing::warn!(start, "reset the store: its log starts again, empty");
        Ok(())
    }
}

fn write_intent(dir: &Path, start: u64) -> std::io::Result<()> {
    let mut b = Vec::with_capacity(16);
    b.extend_from_slice(&MAGIC.to_be_bytes());
    b.extend_from_slice(&start.to_be_bytes());
    let crc = ferromq_protocol::crc32c(&b);
    b.extend_from_slice(&crc.to_be_bytes());
    replace_file(dir, FILE, TMP, &b)
}

fn remove_intent(dir: &Path) -> Result<(), StoreError> {
    let path = dir.join(FILE);
    fs::remove_file(&path).map_err(io_at("remove", &path))?;
    Ok(sync_dir(dir)?)
}

/// The new start a reset recorded, if one is pending.
fn read_intent(dir: &Path) -> Result<Option<u64>, StoreError> {
    let path = dir.join(FILE);
    let b = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_at("read", &path)(e).into()),
    };
    let damaged = |reason| StoreError::CorruptFile {
        path: path.clone(),
        reason,
    };
    let b: [u8; 16] = b.try_into().map_err(|_| damaged(Damage::Truncated))?;
    let (body, crc) = b.split_at(12);
    if ferromq_protocol::crc32c(body) != u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err(damaged(Damage::ChecksumMismatch));
    }
    let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    if magic != MAGIC {
        return Err(damaged(Damage::BadMagic(magic)));
    }
    let mut start = [0u8; 8];
    start.copy_from_slice(&body[4..]);
    Ok(Some(u64::from_be_bytes(start)))
}

/// At open, before anything is read: completes a reset a crash
/// interrupted. Every step is redone from the start.
pub(crate) fn apply_pending(dir: &Path, segment_size: u64) -> Result<(), StoreError> {
    let Some(start) = read_intent(dir)? else {
        return Ok(());
    };
    tracing::warn!(start, "completing a reset an unclean stop interrupted");
    let log = dir.join(COMMITLOG_DIR);
    for (_, path) in numbered_files(&log)?.into_iter().rev() {
        fs::remove_file(&path).map_err(io_at("remove segment", &path))?;
    }
    sync_dir(&log)?;
    // Spares too (see `CommitLog::reset`).
    let spares = dir.join(SPARE_DIR);
    if spares.exists() {
        for (_, path) in numbered_files(&spares)? {
            fs::remove_file(&path).map_err(io_at("remove spare segment", &path))?;
        }
        sync_dir(&spares)?;
    }
    for sub in [CONSUMEQUEUE_DIR, INDEX_DIR] {
        let d = dir.join(sub);
        if d.exists() {
            fs::remove_dir_all(&d).map_err(io_at("remove", &d))?;
        }
        fs::create_dir(&d).map_err(io_at("create directory", &d))?;
    }
    sync_dir(dir)?;
    crate::epoch::clear_file(dir)?;
    Segment::create(&log, start, segment_size, false, false)?;
    checkpoint::write(
        dir,
        &Checkpoint {
            flushed: start,
            cq_consistent: start,
            index: IndexState::Empty,
            queues: Vec::new(),
        },
    )?;
    remove_intent(dir)
}
