//! The server loop shared by the NameServer and the broker.
//!
//! One task per connection reads frames and spawns one task per request, so
//! a long-held pull never blocks a send on the same connection; responses go
//! back through a bounded queue to the connection's writer task. Limits: a
//! connection cap (new connections wait for a slot), a cap per client IP
//! address (more are closed at once), caps on requests and on request bytes
//! in flight per connection (reading pauses at either), and a deadline for
//! a frame once its first byte arrived, and for a new connection's first
//! frame (slowloris: the connection is closed). A frame that fails to
//! decode closes its connection, since its boundaries can no longer be
//! found; other connections are untouched.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferromq_protocol::header::ErrorHeader;
use ferromq_protocol::{encode_header, Frame, FrameCodec, FrameKind, ResponseCode, Rpc};
use futures::StreamExt;
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// A request as a handler sees it.
#[derive(Debug, Clone)]
pub struct Request {
    /// Raw request code (may be unknown).
    pub code: u16,
    /// Postcard header.
    pub header: Bytes,
    /// Body.
    pub body: Bytes,
    /// The peer's address.
    pub peer: SocketAddr,
    /// The connection the request came on, for notifications later.
    pub conn: PeerHandle,
}

/// A handle on one client connection that a handler may keep to send the
/// client requests of its own (oneway notifications) later.
#[derive(Clone, Debug)]
pub struct PeerHandle {
    id: u64,
    addr: SocketAddr,
    tx: mpsc::Sender<Frame>,
    /// Cancelled when the connection ends, even while handles remain.
    closed: CancellationToken,
    /// Cancelled as soon as the client is known to be gone (end of stream
    /// or a broken frame), before its in-flight requests have finished.
    peer_gone: CancellationToken,
}

impl PeerHandle {
    /// A handle that is connected to nothing (for handler unit tests).
    pub fn detached(addr: SocketAddr) -> Self {
        let (tx, _) = mpsc::channel(1);
        let closed = CancellationToken::new();
        closed.cancel();
        Self {
            id: 0,
            addr,
            tx,
            peer_gone: closed.clone(),
            closed,
        }
    }

    /// Process-unique id of the connection.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The client's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled() || self.peer_gone.is_cancelled() || self.tx.is_closed()
    }

    /// Resolves once the client is gone (or the connection ended).
    pub async fn gone(&self) {
        tokio::select! {
            _ = self.peer_gone.cancelled() => {}
            _ = self.closed.cancelled() => {}
        }
    }

    /// Sends a oneway request to the client. Best effort: returns false if
    /// the connection is gone or its queue is full (the client's periodic
    /// work catches up anyway).
    pub fn notify<R: Rpc>(&self, req: &R) -> bool {
        if self.is_closed() {
            return false;
        }
        let Ok(header) = encode_header(req) else {
            return false;
        };
        self.tx
            .try_send(Frame {
                kind: FrameKind::Oneway,
                code: R::CODE.as_u16(),
                request_id: 0,
                header,
                body: Bytes::new(),
            })
            .is_ok()
    }
}

static NEXT_CONN_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// What a handler answers.
#[derive(Debug, Clone)]
pub struct Response {
    code: ResponseCode,
    header: Bytes,
    body: Bytes,
}

impl Response {
    /// A success (or other typed-header code) carrying `header`.
    pub fn typed<T: Serialize>(code: ResponseCode, header: &T) -> Self {
        match encode_header(header) {
            Ok(header) => Self {
                code,
                header,
                body: Bytes::new(),
            },
            Err(e) => Self::error(
                ResponseCode::SystemError,
                format!("cannot encode response: {e}"),
            ),
        }
    }

    /// A success carrying `header`.
    pub fn ok<T: Serialize>(header: &T) -> Self {
        Self::typed(ResponseCode::Success, header)
    }

    /// An error with a message for the user.
    pub fn error(code: ResponseCode, message: impl Into<String>) -> Self {
        let header = encode_header(&ErrorHeader {
            message: message.into(),
        })
        .unwrap_or_default();
        Self {
            code,
            header,
            body: Bytes::new(),
        }
    }

