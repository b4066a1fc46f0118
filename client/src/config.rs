//! Client-wide settings shared by every producer, consumer and admin client
//! built on one [`crate::MqClient`].

use std::time::Duration;

use crate::error::{ClientError, Result};

/// The NameServer address used when none is given (RocketMQ's default port).
pub const DEFAULT_NAMESRV_ADDR: &str = "127.0.0.1:9876";

/// Settings of an [`crate::MqClient`]. Build with [`ClientConfig::builder`];
/// [`Default`] talks to `127.0.0.1:9876`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    namesrv_addrs: Vec<String>,
    request_timeout: Duration,
    connect_timeout: Duration,
    route_refresh_interval: Duration,
    reconnect_backoff_initial: Duration,
    reconnect_backoff_max: Duration,
    close_after_timeouts: u32,
}

/// Default of [`ClientConfig::close_after_timeouts`].
const DEFAULT_CLOSE_AFTER_TIMEOUTS: u32 = 3;

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            namesrv_addrs: vec![DEFAULT_NAMESRV_ADDR.to_string()],
            request_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(3),
            route_refresh_interval: Duration::from_secs(30),
            reconnect_backoff_initial: Duration::from_millis(100),
            reconnect_backoff_max: Duration::from_secs(5),
            close_after_timeouts: DEFAULT_CLOSE_AFTER_TIMEOUTS,
        }
    }
}

impl ClientConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> ClientConfigBuilder {
        ClientConfigBuilder::default()
    }

    /// The NameServers, tried in turn.
    pub fn namesrv_addrs(&self) -> &[String] {
        &self.namesrv_addrs
    }

    /// Timeout of one request (admin, offsets, routes; sends have their own).
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// Timeout of one TCP dial.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// How often cached topic routes are re-read from the NameServers.
    pub fn route_refresh_interval(&self) -> Duration {
        self.route_refresh_interval
    }

    /// Wait before re-dialling an address after its first failed dial; it
    /// doubles with every further failure up to
    /// [`Self::reconnect_backoff_max`].
    pub fn reconnect_backoff_initial(&self) -> Duration {
        self.reconnect_backoff_initial
    }

    /// Longest wait between dials of an address that keeps failing.
    pub fn reconnect_backoff_max(&self) -> Duration {
        self.reconnect_backoff_max
    }

    /// How many requests in a row may time out on a connection, with no
    /// frame at all received from the server since the first of them,
    /// before the connection is closed (0: never). See
    /// [`ClientConfigBuilder::close_after_timeouts`].
    pub fn close_after_timeouts(&self) -> u32 {
        self.close_after_timeouts
    }
}

/// Builds a [`ClientConfig`].
#[derive(Clone, Debug, Default)]
pub struct ClientConfigBuilder {
    namesrv: Option<String>,
    request_timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    route_refresh_interval: Option<Duration>,
    reconnect_backoff: Option<(Duration, Duration)>,
    close_after_timeouts: Option<u32>,
}

impl ClientConfigBuilder {
    /// NameServer addresses as `host:port`, several separated by `;`
    /// (RocketMQ's `NAMESRV_ADDR` format). Checked by [`Self::build`].
    #[must_use]
    pub fn namesrv_addr(mut self, addrs: impl Into<String>) -> Self {
        self.namesrv = Some(addrs.into());
        self
    }

