//! weir's model providers: an OpenAI-compatible client (chat completions, blocking and streaming,
//! with tool calls; embeddings; rerank) behind [`Providers`], which resolves a DSL provider
//! name (`openai`, `langgenius/openai/openai`) to a configured `[providers.*]` table.
#![warn(missing_docs)]

mod client;
mod stream;

pub use client::OpenAiClient;
pub use weir_core::model::{provider_key, ProviderError};

use std::collections::HashMap;
use std::sync::Arc;

use weir_core::model::{ModelClient, Models, UpstreamMetrics};
use weir_core::settings::ProviderSettings;

/// The configured providers, by name and alias.
#[derive(Clone, Default)]
pub struct Providers {
    by_name: HashMap<String, Arc<OpenAiClient>>,
}

impl Providers {
    /// Clients for every `[providers.*]` table.
    pub fn new(
        settings: &std::collections::BTreeMap<String, ProviderSettings>,
        metrics: Arc<dyn UpstreamMetrics>,
    ) -> Self {
        let mut by_name = HashMap::new();
        for (name, cfg) in settings {
            let client = Arc::new(OpenAiClient::new(name, cfg, metrics.clone()));
            by_name.insert(name.clone(), client.clone());
            for alias in &cfg.aliases {
                by_name
                    .entry(provider_key(alias).to_owned())
                    .or_insert_with(|| client.clone());
            }
        }
        Providers { by_name }
    }

    /// The client serving a DSL provider name, or `provider_not_initialize`.
    pub fn client(&self, provider: &str, model: &str) -> Result<Arc<OpenAiClient>, ProviderError> {
        let key = provider_key(provider);
        let client = self
            .by_name
            .get(key)
            .ok_or_else(|| ProviderError::NotConfigured {
                provider: key.to_owned(),
                model: model.to_owned(),
            })?;
        if client.base_url().is_empty() {
            return Err(ProviderError::NotConfigured {
                provider: key.to_owned(),
                model: model.to_owned(),
            });
        }
        Ok(client.clone())
    }
}

impl Models for Providers {
    fn get(&self, provider: &str, model: &str) -> Result<Arc<dyn ModelClient>, ProviderError> {
        self.client(provider, model)
            .map(|c| c as Arc<dyn ModelClient>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_resolve_by_last_segment_and_alias() {
        assert_eq!(provider_key("langgenius/openai/openai"), "openai");
        assert_eq!(provider_key("openai"), "openai");
        let mut settings = std::collections::BTreeMap::new();
        settings.insert(
            "openai".to_owned(),
            ProviderSettings {
                base_url: "http://127.0.0.1:1/v1".into(),
                aliases: vec!["openai_api_compatible".into()],
                ..Default::default()
            },
        );
        let providers = Providers::new(&settings, Arc::new(weir_core::model::NoMetrics));
        assert!(providers.get("langgenius/openai/openai", "m").is_ok());
        assert!(providers
            .get(
                "langgenius/openai_api_compatible/openai_api_compatible",
                "m"
            )
            .is_ok());
        let err = providers.get("anthropic", "claude").err().unwrap();
        assert!(matches!(err, ProviderError::NotConfigured { .. }));
    }
}
