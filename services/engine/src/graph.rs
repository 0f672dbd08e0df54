//! The workflow graph: nodes and edges parsed from the DSL, validated (one start node,
//! edges between real nodes, known node types, no cycle at top level), with the
//! sub-graphs of iteration and loop containers.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde_json::{Map, Value};

/// What a node does when it fails.
#[derive(Clone, Debug, PartialEq)]
pub enum ErrorStrategy {
    /// The run fails.
    None,
    /// Continue with these outputs (and `error_message`, `error_type`).
    DefaultValue(Map<String, Value>),
    /// Follow the `fail-branch` edges.
    FailBranch,
}

/// Retry settings of a node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Retry {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Wait between attempts, milliseconds.
    pub interval_ms: u64,
}

/// One node as declared.
#[derive(Clone, Debug)]
pub struct NodeDef {
    /// Node id.
    pub id: String,
    /// `data.type`.
    pub kind: String,
    /// Title.
    pub title: String,
    /// `data`, as declared.
    pub data: Value,
    /// Error strategy.
    pub error_strategy: ErrorStrategy,
    /// Retry settings, when enabled.
    pub retry: Option<Retry>,
    /// The container it sits in.
    pub parent: Option<String>,
}

impl NodeDef {
    /// Whether the node decides which outgoing edges are taken.
    pub fn is_branch(&self) -> bool {
        matches!(self.kind.as_str(), "if-else" | "question-classifier")
            || self.error_strategy == ErrorStrategy::FailBranch
    }

    /// A string field of `data`.
    pub fn str(&self, key: &str) -> &str {
        self.data.get(key).and_then(Value::as_str).unwrap_or("")
    }
}

/// One edge.
#[derive(Clone, Debug, PartialEq)]
pub struct Edge {
    /// Source node index.
    pub source: usize,
    /// Target node index.
    pub target: usize,
    /// Branch handle (`source`, a case id, a class id, `fail-branch`).
    pub handle: String,
}

/// A graph (the top level or a container's inside).
#[derive(Debug)]
pub struct Graph {
    /// Nodes.
    pub nodes: Vec<NodeDef>,
    /// Edges.
    pub edges: Vec<Edge>,
    /// Outgoing edge indexes per node.
    pub out: Vec<Vec<usize>>,
    /// Incoming edge indexes per node.
    pub inc: Vec<Vec<usize>>,
    /// The entry node.
    pub root: usize,
    /// Node index by id.
    pub index: HashMap<String, usize>,
    /// Sub-graphs of containers by container id.
    pub children: HashMap<String, Arc<Graph>>,
}

/// Node types weir can run.
pub const SUPPORTED: &[&str] = &[
    "start",
    "end",
    "answer",
    "llm",
    "if-else",
    "code",
    "template-transform",
    "http-request",
    "variable-aggregator",
    "variable-assigner",
    "assigner",
    "iteration",
    "iteration-start",
    "loop",
    "loop-start",
    "loop-end",
    "list-operator",
    "parameter-extractor",
    "question-classifier",
    "document-extractor",
    "tool",
    "knowledge-retrieval",
];

fn parse_node(v: &Value) -> Result<Option<NodeDef>, String> {
    if v.get("type").and_then(Value::as_str) == Some("custom-note") {
        return Ok(None);
    }
    let id = match v.get("id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err("a node has no id".into()),
    };
    let data = v.get("data").cloned().unwrap_or(Value::Object(Map::new()));
    let kind = data
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let error_strategy = match data.get("error_strategy").and_then(Value::as_str) {
        Some("fail-branch") => ErrorStrategy::FailBranch,
        Some("default-value") => {
            let mut outputs = Map::new();
            for item in data
                .get("default_value")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(key) = item.get("key").and_then(Value::as_str) {
                    let t = item.get("type").and_then(Value::as_str).unwrap_or("string");
                    let value = item.get("value").cloned().unwrap_or(Value::Null);
                    outputs.insert(key.to_owned(), super::value::coerce(t, &value));
                }
            }
            ErrorStrategy::DefaultValue(outputs)
        }
        _ => ErrorStrategy::None,
    };
    let retry = data
        .get("retry_config")
        .filter(|r| {
            r.get("retry_enabled")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        })
        .map(|r| Retry {
            max_retries: r.get("max_retries").and_then(Value::as_u64).unwrap_or(0) as u32,
            interval_ms: r.get("retry_interval").and_then(Value::as_u64).unwrap_or(0),
        });
    let parent = v
        .get("parentId")
        .and_then(Value::as_str)
        .or_else(|| {
            data.get("iteration_id")
                .and_then(Value::as_str)
                .filter(|_| {
                    data.get("isInIteration")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                })
        })
        .or_else(|| {
            data.get("loop_id").and_then(Value::as_str).filter(|_| {
                data.get("isInLoop")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            })
        })
        .map(str::to_owned);
    Ok(Some(NodeDef {
        title: data
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        id,
        kind,
        data,
        error_strategy,
        retry,
        parent,
    }))
}

