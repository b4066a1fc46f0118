//! The end-of-run report: a few human lines, or one JSON object whose
//! field names scripts rely on (`messages`, `errors`, `seconds`,
//! `msgs_per_sec`, `mb_per_sec`, `latency_us.{p50,p99,p999,max}`).

use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::tally::Tally;

/// MB here is 10^6 bytes of message body (not of record or wire bytes), the
/// unit `fio` and `dd` call MB.
const MB: f64 = 1e6;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self {
                p50: 0,
                p99: 0,
                p999: 0,
                max: 0,
            };
        }
        Self {
            p50: h.value_at_quantile(0.50),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// `produce`, `consume` or `e2e`.
    pub kind: &'static str,
    pub messages: u64,
    pub errors: u64,
    pub seconds: f64,
    pub msgs_per_sec: f64,
    pub mb_per_sec: f64,
    pub latency_us: Latency,
    /// What latency is measured from: `send` (the send call), `schedule`
    /// (the intended send time under a rate), `store_time` (the broker's
    /// store timestamp, ms resolution, wall clock).
    pub latency_from: &'static str,
    pub bytes: u64,
    /// False if the run stopped early (idle timeout) before its count.
    pub complete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub producers: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumers: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inflight: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_client: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_batch: Option<bool>,
    /// e2e: the producer's own ack latency, from the intended send time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_latency_us: Option<Latency>,
    pub flush_timeouts: u64,
    /// e2e: acknowledged measured messages the consumer never saw.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

impl Report {
    /// The figures of `tally` over `elapsed`; run parameters are set by the
    /// caller on the returned value.
    pub fn new(
        kind: &'static str,
        latency_from: &'static str,
        t: &Tally,
        elapsed: Duration,
    ) -> Self {
        let seconds = elapsed.as_secs_f64();
        let per_sec = |v: f64| if seconds > 0.0 { v / seconds } else { 0.0 };
        Self {
            kind,
            messages: t.messages,
            errors: t.errors,
            seconds,
            msgs_per_sec: per_sec(t.messages as f64),
            mb_per_sec: per_sec(t.bytes as f64 / MB),
            latency_us: Latency::of(&t.latency),
            latency_from,
            bytes: t.bytes,
            complete: true,
            size: None,
            producers: None,
            consumers: None,
            inflight: None,
            batch: None,
            rate: None,
            shared_client: None,
            auto_batch: None,
            send_latency_us: None,
            flush_timeouts: t.flush_timeouts,
            missing: None,
            first_error: t.first_error.clone(),
        }
    }

    /// The report as one line of JSON.
    ///
    /// # Errors
    /// Never in practice (plain numbers and strings).
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "p50 {}  p99 {}  p99.9 {}  max {}",
            self.p50, self.p99, self.p999, self.max
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let incomplete = if self.complete {
            ""
        } else {
            " (stopped early: idle)"
        };
        writeln!(
            f,
            "mqbench {}: {} messages, {} errors in {:.2} s{incomplete}",
            self.kind, self.messages, self.errors, self.seconds
        )?;
        writeln!(
            f,
            "  throughput   {:.0} msgs/s  {:.2} MB/s (body bytes, MB = 10^6)",
            self.msgs_per_sec, self.mb_per_sec
        )?;
        writeln!(
            f,
            "  latency µs   {}  (from {})",
            self.latency_us, self.latency_from
        )?;
        if let Some(l) = &self.send_latency_us {
            writeln!(f, "  send ack µs  {l}  (from schedule)")?;
        }
        if let Some(m) = self.missing.filter(|m| *m > 0) {
            writeln!(f, "  acknowledged but never consumed: {m}")?;
        }
        if self.flush_timeouts > 0 {
            writeln!(f, "  flush-disk timeouts: {}", self.flush_timeouts)?;
        }
        if let Some(e) = &self.first_error {
            writeln!(f, "  first error: {e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut t = Tally::new().unwrap();
        t.ok(2000, 2_000_000, Duration::from_micros(250));
        t.failed(5, "timeout");
        let mut r = Report::new("produce", "send", &t, Duration::from_secs(2));
        r.size = Some(1000);
        r.producers = Some(4);
        r
    }

    #[test]
    fn rates_come_from_the_tally() {
        let r = sample();
        assert_eq!(r.msgs_per_sec, 1000.0);
        assert_eq!(r.mb_per_sec, 1.0);
        assert_eq!(r.latency_us.p50, 250);
        assert_eq!(r.latency_us.max, 250);
        let empty = Report::new(
            "consume",
            "store_time",
            &Tally::new().unwrap(),
            Duration::ZERO,
        );
        assert_eq!((empty.msgs_per_sec, empty.latency_us.p99), (0.0, 0));
    }

    #[test]
    fn json_has_the_documented_fields() {
        let v: serde_json::Value = serde_json::from_str(&sample().to_json().unwrap()).unwrap();
        for k in [
            "messages",
            "errors",
            "seconds",
            "msgs_per_sec",
            "mb_per_sec",
            "kind",
            "size",
        ] {
            assert!(v.get(k).is_some(), "{k} missing in {v}");
        }
        for k in ["p50", "p99", "p999", "max"] {
            assert!(v["latency_us"][k].is_u64(), "latency_us.{k}");
        }
        assert_eq!(v["messages"], 2000);
        assert_eq!(v["errors"], 5);
        assert!(v.get("rate").is_none(), "unset parameters are left out");
    }

    #[test]
    fn text_names_every_figure() {
        let s = sample().to_string();
        for part in [
            "2000 messages",
            "5 errors",
            "1000 msgs/s",
            "1.00 MB/s",
            "p99.9 250",
            "first error: timeout",
        ] {
            assert!(s.contains(part), "{part:?} missing in {s}");
        }
    }
}
