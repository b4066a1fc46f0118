//! `mqbench consume`: C pull consumers, each in its own group (a pull
//! consumer reads every queue of the topic; there is no rebalancing yet), so
//! the figure is what the broker serves to C independent readers. Latency is
//! the message's age when polled: now − its store timestamp (wall clock, ms
//! resolution; when catching up from a backlog it is the backlog's age).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use ferromq_client::{ClientConfig, ConsumeFrom, MqClient, PullConsumer, TopicName};
use tokio::time::Instant;

use super::args::ConsumeArgs;
use super::progress::Progress;
use super::report::Report;
use super::schedule::Budget;
use super::tally::{Live, Tally};

/// Most messages taken from the consumer's buffer at once.
const MAX_POLL: usize = 4096;
/// How long one poll waits, so deadlines and idle timeouts are noticed.
const POLL_WAIT: Duration = Duration::from_millis(100);

/// What the consumer tasks share.
struct Shared {
    topic: TopicName,
    deadline: Option<Instant>,
    budget: Option<Budget>,
    idle_timeout: Duration,
    live: Arc<Live>,
}

/// One consumer's result.
struct Outcome {
    tally: Tally,
    /// When its last counted message arrived.
    last: Option<Instant>,
    idle: bool,
}

pub async fn run(a: ConsumeArgs, config: ClientConfig) -> anyhow::Result<Report> {
    let c = &a.common;
    let mut consumers = Vec::new();
    for i in 0..a.consumers {
        let group = if a.consumers == 1 {
            a.group.clone()
        } else {
            format!("{}-{i}", a.group)
        };
        let consumer = PullConsumer::builder()
            .client(MqClient::new(config.clone()))
            .group(group)
            .consume_from(if a.from_beginning {
                ConsumeFrom::FirstOffset
            } else {
                ConsumeFrom::LastOffset
            })
            .pull_batch_size(a.pull_batch)
            .buffer_capacity(MAX_POLL.max(4 * a.pull_batch as usize))
            .max_poll_records(MAX_POLL)
            .build()
            .context("building a pull consumer")?;
        consumers.push(consumer);
    }
    let live = Arc::new(Live::default());
    let start = Instant::now();
    let shared = Arc::new(Shared {
        topic: c.topic.clone(),
        deadline: c.stop.duration.map(|d| start + d),
        budget: c.stop.count.map(Budget::new),
        idle_timeout: a.idle_timeout,
        live: live.clone(),
    });
    let progress = Progress::start(c.stop, live);
    let tasks: Vec<_> = consumers
        .into_iter()
        .map(|consumer| tokio::spawn(consume_task(shared.clone(), consumer)))
        .collect();
    let mut total = Tally::new()?;
    let mut last = None;
    let mut idle = false;
    for t in tasks {
        let o = t.await.context("a consumer task failed")??;
        total.merge(&o.tally);
        last = last.max(o.last);
        idle |= o.idle;
    }
    drop(progress);
    // A duration run lasts its duration; a count run ends at its last message
    // (an idle tail is not throughput).
    let end = match shared.deadline {
        Some(d) => d.min(Instant::now()),
        None => last.unwrap_or_else(Instant::now),
    };
    let mut r = Report::new("consume", "store_time", &total, end - start);
    r.consumers = Some(a.consumers);
    r.batch = Some(a.pull_batch);
    r.complete = !idle;
    Ok(r)
}

async fn consume_task(s: Arc<Shared>, consumer: PullConsumer) -> anyhow::Result<Outcome> {
    let mut tally = Tally::new()?;
    consumer
        .subscribe(&s.topic)
        .await
        .with_context(|| format!("subscribing to {}", s.topic))?;
    let mut last = None;
    let mut last_seen = Instant::now();
    let mut idle = false;
    loop {
        let want = match &s.budget {
            Some(b) if b.left() == 0 => break,
            Some(b) => usize::try_from(b.left()).unwrap_or(MAX_POLL).min(MAX_POLL),
            None => MAX_POLL,
        };
        let now = Instant::now();
        if s.deadline.is_some_and(|d| now >= d) {
            break;
        }
        if s.budget.is_some() && now - last_seen >= s.idle_timeout {
            idle = true;
            break;
        }
        let polled = consumer.poll_records(POLL_WAIT, want).await?;
        if polled.is_empty() {
            continue;
        }
        last_seen = Instant::now();
        let counted = match &s.budget {
            Some(b) => usize::try_from(b.claim(polled.len() as u64)).unwrap_or(0),
            None => polled.len(),
        };
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        for p in polled.iter().take(counted) {
            let age = Duration::from_millis(now_ms.saturating_sub(p.message.store_timestamp));
            tally.ok(1, p.message.message.body.len() as u64, age);
        }
        s.live.add(counted as u64, 0);
        if counted > 0 {
            last = Some(last_seen);
        }
    }
    // Commit, so a later run of the same group resumes here; a failure is
    // counted, the figures stand.
    if let Err(e) = consumer.commit().await {
        tally.failed(1, format!("offset commit: {e}"));
    }
    consumer.shutdown().await;
    Ok(Outcome { tally, last, idle })
}
