//! `mqbench e2e`: one producer on a fixed schedule and one pull consumer in
//! the same process. Each body carries its due time as µs after a shared
//! `Instant`, so latency = poll time − due time needs no clock sync, and a
//! stall anywhere (producer window, broker, flush, pull) shows as latency.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ferromq_client::{ClientConfig, ConsumeFrom, MqClient, Producer, PullConsumer};
use rand::RngCore;
use tokio::time::Instant;

use super::args::E2eArgs;
use super::payload::{self, Stamp};
use super::produce::{micros, producer_task, warm_up_client, Plan};
use super::progress::Progress;
use super::report::{Latency, Report};
use super::schedule::{Budget, Schedule};
use super::tally::{Live, Tally};

const POLL_WAIT: Duration = Duration::from_millis(100);

/// What the producer tells the consumer once it is done.
#[derive(Default)]
struct ProducerDone {
    done: AtomicBool,
    /// Measured messages the broker acknowledged: what the consumer must see.
    acked: AtomicU64,
}

struct ConsumerOutcome {
    tally: Tally,
    last: Option<Instant>,
    idle: bool,
}

pub async fn run(a: E2eArgs, config: ClientConfig) -> anyhow::Result<Report> {
    let c = &a.common;
    let run_id = rand::rng().next_u64();
    let group = a
        .group
        .clone()
        .unwrap_or_else(|| format!("mqbench-e2e-{run_id:016x}"));
    let consumer = PullConsumer::builder()
        .client(MqClient::new(config.clone()))
        .group(group)
        .consume_from(ConsumeFrom::LastOffset)
        .pull_batch_size(a.pull_batch)
        .build()
        .context("building the pull consumer")?;
    consumer
        .subscribe(&c.topic)
        .await
        .with_context(|| format!("subscribing to {}", c.topic))?;
    let pclient = MqClient::new(config);
    warm_up_client(&pclient, &c.topic).await?;
    let producer = Producer::builder()
        .client(pclient)
        .group("mqbench")
        .build()
        .context("building the producer")?;

    let live = Arc::new(Live::default());
    let origin = Instant::now();
    let measure_from = origin + a.warmup;
    let plan = Arc::new(Plan {
        topic: c.topic.clone(),
        body: payload::random_body(a.size as usize),
        batch: 1,
        inflight: a.inflight as usize,
        measure_from,
        deadline: c.stop.duration.map(|d| measure_from + d),
        budget: c.stop.count.map(Budget::new),
        // The consumer counts progress; the producer's counts stay out of
        // the bar.
        live: Arc::default(),
        stamp: Some((run_id, origin)),
    });
    let done = Arc::new(ProducerDone::default());
    let progress = Progress::start(c.stop, live.clone());
    let consumer_task = tokio::spawn(consume(
        consumer,
        run_id,
        origin,
        micros(a.warmup),
        done.clone(),
        live,
        a.idle_timeout,
    ));
    let schedule = Schedule::new(origin, a.rate, 1, 1);
    let sent = producer_task(plan, producer, Some(schedule)).await?;
    done.acked.store(sent.messages, Ordering::Release);
    done.done.store(true, Ordering::Release);
    let got = consumer_task.await.context("the consumer task failed")??;
    drop(progress);

    let end = got.last.unwrap_or_else(Instant::now);
    let mut r = Report::new(
        "e2e",
        "schedule",
        &got.tally,
        end.saturating_duration_since(measure_from),
    );
    r.errors = sent.errors;
    r.first_error = sent.first_error.clone();
    r.flush_timeouts = sent.flush_timeouts;
    r.send_latency_us = Some(Latency::of(&sent.latency));
    r.size = Some(a.size);
    r.rate = Some(a.rate);
    r.inflight = Some(a.inflight);
    r.missing = Some(sent.messages.saturating_sub(got.tally.messages));
    r.complete = !got.idle;
    Ok(r)
}

/// Polls until every acknowledged measured message arrived, or nothing
/// arrived for `idle_timeout` after the producer finished.
async fn consume(
    consumer: PullConsumer,
    run_id: u64,
    origin: Instant,
    warmup_us: u64,
    done: Arc<ProducerDone>,
    live: Arc<Live>,
    idle_timeout: Duration,
) -> anyhow::Result<ConsumerOutcome> {
    let mut tally = Tally::new()?;
    // At-least-once delivery may repeat a message; count each once.
    let mut seen = HashSet::new();
    let mut last = None;
    let mut last_seen = Instant::now();
    let mut idle = false;
    loop {
        if done.done.load(Ordering::Acquire) {
            if tally.messages >= done.acked.load(Ordering::Acquire) {
                break;
            }
            if last_seen.elapsed() >= idle_timeout {
                idle = true;
                break;
            }
        }
        let msgs = consumer.poll(POLL_WAIT).await?;
        let now = Instant::now();
        let mut counted = 0;
        for m in &msgs {
            let Some(stamp) = Stamp::parse(&m.message.body) else {
                continue;
            };
            if stamp.run != run_id || stamp.due_us < warmup_us || !seen.insert(stamp.seq) {
                continue;
            }
            let latency = Duration::from_micros(micros(now - origin).saturating_sub(stamp.due_us));
            tally.ok(1, m.message.body.len() as u64, latency);
            counted += 1;
        }
        if !msgs.is_empty() {
            last_seen = now;
        }
        if counted > 0 {
            last = Some(now);
            live.add(counted, 0);
        }
    }
    consumer.shutdown().await;
    Ok(ConsumerOutcome { tally, last, idle })
}
