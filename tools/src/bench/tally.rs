//! What a run counts. Each worker keeps its own [`Tally`] (a histogram and
//! plain counters, no sharing in the hot path) and they are merged at the
//! end; [`Live`] holds the few atomics the progress bar reads meanwhile.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;

/// Latencies above an hour are clamped (a consumer catching up from an old
/// backlog sees large message ages; they are reported as "≥ 1 h").
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Counters shared with the progress bar while the run goes on.
#[derive(Debug, Default)]
pub struct Live {
    pub messages: AtomicU64,
    pub errors: AtomicU64,
}

impl Live {
    pub fn add(&self, messages: u64, errors: u64) {
        if messages > 0 {
            self.messages.fetch_add(messages, Ordering::Relaxed);
        }
        if errors > 0 {
            self.errors.fetch_add(errors, Ordering::Relaxed);
        }
    }
}

/// One worker's results.
#[derive(Debug, Clone)]
pub struct Tally {
    /// Latency of every measured message in µs (a batch records its latency
    /// once per message).
    pub latency: Histogram<u64>,
    pub messages: u64,
    /// Body bytes of `messages`.
    pub bytes: u64,
    /// Messages whose send (or commit) failed.
    pub errors: u64,
    /// Sends the broker stored but could not flush in time.
    pub flush_timeouts: u64,
    pub first_error: Option<String>,
}

impl Tally {
    /// # Errors
    /// Only if the histogram bounds were invalid (they are constants).
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .context("creating the latency histogram")?,
            messages: 0,
            bytes: 0,
            errors: 0,
            flush_timeouts: 0,
            first_error: None,
        })
    }

    /// `n` messages of `bytes` body bytes in all, each with `latency`.
    pub fn ok(&mut self, n: u64, bytes: u64, latency: Duration) {
        self.messages += n;
        self.bytes += bytes;
        self.record(latency, n);
    }

    /// Records a latency for `n` messages without counting them (the e2e
    /// producer's send latency).
    pub fn record(&mut self, latency: Duration, n: u64) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency
            .saturating_record_n(us.clamp(1, MAX_LATENCY_US), n);
    }

    pub fn failed(&mut self, n: u64, error: impl std::fmt::Display) {
        self.errors += n;
        if self.first_error.is_none() {
            self.first_error = Some(error.to_string());
        }
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Tally) {
        // Both use the same bounds, so adding cannot fail; saturate anyway.
        if self.latency.add(&other.latency).is_err() {
            for v in other.latency.iter_recorded() {
                self.latency
                    .saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
        self.messages += other.messages;
        self.bytes += other.bytes;
        self.errors += other.errors;
        self.flush_timeouts += other.flush_timeouts;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_counts_and_latencies() {
        let mut a = Tally::new().unwrap();
        a.ok(10, 10_240, Duration::from_micros(100));
        let mut b = Tally::new().unwrap();
        b.ok(1, 1024, Duration::from_millis(5));
        b.failed(3, "boom");
        b.failed(1, "later");
        a.merge(&b);
        assert_eq!((a.messages, a.bytes, a.errors), (11, 11_264, 4));
        assert_eq!(a.first_error.as_deref(), Some("boom"));
        assert_eq!(a.latency.len(), 11);
        assert_eq!(a.latency.value_at_quantile(0.5), 100);
        assert!(a.latency.max().abs_diff(5000) <= 5);
    }

    #[test]
    fn clamps_absurd_latencies() {
        let mut t = Tally::new().unwrap();
        t.ok(1, 1, Duration::from_secs(100_000));
        t.ok(1, 1, Duration::ZERO);
        assert_eq!(t.latency.len(), 2);
        assert_eq!(t.latency.min(), 1);
        assert!(t.latency.max() >= MAX_LATENCY_US);
    }
}
