//! `resetOffsetByTime -g G -t T -s TIME`: move a group's offsets on every
//! queue of a topic to the first message stored at or after a time, on
//! every broker of the topic; running members continue from there at
//! once. Prints each queue's old and new offset.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use ferromq_client::{AdminClient, GroupName, MqClient, TopicName};

use crate::format::Table;

/// Flags of `resetOffsetByTime`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Consumer group.
    #[arg(short = 'g', long = "group")]
    pub group: GroupName,
    /// Topic.
    #[arg(short = 't', long = "topic")]
    pub topic: TopicName,
    /// Milliseconds since the epoch, `now`, or `yyyy-MM-dd#HH:mm:ss:SSS`
    /// (UTC).
    #[arg(short = 's', long = "timestamp", value_parser = parse_time)]
    pub timestamp: Time,
}

/// A point in time given on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Time {
    /// When the command runs.
    Now,
    /// Milliseconds since the epoch.
    Millis(u64),
}

impl Time {
    fn millis(self) -> u64 {
        match self {
            Self::Millis(ms) => ms,
            Self::Now => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        }
    }
}

/// Parses `now`, digits (ms since the epoch) or RocketMQ's
/// `yyyy-MM-dd#HH:mm:ss:SSS`, read as UTC.
fn parse_time(s: &str) -> Result<Time, BadTime> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("now") {
        return Ok(Time::Now);
    }
    let millis = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        parse_date(s)
    };
    millis
        .map(Time::Millis)
        .ok_or_else(|| BadTime(s.to_string()))
}

/// A `--timestamp` that is none of the forms `parse_time` takes.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not ms since the epoch, `now`, or yyyy-MM-dd#HH:mm:ss:SSS")]
struct BadTime(String);

fn parse_date(s: &str) -> Option<u64> {
    let (date, time) = s.split_once('#')?;
    let d: Vec<u64> = date
        .split('-')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let t: Vec<u64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let (&[y, mo, day], &[h, mi, sec, ms]) = (&d[..], &t[..]) else {
        return None;
    };
    let valid = (1970..=9999).contains(&y)
        && (1..=12).contains(&mo)
        && (1..=31).contains(&day)
        && h < 24
        && mi < 60
        && sec < 60
        && ms < 1000;
    if !valid {
        return None;
    }
    let days = days_from_civil(y, mo, day);
    Some(((days * 24 + h) * 60 + mi) * 60_000 + sec * 1000 + ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// algorithm), for years from 1970.
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Runs the command.
///
/// # Errors
/// Unknown topic, or a broker failure.
pub async fn run(a: Args, client: &MqClient, out: &mut impl Write) -> anyhow::Result<()> {
    let ms = a.timestamp.millis();
    let resets = AdminClient::new(client.clone())
        .reset_offset_by_time(&a.group, &a.topic, ms)
        .await?;
    let mut t = Table::new(&["#Broker Name", "#QID", "#Old Offset", "#New Offset"]);
    for r in &resets {
        t.row(vec![
            r.broker_name.to_string(),
            r.queue_id.to_string(),
            r.old.map_or("-".into(), |o| o.to_string()),
            r.new.to_string(),
        ]);
    }
    t.write(out)?;
    writeln!(out)?;
    writeln!(
        out,
        "group {} reset on topic {} to {} ({} queues)",
        a.group,
        a.topic,
        crate::format::utc_millis(ms),
        resets.len()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse() {
        assert_eq!(parse_time("now"), Ok(Time::Now));
        assert_eq!(
            parse_time("1700000000000"),
            Ok(Time::Millis(1_700_000_000_000))
        );
        assert_eq!(parse_time("1970-01-01#00:00:00:000"), Ok(Time::Millis(0)));
        assert_eq!(
            parse_time("2023-11-14#22:13:20:123"),
            Ok(Time::Millis(1_700_000_000_123))
        );
        assert_eq!(
            parse_time("2024-02-29#00:00:00:000"),
            Ok(Time::Millis(1_709_164_800_000))
        );
        for bad in [
            "",
            "yesterday",
            "2023-13-01#00:00:00:000",
            "2023-11-14 22:13:20",
            "-5",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
        assert!(Time::Now.millis() > 1_700_000_000_000);
    }
}
