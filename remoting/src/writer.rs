//! The write half of a connection, shared by clients and servers.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use ferromq_protocol::{Frame, FrameCodec, FrameError};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Bodies at least this long are sent from their own buffer (a `writev`
/// entry of their own); shorter ones are copied next to their frame head,
/// where a copy costs less than another entry.
const BODY_BY_REFERENCE: usize = 4096;
/// Most buffers handed to one `writev`.
const MAX_SLICES: usize = 64;

/// Writes queued frames until the queue closes, `stop` is cancelled (then
/// what is already queued still goes out) or the socket fails. Frames that
/// are already queued go out in one flush, so many small responses share a
/// syscall under load. Large bodies (a send's records, a pull's messages)
/// are not copied: they go out from the buffer they arrived in.
pub(crate) async fn write_frames(
    mut wr: OwnedWriteHalf,
    mut codec: FrameCodec,
    mut rx: mpsc::Receiver<Frame>,
    stop: CancellationToken,
) -> Result<(), FrameError> {
    let mut out = Outgoing::default();
    loop {
        let frame = tokio::select! {
            f = rx.recv() => f,
            _ = stop.cancelled() => rx.try_recv().ok(),
        };
        let Some(frame) = frame else { break };
        out.push(&mut codec, frame)?;
        let mut fed = 1;
        while let Ok(f) = rx.try_recv() {
            out.push(&mut codec, f)?;
            fed += 1;
        }
        if fed == 1 {
            // Under load another response is usually a moment away (request
            // tasks finishing on other workers); one yield lets it join this
            // write instead of costing a syscall of its own.
            tokio::task::yield_now().await;
            while let Ok(f) = rx.try_recv() {
                out.push(&mut codec, f)?;
            }
        }
        out.write_all(&mut wr).await?;
    }
    wr.shutdown().await?;
    Ok(())
}

/// Encoded frames waiting for the socket: frame heads (and short bodies)
/// gathered in `pending`, long bodies queued as they are, in wire order.
#[derive(Default)]
struct Outgoing {
    chunks: VecDeque<Bytes>,
    pending: BytesMut,
}

impl Outgoing {
    fn push(&mut self, codec: &mut FrameCodec, frame: Frame) -> Result<(), FrameError> {
        codec.encode_head(&frame, &mut self.pending)?;
        if frame.body.len() < BODY_BY_REFERENCE {
            self.pending.put_slice(&frame.body);
        } else {
            self.chunks.push_back(self.pending.split().freeze());
            self.chunks.push_back(frame.body);
        }
        Ok(())
    }

    async fn write_all(&mut self, wr: &mut OwnedWriteHalf) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            self.chunks.push_back(self.pending.split().freeze());
        }
        while !self.chunks.is_empty() {
            let slices: Vec<IoSlice<'_>> = self
                .chunks
                .iter()
                .take(MAX_SLICES)
                .map(|c| IoSlice::new(c))
                .collect();
            let mut n = wr.write_vectored(&slices).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            while n > 0 {
                let Some(front) = self.chunks.front_mut() else {
                    break;
                };
                let k = n.min(front.len());
                front.advance(k);
                n -= k;
                if front.is_empty() {
                    self.chunks.pop_front();
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferromq_protocol::FrameKind;
    use futures::StreamExt;
    use tokio::net::{TcpListener, TcpStream};
    use tokio_util::codec::FramedRead;

    fn frame(id: u64, body_len: usize) -> Frame {
        Frame {
            kind: FrameKind::Request,
            code: 7,
            request_id: id,
            header: Bytes::from(format!("h{id}")),
            body: Bytes::from(
                (0..body_len)
                    .map(|i| (i as u64 * 31 + id) as u8)
                    .collect::<Vec<u8>>(),
            ),
        }
    }

    /// Frames with short and long bodies, more than one `writev` can take
    /// and more than the socket buffers hold, arrive whole and in order.
    #[tokio::test]
    async fn mixed_frames_arrive_whole_and_in_order() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (_, wr) = client.into_split();
        let (tx, rx) = mpsc::channel(1024);
        let sizes = [0, 10, 4095, 4096, 70_000, 1, 1 << 20, 5000];
        let frames: Vec<Frame> = (0..300u64)
            .map(|i| frame(i, sizes[i as usize % sizes.len()]))
            .collect();
        for f in &frames {
            tx.send(f.clone()).await.unwrap();
        }
        drop(tx);
        let writer = tokio::spawn(write_frames(
            wr,
            FrameCodec::default(),
            rx,
            CancellationToken::new(),
        ));
        let got: Vec<Frame> = FramedRead::new(server, FrameCodec::default())
            .map(|r| r.unwrap())
            .collect()
            .await;
        writer.await.unwrap().unwrap();
        assert_eq!(got.len(), frames.len());
        for (g, f) in got.iter().zip(&frames) {
            assert_eq!(g, f, "frame {}", f.request_id);
        }
    }
}
