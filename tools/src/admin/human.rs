//! Human-readable figures for the broker commands.

use std::time::Duration;

/// `45s`, `12m 5s`, `3h 12m`, `2d 3h`.
pub(crate) fn uptime(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, mins, secs) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {mins}m")
    } else if mins > 0 {
        format!("{mins}m {secs}s")
    } else {
        format!("{secs}s")
    }
}

/// Messages per second with two decimals.
pub(crate) fn tps(v: f64) -> String {
    format!("{v:.2}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptimes() {
        let s = Duration::from_secs;
        assert_eq!(uptime(Duration::from_millis(999)), "0s");
        assert_eq!(uptime(s(45)), "45s");
        assert_eq!(uptime(s(12 * 60 + 5)), "12m 5s");
        assert_eq!(uptime(s(3 * 3600 + 12 * 60 + 59)), "3h 12m");
        assert_eq!(uptime(s(2 * 86_400 + 3 * 3600 + 7)), "2d 3h");
        assert_eq!(tps(12.345), "12.35");
        assert_eq!(tps(0.0), "0.00");
    }
}
