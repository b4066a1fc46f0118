//! The progress bar: drawn on stderr, and only when stderr is a terminal, so
//! scripts capturing output (or `--json` piped into `jq`) see nothing of it.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;

use super::args::Stop;
use super::tally::Live;

/// A bar fed from [`Live`] by a small task; finished on drop.
pub struct Progress {
    bar: Option<(ProgressBar, JoinHandle<()>)>,
}

impl Progress {
    /// Starts the bar if stderr is a terminal. Its length is the message
    /// count, or the seconds of a `--duration` run.
    pub fn start(stop: Stop, live: Arc<Live>) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self { bar: None };
        }
        let (len, template) = match (stop.count, stop.duration) {
            (Some(n), _) => (n, "{bar:40} {pos}/{len} msgs  {msg}"),
            (None, Some(d)) => (d.as_secs().max(1), "{bar:40} {pos}/{len} s  {msg}"),
            (None, None) => (0, "{spinner} {msg}"),
        };
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        let by_count = stop.count.is_some();
        let b = bar.clone();
        let ticker = tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                let msgs = live.messages.load(Ordering::Relaxed);
                let errors = live.errors.load(Ordering::Relaxed);
                let secs = started.elapsed().as_secs_f64().max(1e-3);
                b.set_position(if by_count { msgs } else { secs as u64 });
                b.set_message(format!(
                    "{msgs} msgs, {:.0} msgs/s, {errors} errors",
                    msgs as f64 / secs
                ));
            }
        });
        Self {
            bar: Some((bar, ticker)),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some((bar, ticker)) = self.bar.take() {
            ticker.abort();
            bar.finish_and_clear();
        }
    }
}
