//! The state every handler gets: the runtime (reached through `Deref`, so handlers call
//! `state.store()`, `state.app(id)` and so on), and what only the HTTP side has — the
//! metrics registry and the authenticator of the auth layer.

use std::sync::Arc;

use weir_layers::metrics::Metrics;
use weir_runtime::Runtime;

use crate::credentials::Authenticator;
use crate::settings::Settings;
use crate::store::Store;

pub use weir_runtime::service::{DEFAULT_USER, SERVICE_API_USER};

/// Shared state (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    runtime: Arc<Runtime>,
    metrics: Metrics,
    authenticator: Arc<Authenticator>,
}

/// Model-call latencies go to the metrics registry.
struct UpstreamLatency(Metrics);

impl weir_core::model::UpstreamMetrics for UpstreamLatency {
    fn observe_upstream(&self, provider: &str, seconds: f64) {
        self.0.observe_upstream(provider, seconds);
    }
}

impl AppState {
    /// State over an opened store.
    pub fn new(store: Store, settings: Settings, metrics: Metrics) -> Self {
        let token_rate = settings
            .limits
            .openapi_rate_limit_per_token
            .parse()
            .unwrap_or(weir_layers::rate_limit::Rate::new(
                60,
                std::time::Duration::from_secs(60),
            ));
        let runtime = Runtime::new(
            store.clone(),
            settings,
            Arc::new(UpstreamLatency(metrics.clone())),
            crate::error::describe,
        );
        let authenticator = Authenticator::new(store, runtime.tokens().clone(), token_rate);
        AppState {
            runtime,
            metrics,
            authenticator,
        }
    }

    /// The runtime (for calls that keep it beyond the request).
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The authenticator of the auth layer.
    pub fn authenticator(&self) -> Arc<Authenticator> {
        self.authenticator.clone()
    }

    /// The key that signs file URLs.
    pub fn file_secret(&self) -> &[u8] {
        self.runtime.secret_key()
    }

    /// Opens an SSE stream with the configured keep-alive interval.
    pub fn event_channel(
        &self,
        surface: weir_layers::Surface,
    ) -> (crate::events::EventSender, weir_layers::Body) {
        let ping = std::time::Duration::from_secs(self.settings().limits.ping_interval_s.max(1));
        crate::events::channel_with_ping(surface, ping)
    }
}

impl std::ops::Deref for AppState {
    type Target = Runtime;

    fn deref(&self) -> &Runtime {
        &self.runtime
    }
}
