//! Re-dial backoff per server address: after a failed dial the address is
//! not dialled again until a delay has passed (100 ms by default, doubling
//! up to 5 s, back to the start after a successful dial). Calls in between
//! fail at once with [`crate::ClientError::Backoff`], which is retryable,
//! so a producer moves on to another broker instead of waiting on a dead
//! one. Time is passed in, so the logic is tested with made-up instants.

use std::time::Duration;

use tokio::time::Instant;

/// The dial state of one address.
#[derive(Debug, Default)]
pub(super) struct DialBackoff {
    /// Delay applied after the next failure; `None` before any failure.
    next_delay: Option<Duration>,
    /// No dial before this instant.
    retry_at: Option<Instant>,
    /// Why the last dial failed, for the fail-fast error.
    cause: String,
}

impl DialBackoff {
    /// If dialling is not allowed yet at `now`: how long until it is, and
    /// why the last dial failed.
    pub(super) fn wait(&self, now: Instant) -> Option<(Duration, &str)> {
        let retry_at = self.retry_at?;
        (retry_at > now).then(|| (retry_at - now, self.cause.as_str()))
    }

    /// A dial failed at `now`; returns the delay before the next one.
    pub(super) fn failed(
        &mut self,
        now: Instant,
        initial: Duration,
        max: Duration,
        cause: String,
    ) -> Duration {
        let delay = self.next_delay.unwrap_or(initial).min(max);
        self.next_delay = Some((delay * 2).min(max));
        self.retry_at = Some(now + delay);
        self.cause = cause;
        delay
    }

    /// A dial succeeded: the next failure starts over at the initial delay.
    /// Returns whether earlier dials had failed.
    pub(super) fn succeeded(&mut self) -> bool {
        let had_failed = self.next_delay.is_some();
        *self = Self::default();
        had_failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INITIAL: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn delays_double_up_to_the_maximum_and_reset_on_success() {
        let mut b = DialBackoff::default();
        let t0 = Instant::now();
        assert!(b.wait(t0).is_none(), "a fresh address is dialled at once");
        let delays: Vec<u64> = (0..9)
            .map(|_| b.failed(t0, INITIAL, MAX, "refused".into()).as_millis() as u64)
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        assert!(b.succeeded());
        assert!(!b.succeeded());
        assert_eq!(b.failed(t0, INITIAL, MAX, "x".into()), INITIAL);
    }

    #[test]
    fn calls_fail_fast_until_the_delay_has_passed() {
        let mut b = DialBackoff::default();
        let t0 = Instant::now();
        b.failed(t0, INITIAL, MAX, "connection refused".into());
        let (left, cause) = b.wait(t0 + ms(30)).unwrap();
        assert_eq!((left, cause), (ms(70), "connection refused"));
        assert!(b.wait(t0 + ms(100)).is_none());
        // The next failure waits twice as long from its own time.
        b.failed(t0 + ms(100), INITIAL, MAX, "refused".into());
        assert!(b.wait(t0 + ms(299)).is_some());
        assert!(b.wait(t0 + ms(300)).is_none());
    }
}
