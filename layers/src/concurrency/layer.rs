use std::sync::Arc;

use tower::Layer;

use super::{AppConcurrency, SlotStore};

/// Caps running generations per app at `max`; see the module docs.
#[derive(Clone)]
pub struct AppConcurrencyLayer {
    max: u32,
    store: Arc<dyn SlotStore>,
}

impl AppConcurrencyLayer {
    /// A cap of `max` per app (0 = unlimited), counted in `store`.
    pub fn new(max: u32, store: Arc<dyn SlotStore>) -> Self {
        AppConcurrencyLayer { max, store }
    }
}

impl std::fmt::Debug for AppConcurrencyLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppConcurrencyLayer")
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for AppConcurrencyLayer {
    type Service = AppConcurrency<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AppConcurrency {
            inner,
            max: self.max,
            store: self.store.clone(),
        }
    }
}
