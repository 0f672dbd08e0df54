//! The shared state every handler gets: store, settings, metrics, authenticator, model
//! providers, tools, running tasks, and caches of apps and end users.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use weir_layers::metrics::Metrics;

use crate::credentials::Authenticator;
use crate::providers::Providers;
use crate::runtime::tasks::TaskRegistry;
use crate::runtime::{AppCache, LoadedApp};
use crate::settings::Settings;
use crate::store::{EndUserRow, Store, StoreError};
use crate::tools::ToolRegistry;

/// The session id of requests without a `user`.
pub const DEFAULT_USER: &str = "DEFAULT-USER";
/// The end-user type of Service API callers.
pub const SERVICE_API_USER: &str = "service-api";

/// Shared state (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    settings: Settings,
    metrics: Metrics,
    authenticator: Arc<Authenticator>,
    providers: Providers,
    tools: ToolRegistry,
    tasks: Arc<TaskRegistry>,
    apps: AppCache,
    end_users: RwLock<HashMap<(String, String), EndUserRow>>,
    file_secret: Vec<u8>,
    hub: Arc<crate::runtime::hub::RunHub>,
    pending_imports: crate::apps::PendingImports,
    knowledge: crate::knowledge::Knowledge,
    code: crate::engine::sandbox::CodeRunner,
    outbound: crate::net::Outbound,
    secrets: crate::secrets::Secrets,
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
        let authenticator = Authenticator::new(store.clone(), token_rate);
        let providers = Providers::new(&settings.providers, metrics.clone());
        let outbound = crate::net::Outbound::new(&settings.network).unwrap_or_else(|e| {
            // The config loader refuses such settings; a library caller gets the strict default.
            tracing::error!(error = %e, "invalid [network] settings: no exceptions, no proxy");
            crate::net::Outbound::new(&Default::default())
                .expect("the default network settings are valid")
        });
        let tools = ToolRegistry::new(&settings);
        let file_secret = crate::secrets::secret_key(&settings);
        let secrets = crate::secrets::Secrets::new(&file_secret);
        let code = crate::engine::sandbox::CodeRunner::new(&settings.code);
        AppState {
            inner: Arc::new(Inner {
                store,
                settings,
                metrics,
                authenticator,
                providers,
                tools,
                tasks: Arc::new(TaskRegistry::default()),
                apps: AppCache::default(),
                end_users: RwLock::new(HashMap::new()),
                file_secret,
                hub: Arc::default(),
                pending_imports: Default::default(),
                knowledge: Default::default(),
                code,
                outbound,
                secrets,
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The authenticator of the auth layer.
    pub fn authenticator(&self) -> Arc<Authenticator> {
        self.inner.authenticator.clone()
    }

    /// The model providers.
    pub fn providers(&self) -> &Providers {
        &self.inner.providers
    }

    /// The tools.
    pub fn tools(&self) -> &ToolRegistry {
        &self.inner.tools
    }

    /// The guarded client for requests that untrusted input directs.
    pub fn outbound(&self) -> &crate::net::Outbound {
        &self.inner.outbound
    }

    /// Runs the code of `code` nodes.
    pub fn code(&self) -> &crate::engine::sandbox::CodeRunner {
        &self.inner.code
    }

    /// Seals and opens secrets at rest.
    pub fn secrets(&self) -> &crate::secrets::Secrets {
        &self.inner.secrets
    }

    /// The key that signs file URLs.
    pub fn file_secret(&self) -> &[u8] {
        &self.inner.file_secret
    }

    /// Opens an SSE stream with the configured keep-alive interval.
    pub fn event_channel(
        &self,
        surface: weir_layers::Surface,
    ) -> (crate::events::EventSender, weir_layers::Body) {
        let ping =
            std::time::Duration::from_secs(self.inner.settings.limits.ping_interval_s.max(1));
        crate::events::channel_with_ping(surface, ping)
    }

    /// Running tasks.
    pub fn tasks(&self) -> &Arc<TaskRegistry> {
        &self.inner.tasks
    }

    /// An app by id (cached briefly).
    pub async fn app(&self, id: &str) -> Result<Option<Arc<LoadedApp>>, StoreError> {
        self.inner
            .apps
            .get(&self.inner.store, &self.inner.secrets, id)
            .await
    }

    /// Forgets a cached app (after it changed).
    pub fn forget_app(&self, id: &str) {
        self.inner.apps.forget(id);
    }

    /// Live streams of running workflow runs.
    pub fn run_hub(&self) -> &Arc<crate::runtime::hub::RunHub> {
        &self.inner.hub
    }

    /// Knowledge bases: vector indexes and the indexing queue.
    pub fn knowledge(&self) -> &crate::knowledge::Knowledge {
        &self.inner.knowledge
    }

    /// DSL imports waiting for confirmation.
    pub fn pending_imports(&self) -> &crate::apps::PendingImports {
        &self.inner.pending_imports
    }

    /// The Service API end user of `app` named `session_id` (`None`: the shared
    /// `DEFAULT-USER`), created on first sight.
    pub async fn end_user(
        &self,
        workspace_id: &str,
        app_id: &str,
        session_id: Option<&str>,
    ) -> Result<EndUserRow, StoreError> {
        self.end_user_of(SERVICE_API_USER, workspace_id, app_id, session_id)
            .await
    }

    /// The end user of this type (`service-api`, `openapi`) and session id, created on
    /// first sight.
    pub async fn end_user_of(
        &self,
        kind: &str,
        workspace_id: &str,
        app_id: &str,
        session_id: Option<&str>,
    ) -> Result<EndUserRow, StoreError> {
        let (session, anonymous) = match session_id {
            Some(s) if !s.is_empty() => (s, false),
            _ => (DEFAULT_USER, true),
        };
        let key = (app_id.to_owned(), format!("{kind}:{session}"));
        if let Some(u) = self
            .inner
            .end_users
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(u.clone());
        }
        let user = self
            .inner
            .store
            .end_user(workspace_id, app_id, kind, session, anonymous)
            .await?;
        let mut cache = self
            .inner
            .end_users
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if cache.len() > 100_000 {
            cache.clear();
        }
        cache.insert(key, user.clone());
        Ok(user)
    }
}
