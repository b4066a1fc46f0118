//! A client connection: one TCP stream, many requests in flight.
//!
//! A peer that is hung — the process stopped, or a connection left half-open
//! by a network partition — keeps the stream open but answers nothing; no
//! read error ever comes. So a connection counts its requests that time out
//! in a row, and closes itself once a limit is reached
//! ([`Connection::set_close_after_timeouts`]; the client sets it from
//! the client SDK's `close_after_timeouts` setting). Any frame received from
//! the peer resets the count: a slow peer that still answers is alive.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferromq_protocol::header::ErrorHeader;
use ferromq_protocol::{
    decode_header, encode_header, Frame, FrameCodec, FrameKind, ResponseCode, Rpc,
};
use futures::StreamExt;
use parking_lot::Mutex;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::error::{RemotingError, Result};

/// Frames queued for the writer task. Bounded so a caller that outpaces the
/// socket waits instead of growing memory.
const WRITE_QUEUE: usize = 1024;

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Frame>>>>;

/// Ids of connections, unique within the process.
static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

/// Called with each request a server sends on its own (broker notifications
/// such as "group membership changed"). Runs on the connection's reader
/// task, so it must not block: hand the frame to a channel.
pub type PushHandler = Arc<dyn Fn(Frame) + Send + Sync>;

/// A multiplexed connection to one server. Cheap to clone; closed when the
/// last clone is dropped or the peer goes away.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

struct Inner {
    addr: String,
    /// Process-unique id, for diagnostics.
    id: u64,
    next_id: AtomicU64,
    /// Requests waiting for their response, by request id. Shared with the
    /// reader task, which completes them; a plain mutex since it is never
    /// held across an await.
    pending: Pending,
    /// Into the writer task, which owns the socket's write half.
    tx: mpsc::Sender<Frame>,
    closed: Arc<AtomicBool>,
    /// Receiver of server-initiated requests; set once by the client layer.
    push: Arc<Mutex<Option<PushHandler>>>,
    /// Requests timed out in a row since a frame was last received; the
    /// reader task resets it on every frame.
    timeouts: Arc<AtomicU32>,
    /// Close after this many timeouts in a row; 0: never.
    close_after: AtomicU32,
    /// Cancelled to close the connection from this side: ends the reader
    /// and writer tasks, which drops the socket.
    kill: CancellationToken,
}

/// A typed response.
#[derive(Debug)]
pub struct Reply<T> {
    /// Response code (one with a typed header).
    pub code: ResponseCode,
    /// Decoded response header.
    pub header: T,
    /// Response body.
    pub body: Bytes,
}

impl Connection {
    /// Dials `addr` (`host:port`).
    ///
    /// # Errors
    /// [`RemotingError::Connect`] if the dial fails or times out.
    pub async fn connect(addr: &str, timeout: Duration) -> Result<Self> {
        let connect_err = |source| RemotingError::Connect {
            addr: addr.to_string(),
            source,
        };
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| connect_err(std::io::ErrorKind::TimedOut.into()))?
            .map_err(connect_err)?;
        stream.set_nodelay(true).map_err(connect_err)?;
        let (rd, wr) = stream.into_split();
        let pending: Pending = Arc::default();
        let closed = Arc::new(AtomicBool::new(false));
        let timeouts = Arc::new(AtomicU32::new(0));
        let kill = CancellationToken::new();
        let (tx, rx) = mpsc::channel::<Frame>(WRITE_QUEUE);

        let w_closed = closed.clone();
        let w_kill = kill.clone();
        tokio::spawn(async move {
            let write = crate::writer::write_frames(
                wr,
                FrameCodec::default(),
                rx,
                CancellationToken::new(),
            );
            // Closed from this side: drop what is queued (a hung peer may
            // never take it) along with the socket.
            tokio::select! {
                _ = write => {}
                _ = w_kill.cancelled() => {}
            }
            w_closed.store(true, Ordering::SeqCst);
        });

