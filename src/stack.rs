//! The layer stack, built from config: the built-in layers in the order `[layers] order`
//! names them (outermost first; a layer left out is dropped), plus any layer an operator adds
//! by using weir as a library ([`Stack::layer`], [`Stack::insert_after`]).
//!
//! Every layer is applied to the one erased service type [`HttpService`], so the order can be
//! decided at run time.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use weir_api::AppState;
use weir_layers::auth::{AuthLayer, FailureThrottle};
use weir_layers::body_limit::BodyLimitLayer;
use weir_layers::catch_panic::CatchPanicLayer;
use weir_layers::concurrency::{AppConcurrencyLayer, MemorySlotStore};
use weir_layers::errors::ErrorMapLayer;
use weir_layers::metrics::MetricsLayer;
use weir_layers::rate_limit::{MemoryRateCounter, Rate, RateLimitLayer};
use weir_layers::request_id::RequestIdLayer;
use weir_layers::timeout::TimeoutLayer;
use weir_layers::trace::TraceLayer;
use weir_layers::version_gate::VersionGateLayer;
use weir_layers::{body, Body, BoxError};

use crate::config::{Config, ConfigError};

/// The service type every layer wraps and produces.
pub type HttpService = BoxCloneSyncService<Request<Body>, Response<Body>, BoxError>;

/// The default order, outermost first (docs/OPERATING.md).
pub const DEFAULT_ORDER: [&str; 12] = [
    "request_id",
    "trace",
    "metrics",
    "catch_panic",
    "errors",
    "cors",
    "version_gate",
    "body_limit",
    "timeout",
    "auth",
    "rate_limit",
    "app_concurrency",
];

type ApplyFn = Arc<dyn Fn(HttpService) -> HttpService + Send + Sync>;

/// One named layer of the stack.
#[derive(Clone)]
struct Named {
    name: String,
    apply: ApplyFn,
}

/// An ordered list of layers, outermost first.
#[derive(Clone, Default)]
pub struct Stack {
    layers: Vec<Named>,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.layers.iter().map(|l| &l.name))
            .finish()
    }
}

/// Erases any layer whose service speaks HTTP with a body we can box.
fn erase<L, S, B, E>(layer: L) -> ApplyFn
where
    L: Layer<HttpService, Service = S> + Send + Sync + 'static,
    S: Service<Request<Body>, Response = Response<B>, Error = E> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    E: Into<BoxError> + 'static,
{
    Arc::new(move |inner: HttpService| {
        let svc = layer
            .layer(inner)
            .map_response(|res: Response<B>| res.map(body::boxed))
            .map_err(Into::into);
        BoxCloneSyncService::new(svc)
    })
}

impl Stack {
    /// An empty stack.
    pub fn new() -> Self {
        Self::default()
    }

    /// The built-in layers in the configured order.
    pub fn from_config(config: &Config, state: &AppState) -> Result<Stack, ConfigError> {
        let mut stack = Stack::new();
        for name in &config.layers.order {
            let apply = builtin(name, config, state)?;
            if stack.layers.iter().any(|l| &l.name == name) {
                return Err(ConfigError::Invalid(format!("layer {name:?} listed twice")));
            }
            stack.layers.push(Named {
                name: name.clone(),
                apply,
            });
        }
        Ok(stack)
    }

    /// Adds a layer innermost (just outside the router).
    pub fn layer<L, S, B, E>(mut self, name: &str, layer: L) -> Self
    where
        L: Layer<HttpService, Service = S> + Send + Sync + 'static,
        S: Service<Request<Body>, Response = Response<B>, Error = E>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
        E: Into<BoxError> + 'static,
    {
        self.layers.push(Named {
            name: name.to_owned(),
            apply: erase(layer),
        });
        self
    }

    /// Adds a layer just inside the layer named `anchor` (innermost if it is absent).
    pub fn insert_after<L, S, B, E>(mut self, anchor: &str, name: &str, layer: L) -> Self
    where
        L: Layer<HttpService, Service = S> + Send + Sync + 'static,
        S: Service<Request<Body>, Response = Response<B>, Error = E>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
        E: Into<BoxError> + 'static,
    {
        let at = self
            .layers
            .iter()
            .position(|l| l.name == anchor)
            .map_or(self.layers.len(), |i| i + 1);
        self.layers.insert(
            at,
            Named {
                name: name.to_owned(),
                apply: erase(layer),
            },
        );
        self
    }

    /// The layer names, outermost first.
    pub fn names(&self) -> Vec<&str> {
        self.layers.iter().map(|l| l.name.as_str()).collect()
    }

    /// Wraps `inner` in every layer (the first listed sees the request first).
    pub fn wrap(&self, inner: HttpService) -> HttpService {
        self.layers
            .iter()
            .rev()
            .fold(inner, |svc, layer| (layer.apply)(svc))
    }
}

fn builtin(name: &str, config: &Config, state: &AppState) -> Result<ApplyFn, ConfigError> {
    let limits = &config.services.limits;
    Ok(match name {
        "request_id" => erase(RequestIdLayer::new()),
        "trace" => erase(TraceLayer::new()),
        "metrics" => erase(MetricsLayer::new(state.metrics().clone())),
        "catch_panic" => erase(CatchPanicLayer::new()),
        "errors" => erase(ErrorMapLayer::new(weir_api::error::translate)),
        "cors" => erase(weir_layers::cors::layer()),
        "version_gate" => {
            use weir_api::openapi::client_gate as gate;
            erase(VersionGateLayer::new(
                gate::PREFIX,
                gate::CLIENT,
                gate::MIN_VERSION,
                gate::HINT,
                &gate::EXEMPT,
            ))
        }
        "body_limit" => erase(BodyLimitLayer::new(limits.body_bytes)),
        "timeout" => erase(TimeoutLayer::new(Duration::from_secs(
            limits.request_timeout_s,
        ))),
        "auth" => erase(AuthLayer::new(state.authenticator()).with_failure_throttle(
            FailureThrottle::new(limits.auth_failures_per_minute, Duration::from_secs(60)),
        )),
        "rate_limit" => {
            let rate: Rate = limits
                .rate_limit_per_key
                .parse()
                .map_err(|e| ConfigError::Invalid(format!("limits.rate_limit_per_key: {e}")))?;
            erase(RateLimitLayer::new(
                rate,
                Arc::new(MemoryRateCounter::new()),
            ))
        }
        "app_concurrency" => erase(AppConcurrencyLayer::new(
            limits.app_max_active_requests,
            Arc::new(MemorySlotStore::new()),
        )),
        other => {
            return Err(ConfigError::Invalid(format!(
                "unknown layer {other:?} in [layers] order (known: {})",
                DEFAULT_ORDER.join(", ")
            )))
        }
    })
}

/// A `ServiceBuilder`, re-exported for operators composing their own layers.
pub fn builder() -> ServiceBuilder<tower::layer::util::Identity> {
    ServiceBuilder::new()
}
