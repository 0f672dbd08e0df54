//! Streaming of response nodes (`answer` in chatflows, `end` in workflows).
//!
//! A response node's template is a list of literal texts and references. Once the node is
//! certain to be reached (see [`super::Graph::certain_responses`]) it joins the queue; the
//! node at the head streams its template in order: literal text at once, a reference to a
//! streaming node (an LLM's `text`) chunk by chunk as the node produces it, any other
//! reference when its node has finished. Only the head streams; text never comes out of
//! order.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use super::graph::Graph;
use super::pool::{Pool, ROOT_PREFIXES};
use super::template::{Segment, Template};
use super::value::text;

struct Response {
    node_id: String,
    segments: Vec<Segment>,
    cursor: usize,
    /// Chunks of the current streaming reference already sent.
    sent_chunks: usize,
    literal_selector: Vec<String>,
}

#[derive(Default)]
struct StreamBuf {
    chunks: Vec<String>,
}

/// Decides what response text goes out, and when.
pub struct Coordinator {
    responses: HashMap<usize, Response>,
    queue: VecDeque<usize>,
    queued: HashSet<usize>,
    streams: HashMap<(String, String), StreamBuf>,
    streaming_nodes: HashSet<String>,
    finished: HashSet<String>,
    skipped: HashSet<String>,
    pool: Arc<Pool>,
}

/// Text to send: the chunk and where it comes from.
pub type Emit = (String, Vec<String>);

impl Coordinator {
    /// A coordinator for the top-level graph; `streaming` names the nodes whose `text`
    /// streams.
    pub fn new(graph: &Graph, pool: Arc<Pool>, streaming: HashSet<String>) -> Self {
        let mut responses = HashMap::new();
        for (i, n) in graph.nodes.iter().enumerate() {
            let segments = match n.kind.as_str() {
                "answer" => Template::parse(n.str("answer")).segments,
                "end" => {
                    let mut segs = Vec::new();
                    for (k, o) in n
                        .data
                        .get("outputs")
                        .and_then(|o| o.as_array())
                        .into_iter()
                        .flatten()
                        .enumerate()
                    {
                        let Some(sel) = o.get("value_selector").and_then(super::pool::selector)
                        else {
                            continue;
                        };
                        if k > 0 {
                            segs.push(Segment::Text("\n".into()));
                        }
                        let raw = format!("{{{{#{}#}}}}", sel.join("."));
                        segs.push(Segment::Ref(sel, raw));
                    }
                    segs
                }
                _ => continue,
            };
            let var = if n.kind == "answer" {
                "answer"
            } else {
                "output"
            };
            responses.insert(
                i,
                Response {
                    node_id: n.id.clone(),
                    segments,
                    cursor: 0,
                    sent_chunks: 0,
                    literal_selector: vec![n.id.clone(), var.to_owned()],
                },
            );
        }
        Coordinator {
            responses,
            queue: VecDeque::new(),
            queued: HashSet::new(),
            streams: HashMap::new(),
            streaming_nodes: streaming,
            finished: HashSet::new(),
            skipped: HashSet::new(),
            pool,
        }
    }

    /// Response nodes now certain to run.
    pub fn certain(&mut self, nodes: &[usize]) -> Vec<Emit> {
        for &n in nodes {
            if self.responses.contains_key(&n) && self.queued.insert(n) {
                self.queue.push_back(n);
            }
        }
        self.advance()
    }

    /// A chunk of a streaming node's variable.
    pub fn chunk(&mut self, node: &str, var: &str, text: &str) -> Vec<Emit> {
        self.streams
            .entry((node.to_owned(), var.to_owned()))
            .or_default()
            .chunks
            .push(text.to_owned());
        self.advance()
    }

    /// A node finished (its outputs are in the pool).
    pub fn finished(&mut self, node: &str) -> Vec<Emit> {
        self.finished.insert(node.to_owned());
        self.advance()
    }

    /// A node will not run.
    pub fn skipped(&mut self, node: &str) -> Vec<Emit> {
        self.skipped.insert(node.to_owned());
        self.advance()
    }

