//! The configuration of an easy-UI app (chat, completion, agent-chat), read once from the
//! imported DSL's `model_config`.

use serde_json::{Map, Value};

use crate::dsl::AppMode;
use weir_core::inputs::{fields_from_user_input_form, FormField};

pub use weir_core::model::ModelSpec;

/// Keyword moderation of inputs (`sensitive_word_avoidance` of type `keywords`).
#[derive(Clone, Debug, PartialEq)]
pub struct KeywordModeration {
    /// Keywords, one per line in the DSL.
    pub keywords: Vec<String>,
    /// Whether inputs and query are checked.
    pub inputs_enabled: bool,
    /// The answer given instead.
    pub inputs_preset: String,
    /// Whether answers are checked.
    pub outputs_enabled: bool,
    /// The answer that replaces a flagged one.
    pub outputs_preset: String,
}

/// One tool an agent may call.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentTool {
    /// `builtin`, `api`, …
    pub provider_type: String,
    /// Provider id (`time`, `langgenius/time/time`).
    pub provider_id: String,
    /// Tool name.
    pub tool_name: String,
    /// Display label.
    pub tool_label: String,
    /// Fixed parameters.
    pub parameters: Map<String, Value>,
}

/// Agent settings (`agent_mode`).
#[derive(Clone, Debug, PartialEq)]
pub struct AgentSettings {
    /// `function_call` or `react`.
    pub strategy: String,
    /// Iteration bound.
    pub max_iteration: u32,
    /// Enabled tools.
    pub tools: Vec<AgentTool>,
}

/// An easy-UI app's configuration.
#[derive(Clone, Debug)]
pub struct AppConfig {
    /// App mode.
    pub mode: AppMode,
    /// The model.
    pub model: ModelSpec,
    /// `simple` or `advanced`.
    pub advanced: bool,
    /// Simple-mode instructions.
    pub pre_prompt: String,
    /// Advanced chat-model prompt: (role, text).
    pub chat_prompt: Vec<(String, String)>,
    /// Advanced completion-model prompt.
    pub completion_prompt: Option<String>,
    /// History prefixes for completion prompts.
    pub history_prefixes: (String, String),
    /// The input form.
    pub form: Vec<FormField>,
    /// Opening statement.
    pub opening_statement: String,
    /// Follow-up suggestions switched on.
    pub suggested_after_answer: bool,
    /// Keyword moderation.
    pub moderation: Option<KeywordModeration>,
    /// Agent settings (agent-chat).
    pub agent: Option<AgentSettings>,
    /// The raw `model_config` (for `/parameters`).
    pub raw: Map<String, Value>,
    /// The knowledge bases it retrieves from, if any.
    pub datasets: Option<crate::knowledge::consumers::DatasetConfig>,
}