    /// Timeout of one request (default 3 s).
    #[must_use]
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = Some(d);
        self
    }

    /// Timeout of one TCP dial (default 3 s).
    #[must_use]
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = Some(d);
        self
    }

    /// How often cached routes are refreshed (default 30 s).
    #[must_use]
    pub fn route_refresh_interval(mut self, d: Duration) -> Self {
        self.route_refresh_interval = Some(d);
        self
    }

    /// Re-dial backoff per address: `initial` after the first failed dial,
    /// doubling up to `max` (defaults 100 ms and 5 s). Calls to an address
    /// that is backing off fail at once with
    /// [`ClientError::Backoff`] instead of dialling.
    #[must_use]
    pub fn reconnect_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.reconnect_backoff = Some((initial, max));
        self
    }

    /// Closes a connection once `n` requests on it in a row have timed out
    /// with no frame at all received from the server since the first of
    /// them (default 3; 0 never closes a connection for timeouts).
    ///
    /// A server that is hung — stopped process, or a connection left
    /// half-open by a network partition — keeps the TCP connection open
    /// but answers nothing, so without this every call on the connection
    /// would time out, forever. Once closed, the calls still in flight on
    /// it fail with [`ClientError::ConnectionClosed`] (retryable: a
    /// producer moves on to another broker) and the next call dials the
    /// address afresh (subject to the re-dial backoff). Any frame from the
    /// server — the answer to another request, even a late one — resets
    /// the count, so a slow server that still answers is not closed.
    /// Oneway requests and server notifications have no timeout and never
    /// count; a long-polling pull only times out after its hold time plus
    /// the request timeout, so a pull held for its full time never counts.
    #[must_use]
    pub fn close_after_timeouts(mut self, n: u32) -> Self {
        self.close_after_timeouts = Some(n);
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`ClientError::InvalidArgument`] for a malformed NameServer list, a
    /// zero duration, or a backoff maximum below its initial value.
    pub fn build(self) -> Result<ClientConfig> {
        let d = ClientConfig::default();
        let namesrv_addrs = match self.namesrv {
            Some(s) => parse_namesrv_addrs(&s)?,
            None => d.namesrv_addrs,
        };
        let config = ClientConfig {
            namesrv_addrs,
            request_timeout: self.request_timeout.unwrap_or(d.request_timeout),
            connect_timeout: self.connect_timeout.unwrap_or(d.connect_timeout),
            route_refresh_interval: self
                .route_refresh_interval
                .unwrap_or(d.route_refresh_interval),
            reconnect_backoff_initial: self
                .reconnect_backoff
                .map_or(d.reconnect_backoff_initial, |b| b.0),
            reconnect_backoff_max: self
                .reconnect_backoff
                .map_or(d.reconnect_backoff_max, |b| b.1),
            close_after_timeouts: self.close_after_timeouts.unwrap_or(d.close_after_timeouts),
        };
        if config.reconnect_backoff_max < config.reconnect_backoff_initial {
            return Err(ClientError::InvalidArgument(format!(
                "reconnect backoff maximum {:?} is below its initial value {:?}",
                config.reconnect_backoff_max, config.reconnect_backoff_initial
            )));
        }
        for (name, v) in [
            ("request timeout", config.request_timeout),
            ("connect timeout", config.connect_timeout),
            ("route refresh interval", config.route_refresh_interval),
            ("reconnect backoff", config.reconnect_backoff_initial),
        ] {
            if v.is_zero() {
                return Err(ClientError::InvalidArgument(format!(
                    "{name} must be greater than zero"
                )));
            }
        }
        Ok(config)
    }
}

/// Parses `"a:9876;b:9876"` into its addresses. Blanks around entries and
/// empty entries (a trailing `;`) are ignored; each entry needs a host and a
/// numeric port.
///
/// # Errors
/// [`ClientError::InvalidArgument`] if no address is left or one is malformed.
pub fn parse_namesrv_addrs(s: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in s.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let bad = || {
            ClientError::InvalidArgument(format!("NameServer address {entry:?} is not host:port"))
        };
        let (host, port) = entry.rsplit_once(':').ok_or_else(bad)?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(bad());
        }
        if !out.iter().any(|a| a == entry) {
            out.push(entry.to_string());
        }
    }
    if out.is_empty() {
        return Err(ClientError::InvalidArgument(format!(
            "no NameServer address in {s:?}; expected host:port[;host:port]"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rocketmq_style_lists() {
        assert_eq!(
            parse_namesrv_addrs("a:9876;b:9877").unwrap(),
            ["a:9876", "b:9877"]
        );
        assert_eq!(
            parse_namesrv_addrs(" 127.0.0.1:9876 ; ;").unwrap(),
            ["127.0.0.1:9876"]
        );
        assert_eq!(
            parse_namesrv_addrs("[::1]:9876;[::1]:9876").unwrap(),
            ["[::1]:9876"]
        );
    }

    #[test]
    fn rejects_malformed_lists() {
        for bad in ["", ";", "host", ":9876", "a:port", "a:70000"] {
            assert!(
                matches!(
                    parse_namesrv_addrs(bad),
                    Err(ClientError::InvalidArgument(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn builder_defaults_and_overrides() {
        let c = ClientConfig::builder().build().unwrap();
        assert_eq!(c, ClientConfig::default());
        assert_eq!(c.namesrv_addrs(), [DEFAULT_NAMESRV_ADDR]);
        assert_eq!(c.request_timeout(), Duration::from_secs(3));
        assert_eq!(c.route_refresh_interval(), Duration::from_secs(30));
        let c = ClientConfig::builder()
            .namesrv_addr("x:1;y:2")
            .request_timeout(Duration::from_millis(500))
            .build()
            .unwrap();
        assert_eq!(c.namesrv_addrs().len(), 2);
        assert_eq!(c.request_timeout(), Duration::from_millis(500));
        assert!(ClientConfig::builder()
            .connect_timeout(Duration::ZERO)
            .build()
            .is_err());
        assert_eq!(c.reconnect_backoff_initial(), Duration::from_millis(100));
        assert_eq!(c.reconnect_backoff_max(), Duration::from_secs(5));
        assert_eq!(c.close_after_timeouts(), 3);
        for n in [0, 1, 7] {
            let c = ClientConfig::builder()
                .close_after_timeouts(n)
                .build()
                .unwrap();
            assert_eq!(c.close_after_timeouts(), n);
        }
        let c = ClientConfig::builder()
            .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(50))
            .build()
            .unwrap();
        assert_eq!(c.reconnect_backoff_max(), Duration::from_millis(50));
        for (initial, max) in [(0, 10), (20, 10)] {
            assert!(ClientConfig::builder()
                .reconnect_backoff(Duration::from_millis(initial), Duration::from_millis(max))
                .build()
                .is_err());
        }
    }
}
