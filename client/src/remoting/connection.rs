//! A client connection: one TCP stream, many requests in flight.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::error::{ClientError, Result};

/// Frames queued for the writer task. Bounded so a caller that outpaces the
/// socket waits instead of growing memory.
const WRITE_QUEUE: usize = 1024;

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Frame>>>>;

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
    /// [`ClientError::Connect`] if the dial fails or times out.
    pub async fn connect(addr: &str, timeout: Duration) -> Result<Self> {
        let connect_err = |source| ClientError::Connect {
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
        let (tx, rx) = mpsc::channel::<Frame>(WRITE_QUEUE);

        let w_closed = closed.clone();
        tokio::spawn(async move {
            let _ = super::writer::write_frames(
                wr,
                FrameCodec::default(),
                rx,
                CancellationToken::new(),
            )
            .await;
            w_closed.store(true, Ordering::Release);
        });

        let mut reader = FramedRead::new(rd, FrameCodec::default());
        let r_pending = pending.clone();
        let r_closed = closed.clone();
        let r_addr = addr.to_string();
        let push: Arc<Mutex<Option<PushHandler>>> = Arc::default();
        let r_push = push.clone();
        tokio::spawn(async move {
            while let Some(item) = reader.next().await {
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
            r_closed.store(true, Ordering::Release);
            // Dropping the senders fails every waiting call with ConnectionClosed.
            r_pending.lock().clear();
        });

        Ok(Self {
            inner: Arc::new(Inner {
                addr: addr.to_string(),
                next_id: AtomicU64::new(1),
                pending,
                tx,
                closed,
                push,
            }),
        })
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
        self.inner.closed.load(Ordering::Acquire) || self.inner.tx.is_closed()
    }

    /// Sends a raw request and waits for its response frame.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] or [`ClientError::ConnectionClosed`].
    pub async fn request(
        &self,
        code: u16,
        header: Bytes,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Frame> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.inner.pending.lock().insert(id, tx);
        let frame = Frame {
            kind: FrameKind::Request,
            code,
            request_id: id,
            header,
            body,
        };
        let closed = || ClientError::ConnectionClosed(self.inner.addr.clone());
        let result = tokio::time::timeout(timeout, async {
            self.inner.tx.send(frame).await.map_err(|_| closed())?;
            rx.await.map_err(|_| closed())
        })
        .await;
        match result {
            Ok(r) => r,
            Err(_) => {
                self.inner.pending.lock().remove(&id);
                Err(ClientError::Timeout {
                    addr: self.inner.addr.clone(),
                    millis: timeout.as_millis(),
                })
            }
        }
    }

    /// Sends a typed request and decodes the typed response. Error codes
    /// become [`ClientError::Server`].
    ///
    /// # Errors
    /// Transport errors, undecodable headers, or the server's error.
    pub async fn call<R: Rpc>(
        &self,
        req: &R,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Reply<R::Response>> {
        let header = encode_header(req)?;
        let frame = self
            .request(R::CODE.as_u16(), header, body, timeout)
            .await?;
        self.decode_reply::<R::Response>(frame)
    }

    fn decode_reply<T: serde::de::DeserializeOwned>(&self, frame: Frame) -> Result<Reply<T>> {
        let Some(code) = ResponseCode::from_u16(frame.code) else {
            return Err(ClientError::UnknownResponseCode {
                addr: self.inner.addr.clone(),
                code: frame.code,
            });
        };
        if !code.has_typed_header() {
            let message = decode_header::<ErrorHeader>(&frame.header)
                .map(|h| h.message)
                .unwrap_or_else(|_| "(no message)".to_string());
            return Err(ClientError::Server {
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
    /// [`ClientError::ConnectionClosed`] if the connection is gone.
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
            .map_err(|_| ClientError::ConnectionClosed(self.inner.addr.clone()))
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.inner.addr)
            .finish()
    }
}
