//! The server loop shared by the NameServer and the broker.
//!
//! One task per connection reads frames and spawns one task per request, so
//! a long-held pull never blocks a send on the same connection; responses go
//! back through a bounded queue to the connection's writer task. Limits: a
//! connection cap (new connections wait for a slot) and a cap on requests in
//! flight per connection (reading pauses at the cap). A frame that fails to
//! decode closes its connection, since its boundaries can no longer be found;
//! other connections are untouched.

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
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_inflight_per_connection: 4096,
            max_frame_len: ferromq_protocol::DEFAULT_MAX_FRAME_LEN,
            shutdown_grace: Duration::from_secs(10),
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
                let handler = handler.clone();
                let shutdown = shutdown.clone();
                let opts = opts.clone();
                conns.spawn(async move {
                    serve_connection(stream, peer, handler, shutdown, opts).await;
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
    let mut tasks = JoinSet::new();
    loop {
        let permit = match inflight.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => break,
        };
        let next = tokio::select! {
            _ = shutdown.cancelled() => break,
            n = reader.next() => n,
        };
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
