//! `mqbench produce`: P producer tasks, each keeping up to K sends of B
//! messages in flight (a `FuturesUnordered` window: no task per send, no
//! lock), paced by a fixed schedule under `--rate`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use ferromq_client::{
    ClientConfig, Message, MqClient, Producer, SendResult, SendStatus, TopicName,
};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;

use super::args::ProduceArgs;
use super::payload::{self, Stamp};
use super::progress::Progress;
use super::report::Report;
use super::schedule::{Budget, Schedule};
use super::tally::{Live, Tally};

/// What every producer task shares: the run's shape and its clocks.
#[derive(Debug)]
pub(super) struct Plan {
    pub topic: TopicName,
    pub body: Bytes,
    pub batch: u32,
    pub inflight: usize,
    /// Sends due before this are warm-up: sent but not counted.
    pub measure_from: Instant,
    /// `--duration`: nothing is sent at or after this.
    pub deadline: Option<Instant>,
    /// `--count`: the measured messages left to send.
    pub budget: Option<Budget>,
    pub live: Arc<Live>,
    /// e2e: stamp each body with this run id and its due time as µs after
    /// this origin.
    pub stamp: Option<(u64, Instant)>,
}

/// The next send a producer task will make.
#[derive(Clone, Copy, Debug)]
struct Planned {
    /// The scheduled time under `--rate`; else the send goes when the window
    /// has room and latency counts from then.
    due: Option<Instant>,
    measured: bool,
    messages: u32,
}

/// A finished send.
struct Done {
    from: Instant,
    end: Instant,
    measured: bool,
    messages: u32,
    result: ferromq_client::Result<Vec<SendResult>>,
}

impl Plan {
    /// Plans send number `seq`, or `None` when this task is done. Claims from
    /// the budget, so call it once per send.
    fn next(&self, seq: u64, schedule: Option<&Schedule>) -> Option<Planned> {
        let due = schedule.map(|s| s.at(seq));
        let when = due.unwrap_or_else(Instant::now);
        if self.deadline.is_some_and(|d| when >= d) {
            return None;
        }
        let measured = when >= self.measure_from;
        let messages = match (&self.budget, measured) {
            (Some(b), true) => u32::try_from(b.claim(u64::from(self.batch))).ok()?,
            _ => self.batch,
        };
        (messages > 0).then_some(Planned {
            due,
            measured,
            messages,
        })
    }

    fn record(&self, tally: &mut Tally, d: Done) {
        if !d.measured {
            return;
        }
        let n = u64::from(d.messages);
        match d.result {
            Ok(results) => {
                tally.flush_timeouts += results
                    .iter()
                    .filter(|r| r.status == SendStatus::FlushDiskTimeout)
                    .count() as u64;
                tally.ok(n, n * self.body.len() as u64, d.end - d.from);
                self.live.add(n, 0);
            }
            Err(e) => {
                tally.failed(n, e);
                self.live.add(0, n);
            }
        }
    }
}

/// One producer task: fills its window, waits for the schedule, records
/// completions as they come.
pub(super) async fn producer_task(
    plan: Arc<Plan>,
    producer: Producer,
    schedule: Option<Schedule>,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::new()?;
    let mut window = FuturesUnordered::new();
    let mut seq = 0;
    let mut next = plan.next(seq, schedule.as_ref());
    loop {
        match next {
            Some(p) if window.len() < plan.inflight => {
                if let Some(due) = p.due.filter(|d| *d > Instant::now()) {
                    tokio::select! {
                        done = window.next(), if !window.is_empty() => {
                            if let Some(d) = done {
                                plan.record(&mut tally, d);
                            }
                            continue;
                        }
                        () = tokio::time::sleep_until(due) => {}
                    }
                }
                if plan.deadline.is_some_and(|d| Instant::now() >= d) {
                    // Planned before the deadline, but the window only freed
                    // up after it: a run that falls behind its --rate ends on
                    // time (the delay already shows in the latencies) instead
                    // of sending its backlog of scheduled sends.
                    next = None;
                    continue;
                }
                window.push(send(&plan, &producer, p, seq));
                seq += 1;
                next = plan.next(seq, schedule.as_ref());
            }
            _ => match window.next().await {
                Some(d) => plan.record(&mut tally, d),
                None => break,
            },
        }
    }
    Ok(tally)
}

fn send(
    plan: &Plan,
    producer: &Producer,
    p: Planned,
    seq: u64,
) -> impl std::future::Future<Output = Done> {
    let body = |i: u32| match plan.stamp {
        None => plan.body.clone(),
        Some((run, origin)) => Stamp {
            run,
            seq: seq * u64::from(plan.batch) + u64::from(i),
            due_us: micros(p.due.unwrap_or_else(Instant::now) - origin),
        }
        .body(&plan.body),
    };
    let msgs: Vec<Message> = (0..p.messages)
        .map(|i| Message::new(plan.topic.clone(), body(i)))
        .collect();
    let producer = producer.clone();
    let single = plan.batch == 1;
    async move {
        let sent = Instant::now();
        // Single messages go through `send`, as an application's would, so
        // the producer's automatic batching applies.
        let result = if single && msgs.len() == 1 {
            let mut msgs = msgs;
            producer.send(msgs.swap_remove(0)).await.map(|r| vec![r])
        } else {
            producer.send_batch(msgs).await
        };
        Done {
            from: p.due.unwrap_or(sent),
            end: Instant::now(),
            measured: p.measured,
            messages: p.messages,
            result,
        }
    }
}

