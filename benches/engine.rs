//! Engine overhead per node: a 100-node linear chain of template nodes and a 32-way
//! fan-out/fan-in, run blocking (no events) on an in-memory pool; reports µs per node.
//!
//! `cargo bench --bench engine` runs it; under `cargo test` (no `--bench` flag) it runs a
//! few iterations only, so the suite keeps it compiling and working.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};
use weir_api::engine::pool::Pool;
use weir_api::engine::run::{run_workflow, RunSetup};
use weir_api::engine::{NoEvents, RunCtx, Workflow};
use weir_api::runtime::tasks::StopFlag;
use weir_api::settings::Settings;
use weir_api::store::scratch::ScratchDb;
use weir_api::AppState;
use weir_layers::metrics::Metrics;

fn template(id: &str) -> Value {
    json!({"id": id, "data": {"type": "template-transform", "title": id, "variables": [{"variable": "x", "value_selector": ["start", "x"]}], "template": "{{ x }}!"}})
}

/// start → n template nodes in a row → end.
pub fn chain(n: usize) -> Value {
    let mut nodes = vec![
        json!({"id": "start", "data": {"type": "start", "variables": [{"variable": "x", "type": "text-input"}]}}),
    ];
    let mut edges = Vec::new();
    let mut prev = "start".to_owned();
    for i in 0..n {
        let id = format!("t{i}");
        nodes.push(template(&id));
        edges.push(json!({"source": prev, "target": id}));
        prev = id;
    }
    nodes.push(json!({"id": "end", "data": {"type": "end", "outputs": [{"variable": "out", "value_selector": [prev, "output"]}]}}));
    edges.push(json!({"source": prev, "target": "end"}));
    json!({"nodes": nodes, "edges": edges})
}

/// start → n parallel template nodes → one aggregator join → end.
pub fn fan(n: usize) -> Value {
    let mut nodes = vec![
        json!({"id": "start", "data": {"type": "start", "variables": [{"variable": "x", "type": "text-input"}]}}),
    ];
    let mut edges = Vec::new();
    let mut vars = Vec::new();
    for i in 0..n {
        let id = format!("t{i}");
        nodes.push(template(&id));
        edges.push(json!({"source": "start", "target": id}));
        edges.push(json!({"source": id, "target": "join"}));
        vars.push(json!([id, "output"]));
    }
    nodes.push(json!({"id": "join", "data": {"type": "variable-aggregator", "variables": vars}}));
    nodes.push(json!({"id": "end", "data": {"type": "end", "outputs": [{"variable": "out", "value_selector": ["join", "output"]}]}}));
    edges.push(json!({"source": "join", "target": "end"}));
    json!({"nodes": nodes, "edges": edges})
}

async fn measure(state: &AppState, graph: &Value, runs: usize) -> (f64, usize) {
    let wf = Arc::new(Workflow::compile("bench", graph, &json!([]), &json!([])).expect("compiles"));
    let nodes = wf.graph.nodes.len();
    let mut inputs = serde_json::Map::new();
    inputs.insert("x".into(), json!("hi"));
    let started = Instant::now();
    for _ in 0..runs {
        let ctx = RunCtx::new(RunSetup {
            env: state.run_env().clone(),
            workspace_id: "bench".into(),
            workflow: wf.clone(),
            chatflow: false,
            app_id: "bench".into(),
            run_id: "run".into(),
            end_user_id: "user".into(),
            conversation_id: None,
            history: Vec::new(),
            inputs: inputs.clone(),
            files: Default::default(),
            sink: Arc::new(NoEvents),
            stop: Arc::new(StopFlag::default()),
        });
        let summary = run_workflow(&ctx, Pool::new()).await;
        assert_eq!(summary.status, "succeeded");
        assert_eq!(summary.total_steps as usize, nodes);
    }
    let per_node_us = started.elapsed().as_secs_f64() * 1e6 / (runs * nodes) as f64;
    (per_node_us, nodes)
}

/// Runs both shapes; returns (chain µs/node, fan µs/node).
pub async fn run(runs: usize) -> (f64, f64) {
    let db = ScratchDb::sqlite().await;
    let state = AppState::new(db.store.clone(), Settings::default(), Metrics::new());
    // Warm up allocations and caches.
    measure(&state, &chain(10), 3).await;
    let (chain_us, chain_nodes) = measure(&state, &chain(100), runs).await;
    let (fan_us, fan_nodes) = measure(&state, &fan(32), runs).await;
    println!("engine overhead per node ({runs} runs each)");
    println!("  linear chain of {chain_nodes} nodes: {chain_us:>8.2} µs/node");
    println!("  32-way fan-out/fan-in ({fan_nodes} nodes): {fan_us:>8.2} µs/node");
    println!("  target: < 20 µs/node");
    (chain_us, fan_us)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let runs = if full { 300 } else { 3 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(runs));
}
