//! Handing a failed message back to the broker it came from. The broker
//! stores a copy in `%RETRY%<group>` with the delay of its reconsume
//! count, or in `%DLQ%<group>` once the count reaches the maximum.

use ferromq_protocol::header::SendMsgBackRequest;
use ferromq_protocol::StoredMessage;

use super::shared::Shared;
use crate::error::Result;
use crate::route::MessageQueue;

/// Sends `m`, pulled from `queue`, back. `max_reconsume_times` overrides
/// the group's limit; `Some(0)` sends it straight to the dead-letter topic.
///
/// # Errors
/// Route lookup, transport, or the broker's error.
pub(super) async fn send_back(
    shared: &Shared,
    queue: &MessageQueue,
    m: &StoredMessage,
    max_reconsume_times: Option<u32>,
) -> Result<()> {
    let addr = shared.master_addr(&queue.topic, &queue.broker_name).await?;
    let req = SendMsgBackRequest {
        group: shared.group.clone(),
        offset: m.commit_log_offset,
        // 0: the broker picks the level from the reconsume count.
        delay_level: 0,
        max_reconsume_times,
    };
    shared.client.call_header(&addr, &req).await?;
    Ok(())
}
