//! Runtime figures for `clusterList` and `brokerStatus`: messages stored and
//! served, as totals and as rates over the last ten seconds.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How far back the rates look.
const WINDOW: Duration = Duration::from_secs(10);

/// Counters plus a short history of samples to turn them into rates.
pub(crate) struct RuntimeStats {
    started: Instant,
    /// Messages served by pulls since start.
    gets: AtomicU64,
    /// (when, put total, get total), oldest first, spanning about `WINDOW`.
    /// Written once a second by the sampler; read by `brokerStatus`.
    samples: Mutex<VecDeque<(Instant, u64, u64)>>,
}

impl RuntimeStats {
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            gets: AtomicU64::new(0),
            samples: Mutex::new(VecDeque::new()),
        }
    }

    pub(crate) fn add_gets(&self, n: u64) {
        self.gets.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn gets(&self) -> u64 {
        self.gets.load(Ordering::Relaxed)
    }

    pub(crate) fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Records the current totals; called about once a second.
    pub(crate) fn sample(&self, puts: u64) {
        self.sample_at(Instant::now(), puts, self.gets());
    }

    fn sample_at(&self, now: Instant, puts: u64, gets: u64) {
        let mut s = self.samples.lock();
        s.push_back((now, puts, gets));
        while s.len() > 2
            && s.front()
                .is_some_and(|(t, _, _)| now.duration_since(*t) > WINDOW)
        {
            s.pop_front();
        }
    }

    /// (put, get) messages per second over the sampled window.
    pub(crate) fn tps(&self) -> (f64, f64) {
        let s = self.samples.lock();
        match (s.front(), s.back()) {
            (Some(a), Some(b)) if b.0 > a.0 => {
                let secs = b.0.duration_since(a.0).as_secs_f64();
                (
                    b.1.saturating_sub(a.1) as f64 / secs,
                    b.2.saturating_sub(a.2) as f64 / secs,
                )
            }
            _ => (0.0, 0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_over_the_window() {
        let st = RuntimeStats::new();
        let t0 = Instant::now();
        assert_eq!(st.tps(), (0.0, 0.0));
        for i in 0..=20u64 {
            st.sample_at(t0 + Duration::from_secs(i), i * 100, i * 10);
        }
        let (put, get) = st.tps();
        assert!((put - 100.0).abs() < 1e-9, "{put}");
        assert!((get - 10.0).abs() < 1e-9, "{get}");
        assert!(st.samples.lock().len() <= 12);
    }
}
