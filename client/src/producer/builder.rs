//! [`ProducerBuilder`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferromq_protocol::{GroupName, DEFAULT_MAX_MESSAGE_SIZE};

use super::batch::{Limits, MAX_SEND_BODY};
use super::chooser::QueueChooser;
use super::coalesce::Lanes;
use super::fault::LatencyFaults;
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
    max_batch_bytes: usize,
    compress_threshold: Option<usize>,
    send_latency_fault: bool,
    auto_batch: bool,
    auto_batch_in_flight: usize,
}

/// Default largest encoded batch (RocketMQ's 4 MiB batch limit).
pub const DEFAULT_MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Default number of requests per topic on the wire before concurrent
/// sends are batched automatically (see [`ProducerBuilder::auto_batch`]).
pub const DEFAULT_AUTO_BATCH_IN_FLIGHT: usize = 4;
/// Default size above which bodies are compressed (RocketMQ's
/// `compressMsgBodyOverHowmuch`).
pub const DEFAULT_COMPRESS_THRESHOLD: usize = 4 * 1024;

impl Default for ProducerBuilder {
    fn default() -> Self {
        Self {
            client: None,
            namesrv: None,
            group: None,
            send_timeout: Duration::from_secs(3),
            retries: 2,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES,
            compress_threshold: Some(DEFAULT_COMPRESS_THRESHOLD),
            send_latency_fault: true,
            auto_batch: true,
            auto_batch_in_flight: DEFAULT_AUTO_BATCH_IN_FLIGHT,
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

    /// Largest message body accepted (default 4 MiB, the broker's default),
    /// checked before sending against the body as sent, i.e. after
    /// compression.
    #[must_use]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Largest encoded size of a batch of two or more messages (default
    /// 4 MiB), checked before sending. A single message is limited by
    /// [`Self::max_message_size`] only.
    #[must_use]
    pub fn max_batch_bytes(mut self, bytes: usize) -> Self {
        self.max_batch_bytes = bytes;
        self
    }

    /// Compress bodies longer than this many bytes with LZ4 (default
    /// `Some(4096)`); `None` never compresses. A compressed body is kept
    /// only if it is smaller; consumers decompress transparently.
    #[must_use]
    pub fn compress_threshold(mut self, bytes: Option<usize>) -> Self {
        self.compress_threshold = bytes;
        self
    }

    /// The latency fault strategy (RocketMQ's `sendLatencyFaultEnable`, on
    /// by default): a broker whose latest send was slow or failed is
    /// avoided for a while (550 ms → 30 s, 1 s → 60 s, … 15 s → 10 min; an
    /// error → 30 s) as long as another broker has a writable queue. Off,
    /// only the brokers that failed the current send are avoided.
    #[must_use]
    pub fn send_latency_fault(mut self, on: bool) -> Self {
        self.send_latency_fault = on;
        self
    }

    /// Automatic batching of concurrent [`Producer::send`]s (on by
    /// default). No send waits while its topic has fewer than
    /// [`Self::auto_batch_in_flight`] requests on the wire; past that,
    /// sends made meanwhile go out together as one batch request (within
    /// [`Self::max_batch_bytes`]) as soon as one of those finishes. It adds
    /// no latency to an idle producer and takes most of the per-request
    /// cost off a busy one. Off, every send is a request of its own.
    #[must_use]
    pub fn auto_batch(mut self, on: bool) -> Self {
        self.auto_batch = on;
        self
    }

    /// Requests per topic on the wire before automatic batching starts
    /// (default [`DEFAULT_AUTO_BATCH_IN_FLIGHT`]; at least 1).
    #[must_use]
    pub fn auto_batch_in_flight(mut self, n: usize) -> Self {
        self.auto_batch_in_flight = n;
        self
    }

    /// Checks the settings and builds the producer. Connects lazily.
    ///
    /// # Errors
    /// [`ClientError::InvalidArgument`] for both or neither of a client and
    /// NameServers, a zero timeout or size, a batch size over the frame
    /// limit; [`ClientError::Name`] for an invalid group.
    pub fn build(self) -> Result<Producer> {
        let client = MqClient::from_builder(self.client, self.namesrv)?;
        let group = self.group.map(GroupName::new).transpose()?;
        if self.send_timeout.is_zero() || self.max_message_size == 0 || self.max_batch_bytes == 0 {
            return Err(ClientError::InvalidArgument(
                "send timeout, max message size and max batch bytes must be greater than zero"
                    .into(),
            ));
        }
        if self.max_batch_bytes > MAX_SEND_BODY {
            return Err(ClientError::InvalidArgument(format!(
                "max batch bytes {} exceeds what one frame carries ({MAX_SEND_BODY} bytes)",
                self.max_batch_bytes
            )));
        }
        let ids = UniqueIdGenerator::new(client.local_ip());
        let born_host = SocketAddr::new(client.local_ip(), 0);
        Ok(Producer {
            inner: Arc::new(Inner {
                client,
                group,
                send_timeout: self.send_timeout,
                retries: self.retries,
                limits: Limits {
                    max_body: self.max_message_size,
                    max_batch_bytes: self.max_batch_bytes,
                    compress_threshold: self.compress_threshold,
                },
                chooser: QueueChooser::new(),
                faults: self.send_latency_fault.then(LatencyFaults::default),
                ids,
                born_host,
                lanes: self
                    .auto_batch
                    .then(|| Lanes::new(self.auto_batch_in_flight, self.max_batch_bytes)),
            }),
        })
    }
}
