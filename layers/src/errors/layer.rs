use tower::Layer;

use super::{ErrorMap, Translate};

/// Maps every `Err` to the contract's error response; see the module docs.
#[derive(Clone, Copy, Debug)]
pub struct ErrorMapLayer {
    translate: Translate,
}

impl ErrorMapLayer {
    /// A layer using `translate` as the domain's error table.
    pub fn new(translate: Translate) -> Self {
        ErrorMapLayer { translate }
    }
}

impl<S> Layer<S> for ErrorMapLayer {
    type Service = ErrorMap<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ErrorMap {
            inner,
            translate: self.translate,
        }
    }
}
