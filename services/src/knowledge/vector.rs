//! Chunk embeddings and the in-process vector index: per dataset, an HNSW graph (the `hnsw`
//! crate, seeded so that the same data gives the same graph) over the embeddings of the chunks
//! retrieval may return. It is loaded from the database on first use (so it is rebuilt on
//! start), kept in step with chunks indexed or removed, and dropped to be reloaded when many
//! chunks change at once. Small indexes are searched exactly.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use hnsw::{Hnsw, Searcher};
use rand::rngs::StdRng;
use space::{Metric, Neighbor};
use tokio::sync::RwLock;

/// Below this many live vectors a search is an exact scan (deterministic, and as fast).
pub const EXACT_BELOW: usize = 2_000;
/// Candidates examined per result wanted (HNSW `ef` = this × k, at least [`MIN_EF`]).
pub const EF_PER_RESULT: usize = 8;
/// Smallest HNSW candidate pool.
pub const MIN_EF: usize = 64;

/// Little-endian bytes of a vector.
pub fn encode(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A vector from its bytes.
pub fn decode(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// The vector scaled to length 1 (a zero vector stays zero).
pub fn normalize(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
    v
}

/// Cosine similarity of two normalised vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Cosine distance as the ordered integer the HNSW wants.
#[derive(Clone, Copy, Debug, Default)]
pub struct CosineDistance;

impl Metric<Vec<f32>> for CosineDistance {
    type Unit = u32;

    fn distance(&self, a: &Vec<f32>, b: &Vec<f32>) -> u32 {
        let d = (1.0 - cosine(a, b)).clamp(0.0, 2.0);
        (d * (u32::MAX as f32 / 2.0)) as u32
    }
}

/// One indexed vector's identity.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The segment or child chunk id.
    pub id: String,
    /// The segment it belongs to (itself for segments).
    pub segment_id: String,
    /// Its document.
    pub document_id: String,
}

type Graph = Hnsw<CosineDistance, Vec<f32>, StdRng, 12, 24>;

/// One dataset's vectors.
pub struct DatasetIndex {
    graph: Graph,
    nodes: Vec<Node>,
    live: HashMap<String, usize>,
    dead: HashSet<usize>,
}

impl Default for DatasetIndex {
    fn default() -> Self {
        DatasetIndex {
            graph: Graph::new(CosineDistance),
            nodes: Vec::new(),
            live: HashMap::new(),
            dead: HashSet::new(),
        }
    }
}

impl DatasetIndex {
    /// Builds an index of these vectors, in order.
    pub fn build(items: impl IntoIterator<Item = (Node, Vec<f32>)>) -> DatasetIndex {
        let mut index = DatasetIndex::default();
        let mut searcher = Searcher::default();
        for (node, v) in items {
            index.insert_with(node, v, &mut searcher);
        }
        index
    }

    fn insert_with(&mut self, node: Node, v: Vec<f32>, searcher: &mut Searcher<u32>) {
        if let Some(old) = self.live.remove(&node.id) {
            self.dead.insert(old);
        }
        let item = self.graph.insert(normalize(v), searcher);
        debug_assert_eq!(item, self.nodes.len());
        self.live.insert(node.id.clone(), item);
        self.nodes.push(node);
    }

    /// Adds (or replaces) vectors.
    pub fn insert(&mut self, items: Vec<(Node, Vec<f32>)>) {
        let mut searcher = Searcher::default();
        for (node, v) in items {
            self.insert_with(node, v, &mut searcher);
        }
    }

    /// Removes vectors by node id.
    pub fn remove(&mut self, ids: &[String]) {
        for id in ids {
            if let Some(item) = self.live.remove(id) {
                self.dead.insert(item);
            }
        }
    }

    /// Vectors that retrieval may return.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Whether removed vectors outnumber live ones (time to rebuild).
    pub fn is_stale(&self) -> bool {
        self.dead.len() > self.live.len().max(64)
    }

    /// The `k` nearest live vectors whose node `allow` accepts, with their cosine
    /// similarity, best first (ties by insertion order). Exact below [`EXACT_BELOW`] or
    /// when `exact`.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        exact: bool,
        allow: &dyn Fn(&Node) -> bool,
    ) -> Vec<(Node, f32)> {
        if k == 0 || self.live.is_empty() {
            return Vec::new();
        }
        let q = normalize(query.to_vec());
        let mut scored: Vec<(usize, f32)> = if exact || self.live.len() < EXACT_BELOW {
            self.live
                .values()
                .filter(|&&i| allow(&self.nodes[i]))
                .map(|&i| (i, cosine(&q, self.graph.feature(i))))
                .collect()
        } else {
            let ef = (k * EF_PER_RESULT).max(MIN_EF);
            let mut searcher = Searcher::default();
            let mut dest = vec![
                Neighbor {
                    index: !0,
                    distance: !0
                };
                ef
            ];
            let found = self.graph.nearest(&q, ef, &mut searcher, &mut dest);
            let hits: Vec<(usize, f32)> = found
                .iter()
                .filter(|n| n.index != !0 && !self.dead.contains(&n.index))
                .filter(|n| allow(&self.nodes[n.index]))
                .map(|n| (n.index, cosine(&q, self.graph.feature(n.index))))
                .collect();
            if hits.len() < k {
                // A narrow filter: the graph's neighbourhood had too few allowed vectors.
                return self.search(query, k, true, allow);
            }
            hits
        };
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(k);
        scored
            .into_iter()
            .map(|(i, s)| (self.nodes[i].clone(), s))
            .collect()
    }
}

