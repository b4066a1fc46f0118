//! The write half of a connection, shared by clients and servers.

use ferromq_protocol::{Frame, FrameCodec, FrameError};
use futures::SinkExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio_util::codec::FramedWrite;
use tokio_util::sync::CancellationToken;

/// Writes queued frames until the queue closes, `stop` is cancelled (then
/// what is already queued still goes out) or the socket fails. Frames that
/// are already queued go out in one flush, so many small responses share a
/// syscall under load.
pub(crate) async fn write_frames(
    wr: OwnedWriteHalf,
    codec: FrameCodec,
    mut rx: mpsc::Receiver<Frame>,
    stop: CancellationToken,
) -> Result<(), FrameError> {
    let mut writer = FramedWrite::new(wr, codec);
    loop {
        let frame = tokio::select! {
            f = rx.recv() => f,
            _ = stop.cancelled() => rx.try_recv().ok(),
        };
        let Some(frame) = frame else { break };
        writer.feed(frame).await?;
        let mut fed = 1;
        while let Ok(f) = rx.try_recv() {
            writer.feed(f).await?;
            fed += 1;
        }
        if fed == 1 {
            // Under load another response is usually a moment away (request
            // tasks finishing on other workers); one yield lets it join this
            // write instead of costing a syscall of its own.
            tokio::task::yield_now().await;
            while let Ok(f) = rx.try_recv() {
                writer.feed(f).await?;
            }
        }
        writer.flush().await?;
    }
    writer.close().await
}
