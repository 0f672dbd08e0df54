//! The variable pool: node outputs and system, environment and conversation variables, read
//! by selectors (`[node_id, var, …]`). Containers (iteration, loop) run on a child layer that
//! sees its parent; `sys`, `env` and `conversation` always live in the root layer.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::{Map, Value};

use super::value::navigate;

/// Prefixes that always live in the root layer.
pub const ROOT_PREFIXES: [&str; 3] = ["sys", "env", "conversation"];

/// One layer of variables.
#[derive(Debug, Default)]
pub struct Pool {
    parent: Option<Arc<Pool>>,
    vars: RwLock<HashMap<String, Map<String, Value>>>,
}

impl Pool {
    /// An empty root pool.
    pub fn new() -> Arc<Pool> {
        Arc::new(Pool::default())
    }

    /// A child layer over `parent`.
    pub fn child(parent: &Arc<Pool>) -> Arc<Pool> {
        Arc::new(Pool {
            parent: Some(parent.clone()),
            vars: RwLock::new(HashMap::new()),
        })
    }

    fn root(&self) -> &Pool {
        let mut cur = self;
        while let Some(p) = &cur.parent {
            cur = p;
        }
        cur
    }

    /// The pool that holds `node`'s variables: the root for run-wide prefixes.
    fn layer_of(&self, node: &str) -> &Pool {
        if ROOT_PREFIXES.contains(&node) {
            self.root()
        } else {
            self
        }
    }

    /// Sets one variable.
    pub fn set(&self, node: &str, var: &str, value: Value) {
        self.layer_of(node)
            .vars
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(node.to_owned())
            .or_default()
            .insert(var.to_owned(), value);
    }

    /// Sets a node's outputs (replacing earlier ones in this layer).
    pub fn set_outputs(&self, node: &str, outputs: Map<String, Value>) {
        self.vars
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(node.to_owned(), outputs);
    }

    /// Removes a node's outputs from this layer (loop rounds start clean).
    pub fn clear(&self, node: &str) {
        self.vars
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(node);
    }

    /// The value at a selector, cloned; `None` when absent.
    pub fn get(&self, selector: &[String]) -> Option<Value> {
        let (node, rest) = selector.split_first()?;
        let (var, path) = rest.split_first()?;
        {
            let vars = self.vars.read().unwrap_or_else(|p| p.into_inner());
            if let Some(outputs) = vars.get(node.as_str()) {
                if let Some(v) = outputs.get(var.as_str()) {
                    return navigate(v, path).cloned();
                }
                if self.parent.is_none() || !ROOT_PREFIXES.contains(&node.as_str()) {
                    return None;
                }
            }
        }
        self.parent.as_ref().and_then(|p| p.get(selector))
    }

    /// Whether a node has outputs visible from this layer.
    pub fn has_node(&self, node: &str) -> bool {
        if self
            .vars
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(node)
        {
            return true;
        }
        self.parent.as_ref().is_some_and(|p| p.has_node(node))
    }

    /// All variables under a prefix (e.g. `conversation`).
    pub fn all(&self, node: &str) -> Map<String, Value> {
        self.layer_of(node)
            .vars
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(node)
            .cloned()
            .unwrap_or_default()
    }
}

/// A selector from a JSON list of strings.
pub fn selector(v: &Value) -> Option<Vec<String>> {
    let items = v.as_array()?;
    let out: Vec<String> = items
        .iter()
        .filter_map(|x| x.as_str().map(str::to_owned))
        .collect();
    (out.len() >= 2 && out.len() == items.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn layers() {
        let root = Pool::new();
        root.set("sys", "query", json!("hi"));
        root.set("n1", "out", json!({"a": [1]}));
        let child = Pool::child(&root);
        child.set("it", "item", json!(3));
        child.set("conversation", "x", json!(1));
        assert_eq!(child.get(&sel(&["sys", "query"])), Some(json!("hi")));
        assert_eq!(child.get(&sel(&["n1", "out", "a"])), Some(json!([1])));
        assert_eq!(child.get(&sel(&["it", "item"])), Some(json!(3)));
        assert_eq!(root.get(&sel(&["it", "item"])), None);
        assert_eq!(
            root.get(&sel(&["conversation", "x"])),
            Some(json!(1)),
            "root prefixes write through"
        );
        assert_eq!(child.get(&sel(&["n1", "missing"])), None);
        assert!(child.has_node("n1"));
        assert_eq!(selector(&json!(["a", "b"])), Some(sel(&["a", "b"])));
        assert_eq!(selector(&json!(["a"])), None);
    }
}
