//! `MessageStore::append_replicated`: a slave takes a chunk of its
//! master's log.

use bytes::Bytes;
use ferromq_protocol::CommitLogOffset;
use tokio::sync::oneshot;

use super::validate::plan;
use super::StoreRole;
use crate::error::AppendError;
use crate::write_queue::{Claim, ReplicaReq};
use crate::MessageStore;

/// Largest chunk `append_replicated` takes (the HA module's reads are
/// far smaller; this only bounds what one call can hold of the write
/// queue's budget).
pub const MAX_REPLICATED_CHUNK: usize = 16 << 20;

impl MessageStore {
    /// Writes `bytes`, a chunk of the master's log as
    /// [`read_raw`](Self::read_raw) returned it, at commit-log offset
    /// `offset`, which must be the end of this log when the writer gets
    /// to it: the slave's log stays a byte-for-byte copy of the master's.
    /// Both stores must use the same segment size (a marker means "the
    /// log goes on at the next segment's base").
    ///
    /// The chunk goes through the writer, the flusher and the dispatcher
    /// as an append does: it resolves in sync mode once an fdatasync
    /// covers it, in async mode once it is written, and in both only
    /// after its records are readable; a failed write or fsync poisons
    /// the store; the arrival listener hears of the new messages. The
    /// consume queues take the queue offsets the master stamped (the
    /// slave's writer assigns none). Resolves to the new end of the log.
    ///
    /// Calls must not overlap: the next chunk's `offset` is this one's
    /// result, checked when the writer reaches it.
    ///
    /// # Errors
    /// Nothing is written on: `WrongRole` (the store is a master),
    /// `Invalid` (a record that does not verify, is stamped for another
    /// offset, is cut short or leaves no room for its segment's marker, a
    /// misplaced marker, an empty chunk or one over
    /// [`MAX_REPLICATED_CHUNK`]), `OffsetMismatch` (the log does not end
    /// at `offset`), `DiskFull`, `Busy`, `Stalled`, `ShuttingDown`,
    /// `Poisoned`. `FlushTimeout`: written, durable later (its result's
    /// queue offset means nothing here).
    pub async fn append_replicated(
        &self,
        offset: CommitLogOffset,
        bytes: Bytes,
    ) -> Result<CommitLogOffset, AppendError> {
        let s = &self.shared;
        let role = s.role.get();
        if role != StoreRole::Slave {
            return Err(AppendError::WrongRole(role));
        }
        self.accepting()?;
        // Calls do not overlap, so this is the end the writer will find
        // (and checks again, for a call that broke the rule).
        let expected = self.log_end();
        if offset != expected {
            return Err(AppendError::OffsetMismatch {
                expected,
                got: offset,
            });
        }
        if bytes.len() > MAX_REPLICATED_CHUNK {
            return Err(AppendError::Invalid(format!(
                "replicated chunk of {} bytes exceeds {MAX_REPLICATED_CHUNK}",
                bytes.len()
            )));
        }
        let plan = plan(offset.get(), &bytes, s.log.segment_size())?;
        let end = CommitLogOffset::new(plan.end);
        let permit = s.queue.admit(bytes.len()).await?;
        let (reply, written) = oneshot::channel();
        let claim = Claim::default();
        let deadline = tokio::time::Instant::now() + s.config.sync_flush_timeout;
        let flushes = s.flush_state.subscribe();
        s.queue
            .push_replica(ReplicaReq {
                offset: offset.get(),
                bytes,
                plan,
                permit,
                claim: claim.clone(),
                reply: Some(reply),
            })
            .map_err(|_| AppendError::ShuttingDown)?;
        self.settle(written, claim, deadline, flushes).await?;
        Ok(end)
    }
}
