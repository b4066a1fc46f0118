//! When to send and how much: the fixed rate schedule and the shared message
//! budget of a `--count` run. Both are pure (no clock reads) so they are unit
//! tested; workers pass `Instant`s in.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Intended send times, fixed in advance: send `i` is due at
/// `start + i × period`. Latency measured from these times is
/// coordinated-omission safe: a stall of the broker (or of this process)
/// delays the sends behind it, and that delay is counted instead of hidden.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    start: Instant,
    /// Nanoseconds between two sends. f64 keeps fractional periods exact
    /// enough over long runs (the product is computed per send, so errors
    /// do not accumulate).
    period_ns: f64,
}

impl Schedule {
    /// A schedule for one of `workers` senders that together send `rate`
    /// messages per second, `batch` messages per send.
    pub fn new(start: Instant, rate: f64, workers: u32, batch: u32) -> Self {
        let sends_per_sec = rate / f64::from(workers.max(1)) / f64::from(batch.max(1));
        Self {
            start,
            period_ns: 1e9 / sends_per_sec,
        }
    }

    /// When send `i` is due.
    pub fn at(&self, i: u64) -> Instant {
        // Saturates far beyond any run length instead of panicking.
        let ns = (i as f64 * self.period_ns).min(1e18) as u64;
        self.start + Duration::from_nanos(ns)
    }
}

/// The messages left to send (or receive) in a `--count` run, shared by the
/// workers so that a fast one takes more instead of idling at the end.
#[derive(Debug)]
pub struct Budget {
    left: AtomicU64,
}

impl Budget {
    pub fn new(total: u64) -> Self {
        Self {
            left: AtomicU64::new(total),
        }
    }

    /// Takes up to `want` messages; 0 once the budget is spent.
    pub fn claim(&self, want: u64) -> u64 {
        let mut taken = 0;
        // fetch_update retries on contention; the closure is pure.
        let _ = self
            .left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                taken = left.min(want);
                (taken > 0).then(|| left - taken)
            });
        taken
    }

    /// Messages not yet claimed.
    pub fn left(&self) -> u64 {
        self.left.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_spreads_the_rate_over_workers_and_batches() {
        let t0 = Instant::now();
        // 1000 msg/s over 2 workers, batches of 5: 100 sends/s each, 10 ms apart.
        let s = Schedule::new(t0, 1000.0, 2, 5);
        assert_eq!(s.at(0), t0);
        assert_eq!(s.at(1) - t0, Duration::from_millis(10));
        assert_eq!(s.at(1000) - t0, Duration::from_secs(10));
    }

    #[test]
    fn schedule_does_not_drift_with_fractional_periods() {
        let t0 = Instant::now();
        let s = Schedule::new(t0, 3.0, 1, 1); // 333.33… ms apart
        let d = s.at(3_000_000) - t0;
        assert!(d.abs_diff(Duration::from_secs(1_000_000)) < Duration::from_micros(1));
        assert!(s.at(u64::MAX) > t0, "saturates instead of panicking");
    }

    #[test]
    fn budget_hands_out_exactly_the_total() {
        let b = Budget::new(10);
        assert_eq!(b.claim(4), 4);
        assert_eq!(b.claim(4), 4);
        assert_eq!(b.claim(4), 2, "the last claim is cut");
        assert_eq!(b.claim(4), 0);
        assert_eq!(b.left(), 0);
    }

    #[test]
    fn budget_is_shared_between_threads() {
        let b = std::sync::Arc::new(Budget::new(100_000));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || {
                    let mut n = 0;
                    loop {
                        match b.claim(7) {
                            0 => return n,
                            k => n += k,
                        }
                    }
                })
            })
            .collect();
        let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, 100_000);
    }
}
