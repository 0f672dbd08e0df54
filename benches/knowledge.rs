//! Knowledge bases: documents indexed per second through the real pipeline (extraction,
//! chunking, embeddings over HTTP from the stub, the SQLite writer), and vector retrieval p50/p99
//! at 10k and 100k chunks with the HNSW index side by side with an exact scan of the same
//! vectors in the same run (the ratio is what the index buys), with its recall. The vectors
//! are 256-dimensional and clustered around topics, as text embeddings are.
//! `WEIR_KB_SIZES` (e.g. `10000`) picks the index sizes.
//!
//! `cargo bench --bench knowledge`; under `cargo test` (no `--bench`) a seconds-long smoke.

#[path = "support/stub.rs"]
#[allow(dead_code)]
mod stub;

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::json;
use weir_api::knowledge::vector::{DatasetIndex, Node};
use weir_api::settings::{ProviderSettings, Settings};
use weir_api::store::scratch::ScratchDb;
use weir_api::store::{DatasetRow, DocumentRow, Store, UploadFileRow};
use weir_api::AppState;
use weir_layers::metrics::Metrics;

struct Plan {
    documents: usize,
    chunks_per_document: usize,
    sizes: Vec<usize>,
    queries: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Indexes `plan.documents` documents of `plan.chunks_per_document` paragraphs each;
/// returns (documents/s, chunks/s).
async fn indexing(plan: &Plan, stub: std::net::SocketAddr) -> (f64, f64) {
    let db = ScratchDb::sqlite().await;
    let mut settings = Settings {
        data_dir: std::env::temp_dir()
            .join(format!("weir-kbench-{}", uuid::Uuid::new_v4().simple())),
        ..Settings::default()
    };
    settings.providers.insert(
        "openai".into(),
        ProviderSettings {
            base_url: format!("http://{stub}/v1"),
            api_key: "sk-bench".into(),
            embedding_models: vec!["bench-embed".into()],
            ..ProviderSettings::default()
        },
    );
    let state = AppState::new(db.store.clone(), settings, Metrics::new());
    weir_api::knowledge::indexer::start(state.knowledge().clone())
        .await
        .expect("indexer");
    let store = state.store();
    let ws = store.default_workspace_id().await.unwrap();
    let ts = weir_api::util::now();
    let dataset = DatasetRow {
        id: weir_api::util::new_id(),
        workspace_id: ws.clone(),
        name: "bench".into(),
        description: String::new(),
        provider: "vendor".into(),
        permission: "only_me".into(),
        data_source_type: Some("upload_file".into()),
        indexing_technique: Some("high_quality".into()),
        embedding_model: Some("bench-embed".into()),
        embedding_model_provider: Some("openai".into()),
        retrieval_model: None,
        doc_form: Some("text_model".into()),
        enable_api: true,
        built_in_field_enabled: false,
        created_at: ts,
        updated_at: ts,
    };
    store.save_dataset(&dataset).await.unwrap();
    let rule = json!({"pre_processing_rules": [], "segmentation": {"separator": "\n\n", "max_tokens": 200, "chunk_overlap": 0}});
    let rule_id = store
        .insert_rule(&dataset.id, "custom", &rule.to_string())
        .await
        .unwrap();
    let dir = state.settings().data_dir.join("upload_files");
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let words = [
        "river", "mountain", "forest", "desert", "ocean", "valley", "glacier", "meadow", "canyon",
        "island",
    ];
    let mut ids = Vec::new();
    let started = Instant::now();
    for d in 0..plan.documents {
        let text: Vec<String> = (0..plan.chunks_per_document)
            .map(|_| {
                (0..12)
                    .map(|_| words[rng.gen_range(0..words.len())])
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let text = text.join("\n\n");
        let file_id = weir_api::util::new_id();
        std::fs::write(dir.join(&file_id), &text).unwrap();
        let upload = UploadFileRow {
            id: file_id.clone(),
            workspace_id: ws.clone(),
            app_id: None,
            name: format!("doc{d}.txt"),
            size: text.len() as i64,
            extension: "txt".into(),
            mime_type: "text/plain".into(),
            storage_key: format!("upload_files/{file_id}"),
            created_by: ws.clone(),
            created_at: ts,
        };
        let doc = DocumentRow {
            id: weir_api::util::new_id(),
            dataset_id: dataset.id.clone(),
            workspace_id: ws.clone(),
            position: d as i64 + 1,
            batch: "bench".into(),
            name: upload.name.clone(),
            data_source_type: "upload_file".into(),
            upload_file_id: Some(file_id),
            process_rule_id: Some(rule_id.clone()),
            doc_form: "text_model".into(),
            doc_language: "English".into(),
            created_from: "api".into(),
            indexing_status: "waiting".into(),
            enabled: true,
            created_at: ts,
            updated_at: ts,
            ..DocumentRow::default()
        };
        store
            .apply(vec![
                Store::insert_upload_file_stmt(&upload),
                Store::save_document_stmt(&doc),
            ])
            .await
            .unwrap();
        state.knowledge().queue.push(&dataset.id, &doc.id);
        ids.push(doc.id);
    }
    loop {
        let docs = store
            .documents_in_batch(&dataset.id, "bench")
            .await
            .unwrap();
        let failed: Vec<_> = docs
            .iter()
            .filter(|d| d.indexing_status == "error")
            .collect();
        assert!(failed.is_empty(), "indexing failed: {:?}", failed[0].error);
        if docs.iter().all(|d| d.indexing_status == "completed") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    (
        plan.documents as f64 / secs,
        (plan.documents * plan.chunks_per_document) as f64 / secs,
    )
}

/// Vector search at `n` chunks: (hnsw p50, p99, exact p50, p99 in ms, recall@4).
fn search(n: usize, queries: usize) -> (f64, f64, f64, f64, f64, f64) {
    // Embeddings cluster by topic: points around 200 centres, as text embeddings do.
    let mut rng = rand::rngs::StdRng::seed_from_u64(n as u64);
    let centres: Vec<Vec<f32>> = (0..200)
        .map(|_| {
            (0..stub::EMBEDDING_DIMS)
                .map(|_| rng.gen_range(-1.0..1.0))
                .collect()
        })
        .collect();
    let mut vector = || -> Vec<f32> {
        let c = &centres[rng.gen_range(0..centres.len())];
        c.iter().map(|x| x + rng.gen_range(-0.35..0.35)).collect()
    };
    let items: Vec<(Node, Vec<f32>)> = (0..n)
        .map(|i| {
            (
                Node {
                    id: format!("n{i}"),
                    segment_id: format!("n{i}"),
                    document_id: format!("d{}", i % 100),
                },
                vector(),
            )
        })
        .collect();
    let qs: Vec<Vec<f32>> = (0..queries).map(|_| vector()).collect();
    let built = Instant::now();
    let index = DatasetIndex::build(items);
    let build_s = built.elapsed().as_secs_f64();
    let (mut ann, mut exact, mut hits) = (Vec::new(), Vec::new(), 0usize);
    for q in &qs {
        let t = Instant::now();
        let a = index.search(q, 4, false, &|_| true);
        ann.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let e = index.search(q, 4, true, &|_| true);
        exact.push(t.elapsed().as_secs_f64() * 1e3);
        hits += a
            .iter()
            .filter(|(n, _)| e.iter().any(|(m, _)| m.id == n.id))
            .count();
    }
    ann.sort_by(f64::total_cmp);
    exact.sort_by(f64::total_cmp);
    (
        percentile(&ann, 0.5),
        percentile(&ann, 0.99),
        percentile(&exact, 0.5),
        percentile(&exact, 0.99),
        hits as f64 / (4 * queries) as f64,
        build_s,
    )
}

async fn bench(plan: Plan) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stub_addr = listener.local_addr().unwrap();
    tokio::spawn(stub::serve(listener));
    let (docs_s, chunks_s) = indexing(&plan, stub_addr).await;
    println!(
        "indexing: {} documents × {} chunks: {docs_s:.1} documents/s, {chunks_s:.0} chunks/s (embeddings over HTTP, SQLite)",
        plan.documents, plan.chunks_per_document
    );
    println!(
        "{:>8} | {:>17} | {:>17} | {:>8} | {:>7} | {:>8}",
        "chunks", "hnsw p50/p99 ms", "exact p50/p99 ms", "speedup", "recall", "build s"
    );
    for &n in &plan.sizes {
        let (a50, a99, e50, e99, recall, build) = search(n, plan.queries);
        println!(
            "{n:>8} | {:>17} | {:>17} | {:>7.1}× | {recall:>7.3} | {build:>8.2}",
            format!("{a50:.3}/{a99:.3}"),
            format!("{e50:.3}/{e99:.3}"),
            e50 / a50
        );
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let plan = if full {
        Plan {
            documents: 200,
            chunks_per_document: 50,
            sizes: std::env::var("WEIR_KB_SIZES")
                .ok()
                .map(|s| s.split(",").filter_map(|x| x.parse().ok()).collect())
                .unwrap_or(vec![10_000, 100_000]),
            queries: 200,
        }
    } else {
        Plan {
            documents: 5,
            chunks_per_document: 5,
            sizes: vec![500],
            queries: 5,
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(bench(plan));
}
