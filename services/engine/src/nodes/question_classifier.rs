//! `question-classifier`: one model call picks a class for the query; the class id is the
//! branch taken (the first class when the answer matches none). Outputs `class_name`,
//! `class_id`, `usage`.

use serde_json::{json, Map, Value};
use weir_core::BoxFuture;

use super::selector_field;
use crate::graph::NodeDef;
use crate::template::Template;
use crate::value::text;
use crate::{Node, NodeCx, NodeError, NodeOutput};
use weir_core::model::{ChatMessage, ChatRequest, ModelSpec};

/// Error kind of classifier failures.
pub const CLASSIFIER_ERROR: &str = "QuestionClassifierNodeError";

/// The classifier node.
pub struct Classifier {
    query: Vec<String>,
    model: ModelSpec,
    classes: Vec<(String, String)>,
    instruction: Template,
}

impl Classifier {
    /// Compiles query, model, classes and instruction.
    pub fn compile(def: &NodeDef) -> Result<Self, String> {
        let d = &def.data;
        let classes: Vec<(String, String)> = d
            .get("classes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| {
                Some((
                    text(c.get("id")?),
                    c.get("name").map(text).unwrap_or_default(),
                ))
            })
            .collect();
        if classes.is_empty() {
            return Err("classes are required".into());
        }
        Ok(Classifier {
            query: selector_field(d, "query_variable_selector")
                .ok_or("query_variable_selector is required")?,
            model: d
                .get("model")
                .and_then(ModelSpec::from_value)
                .ok_or("model is required")?,
            classes,
            instruction: Template::parse(def.str("instruction")),
        })
    }

    /// The class a model answer names (by id, then by name), else the first class.
    pub fn pick(&self, answer: &str) -> &(String, String) {
        let parsed = answer
            .find('{')
            .zip(answer.rfind('}'))
            .and_then(|(s, e)| serde_json::from_str::<Value>(&answer[s..=e]).ok());
        if let Some(v) = parsed {
            let id = v.get("category_id").map(text);
            let name = v.get("category_name").map(text);
            if let Some(c) = self
                .classes
                .iter()
                .find(|(cid, cname)| Some(cid) == id.as_ref() || Some(cname) == name.as_ref())
            {
                return c;
            }
        }
        let lower = answer.to_lowercase();
        self.classes
            .iter()
            .find(|(_, name)| !name.is_empty() && lower.contains(&name.to_lowercase()))
            .unwrap_or(&self.classes[0])
    }
}

impl Node for Classifier {
    fn run<'a>(&'a self, cx: &'a NodeCx<'a>) -> BoxFuture<'a, Result<NodeOutput, NodeError>> {
        Box::pin(async move {
            let query = cx
                .pool
                .get(&self.query)
                .map(|v| text(&v))
                .unwrap_or_default();
            let inputs = json!({"query": query});
            let fail = |m: String| NodeError::new(CLASSIFIER_ERROR, m).with_inputs(inputs.clone());
            let client = cx.model(&self.model).map_err(fail)?;
            let categories: Vec<Value> = self
                .classes
                .iter()
                .map(|(id, name)| json!({"category_id": id, "category_name": name}))
                .collect();
            let instruction = self.instruction.render(cx.pool);
            let system = format!(
                "You sort a user's text into exactly one of these categories:\n{}\n{}Reply only with JSON of the form {{\"category_id\": \"...\", \"category_name\": \"...\"}}.",
                serde_json::to_string(&categories).unwrap_or_default(),
                if instruction.is_empty() { String::new() } else { format!("Guidance: {instruction}\n") }
            );
            let mut req = ChatRequest::new(
                self.model.name.clone(),
                vec![
                    ChatMessage::system(system.clone()),
                    ChatMessage::user(query.clone()),
                ],
            );
            req.params = self.model.params.clone();
            req.stream = false;
            let out = client
                .chat_output(&req)
                .await
                .map_err(|e| fail(e.to_string()))?;
            let (id, name) = self.pick(&out.text).clone();
            let usage = serde_json::to_value(&out.usage).unwrap_or(Value::Null);
            let mut outputs = Map::new();
            outputs.insert("class_name".into(), Value::String(name));
            outputs.insert("class_id".into(), Value::String(id.clone()));
            outputs.insert("usage".into(), usage.clone());
            Ok(NodeOutput {
                inputs,
                process_data: json!({"model_mode": self.model.mode, "prompts": [{"role": "system", "text": system, "files": []}, {"role": "user", "text": query, "files": []}],
                    "usage": usage, "finish_reason": out.finish_reason, "model_provider": self.model.provider, "model_name": self.model.name}),
                outputs,
                handle: Some(id),
                ..Default::default()
            }
            .with_usage(out.usage))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> Classifier {
        Classifier {
            query: vec!["start".into(), "q".into()],
            model: ModelSpec {
                provider: "openai".into(),
                name: "m".into(),
                mode: "chat".into(),
                params: Map::new(),
            },
            classes: vec![
                ("1".into(), "Billing".into()),
                ("2".into(), "Technical problem".into()),
            ],
            instruction: Template::default(),
        }
    }

    #[test]
    fn picks_by_id_name_or_first() {
        let c = node();
        assert_eq!(
            c.pick("{\"category_id\": \"2\", \"category_name\": \"x\"}")
                .0,
            "2"
        );
        assert_eq!(c.pick("{\"category_name\": \"Billing\"}").0, "1");
        assert_eq!(c.pick("I think it is a technical problem").0, "2");
        assert_eq!(c.pick("echo: no idea").0, "1");
    }
}
