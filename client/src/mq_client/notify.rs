//! Consumer-group members of this client, and what brokers tell them on
//! their own: "the membership of your group changed" and "continue from
//! these offsets". Brokers send both as oneway requests on the connection
//! the client heartbeats over; [`handler`] is installed on every
//! connection the client dials and hands each request to the member of
//! the group it names.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use ferromq_protocol::header::{ConsumerData, NotifyConsumerIdsChanged, ResetOffsetNotify};
use ferromq_protocol::{decode_header, Frame, GroupName, RequestCode};
use parking_lot::Mutex;
use tracing::{debug, warn};

use super::{Inner, MqClient};
use crate::error::{ClientError, Result};
use ferromq_remoting::PushHandler;

/// A consumer group's member in this process (a push consumer). The
/// registry holds it weakly: a member that is dropped simply disappears.
pub(crate) trait GroupMember: Send + Sync {
    /// The group as heartbeats announce it.
    fn consumer_data(&self) -> ConsumerData;
    /// The group's membership changed: rebalance soon. Must not block (it
    /// runs on a connection's reader task).
    fn ids_changed(&self);
    /// The broker at `broker_addr` moved the group's offsets on a topic.
    /// Must not block.
    fn reset_offset(&self, broker_addr: &str, notify: ResetOffsetNotify);
}

/// Client instances created in this process, for unique client ids.
static INSTANCES: AtomicU64 = AtomicU64::new(0);

/// This client's identity towards brokers and its group members.
pub(super) struct Members {
    /// `ip@pid@n`: unique per client instance, so two clients in one
    /// process are two members of a group.
    client_id: String,
    /// By group. Only locked to look up, insert or remove.
    groups: Mutex<HashMap<GroupName, Weak<dyn GroupMember>>>,
}

impl Members {
    pub(super) fn new(ip: std::net::IpAddr) -> Self {
        let n = INSTANCES.fetch_add(1, Ordering::Relaxed);
        Self {
            client_id: format!("{ip}@{}@{n}", std::process::id()),
            groups: Mutex::default(),
        }
    }
}

impl MqClient {
    /// This client's id as brokers see it in its group memberships
    /// (`ip@pid@n`).
    pub fn client_id(&self) -> &str {
        &self.inner.members.client_id
    }

    /// Registers `member` as this client's member of `group`.
    ///
    /// # Errors
    /// [`ClientError::InvalidArgument`] if a live member of `group` is
    /// already registered on this client (one consumer per group per
    /// client, as in RocketMQ: a second would be the same group member).
    pub(crate) fn register_member(
        &self,
        group: &GroupName,
        member: Weak<dyn GroupMember>,
    ) -> Result<()> {
        let mut groups = self.inner.members.groups.lock();
        groups.retain(|_, m| m.strong_count() > 0);
        if groups.contains_key(group) {
            return Err(ClientError::InvalidArgument(format!(
                "consumer group {group} already has a consumer on this client; \
                 build the second consumer with its own MqClient"
            )));
        }
        groups.insert(group.clone(), member);
        Ok(())
    }

    /// Forgets this client's member of `group`.
    pub(crate) fn unregister_member(&self, group: &GroupName) {
        self.inner.members.groups.lock().remove(group);
    }

    /// The live members, for heartbeats.
    pub(crate) fn members(&self) -> Vec<Arc<dyn GroupMember>> {
        self.inner
            .members
            .groups
            .lock()
            .values()
            .filter_map(Weak::upgrade)
            .collect()
    }

    fn member(&self, group: &GroupName) -> Option<Arc<dyn GroupMember>> {
        self.inner
            .members
            .groups
            .lock()
            .get(group)
            .and_then(Weak::upgrade)
    }
}

/// The push handler for a connection to `addr`. Holds the client weakly,
/// so a connection never keeps its client alive.
pub(super) fn handler(inner: Weak<Inner>, addr: String) -> PushHandler {
    Arc::new(move |frame: Frame| {
        let Some(inner) = inner.upgrade() else { return };
        dispatch(&MqClient { inner }, &addr, &frame);
    })
}

fn dispatch(client: &MqClient, addr: &str, frame: &Frame) {
    match RequestCode::from_u16(frame.code) {
        Some(RequestCode::NotifyConsumerIdsChanged) => {
            match decode_header::<NotifyConsumerIdsChanged>(&frame.header) {
                Ok(n) => match client.member(&n.group) {
                    Some(m) => {
                        debug!(broker = %addr, group = %n.group, "group membership changed");
                        m.ids_changed();
                    }
                    None => {
                        debug!(broker = %addr, group = %n.group, "membership change for a group without a member here")
                    }
                },
                Err(e) => warn!(broker = %addr, error = %e, "undecodable membership notification"),
            }
        }
        Some(RequestCode::ResetOffsetNotify) => {
            match decode_header::<ResetOffsetNotify>(&frame.header) {
                Ok(n) => match client.member(&n.group) {
                    Some(m) => m.reset_offset(addr, n),
                    None => {
                        debug!(broker = %addr, group = %n.group, "offset reset for a group without a member here")
                    }
                },
                Err(e) => {
                    warn!(broker = %addr, error = %e, "undecodable offset reset notification")
                }
            }
        }
        _ => debug!(broker = %addr, code = frame.code, "ignoring a request from the server"),
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    #[test]
    fn client_ids_are_unique_per_instance() {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let (a, b) = (Members::new(ip), Members::new(ip));
        assert_ne!(a.client_id, b.client_id);
        let pid = std::process::id().to_string();
        let parts: Vec<&str> = a.client_id.split('@').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!((parts[0], parts[1]), ("127.0.0.1", pid.as_str()));
    }
}
