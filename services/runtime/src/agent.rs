//! The agent loop of agent-chat apps.
//!
//! `function_call`: the model is offered the app's tools; its tool calls are run and their
//! results fed back, until it answers without calling a tool or the iteration bound is
//! reached (`min(max_iteration, 5) + 1` rounds; the last round offers no tools). Each round
//! is one `agent_thought`: sent when the model starts answering, again with the thought,
//! tool and tool input, and again with the observation.
//!
//! `react` (models without tools): the tools are described in the prompt, and the model
//! answers with a JSON action or a final answer.

use std::sync::Arc;

use serde_json::{json, Map, Value};
use weir_core::BoxError;

use super::chat::{Emitter, Turn};
use super::tasks::StopFlag;
use crate::events::AgentThought;
use crate::tools::Tool;
use crate::util::{new_id, now};
use crate::Runtime;
use weir_core::model::{ChatMessage, ChatRequest, LlmEvent, ToolCall, ToolDef, Usage};

/// Rounds an agent may take for a configured `max_iteration`.
pub fn max_rounds(max_iteration: u32) -> u32 {
    max_iteration.clamp(1, 5) + 1
}

struct BoundTool {
    tool: Arc<dyn Tool>,
    fixed: Map<String, Value>,
    label: String,
}

fn bind_tools(state: &Runtime, turn: &Turn) -> Vec<BoundTool> {
    let Some(agent) = &turn.config.agent else {
        return Vec::new();
    };
    agent
        .tools
        .iter()
        .filter_map(|t| {
            let tool = state
                .tools()
                .get(&t.provider_type, &t.provider_id, &t.tool_name)?;
            Some(BoundTool {
                tool,
                fixed: t.parameters.clone(),
                label: if t.tool_label.is_empty() {
                    t.tool_name.clone()
                } else {
                    t.tool_label.clone()
                },
            })
        })
        .collect()
}

async fn call_tool(tools: &[BoundTool], name: &str, args: &str) -> String {
    let Some(bound) = tools.iter().find(|t| t.tool.spec().name == name) else {
        return format!("there is not a tool named {name}");
    };
    let mut merged = bound.fixed.clone();
    if let Ok(Value::Object(given)) =
        serde_json::from_str::<Value>(if args.trim().is_empty() { "{}" } else { args })
    {
        merged.extend(given);
    }
    match bound.tool.invoke(&merged).await {
        Ok(text) => text,
        Err(e) => format!("tool invoke error: {e}"),
    }
}

type AgentResult =
    Result<(String, Usage, Vec<AgentThought>), (String, Vec<AgentThought>, BoxError)>;

/// Runs the agent loop; the answer is streamed as `agent_message` chunks.
pub async fn run(
    state: &Runtime,
    turn: &Turn,
    base: ChatRequest,
    out: &Emitter,
    stop: &StopFlag,
    deadline: tokio::time::Instant,
) -> AgentResult {
    let agent = turn.config.agent.clone().expect("agent app");
    let tools = bind_tools(state, turn);
    let env = &turn.envelope;
    let labels: Map<String, Value> = tools
        .iter()
        .map(|t| {
            (
                t.tool.spec().name.clone(),
                json!({"en_US": t.label, "zh_Hans": t.label}),
            )
        })
        .collect();
    let react = agent.strategy == "react";
    let mut messages = base.messages.clone();
    if react {
        insert_react_instructions(&mut messages, &tools);
    }
    let mut answer = String::new();
    let mut usage: Option<Usage> = None;
    let mut thoughts: Vec<AgentThought> = Vec::new();
    let rounds = max_rounds(agent.max_iteration);
    for round in 1..=rounds {
        let mut req = base.clone();
        req.messages = messages.clone();
        if !react && round < rounds {
            req.tools = tools
                .iter()
                .map(|t| ToolDef {
                    name: t.tool.spec().name.clone(),
                    description: t.tool.spec().description.clone(),
                    parameters: t.tool.spec().llm_schema(),
                })
                .collect();
        }
        let mut thought = AgentThought {
            id: new_id(),
            position: round,
            tool_labels: Value::Object(Map::new()),
            created_at: now(),
            ..Default::default()
        };
        let _ = out.send(|| env.agent_thought(&thought)).await;
        let mut stream = match turn.client.chat(&req).await {
            Ok(s) => s,
            Err(e) => return Err((answer, thoughts, e.into())),
        };
        let mut response = String::new();
        let mut output = weir_core::model::LlmOutput::default();
        loop {
            let next = tokio::select! {
                biased;
                () = stop.stopped() => None,
                () = tokio::time::sleep_until(deadline) => None,
                next = futures_util::StreamExt::next(&mut stream) => next,
            };
            let Some(ev) = next else { break };
            let ev = match ev {
                Ok(ev) => ev,
                Err(e) => {
                    thoughts.push(thought);
                    return Err((answer, thoughts, e.into()));
                }
            };
            if let LlmEvent::Text(t) = &ev {
                response.push_str(t);
                if !react {
                    answer.push_str(t);
                    let _ = out.send(|| env.agent_message(t)).await;
                }
            }
            output.push(&ev);
        }
        let round_usage = output.usage.clone();
        usage = Some(match &usage {
            Some(prev) => prev.add(&round_usage),
            None => round_usage,
        });
        let calls: Vec<ToolCall> = if react {
            match parse_react(&response) {
                ReactStep::Final(text) => {
                    answer.push_str(&text);
                    let _ = out.send(|| env.agent_message(&text)).await;
                    Vec::new()
                }
                ReactStep::Action(name, input) => vec![ToolCall {
                    id: new_id(),
                    name,
                    arguments: input,
                }],
            }
        } else {
            output.tool_calls.clone()
        };
        thought.thought = response.clone();
        if !calls.is_empty() {
            thought.tool = calls
                .iter()
                .map(|c| c.name.clone())
                .collect::<Vec<_>>()
                .join(";");
            let inputs: Map<String, Value> = calls
                .iter()
                .map(|c| {
                    (
                        c.name.clone(),
                        serde_json::from_str(&c.arguments).unwrap_or(Value::Object(Map::new())),
                    )
                })
                .collect();
            thought.tool_input = Value::Object(inputs).to_string();
            thought.tool_labels = Value::Object(
                calls
                    .iter()
                    .filter_map(|c| labels.get(&c.name).map(|l| (c.name.clone(), l.clone())))
                    .collect(),
            );
        }
        let _ = out.send(|| env.agent_thought(&thought)).await;
        if calls.is_empty() || stop.is_stopped() {
            thoughts.push(thought);
            break;
        }
        if react {
            messages.push(ChatMessage::assistant(response.clone()));
        } else {
            messages.push(ChatMessage::assistant_calls(
                response.clone(),
                calls.clone(),
            ));
        }
        let mut observations = Map::new();
        for call in &calls {
            let result = call_tool(&tools, &call.name, &call.arguments).await;
            if react {
                messages.push(ChatMessage::user(format!("Observation: {result}")));
            } else {
                messages.push(ChatMessage::tool(call.id.clone(), result.clone()));
            }
            observations.insert(call.name.clone(), Value::String(result));
        }
        thought.observation = Value::Object(observations).to_string();
        let _ = out.send(|| env.agent_thought(&thought)).await;
        thoughts.push(thought);
    }
    let usage = usage.unwrap_or_default();
    Ok((answer, usage, thoughts))
}

