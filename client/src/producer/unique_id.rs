//! Producer-side unique message ids (RocketMQ's `UNIQ_KEY`): 32 hex digits
//! that identify a message before any broker has seen it, so a message
//! retried on another broker keeps its id and can be de-duplicated.
//!
//! Layout (16 bytes, hex-encoded upper case): IPv4 address (4; the last 4
//! bytes for IPv6), process id (2), a random per-generator salt (4, where
//! RocketMQ uses a class-loader hash), milliseconds since the start of the
//! current UTC month (4; a month is below 2^32 ms), and a counter (2).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const DAY_MS: u64 = 86_400_000;

/// Generates unique ids for one producer.
#[derive(Debug)]
pub(crate) struct UniqueIdGenerator {
    /// The fixed first 10 bytes (address, pid, salt), already in hex.
    prefix_hex: [u8; 20],
    counter: AtomicU32,
    /// The last day asked about (high 32 bits) and the day its month
    /// started (low 32 bits), both as days since 1970-01-01: the calendar
    /// arithmetic runs once a day, not once per id.
    month: AtomicU64,
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// `bytes` in upper-case hex into `out` (twice as long).
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    for (b, o) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        o[0] = HEX[usize::from(b >> 4)];
        o[1] = HEX[usize::from(b & 0xF)];
    }
}

impl UniqueIdGenerator {
    pub(crate) fn new(ip: IpAddr) -> Self {
        let mut prefix = [0u8; 10];
        let ip4 = match ip {
            IpAddr::V4(v4) => v4.octets(),
            IpAddr::V6(v6) => {
                let o = v6.octets();
                [o[12], o[13], o[14], o[15]]
            }
        };
        prefix[..4].copy_from_slice(&ip4);
        // Only the low 16 bits of the pid fit, as in RocketMQ.
        prefix[4..6].copy_from_slice(&(std::process::id() as u16).to_be_bytes());
        prefix[6..10].copy_from_slice(&rand::random::<u32>().to_be_bytes());
        let mut prefix_hex = [0u8; 20];
        hex_into(&prefix, &mut prefix_hex);
        Self {
            prefix_hex,
            counter: AtomicU32::new(rand::random::<u32>()),
            month: AtomicU64::new(u64::MAX),
        }
    }

    /// Start of the UTC month containing `now_ms`.
    fn month_start_ms(&self, now_ms: u64) -> u64 {
        let day = now_ms / DAY_MS;
        let known = self.month.load(Ordering::Relaxed);
        if known >> 32 == day {
            return (known & u64::from(u32::MAX)) * DAY_MS;
        }
        let start = start_of_month_ms(now_ms);
        if let (Ok(d), Ok(s)) = (u32::try_from(day), u32::try_from(start / DAY_MS)) {
            self.month
                .store((u64::from(d) << 32) | u64::from(s), Ordering::Relaxed);
        }
        start
    }

    /// The next id, for the current time.
    #[cfg(test)]
    pub(crate) fn next_id(&self) -> String {
        self.id_at(now_ms())
    }

    /// The next id, for a time the caller already has (a batch's born
    /// timestamp: one clock read per batch instead of one per message).
    pub(crate) fn id_at(&self, now_ms: u64) -> String {
        let since_month = now_ms - self.month_start_ms(now_ms);
        let counter = self.counter.fetch_add(1, Ordering::Relaxed) as u16;
        let mut tail = [0u8; 6];
        // Fits: a month is at most 31 days = 2_678_400_000 ms < 2^32.
        tail[..4].copy_from_slice(&(since_month as u32).to_be_bytes());
        tail[4..].copy_from_slice(&counter.to_be_bytes());
        let mut id = [0u8; UNIQUE_ID_LEN];
        id[..20].copy_from_slice(&self.prefix_hex);
        hex_into(&tail, &mut id[20..]);
        // Hex digits are ASCII, so this never falls back to the empty
        // string; one allocation of the exact size, no per-char pushes.
        String::from_utf8(id.to_vec()).unwrap_or_default()
    }
}

/// Length of a generated unique id: 16 bytes in hex.
pub(crate) const UNIQUE_ID_LEN: usize = 32;

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Start of the UTC month containing `ms` (ms since the epoch).
fn start_of_month_ms(ms: u64) -> u64 {
    let days = ms / DAY_MS;
    days.saturating_sub(day_of_month(days) - 1) * DAY_MS
}

/// Day of the month (1-31) of a day number since 1970-01-01, by Howard
/// Hinnant's `civil_from_days`, to avoid a calendar dependency.
fn day_of_month(days: u64) -> u64 {
    let z = days + 719_468;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    doy - (153 * mp + 2) / 5 + 1
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn day_of_month_matches_the_calendar() {
        assert_eq!(day_of_month(0), 1); // 1970-01-01
        assert_eq!(day_of_month(1_700_000_000_000 / DAY_MS), 14); // 2023-11-14
        assert_eq!(day_of_month(19_782), 29); // 2024-02-29
        assert_eq!(day_of_month(19_783), 1); // 2024-03-01
        assert_eq!(day_of_month(11_016), 29); // 2000-02-29 (a leap century)
    }

    #[test]
    fn start_of_month() {
        // 2023-11-14T22:13:20Z -> 2023-11-01T00:00:00Z
        assert_eq!(start_of_month_ms(1_700_000_000_000), 1_698_796_800_000);
        assert_eq!(start_of_month_ms(1_698_796_800_000), 1_698_796_800_000);
    }

    #[test]
    fn the_time_field_follows_the_month_across_its_end() {
        let g = UniqueIdGenerator::new(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)));
        let field = |id: String| u32::from_str_radix(&id[20..28], 16).unwrap();
        // 2024-02-29T23:59:59.999Z, then 2024-03-01T00:00:00.000Z and back.
        let last = 1_709_251_199_999;
        assert_eq!(field(g.id_at(last)), 29 * 86_400_000 - 1);
        assert_eq!(field(g.id_at(last)), 29 * 86_400_000 - 1, "cached");
        assert_eq!(field(g.id_at(last + 1)), 0);
        assert_eq!(field(g.id_at(last + 1 + 86_400_000)), 86_400_000);
        assert_eq!(
            field(g.id_at(last)),
            29 * 86_400_000 - 1,
            "a clock step back"
        );
    }

    #[test]
    fn ids_are_32_hex_digits_with_ip_and_pid_and_unique() {
        let g = UniqueIdGenerator::new(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)));
        let pid = format!("{:04X}", std::process::id() as u16);
        let mut seen = HashSet::new();
        for _ in 0..70_000 {
            let id = g.id_at(1_700_000_000_000);
            assert_eq!(id.len(), 32);
            assert!(id
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));
            assert!(id.starts_with(&format!("0A010203{pid}")));
            // 13 days 22:13:20 into the month
            assert_eq!(&id[20..28], format!("{:08X}", 1_203_200_000u32));
            seen.insert(id);
        }
        // The 16-bit counter wraps after 65536 ids in the same millisecond.
        assert_eq!(seen.len(), 65_536);
        let other = UniqueIdGenerator::new(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)));
        assert_ne!(other.next_id()[..20], g.next_id()[..20], "salt differs");
    }
}
