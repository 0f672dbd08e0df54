use std::sync::Arc;

use tower::Layer;

use super::{Auth, Authenticate, FailureThrottle};

/// Authenticates requests with `authenticator`; see the module docs.
#[derive(Clone)]
pub struct AuthLayer {
    authenticator: Arc<dyn Authenticate>,
    throttle: Option<Arc<FailureThrottle>>,
}

impl AuthLayer {
    /// A layer asking `authenticator` about presented tokens.
    pub fn new(authenticator: Arc<dyn Authenticate>) -> Self {
        AuthLayer {
            authenticator,
            throttle: None,
        }
    }

    /// Refuses client addresses whose credentials failed too often (see
    /// [`FailureThrottle`]).
    pub fn with_failure_throttle(mut self, throttle: FailureThrottle) -> Self {
        self.throttle = Some(Arc::new(throttle));
        self
    }
}

impl std::fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthLayer").finish_non_exhaustive()
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            authenticator: self.authenticator.clone(),
            throttle: self.throttle.clone(),
        }
    }
}
