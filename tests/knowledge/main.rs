//! The knowledge API over real HTTP with the fake upstream's deterministic embeddings:
//! datasets (gate, pagination, workspaces), documents from text, Markdown, PDF and DOCX
//! indexed to `completed`, chunk boundaries by rule, chunks and child chunks, a restart
//! mid-indexing, retrieval (semantic, full-text, hybrid, keyword) on SQLite and Postgres,
//! tags and metadata, and the consumers: a chat app with a dataset and a workflow's
//! knowledge-retrieval node.

#[path = "../common/mod.rs"]
mod common;

use std::time::Duration;

use common::upstream::FakeUpstream;
use common::{example, sse, status_json, with_upstream, Options, TestServer};
use serde_json::{json, Value};

mod consumers;
mod datasets;
mod documents;
mod edits;
mod retrieval;

const EMBEDDING: &str = "text-embedding-3-small";

const RERANK: &str = "rerank-1";

fn options(upstream: &FakeUpstream, postgres: bool) -> Options {
    let mut opts = with_upstream(upstream).also(|c| {
        let p = c.services.providers.get_mut("openai").unwrap();
        p.embedding_models = vec![EMBEDDING.into()];
        p.rerank_models = vec![RERANK.into()];
        p.llm_models = vec!["gpt-4o-mini".into()];
    });
    opts.postgres = postgres;
    opts
}

async fn start(upstream: &FakeUpstream) -> TestServer {
    TestServer::start_with(options(upstream, false)).await
}

