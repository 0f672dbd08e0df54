//! The part of weir's configuration the domain reads (`weir.toml`; the root crate adds
//! server keys around it and applies `WEIR_*` overrides).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// Limits and defaults (`[limits]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Request body limit in bytes (uploads have their own).
    pub body_bytes: u64,
    /// Upload limit for documents and other files.
    pub upload_file_bytes: u64,
    /// Upload limit for images.
    pub upload_image_bytes: u64,
    /// Upload limit for videos.
    pub upload_video_bytes: u64,
    /// Upload limit for audio.
    pub upload_audio_bytes: u64,
    /// Timeout of blocking requests, seconds (streams are not cut).
    pub request_timeout_s: u64,
    /// Per-app cap on running generations; 0 = unlimited.
    pub app_max_active_requests: u32,
    /// Per-key rate, e.g. `50/s`, `1000/m`; `0/s` = off.
    pub rate_limit_per_key: String,
    /// Grace period for in-flight requests and streams at shutdown, seconds.
    pub shutdown_grace_s: u64,
    /// Longest run of a generation before it is stopped, seconds (Dify: 1200).
    pub max_execution_s: u64,
    /// Idle time after which a stream sends `event: ping`, seconds.
    pub ping_interval_s: u64,
    /// `/openapi/v1` requests per bearer token, counted before the token is looked up.
    pub openapi_rate_limit_per_token: String,
    /// Failed credential lookups a client address may make per minute before it is
    /// refused (429) without a lookup; 0 = no limit.
    pub auth_failures_per_minute: u32,
}

const MIB: u64 = 1024 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: 15 * MIB,
            upload_file_bytes: 15 * MIB,
            upload_image_bytes: 10 * MIB,
            upload_video_bytes: 100 * MIB,
            upload_audio_bytes: 50 * MIB,
            request_timeout_s: 600,
            app_max_active_requests: 0,
            rate_limit_per_key: "0/s".into(),
            shutdown_grace_s: 30,
            max_execution_s: 1200,
            ping_interval_s: 10,
            openapi_rate_limit_per_token: "60/m".into(),
            auth_failures_per_minute: 60,
        }
    }
}

/// One model provider table (`[providers.NAME]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ProviderSettings {
    /// Base URL of an OpenAI-compatible API, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// The API key, in clear.
    pub api_key: String,
    /// An environment variable holding the API key.
    pub api_key_env: String,
    /// Other DSL provider names served by this table.
    pub aliases: Vec<String>,
    /// Connect timeout, seconds.
    pub connect_timeout_s: Option<u64>,
    /// Read timeout (between bytes), seconds.
    pub read_timeout_s: Option<u64>,
    /// Prices per model name (unpriced models cost zero).
    pub pricing: BTreeMap<String, crate::model::Pricing>,
    /// Speak HTTP/2 to a plain-http upstream without negotiating (h2c gateways): one
    /// connection carries every request. TLS upstreams negotiate HTTP/2 on their own.
    pub http2_prior_knowledge: bool,
    /// Chat models it serves (listed by the models endpoint).
    pub llm_models: Vec<String>,
    /// Embedding models it serves.
    pub embedding_models: Vec<String>,
    /// Rerank models it serves.
    pub rerank_models: Vec<String>,
}

/// Outbound network policy (`[network]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct NetworkSettings {
    /// Allow requests from untrusted input (remote files, API tools, http-request nodes) to
    /// loopback, private and other reserved addresses.
    pub allow_private: bool,
    /// Reserved addresses that are allowed anyway: `10.0.0.5`, `10.0.0.5:8080`, `10.1.0.0/16`.
    pub allowed_addresses: Vec<String>,
    /// A forward proxy for those requests (e.g. Dify's SSRF proxy); it then does the
    /// filtering. Empty: direct connections, and `HTTP(S)_PROXY` is ignored.
    pub proxy: String,
}

/// A custom API tool provider described by an OpenAPI schema (`[api_tools.NAME]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ApiToolSettings {
    /// The OpenAPI document (JSON or YAML) inline.
    pub schema: String,
    /// Or a file holding it.
    pub schema_file: String,
    /// Header carrying the credential (default `Authorization`).
    pub auth_header: String,
    /// Credential value sent in that header (e.g. `Bearer sk-…`).
    pub auth_value: String,
}

/// Code execution (`[code]`): local sandboxes, or Dify's sandbox service when an endpoint is set.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct CodeSettings {
    /// The Python 3 interpreter.
    pub python: String,
    /// Wall-clock (and CPU) limit per run, seconds.
    pub timeout_s: u64,
    /// Memory limit per run, MiB.
    pub memory_mb: u64,
    /// Dify sandbox service (`http://sandbox:8194`); empty = run locally.
    pub sandbox_endpoint: String,
    /// Its API key (`X-Api-Key`).
    pub sandbox_api_key: String,
    /// Run local Python even where the kernel cannot isolate it (no Landlock or seccomp).
    pub allow_unisolated: bool,
}

