//! `MessageStore::append`: validate, queue for the writer, wait for the
//! write and (in sync mode) for the fdatasync that covers it.

use bytes::BytesMut;
use ferromq_protocol::{QueueId, TopicName};
use tokio::sync::{oneshot, watch};

use super::config::FlushMode;
use super::error::AppendError;
use super::replica::StoreRole;
use super::shared::FlushState;
use super::types::AppendResult;
use super::validate::{validate, Limits};
use super::write_queue::{Claim, WriteReq, Written};
use super::MessageStore;

impl MessageStore {
    /// Appends `count` producer-encoded records (back to back, all for
    /// `topic`) to queue `queue_id`, contiguously in the log, with
    /// consecutive queue offsets.
    ///
    /// Resolves in sync mode once an fdatasync covers the batch, in async
    /// mode once it is written; in both, only after the batch is readable
    /// (its consume-queue entries exist). If the future is dropped after the batch was
    /// queued, the batch is still written (its outcome is then unknown to the
    /// caller, as with any lost reply).
    ///
    /// Never waits much longer than `sync_flush_timeout` once queued: a
    /// batch placed in the log by then gets `FlushTimeout`, one the writer
    /// has not reached (a device write is stalling it) is withdrawn and
    /// gets `Stalled`.
    ///
    /// # Errors
    /// See [`AppendError`]: `Invalid` (nothing written; also a batch over
    /// `max_batch_bytes`), `DiskFull` (nothing written), `FlushTimeout`
    /// (written, durable later), `Stalled` (nothing written), `Poisoned`,
    /// `ShuttingDown`, `Busy`.
    pub async fn append(
        &self,
        topic: &TopicName,
        queue_id: QueueId,
        records: BytesMut,
        count: u32,
    ) -> Result<AppendResult, AppendError> {
        let s = &self.shared;
        let role = s.role.get();
        if role != StoreRole::Master {
            return Err(AppendError::WrongRole(role));
        }
        self.accepting()?;
        let limits = Limits {
            max_body: s.config.max_message_size,
            max_batch: s.config.max_batch_bytes,
            segment_size: s.config.segment_size,
        };
        let checked = validate(topic, &records, count, &limits)?;
        let permit = s.queue.admit(records.len()).await?;
        let (reply, written) = oneshot::channel();
        let claim = Claim::default();
        let deadline = tokio::time::Instant::now() + s.config.sync_flush_timeout;
        // Subscribed before the write, so no flush can be missed.
        let flushes = s.flush_state.subscribe();
        s.queue
            .push(WriteReq {
                topic: topic.clone(),
                queue_id,
                records,
                metas: checked.metas,
                key_hashes: checked.key_hashes,
                permit,
                claim: claim.clone(),
                reply: Some(reply),
            })
            .map_err(|_| AppendError::ShuttingDown)?;
        self.settle(written, claim, deadline, flushes).await
    }

    /// Whether appends are taken at all: not poisoned, not shutting down,
    /// the disk not full.
    pub(crate) fn accepting(&self) -> Result<(), AppendError> {
        let s = &self.shared;
        if let Some(m) = s.poison_message() {
            return Err(AppendError::Poisoned(m));
        }
        if s.queue.is_closed() {
            return Err(AppendError::ShuttingDown);
        }
        if s.retention.disk_full() {
            return Err(AppendError::DiskFull(format!(
                "the store's disk is more than {:.0}% full; writes resume once retention frees space",
                s.config.disk_reject_ratio * 100.0
            )));
        }
        Ok(())
    }

    /// Waits for a queued request: for its place in the log (withdrawing
    /// it if the writer has not reached it by `deadline`), then for its
    /// flush (sync mode) and dispatch. `flushes` was subscribed before the
    /// request was queued.
    pub(crate) async fn settle(
        &self,
        mut written: oneshot::Receiver<Result<Written, AppendError>>,
        claim: Claim,
        deadline: tokio::time::Instant,
        mut flushes: watch::Receiver<FlushState>,
    ) -> Result<AppendResult, AppendError> {
        let s = &self.shared;
        let written = match tokio::time::timeout_at(deadline, &mut written).await {
            Ok(w) => w,
            Err(_elapsed) => {
                if claim.take() {
                    // The writer will skip it: nothing is written.
                    return Err(AppendError::Stalled(s.config.sync_flush_timeout));
                }
                // The writer has placed it and answers before writing.
                written.await
            }
        };
        let written = written.map_err(|_| AppendError::ShuttingDown)??;
        let end = written.end;
        // Acknowledge only once the batch is readable too, so a consumer
        // told about the send (or the producer itself) finds it at once.
        let sync = s.config.flush == FlushMode::Sync;
        // Only dispatch, poisoning and halting notify; in sync mode nothing
        // is dispatched before it is flushed.
        let wait = flushes.wait_for(|st| {
            ((!sync || st.flushed >= end) && st.dispatched >= end) || st.poisoned || st.halted
        });
        let waited = tokio::time::timeout_at(deadline, wait)
            .await
            .map(|r| r.map(|state| *state));
        let state = match waited {
            Ok(Ok(state)) => state,
            Ok(Err(_closed)) => return Err(AppendError::ShuttingDown),
            Err(_elapsed) => {
                // Durable (in async mode: on the device) and only the
                // dispatch lags, or not yet: its device write or the
                // fdatasync is taking that long.
                let done = if sync {
                    flushes.borrow().flushed >= end
                } else {
                    s.written.load(std::sync::atomic::Ordering::Acquire) >= end
                };
                if done {
                    return Ok(written.result);
                }
                return Err(AppendError::FlushTimeout(written.result));
            }
        };
        if (!sync || state.flushed >= end) && state.dispatched >= end {
            Ok(written.result)
        } else if state.poisoned {
            Err(AppendError::Poisoned(
                s.poison_message()
                    .unwrap_or_else(|| "fdatasync failed".into()),
            ))
        } else {
            Err(AppendError::ShuttingDown)
        }
    }
}