    fn advance(&mut self) -> Vec<Emit> {
        let mut out = Vec::new();
        while let Some(&head) = self.queue.front() {
            let Some(r) = self.responses.get_mut(&head) else {
                self.queue.pop_front();
                continue;
            };
            let mut blocked = false;
            while r.cursor < r.segments.len() {
                match &r.segments[r.cursor] {
                    Segment::Text(t) => {
                        out.push((t.clone(), r.literal_selector.clone()));
                        r.cursor += 1;
                    }
                    Segment::Ref(sel, raw) => {
                        let node = sel[0].as_str();
                        let key = (sel[0].clone(), sel.get(1).cloned().unwrap_or_default());
                        let streaming = sel.len() == 2 && self.streaming_nodes.contains(node);
                        let done = ROOT_PREFIXES.contains(&node)
                            || self.finished.contains(node)
                            || self.skipped.contains(node);
                        if streaming {
                            if let Some(buf) = self.streams.get(&key) {
                                for c in &buf.chunks[r.sent_chunks.min(buf.chunks.len())..] {
                                    out.push((c.clone(), sel.clone()));
                                }
                                r.sent_chunks = buf.chunks.len();
                            }
                            if done {
                                // Streamed text that never came (e.g. the node failed over
                                // to a default value) goes out whole.
                                if r.sent_chunks == 0 {
                                    if let Some(v) = self.pool.get(sel) {
                                        out.push((text(&v), sel.clone()));
                                    }
                                }
                                r.cursor += 1;
                                r.sent_chunks = 0;
                                continue;
                            }
                            blocked = true;
                            break;
                        }
                        if !done && !self.pool.has_node(node) {
                            blocked = true;
                            break;
                        }
                        match self.pool.get(sel) {
                            Some(v) => out.push((text(&v), sel.clone())),
                            None if self.skipped.contains(node) || self.finished.contains(node) => {
                                out.push((raw.clone(), r.literal_selector.clone()))
                            }
                            None if done => {}
                            None => {
                                blocked = true;
                                break;
                            }
                        }
                        r.cursor += 1;
                    }
                }
            }
            if blocked {
                break;
            }
            let _ = &r.node_id;
            self.queue.pop_front();
        }
        out.retain(|(t, _)| !t.is_empty());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn graph() -> Graph {
        Graph::parse(&json!({
            "nodes": [
                {"id": "start", "data": {"type": "start"}},
                {"id": "llm", "data": {"type": "llm"}},
                {"id": "a", "data": {"type": "answer", "answer": "Q={{#sys.query#}}: {{#llm.text#}}!"}},
            ],
            "edges": [{"source": "start", "target": "llm"}, {"source": "llm", "target": "a"}]
        }))
        .unwrap()
    }

    #[test]
    fn streams_in_order() {
        let g = graph();
        let pool = Pool::new();
        pool.set("sys", "query", json!("hi"));
        let mut c = Coordinator::new(&g, pool.clone(), ["llm".to_owned()].into());
        // Chunks before certainty are buffered.
        assert!(c.chunk("llm", "text", "Hel").is_empty());
        let out = c.certain(&g.certain_responses(g.index["llm"]));
        assert_eq!(
            out.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
            vec!["Q=", "hi", ": ", "Hel"]
        );
        let out = c.chunk("llm", "text", "lo");
        assert_eq!(
            out[0],
            ("lo".to_owned(), vec!["llm".to_owned(), "text".to_owned()])
        );
        pool.set("llm", "text", json!("Hello"));
        let out = c.finished("llm");
        assert_eq!(
            out,
            vec![("!".to_owned(), vec!["a".to_owned(), "answer".to_owned()])]
        );
        assert!(c.finished("a").is_empty());
    }

    #[test]
    fn non_streaming_values_wait_for_their_node() {
        let g = Graph::parse(&json!({
            "nodes": [
                {"id": "start", "data": {"type": "start"}},
                {"id": "code", "data": {"type": "code"}},
                {"id": "end", "data": {"type": "end", "outputs": [{"variable": "a", "value_selector": ["start", "x"]}, {"variable": "b", "value_selector": ["code", "y"]}]}},
            ],
            "edges": [{"source": "start", "target": "code"}, {"source": "code", "target": "end"}]
        }))
        .unwrap();
        let pool = Pool::new();
        let mut c = Coordinator::new(&g, pool.clone(), HashSet::new());
        assert!(c.certain(&g.certain_responses(g.root)).is_empty());
        pool.set("start", "x", json!("X"));
        let out = c.finished("start");
        assert_eq!(
            out.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
            vec!["X", "\n"]
        );
        pool.set("code", "y", json!(2));
        assert_eq!(c.finished("code")[0].0, "2");
    }
}
