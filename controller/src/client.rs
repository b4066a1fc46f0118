//! Calls to the controller group from brokers and tools: any node may be
//! asked; one that is not the leader says so, and the call moves on to the
//! next node. The node that answered last is asked first next time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use ferromq_protocol::{ResponseCode, Rpc};
use ferromq_remoting::{Connection, RemotingError};
use parking_lot::Mutex;

/// A client of the controller group.
pub struct ControllerClient {
    addrs: Vec<String>,
    conns: Mutex<Vec<Option<Connection>>>,
    /// The node that answered last.
    leader: AtomicUsize,
    timeout: Duration,
}

/// Why no controller answered.
#[derive(Debug, thiserror::Error)]
pub enum ControllerCallError {
    /// A node refused the request (not because it is not the leader).
    #[error("controller {addr} refused: {code}: {message}")]
    Refused {
        /// The node.
        addr: String,
        /// Its code.
        code: ResponseCode,
        /// Its reason.
        message: String,
    },
    /// No node answered, or none was the leader.
    #[error("no controller leader answered ({0})")]
    NoLeader(String),
}

impl ControllerCallError {
    /// The refusal's code, if a node refused.
    pub fn code(&self) -> Option<ResponseCode> {
        match self {
            Self::Refused { code, .. } => Some(*code),
            Self::NoLeader(_) => None,
        }
    }
}

impl ControllerClient {
    /// A client of the nodes at `addrs`; each call and each dial is bounded
    /// by `timeout`.
    pub fn new(addrs: Vec<String>, timeout: Duration) -> Self {
        let n = addrs.len();
        Self {
            addrs,
            conns: Mutex::new(vec![None; n]),
            leader: AtomicUsize::new(0),
            timeout,
        }
    }

    /// Parses `host:port;host:port` (`,` also separates).
    pub fn parse_addrs(s: &str) -> Vec<String> {
        s.split([';', ','])
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// The nodes' addresses.
    pub fn addrs(&self) -> &[String] {
        &self.addrs
    }

    async fn conn(&self, i: usize) -> Result<Connection, RemotingError> {
        if let Some(c) = self.conns.lock()[i].as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let c = Connection::connect(&self.addrs[i], self.timeout).await?;
        self.conns.lock()[i] = Some(c.clone());
        Ok(c)
    }

    /// Sends `req` to the leader, trying each node once from the last
    /// leader on.
    ///
    /// # Errors
    /// [`ControllerCallError::Refused`] with the leader's refusal, or
    /// [`ControllerCallError::NoLeader`] with the last failure.
    pub async fn call<R: Rpc>(&self, req: &R) -> Result<R::Response, ControllerCallError> {
        let n = self.addrs.len();
        if n == 0 {
            return Err(ControllerCallError::NoLeader(
                "no controller address".into(),
            ));
        }
        let first = self.leader.load(Ordering::Relaxed) % n;
        let mut last = String::new();
        for k in 0..n {
            let i = (first + k) % n;
            let conn = match self.conn(i).await {
                Ok(c) => c,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            match conn.call(req, Bytes::new(), self.timeout).await {
                Ok(r) => {
                    self.leader.store(i, Ordering::Relaxed);
                    return Ok(r.header);
                }
                Err(RemotingError::Server {
                    code: ResponseCode::ControllerNotLeader,
                    message,
                    ..
                }) => {
                    last = message;
                }
                Err(RemotingError::Server {
                    addr,
                    code,
                    message,
                }) => {
                    self.leader.store(i, Ordering::Relaxed);
                    return Err(ControllerCallError::Refused {
                        addr,
                        code,
                        message,
                    });
                }
                Err(e) => {
                    if matches!(
                        e,
                        RemotingError::ConnectionClosed(_) | RemotingError::Timeout { .. }
                    ) {
                        self.conns.lock()[i] = None;
                    }
                    last = e.to_string();
                }
            }
        }
        Err(ControllerCallError::NoLeader(last))
    }
}