/// Every dataset's index, loaded on first use.
#[derive(Default)]
pub struct VectorIndexes {
    map: Mutex<HashMap<String, Arc<RwLock<Option<DatasetIndex>>>>>,
}

impl VectorIndexes {
    /// The slot of a dataset (empty until loaded).
    pub fn slot(&self, dataset_id: &str) -> Arc<RwLock<Option<DatasetIndex>>> {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(dataset_id.to_owned())
            .or_default()
            .clone()
    }

    /// Forgets a dataset's index; the next search reloads it from the database.
    pub async fn invalidate(&self, dataset_id: &str) {
        let slot = self.slot(dataset_id);
        *slot.write().await = None;
    }

    /// Applies indexed and removed vectors to a loaded index (an unloaded one reads them
    /// from the database when it loads).
    pub async fn update(&self, dataset_id: &str, removed: &[String], added: Vec<(Node, Vec<f32>)>) {
        let slot = self.slot(dataset_id);
        let mut guard = slot.write().await;
        if let Some(index) = guard.as_mut() {
            index.remove(removed);
            index.insert(added);
            if index.is_stale() {
                *guard = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(i: usize) -> Node {
        Node {
            id: format!("n{i}"),
            segment_id: format!("s{i}"),
            document_id: if i.is_multiple_of(2) {
                "even".into()
            } else {
                "odd".into()
            },
        }
    }

    fn vector(i: usize) -> Vec<f32> {
        let a = i as f32 * 0.01;
        vec![a.cos(), a.sin(), 0.1]
    }

    #[test]
    fn bytes_round_trip() {
        let v = vec![0.5, -1.25, 3.0];
        assert_eq!(decode(&encode(&v)), v);
    }

    #[test]
    fn hnsw_agrees_with_the_exact_scan_and_honours_filters() {
        let index = DatasetIndex::build((0..3000).map(|i| (node(i), vector(i))));
        let q = vector(1234);
        let ann = index.search(&q, 5, false, &|_| true);
        let exact = index.search(&q, 5, true, &|_| true);
        assert_eq!(ann[0].0.id, "n1234");
        let ids = |r: &[(Node, f32)]| r.iter().map(|(n, _)| n.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&ann), ids(&exact));
        let odd = index.search(&q, 3, false, &|n| n.document_id == "odd");
        assert!(odd.iter().all(|(n, _)| n.document_id == "odd"));
        assert_eq!(odd.len(), 3);
    }

    #[test]
    fn removals_and_replacements() {
        let mut index = DatasetIndex::build((0..10).map(|i| (node(i), vector(i))));
        index.remove(&["n3".into()]);
        assert_eq!(index.len(), 9);
        let r = index.search(&vector(3), 1, false, &|_| true);
        assert_ne!(r[0].0.id, "n3");
        index.insert(vec![(node(3), vector(3))]);
        assert_eq!(index.search(&vector(3), 1, false, &|_| true)[0].0.id, "n3");
        assert_eq!(index.len(), 10);
    }
}
