use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{Slot, SlotStore};
use crate::BoxFuture;

type Counts = Arc<Mutex<HashMap<String, u32>>>;

/// In-process slot counts (one instance).
#[derive(Debug, Default)]
pub struct MemorySlotStore {
    counts: Counts,
}

impl MemorySlotStore {
    /// No slot taken.
    pub fn new() -> Self {
        Self::default()
    }

    /// Slots of `key` currently held.
    pub fn held(&self, key: &str) -> u32 {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.get(key).copied().unwrap_or(0)
    }
}

struct Release {
    counts: Counts,
    key: String,
}

impl Drop for Release {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

impl SlotStore for MemorySlotStore {
    fn acquire<'a>(&'a self, key: &'a str, max: u32) -> BoxFuture<'a, Option<Slot>> {
        let slot = {
            let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
            let n = counts.entry(key.to_owned()).or_insert(0);
            if *n >= max {
                None
            } else {
                *n += 1;
                Some(Slot::new(Release {
                    counts: self.counts.clone(),
                    key: key.to_owned(),
                }))
            }
        };
        Box::pin(async move { slot })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn caps_and_releases() {
        let store = MemorySlotStore::new();
        let a = store.acquire("app", 2).await.unwrap();
        let _b = store.acquire("app", 2).await.unwrap();
        assert!(store.acquire("app", 2).await.is_none());
        assert!(store.acquire("other", 2).await.is_some());
        drop(a);
        assert_eq!(store.held("app"), 1);
        assert!(store.acquire("app", 2).await.is_some());
    }
}
