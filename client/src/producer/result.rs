//! What a send reports back, one [`SendResult`] per message.

use std::sync::Arc;

use ferromq_protocol::header::SendMessageResponse;
use ferromq_protocol::{
    BrokerName, CommitLogOffset, MessageId, QueueId, QueueOffset, ResponseCode,
};

use super::batch::EncodedBatch;
use crate::error::{ClientError, Result};

/// How a send that the broker accepted went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendStatus {
    /// Stored (and flushed, if the broker flushes synchronously).
    Ok,
    /// Stored, but the broker's synchronous flush did not finish in time:
    /// the message is in memory and will most likely reach the disk, but a
    /// broker crash right now could lose it.
    FlushDiskTimeout,
    /// Stored on the master, but sync replication did not reach enough
    /// in-sync replicas in time: a master crash right now could lose it.
    FlushSlaveTimeout,
}

/// Where a message landed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendResult {
    /// Whether the broker also confirmed the flush.
    pub status: SendStatus,
    /// Offset message id: store host + commit-log offset. Finds the message
    /// on its broker without any index.
    pub msg_id: MessageId,
    /// Producer-assigned unique id (the `UNIQ_KEY` property).
    pub unique_id: String,
    /// Broker name the message went to.
    pub broker_name: BrokerName,
    /// Address of that broker (shared by the results of one send).
    pub broker_addr: Arc<str>,
    /// Queue on that broker.
    pub queue_id: QueueId,
    /// Position in that queue.
    pub queue_offset: QueueOffset,
}

/// What the broker's answer code says about a send it answered.
///
/// # Errors
/// [`ClientError::Server`] for a code that is not an answer to a send.
pub(crate) fn status(code: ResponseCode, broker_addr: &str) -> Result<SendStatus> {
    match code {
        ResponseCode::Success => Ok(SendStatus::Ok),
        ResponseCode::FlushDiskTimeout => Ok(SendStatus::FlushDiskTimeout),
        ResponseCode::FlushSlaveTimeout => Ok(SendStatus::FlushSlaveTimeout),
        other => Err(ClientError::Server {
            addr: broker_addr.to_string(),
            code: other,
            message: "unexpected response code to a send".into(),
        }),
    }
}

/// Builds one result per message of `batch` from the broker's answer:
/// message `i` sits at `queue_offset + i` and at the first record's
/// commit-log offset plus the sizes of the records before it. The batch's
/// unique ids move into the results, and its broker name and address are
/// shared by them, so a result costs no allocation of its own.
pub(crate) fn results(
    status: SendStatus,
    resp: &SendMessageResponse,
    batch: EncodedBatch,
    broker_name: &BrokerName,
    broker_addr: &str,
) -> Vec<SendResult> {
    let broker_addr: Arc<str> = Arc::from(broker_addr);
    let mut commit_log = resp.commit_log_offset.get();
    let mut out = Vec::with_capacity(batch.sizes.len());
    for (i, (size, unique_id)) in batch.sizes.iter().zip(batch.unique_ids).enumerate() {
        out.push(SendResult {
            status,
            msg_id: MessageId::new(resp.store_host, CommitLogOffset::new(commit_log)),
            unique_id,
            broker_name: broker_name.clone(),
            broker_addr: broker_addr.clone(),
            queue_id: resp.queue_id,
            queue_offset: QueueOffset::new(resp.queue_offset.get() + i as u64),
        });
        commit_log += size;
    }
    out
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use ferromq_protocol::TopicName;

    use super::*;

    #[test]
    fn batch_ids_follow_record_sizes() {
        let batch = EncodedBatch {
            topic: TopicName::new("T").unwrap(),
            body: Bytes::new(),
            sizes: vec![100, 250, 7],
            unique_ids: vec!["A".into(), "B".into(), "C".into()],
        };
        let resp = SendMessageResponse {
            queue_id: QueueId::new(3),
            queue_offset: QueueOffset::new(40),
            commit_log_offset: CommitLogOffset::new(0x1000),
            store_host: "127.0.0.1:10911".parse().unwrap(),
        };
        let b = BrokerName::new("broker-a").unwrap();
        let ok = status(ResponseCode::Success, "127.0.0.1:10911").unwrap();
        let r = results(ok, &resp, batch.clone(), &b, "127.0.0.1:10911");
        let offsets: Vec<u64> = r.iter().map(|r| r.msg_id.offset().get()).collect();
        assert_eq!(offsets, [0x1000, 0x1000 + 100, 0x1000 + 350]);
        let qo: Vec<u64> = r.iter().map(|r| r.queue_offset.get()).collect();
        assert_eq!(qo, [40, 41, 42]);
        assert_eq!(r[1].unique_id, "B");
        assert_eq!(r[0].msg_id.to_string(), "7F00000100002A9F0000000000001000");
        assert!(r.iter().all(|r| r.status == SendStatus::Ok));
        assert_eq!(&*r[2].broker_addr, "127.0.0.1:10911");
        assert!(Arc::ptr_eq(&r[0].broker_addr, &r[2].broker_addr));

        let late = status(ResponseCode::FlushDiskTimeout, "x").unwrap();
        let r = results(late, &resp, batch, &b, "x");
        assert_eq!(r[0].status, SendStatus::FlushDiskTimeout);
        assert_eq!(r.len(), 3);
        assert!(status(ResponseCode::PullNotFound, "x").is_err());
    }
}
