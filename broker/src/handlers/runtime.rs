//! Broker runtime figures and the broker-wide write permission.

use ferromq_protocol::header::{
    AddWritePermRequest, BrokerRuntimeInfo, GetBrokerRuntimeInfoRequest, WipeWritePermRequest,
    WritePermResponse,
};
use ferromq_protocol::{BrokerName, ResponseCode};
use ferromq_remoting::{Request, Response};
use tracing::info;

use super::{decode, HandlerResult};
use crate::broker::Broker;

pub(super) fn runtime_info(b: &Broker, req: &Request) -> HandlerResult {
    let _: GetBrokerRuntimeInfoRequest = decode(req)?;
    let c = b.config();
    let store = b.store();
    let st = store.stats();
    let (put_tps, get_tps) = b.stats().tps();
    Ok(Response::ok(&BrokerRuntimeInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        cluster: c.cluster.clone(),
        broker_name: c.broker_name.clone(),
        broker_id: c.broker_id,
        addr: b.addr().to_string(),
        uptime_ms: b.stats().uptime().as_millis() as u64,
        put_tps,
        get_tps,
        put_total: st.messages,
        get_total: b.stats().gets(),
        commit_log_min_offset: store.commit_log_min_offset().get(),
        commit_log_max_offset: st.written_offset,
        disk_usage: store.disk_usage(),
        flush_mode: c.flush.to_string(),
        topics: b.topics().all().len() as u32,
        perm: b.state().perm(),
        auto_create_topic: c.auto_create_topic,
        store_poisoned: st.poisoned,
        direct_io: st.direct_io,
        log_cache_hits: st.cache_hits,
        log_cache_misses: st.cache_misses,
    }))
}

pub(super) fn wipe_write_perm(b: &Broker, req: &Request) -> HandlerResult {
    let h: WipeWritePermRequest = decode(req)?;
    set_writable(b, req, &h.broker_name, false)
}

pub(super) fn add_write_perm(b: &Broker, req: &Request) -> HandlerResult {
    let h: AddWritePermRequest = decode(req)?;
    set_writable(b, req, &h.broker_name, true)
}

fn set_writable(b: &Broker, req: &Request, name: &BrokerName, writable: bool) -> HandlerResult {
    if name != b.name() {
        return Err(Response::error(
            ResponseCode::BadRequest,
            format!("this is broker {}, not {name}", b.name()),
        ));
    }
    b.state().set_writable(writable).map_err(|e| {
        Response::error(
            ResponseCode::SystemError,
            format!("cannot persist the permission: {e}"),
        )
    })?;
    info!(writable, peer = %req.peer, "broker write permission changed");
    // Routes change now, not at the next heartbeat.
    b.register_soon();
    Ok(Response::ok(&WritePermResponse {
        topics: b.topics().all().len() as u32,
    }))
}
