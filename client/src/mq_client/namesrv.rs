//! Calls to the NameServers. NameServers do not talk to each other, so any
//! one that answers is as good as another: try them in turn, starting with
//! the one that answered last.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use ferromq_protocol::Rpc;
use tracing::debug;

use super::MqClient;
use crate::error::{ClientError, Result};
use ferromq_remoting::Reply;

impl MqClient {
    /// Sends `req` to the NameServers in turn until one answers. An error
    /// *response* (e.g. `TopicNotExist`) is an answer and is returned as is;
    /// only transport errors (dial, broken connection, timeout) move on to
    /// the next NameServer.
    ///
    /// # Errors
    /// The answering NameServer's error, or
    /// [`ClientError::NameServerUnavailable`] when none answered.
    pub async fn namesrv_call<R: Rpc>(&self, req: &R) -> Result<R::Response> {
        Ok(self.namesrv_call_reply(req).await?.header)
    }

    /// [`Self::namesrv_call`], returning the whole reply: for answers that
    /// carry their data in the body (e.g. the topic list).
    ///
    /// # Errors
    /// As [`Self::namesrv_call`].
    pub async fn namesrv_call_reply<R: Rpc>(&self, req: &R) -> Result<Reply<R::Response>> {
        let timeout = self.config().request_timeout();
        let addrs = self.config().namesrv_addrs();
        let start = self.inner.namesrv_preferred.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        for i in 0..addrs.len() {
            let idx = (start + i) % addrs.len();
            let addr = &addrs[idx];
            match self.call(addr, req, Bytes::new(), timeout).await {
                Err(e) if e.is_transport() => {
                    debug!(namesrv = %addr, error = %e, "NameServer did not answer; trying the next");
                    failures.push(e.to_string());
                }
                answer => {
                    self.inner.namesrv_preferred.store(idx, Ordering::Relaxed);
                    return answer;
                }
            }
        }
        if self.is_shut_down() {
            return Err(ClientError::Shutdown);
        }
        Err(ClientError::NameServerUnavailable(failures.join("; ")))
    }

    /// Sends `req` to every NameServer (for writes such as deleting a topic,
    /// which each NameServer must see) and returns each one's outcome.
    pub async fn namesrv_call_each<R: Rpc>(&self, req: &R) -> Vec<(String, Result<R::Response>)> {
        let calls = self
            .config()
            .namesrv_addrs()
            .iter()
            .map(|addr| async move { (addr.clone(), self.call_header(addr, req).await) });
        futures::future::join_all(calls).await
    }
}
