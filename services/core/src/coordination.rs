//! Coordination between a run and whoever may stop it: the stop flag a run checks between
//! events. (Its registry by task id lives in the runtime; a shared store can carry flags
//! across instances behind the same type.)

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// The stop flag of one run.
#[derive(Debug, Default)]
pub struct StopFlag {
    stopped: AtomicBool,
    notify: Notify,
}

impl StopFlag {
    /// Raises the flag.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Whether the flag is up.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Completes once the flag is up.
    pub async fn stopped(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_stopped() {
                return;
            }
            notified.await;
        }
    }
}
