//! [`ProducerBuilder`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferromq_protocol::{GroupName, DEFAULT_MAX_MESSAGE_SIZE};

use super::chooser::QueueChooser;
use super::unique_id::UniqueIdGenerator;
use super::{Inner, Producer};
use crate::error::{ClientError, Result};
use crate::MqClient;

/// Builds a [`Producer`]. Give either a NameServer list or a shared
/// [`MqClient`].
#[derive(Debug)]
pub struct ProducerBuilder {
    client: Option<MqClient>,
    namesrv: Option<String>,
    group: Option<String>,
    send_timeout: Duration,
    retries: u32,
    max_message_size: usize,
}

impl Default for ProducerBuilder {
    fn default() -> Self {
        Self {
            client: None,
            namesrv: None,
            group: None,
            send_timeout: Duration::from_secs(3),
            retries: 2,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        }
    }
}

impl ProducerBuilder {
    /// NameServers (`"a:9876;b:9876"`); the producer gets its own client.
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

    /// Producer group, sent with each request for diagnostics. Optional.
    #[must_use]
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Time budget of one send, retries included (default 3 s).
    #[must_use]
    pub fn send_timeout(mut self, d: Duration) -> Self {
        self.send_timeout = d;
        self
    }

    /// How often a failed send is retried (default 2, so 3 attempts).
    #[must_use]
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    /// Largest message body accepted (default 4 MiB, the broker's default).
    #[must_use]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Checks the settings and builds the producer. Connects lazily.
    ///
    /// # Errors
    /// [`ClientError::InvalidArgument`] for both or neither of a client and
    /// NameServers, a zero timeout or size; [`ClientError::Name`] for an
    /// invalid group.
    pub fn build(self) -> Result<Producer> {
        let client = MqClient::from_builder(self.client, self.namesrv)?;
        let group = self.group.map(GroupName::new).transpose()?;
        if self.send_timeout.is_zero() || self.max_message_size == 0 {
            return Err(ClientError::InvalidArgument(
                "send timeout and max message size must be greater than zero".into(),
            ));
        }
        let ids = UniqueIdGenerator::new(client.local_ip());
        let born_host = SocketAddr::new(client.local_ip(), 0);
        Ok(Producer {
            inner: Arc::new(Inner {
                client,
                group,
                send_timeout: self.send_timeout,
                retries: self.retries,
                max_message_size: self.max_message_size,
                chooser: QueueChooser::new(),
                ids,
                born_host,
            }),
        })
    }
}
