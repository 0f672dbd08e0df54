//! The server: opens the store, builds the router and the layer stack, and serves HTTP/1.1
//! and HTTP/2 with hyper until shutdown, then drains in-flight requests and streams within
//! the grace period.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::util::BoxCloneSyncService;
use tower::Service;
use weir_api::state::Shared;
use weir_api::store::Store;
use weir_api::AppState;
use weir_api::Route;
use weir_layers::metrics::Metrics;
use weir_layers::{body, Body, BoxError, HttpError, Surface};

use crate::config::{Config, StorageKind};
use crate::router::{Resolution, RouteIndex, Router};
use crate::stack::{HttpService, Stack};

/// A server failed to start or to serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The database is unavailable.
    #[error("database: {0}")]
    Store(#[from] weir_api::store::StoreError),
    /// The route table is invalid.
    #[error(transparent)]
    Route(#[from] crate::router::RouteError),
    /// Redis is unavailable.
    #[error("redis: {0}")]
    Redis(#[from] weir_api::coordination::CoordError),
    /// The blob store is unavailable.
    #[error("storage.s3: {0}")]
    Storage(String),
    /// The listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// What this instance shares: Redis when `redis_url` is set, else its own memory; the
/// bucket of `[storage]` when it names one, else the data directory.
async fn shared_of(config: &Config) -> Result<Shared, ServeError> {
    let mut shared = if config.redis_url.is_empty() {
        Shared::local()
    } else {
        let redis = weir_redis::Redis::connect(&config.redis_url, &config.redis_prefix).await?;
        Shared {
            coord: weir_redis::RedisCoordination::start(redis.clone()),
            rates: Arc::new(weir_redis::RedisRateCounter::new(redis.clone())),
            slots: Arc::new(weir_redis::RedisSlotStore::new(redis)),
            blobs: None,
        }
    };
    if config.storage.kind == StorageKind::S3 {
        let bucket = weir_s3::S3Blobs::new(&config.storage.s3)
            .map_err(|e| ServeError::Storage(e.to_string()))?;
        bucket
            .check()
            .await
            .map_err(|e| ServeError::Storage(e.to_string()))?;
        shared.blobs = Some(Arc::new(bucket));
    }
    Ok(shared)
}

/// Why a request matched no route, in request extensions for the dispatcher.
#[derive(Clone, Debug)]
enum Miss {
    NotFound,
    MethodNotAllowed(String),
}

/// The innermost service: calls the matched handler, or answers the routing miss.
#[derive(Clone)]
struct Dispatch {
    router: Arc<Router>,
}

impl Service<Request<Body>> for Dispatch {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        if let Some(index) = req.extensions().get::<RouteIndex>().copied() {
            let handler = self.router.handler(index);
            return Box::pin(tower::ServiceExt::oneshot(handler, req));
        }
        let err = match req.extensions().get::<Miss>() {
            Some(Miss::MethodNotAllowed(allow)) => HttpError::method_not_allowed(allow),
            _ => HttpError::route_not_found(),
        };
        Box::pin(async move { Err(err.into()) })
    }
}

/// The service hyper runs: matches the route, runs the stack, never fails.
#[derive(Clone)]
pub struct Root {
    router: Arc<Router>,
    stack: HttpService,
    peer: Option<SocketAddr>,
    env: http::HeaderValue,
}

impl Root {
    /// A root over a route table and a layer stack; `env` is sent as `X-Env`.
    fn new(router: Arc<Router>, stack: &Stack, env: &str) -> Root {
        let dispatch = BoxCloneSyncService::new(Dispatch {
            router: router.clone(),
        });
        Root {
            router,
            stack: stack.wrap(dispatch),
            peer: None,
            env: http::HeaderValue::from_str(env)
                .unwrap_or(http::HeaderValue::from_static("PRODUCTION")),
        }
    }

    /// The root of one connection from `peer`.
    fn for_peer(&self, peer: SocketAddr) -> Root {
        Root {
            peer: Some(peer),
            ..self.clone()
        }
    }
}

impl Service<Request<Incoming>> for Root {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let mut req = req.map(body::incoming);
        let surface = Surface::from_path(req.uri().path());
        req.extensions_mut().insert(surface);
        if let Some(peer) = self.peer {
            req.extensions_mut().insert(weir_layers::ClientAddr(peer));
        }
        match self.router.resolve(req.method(), req.uri().path()) {
            Resolution::Found(matched, index) => {
                req.extensions_mut().insert(matched);
                req.extensions_mut().insert(index);
            }
            Resolution::MethodNotAllowed(allow) => {
                req.extensions_mut().insert(Miss::MethodNotAllowed(allow));
            }
            Resolution::NotFound => {
                req.extensions_mut().insert(Miss::NotFound);
            }
        }
        let fut = tower::ServiceExt::oneshot(self.stack.clone(), req);
        let env = self.env.clone();
        // Whatever the operator dropped from the stack, an error never reaches hyper.
        Box::pin(futures_util::FutureExt::map(fut, move |out| {
            let mut res = out.unwrap_or_else(|err| last_resort(err, surface));
            if surface == Surface::OpenApi {
                forbid_framing(res.headers_mut());
            }
            // Every Dify response says which version and deployment answered.
            let headers = res.headers_mut();
            headers.insert(
                "x-version",
                http::HeaderValue::from_static(weir_api::DIFY_VERSION),
            );
            headers.insert("x-env", env);
            Ok(res)
        }))
    }
}

/// `/openapi/v1` answers may not be framed by other sites (set unless a layer set them).
fn forbid_framing(headers: &mut http::HeaderMap) {
    use http::header::{HeaderValue, CONTENT_SECURITY_POLICY, X_FRAME_OPTIONS};
    headers
        .entry(X_FRAME_OPTIONS)
        .or_insert(HeaderValue::from_static("DENY"));
    headers
        .entry(CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static("frame-ancestors 'none'"));
}

/// Maps an error that escaped the stack (e.g. its error layer was dropped).
fn last_resort(err: BoxError, surface: Surface) -> Response<Body> {
    weir_layers::errors::rescue_or_internal(&*err, weir_api::error::translate, surface, "")
        .into_response(surface)
}

/// A configured server, ready to bind.
pub struct Server {
    config: Config,
    state: AppState,
    stack: Stack,
    routes: Vec<Route>,
}

impl Server {
    /// Opens the store (running migrations) and prepares the default stack and routes.
    pub async fn new(config: Config) -> Result<Server, ServeError> {
        let store = Store::open_with(&config.database_url, &config.database).await?;
        let shared = shared_of(&config).await?;
        Self::with_store_shared(config, store, shared)
    }

    /// A server over an already opened store, alone (no Redis).
    pub fn with_store(config: Config, store: Store) -> Result<Server, ServeError> {
        Self::with_store_shared(config, store, Shared::local())
    }

    /// A server over an already opened store, coordinating through `shared`.
    pub fn with_store_shared(
        config: Config,
        store: Store,
        shared: Shared,
    ) -> Result<Server, ServeError> {
        std::fs::create_dir_all(&config.services.data_dir).ok();
        let state = AppState::with_shared(store, config.services.clone(), Metrics::new(), shared);
        let stack = Stack::from_config(&config, &state)?;
        let routes = weir_api::routes(&state);
        Ok(Server {
            config,
            state,
            stack,
            routes,
        })
    }

    /// The shared state (for operators adding routes).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Changes the layer stack (e.g. adds an operator's own layer).
    pub fn map_stack(mut self, f: impl FnOnce(Stack) -> Stack) -> Self {
        self.stack = f(self.stack);
        self
    }

    /// The layer stack.
    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    /// Adds routes of the operator's own.
    pub fn with_routes(mut self, routes: impl IntoIterator<Item = Route>) -> Self {
        self.routes.extend(routes);
        self
    }

    /// Binds the configured address.
    pub async fn bind(self) -> Result<Bound, ServeError> {
        // Secret variables that an earlier version stored in clear.
        match weir_api::apps::seal_stored_secrets(self.state.store(), self.state.secrets()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "sealed secret variables stored in clear"),
            Err(e) => tracing::error!(error = %e, "cannot seal stored secret variables"),
        }
        // Runs left running by an instance that stopped.
        weir_api::runtime::runlog::reap_orphans(self.state.runtime());
        let swept = weir_api::service_api::files::sweep_spool(&self.config.services.data_dir);
        if swept > 0 {
            tracing::info!(count = swept, "removed uploads abandoned mid-way");
        }
        // Deletion of old records, when a retention is configured.
        weir_api::runtime::retention::start(self.state.runtime());
        // Knowledge indexing workers, and documents a previous run left unfinished.
        if let Err(e) = weir_api::knowledge::indexer::start(self.state.knowledge().clone()).await {
            tracing::error!(error = %e, "the knowledge indexer did not start");
        }
        let listener = TcpListener::bind(&self.config.bind)
            .await
            .map_err(|source| ServeError::Bind {
                addr: self.config.bind.clone(),
                source,
            })?;
        let metrics = match self.config.metrics_bind.as_str() {
            "" => None,
            addr => Some(MetricsListener {
                listener: TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServeError::Bind {
                        addr: addr.to_owned(),
                        source,
                    })?,
                metrics: self.state.metrics().clone(),
            }),
        };
        let router = Arc::new(Router::new(self.routes)?);
        let root = Root::new(router, &self.stack, &self.config.services.deploy_env);
        Ok(Bound {
            listener,
            root,
            metrics,
            grace: Duration::from_secs(self.config.services.limits.shutdown_grace_s),
        })
    }
}

