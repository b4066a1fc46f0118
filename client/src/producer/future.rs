//! [`SendFuture`]: a send already running in the background.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::task::JoinHandle;

use super::SendResult;
use crate::error::{ClientError, Result};

/// The outcome of [`super::Producer::send_async`]. The send runs on its own
/// Tokio task from the moment `send_async` returns; awaiting this only
/// collects the result. Dropping it does **not** cancel the send.
#[derive(Debug)]
#[must_use = "the send runs anyway; await the future to learn its result"]
pub struct SendFuture {
    handle: JoinHandle<Result<SendResult>>,
}

impl SendFuture {
    pub(crate) fn spawn(fut: impl Future<Output = Result<SendResult>> + Send + 'static) -> Self {
        Self {
            handle: tokio::spawn(fut),
        }
    }

    /// Whether the send has finished.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

impl Future for SendFuture {
    type Output = Result<SendResult>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.handle).poll(cx).map(|joined| {
            joined.unwrap_or_else(|e| {
                Err(if e.is_cancelled() {
                    // Only happens when the runtime shuts down.
                    ClientError::Shutdown
                } else {
                    ClientError::Internal(format!("send task panicked: {e}"))
                })
            })
        })
    }
}
