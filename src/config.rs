//! weir's configuration: `weir.toml` (or built-in defaults), then `WEIR_<KEY>` environment
//! overrides (nested keys joined by `__`), as docs/OPERATING.md describes.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use weir_api::Settings;

/// The environment variable naming the config file.
pub const CONFIG_ENV: &str = "WEIR_CONFIG";
/// The config file read when none is named and it exists.
pub const DEFAULT_CONFIG_FILE: &str = "weir.toml";
/// Prefix of override variables.
const ENV_PREFIX: &str = "WEIR_";
/// Variables with the prefix that are not config keys.
const NOT_KEYS: [&str; 2] = ["WEIR_CONFIG", "WEIR_TEST_"];

/// Log line format.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable text.
    #[default]
    #[serde(alias = "pretty")]
    Text,
    /// One JSON object per line.
    Json,
}

/// The `[layers]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct LayersConfig {
    /// Built-in layers, outermost first; a layer left out is dropped.
    pub order: Vec<String>,
}

impl Default for LayersConfig {
    fn default() -> Self {
        LayersConfig {
            order: crate::stack::DEFAULT_ORDER
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Listen address.
    pub bind: String,
    /// `sqlite://…` (default) or `postgres://…`.
    pub database_url: String,
    /// Redis for coordination across instances (`redis://…`); empty for one process.
    pub redis_url: String,
    /// Prefix of every key weir writes to Redis (instances of one deployment share it).
    pub redis_prefix: String,
    /// Tracing filter (`info`, `weir=debug,warn`, …).
    pub log: String,
    /// Log format.
    pub log_format: LogFormat,
    /// The address that serves `/metrics` (and `/health`) to the operator; the public
    /// address serves `/metrics` only with `metrics_token`.
    pub metrics_bind: String,
    /// The layer stack.
    pub layers: LayersConfig,
    /// Pool and write-queue sizes (`[database]`).
    pub database: weir_api::store::StoreOptions,
    /// Where uploads' bytes live (`[storage]`).
    pub storage: StorageConfig,
    /// What the domain reads.
    #[serde(flatten)]
    pub services: Settings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:5001".into(),
            database_url: "sqlite://weir.db".into(),
            redis_url: String::new(),
            redis_prefix: "weir:".into(),
            log: "info".into(),
            log_format: LogFormat::Text,
            metrics_bind: String::new(),
            layers: LayersConfig::default(),
            database: Default::default(),
            storage: StorageConfig::default(),
            services: Settings::default(),
        }
    }
}

/// Where uploads' bytes live (`[storage]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    /// `local` (the data directory, the default) or `s3`.
    pub kind: StorageKind,
    /// The bucket, with `kind = "s3"` (`[storage.s3]`).
    pub s3: weir_s3::S3Settings,
}

/// A blob store kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// Files in `data_dir`.
    #[default]
    Local,
    /// An S3-compatible bucket.
    S3,
}

/// A configuration that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file or an override is not valid.
    #[error("invalid config: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads the configuration: the file named by `path`, else `WEIR_CONFIG`, else
    /// `./weir.toml` when it exists, else defaults; then `WEIR_*` overrides.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let named = path
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from));
        let file = match named {
            Some(p) => Some(p),
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.exists()),
        };
        let text = match &file {
            Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.clone(),
                source,
            })?,
            None => String::new(),
        };
        Self::from_parts(&text, std::env::vars())
    }

    /// Builds a configuration from TOML text and environment variables.
    pub fn from_parts(
        toml_text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table =
            toml::from_str(toml_text).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        for (name, raw) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if NOT_KEYS.iter().any(|k| name.starts_with(k)) || rest.is_empty() {
                continue;
            }
            let path: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
            set_path(&mut table, &path, env_value(&raw));
        }
        let config = Config::deserialize(toml::Value::Table(table))
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let token_rate = &config.services.limits.openapi_rate_limit_per_token;
        token_rate
            .parse::<weir_layers::rate_limit::Rate>()
            .map_err(|e| {
                ConfigError::Invalid(format!("limits.openapi_rate_limit_per_token: {e}"))
            })?;
        weir_api::net::Outbound::new(&config.services.network).map_err(ConfigError::Invalid)?;
        if config.storage.kind == StorageKind::S3 {
            weir_s3::S3Blobs::new(&config.storage.s3)
                .map_err(|e| ConfigError::Invalid(format!("storage.s3: {e}")))?;
        }
        if !config.redis_url.is_empty() {
            weir_redis::Redis::check_url(&config.redis_url)
                .map_err(|e| ConfigError::Invalid(format!("redis_url: {e}")))?;
            if config.services.secret_key.is_empty() {
                return Err(ConfigError::Invalid(
                    "secret_key: instances that share a Redis must share one secret_key (it signs \
                     sessions and file URLs and seals secrets); set it when redis_url is set"
                        .into(),
                ));
            }
        }
        Ok(config)
    }
}

