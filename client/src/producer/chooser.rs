//! Which write queue a send goes to: round-robin over the route's write
//! queues, skipping brokers that already failed this send.
//!
//! This is the seam for a latency-based fault strategy later: it would
//! also skip brokers that failed *recent* sends, not only this one.

use std::sync::atomic::{AtomicUsize, Ordering};

use ferromq_protocol::BrokerName;

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

    /// The next queue in turn whose broker is not in `failed`. If every
    /// broker failed, the next queue not on the broker that failed last
    /// (a retry should at least move), else simply the next queue.
    pub(crate) fn choose<'a>(
        &self,
        queues: &'a [MessageQueue],
        failed: &[BrokerName],
    ) -> Option<&'a MessageQueue> {
        if queues.is_empty() {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let in_turn = (0..queues.len()).map(|i| &queues[start.wrapping_add(i) % queues.len()]);
        let last_failed = failed.last();
        in_turn
            .clone()
            .find(|q| !failed.contains(&q.broker_name))
            .or_else(|| {
                in_turn
                    .clone()
                    .find(|q| Some(&q.broker_name) != last_failed)
            })
            .or_else(|| in_turn.clone().next())
    }
}

#[cfg(test)]
mod tests {
    use ferromq_protocol::header::PERM_READ_WRITE;

    use super::*;
    use crate::route::tests::route;

    fn name(s: &str) -> BrokerName {
        BrokerName::new(s).unwrap()
    }

    #[test]
    fn round_robin_over_every_queue() {
        let r = route(&[
            ("a", 2, PERM_READ_WRITE, true),
            ("b", 2, PERM_READ_WRITE, true),
        ]);
        let c = QueueChooser::starting_at(0);
        let picked: Vec<String> = (0..5)
            .map(|_| c.choose(r.write_queues(), &[]).unwrap().to_string())
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
            let first = c.choose(r.write_queues(), &[]).unwrap();
            let retry = c
                .choose(r.write_queues(), std::slice::from_ref(&first.broker_name))
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
        let q = c.choose(r.write_queues(), &[name("a"), name("b")]).unwrap();
        assert_eq!(q.broker_name, name("a"));
        let q = c.choose(r.write_queues(), &[name("b"), name("a")]).unwrap();
        assert_eq!(q.broker_name, name("b"));
    }

    #[test]
    fn single_broker_retries_on_it() {
        let r = route(&[("a", 2, PERM_READ_WRITE, true)]);
        let c = QueueChooser::starting_at(0);
        assert_eq!(
            c.choose(r.write_queues(), &[name("a")])
                .unwrap()
                .broker_name,
            name("a")
        );
        assert!(c.choose(&[], &[]).is_none());
    }
}
