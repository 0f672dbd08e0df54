//! [`Runtime`]: the app runtime as one service. It owns what the app modes reach — the
//! store, the model providers, the sandboxes and tools, knowledge, files, the guarded
//! outbound client — and the state of running work (stop flags, re-attachable streams,
//! caches of apps and end users). Lower crates get narrow parts of it: the engine a
//! [`RunEnv`] of trait objects, knowledge its repository, models and blobs.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use weir_core::coordination::Coordination;

use weir_core::blob::BlobStore;
use weir_core::model::UpstreamMetrics;
use weir_core::settings::Settings;
use weir_engine::RunEnv;
use weir_knowledge::{Describe, Knowledge};
use weir_net::Outbound;
use weir_providers::Providers;
use weir_sandbox::CodeRunner;
use weir_store::{EndUserRow, Store, StoreError};

use crate::accounts::TokenSigner;
use crate::apps::PendingImports;
use crate::files::FileService;
use crate::loaded::{AppCache, LoadedApp};
use crate::secrets::Secrets;
use crate::tasks::TaskRegistry;
use crate::tools::ToolRegistry;

/// The session id of requests without a `user`.
pub const DEFAULT_USER: &str = "DEFAULT-USER";
/// The end-user type of Service API callers.
pub const SERVICE_API_USER: &str = "service-api";

/// The app runtime (see the module docs).
pub struct Runtime {
    store: Store,
    settings: Settings,
    providers: Arc<Providers>,
    tools: Arc<ToolRegistry>,
    outbound: Outbound,
    knowledge: Arc<Knowledge>,
    blobs: Arc<dyn BlobStore>,
    run_env: Arc<RunEnv>,
    tasks: Arc<TaskRegistry>,
    coord: Arc<dyn Coordination>,
    apps: AppCache,
    end_users: RwLock<HashMap<(String, String), EndUserRow>>,
    pending_imports: PendingImports,
    secret_key: Vec<u8>,
    secrets: Secrets,
    tokens: TokenSigner,
    describe: Describe,
}

impl Runtime {
    /// The runtime over an opened store. `metrics` hears how long model calls take;
    /// `describe` is the text a client may see for an error (the api's table).
    pub fn new(
        store: Store,
        settings: Settings,
        metrics: Arc<dyn UpstreamMetrics>,
        describe: Describe,
        coord: Arc<dyn Coordination>,
        blobs: Arc<dyn BlobStore>,
    ) -> Arc<Runtime> {
        let outbound = Outbound::new(&settings.network).unwrap_or_else(|e| {
            // The config loader refuses such settings; a library caller gets the strict default.
            tracing::error!(error = %e, "invalid [network] settings: no exceptions, no proxy");
            Outbound::new(&Default::default()).expect("the default network settings are valid")
        });
        let providers = Arc::new(Providers::new(&settings.providers, metrics));
        let tools = Arc::new(ToolRegistry::new(&settings));
        let code = Arc::new(CodeRunner::new(&settings.code));
        let knowledge = Knowledge::new(
            Arc::new(store.clone()),
            providers.clone(),
            blobs.clone(),
            settings.knowledge.clone(),
            describe,
        );
        let files = Arc::new(FileService::new(
            blobs.clone(),
            outbound.clone(),
            settings.limits.upload_file_bytes,
        ));
        let run_env = Arc::new(RunEnv {
            models: providers.clone(),
            tools: tools.clone(),
            code,
            retrieval: knowledge.clone(),
            files,
            fetch: Arc::new(outbound.clone()),
            max_execution: Duration::from_secs(settings.limits.max_execution_s),
            max_file_bytes: settings.limits.upload_file_bytes,
        });
        let secret_key = crate::secrets::secret_key(&settings);
        let secrets = Secrets::new(&secret_key);
        let tokens = TokenSigner::new(&secret_key);
        Arc::new(Runtime {
            store,
            settings,
            providers,
            tools,
            outbound,
            knowledge,
            blobs,
            run_env,
            tasks: TaskRegistry::new(coord.clone()),
            pending_imports: PendingImports::new(coord.clone()),
            coord,
            apps: AppCache::default(),
            end_users: RwLock::new(HashMap::new()),
            secret_key,
            secrets,
            tokens,
            describe,
        })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The model providers.
    pub fn providers(&self) -> &Arc<Providers> {
        &self.providers
    }

    /// The tools.
    pub fn tools(&self) -> &ToolRegistry {
        &self.tools
    }

    /// The guarded client for requests that untrusted input directs.
    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }

    /// Knowledge bases.
    pub fn knowledge(&self) -> &Arc<Knowledge> {
        &self.knowledge
    }

    /// Uploads' bytes.
    pub fn blobs(&self) -> &Arc<dyn BlobStore> {
        &self.blobs
    }

    /// What a workflow run reaches.
    pub fn run_env(&self) -> &Arc<RunEnv> {
        &self.run_env
    }

    /// Running tasks.
    pub fn tasks(&self) -> &Arc<TaskRegistry> {
        &self.tasks
    }

    /// What this instance shares with the others (or keeps alone): leases, notices,
    /// parked values and run logs.
    pub fn coord(&self) -> &Arc<dyn Coordination> {
        &self.coord
    }

    /// DSL imports waiting for confirmation.
    pub fn pending_imports(&self) -> &PendingImports {
        &self.pending_imports
    }

    /// The operator's secret (signs file URLs).
    pub fn secret_key(&self) -> &[u8] {
        &self.secret_key
    }

    /// Seals and opens secrets at rest.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Signs and checks console session tokens and web-app passports.
    pub fn tokens(&self) -> &TokenSigner {
        &self.tokens
    }

    /// The text a client may see for an error.
    pub fn describe(&self, err: &(dyn std::error::Error + 'static)) -> String {
        (self.describe)(err)
    }

    /// An app by id (cached briefly).
    pub async fn app(&self, id: &str) -> Result<Option<Arc<LoadedApp>>, StoreError> {
        self.apps.get(&self.store, &self.secrets, id).await
    }

    /// Forgets a cached app (after it changed).
    pub fn forget_app(&self, id: &str) {
        self.apps.forget(id);
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
            .end_users
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(u.clone());
        }
        let user = self
            .store
            .end_user(workspace_id, app_id, kind, session, anonymous)
            .await?;
        let mut cache = self.end_users.write().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 100_000 {
            cache.clear();
        }
        cache.insert(key, user.clone());
        Ok(user)
    }
}