    /// Attaches a body.
    #[must_use]
    pub fn with_body(mut self, body: Bytes) -> Self {
        self.body = body;
        self
    }

    /// The response code.
    pub fn code(&self) -> ResponseCode {
        self.code
    }
}

/// Serves requests. Implemented by the NameServer and the broker.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request. Must not panic on any input.
    fn handle(&self, req: Request) -> impl Future<Output = Response> + Send;
}

/// Limits of the server loop.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Connections served at once; more wait in the accept backlog.
    pub max_connections: usize,
    /// Requests in flight per connection before reading pauses.
    pub max_inflight_per_connection: usize,
    /// Largest frame accepted.
    pub max_frame_len: usize,
    /// How long in-flight requests may take to finish after shutdown.
    pub shutdown_grace: Duration,
    /// Connections from one IP address at once; more are closed as soon
    /// as they are accepted.
    pub max_connections_per_ip: usize,
    /// Bytes of requests read and not yet answered per connection before
    /// reading pauses (a single larger frame is still taken, alone).
    pub max_inflight_bytes_per_connection: usize,
    /// A frame whose first byte has arrived must be whole within this, and
    /// a new connection must send a whole frame within it; else the
    /// connection is closed. Idle connections between frames may stay.
    pub frame_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_inflight_per_connection: 4096,
            max_frame_len: ferromq_protocol::DEFAULT_MAX_FRAME_LEN,
            shutdown_grace: Duration::from_secs(10),
            max_connections_per_ip: 2048,
            max_inflight_bytes_per_connection: 64 << 20,
            frame_timeout: Duration::from_secs(60),
        }
    }
}

/// Accepts connections on `listener` and serves them with `handler` until
/// `shutdown` is cancelled; then stops accepting, lets in-flight requests
/// finish (up to the grace period), and returns.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    shutdown: CancellationToken,
    opts: ServerOptions,
) {
    let slots = Arc::new(Semaphore::new(opts.max_connections));
    let per_ip = Arc::new(PerIp::default());
    let mut conns = JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                let Some(ip_slot) = per_ip.take(peer.ip(), opts.max_connections_per_ip) else {
                    drop(stream);
                    continue;
                };
                let handler = handler.clone();
                let shutdown = shutdown.clone();
                let opts = opts.clone();
                conns.spawn(async move {
                    serve_connection(stream, peer, handler, shutdown, opts).await;
                    drop(ip_slot);
                    drop(permit);
                });
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    info!(
        connections = conns.len(),
        "server stopped accepting; draining connections"
    );
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(opts.shutdown_grace + Duration::from_secs(1), drain)
        .await
        .is_err()
    {
        warn!("connections did not drain in time; aborting them");
        conns.abort_all();
    }
}

/// Connections per client IP address, and whether a refusal was logged
/// since the last one ended.
#[derive(Default)]
struct PerIp {
    counts: parking_lot::Mutex<std::collections::HashMap<std::net::IpAddr, (usize, bool)>>,
}

/// One connection's place in [`PerIp`], given back on drop.
struct IpSlot {
    per_ip: Arc<PerIp>,
    ip: std::net::IpAddr,
}

