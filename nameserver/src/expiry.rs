//! The background scan that removes silent brokers.

use std::sync::Arc;
use std::time::Instant;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::service::NameServer;

/// Every `config.scan_interval`, expires brokers silent past their timeout,
/// until `stop` is cancelled. A broker may thus live up to one interval past
/// its timeout, which is why the interval is short next to the expiry.
pub(crate) async fn scan_loop(server: Arc<NameServer>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(server.config.scan_interval);
    // After a stall, one scan catches up on everything; a burst would not.
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {
                server.expire_silent_brokers(Instant::now());
            }
        }
    }
}
