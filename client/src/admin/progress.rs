//! Consumer progress: how far a group has got on each queue, and its lag.

use ferromq_protocol::header::GetConsumeStatsRequest;
use ferromq_protocol::{BrokerName, GroupName, QueueId, QueueOffset, TopicName};

use super::{all, AdminClient};
use crate::error::{ClientError, Result};

/// A group's progress on one queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueLag {
    /// Topic.
    pub topic: TopicName,
    /// Broker name.
    pub broker_name: BrokerName,
    /// Master address of that broker.
    pub broker_addr: String,
    /// Queue.
    pub queue_id: QueueId,
    /// One past the newest message on the broker.
    pub broker_offset: QueueOffset,
    /// The group's committed offset, `None` if it never committed here.
    pub consumer_offset: Option<QueueOffset>,
}

impl QueueLag {
    /// Messages the group has not consumed yet; `None` without a committed
    /// offset (the lag then depends on where the group will start).
    pub fn lag(&self) -> Option<u64> {
        self.consumer_offset
            .map(|c| self.broker_offset.get().saturating_sub(c.get()))
    }
}

/// A group's progress on every queue it has (or, for one topic, could
/// have) consumed, sorted by topic, broker and queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerProgress {
    /// The group.
    pub group: GroupName,
    /// One entry per queue.
    pub queues: Vec<QueueLag>,
}

impl ConsumerProgress {
    /// Sum of the known lags.
    pub fn total_lag(&self) -> u64 {
        self.queues.iter().filter_map(QueueLag::lag).sum()
    }
}

impl AdminClient {
    /// The group's per-queue progress: asks every master broker the
    /// NameServer knows, or with `topic`, the brokers in its route (which
    /// then also list queues the group never committed on).
    ///
    /// # Errors
    /// [`ClientError::NoRoute`] for an unknown topic; NameServer errors; the
    /// first broker failure (a partial table would understate the lag).
    pub async fn consumer_progress(
        &self,
        group: &GroupName,
        topic: Option<&TopicName>,
    ) -> Result<ConsumerProgress> {
        let brokers = match topic {
            Some(t) => self
                .client
                .refresh_route(t)
                .await?
                .masters()
                .map(|(n, a)| (n.clone(), a.to_string()))
                .collect(),
            None => self.all_masters().await?,
        };
        let req = GetConsumeStatsRequest {
            consumer_group: group.clone(),
            topic: topic.cloned(),
        };
        let results = all(&brokers, |(name, addr)| {
            let req = &req;
            async move {
                let stats = self.client.call_header(addr, req).await?;
                Ok::<_, ClientError>(stats.queues.into_iter().map(move |q| QueueLag {
                    topic: q.topic,
                    broker_name: name.clone(),
                    broker_addr: addr.clone(),
                    queue_id: q.queue_id,
                    broker_offset: q.broker_offset,
                    consumer_offset: q.consumer_offset,
                }))
            }
        })
        .await;
        let mut queues = Vec::new();
        for r in results {
            queues.extend(r?);
        }
        queues.sort_by(|a, b| {
            (&a.topic, &a.broker_name, a.queue_id).cmp(&(&b.topic, &b.broker_name, b.queue_id))
        });
        Ok(ConsumerProgress {
            group: group.clone(),
            queues,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_needs_a_committed_offset() {
        let q = |c: Option<u64>| QueueLag {
            topic: TopicName::new("T").unwrap(),
            broker_name: BrokerName::new("b").unwrap(),
            broker_addr: "x:1".into(),
            queue_id: QueueId::new(0),
            broker_offset: QueueOffset::new(10),
            consumer_offset: c.map(QueueOffset::new),
        };
        assert_eq!(q(Some(4)).lag(), Some(6));
        assert_eq!(q(Some(12)).lag(), Some(0));
        assert_eq!(q(None).lag(), None);
        let p = ConsumerProgress {
            group: GroupName::new("g").unwrap(),
            queues: vec![q(Some(4)), q(None), q(Some(9))],
        };
        assert_eq!(p.total_lag(), 7);
    }
}
