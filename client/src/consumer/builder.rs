//! [`PullConsumerBuilder`].

use std::time::Duration;

use ferromq_protocol::GroupName;

use super::pull_consumer::{PullConsumer, Settings};
use super::ConsumeFrom;
use crate::error::{ClientError, Result};
use crate::MqClient;

/// Largest pull batch a broker serves.
const MAX_PULL_BATCH: u32 = 1024;

/// Builds a [`PullConsumer`]. Needs a group and either NameServers or a
/// shared [`MqClient`].
#[derive(Debug)]
pub struct PullConsumerBuilder {
    client: Option<MqClient>,
    namesrv: Option<String>,
    group: Option<String>,
    settings: Settings,
}

impl Default for PullConsumerBuilder {
    fn default() -> Self {
        Self {
            client: None,
            namesrv: None,
            group: None,
            settings: Settings {
                consume_from: ConsumeFrom::LastOffset,
                max_poll_records: 512,
                long_poll_hold: Duration::from_secs(15),
                pull_batch_size: 32,
                buffer_capacity: 1024,
            },
        }
    }
}

impl PullConsumerBuilder {
    /// NameServers (`"a:9876;b:9876"`); the consumer gets its own client.
    #[must_use]
    pub fn namesrv_addr(mut self, addrs: impl Into<String>) -> Self {
        self.namesrv = Some(addrs.into());
        self
    }

    /// Shares `client`'s connections and route cache.
    #[must_use]
    pub fn client(mut self, client: MqClient) -> Self {
        self.client = Some(client);
        self
    }

    /// Consumer group (required): whose offsets are read and committed.
    #[must_use]
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Where to start on queues the group never committed on (default
    /// [`ConsumeFrom::LastOffset`]).
    #[must_use]
    pub fn consume_from(mut self, from: ConsumeFrom) -> Self {
        self.settings.consume_from = from;
        self
    }

    /// Most messages one [`PullConsumer::poll`] returns (default 512).
    #[must_use]
    pub fn max_poll_records(mut self, n: usize) -> Self {
        self.settings.max_poll_records = n;
        self
    }

    /// How long the broker holds a pull when the queue has nothing new
    /// (default 15 s; zero polls without holding).
    #[must_use]
    pub fn long_poll_hold(mut self, d: Duration) -> Self {
        self.settings.long_poll_hold = d;
        self
    }

    /// Most messages one pull request asks for (default 32, at most 1024).
    #[must_use]
    pub fn pull_batch_size(mut self, n: u32) -> Self {
        self.settings.pull_batch_size = n;
        self
    }

    /// Most messages buffered between the pull tasks and `poll`, over all
    /// queues (default 1024). Pull tasks pause while it is full.
    #[must_use]
    pub fn buffer_capacity(mut self, n: usize) -> Self {
        self.settings.buffer_capacity = n;
        self
    }

    /// Checks the settings and builds the consumer. Nothing is pulled until
    /// [`PullConsumer::subscribe`].
    ///
    /// # Errors
    /// [`ClientError::InvalidArgument`] for a missing group, both or neither
    /// of a client and NameServers, or sizes out of range;
    /// [`ClientError::Name`] for an invalid group name.
    pub fn build(self) -> Result<PullConsumer> {
        let client = MqClient::from_builder(self.client, self.namesrv)?;
        let group = self
            .group
            .ok_or_else(|| ClientError::InvalidArgument("a consumer group is required".into()))?;
        let group = GroupName::new(group)?;
        let s = self.settings;
        if s.max_poll_records == 0 {
            return Err(ClientError::InvalidArgument(
                "max poll records must be at least 1".into(),
            ));
        }
        if s.pull_batch_size == 0 || s.pull_batch_size > MAX_PULL_BATCH {
            return Err(ClientError::InvalidArgument(format!(
                "pull batch size must be within 1..={MAX_PULL_BATCH}"
            )));
        }
        if s.buffer_capacity < s.pull_batch_size as usize {
            return Err(ClientError::InvalidArgument(
                "buffer capacity must hold at least one pull batch".into(),
            ));
        }
        Ok(PullConsumer::new(client, group, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_settings() {
        let b = || PullConsumer::builder().namesrv_addr("127.0.0.1:9876");
        assert!(b().group("g").build().is_ok());
        assert!(matches!(b().build(), Err(ClientError::InvalidArgument(_))));
        assert!(matches!(
            b().group("a/b").build(),
            Err(ClientError::Name(_))
        ));
        assert!(b().group("g").pull_batch_size(0).build().is_err());
        assert!(b().group("g").pull_batch_size(2000).build().is_err());
        assert!(b().group("g").max_poll_records(0).build().is_err());
        assert!(b()
            .group("g")
            .pull_batch_size(64)
            .buffer_capacity(32)
            .build()
            .is_err());
        assert!(PullConsumer::builder().group("g").build().is_err());
    }
}
