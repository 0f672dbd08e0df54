//! `template-transform`: a Jinja2 template (minijinja) over named variables; output
//! `output` (capped). Every Jinja2 rendering of weir (this node, jinja2 prompts) runs with a
//! budget of VM steps ([`TEMPLATE_FUEL`]) and a recursion limit, so a template that loops
//! for ever fails instead of holding a thread.

use serde_json::{Map, Value};
use weir_core::BoxFuture;

use super::{single, variable_list};
use crate::graph::NodeDef;
use crate::{Node, NodeCx, NodeError, NodeOutput};

/// Longest output of a template, in characters.
pub const MAX_OUTPUT_CHARS: usize = 400_000;
/// VM steps one rendering may take.
pub const TEMPLATE_FUEL: u64 = 1_000_000;
/// Deepest macro and include nesting.
pub const TEMPLATE_RECURSION: usize = 64;

/// The template-transform node.
pub struct TemplateTransform {
    variables: Vec<(String, Vec<String>)>,
    env: minijinja::Environment<'static>,
}

const NAME: &str = "template";

fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_recursion_limit(TEMPLATE_RECURSION);
    env
}

/// The text of a rendering error: a spent budget is named as such.
fn render_error(e: minijinja::Error) -> String {
    match e.kind() {
        minijinja::ErrorKind::OutOfFuel => {
            format!("template rendering exceeded its budget of {TEMPLATE_FUEL} steps")
        }
        _ => e.to_string(),
    }
}

impl TemplateTransform {
    /// Compiles `variables` and the template (once, at import).
    pub fn compile(def: &NodeDef) -> Result<Self, String> {
        let mut env = environment();
        env.add_template_owned(NAME, def.str("template").to_owned())
            .map_err(|e| format!("invalid template: {e}"))?;
        Ok(TemplateTransform {
            variables: variable_list(def.data.get("variables")),
            env,
        })
    }
}

/// Renders a Jinja2 template with these variables.
pub fn render_jinja(template: &str, vars: &Map<String, Value>) -> Result<String, String> {
    let env = environment();
    let tmpl = env.template_from_str(template).map_err(|e| e.to_string())?;
    tmpl.render(minijinja::Value::from_serialize(vars))
        .map_err(render_error)
}

impl Node for TemplateTransform {
    fn run<'a>(&'a self, cx: &'a NodeCx<'a>) -> BoxFuture<'a, Result<NodeOutput, NodeError>> {
        Box::pin(async move {
            let mut vars = Map::new();
            for (name, sel) in &self.variables {
                vars.insert(name.clone(), cx.pool.get(sel).unwrap_or(Value::Null));
            }
            let inputs = Value::Object(vars.clone());
            let out = self
                .env
                .get_template(NAME)
                .and_then(|t| t.render(minijinja::Value::from_serialize(&vars)))
                .map_err(|e| {
                    NodeError::new("TemplateTransformError", render_error(e))
                        .with_inputs(inputs.clone())
                })?;
            if out.chars().count() > MAX_OUTPUT_CHARS {
                return Err(NodeError::new(
                    "TemplateTransformError",
                    format!("Output length exceeds {MAX_OUTPUT_CHARS} characters"),
                )
                .with_inputs(inputs));
            }
            Ok(NodeOutput {
                inputs,
                process_data: Value::Object(Map::new()),
                outputs: single("output", Value::String(out)),
                ..Default::default()
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jinja2_semantics() {
        let vars = json!({"city": "lisbon porto", "days": [1, 2], "tips": ["a", null]})
            .as_object()
            .unwrap()
            .clone();
        let out = render_jinja("Trip to {{ city | title }} ({{ days | length }} days)\n{% for d in days %}- Day {{ d }}\n{% endfor %}", &vars).unwrap();
        assert_eq!(out, "Trip to Lisbon Porto (2 days)\n- Day 1\n- Day 2\n");
        let out = render_jinja("{% for t in tips %}{{ loop.index }}:{{ t if t is not none else \"(failed)\" }};{% endfor %}", &vars).unwrap();
        assert_eq!(out, "1:a;2:(failed);");
        assert_eq!(render_jinja("{{ missing }}|", &vars).unwrap(), "|");
        assert!(render_jinja("{% for %}", &vars).is_err());
    }

    #[test]
    fn endless_templates_run_out_of_budget() {
        let vars = Map::new();
        let err = render_jinja(
            "{% for a in range(100000) %}{% for b in range(100000) %}{{ a }}{% endfor %}{% endfor %}",
            &vars,
        )
        .unwrap_err();
        assert!(err.contains("budget"), "{err}");
        let err = render_jinja(
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
            &vars,
        )
        .unwrap_err();
        assert!(err.contains("recursion"), "{err}");
    }
}
