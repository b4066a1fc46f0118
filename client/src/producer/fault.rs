//! Latency-based fault avoidance, RocketMQ's `sendLatencyFaultEnable`.
//!
//! Every send attempt reports how long it took (or that it failed) for its
//! broker name. A slow answer or an error makes the broker *not available*
//! until some time has passed; queue selection skips such brokers while
//! another one can take the message (see [`super::chooser`]).
//!
//! Latency → not-available time (RocketMQ's `latencyMax` /
//! `notAvailableDuration` tables):
//!
//! | latency at least | avoided for |
//! |---|---|
//! | 50 ms, 100 ms | 0 |
//! | 550 ms | 30 s |
//! | 1 s | 60 s |
//! | 2 s | 120 s |
//! | 3 s | 180 s |
//! | 15 s | 600 s |
//!
//! An *error* (the broker could not be reached, the connection broke, the
//! broker answered busy or a store error) makes it unavailable for
//! [`ERROR_ISOLATION`] = 30 s. RocketMQ 4 counts an error as a 30 s
//! latency, i.e. 10 minutes; that keeps a restarted broker idle for long
//! after it came back, while routes already drop a dead broker within the
//! NameServer's expiry time, so 30 s is enough here.
//!
//! Time is passed in (`now`), so the logic is tested with made-up instants.

use std::collections::HashMap;
use std::time::Duration;

use ferromq_protocol::BrokerName;
use parking_lot::Mutex;
use tokio::time::Instant;

/// How long a broker is avoided after an error.
pub(crate) const ERROR_ISOLATION: Duration = Duration::from_secs(30);

/// `(latency at least, not available for)`, ascending.
const STEPS: [(Duration, Duration); 7] = [
    (Duration::from_millis(50), Duration::ZERO),
    (Duration::from_millis(100), Duration::ZERO),
    (Duration::from_millis(550), Duration::from_secs(30)),
    (Duration::from_millis(1000), Duration::from_secs(60)),
    (Duration::from_millis(2000), Duration::from_secs(120)),
    (Duration::from_millis(3000), Duration::from_secs(180)),
    (Duration::from_millis(15000), Duration::from_secs(600)),
];

/// Entries kept before available ones are pruned (broker names come and
/// go; this keeps the table from growing without end).
const MAX_ENTRIES: usize = 1024;

/// How long a broker whose last send took `latency` is avoided.
pub(crate) fn not_available_for(latency: Duration) -> Duration {
    STEPS
        .iter()
        .rev()
        .find(|(at_least, _)| latency >= *at_least)
        .map_or(Duration::ZERO, |(_, d)| *d)
}

/// The latest report of one broker name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FaultItem {
    /// Latency of its latest send (for an error: the time it took to fail).
    pub(crate) latency: Duration,
    /// Not chosen before this instant while another broker can be.
    pub(crate) available_at: Instant,
}

impl FaultItem {
    /// Worse first: becomes available later, then slower.
    fn badness(&self) -> (Instant, Duration) {
        (self.available_at, self.latency)
    }
}

/// The latest latency or error per broker name, shared by every send of
/// one producer.
#[derive(Debug, Default)]
pub(crate) struct LatencyFaults {
    /// Only held for map operations, never across an await.
    items: Mutex<HashMap<BrokerName, FaultItem>>,
}

impl LatencyFaults {
    /// Records a send attempt that got an answer after `latency` (a
    /// timeout counts as an answer this slow).
    pub(crate) fn record_latency(&self, broker: &BrokerName, latency: Duration, now: Instant) {
        self.record(broker, latency, now + not_available_for(latency), now);
    }

    /// Records a send attempt that failed after `elapsed` because of the
    /// broker (unreachable, broken connection, busy, store error).
    pub(crate) fn record_error(&self, broker: &BrokerName, elapsed: Duration, now: Instant) {
        let avoid = ERROR_ISOLATION.max(not_available_for(elapsed));
        self.record(broker, elapsed, now + avoid, now);
    }

    fn record(&self, broker: &BrokerName, latency: Duration, available_at: Instant, now: Instant) {
        let mut items = self.items.lock();
        if items.len() >= MAX_ENTRIES && !items.contains_key(broker) {
            items.retain(|_, i| i.available_at > now);
        }
        items.insert(
            broker.clone(),
            FaultItem {
                latency,
                available_at,
            },
        );
    }

    /// Whether `broker` may be chosen at `now` (never reported brokers are).
    #[cfg(test)]
    pub(crate) fn is_available(&self, broker: &BrokerName, now: Instant) -> bool {
        self.items
            .lock()
            .get(broker)
            .is_none_or(|i| i.available_at <= now)
    }

