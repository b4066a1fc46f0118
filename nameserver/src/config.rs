//! NameServer settings.

use std::time::Duration;

use clap::builder::TypedValueParser;

use crate::error::NameServerError;

/// Longest accepted scan interval. A scan rarer than this would make expiry
/// meaningless, and tokio's interval panics on instants that overflow.
pub const MAX_SCAN_INTERVAL: Duration = Duration::from_secs(3600);

/// How the NameServer judges broker liveness. Defaults are RocketMQ's.
///
/// Each setting is declared here once: its flag and config-file key (the
/// flag with `_` for `-`), default and help text are the attributes of its
/// field; `mqnamesrv` flattens this struct into its command line.
#[derive(Clone, Debug, clap::Args)]
pub struct NameServerConfig {
    /// Remove a broker silent for this many seconds, unless its
    /// registration asked for its own timeout
    #[arg(
        long = "broker-expiry-secs",
        value_name = "SECS",
        default_value = "120",
        value_parser = TypedValueParser::map(clap::value_parser!(u64).range(1..), Duration::from_secs),
    )]
    pub broker_expiry: Duration,
    /// Look for silent brokers every this many milliseconds (at most an hour)
    #[arg(
        long = "scan-interval-ms", value_name = "MS",
        default_value = "5000",
        value_parser = TypedValueParser::map(clap::value_parser!(u64).range(1..=3_600_000), Duration::from_millis),
    )]
    pub scan_interval: Duration,
    /// Connections from one IP address at once; more are closed when
    /// accepted
    #[arg(long, default_value_t = 2048, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u32).range(1..), |v| v as usize))]
    pub max_connections_per_ip: usize,
    /// A started frame, and a new connection's first frame, must be whole
    /// within this many milliseconds, else the connection is closed
    #[arg(
        long = "frame-timeout-ms", value_name = "MS",
        default_value = "60000",
        value_parser = TypedValueParser::map(clap::value_parser!(u64).range(100..=3_600_000), Duration::from_millis),
    )]
    pub frame_timeout: Duration,
}

/// The declaration's defaults, without reading flags.
#[derive(clap::Parser)]
struct Defaults {
    #[command(flatten)]
    config: NameServerConfig,
}

impl Default for NameServerConfig {
    fn default() -> Self {
        use clap::Parser;
        match Defaults::try_parse_from(["mqnamesrv"]) {
            Ok(d) => d.config,
            // The defaults are constants; a test below parses them.
            Err(e) => unreachable!("the NameServer's default settings do not parse: {e}"),
        }
    }
}

impl NameServerConfig {
    /// Checks the settings before anything is started.
    ///
    /// # Errors
    /// [`NameServerError::InvalidConfig`] if either duration is zero (a zero
    /// scan interval would spin, and tokio refuses it outright; a zero expiry
    /// would drop every broker at the first scan) or the scan interval is
    /// over [`MAX_SCAN_INTERVAL`].
    pub fn validate(&self) -> Result<(), NameServerError> {
        if self.scan_interval.is_zero() || self.scan_interval > MAX_SCAN_INTERVAL {
            return Err(NameServerError::InvalidConfig(
                "scan_interval must be between 1 ms and 1 hour",
            ));
        }
        if self.broker_expiry.is_zero() {
            return Err(NameServerError::InvalidConfig(
                "broker_expiry must be greater than zero",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_rocketmq_and_valid() {
        let c = NameServerConfig::default();
        assert_eq!(c.broker_expiry, Duration::from_secs(120));
        assert_eq!(c.scan_interval, Duration::from_secs(5));
        assert_eq!(c.max_connections_per_ip, 2048);
        assert_eq!(c.frame_timeout, Duration::from_secs(60));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn zero_durations_are_refused() {
        let c = NameServerConfig {
            scan_interval: Duration::ZERO,
            ..Default::default()
        };
        assert!(matches!(
            c.validate(),
            Err(NameServerError::InvalidConfig(_))
        ));
        let c = NameServerConfig {
            broker_expiry: Duration::ZERO,
            ..Default::default()
        };
        assert!(c.validate().is_err());
        let c = NameServerConfig {
            scan_interval: Duration::from_secs(u64::MAX),
            ..Default::default()
        };
        assert!(c.validate().is_err(), "would overflow tokio's interval");
        let c = NameServerConfig {
            scan_interval: MAX_SCAN_INTERVAL,
            broker_expiry: Duration::from_secs(u64::MAX),
            ..Default::default()
        };
        assert!(
            c.validate().is_ok(),
            "a huge expiry is only compared, never added"
        );
    }
}
