//! Live event streams of running workflow runs, by run id, so a second connection can
//! re-attach to a run and follow it from where it is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::broadcast;

/// Frames kept for a slow re-attached reader before it skips ahead.
pub const HUB_CAPACITY: usize = 1024;

/// The running runs' streams.
#[derive(Default)]
pub struct RunHub {
    runs: Mutex<HashMap<String, broadcast::Sender<Bytes>>>,
}

/// A run's place in the hub; dropping it ends the run's stream for every reader.
pub struct HubHandle {
    hub: Arc<RunHub>,
    run_id: String,
    tx: broadcast::Sender<Bytes>,
}

impl HubHandle {
    /// Publishes a frame to the re-attached readers.
    pub fn publish(&self, frame: &Bytes) {
        let _ = self.tx.send(frame.clone());
    }
}

impl Drop for HubHandle {
    fn drop(&mut self) {
        self.hub
            .runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.run_id);
    }
}

impl RunHub {
    /// Opens a run's stream.
    pub fn open(self: &Arc<Self>, run_id: &str) -> HubHandle {
        let (tx, _) = broadcast::channel(HUB_CAPACITY);
        self.runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(run_id.to_owned(), tx.clone());
        HubHandle {
            hub: self.clone(),
            run_id: run_id.to_owned(),
            tx,
        }
    }

    /// Follows a running run from now on.
    pub fn subscribe(&self, run_id: &str) -> Option<broadcast::Receiver<Bytes>> {
        self.runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(run_id)
            .map(|tx| tx.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readers_follow_until_the_run_ends() {
        let hub = Arc::new(RunHub::default());
        let handle = hub.open("r1");
        let mut rx = hub.subscribe("r1").unwrap();
        handle.publish(&Bytes::from_static(b"a"));
        assert_eq!(rx.recv().await.unwrap(), Bytes::from_static(b"a"));
        drop(handle);
        assert!(rx.recv().await.is_err());
        assert!(hub.subscribe("r1").is_none());
    }
}
