use super::indexing::{add_doc, all_completed, with_dataset};
use super::*;

/// The contents of the segments retrieval returns for `query`, best first.
async fn retrieve(c: &Cluster, node: usize, key: &str, ds: &str, query: &str) -> Vec<String> {
    let model = json!({"search_method": "semantic_search", "reranking_enable": false,
        "top_k": 10, "score_threshold_enabled": false});
    let res = post(
        c,
        node,
        key,
        &format!("/v1/datasets/{ds}/retrieve"),
        json!({"query": query, "retrieval_model": model}),
    )
    .await;
    let (status, body) = common::status_json(res).await;
    assert_eq!(status, 200, "{body}");
    body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["segment"]["content"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_instance_retrieves_what_another_indexed_after_it_first_searched() {
    let Some((c, key, ds)) = with_dataset(2).await else {
        return;
    };
    if !c.db.pgvector("shared retrieval") {
        return;
    }
    add_doc(&c, 0, &key, &ds, "alpha").await;
    all_completed(&c, 0, &key, &ds, Duration::from_secs(30))
        .await
        .unwrap();
    // Instance 1 searches first (an in-process index would be loaded now, and go stale).
    assert_eq!(
        retrieve(&c, 1, &key, &ds, "beta").await,
        ["alpha is a short document."]
    );
    add_doc(&c, 0, &key, &ds, "beta").await;
    all_completed(&c, 0, &key, &ds, Duration::from_secs(30))
        .await
        .unwrap();
    let hits = retrieve(&c, 1, &key, &ds, "beta").await;
    assert_eq!(
        hits,
        ["beta is a short document.", "alpha is a short document."]
    );

    // The vectors live in Postgres, under an HNSW index for their size (64).
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(indexdef AS TEXT) FROM pg_indexes WHERE indexname = 'segments_vec_64'",
    )
    .fetch_all(c.db.store.pool())
    .await
    .unwrap();
    assert_eq!(indexes.len(), 1, "{indexes:?}");
    assert!(indexes[0].contains("USING hnsw"), "{}", indexes[0]);

    // Embeddings stored without pgvector (here: cleared) are filled in when an instance starts.
    sqlx::query("UPDATE segments SET vec = NULL")
        .execute(c.db.store.pool())
        .await
        .unwrap();
    let mut c = c;
    let late = c.add_node().await;
    assert_eq!(
        retrieve(&c, late, &key, &ds, "beta").await,
        ["beta is a short document.", "alpha is a short document."]
    );
}
