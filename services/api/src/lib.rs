//! weir's api: the handlers of every surface — the Service API (`service_api`), the
//! knowledge API (`datasets`), `/openapi/v1` (`openapi`) and weir's own routes (`system`) —
//! as bare tower services ([`Route`]), the SSE stream writer ([`events`]), credentials and
//! the authenticator of the auth layer ([`credentials`]), and THE error table ([`error`]).
//! It is the only domain crate that knows HTTP; everything else it calls through
//! [`AppState`]'s runtime.
#![warn(missing_docs)]

pub mod console;
pub mod context;
pub mod credentials;
pub mod datasets;
pub mod error;
pub mod events;
pub mod imports;
pub mod openapi;
pub mod replay;
pub mod reply;
pub mod request;
pub mod service_api;
pub mod sessions;
pub mod state;
pub mod system;
pub mod web;

pub use state::AppState;
pub use weir_core::coordination;
pub use weir_core::error::ServiceError;
pub use weir_core::files;
pub use weir_core::settings::{self, Settings};
pub use weir_core::util;
pub use weir_engine as engine;
pub use weir_knowledge as knowledge;
pub use weir_net as net;
pub use weir_providers as providers;
pub use weir_runtime as runtime;
pub use weir_runtime::{apps, dsl, secrets, tools};
pub use weir_store as store;

/// The version weir reports (`/health`, `/v1/`, `/openapi/v1/_version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The Dify version whose API weir serves: `X-Version` on every response, and what the
/// console's update check compares.
pub const DIFY_VERSION: &str = "1.14.0";

use std::future::Future;

use http::{Method, Request, Response};
use tower::util::BoxCloneSyncService;
use weir_layers::{Body, BoxError, RouteMeta};

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
    routes.extend(console::routes(state));
    routes.extend(web::routes(state));
    routes
}
