//! Replication within a broker group. A master (broker id 0) serves its
//! commit log on the HA port ([`master`]) and keeps its slaves' progress
//! and the in-sync set ([`replicas`]), on which sync sends wait; a slave
//! ([`slave`]) fetches the log and appends it at the same offsets. The
//! protocol is described in `ferromq_protocol::header::ha`.

pub(crate) mod master;
pub(crate) mod replicas;
pub(crate) mod slave;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::config::BrokerConfig;

/// This broker name's addresses by broker id, from the first NameServer
/// (in the configured order) whose answer satisfies `want`; `None` if none
/// does or none answers.
pub(crate) async fn group_from_namesrv(
    config: &BrokerConfig,
    want: impl Fn(&BTreeMap<u64, String>) -> bool,
) -> Option<BTreeMap<u64, String>> {
    use ferromq_protocol::header::GetClusterInfoRequest;
    const CALL: Duration = Duration::from_secs(3);
    for ns in &config.namesrv_addrs {
        let Ok(conn) = ferromq_remoting::Connection::connect(ns, CALL).await else {
            continue;
        };
        let Ok(info) = conn
            .call(&GetClusterInfoRequest {}, bytes::Bytes::new(), CALL)
            .await
        else {
            continue;
        };
        if let Some(group) = info.header.brokers.get(&config.broker_name) {
            if want(&group.addrs) {
                return Some(group.addrs.clone());
            }
        }
    }
    None
}

/// The HA listen address: `--ha-listen`, else the broker's listen address
/// with its port + 1.
pub(crate) fn ha_listen(config: &BrokerConfig, broker_listen: SocketAddr) -> String {
    config.ha.ha_listen.clone().unwrap_or_else(|| {
        SocketAddr::new(broker_listen.ip(), broker_listen.port().wrapping_add(1)).to_string()
    })
}

/// The default HA address for a broker told to listen on `listen`: port 0
/// (any free port) when the broker's own port is 0, so that brokers started
/// on port 0 never collide on port 1; `None` (the bound port + 1)
/// otherwise.
pub fn default_ha_listen(listen: &str) -> Option<String> {
    let addr: SocketAddr = listen.parse().ok()?;
    (addr.port() == 0).then(|| SocketAddr::new(addr.ip(), 0).to_string())
}