enum ReactStep {
    Final(String),
    Action(String, String),
}

fn insert_react_instructions(messages: &mut Vec<ChatMessage>, tools: &[BoundTool]) {
    let mut list = String::new();
    for t in tools {
        list.push_str(&format!(
            "- {}: {} Arguments (JSON schema): {}\n",
            t.tool.spec().name,
            t.tool.spec().description,
            t.tool.spec().llm_schema()
        ));
    }
    let instructions = format!(
        "You can use these tools:\n{list}\nTo use a tool, reply with one line `Action: {{\"action\": \"<tool name>\", \"action_input\": {{...}}}}` and stop; you will get an `Observation:` with its result. When you can answer, reply with `Final Answer: <answer>`."
    );
    match messages.first_mut() {
        Some(m) if m.role == "system" => {
            let text = format!("{}\n\n{instructions}", m.content.text());
            *m = ChatMessage::system(text);
        }
        _ => messages.insert(0, ChatMessage::system(instructions)),
    }
}

fn parse_react(text: &str) -> ReactStep {
    if let Some(i) = text.find("Final Answer:") {
        return ReactStep::Final(text[i + "Final Answer:".len()..].trim().to_owned());
    }
    if let (Some(start), Some(end)) = (text.find('{'), text.rfind('}')) {
        if let Ok(v) = serde_json::from_str::<Value>(&text[start..=end]) {
            if let Some(name) = v.get("action").and_then(Value::as_str) {
                if name != "Final Answer" {
                    let input = v
                        .get("action_input")
                        .cloned()
                        .unwrap_or(Value::Object(Map::new()));
                    let input = match input {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    return ReactStep::Action(name.to_owned(), input);
                }
                return ReactStep::Final(
                    v.get("action_input")
                        .map(weir_core::inputs::text_of)
                        .unwrap_or_default(),
                );
            }
        }
    }
    ReactStep::Final(text.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_are_bounded() {
        assert_eq!(max_rounds(10), 6);
        assert_eq!(max_rounds(2), 3);
        assert_eq!(max_rounds(0), 2);
    }

    #[test]
    fn react_parsing() {
        assert!(
            matches!(parse_react("Thought: ok\nFinal Answer: 42"), ReactStep::Final(a) if a == "42")
        );
        match parse_react("Thought: check\nAction: {\"action\": \"current_time\", \"action_input\": {\"timezone\": \"UTC\"}}") {
            ReactStep::Action(n, i) => {
                assert_eq!(n, "current_time");
                assert_eq!(i, "{\"timezone\":\"UTC\"}");
            }
            ReactStep::Final(_) => panic!("expected an action"),
        }
        assert!(matches!(parse_react("just text"), ReactStep::Final(a) if a == "just text"));
    }
}
