//! `llm`: renders its prompt (basic templates or Jinja2, `{{#context#}}`, chatflow memory,
//! vision files), calls the model — streaming its `text` to the response nodes that follow
//! it — and outputs `text`, `reasoning_content`, `usage`, `finish_reason` (and
//! `structured_output` when asked for).

use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use weir_core::BoxFuture;

use super::template_transform::render_jinja;
use super::variable_list;
use crate::graph::NodeDef;
use crate::pool::{selector, Pool};
use crate::template::Template;
use crate::value::text;
use crate::{Node, NodeCx, NodeError, NodeOutput};
use weir_core::model::{
    ChatMessage, ChatRequest, Content, ContentPart, LlmEvent, LlmOutput, ModelSpec,
};

/// Error kind of model failures.
pub const LLM_ERROR: &str = "LLMNodeError";

struct PromptMessage {
    role: String,
    template: Template,
    jinja: Option<String>,
}

struct Memory {
    window: Option<usize>,
    query: Option<Template>,
    prefixes: (String, String),
}

/// The LLM node.
pub struct Llm {
    model: ModelSpec,
    messages: Vec<PromptMessage>,
    completion_mode: bool,
    jinja_vars: Vec<(String, Vec<String>)>,
    memory: Option<Memory>,
    context: Option<Vec<String>>,
    vision: Option<(Vec<String>, String)>,
    structured: Option<Value>,
    separate_reasoning: bool,
}

fn prompt_message(v: &Value, default_role: &str) -> PromptMessage {
    let jinja = (v.get("edition_type").and_then(Value::as_str) == Some("jinja2")).then(|| {
        v.get("jinja2_text")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    });
    PromptMessage {
        role: v
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or(default_role)
            .to_owned(),
        template: Template::parse(v.get("text").and_then(Value::as_str).unwrap_or("")),
        jinja,
    }
}

impl Llm {
    /// Compiles the model, prompt, memory, context, vision and structured output settings.
    pub fn compile(def: &NodeDef) -> Result<Self, String> {
        let d = &def.data;
        let model = d
            .get("model")
            .and_then(ModelSpec::from_value)
            .ok_or("model is required")?;
        let (messages, completion_mode) = match d.get("prompt_template") {
            Some(Value::Array(list)) => (
                list.iter().map(|m| prompt_message(m, "user")).collect(),
                false,
            ),
            Some(v @ Value::Object(_)) => (vec![prompt_message(v, "user")], true),
            _ => (Vec::new(), false),
        };
        let memory = d.get("memory").filter(|m| m.is_object()).map(|m| {
            let window = m
                .get("window")
                .filter(|w| w.get("enabled").and_then(Value::as_bool).unwrap_or(false))
                .and_then(|w| w.get("size"))
                .and_then(|s| {
                    s.as_u64()
                        .or_else(|| s.as_str().and_then(|x| x.parse().ok()))
                })
                .map(|s| s as usize);
            let query = m
                .get("query_prompt_template")
                .and_then(Value::as_str)
                .filter(|q| !q.is_empty())
                .map(Template::parse);
            let prefix = |k: &str, default: &str| {
                m.pointer(&format!("/role_prefix/{k}"))
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .unwrap_or(default)
                    .to_owned()
            };
            Memory {
                window,
                query,
                prefixes: (prefix("user", "Human"), prefix("assistant", "Assistant")),
            }
        });
        let context = d
            .get("context")
            .filter(|c| c.get("enabled").and_then(Value::as_bool).unwrap_or(false))
            .and_then(|c| c.get("variable_selector"))
            .and_then(selector);
        let vision = d
            .get("vision")
            .filter(|v| v.get("enabled").and_then(Value::as_bool).unwrap_or(false))
            .map(|v| {
                let sel = v
                    .pointer("/configs/variable_selector")
                    .and_then(selector)
                    .unwrap_or_else(|| vec!["sys".into(), "files".into()]);
                let detail = v
                    .pointer("/configs/detail")
                    .and_then(Value::as_str)
                    .unwrap_or("high")
                    .to_owned();
                (sel, detail)
            });
        let structured = d
            .get("structured_output_enabled")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            .then(|| d.pointer("/structured_output/schema").cloned())
            .flatten();
        Ok(Llm {
            model,
            messages,
            completion_mode,
            jinja_vars: variable_list(d.pointer("/prompt_config/jinja2_variables")),
            memory,
            context,
            vision,
            structured,
            separate_reasoning: d.get("reasoning_format").and_then(Value::as_str)
                == Some("separated"),
        })
    }

