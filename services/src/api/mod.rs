//! Handlers: bare tower services, one module per surface. Each surface lists its routes
//! ([`Route`]); the router in the root crate dispatches to them. A handler's `Err` travels up
//! the layer stack unchanged until the error layer maps it.

pub mod context;
pub mod datasets;
pub mod openapi;
pub mod request;
pub mod service_api;
pub mod system;

use std::future::Future;

use http::{Method, Request, Response};
use tower::util::BoxCloneSyncService;
use weir_layers::{Body, BoxError, RouteMeta};

use crate::state::AppState;

/// A handler: a boxed, cloneable tower service.
pub type Handler = BoxCloneSyncService<Request<Body>, Response<Body>, BoxError>;

/// The result of a handler body.
pub type HandlerResult = Result<Response<Body>, BoxError>;

/// One route: method, path template (matchit syntax, `{param}`), facts, handler.
#[derive(Clone)]
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Path template.
    pub path: &'static str,
    /// Auth and limits of the route.
    pub meta: RouteMeta,
    /// Path parameters that must be UUIDs (else the route does not match: 404).
    pub uuid_params: &'static [&'static str],
    /// The handler.
    pub handler: Handler,
}

impl Route {
    /// A route.
    pub fn new(method: Method, path: &'static str, meta: RouteMeta, handler: Handler) -> Self {
        Route {
            method,
            path,
            meta,
            uuid_params: &[],
            handler,
        }
    }

    /// Declares path parameters that must be UUIDs.
    pub fn uuids(mut self, params: &'static [&'static str]) -> Self {
        self.uuid_params = params;
        self
    }
}

/// Makes a handler from an async function of the state and the request.
pub fn handler<F, Fut>(state: &AppState, f: F) -> Handler
where
    F: Fn(AppState, Request<Body>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = HandlerResult> + Send + 'static,
{
    let state = state.clone();
    BoxCloneSyncService::new(tower::service_fn(move |req| f(state.clone(), req)))
}

/// Every route weir serves.
pub fn routes(state: &AppState) -> Vec<Route> {
    let mut routes = system::routes(state);
    routes.extend(service_api::routes(state));
    routes.extend(openapi::routes(state));
    routes.extend(datasets::routes(state));
    routes
}