fn enabled(v: Option<&Value>) -> bool {
    v.and_then(|x| x.get("enabled"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn text(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or("").to_owned()
}

/// Agent tools that are used: enabled, and not legacy one-key dataset entries.
pub fn enabled_agent_tools(model_config: &Map<String, Value>) -> Vec<AgentTool> {
    model_config
        .get("agent_mode")
        .and_then(|a| a.get("tools"))
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter_map(Value::as_object)
                .filter(|t| {
                    t.len() >= 4 && t.get("enabled").and_then(Value::as_bool).unwrap_or(false)
                })
                .map(|t| AgentTool {
                    provider_type: text(t.get("provider_type")),
                    provider_id: text(t.get("provider_id")),
                    tool_name: text(t.get("tool_name")),
                    tool_label: text(t.get("tool_label")),
                    parameters: t
                        .get("tool_parameters")
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

impl AppConfig {
    /// Reads the configuration of an app of `mode` from its `model_config`.
    pub fn from_model_config(mode: AppMode, mc: &Map<String, Value>) -> Option<AppConfig> {
        let model = ModelSpec::from_value(mc.get("model")?)?;
        let advanced = mc.get("prompt_type").and_then(Value::as_str) == Some("advanced");
        let chat_prompt = mc
            .get("chat_prompt_config")
            .and_then(|c| c.get("prompt"))
            .and_then(Value::as_array)
            .map(|msgs| {
                msgs.iter()
                    .map(|m| (text(m.get("role")).to_lowercase(), text(m.get("text"))))
                    .collect()
            })
            .unwrap_or_default();
        let completion = mc.get("completion_prompt_config");
        let completion_prompt = completion
            .and_then(|c| c.get("prompt"))
            .and_then(|p| p.get("text"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let roles = completion.and_then(|c| c.get("conversation_histories_role"));
        let prefix = |key: &str, default: &str| {
            roles
                .and_then(|r| r.get(key))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or(default)
                .to_owned()
        };
        let swa = mc.get("sensitive_word_avoidance");
        let moderation = (enabled(swa)
            && swa.and_then(|s| s.get("type")).and_then(Value::as_str) == Some("keywords"))
        .then(|| {
            let config = swa.and_then(|s| s.get("config"));
            let io = |key: &str| config.and_then(|c| c.get(key));
            KeywordModeration {
                keywords: config
                    .and_then(|c| c.get("keywords"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .lines()
                    .map(|l| l.trim().to_owned())
                    .filter(|l| !l.is_empty())
                    .collect(),
                inputs_enabled: enabled(io("inputs_config")),
                inputs_preset: text(io("inputs_config").and_then(|c| c.get("preset_response"))),
                outputs_enabled: enabled(io("outputs_config")),
                outputs_preset: text(io("outputs_config").and_then(|c| c.get("preset_response"))),
            }
        });
        let agent = (mode == AppMode::AgentChat).then(|| {
            let am = mc.get("agent_mode");
            let strategy = am
                .and_then(|a| a.get("strategy"))
                .and_then(Value::as_str)
                .map(|s| if s == "cot" { "react" } else { s })
                .filter(|s| *s == "function_call" || *s == "react")
                .unwrap_or("function_call")
                .to_owned();
            AgentSettings {
                strategy,
                max_iteration: am
                    .and_then(|a| a.get("max_iteration"))
                    .and_then(Value::as_u64)
                    .unwrap_or(10) as u32,
                tools: enabled_agent_tools(mc),
            }
        });
        Some(AppConfig {
            mode,
            model,
            advanced,
            pre_prompt: text(mc.get("pre_prompt")),
            chat_prompt,
            completion_prompt,
            history_prefixes: (
                prefix("user_prefix", "Human"),
                prefix("assistant_prefix", "Assistant"),
            ),
            form: fields_from_user_input_form(mc.get("user_input_form")),
            opening_statement: text(mc.get("opening_statement")),
            suggested_after_answer: enabled(mc.get("suggested_questions_after_answer")),
            moderation,
            agent,
            raw: mc.clone(),
            datasets: crate::knowledge::consumers::DatasetConfig::from_model_config(mc),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::Dsl;

    fn example(name: &str) -> Dsl {
        let text = std::fs::read_to_string(format!(
            "{}/../../tests/fixtures/dsl/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        Dsl::parse(&text).unwrap()
    }

    #[test]
    fn reads_the_examples() {
        let chat = example("01-chat-simple.yml");
        let c =
            AppConfig::from_model_config(chat.mode, chat.doc["model_config"].as_object().unwrap())
                .unwrap();
        assert_eq!(
            (c.model.provider.as_str(), c.model.name.as_str()),
            ("openai", "gpt-4o-mini")
        );
        assert!(!c.advanced && c.suggested_after_answer);
        assert_eq!(c.form.len(), 2);
        let m = c.moderation.unwrap();
        assert_eq!(m.keywords, vec!["password", "credit card number"]);
        assert_eq!(m.inputs_preset, "Sorry, I can't help with that.");

        let comp = example("02-completion-inputs.yml");
        let c =
            AppConfig::from_model_config(comp.mode, comp.doc["model_config"].as_object().unwrap())
                .unwrap();
        assert!(c.advanced);
        assert_eq!(c.chat_prompt.len(), 2);
        assert_eq!(c.chat_prompt[0].0, "system");

        let agent = example("03-agent-chat-tool.yml");
        let c = AppConfig::from_model_config(
            agent.mode,
            agent.doc["model_config"].as_object().unwrap(),
        )
        .unwrap();
        let a = c.agent.unwrap();
        assert_eq!(a.strategy, "function_call");
        assert_eq!(a.tools.len(), 1, "the disabled tool is ignored");
        assert_eq!(a.tools[0].tool_name, "current_time");
    }
}