impl Graph {
    /// Parses and validates a `workflow.graph`.
    pub fn parse(graph: &Value) -> Result<Graph, String> {
        let mut all = Vec::new();
        for n in graph
            .get("nodes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(def) = parse_node(n)? {
                all.push(def);
            }
        }
        let mut seen = HashSet::new();
        for n in &all {
            if !seen.insert(n.id.clone()) {
                return Err(format!("node id {:?} is used twice", n.id));
            }
        }
        let raw_edges: Vec<(String, String, String)> = graph
            .get("edges")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let source = e.get("source")?.as_str()?.to_owned();
                let target = e.get("target")?.as_str()?.to_owned();
                let handle = e
                    .get("sourceHandle")
                    .and_then(Value::as_str)
                    .unwrap_or("source")
                    .to_owned();
                Some((source, target, handle))
            })
            .collect();
        for (s, t, _) in &raw_edges {
            for end in [s, t] {
                if !seen.contains(end) {
                    return Err(format!(
                        "an edge points at a node that does not exist: {end:?}"
                    ));
                }
            }
        }
        let starts: Vec<&NodeDef> = all
            .iter()
            .filter(|n| n.parent.is_none() && n.kind == "start")
            .collect();
        let root = match starts.as_slice() {
            [one] => one.id.clone(),
            [] => return Err("the graph has no start node".into()),
            _ => return Err("the graph has more than one start node".into()),
        };
        let g = Self::build(&all, &raw_edges, None, &root)?;
        if has_cycle(&g) {
            return Err("the graph has a cycle (use a loop node for repetition)".into());
        }
        Ok(g)
    }

    fn build(
        all: &[NodeDef],
        raw_edges: &[(String, String, String)],
        parent: Option<&str>,
        root: &str,
    ) -> Result<Graph, String> {
        let nodes: Vec<NodeDef> = all
            .iter()
            .filter(|n| n.parent.as_deref() == parent)
            .cloned()
            .collect();
        let index: HashMap<String, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.clone(), i))
            .collect();
        let mut edges = Vec::new();
        let mut out = vec![Vec::new(); nodes.len()];
        let mut inc = vec![Vec::new(); nodes.len()];
        for (s, t, h) in raw_edges {
            if let (Some(&si), Some(&ti)) = (index.get(s), index.get(t)) {
                out[si].push(edges.len());
                inc[ti].push(edges.len());
                edges.push(Edge {
                    source: si,
                    target: ti,
                    handle: if h == "success-branch" {
                        "source".into()
                    } else {
                        h.clone()
                    },
                });
            }
        }
        let root_idx = *index
            .get(root)
            .ok_or_else(|| format!("start node {root:?} not found in its container"))?;
        let mut children = HashMap::new();
        for n in &nodes {
            if n.kind == "iteration" || n.kind == "loop" {
                let start = n.str("start_node_id");
                let inner_root = if !start.is_empty() {
                    start.to_owned()
                } else {
                    all.iter()
                        .find(|c| {
                            c.parent.as_deref() == Some(&n.id)
                                && (c.kind == "iteration-start" || c.kind == "loop-start")
                        })
                        .map(|c| c.id.clone())
                        .ok_or_else(|| format!("{} {:?} has no start node", n.kind, n.id))?
                };
                let sub = Self::build(all, raw_edges, Some(&n.id), &inner_root)?;
                children.insert(n.id.clone(), Arc::new(sub));
            }
        }
        Ok(Graph {
            nodes,
            edges,
            out,
            inc,
            root: root_idx,
            index,
            children,
        })
    }

    /// Node types used anywhere in the graph that weir cannot run.
    pub fn unsupported(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        self.visit(&mut |n| {
            if !SUPPORTED.contains(&n.kind.as_str()) {
                let name = if n.kind.is_empty() {
                    format!("<no type> ({})", n.id)
                } else {
                    n.kind.clone()
                };
                if !out.contains(&name) {
                    out.push(name);
                }
            }
        });
        out
    }

    /// Calls `f` for every node, containers' insides included.
    pub fn visit(&self, f: &mut dyn FnMut(&NodeDef)) {
        for n in &self.nodes {
            f(n);
        }
        for child in self.children.values() {
            child.visit(f);
        }
    }

    /// Response nodes (`answer`, `end`) reached for sure once node `i` runs: through nodes
    /// that take all their outgoing edges.
    pub fn certain_responses(&self, i: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = vec![i];
        while let Some(n) = stack.pop() {
            if std::mem::replace(&mut seen[n], true) {
                continue;
            }
            if matches!(self.nodes[n].kind.as_str(), "answer" | "end") {
                out.push(n);
            }
            if self.nodes[n].is_branch() {
                continue;
            }
            for &e in &self.out[n] {
                stack.push(self.edges[e].target);
            }
        }
        out
    }
}