/// Builds producers, dials their brokers (so no measured send pays for a
/// connect), then runs them and reports.
pub async fn run(a: ProduceArgs, config: ClientConfig, shared: MqClient) -> anyhow::Result<Report> {
    let c = &a.common;
    let build = |client: MqClient| {
        let mut b = Producer::builder()
            .client(client)
            .group("mqbench")
            .auto_batch(!a.no_auto_batch);
        if let Some(n) = a.auto_batch_in_flight {
            b = b.auto_batch_in_flight(n as usize);
        }
        b.build().context("building a producer")
    };
    let mut producers = Vec::new();
    if a.shared_client {
        // One producer used by every task, as the threads of one
        // application process would share theirs.
        warm_up_client(&shared, &c.topic).await?;
        producers.resize(a.producers as usize, build(shared.clone())?);
    } else {
        for _ in 0..a.producers {
            let client = MqClient::new(config.clone());
            warm_up_client(&client, &c.topic).await?;
            producers.push(build(client)?);
        }
    }
    let live = Arc::new(Live::default());
    let start = Instant::now();
    let measure_from = start + a.warmup;
    let plan = Arc::new(Plan {
        topic: c.topic.clone(),
        body: payload::random_body(a.size as usize),
        batch: a.batch,
        inflight: a.inflight as usize,
        measure_from,
        deadline: c.stop.duration.map(|d| measure_from + d),
        budget: c.stop.count.map(Budget::new),
        live: live.clone(),
        stamp: None,
    });
    let progress = Progress::start(c.stop, live);
    let tasks: Vec<_> = producers
        .into_iter()
        .map(|p| {
            let schedule = a
                .rate
                .map(|r| Schedule::new(start, r, a.producers, a.batch));
            tokio::spawn(producer_task(plan.clone(), p, schedule))
        })
        .collect();
    let mut total = Tally::new()?;
    for t in tasks {
        total.merge(&t.await.context("a producer task failed")??);
    }
    let elapsed = measure_from.elapsed();
    drop(progress);
    let from = if a.rate.is_some() { "schedule" } else { "send" };
    let mut r = Report::new("produce", from, &total, elapsed);
    r.size = Some(a.size);
    r.producers = Some(a.producers);
    r.inflight = Some(a.inflight);
    r.batch = Some(a.batch);
    r.rate = a.rate;
    r.shared_client = Some(a.shared_client);
    r.auto_batch = Some(!a.no_auto_batch);
    Ok(r)
}

pub(super) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Reads the route and opens the connections of `client` up front.
pub(super) async fn warm_up_client(client: &MqClient, topic: &TopicName) -> anyhow::Result<()> {
    let route = client
        .topic_route(topic)
        .await
        .with_context(|| format!("route of topic {topic}"))?;
    for (name, addr) in route.masters() {
        client
            .connection(addr)
            .await
            .with_context(|| format!("connecting to broker {name} at {addr}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(batch: u32, warmup: Duration, deadline: Option<Duration>, count: Option<u64>) -> Plan {
        let now = Instant::now();
        Plan {
            topic: TopicName::new("T").unwrap(),
            body: Bytes::from_static(b"x"),
            batch,
            inflight: 1,
            measure_from: now + warmup,
            deadline: deadline.map(|d| now + warmup + d),
            budget: count.map(Budget::new),
            live: Arc::default(),
            stamp: None,
        }
    }

    #[test]
    fn count_runs_stop_when_the_budget_is_spent() {
        let p = plan(4, Duration::ZERO, None, Some(10));
        let sizes: Vec<u32> = (0..)
            .map_while(|i| p.next(i, None))
            .map(|x| x.messages)
            .collect();
        assert_eq!(sizes, [4, 4, 2]);
    }

    #[test]
    fn warm_up_sends_are_not_measured_nor_claimed() {
        let p = plan(1, Duration::from_secs(3600), None, Some(1));
        let first = p.next(0, None).unwrap();
        assert!(!first.measured);
        assert_eq!(p.budget.as_ref().unwrap().left(), 1);
    }

    #[test]
    fn scheduled_sends_stop_at_the_deadline() {
        let p = plan(1, Duration::ZERO, Some(Duration::from_secs(1)), None);
        // 10 msg/s for one second: due at 0, 100, …, 900 ms.
        let s = Schedule::new(p.measure_from, 10.0, 1, 1);
        let planned: Vec<Planned> = (0..).map_while(|i| p.next(i, Some(&s))).collect();
        assert_eq!(planned.len(), 10);
        assert!(planned.iter().all(|x| x.measured && x.due.is_some()));
    }
}
