//! Chunk embeddings and the in-process vector index: per dataset, an HNSW graph (the
//! `instant-distance` crate, seeded so that the same data gives the same graph) over the
//! embeddings of the chunks retrieval may return, plus the vectors added since it was built
//! (searched exactly) and tombstones for removed ones. The graph is rebuilt from the vectors
//! in memory when the additions or removals grow large, and the whole index is loaded from the
//! database on first use (so it is rebuilt on start). Small indexes are searched exactly.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use instant_distance::{Builder, HnswMap, Search};
use tokio::sync::RwLock;

/// Below this many live vectors a search is an exact scan (deterministic, and as fast).
pub const EXACT_BELOW: usize = 2_000;
/// Candidates the graph returns per search (`ef`).
pub const EF_SEARCH: usize = 128;
/// Candidates kept while building the graph.
pub const EF_CONSTRUCTION: usize = 40;
/// The graph's seed: the same vectors in the same order give the same graph.
pub const SEED: u64 = 0x5EED;

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

/// A normalised vector as a point of the graph (cosine distance).
#[derive(Clone, Debug)]
struct Point(Arc<[f32]>);

impl instant_distance::Point for Point {
    fn distance(&self, other: &Self) -> f32 {
        1.0 - cosine(&self.0, &other.0)
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

/// One dataset's vectors.
#[derive(Default)]
pub struct DatasetIndex {
    vectors: Vec<Arc<[f32]>>,
    nodes: Vec<Node>,
    live: HashMap<String, usize>,
    dead: HashSet<usize>,
    /// The graph over items `0..built`, when there are enough of them.
    graph: Option<HnswMap<Point, usize>>,
    built: usize,
}

impl DatasetIndex {
    /// Builds an index of these vectors, in order.
    pub fn build(items: impl IntoIterator<Item = (Node, Vec<f32>)>) -> DatasetIndex {
        let mut index = DatasetIndex::default();
        index.push(items);
        index.rebuild();
        index
    }

    fn push(&mut self, items: impl IntoIterator<Item = (Node, Vec<f32>)>) {
        for (node, v) in items {
            if let Some(old) = self.live.remove(&node.id) {
                self.dead.insert(old);
            }
            self.live.insert(node.id.clone(), self.nodes.len());
            self.vectors.push(normalize(v).into());
            self.nodes.push(node);
        }
    }

    /// Drops removed vectors and builds the graph over the rest.
    fn rebuild(&mut self) {
        if !self.dead.is_empty() {
            let mut keep: Vec<usize> = self.live.values().copied().collect();
            keep.sort_unstable();
            let (vectors, nodes) = (
                std::mem::take(&mut self.vectors),
                std::mem::take(&mut self.nodes),
            );
            self.live.clear();
            self.dead.clear();
            for (new, old) in keep.into_iter().enumerate() {
                self.live.insert(nodes[old].id.clone(), new);
                self.vectors.push(vectors[old].clone());
                self.nodes.push(nodes[old].clone());
            }
        }
        self.built = self.vectors.len();
        self.graph = (self.built >= EXACT_BELOW).then(|| {
            let points: Vec<Point> = self.vectors.iter().cloned().map(Point).collect();
            let values: Vec<usize> = (0..points.len()).collect();
            Builder::default()
                .ef_construction(EF_CONSTRUCTION)
                .ef_search(EF_SEARCH)
                .seed(SEED)
                .build(points, values)
        });
    }

    /// Adds (or replaces) vectors; rebuilds the graph when the additions outgrow it.
    pub fn insert(&mut self, items: Vec<(Node, Vec<f32>)>) {
        self.push(items);
        self.maybe_rebuild();
    }

    /// Removes vectors by node id.
    pub fn remove(&mut self, ids: &[String]) {
        for id in ids {
            if let Some(item) = self.live.remove(id) {
                self.dead.insert(item);
            }
        }
        self.maybe_rebuild();
    }

    fn maybe_rebuild(&mut self) {
        let added = self.vectors.len() - self.built;
        let big = |n: usize| n > EXACT_BELOW.max(self.built / 4);
        if big(added) || big(self.dead.len()) {
            self.rebuild();
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

    fn alive(&self, i: usize) -> bool {
        !self.dead.contains(&i) && self.live.get(&self.nodes[i].id) == Some(&i)
    }

    /// The `k` nearest live vectors whose node `allow` accepts, with their cosine
    /// similarity, best first (ties by insertion order). Exact without a graph or when
    /// `exact`; otherwise the graph's candidates plus an exact scan of what came after it.
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
        let q: Arc<[f32]> = normalize(query.to_vec()).into();
        let scan = |range: std::ops::Range<usize>| -> Vec<(usize, f32)> {
            range
                .filter(|&i| self.alive(i) && allow(&self.nodes[i]))
                .map(|i| (i, cosine(&q, &self.vectors[i])))
                .collect()
        };
        let mut scored = match (&self.graph, exact) {
            (Some(graph), false) => {
                let mut search = Search::default();
                let mut hits: Vec<(usize, f32)> = graph
                    .search(&Point(q.clone()), &mut search)
                    .map(|item| *item.value)
                    .filter(|&i| self.alive(i) && allow(&self.nodes[i]))
                    .map(|i| (i, cosine(&q, &self.vectors[i])))
                    .collect();
                hits.extend(scan(self.built..self.vectors.len()));
                if hits.len() < k && self.live.len() > hits.len() {
                    // A narrow filter: the graph's neighbourhood had too few allowed vectors.
                    return self.search(query, k, true, allow);
                }
                hits
            }
            _ => scan(0..self.vectors.len()),
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
        if let Some(mut index) = guard.take() {
            let removed = removed.to_vec();
            // Inserting may rebuild the graph: CPU work, off the async workers.
            let updated = tokio::task::spawn_blocking(move || {
                index.remove(&removed);
                index.insert(added);
                index
            })
            .await;
            *guard = updated.ok();
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
        assert_eq!(
            weir_core::rows::decode_vector(&weir_core::rows::encode_vector(&v)),
            v
        );
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
