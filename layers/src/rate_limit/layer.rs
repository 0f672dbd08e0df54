use std::sync::Arc;

use tower::Layer;

use super::{Rate, RateCounter, RateLimit};

/// Limits each credential to a [`Rate`]; see the module docs.
#[derive(Clone)]
pub struct RateLimitLayer {
    rate: Rate,
    counter: Arc<dyn RateCounter>,
}

impl RateLimitLayer {
    /// A layer allowing `rate` per key, counted by `counter`.
    pub fn new(rate: Rate, counter: Arc<dyn RateCounter>) -> Self {
        RateLimitLayer { rate, counter }
    }
}

impl std::fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit {
            inner,
            rate: self.rate,
            counter: self.counter.clone(),
        }
    }
}
