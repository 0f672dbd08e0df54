//! Model providers: an OpenAI-compatible client (chat completions, blocking and streaming,
//! with tool calls; embeddings; rerank) behind [`Providers`], which resolves a DSL provider
//! name (`openai`, `langgenius/openai/openai`) to a configured `[providers.*]` table.

mod client;
mod error;
mod stream;
mod types;
mod usage;

pub use client::{estimate_tokens, OpenAiClient};

/// Completion tokens of an answer whose usage the upstream did not report.
pub fn estimate_completion(answer: &str) -> u64 {
    estimate_tokens(answer)
}
pub use error::ProviderError;
pub use types::{
    ChatMessage, ChatRequest, Content, ContentPart, LlmEvent, LlmOutput, LlmStream, ToolCall,
    ToolDef,
};
pub use usage::{Pricing, Usage};

use std::collections::HashMap;
use std::sync::Arc;

use weir_layers::metrics::Metrics;

use crate::settings::ProviderSettings;

/// The last path segment of a DSL provider name (`langgenius/openai/openai` → `openai`).
pub fn provider_key(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name).trim()
}

/// The configured providers, by name and alias.
#[derive(Clone, Default)]
pub struct Providers {
    by_name: HashMap<String, Arc<OpenAiClient>>,
}

impl Providers {
    /// Clients for every `[providers.*]` table.
    pub fn new(
        settings: &std::collections::BTreeMap<String, ProviderSettings>,
        metrics: Metrics,
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
    pub fn get(&self, provider: &str, model: &str) -> Result<Arc<OpenAiClient>, ProviderError> {
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
        let providers = Providers::new(&settings, Metrics::new());
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