/// A bound server, not yet serving.
pub struct Bound {
    listener: TcpListener,
    root: Root,
    metrics: Option<MetricsListener>,
    grace: Duration,
}

/// The listener of `metrics_bind`: `GET /metrics` and `GET /health`, nothing else.
struct MetricsListener {
    listener: TcpListener,
    metrics: Metrics,
}

impl MetricsListener {
    fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until dropped (the task is aborted when the main server stops).
    async fn serve(self) {
        let metrics = self.metrics;
        loop {
            let Ok((stream, _)) = self.listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let metrics = metrics.clone();
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let res = match (req.method(), req.uri().path()) {
                    (&http::Method::GET, "/metrics") => {
                        weir_api::system::metrics_response(&metrics)
                    }
                    (&http::Method::GET, "/health") => body::json(
                        http::StatusCode::OK,
                        &serde_json::json!({"status": "ok", "version": weir_api::VERSION}),
                    ),
                    _ => HttpError::route_not_found().into_response(Surface::ServiceApi),
                };
                std::future::ready(Ok::<_, Infallible>(res))
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }
}

impl Bound {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// The address `/metrics` is served on, when `metrics_bind` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(MetricsListener::local_addr)
    }

    /// Serves until `shutdown` completes, then drains connections for up to the grace period.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let Bound {
            listener,
            root,
            metrics,
            grace,
        } = self;
        let metrics_task = metrics.map(|m| tokio::spawn(m.serve()));
        let graceful = GracefulShutdown::new();
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(hyper_util::rt::TokioTimer::new());
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut shutdown => break,
            };
            let (stream, peer) = match accepted {
                Ok(conn) => conn,
                Err(err) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let io = TokioIo::new(stream);
            let service = TowerToHyperService::new(root.for_peer(peer));
            let conn = builder.serve_connection(io, service).into_owned();
            let conn = graceful.watcher().watch(conn);
            tokio::spawn(async move {
                if let Err(err) = conn.await {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
            });
        }
        drop(listener);
        if let Some(task) = metrics_task {
            task.abort();
        }
        tracing::info!(
            grace_s = grace.as_secs(),
            "shutting down: draining connections"
        );
        tokio::select! {
            () = graceful.shutdown() => tracing::info!("all connections drained"),
            () = tokio::time::sleep(grace) => tracing::warn!("grace period over; closing remaining connections"),
        }
    }
}

/// Raises the soft limit of open files to the hard one: every connection and every
/// upstream stream holds a descriptor, and the usual soft default (1024) would cap a server
/// long before its memory does. Returns the limit now in force.
pub fn raise_open_files_limit() -> u64 {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return 0;
            }
            if lim.rlim_cur < lim.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: lim.rlim_max,
                    rlim_max: lim.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    lim = raised;
                }
            }
        }
        #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
        let limit = lim.rlim_cur as u64;
        limit
    }
    #[cfg(not(unix))]
    {
        0
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