    fn render(&self, m: &PromptMessage, pool: &Pool, context: &str) -> Result<String, String> {
        let raw = match &m.jinja {
            Some(src) => {
                let mut vars = Map::new();
                for (name, sel) in &self.jinja_vars {
                    vars.insert(name.clone(), pool.get(sel).unwrap_or(Value::Null));
                }
                render_jinja(src, &vars)?
            }
            None => m.template.render(pool),
        };
        Ok(raw.replace("{{#context#}}", context))
    }
}

/// The text form of a context value (retrieval results join their contents).
pub fn context_text(v: &Value) -> String {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| match i.get("content") {
                Some(c) => text(c),
                None => text(i),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        other => text(other),
    }
}

/// Vision parts of the run's image files among `files` (a file or a list); values that
/// are not files of this run are ignored.
async fn image_parts(cx: &NodeCx<'_>, files: &Value, detail: &str) -> Vec<ContentPart> {
    let list: Vec<&Value> = match files {
        Value::Array(a) => a.iter().collect(),
        v => vec![v],
    };
    let resolved: Vec<weir_core::files::ResolvedFile> = list
        .into_iter()
        .filter_map(|v| cx.run.files.get(v))
        .map(|f| (*f).clone())
        .collect();
    cx.run.env.files.image_parts(&resolved, detail).await
}

/// Splits `<think>…</think>` off an answer: (text, reasoning).
pub fn split_reasoning(text: &str) -> (String, String) {
    if let (Some(start), Some(end)) = (text.find("<think>"), text.find("</think>")) {
        if start < end {
            let reasoning = text[start + 7..end].trim().to_owned();
            let rest = format!("{}{}", &text[..start], &text[end + 8..]);
            return (rest.trim_start().to_owned(), reasoning);
        }
    }
    (text.to_owned(), String::new())
}

impl Node for Llm {
    fn streams(&self) -> bool {
        true
    }

