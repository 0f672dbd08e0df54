use super::*;

/// A cluster whose provider serves an embedding model, with a dataset: (cluster, key, id).
/// The instances share a `data_dir`, where document texts are kept.
pub async fn with_dataset(n: usize) -> Option<(Cluster, String, String)> {
    let extra = [(
        "WEIR_PROVIDERS__OPENAI__EMBEDDING_MODELS",
        "[\"text-embedding-3-small\"]",
    )];
    let c = Cluster::start_with(n, &extra, true).await?;
    let key = c.cli(&["key", "create", "--knowledge"]);
    let res = post(
        &c,
        0,
        &key,
        "/v1/datasets",
        json!({"name": "shared", "indexing_technique": "high_quality"}),
    )
    .await;
    let (status, body) = common::status_json(res).await;
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    Some((c, key, id))
}

pub async fn add_doc(c: &Cluster, node: usize, key: &str, ds: &str, name: &str) -> String {
    let res = post(c, node, key, &format!("/v1/datasets/{ds}/document/create-by-text"),
        json!({"name": name, "text": format!("{name} is a short document."), "indexing_technique": "high_quality",
            "process_rule": {"mode": "automatic"}})).await;
    let (status, body) = common::status_json(res).await;
    assert_eq!(status, 200, "{body}");
    body["document"]["id"].as_str().unwrap().to_owned()
}

/// The indexing statuses of the dataset's documents.
async fn statuses(c: &Cluster, node: usize, key: &str, ds: &str) -> Vec<Value> {
    let (_, body) = get(c, node, key, &format!("/v1/datasets/{ds}/documents")).await;
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            if d["indexing_status"] == "error" {
                d["error"].clone()
            } else {
                d["indexing_status"].clone()
            }
        })
        .collect()
}

/// Waits until every document of the dataset is completed; their statuses otherwise.
pub async fn all_completed(
    c: &Cluster,
    node: usize,
    key: &str,
    ds: &str,
    within: Duration,
) -> Result<(), Vec<Value>> {
    let done = common::eventually(within, || async {
        statuses(c, node, key, ds)
            .await
            .iter()
            .all(|s| s == "completed")
            .then_some(())
    })
    .await;
    match done {
        Some(()) => Ok(()),
        None => Err(statuses(c, node, key, ds).await),
    }
}

fn embedding_calls(c: &Cluster) -> usize {
    c.upstream
        .requests()
        .iter()
        .filter(|(path, _)| path.ends_with("/embeddings"))
        .count()
}

#[tokio::test]
async fn each_document_is_indexed_once_whichever_instance_took_it() {
    let Some((c, key, ds)) = with_dataset(2).await else {
        return;
    };
    for i in 0..6 {
        add_doc(&c, i % 2, &key, &ds, &format!("doc{i}")).await;
    }
    all_completed(&c, 1, &key, &ds, Duration::from_secs(30))
        .await
        .unwrap();
    // Both instances swept for unclaimed work meanwhile; a sweep after the end finds none.
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(embedding_calls(&c), 6, "one embedding call per document");
}

#[tokio::test]
async fn an_instance_takes_over_the_indexing_of_one_that_died() {
    let Some((mut c, key, ds)) = with_dataset(2).await else {
        return;
    };
    c.upstream.delay_embeddings(Duration::from_secs(3));
    add_doc(&c, 0, &key, &ds, "orphan").await;
    // Instance 0 is embedding it when it dies.
    let started = common::eventually(Duration::from_secs(10), || async {
        (embedding_calls(&c) > 0).then_some(())
    })
    .await;
    assert!(started.is_some(), "indexing started");
    c.kill9(0);
    c.upstream.delay_embeddings(Duration::ZERO);
    // Its claim runs out and instance 1 indexes the document.
    all_completed(&c, 1, &key, &ds, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        embedding_calls(&c),
        2,
        "the interrupted call and the one that finished"
    );
}
