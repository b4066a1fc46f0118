//! The server loop's protective limits, against a real listener: a cap on
//! connections per IP address, a deadline for a frame once started (and
//! for a new connection's first frame), and a cap on request bytes in
//! flight per connection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferromq_protocol::header::Empty;
use ferromq_protocol::{encode_header, ResponseCode};
use ferromq_remoting::{serve, Connection, Handler, Request, Response, ServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Answers every request with Success once a permit is free, counting the
/// requests it holds at once.
struct Gate {
    open: Semaphore,
    now: AtomicUsize,
    most: AtomicUsize,
}

impl Handler for Gate {
    async fn handle(&self, _req: Request) -> Response {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(n, Ordering::SeqCst);
        let _p = self.open.acquire().await.unwrap();
        self.now.fetch_sub(1, Ordering::SeqCst);
        Response::ok(&Empty {})
    }
}

async fn start(opts: ServerOptions, open: usize) -> (String, Arc<Gate>, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let gate = Arc::new(Gate {
        open: Semaphore::new(open),
        now: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
    });
    let stop = CancellationToken::new();
    tokio::spawn(serve(listener, gate.clone(), stop.clone(), opts));
    (addr, gate, stop)
}

async fn call(conn: &Connection, body: Bytes) -> ResponseCode {
    let f = conn
        .request(
            10,
            encode_header(&Empty {}).unwrap(),
            body,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    ResponseCode::from_u16(f.code).unwrap()
}

/// Whether the server closed `s` (EOF) within `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(within, s.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test]
async fn connections_beyond_the_per_address_cap_are_closed_and_a_freed_slot_is_reused() {
    let opts = ServerOptions {
        max_connections_per_ip: 3,
        ..ServerOptions::default()
    };
    let (addr, _gate, stop) = start(opts, 1_000).await;
    let mut conns = Vec::new();
    for _ in 0..3 {
        let c = Connection::connect(&addr, Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(call(&c, Bytes::new()).await, ResponseCode::Success);
        conns.push(c);
    }
    let mut fourth = TcpStream::connect(&addr).await.unwrap();
    assert!(
        closed_within(&mut fourth, Duration::from_secs(5)).await,
        "the fourth is closed"
    );
    // The three keep working.
    for c in &conns {
        assert_eq!(call(c, Bytes::new()).await, ResponseCode::Success);
    }
    // One ends: its slot is free again (once the server has seen it go).
    drop(conns.pop());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        if !closed_within(&mut s, Duration::from_millis(200)).await {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no slot freed");
    }
    stop.cancel();
}

#[tokio::test]
async fn a_frame_that_never_completes_and_a_silent_new_connection_are_closed() {
    let opts = ServerOptions {
        frame_timeout: Duration::from_millis(300),
        ..ServerOptions::default()
    };
    let (addr, _gate, stop) = start(opts, 1_000).await;
    // Half a length prefix, then nothing (slowloris).
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(&[0, 0]).await.unwrap();
    // Connected, never a byte.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    assert!(
        closed_within(&mut slow, Duration::from_secs(5)).await,
        "slow frame"
    );
    assert!(
        closed_within(&mut silent, Duration::from_secs(5)).await,
        "silent connection"
    );
    // A client idle between whole frames keeps its connection past the
    // timeout.
    let c = Connection::connect(&addr, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(call(&c, Bytes::new()).await, ResponseCode::Success);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(call(&c, Bytes::new()).await, ResponseCode::Success);
    stop.cancel();
}

#[tokio::test]
async fn request_bytes_in_flight_per_connection_are_capped() {
    let opts = ServerOptions {
        max_inflight_bytes_per_connection: 1 << 20,
        ..ServerOptions::default()
    };
    // The handler holds every request until released.
    let (addr, gate, stop) = start(opts, 0).await;
    let c = Arc::new(
        Connection::connect(&addr, Duration::from_secs(2))
            .await
            .unwrap(),
    );
    let body = Bytes::from(vec![7u8; 300 << 10]);
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let (c, body) = (c.clone(), body.clone());
            tokio::spawn(async move { call(&c, body).await })
        })
        .collect();
    // Three frames of ~300 KiB fit in 1 MiB; reading pauses at the fourth.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while gate.now.load(Ordering::SeqCst) < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "three requests never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gate.open.add_permits(1_000);
    for h in calls {
        assert_eq!(h.await.unwrap(), ResponseCode::Success);
    }
    assert_eq!(
        gate.most.load(Ordering::SeqCst),
        3,
        "at most three held at once"
    );
    stop.cancel();
}
