//! Node types, one module each: the data a node declares, compiled once at import, and what
//! it does when it runs.

mod answer;
mod assigner;
mod code;
pub mod conditions;
mod document_extractor;
mod end;
mod http_request;
mod if_else;
mod iteration;
mod knowledge_retrieval;
mod list_operator;
pub mod llm;
mod loop_node;
mod parameter_extractor;
mod question_classifier;
mod start;
mod template_transform;
mod tool;
mod variable_aggregator;

use std::sync::Arc;

use serde_json::{Map, Value};

use super::graph::NodeDef;
use super::Node;

/// Compiles a node's declaration.
pub fn compile(def: &NodeDef) -> Result<Arc<dyn Node>, String> {
    Ok(match def.kind.as_str() {
        "start" => Arc::new(start::Start),
        "iteration-start" | "loop-start" => Arc::new(start::ContainerStart),
        "end" => Arc::new(end::End::compile(def)?),
        "answer" => Arc::new(answer::Answer::compile(def)?),
        "llm" => Arc::new(llm::Llm::compile(def)?),
        "if-else" => Arc::new(if_else::IfElse::compile(def)?),
        "code" => Arc::new(code::Code::compile(def)?),
        "template-transform" => Arc::new(template_transform::TemplateTransform::compile(def)?),
        "http-request" => Arc::new(http_request::HttpRequest::compile(def)?),
        "variable-aggregator" | "variable-assigner" => {
            Arc::new(variable_aggregator::Aggregator::compile(def)?)
        }
        "assigner" => Arc::new(assigner::Assigner::compile(def)?),
        "iteration" => Arc::new(iteration::Iteration::compile(def)?),
        "loop" => Arc::new(loop_node::Loop::compile(def)?),
        "loop-end" => Arc::new(loop_node::LoopEnd),
        "list-operator" => Arc::new(list_operator::ListOperator::compile(def)?),
        "question-classifier" => Arc::new(question_classifier::Classifier::compile(def)?),
        "parameter-extractor" => Arc::new(parameter_extractor::Extractor::compile(def)?),
        "document-extractor" => Arc::new(document_extractor::DocumentExtractor::compile(def)?),
        "tool" => Arc::new(tool::ToolNode::compile(def)?),
        "knowledge-retrieval" => Arc::new(knowledge_retrieval::KnowledgeRetrieval::compile(def)?),
        other => return Err(format!("node type {other} is not supported")),
    })
}

/// A selector field of a node's data.
pub fn selector_field(data: &Value, key: &str) -> Option<Vec<String>> {
    data.get(key).and_then(super::pool::selector)
}

/// `[{variable, value_selector}]` lists (code, template-transform, jinja2 prompts).
pub fn variable_list(data: Option<&Value>) -> Vec<(String, Vec<String>)> {
    data.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let name = v.get("variable")?.as_str()?.to_owned();
            let sel = v.get("value_selector").and_then(super::pool::selector)?;
            Some((name, sel))
        })
        .collect()
}

/// One-entry outputs map.
pub fn single(key: &str, value: Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(key.to_owned(), value);
    m
}
