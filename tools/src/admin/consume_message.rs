//! `consumeMessage`: consume as a member of a group with a push consumer,
//! print each message, and commit the group's offsets before exiting.
//!
//! The listener is orderly (one message of a queue at a time, in queue
//! order) so that `--count` can be exact: once the count is reached the
//! listener suspends its queue instead of taking more, and the committed
//! offset of every queue stays at the first message not printed.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ferromq_client::{
    ConsumeContext, ConsumeFromWhere, GroupName, MqClient, OrderlyListener, OrderlyResult,
    PolledMessage, PushConsumer, StoredMessage, TopicName,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Idle time after which the command stops when neither `--count` nor
/// `--timeout-ms` is given.
const DEFAULT_IDLE_MS: u64 = 5000;
/// Longest single wait, so Ctrl-C and the idle deadline are noticed.
const POLL_SLICE: Duration = Duration::from_millis(500);

/// Flags of `consumeMessage`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Topic name.
    #[arg(short = 't', long = "topic")]
    pub topic: TopicName,
    /// Consumer group whose offsets are used and committed.
    #[arg(short = 'g', long = "consumerGroup")]
    pub group: GroupName,
    /// Start at the oldest message on queues the group never committed on
    /// (otherwise at the newest). Committed offsets always win.
    #[arg(long = "from-beginning")]
    pub from_beginning: bool,
    /// Stop after this many messages.
    #[arg(short = 'c', long = "count")]
    pub count: Option<usize>,
    /// Stop once no message has arrived for this long (default 5000 when
    /// --count is not given either).
    #[arg(long = "timeout-ms")]
    pub timeout_ms: Option<u64>,
    /// One JSON object per line: topic, broker, queue_id, queue_offset,
    /// msg_id, unique_id, keys (an array of strings), tags (string or
    /// null), body (lossy UTF-8).
    #[arg(long = "json")]
    pub json: bool,
}

/// Takes messages while printing slots are left and hands them to the
/// printing loop; otherwise suspends the queue, so the message stays
/// uncommitted.
struct Taker {
    tx: mpsc::UnboundedSender<PolledMessage>,
    /// Messages still wanted; `None`: no limit.
    slots: Option<AtomicUsize>,
    /// Set when the command is ending.
    stop: AtomicBool,
}

impl OrderlyListener for Taker {
    fn consume(&self, msgs: &[StoredMessage], ctx: &ConsumeContext) -> OrderlyResult {
        let [m] = msgs else {
            return OrderlyResult::SuspendCurrentQueueAMoment;
        };
        if self.stop.load(Ordering::Acquire) {
            return OrderlyResult::SuspendCurrentQueueAMoment;
        }
        if let Some(slots) = &self.slots {
            let took =
                slots.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
            if took.is_err() {
                return OrderlyResult::SuspendCurrentQueueAMoment;
            }
        }
        let polled = PolledMessage {
            queue: ctx.queue.clone(),
            message: m.clone(),
        };
        match self.tx.send(polled) {
            Ok(()) => OrderlyResult::Success,
            Err(_) => OrderlyResult::SuspendCurrentQueueAMoment,
        }
    }
}

/// Runs the command.
///
/// # Errors
/// Unknown topic, or failures to consume.
pub async fn run(a: Args, client: &MqClient, out: &mut impl Write) -> anyhow::Result<()> {
    let from = if a.from_beginning {
        ConsumeFromWhere::FirstOffset
    } else {
        ConsumeFromWhere::LastOffset
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let taker = Arc::new(Taker {
        tx,
        slots: a.count.map(AtomicUsize::new),
        stop: AtomicBool::new(false),
    });
    let consumer = PushConsumer::builder()
        .client(client.clone())
        .group(a.group.as_str())
        .subscribe(a.topic.as_str(), "*")
        .consume_from(from)
        .consume_batch_size(1)
        .max_reconsume_times(Some(u32::MAX))
        .suspend_time(Duration::from_millis(200))
        .long_poll_hold(Duration::from_secs(5))
        .orderly_listener(SharedTaker(taker.clone()))
        .build()?;
    consumer
        .start()
        .await
        .with_context(|| format!("cannot start consuming {} as group {}", a.topic, a.group))?;
    let idle = a
        .timeout_ms
        .or(a.count.is_none().then_some(DEFAULT_IDLE_MS))
        .map(Duration::from_millis);
    let mut consumed = 0usize;
    let mut last_arrival = Instant::now();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        if a.count.is_some_and(|c| consumed >= c) {
            break;
        }
        let wait = match idle {
            Some(d) => (last_arrival + d).saturating_duration_since(Instant::now()),
            None => POLL_SLICE,
        };
        if wait.is_zero() {
            break;
        }
        let next = tokio::select! {
            _ = &mut ctrl_c => break,
            m = tokio::time::timeout(wait.min(POLL_SLICE), rx.recv()) => m,
        };
        if let Ok(Some(m)) = next {
            last_arrival = Instant::now();
            print_message(&m, a.json, out)?;
            consumed += 1;
        }
    }
    taker.stop.store(true, Ordering::Release);
    // Commits every queue at its first message not taken.
    consumer.shutdown().await;
    // Taken before the stop but not printed yet: they are committed, so
    // they must be printed.
    while let Ok(m) = rx.try_recv() {
        print_message(&m, a.json, out)?;
        consumed += 1;
    }
    out.flush()?;
    if consumed == 0 && !a.from_beginning {
        eprintln!(
            "no message consumed; a group without committed offsets starts at the newest \
             message: use --from-beginning to read older ones"
        );
    } else {
        eprintln!(
            "consumed {consumed} message(s); offsets of group {} committed",
            a.group
        );
    }
    Ok(())
}

