//! A condition-variable wake-up for the store's threads. The state itself
//! lives in atomics; the mutex only orders "check, then sleep" against
//! "change, then notify" so no wake-up is lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

#[derive(Default)]
pub(crate) struct Signal {
    lock: Mutex<()>,
    cond: Condvar,
}

impl Signal {
    /// Wakes every waiter. Call after changing the state they check.
    pub(crate) fn notify(&self) {
        let _g = self.lock.lock();
        self.cond.notify_all();
    }

    /// Sleeps until `done()` holds or `timeout` passes; returns `done()`.
    pub(crate) fn wait_until(&self, timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut g = self.lock.lock();
        loop {
            if done() {
                return true;
            }
            if self.cond.wait_until(&mut g, deadline).timed_out() {
                return done();
            }
        }
    }
}

/// A background thread's wake-up and stop request. Others notify it (the
/// stage that has work for it, `stop`, a failure); only its thread waits.
#[derive(Default)]
pub(crate) struct Inbox {
    pub(crate) wake: Signal,
    /// Finish the work at hand, then exit.
    stop: AtomicBool,
}

impl Inbox {
    /// Asks the thread to finish and wakes it.
    pub(crate) fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake.notify();
    }

    pub(crate) fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn wakes_on_notify_and_times_out() {
        let s = Arc::new(Signal::default());
        let flag = Arc::new(AtomicBool::new(false));
        let (s2, f2) = (s.clone(), flag.clone());
        let t = std::thread::spawn(move || {
            f2.store(true, Ordering::SeqCst);
            s2.notify();
        });
        assert!(s.wait_until(Duration::from_secs(10), || flag.load(Ordering::SeqCst)));
        t.join().unwrap();
        assert!(!s.wait_until(Duration::from_millis(1), || false));
    }
}
