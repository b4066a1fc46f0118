//! The delay-level table (`1s 5s 10s 30s 1m … 2h`): level `n` (1-based)
//! waits the `n`-th duration. Scheduled messages of level `n` live in queue
//! `n - 1` of the schedule topic.

use std::time::Duration;

use thiserror::Error;

/// Most levels a table may have (each is a queue of the schedule topic).
pub const MAX_DELAY_LEVELS: usize = 64;
/// Longest delay a level may have (RocketMQ's longest default is 2 h).
const MAX_DELAY: Duration = Duration::from_secs(30 * 24 * 3600);

/// Why a delay-level table was refused; names the bad entry.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DelayLevelsError {
    /// No level at all.
    #[error("the delay-level table is empty")]
    Empty,
    /// More than [`MAX_DELAY_LEVELS`] levels.
    #[error("{0} delay levels given; at most {MAX_DELAY_LEVELS} are allowed")]
    TooMany(usize),
    /// A number without a unit.
    #[error("delay level {0:?} has no unit (use ms, s, m, h or d)")]
    NoUnit(String),
    /// A unit without a number before it.
    #[error("delay level {0:?} does not start with a number")]
    NoNumber(String),
    /// A unit other than ms, s, m, h, d.
    #[error("delay level {token:?} has an unknown unit {unit:?} (use ms, s, m, h or d)")]
    UnknownUnit {
        /// The whole entry.
        token: String,
        /// Its unit.
        unit: String,
    },
    /// Zero.
    #[error("delay level {0:?} is zero")]
    Zero(String),
    /// Over 30 days.
    #[error("delay level {0:?} is longer than 30 days")]
    TooLong(String),
    /// Past what a `u64` of milliseconds holds.
    #[error("delay level {0:?} is too long")]
    Overflow(String),
}

/// A parsed delay-level table; never empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DelayLevels {
    delays: Vec<Duration>,
}

impl DelayLevels {
    /// Parses a space-separated list of durations with units `ms`, `s`,
    /// `m`, `h` or `d` (`"100ms 1s 5m"`).
    ///
    /// # Errors
    /// A message naming the bad entry: an unknown unit, a missing or zero
    /// number, more than [`MAX_DELAY_LEVELS`] levels, a delay over 30 days,
    /// or an empty table.
    pub fn parse(s: &str) -> Result<Self, DelayLevelsError> {
        let delays = s
            .split_whitespace()
            .map(parse_one)
            .collect::<Result<Vec<_>, _>>()?;
        if delays.is_empty() {
            return Err(DelayLevelsError::Empty);
        }
        if delays.len() > MAX_DELAY_LEVELS {
            return Err(DelayLevelsError::TooMany(delays.len()));
        }
        Ok(Self { delays })
    }

    /// Number of levels.
    pub fn count(&self) -> u32 {
        // At most MAX_DELAY_LEVELS, checked at parse.
        self.delays.len() as u32
    }

    /// The delay of `level` (1-based), `None` outside the table.
    pub fn delay(&self, level: u32) -> Option<Duration> {
        let i = usize::try_from(level.checked_sub(1)?).ok()?;
        self.delays.get(i).copied()
    }

    /// `level` moved into `1..=len`.
    pub fn clamp(&self, level: u32) -> u32 {
        level.clamp(1, self.count())
    }

    /// Every level, 1-based.
    pub fn levels(&self) -> impl Iterator<Item = u32> {
        1..=self.count()
    }
}

fn parse_one(token: &str) -> Result<Duration, DelayLevelsError> {
    let split = token
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| DelayLevelsError::NoUnit(token.to_string()))?;
    let (num, unit) = token.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| DelayLevelsError::NoNumber(token.to_string()))?;
    let unit_ms: u64 = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(DelayLevelsError::UnknownUnit {
                token: token.to_string(),
                unit: unit.to_string(),
            })
        }
    };
    let ms = n
        .checked_mul(unit_ms)
        .ok_or_else(|| DelayLevelsError::Overflow(token.to_string()))?;
    let d = Duration::from_millis(ms);
    if d.is_zero() {
        return Err(DelayLevelsError::Zero(token.to_string()));
    }
    if d > MAX_DELAY {
        return Err(DelayLevelsError::TooLong(token.to_string()));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferromq_protocol::header::DEFAULT_DELAY_LEVELS;

    #[test]
    fn default_table() {
        let l = DelayLevels::parse(DEFAULT_DELAY_LEVELS).unwrap();
        assert_eq!(l.count(), 18);
        assert_eq!(l.delay(1), Some(Duration::from_secs(1)));
        assert_eq!(l.delay(3), Some(Duration::from_secs(10)));
        assert_eq!(l.delay(18), Some(Duration::from_secs(7200)));
        assert_eq!(l.delay(0), None);
        assert_eq!(l.delay(19), None);
        assert_eq!(l.clamp(0), 1);
        assert_eq!(l.clamp(40), 18);
    }

    #[test]
    fn units_and_errors() {
        let l = DelayLevels::parse(" 100ms  2s 3m 1h 1d ").unwrap();
        assert_eq!(
            l.levels().map(|n| l.delay(n).unwrap()).collect::<Vec<_>>(),
            vec![
                Duration::from_millis(100),
                Duration::from_secs(2),
                Duration::from_secs(180),
                Duration::from_secs(3600),
                Duration::from_secs(86400)
            ]
        );
        for bad in [
            "",
            "   ",
            "10",
            "s",
            "1x",
            "0s",
            "-1s",
            "1.5s",
            "31d",
            "99999999999999999999d",
        ] {
            assert!(DelayLevels::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let many = vec!["1s"; MAX_DELAY_LEVELS + 1].join(" ");
        assert!(DelayLevels::parse(&many).is_err());
    }
}
