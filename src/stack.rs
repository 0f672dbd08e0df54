//! The layer stack, built from config: the built-in layers in the order `[layers] order`
//! names them (outermost first; a layer left out is dropped), plus any layer an operator adds
//! by using weir as a library ([`Stack::layer`], [`Stack::insert_after`]).
//!
//! The default order is one static type, composed with `ServiceBuilder` and erased once at
//! the end. Only an order of the operator's own (or an added layer) takes the dynamic path,
//! where every layer wraps the one erased service type [`HttpService`]. Either way the
//! configuration is checked at startup: an unknown or repeated layer name is an error that
//! names it.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use weir_api::AppState;
use weir_layers::auth::{AuthLayer, FailureThrottle};
use weir_layers::body_limit::BodyLimitLayer;
use weir_layers::catch_panic::CatchPanicLayer;
use weir_layers::concurrency::AppConcurrencyLayer;
use weir_layers::errors::ErrorMapLayer;
use weir_layers::metrics::MetricsLayer;
use weir_layers::rate_limit::{Rate, RateLimitLayer};
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

/// One named layer of a dynamic stack.
#[derive(Clone)]
struct Named {
    name: String,
    apply: ApplyFn,
}

/// The built-in layers, configured.
#[derive(Clone)]
struct Builtins {
    request_id: RequestIdLayer,
    trace: TraceLayer,
    metrics: MetricsLayer,
    catch_panic: CatchPanicLayer,
    errors: ErrorMapLayer,
    cors: weir_layers::cors::CorsLayer,
    version_gate: VersionGateLayer,
    body_limit: BodyLimitLayer,
    timeout: TimeoutLayer,
    auth: AuthLayer,
    rate_limit: RateLimitLayer,
    app_concurrency: AppConcurrencyLayer,
}

/// The two shapes of a stack.
#[derive(Clone)]
enum Shape {
    /// The default order: one static composition.
    Default(Box<Builtins>),
    /// An order of the operator's own, or added layers: one erased service per layer.
    Dynamic(Vec<Named>),
}

/// An ordered list of layers, outermost first.
#[derive(Clone)]
pub struct Stack {
    shape: Shape,
}

impl Default for Stack {
    fn default() -> Self {
        Stack {
            shape: Shape::Dynamic(Vec::new()),
        }
    }
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
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

impl Builtins {
    fn new(config: &Config, state: &AppState) -> Result<Builtins, ConfigError> {
        use weir_api::openapi::client_gate as gate;
        let limits = &config.services.limits;
        let rate: Rate = limits
            .rate_limit_per_key
            .parse()
            .map_err(|e| ConfigError::Invalid(format!("limits.rate_limit_per_key: {e}")))?;
        Ok(Builtins {
            request_id: RequestIdLayer::new(),
            trace: TraceLayer::new(),
            metrics: MetricsLayer::new(state.metrics().clone()),
            catch_panic: CatchPanicLayer::new(),
            errors: ErrorMapLayer::new(weir_api::error::translate),
            cors: weir_layers::cors::CorsLayer::new(&config.services.browser_origins()),
            version_gate: VersionGateLayer::new(
                gate::PREFIX,
                gate::CLIENT,
                gate::MIN_VERSION,
                gate::HINT,
                &gate::EXEMPT,
            ),
            body_limit: BodyLimitLayer::new(limits.body_bytes),
            timeout: TimeoutLayer::new(Duration::from_secs(limits.request_timeout_s)),
            auth: AuthLayer::new(state.authenticator()).with_failure_throttle(
                FailureThrottle::new(limits.auth_failures_per_minute, Duration::from_secs(60)),
            ),
            rate_limit: RateLimitLayer::new(rate, state.shared().rates.clone()),
            app_concurrency: AppConcurrencyLayer::new(
                limits.app_max_active_requests,
                state.shared().slots.clone(),
            ),
        })
    }

    /// The layer of this name, erased.
    fn named(&self, name: &str) -> Option<Named> {
        let apply = match name {
            "request_id" => erase(self.request_id),
            "trace" => erase(self.trace),
            "metrics" => erase(self.metrics.clone()),
            "catch_panic" => erase(self.catch_panic),
            "errors" => erase(self.errors),
            "cors" => erase(self.cors.clone()),
            "version_gate" => erase(self.version_gate.clone()),
            "body_limit" => erase(self.body_limit),
            "timeout" => erase(self.timeout),
            "auth" => erase(self.auth.clone()),
            "rate_limit" => erase(self.rate_limit.clone()),
            "app_concurrency" => erase(self.app_concurrency.clone()),
            _ => return None,
        };
        Some(Named {
            name: name.to_owned(),
            apply,
        })
    }