    fn run<'a>(&'a self, cx: &'a NodeCx<'a>) -> BoxFuture<'a, Result<NodeOutput, NodeError>> {
        Box::pin(async move {
            let fail = |e: String| NodeError::new(LLM_ERROR, e).with_inputs(json!({}));
            let client = cx.model(&self.model).map_err(fail)?;
            let context = self
                .context
                .as_ref()
                .and_then(|sel| cx.pool.get(sel))
                .map(|v| context_text(&v))
                .unwrap_or_default();
            let mut messages = Vec::new();
            for m in &self.messages {
                let text = self.render(m, cx.pool, &context).map_err(fail)?;
                messages.push((m.role.clone(), text));
            }
            let query = cx
                .pool
                .get(&["sys".into(), "query".into()])
                .map(|v| text(&v))
                .unwrap_or_default();
            let mut history: Vec<(String, String)> = Vec::new();
            if let Some(mem) = &self.memory {
                let turns = &cx.run.history;
                let take = mem.window.unwrap_or(turns.len()).min(turns.len());
                history = turns[turns.len() - take..].to_vec();
            }
            let final_query = self.memory.as_ref().map(|mem| match &mem.query {
                Some(t) => t.render(cx.pool),
                None => query.clone(),
            });
            let images = match &self.vision {
                Some((sel, detail)) => match cx.pool.get(sel) {
                    Some(files) => image_parts(cx, &files, detail).await,
                    None => Vec::new(),
                },
                None => Vec::new(),
            };

            let mut sent: Vec<ChatMessage> = Vec::new();
            if self.completion_mode {
                let (user, assistant) = self
                    .memory
                    .as_ref()
                    .map(|m| m.prefixes.clone())
                    .unwrap_or_else(|| ("Human".into(), "Assistant".into()));
                let histories: String = history
                    .iter()
                    .map(|(q, a)| format!("{user}: {q}\n{assistant}: {a}\n"))
                    .collect();
                let mut prompt = messages.first().map(|(_, t)| t.clone()).unwrap_or_default();
                prompt = prompt.replace("{{#histories#}}", &histories);
                if let Some(q) = &final_query {
                    prompt = prompt.replace("{{#sys.query#}}", q);
                }
                sent.push(ChatMessage::user(prompt));
            } else {
                for (role, text) in &messages {
                    sent.push(match role.as_str() {
                        "system" => ChatMessage::system(text.clone()),
                        "assistant" => ChatMessage::assistant(text.clone()),
                        _ => ChatMessage::user(text.clone()),
                    });
                }
                if let Some(q) = &final_query {
                    for (hq, ha) in &history {
                        sent.push(ChatMessage::user(hq.clone()));
                        sent.push(ChatMessage::assistant(ha.clone()));
                    }
                    sent.push(ChatMessage::user(q.clone()));
                }
            }
            if !images.is_empty() {
                if let Some(last) = sent.iter_mut().rev().find(|m| m.role == "user") {
                    let mut parts = vec![ContentPart::Text {
                        text: last.content.text(),
                    }];
                    parts.extend(images);
                    last.content = Content::Parts(parts);
                }
            }
            let prompts: Vec<Value> = sent
                .iter()
                .map(|m| json!({"role": m.role, "text": m.content.text(), "files": []}))
                .collect();
            let mut req = ChatRequest::new(self.model.name.clone(), sent);
            req.params = self.model.params.clone();
            if let Some(schema) = &self.structured {
                req.params.insert(
                    "response_format".into(),
                    json!({"type": "json_schema", "json_schema": {"name": "structured_output", "schema": schema}}),
                );
            }
            let stream_out = cx.scope.is_top() && cx.run.sink.enabled();
            req.stream = stream_out;
            let mut stream = client.chat(&req).await.map_err(|e| fail(e.to_string()))?;
            let mut out = LlmOutput::default();
            while let Some(ev) = stream.next().await {
                let ev = ev.map_err(|e| fail(e.to_string()))?;
                if let LlmEvent::Text(t) = &ev {
                    if stream_out {
                        cx.stream("text", t).await;
                    }
                }
                out.push(&ev);
            }
            let (text_out, reasoning) = if self.separate_reasoning {
                split_reasoning(&out.text)
            } else {
                (out.text.clone(), String::new())
            };
            let finish = out.finish_reason.clone().unwrap_or_else(|| "stop".into());
            let usage = serde_json::to_value(&out.usage).unwrap_or(Value::Null);
            let mut outputs = Map::new();
            outputs.insert("text".into(), Value::String(text_out.clone()));
            outputs.insert("reasoning_content".into(), Value::String(reasoning));
            outputs.insert("usage".into(), usage.clone());
            outputs.insert("finish_reason".into(), Value::String(finish.clone()));
            if self.structured.is_some() {
                let parsed: Value = serde_json::from_str(text_out.trim())
                    .or_else(|_| {
                        let (s, e) = (text_out.find('{'), text_out.rfind('}'));
                        match (s, e) {
                            (Some(s), Some(e)) if s < e => serde_json::from_str(&text_out[s..=e]),
                            _ => serde_json::from_str("x"),
                        }
                    })
                    .map_err(|_| {
                        fail(
                            "Failed to parse structured output: the model did not answer JSON"
                                .into(),
                        )
                    })?;
                outputs.insert("structured_output".into(), parsed);
            }
            Ok(NodeOutput {
                inputs: json!({}),
                process_data: json!({"model_mode": self.model.mode, "prompts": prompts, "usage": usage,
                    "finish_reason": finish, "model_provider": self.model.provider, "model_name": self.model.name}),
                outputs,
                ..Default::default()
            }
            .with_usage(out.usage))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_and_context() {
        assert_eq!(
            split_reasoning("<think>hmm</think>\nanswer"),
            ("answer".to_owned(), "hmm".to_owned())
        );
        assert_eq!(
            split_reasoning("plain"),
            ("plain".to_owned(), String::new())
        );
        assert_eq!(
            context_text(&json!([{"content": "a"}, {"content": "b"}])),
            "a\nb"
        );
        assert_eq!(context_text(&json!("x")), "x");
    }

    #[test]
    fn compiles_both_prompt_shapes() {
        let def = |data: Value| NodeDef {
            id: "n".into(),
            kind: "llm".into(),
            title: String::new(),
            data,
            error_strategy: crate::graph::ErrorStrategy::None,
            retry: None,
            parent: None,
        };
        let chat = Llm::compile(&def(json!({"model": {"provider": "openai", "name": "m", "mode": "chat"},
            "prompt_template": [{"role": "system", "text": "s"}], "memory": {"window": {"enabled": true, "size": 3}}}))).unwrap();
        assert!(!chat.completion_mode);
        assert_eq!(chat.memory.unwrap().window, Some(3));
        let completion = Llm::compile(&def(
            json!({"model": {"provider": "openai", "name": "m", "mode": "completion"},
            "prompt_template": {"text": "t"}}),
        ))
        .unwrap();
        assert!(completion.completion_mode);
        assert!(Llm::compile(&def(json!({}))).is_err());
    }
}