impl Default for CodeSettings {
    fn default() -> Self {
        CodeSettings {
            python: "python3".into(),
            timeout_s: 15,
            memory_mb: 256,
            sandbox_endpoint: String::new(),
            sandbox_api_key: String::new(),
            allow_unisolated: false,
        }
    }
}

/// Knowledge bases (`[knowledge]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct KnowledgeSettings {
    /// The workspace's default embedding provider (empty: the first provider listing
    /// embedding models).
    pub embedding_provider: String,
    /// The default embedding model (empty: that provider's first).
    pub embedding_model: String,
    /// Largest `max_tokens` of a custom segmentation rule.
    pub max_segmentation_tokens: usize,
    /// Most chunks one `POST …/segments` call may add (0: unlimited).
    pub max_segments_per_request: usize,
    /// Documents indexed at once.
    pub indexing_workers: usize,
    /// Texts per embedding request.
    pub embedding_batch: usize,
}

impl Default for KnowledgeSettings {
    fn default() -> Self {
        KnowledgeSettings {
            embedding_provider: String::new(),
            embedding_model: String::new(),
            max_segmentation_tokens: 4000,
            max_segments_per_request: 1000,
            indexing_workers: 2,
            embedding_batch: 64,
        }
    }
}

/// What is deleted when it grows old (`[retention]`); 0 keeps everything.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct RetentionSettings {
    /// Workflow runs (and their node executions) older than this many days are deleted
    /// (Dify's `WORKFLOW_LOG_RETENTION_DAYS`); 0 keeps them.
    pub workflow_run_days: u32,
    /// Seconds between two runs of the retention job.
    pub every_s: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            workflow_run_days: 0,
            every_s: 3600,
        }
    }
}

/// The domain's settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Where uploaded files are stored.
    pub data_dir: PathBuf,
    /// Limits and defaults.
    pub limits: Limits,
    /// Model providers by name.
    pub providers: BTreeMap<String, ProviderSettings>,
    /// Outbound network policy.
    pub network: NetworkSettings,
    /// Code execution.
    pub code: CodeSettings,
    /// Custom API tool providers by name.
    pub api_tools: BTreeMap<String, ApiToolSettings>,
    /// Base URL put in front of signed file URLs (empty: relative URLs).
    pub files_url: String,
    /// Key that signs file URLs (empty: a random key kept in the data directory).
    pub secret_key: String,
    /// Knowledge bases.
    pub knowledge: KnowledgeSettings,
    /// Bearer token that opens `/metrics` on the public address (empty: `/metrics` is
    /// served only on `metrics_bind`).
    pub metrics_token: String,
    /// The console's own URL (`http://localhost:3000`): browsers there may call the console
    /// and web-app APIs with cookies.
    pub console_web_url: String,
    /// The published web apps' base URL (`site.app_base_url`; empty: `console_web_url`).
    pub app_web_url: String,
    /// The Service API's base URL shown in the console (empty: the request's own host).
    pub service_api_url: String,
    /// The deployment label sent as `X-Env` (Dify's `DEPLOY_ENV`).
    pub deploy_env: String,
    /// Retention of old records.
    pub retention: RetentionSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("./weir-data"),
            limits: Limits::default(),
            providers: BTreeMap::new(),
            network: NetworkSettings::default(),
            code: CodeSettings::default(),
            api_tools: BTreeMap::new(),
            files_url: String::new(),
            secret_key: String::new(),
            knowledge: KnowledgeSettings::default(),
            metrics_token: String::new(),
            console_web_url: String::new(),
            app_web_url: String::new(),
            service_api_url: String::new(),
            deploy_env: "PRODUCTION".into(),
            retention: RetentionSettings::default(),
        }
    }
}

impl Settings {
    /// The web apps' base URL: `app_web_url`, else `console_web_url`, without a trailing `/`.
    pub fn app_base_url(&self) -> &str {
        let url = if self.app_web_url.is_empty() {
            &self.console_web_url
        } else {
            &self.app_web_url
        };
        url.trim_end_matches('/')
    }

    /// Origins whose pages may call the console and web-app APIs with cookies.
    pub fn browser_origins(&self) -> Vec<String> {
        [&self.console_web_url, &self.app_web_url]
            .into_iter()
            .filter(|u| !u.is_empty())
            .cloned()
            .collect()
    }

    /// The default embedding model: (provider, model), if one is configured or a provider
    /// lists one.
    pub fn default_embedding(&self) -> Option<(String, String)> {
        let k = &self.knowledge;
        if !k.embedding_provider.is_empty() && !k.embedding_model.is_empty() {
            return Some((k.embedding_provider.clone(), k.embedding_model.clone()));
        }
        self.providers
            .iter()
            .filter(|(name, _)| k.embedding_provider.is_empty() || **name == k.embedding_provider)
            .find_map(|(name, p)| {
                p.embedding_models
                    .first()
                    .map(|m| (name.clone(), m.clone()))
            })
    }
}