    /// The default order as one static composition, erased once.
    fn wrap(&self, inner: HttpService) -> HttpService {
        let svc = ServiceBuilder::new()
            .layer(self.request_id)
            .layer(self.trace)
            .layer(self.metrics.clone())
            .layer(self.catch_panic)
            .layer(self.errors)
            .layer(self.cors.clone())
            .layer(self.version_gate.clone())
            .layer(self.body_limit)
            .layer(self.timeout)
            .layer(self.auth.clone())
            .layer(self.rate_limit.clone())
            // The error layer (outside) takes one body type: box the concurrency guard's.
            .map_response(|res: Response<_>| res.map(body::boxed))
            .layer(self.app_concurrency.clone())
            .service(inner);
        BoxCloneSyncService::new(svc.map_response(|res: Response<_>| res.map(body::boxed)))
    }
}

impl Stack {
    /// An empty stack.
    pub fn new() -> Self {
        Self::default()
    }

    /// The built-in layers in the configured order.
    pub fn from_config(config: &Config, state: &AppState) -> Result<Stack, ConfigError> {
        let builtins = Builtins::new(config, state)?;
        let order = &config.layers.order;
        if order.iter().map(String::as_str).eq(DEFAULT_ORDER) {
            return Ok(Stack {
                shape: Shape::Default(Box::new(builtins)),
            });
        }
        let mut layers: Vec<Named> = Vec::new();
        for name in order {
            if layers.iter().any(|l| &l.name == name) {
                return Err(ConfigError::Invalid(format!("layer {name:?} listed twice")));
            }
            let named = builtins.named(name).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "unknown layer {name:?} in [layers] order (known: {})",
                    DEFAULT_ORDER.join(", ")
                ))
            })?;
            layers.push(named);
        }
        Ok(Stack {
            shape: Shape::Dynamic(layers),
        })
    }

    /// The layers as a dynamic list (an operator is adding one).
    fn into_list(self) -> Vec<Named> {
        match self.shape {
            Shape::Dynamic(list) => list,
            Shape::Default(b) => DEFAULT_ORDER
                .iter()
                .filter_map(|name| b.named(name))
                .collect(),
        }
    }

    /// Adds a layer innermost (just outside the router).
    pub fn layer<L, S, B, E>(self, name: &str, layer: L) -> Self
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
        let mut list = self.into_list();
        list.push(Named {
            name: name.to_owned(),
            apply: erase(layer),
        });
        Stack {
            shape: Shape::Dynamic(list),
        }
    }

    /// Adds a layer just inside the layer named `anchor` (innermost if it is absent).
    pub fn insert_after<L, S, B, E>(self, anchor: &str, name: &str, layer: L) -> Self
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
        let mut list = self.into_list();
        let at = list
            .iter()
            .position(|l| l.name == anchor)
            .map_or(list.len(), |i| i + 1);
        list.insert(
            at,
            Named {
                name: name.to_owned(),
                apply: erase(layer),
            },
        );
        Stack {
            shape: Shape::Dynamic(list),
        }
    }

    /// The layer names, outermost first.
    pub fn names(&self) -> Vec<&str> {
        match &self.shape {
            Shape::Default(_) => DEFAULT_ORDER.to_vec(),
            Shape::Dynamic(list) => list.iter().map(|l| l.name.as_str()).collect(),
        }
    }

    /// Whether this is the default order, composed statically.
    pub fn is_static(&self) -> bool {
        matches!(self.shape, Shape::Default(_))
    }

    /// Wraps `inner` in every layer (the first listed sees the request first).
    pub fn wrap(&self, inner: HttpService) -> HttpService {
        match &self.shape {
            Shape::Default(b) => b.wrap(inner),
            Shape::Dynamic(list) => list
                .iter()
                .rev()
                .fold(inner, |svc, layer| (layer.apply)(svc)),
        }
    }
}

/// A `ServiceBuilder`, re-exported for operators composing their own layers.
pub fn builder() -> ServiceBuilder<tower::layer::util::Identity> {
    ServiceBuilder::new()
}