/// The listener handed to the consumer; the command keeps its own handle
/// to stop it.
struct SharedTaker(Arc<Taker>);

impl OrderlyListener for SharedTaker {
    fn consume(&self, msgs: &[StoredMessage], ctx: &ConsumeContext) -> OrderlyResult {
        self.0.consume(msgs, ctx)
    }
}

/// One message in `--json` output; field order is the output order.
#[derive(serde::Serialize)]
struct JsonLine<'a> {
    topic: &'a str,
    broker: &'a str,
    queue_id: u32,
    queue_offset: u64,
    msg_id: String,
    unique_id: Option<&'a str>,
    keys: &'a [String],
    tags: Option<&'a str>,
    body: &'a str,
}

fn print_message(m: &PolledMessage, json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let s = &m.message;
    let body = String::from_utf8_lossy(&s.message.body);
    if json {
        let line = serde_json::to_string(&JsonLine {
            topic: s.message.topic.as_str(),
            broker: m.queue.broker_name.as_str(),
            queue_id: s.queue_id.get(),
            queue_offset: s.queue_offset.get(),
            msg_id: s.msg_id().to_string(),
            unique_id: s.unique_id(),
            keys: &s.message.keys,
            tags: s.message.tags.as_deref(),
            body: &body,
        })?;
        writeln!(out, "{line}")?;
    } else {
        writeln!(
            out,
            "queue={}/{} offset={} msg_id={} keys=[{}] tags={} body={}",
            m.queue.broker_name,
            s.queue_id,
            s.queue_offset,
            s.msg_id(),
            s.message.keys.join(" "),
            s.message.tags.as_deref().unwrap_or("-"),
            body
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use ferromq_client::protocol::record::{self, BornInfo, StoreStamp};
    use ferromq_client::{
        BrokerName, CommitLogOffset, Message, MessageQueue, QueueId, QueueOffset,
    };

    use super::*;

    fn polled() -> PolledMessage {
        let topic = TopicName::new("T").unwrap();
        let msg = Message::new(topic.clone(), "héllo")
            .with_key("k1")
            .with_key("k2")
            .with_tags("TagA");
        let host = "127.0.0.1:10911".parse().unwrap();
        let born = BornInfo {
            timestamp: 1,
            host,
            flags: 0,
            reconsume_times: 0,
        };
        let mut b = BytesMut::new();
        record::encode(&msg, born, 1024, &mut b).unwrap();
        record::stamp(
            &mut b,
            &StoreStamp {
                queue_id: QueueId::new(3),
                queue_offset: QueueOffset::new(7),
                commit_log_offset: CommitLogOffset::new(16),
                timestamp: 2,
                host,
            },
        );
        PolledMessage {
            queue: MessageQueue::new(topic, BrokerName::new("broker-a").unwrap(), QueueId::new(3)),
            message: record::decode(&b.freeze()).unwrap(),
        }
    }

    #[test]
    fn json_lines_have_the_documented_fields_in_order() {
        let mut out = Vec::new();
        print_message(&polled(), true, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"topic\":\"T\",\"broker\":\"broker-a\",\"queue_id\":3,\"queue_offset\":7,\
             \"msg_id\":\"7F00000100002A9F0000000000000010\",\"unique_id\":null,\
             \"keys\":[\"k1\",\"k2\"],\"tags\":\"TagA\",\"body\":\"héllo\"}\n"
        );
    }

    #[test]
    fn plain_lines_are_one_per_message() {
        let mut out = Vec::new();
        print_message(&polled(), false, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "queue=broker-a/3 offset=7 msg_id=7F00000100002A9F0000000000000010 keys=[k1 k2] tags=TagA body=héllo\n"
        );
    }
}
