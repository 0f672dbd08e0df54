//! The state every handler gets: the runtime (reached through `Deref`, so handlers call
//! `state.store()`, `state.app(id)` and so on), and what only the HTTP side has — the
//! metrics registry and the authenticator of the auth layer.

use std::sync::Weak;

use futures_util::StreamExt;
use std::sync::Arc;
use weir_core::blob::BlobStore;
use weir_core::coordination::{Coordination, Local, Notice};
use weir_layers::concurrency::{MemorySlotStore, SlotStore};
use weir_layers::rate_limit::{MemoryRateCounter, RateCounter};

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
    shared: Shared,
}

/// What instances share: coordination, rate windows and app slots — in memory for one
/// process ([`Shared::local`]), in Redis for several.
#[derive(Clone)]
pub struct Shared {
    /// Leases, notices, parked values, run logs.
    pub coord: Arc<dyn Coordination>,
    /// Rate windows (per key, per token).
    pub rates: Arc<dyn RateCounter>,
    /// App slots (`app_max_active_requests`).
    pub slots: Arc<dyn SlotStore>,
    /// Uploads' bytes; `None`: the data directory.
    pub blobs: Option<Arc<dyn BlobStore>>,
}

impl Shared {
    /// One process's own.
    pub fn local() -> Shared {
        Shared {
            coord: Local::new(),
            rates: Arc::new(MemoryRateCounter::new()),
            slots: Arc::new(MemorySlotStore::new()),
            blobs: None,
        }
    }
}

/// Drops cached credentials that another instance revoked.
async fn follow_revocations(coord: Arc<dyn Coordination>, authenticator: Weak<Authenticator>) {
    let mut notices = coord.notices();
    while let Some(notice) = notices.next().await {
        let Some(auth) = authenticator.upgrade() else {
            return;
        };
        match notice {
            Notice::Revoke { token_id: Some(id) } => auth.forget_token_id(&id),
            Notice::Revoke { token_id: None } => auth.forget_all(),
            Notice::Stop { .. } => {}
        }
    }
}

/// Model-call latencies go to the metrics registry.
struct UpstreamLatency(Metrics);

impl weir_core::model::UpstreamMetrics for UpstreamLatency {
    fn observe_upstream(&self, provider: &str, seconds: f64) {
        self.0.observe_upstream(provider, seconds);
    }
}

impl AppState {
    /// State over an opened store, for one process.
    pub fn new(store: Store, settings: Settings, metrics: Metrics) -> Self {
        Self::with_shared(store, settings, metrics, Shared::local())
    }

    /// State over an opened store, coordinating through `shared`.
    pub fn with_shared(store: Store, settings: Settings, metrics: Metrics, shared: Shared) -> Self {
        let token_rate = settings
            .limits
            .openapi_rate_limit_per_token
            .parse()
            .unwrap_or(weir_layers::rate_limit::Rate::new(
                60,
                std::time::Duration::from_secs(60),
            ));
        let blobs = shared
            .blobs
            .clone()
            .unwrap_or_else(|| Arc::new(crate::store::LocalBlobs::new(settings.data_dir.clone())));
        let runtime = Runtime::new(
            store.clone(),
            settings,
            Arc::new(UpstreamLatency(metrics.clone())),
            crate::error::describe,
            shared.coord.clone(),
            blobs,
        );
        let authenticator = Authenticator::new(
            store,
            runtime.tokens().clone(),
            token_rate,
            shared.rates.clone(),
        );
        if shared.coord.is_shared() {
            tokio::spawn(follow_revocations(
                shared.coord.clone(),
                Arc::downgrade(&authenticator),
            ));
        }
        AppState {
            runtime,
            metrics,
            authenticator,
            shared,
        }
    }

    /// What this instance shares with the others.
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Revokes a token at once here, and within a notice's flight on every instance.
    pub async fn revoke_token(&self, token_id: &str) {
        self.authenticator.forget_token_id(token_id);
        self.announce(Notice::Revoke {
            token_id: Some(token_id.to_owned()),
        })
        .await;
    }

    /// Drops every cached credential here and on every instance (a key deleted, an API
    /// switched off).
    pub async fn revoke_all(&self) {
        self.authenticator.forget_all();
        self.announce(Notice::Revoke { token_id: None }).await;
    }

    async fn announce(&self, notice: Notice) {
        if self.shared.coord.is_shared() {
            if let Err(e) = self.shared.coord.notify(&notice).await {
                // Other instances still drop the credential within their cache's TTL.
                tracing::error!(error = %e, "cannot tell the other instances of a revocation");
            }
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
