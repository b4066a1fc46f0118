//! Which write queue a send goes to: round-robin over the route's write
//! queues, skipping brokers that already failed this send and, with the
//! latency fault strategy on, brokers that recent sends found slow or
//! failing ([`super::fault`]).

use std::sync::atomic::{AtomicUsize, Ordering};

use ferromq_protocol::BrokerName;

use super::fault::Unavailable;
use crate::route::MessageQueue;

/// Round-robin queue choice for one producer.
#[derive(Debug)]
pub(crate) struct QueueChooser {
    next: AtomicUsize,
}

impl QueueChooser {
    /// Starts at a random queue so producers started together do not all
    /// hit queue 0 of the first broker.
    pub(crate) fn new() -> Self {
        Self::starting_at(rand::random::<u32>() as usize)
    }

    pub(crate) fn starting_at(start: usize) -> Self {
        Self {
            next: AtomicUsize::new(start),
        }
    }

    /// The next queue in turn whose broker is neither in `failed` nor in
    /// `avoid`. If every broker not in `failed` is to be avoided, the next
    /// queue of the least bad of them. If every broker failed this send,
    /// the next queue not on the broker that failed last (a retry should at
    /// least move), else simply the next queue.
    pub(crate) fn choose<'a>(
        &self,
        queues: &'a [MessageQueue],
        failed: &[BrokerName],
        avoid: &Unavailable,
    ) -> Option<&'a MessageQueue> {
        if queues.is_empty() {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        if failed.is_empty() && avoid.is_empty() {
            return Some(&queues[start % queues.len()]);
        }
        let not_failed = |q: &&MessageQueue| !failed.contains(&q.broker_name);
        // Spread evenly over the usable queues (stepping over the others in
        // turn would pile their share onto the queue after them).
        let usable: Vec<&MessageQueue> = queues
            .iter()
            .filter(not_failed)
            .filter(|q| avoid.allows(&q.broker_name))
            .collect();
        if !usable.is_empty() {
            return Some(usable[start % usable.len()]);
        }
        let in_turn = (0..queues.len()).map(|i| &queues[start.wrapping_add(i) % queues.len()]);
        if let Some(best) =
            avoid.least_bad(in_turn.clone().filter(not_failed).map(|q| &q.broker_name))
        {
            return in_turn.clone().find(|q| &q.broker_name == best);
        }
        let last_failed = failed.last();
        in_turn
            .clone()
            .find(|q| Some(&q.broker_name) != last_failed)
            .or_else(|| in_turn.clone().next())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ferromq_protocol::header::PERM_READ_WRITE;
    use tokio::time::Instant;

    use super::*;
    use crate::producer::fault::LatencyFaults;
    use crate::route::tests::route;

    fn name(s: &str) -> BrokerName {
        BrokerName::new(s).unwrap()
    }

    fn none() -> Unavailable {
        Unavailable::default()
    }

    #[test]
    fn round_robin_over_every_queue() {
        let r = route(&[
            ("a", 2, PERM_READ_WRITE, true),
            ("b", 2, PERM_READ_WRITE, true),
        ]);
        let c = QueueChooser::starting_at(0);
        let picked: Vec<String> = (0..5)
            .map(|_| {
                c.choose(r.write_queues(), &[], &none())
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(picked, ["T@a/0", "T@a/1", "T@b/0", "T@b/1", "T@a/0"]);
    }

    #[test]
    fn retry_avoids_the_failed_broker() {
        let r = route(&[
            ("a", 4, PERM_READ_WRITE, true),
            ("b", 4, PERM_READ_WRITE, true),
        ]);
        for start in 0..16 {
            let c = QueueChooser::starting_at(start);
            let first = c.choose(r.write_queues(), &[], &none()).unwrap();
            let retry = c
                .choose(
                    r.write_queues(),
                    std::slice::from_ref(&first.broker_name),
                    &none(),
                )
                .unwrap();
            assert_ne!(retry.broker_name, first.broker_name, "start {start}");
        }
    }

    #[test]
    fn all_brokers_failed_still_moves_off_the_last_one() {
        let r = route(&[
            ("a", 1, PERM_READ_WRITE, true),
            ("b", 1, PERM_READ_WRITE, true),
        ]);
        let c = QueueChooser::starting_at(0);
        let q = c
            .choose(r.write_queues(), &[name("a"), name("b")], &none())
            .unwrap();
        assert_eq!(q.broker_name, name("a"));
        let q = c
            .choose(r.write_queues(), &[name("b"), name("a")], &none())
            .unwrap();
        assert_eq!(q.broker_name, name("b"));
    }

    #[test]
    fn single_broker_retries_on_it() {
        let r = route(&[("a", 2, PERM_READ_WRITE, true)]);
        let c = QueueChooser::starting_at(0);
        assert_eq!(
            c.choose(r.write_queues(), &[name("a")], &none())
                .unwrap()
                .broker_name,
            name("a")
        );
        assert!(c.choose(&[], &[], &none()).is_none());
    }

    #[test]
    fn unavailable_brokers_are_skipped_while_another_can_take_the_send() {
        let r = route(&[
            ("a", 2, PERM_READ_WRITE, true),
            ("b", 2, PERM_READ_WRITE, true),
            ("c", 2, PERM_READ_WRITE, true),
        ]);
        let f = LatencyFaults::default();
        let t0 = Instant::now();
        f.record_error(&name("a"), Duration::from_millis(1), t0);
        let c = QueueChooser::starting_at(0);
        let avoid = f.unavailable(t0);
        let picked: Vec<String> = (0..6)
            .map(|_| c.choose(r.write_queues(), &[], &avoid).unwrap().to_string())
            .collect();
        // Every queue of b and c in turn, none of a.
        assert_eq!(
            picked,
            ["T@b/0", "T@b/1", "T@c/0", "T@c/1", "T@b/0", "T@b/1"]
        );
        // A retry after b failed goes to c, not to the avoided a.
        for start in 0..6 {
            let c = QueueChooser::starting_at(start);
            let q = c.choose(r.write_queues(), &[name("b")], &avoid).unwrap();
            assert_eq!(q.broker_name, name("c"), "start {start}");
        }
        // Once the isolation is over, a is used again.
        let later = f.unavailable(t0 + Duration::from_secs(30));
        let c = QueueChooser::starting_at(0);
        assert_eq!(
            c.choose(r.write_queues(), &[], &later).unwrap().broker_name,
            name("a")
        );
    }

    #[test]
    fn when_every_broker_is_avoided_the_least_bad_one_is_used() {
        let r = route(&[
            ("a", 2, PERM_READ_WRITE, true),
            ("b", 2, PERM_READ_WRITE, true),
        ]);
        let f = LatencyFaults::default();
        let t0 = Instant::now();
        f.record_error(&name("a"), Duration::from_millis(1), t0); // 30 s
        f.record_latency(
            &name("b"),
            Duration::from_millis(700),
            t0 + Duration::from_secs(1),
        ); // 31 s
        let avoid = f.unavailable(t0 + Duration::from_secs(2));
        for start in 0..4 {
            let c = QueueChooser::starting_at(start);
            let q = c.choose(r.write_queues(), &[], &avoid).unwrap();
            assert_eq!(q.broker_name, name("a"), "start {start}");
            // But a retry after a failed goes to b, avoided or not.
            let q = c.choose(r.write_queues(), &[name("a")], &avoid).unwrap();
            assert_eq!(q.broker_name, name("b"), "start {start}");
        }
    }
}
