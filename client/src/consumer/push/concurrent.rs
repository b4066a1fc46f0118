//! Concurrent consumption: pulled messages are cut into batches, each
//! batch waits for a consume permit (the consume threads) and is passed to
//! the listener on the blocking pool. Success removes the batch from the
//! window; "retry later" hands each message back to its broker (which
//! redelivers it through the retry topic), and a message the broker did
//! not take is consumed again here a little later — never lost.

use std::sync::Arc;
use std::time::Duration;

use ferromq_protocol::header::MessageModel;
use ferromq_protocol::{QueueOffset, StoredMessage};
use tracing::{debug, warn};

use super::listener::{call_concurrent, ConsumeContext, ConsumeResult, MessageListener};
use super::process_queue::ProcessQueue;
use super::send_back::send_back;
use super::shared::Shared;
use super::subscription::restore_topic;

/// Wait before consuming again, here, messages the broker did not take back.
const LOCAL_RETRY_PAUSE: Duration = Duration::from_secs(1);

pub(super) fn dispatch(
    shared: &Arc<Shared>,
    pq: &Arc<ProcessQueue>,
    msgs: Vec<StoredMessage>,
    listener: &Arc<dyn MessageListener>,
) {
    let batch = shared.settings.consume_batch_size.max(1);
    let mut msgs = msgs.into_iter().peekable();
    while msgs.peek().is_some() {
        let chunk: Vec<StoredMessage> = msgs.by_ref().take(batch).collect();
        pq.begin_batch();
        tokio::spawn(consume(shared.clone(), pq.clone(), listener.clone(), chunk));
    }
}

async fn consume(
    shared: Arc<Shared>,
    pq: Arc<ProcessQueue>,
    listener: Arc<dyn MessageListener>,
    mut msgs: Vec<StoredMessage>,
) {
    loop {
        let permit = tokio::select! {
            _ = pq.dropped.cancelled() => break,
            p = shared.permits.clone().acquire_owned() => p,
        };
        let Ok(permit) = permit else { break };
        if pq.is_dropped() {
            break;
        }
        let view: Vec<StoredMessage> = msgs.iter().cloned().map(restore_topic).collect();
        let ctx = ConsumeContext {
            queue: pq.queue.clone(),
        };
        let result = call_concurrent(&listener, view, ctx).await;
        drop(permit);
        let offsets: Vec<QueueOffset> = msgs.iter().map(|m| m.queue_offset).collect();
        match result {
            ConsumeResult::Success => {
                pq.done(&offsets);
                break;
            }
            // A queue being given up is not handed back: the window keeps
            // the messages, so the committed offset stays before them and
            // the next owner reads them again.
            ConsumeResult::RetryLater if pq.is_dropped() => break,
            ConsumeResult::RetryLater if shared.settings.model == MessageModel::Broadcasting => {
                warn!(queue = %pq.queue, count = msgs.len(),
                    "listener asked to retry, but broadcasting consumers do not retry: messages dropped");
                pq.done(&offsets);
                break;
            }
            ConsumeResult::RetryLater => {
                msgs = hand_back(&shared, &pq, msgs).await;
                if msgs.is_empty() {
                    break;
                }
                for m in &mut msgs {
                    m.reconsume_times = m.reconsume_times.saturating_add(1);
                }
                tokio::select! {
                    _ = pq.dropped.cancelled() => break,
                    _ = tokio::time::sleep(LOCAL_RETRY_PAUSE) => {}
                }
            }
        }
    }
    pq.end_batch();
}

/// Sends each message back; returns those the broker did not take.
async fn hand_back(
    shared: &Shared,
    pq: &ProcessQueue,
    msgs: Vec<StoredMessage>,
) -> Vec<StoredMessage> {
    let max = shared.settings.max_reconsume_times;
    let mut kept = Vec::new();
    for m in msgs {
        match send_back(shared, &pq.queue, &m, max).await {
            Ok(()) => {
                debug!(queue = %pq.queue, offset = %m.queue_offset, "message handed back for retry");
                pq.done(&[m.queue_offset]);
            }
            Err(e) => {
                warn!(queue = %pq.queue, offset = %m.queue_offset, error = %e,
                    "cannot hand the message back; consuming it again here shortly");
                kept.push(m);
            }
        }
    }
    kept
}