    /// The brokers not available at `now`, with their latest report. One
    /// lock for a whole queue selection; usually empty.
    pub(crate) fn unavailable(&self, now: Instant) -> Unavailable {
        Unavailable(
            self.items
                .lock()
                .iter()
                .filter(|(_, i)| i.available_at > now)
                .map(|(b, i)| (b.clone(), *i))
                .collect(),
        )
    }
}

/// A snapshot of the brokers to avoid.
#[derive(Debug, Default)]
pub(crate) struct Unavailable(HashMap<BrokerName, FaultItem>);

impl Unavailable {
    /// Whether no broker is to be avoided.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `broker` may be chosen.
    pub(crate) fn allows(&self, broker: &BrokerName) -> bool {
        !self.0.contains_key(broker)
    }

    /// Of `brokers`, the one that becomes available first (then the one
    /// with the lowest latency); an available one if there is any.
    pub(crate) fn least_bad<'a>(
        &self,
        brokers: impl IntoIterator<Item = &'a BrokerName>,
    ) -> Option<&'a BrokerName> {
        brokers
            .into_iter()
            .min_by_key(|b| self.0.get(*b).map(FaultItem::badness))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> BrokerName {
        BrokerName::new(s).unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn rocketmq_latency_table() {
        for (latency, avoid) in [
            (0, 0),
            (49, 0),
            (50, 0),
            (549, 0),
            (550, 30_000),
            (999, 30_000),
            (1000, 60_000),
            (2000, 120_000),
            (2999, 120_000),
            (3000, 180_000),
            (14_999, 180_000),
            (15_000, 600_000),
            (100_000, 600_000),
        ] {
            assert_eq!(not_available_for(ms(latency)), ms(avoid), "{latency} ms");
        }
    }

    #[test]
    fn fast_brokers_stay_available_and_slow_ones_are_avoided_for_a_time() {
        let f = LatencyFaults::default();
        let t0 = Instant::now();
        let (a, b) = (name("a"), name("b"));
        assert!(f.is_available(&a, t0), "never reported");
        f.record_latency(&a, ms(20), t0);
        assert!(f.is_available(&a, t0));
        f.record_latency(&b, ms(1200), t0);
        assert!(!f.is_available(&b, t0));
        assert!(!f.is_available(&b, t0 + ms(59_999)));
        assert!(f.is_available(&b, t0 + ms(60_000)));
        // The latest report wins: a fast answer clears the penalty.
        f.record_latency(&b, ms(10), t0 + ms(1));
        assert!(f.is_available(&b, t0 + ms(1)));
    }

    #[test]
    fn errors_isolate_for_30_seconds_or_longer_when_slow_too() {
        let f = LatencyFaults::default();
        let t0 = Instant::now();
        let a = name("a");
        f.record_error(&a, ms(1), t0);
        assert!(!f.is_available(&a, t0 + ms(29_999)));
        assert!(f.is_available(&a, t0 + ERROR_ISOLATION));
        f.record_error(&a, ms(3000), t0);
        assert!(!f.is_available(&a, t0 + ms(179_999)));
        assert!(f.is_available(&a, t0 + ms(180_000)));
    }

    #[test]
    fn least_bad_prefers_available_then_soonest_then_fastest() {
        let f = LatencyFaults::default();
        let t0 = Instant::now();
        let (a, b, c, d) = (name("a"), name("b"), name("c"), name("d"));
        f.record_error(&a, ms(5), t0); // until t0 + 30 s
        f.record_latency(&b, ms(1500), t0); // until t0 + 60 s
        f.record_latency(&c, ms(700), t0); // until t0 + 30 s, slower than a
        let u = f.unavailable(t0);
        assert!(!u.allows(&a) && !u.allows(&b) && !u.allows(&c) && u.allows(&d));
        assert_eq!(u.least_bad([&b, &c, &a]), Some(&a));
        assert_eq!(u.least_bad([&b, &c]), Some(&c));
        assert_eq!(u.least_bad([&b, &d, &c]), Some(&d), "available wins");
        assert_eq!(u.least_bad([]), None);
        let later = f.unavailable(t0 + ms(30_000));
        assert!(later.allows(&a) && later.allows(&c) && !later.allows(&b));
    }

    #[test]
    fn the_table_is_pruned_of_available_entries_when_full() {
        let f = LatencyFaults::default();
        let t0 = Instant::now();
        for i in 0..MAX_ENTRIES {
            f.record_latency(&name(&format!("ok-{i}")), ms(1), t0);
        }
        f.record_error(&name("bad"), ms(1), t0 + ms(1));
        let items = f.items.lock();
        assert_eq!(items.len(), 1, "available entries are dropped");
        assert!(items.contains_key(&name("bad")));
    }
}