        let mut reader = FramedRead::new(rd, FrameCodec::default());
        let r_pending = pending.clone();
        let r_closed = closed.clone();
        let r_addr = addr.to_string();
        let push: Arc<Mutex<Option<PushHandler>>> = Arc::default();
        let r_push = push.clone();
        let r_timeouts = timeouts.clone();
        let r_kill = kill.clone();
        tokio::spawn(async move {
            loop {
                let item = tokio::select! {
                    item = reader.next() => item,
                    _ = r_kill.cancelled() => break,
                };
                let Some(item) = item else { break };
                if item.is_ok() {
                    // The peer is alive, whatever the frame is (a late
                    // answer, a notification).
                    r_timeouts.store(0, Ordering::Relaxed);
                }
                match item {
                    Ok(frame) if frame.kind == FrameKind::Response => {
                        if let Some(tx) = r_pending.lock().remove(&frame.request_id) {
                            let _ = tx.send(frame);
                        }
                    }
                    Ok(frame) => {
                        let handler = r_push.lock().clone();
                        match handler {
                            Some(h) => h(frame),
                            None => {
                                debug!(addr = %r_addr, code = frame.code, "no handler for a request from the server")
                            }
                        }
                    }
                    Err(e) => {
                        debug!(addr = %r_addr, error = %e, "connection read failed");
                        break;
                    }
                }
            }
            r_closed.store(true, Ordering::SeqCst);
            // Dropping the senders fails every waiting call with ConnectionClosed.
            r_pending.lock().clear();
        });

