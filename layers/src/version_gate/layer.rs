use std::sync::Arc;

use tower::Layer;

use super::VersionGate;

/// Refuses outdated clients; see the module docs.
#[derive(Clone, Debug)]
pub struct VersionGateLayer {
    pub(super) config: Arc<Config>,
}

#[derive(Debug)]
pub(super) struct Config {
    pub(super) prefix: String,
    pub(super) client: String,
    pub(super) min: String,
    pub(super) min_parsed: super::Version,
    pub(super) hint: String,
    pub(super) exempt: Vec<String>,
}

impl VersionGateLayer {
    /// A gate for `client` below `min` under `prefix`, except `exempt` paths.
    pub fn new(prefix: &str, client: &str, min: &str, hint: &str, exempt: &[&str]) -> Self {
        VersionGateLayer {
            config: Arc::new(Config {
                prefix: prefix.to_owned(),
                client: client.to_owned(),
                min: min.to_owned(),
                min_parsed: super::Version::parse(min).expect("a valid minimum version"),
                hint: hint.to_owned(),
                exempt: exempt.iter().map(|s| s.to_string()).collect(),
            }),
        }
    }
}

impl<S> Layer<S> for VersionGateLayer {
    type Service = VersionGate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VersionGate {
            inner,
            config: self.config.clone(),
        }
    }
}