fn has_cycle(g: &Graph) -> bool {
    let mut indegree: Vec<usize> = g.inc.iter().map(Vec::len).collect();
    let mut queue: VecDeque<usize> = (0..g.nodes.len()).filter(|&i| indegree[i] == 0).collect();
    let mut visited = 0;
    while let Some(n) = queue.pop_front() {
        visited += 1;
        for &e in &g.out[n] {
            let t = g.edges[e].target;
            indegree[t] -= 1;
            if indegree[t] == 0 {
                queue.push_back(t);
            }
        }
    }
    visited != g.nodes.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn example(name: &str) -> Value {
        let text = std::fs::read_to_string(format!(
            "{}/../../tests/fixtures/dsl/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        serde_json::to_value(doc).unwrap()["workflow"]["graph"].clone()
    }

    #[test]
    fn parses_every_workflow_example() {
        for name in [
            "04-chatflow-llm-ifelse.yml",
            "05-workflow-llm.yml",
            "06-workflow-code-template-http.yml",
            "07-workflow-iteration.yml",
            "08-workflow-classifier-aggregator.yml",
            "09-chatflow-conversation-vars.yml",
            "10-workflow-knowledge-retrieval.yml",
        ] {
            let g = Graph::parse(&example(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(g.unsupported().is_empty(), "{name}: {:?}", g.unsupported());
        }
        let g = Graph::parse(&example("07-workflow-iteration.yml")).unwrap();
        let inner = &g.children["each_topic"];
        assert_eq!(inner.nodes.len(), 2);
        assert_eq!(inner.nodes[inner.root].id, "each_topicstart");
        assert!(!g.index.contains_key("write_tip"));
    }

    #[test]
    fn certainty_stops_at_branches() {
        let g = Graph::parse(&example("04-chatflow-llm-ifelse.yml")).unwrap();
        assert!(g.certain_responses(g.index["start"]).is_empty());
        let from_llm = g.certain_responses(g.index["llm_refund"]);
        assert_eq!(from_llm, vec![g.index["answer_refund"]]);
        let g = Graph::parse(&example("05-workflow-llm.yml")).unwrap();
        assert_eq!(g.certain_responses(g.root).len(), 1);
    }

    #[test]
    fn invalid_graphs_are_refused() {
        let cases = [
            (json!({"nodes": [], "edges": []}), "no start node"),
            (
                json!({"nodes": [{"id": "a", "data": {"type": "start"}}, {"id": "b", "data": {"type": "start"}}]}),
                "more than one start",
            ),
            (
                json!({"nodes": [{"id": "a", "data": {"type": "start"}}], "edges": [{"source": "a", "target": "zz"}]}),
                "does not exist",
            ),
            (
                json!({"nodes": [{"id": "a", "data": {"type": "start"}}, {"id": "a", "data": {"type": "end"}}]}),
                "used twice",
            ),
            (
                json!({"nodes": [{"id": "s", "data": {"type": "start"}}, {"id": "a", "data": {"type": "code"}}, {"id": "b", "data": {"type": "code"}}],
                "edges": [{"source": "s", "target": "a"}, {"source": "a", "target": "b"}, {"source": "b", "target": "a"}]}),
                "cycle",
            ),
        ];
        for (g, reason) in cases {
            let err = Graph::parse(&g).unwrap_err();
            assert!(err.contains(reason), "{err}");
        }
        let g = Graph::parse(&json!({"nodes": [{"id": "s", "data": {"type": "start"}}, {"id": "h", "data": {"type": "human-input"}}, {"id": "n", "type": "custom-note", "data": {}}]})).unwrap();
        assert_eq!(g.unsupported(), vec!["human-input"]);
    }
}