        Ok(Self {
            inner: Arc::new(Inner {
                addr: addr.to_string(),
                id: NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed),
                next_id: AtomicU64::new(1),
                pending,
                tx,
                closed,
                push,
                timeouts,
                close_after: AtomicU32::new(0),
                kill,
            }),
        })
    }

    /// Closes this connection once `n` requests on it in a row have timed
    /// out with no frame at all received from the peer since the first of
    /// them; 0 (the default of a connection made by [`Self::connect`])
    /// never closes it for timeouts. Then the calls still in flight fail
    /// with [`RemotingError::ConnectionClosed`] and [`Self::is_closed`] holds,
    /// so a pool holding the connection dials again.
    ///
    /// Only requests with a response and a timeout count: oneway requests
    /// and the peer's own requests (notifications) never do. A long-polling
    /// pull counts like any request, which is right as long as its timeout
    /// is longer than its hold: the pull consumers use the hold plus the
    /// request timeout (`consumer/pull.rs`), so a pull the broker held for
    /// its whole time and then answered never times out, and one that does
    /// time out got no answer a request timeout after the hold had ended —
    /// as much a sign of a hung peer as any other timeout.
    pub fn set_close_after_timeouts(&self, n: u32) {
        self.inner.close_after.store(n, Ordering::Relaxed);
    }

    /// Process-unique id of this connection (diagnostics: a new dial to
    /// the same address gets a new id).
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// Sets the receiver of requests the server sends on its own.
    pub fn set_push_handler(&self, handler: PushHandler) {
        *self.inner.push.lock() = Some(handler);
    }

    /// The address this connection was dialled to.
    pub fn addr(&self) -> &str {
        &self.inner.addr
    }

    /// Whether the connection is known to be broken.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst) || self.inner.tx.is_closed()
    }

    /// A request timed out: counts it, and closes the connection if that
    /// makes too many in a row.
    fn timed_out(&self) {
        let limit = self.inner.close_after.load(Ordering::Relaxed);
        if limit == 0 {
            return;
        }
        let n = self.inner.timeouts.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= limit && !self.inner.closed.swap(true, Ordering::SeqCst) {
            warn!(
                addr = %self.inner.addr,
                timeouts = n,
                "{n} requests in a row timed out with nothing received; closing the connection"
            );
            self.inner.kill.cancel();
            // Dropping the senders fails the calls in flight with
            // ConnectionClosed.
            self.inner.pending.lock().clear();
        }
    }

    /// Sends a raw request and waits for its response frame.
    ///
    /// # Errors
    /// [`RemotingError::Timeout`] or [`RemotingError::ConnectionClosed`].
    pub async fn request(
        &self,
        code: u16,
        header: Bytes,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Frame> {
        self.request_until(code, header, body, Instant::now() + timeout, timeout)
            .await
    }

    /// [`Self::request`] ending at `deadline`; `timeout` is what the error
    /// reports.
    async fn request_until(
        &self,
        code: u16,
        header: Bytes,
        body: Bytes,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Frame> {
        let closed = || RemotingError::ConnectionClosed(self.inner.addr.clone());
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.inner.pending.lock().insert(id, tx);
        // Closing marks the connection closed, then clears `pending`: a
        // request inserted after that clear sees the mark here instead of
        // waiting for its timeout.
        if self.inner.closed.load(Ordering::SeqCst) {
            self.inner.pending.lock().remove(&id);
            return Err(closed());
        }
        let frame = Frame {
            kind: FrameKind::Request,
            code,
            request_id: id,
            header,
            body,
        };
        let result = tokio::time::timeout_at(deadline, async {
            self.inner.tx.send(frame).await.map_err(|_| closed())?;
            rx.await.map_err(|_| closed())
        })
        .await;
        match result {
            Ok(r) => r,
            Err(_) => {
                self.inner.pending.lock().remove(&id);
                self.timed_out();
                Err(RemotingError::Timeout {
                    addr: self.inner.addr.clone(),
                    millis: timeout.as_millis(),
                })
            }
        }
    }

    /// Sends a typed request and decodes the typed response. Error codes
    /// become [`RemotingError::Server`].
    ///
    /// # Errors
    /// Transport errors, undecodable headers, or the server's error.
    pub async fn call<R: Rpc>(
        &self,
        req: &R,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Reply<R::Response>> {
        self.call_until(req, body, Instant::now() + timeout, timeout)
            .await
    }

    /// [`Self::call`] ending at `deadline`; `timeout` is what a timeout
    /// error reports. For callers that spent part of the time already
    /// (dialling), so that the timeout that ends the call is this
    /// connection's own, and counts (see [`Self::set_close_after_timeouts`]).
    pub async fn call_until<R: Rpc>(
        &self,
        req: &R,
        body: Bytes,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Reply<R::Response>> {
        let header = encode_header(req)?;
        let frame = self
            .request_until(R::CODE.as_u16(), header, body, deadline, timeout)
            .await?;
        self.decode_reply::<R::Response>(frame)
    }

    fn decode_reply<T: serde::de::DeserializeOwned>(&self, frame: Frame) -> Result<Reply<T>> {
        let Some(code) = ResponseCode::from_u16(frame.code) else {
            return Err(RemotingError::UnknownResponseCode {
                addr: self.inner.addr.clone(),
                code: frame.code,
            });
        };
        if !code.has_typed_header() {
            let message = decode_header::<ErrorHeader>(&frame.header)
                .map(|h| h.message)
                .unwrap_or_else(|_| "(no message)".to_string());
            return Err(RemotingError::Server {
                addr: self.inner.addr.clone(),
                code,
                message,
            });
        }
        Ok(Reply {
            code,
            header: decode_header(&frame.header)?,
            body: frame.body,
        })
    }

    /// Sends a request that gets no response.
    ///
    /// # Errors
    /// [`RemotingError::ConnectionClosed`] if the connection is gone.
    pub async fn oneway<R: Rpc>(&self, req: &R, body: Bytes) -> Result<()> {
        let frame = Frame {
            kind: FrameKind::Oneway,
            code: R::CODE.as_u16(),
            request_id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            header: encode_header(req)?,
            body,
        };
        self.inner
            .tx
            .send(frame)
            .await
            .map_err(|_| RemotingError::ConnectionClosed(self.inner.addr.clone()))
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.inner.addr)
            .field("id", &self.inner.id)
            .finish()
    }
}