async fn create_dataset(server: &TestServer, key: &str, name: &str, technique: &str) -> String {
    let (status, body) = server
        .call(
            key,
            "POST",
            "/v1/datasets",
            Some(json!({"name": name, "indexing_technique": technique})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

fn custom_rule(separator: &str, max: u64) -> Value {
    json!({"mode": "custom", "rules": {"pre_processing_rules": [{"id": "remove_extra_spaces", "enabled": true}],
        "segmentation": {"separator": separator, "max_tokens": max, "chunk_overlap": 0}}})
}

/// Adds a text document; returns (document id, batch).
async fn add_text(
    server: &TestServer,
    key: &str,
    ds: &str,
    name: &str,
    text: &str,
    rule: Value,
) -> (String, String) {
    let (status, body) = server
        .call(
            key,
            "POST",
            &format!("/v1/datasets/{ds}/document/create-by-text"),
            Some(json!({"name": name, "text": text, "process_rule": rule})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["document"]["indexing_status"], "waiting");
    assert_eq!(body["document"]["display_status"], "queuing");
    (
        body["document"]["id"].as_str().unwrap().to_owned(),
        body["batch"].as_str().unwrap().to_owned(),
    )
}

/// Polls a batch until every document is `completed` or `error`; returns its entries.
async fn wait_batch(server: &TestServer, key: &str, ds: &str, batch: &str) -> Vec<Value> {
    let path = format!("/v1/datasets/{ds}/documents/{batch}/indexing-status");
    let done = common::eventually(Duration::from_secs(20), || async {
        let (status, body) = server.call(key, "GET", &path, None).await;
        assert_eq!(status, 200, "{body}");
        let data = body["data"].as_array().unwrap().clone();
        data.iter()
            .all(|d| matches!(d["indexing_status"].as_str(), Some("completed" | "error")))
            .then_some(data)
    })
    .await;
    match done {
        Some(d) => d,
        None => {
            let (_, body) = server.call(key, "GET", &path, None).await;
            panic!("indexing does not finish: {body}");
        }
    }
}

async fn segments(server: &TestServer, key: &str, ds: &str, doc: &str) -> Vec<Value> {
    let (status, body) = server
        .call(
            key,
            "GET",
            &format!("/v1/datasets/{ds}/documents/{doc}/segments?limit=100"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().unwrap().clone()
}

fn contents(segs: &[Value]) -> Vec<String> {
    segs.iter()
        .map(|s| s["content"].as_str().unwrap().to_owned())
        .collect()
}

/// The records of a `POST …/retrieve` for `query` with `model` (answered 200, echoing it).
async fn retrieve_records(
    server: &TestServer,
    key: &str,
    ds: &str,
    query: &str,
    model: Value,
) -> Vec<Value> {
    let (status, body) = server
        .call(
            key,
            "POST",
            &format!("/v1/datasets/{ds}/retrieve"),
            Some(json!({"query": query, "retrieval_model": model})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["query"]["content"], query);
    body["records"].as_array().unwrap().clone()
}

async fn retrieval_methods(postgres: bool) {
    let upstream = FakeUpstream::start().await;
    let server = TestServer::start_with(options(&upstream, postgres)).await;
    let key = server.dataset_key().await;
    let ds = create_dataset(&server, &key, "Nature", "high_quality").await;
    let text =
        "Rivers flow through valleys to the sea.\n\nMountains rise above the clouds and snow.\n\n\
        Deserts are dry sand and hot sun.\n\nForests hold tall trees and birds.";
    let (_, batch) = add_text(
        &server,
        &key,
        &ds,
        "nature",
        text,
        custom_rule("\\n\\n", 200),
    )
    .await;
    wait_batch(&server, &key, &ds, &batch).await;
    let retrieve = |q: &str, model: Value| {
        let (server, key, ds, q) = (&server, &key, &ds, q.to_owned());
        async move {
            retrieve_records(server, key, ds, &q, model)
                .await
                .iter()
                .map(|r| {
                    (
                        r["segment"]["content"].as_str().unwrap().to_owned(),
                        r["score"].as_f64().unwrap(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let model = |method: &str, k: u64| {
        json!({"search_method": method, "reranking_enable": false, "top_k": k,
        "score_threshold_enabled": false})
    };
    for method in ["semantic_search", "full_text_search", "hybrid_search"] {
        let hits = retrieve("mountains clouds snow", model(method, 2)).await;
        assert!(!hits.is_empty(), "{method}");
        assert!(
            hits[0].0.starts_with("Mountains"),
            "{method} ({postgres}): {hits:?}"
        );
        assert!(hits.len() <= 2);
        assert!(
            hits.windows(2).all(|w| w[0].1 >= w[1].1),
            "{method}: best first"
        );
    }
    // Same data, same results.
    assert_eq!(
        retrieve("sea valleys", model("semantic_search", 3)).await,
        retrieve("sea valleys", model("semantic_search", 3)).await
    );
    // Score threshold drops weak hits; reranking re-scores by the rerank model.
    let strict = json!({"search_method": "semantic_search", "reranking_enable": false, "top_k": 4,
        "score_threshold_enabled": true, "score_threshold": 0.99});
    assert!(retrieve("rivers valleys", strict).await.is_empty());
    let reranked = json!({"search_method": "semantic_search", "reranking_enable": true, "top_k": 1,
        "reranking_model": {"reranking_provider_name": "openai", "reranking_model_name": RERANK},
        "score_threshold_enabled": false});
    let hits = retrieve("deserts sun", reranked).await;
    assert_eq!((hits.len(), hits[0].0.starts_with("Deserts")), (1, true));
    assert_eq!(hits[0].1, 1.0);
    // Weighted hybrid.
    let weighted = json!({"search_method": "hybrid_search", "reranking_enable": false, "reranking_mode": "weighted_score",
        "weights": {"vector_setting": {"vector_weight": 0.5}, "keyword_setting": {"keyword_weight": 0.5}},
        "top_k": 1, "score_threshold_enabled": false});
    assert!(retrieve("forests birds", weighted).await[0]
        .0
        .starts_with("Forests"));
    // Economy datasets search by keywords.
    let eco = create_dataset(&server, &key, "Eco", "economy").await;
    let (status, body) = server
        .call(
            &key,
            "POST",
            &format!("/v1/datasets/{eco}/retrieve"),
            Some(json!({"query": "x"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("dataset_not_initialized"))
    );
    let (_, b) = add_text(&server, &key, &eco, "eco", text, custom_rule("\\n\\n", 200)).await;
    wait_batch(&server, &key, &eco, &b).await;
    let (status, body) = server
        .call(
            &key,
            "POST",
            &format!("/v1/datasets/{eco}/retrieve"),
            Some(json!({"query": "birds in forests"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["records"][0]["segment"]["content"]
        .as_str()
        .unwrap()
        .starts_with("Forests"));
    let (status, body) = server
        .call(
            &key,
            "POST",
            &format!("/v1/datasets/{ds}/retrieve"),
            Some(json!({"query": ""})),
        )
        .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Query or attachment_ids is required"))
    );
}