impl PerIp {
    /// A slot for `ip`, or `None` when it has `max` connections already
    /// (logged once until one of them ends).
    fn take(self: &Arc<Self>, ip: std::net::IpAddr, max: usize) -> Option<IpSlot> {
        let mut counts = self.counts.lock();
        let (n, warned) = counts.entry(ip).or_insert((0, false));
        if *n >= max {
            if !*warned {
                warn!(%ip, max, "too many connections from one address; closing new ones");
                *warned = true;
            }
            return None;
        }
        *n += 1;
        Some(IpSlot {
            per_ip: self.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = self.per_ip.counts.lock();
        if let Some((n, warned)) = counts.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            *warned = false;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

async fn serve_connection<H: Handler>(
    stream: TcpStream,
    peer: SocketAddr,
    handler: Arc<H>,
    shutdown: CancellationToken,
    opts: ServerOptions,
) {
    let _ = stream.set_nodelay(true);
    debug!(%peer, "connection opened");
    let (rd, wr) = stream.into_split();
    let codec = FrameCodec::new(opts.max_frame_len);
    let mut reader = FramedRead::new(rd, codec.clone());
    let (tx, rx) = mpsc::channel::<Frame>(opts.max_inflight_per_connection);

    let conn_done = CancellationToken::new();
    let stop = conn_done.clone();
    let write_task = tokio::spawn(async move {
        if let Err(e) = crate::writer::write_frames(wr, codec, rx, stop).await {
            debug!(%peer, error = %e, "write failed");
        }
    });

    let handle = PeerHandle {
        id: NEXT_CONN_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        addr: peer,
        tx: tx.clone(),
        closed: conn_done.clone(),
        peer_gone: CancellationToken::new(),
    };
    let inflight = Arc::new(Semaphore::new(opts.max_inflight_per_connection));
    // Request bytes in flight, in KiB.
    let budget_kib = (opts.max_inflight_bytes_per_connection / 1024).clamp(1, u32::MAX as usize);
    let inflight_bytes = Arc::new(Semaphore::new(budget_kib));
    // A frame's first byte (or the connection) has waited since then.
    let opened = tokio::time::Instant::now();
    let mut waiting_since: Option<tokio::time::Instant> = Some(opened);
    let mut check = tokio::time::interval(opts.frame_timeout / 4);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tasks = JoinSet::new();
    loop {
        let permit = match inflight.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => break,
        };
        let next = tokio::select! {
            _ = shutdown.cancelled() => break,
            n = reader.next() => n,
            _ = check.tick() => {
                let now = tokio::time::Instant::now();
                if reader.read_buffer().is_empty() && waiting_since != Some(opened) {
                    waiting_since = None;
                    continue;
                }
                let since = *waiting_since.get_or_insert(now);
                if now.duration_since(since) >= opts.frame_timeout {
                    warn!(%peer, timeout_ms = opts.frame_timeout.as_millis() as u64,
                          "no whole frame within the frame timeout; closing connection");
                    handle.peer_gone.cancel();
                    break;
                }
                continue;
            }
        };
        waiting_since = None;
        let frame = match next {
            None => {
                handle.peer_gone.cancel();
                break;
            }
            Some(Ok(f)) => f,
            Some(Err(e)) => {
                warn!(%peer, error = %e, "bad frame; closing connection");
                handle.peer_gone.cancel();
                break;
            }
        };
        if frame.kind == FrameKind::Response {
            warn!(%peer, "unexpected response frame from a client; closing connection");
            handle.peer_gone.cancel();
            break;
        }
        let kib = (frame.encoded_len() / 1024 + 1).min(budget_kib) as u32;
        let bytes_permit = match inflight_bytes.clone().acquire_many_owned(kib).await {
            Ok(p) => p,
            Err(_) => break,
        };
        let handler = handler.clone();
        let tx = tx.clone();
        let conn = handle.clone();
        tasks.spawn(async move {
            let oneway = frame.kind == FrameKind::Oneway;
            let request_id = frame.request_id;
            let resp = handler
                .handle(Request {
                    code: frame.code,
                    header: frame.header,
                    body: frame.body,
                    peer,
                    conn,
                })
                .await;
            if !oneway {
                let _ = tx
                    .send(Frame {
                        kind: FrameKind::Response,
                        code: resp.code.as_u16(),
                        request_id,
                        header: resp.header,
                        body: resp.body,
                    })
                    .await;
            }
            drop(permit);
            drop(bytes_permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    // Let requests already read finish (a held pull is answered by the
    // broker's own shutdown), then close the socket.
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(opts.shutdown_grace, drain)
        .await
        .is_err()
    {
        tasks.abort_all();
    }
    drop(tx);
    drop(handle);
    // Handlers may keep `PeerHandle`s; the connection ends regardless.
    conn_done.cancel();
    let _ = write_task.await;
    debug!(%peer, "connection closed");
}