/// An override's value: a TOML value when it parses as one (numbers, booleans, arrays,
/// quoted strings), else the text itself.
fn env_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) {
    match path {
        [] => {}
        [leaf] => {
            table.insert(leaf.clone(), value);
        }
        [head, rest @ ..] => {
            let entry = table
                .entry(head.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            if let toml::Value::Table(inner) = entry {
                set_path(inner, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_the_operator_contract() {
        let c = Config::from_parts("", env(&[])).unwrap();
        assert_eq!(c.bind, "127.0.0.1:5001");
        assert_eq!(c.database_url, "sqlite://weir.db");
        assert_eq!(c.services.limits.body_bytes, 15_728_640);
        assert_eq!(c.services.limits.request_timeout_s, 600);
        assert_eq!(c.layers.order.len(), 12);
    }

    #[test]
    fn a_bad_token_rate_is_refused() {
        let text = "[limits]\nopenapi_rate_limit_per_token = \"lots\"\n";
        let err = Config::from_parts(text, env(&[])).unwrap_err().to_string();
        assert!(err.contains("openapi_rate_limit_per_token"), "{err}");
    }

    #[test]
    fn file_then_env_overrides() {
        let text = "bind = \"0.0.0.0:1\"\n[limits]\nbody_bytes = 10\n[providers.openai]\nbase_url = \"http://x\"\n";
        let c = Config::from_parts(
            text,
            env(&[
                ("WEIR_LIMITS__BODY_BYTES", "20"),
                ("WEIR_PROVIDERS__OPENAI__API_KEY", "sk-1"),
                ("WEIR_LAYERS__ORDER", "[\"errors\", \"auth\"]"),
                ("WEIR_DATABASE_URL", "postgres://h/db"),
                ("WEIR_CONFIG", "ignored.toml"),
                ("WEIR_TEST_POSTGRES_URL", "ignored"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.bind, "0.0.0.0:1");
        assert_eq!(c.services.limits.body_bytes, 20);
        let openai = &c.services.providers["openai"];
        assert_eq!(
            (openai.base_url.as_str(), openai.api_key.as_str()),
            ("http://x", "sk-1")
        );
        assert_eq!(c.layers.order, vec!["errors", "auth"]);
        assert_eq!(c.database_url, "postgres://h/db");
    }

    #[test]
    fn keys_that_would_do_nothing_are_refused() {
        let err = Config::from_parts("redis_url = \"http://127.0.0.1:6379\"\n", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("redis_url"), "{err}");
        let err = Config::from_parts("redis_url = \"redis://127.0.0.1:6379\"\n", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("secret_key"), "{err}");
        let shared = "redis_url = \"redis://127.0.0.1:6379\"\nsecret_key = \"s\"\n";
        assert!(Config::from_parts(shared, env(&[])).is_ok());
        let err = Config::from_parts("[network]\nallowed_addresses = [\"nope\"]\n", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("allowed_addresses"), "{err}");
    }

    #[test]
    fn bad_config_is_a_clear_error() {
        let err = Config::from_parts("bind = 3", env(&[])).unwrap_err();
        assert!(err.to_string().starts_with("invalid config"), "{err}");
    }
}
