use tower::Layer;

use super::SetRequestId;

/// Stamps every request with a request id; see the module docs.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestIdLayer {
    _priv: (),
}

impl RequestIdLayer {
    /// A new request id layer.
    pub fn new() -> Self {
        RequestIdLayer { _priv: () }
    }
}

impl<S> Layer<S> for RequestIdLayer {
    type Service = SetRequestId<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SetRequestId { inner }
    }
}
