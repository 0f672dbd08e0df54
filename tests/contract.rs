//! Contract defects that real clients hit, each shown fixed over real HTTP: a conversation
//! name the user set survives the automatic title; segments name their creator; a document
//! without metadata says `null`; the document's upload file is served; deleting a dataset
//! mid-indexing ends its jobs quietly and leaves nothing behind.

mod common;

use std::time::Duration;

use common::upstream::{FakeUpstream, Script};
use common::{with_upstream, LogCapture, Options, TestServer};
use serde_json::{json, Value};

const EMBEDDING: &str = "text-embedding-3-small";

fn knowledge_options(upstream: &FakeUpstream) -> Options {
    with_upstream(upstream).also(|c| {
        let p = c.services.providers.get_mut("openai").unwrap();
        p.embedding_models = vec![EMBEDDING.into()];
    })
}

#[tokio::test]
async fn a_name_set_by_the_user_survives_the_automatic_title() {
    let upstream = FakeUpstream::start().await;
    let server = TestServer::start_with(with_upstream(&upstream)).await;
    let (_, key) = server.app_with_key("01-chat-simple.yml").await;
    // The answer, then a title call that takes a while.
    upstream.push(Script::Reply("Lisbon is lovely".into()));
    upstream.push(Script::Hang(Duration::from_millis(800)));
    let (status, turn) = server
        .call(
            &key,
            "POST",
            "/v1/chat-messages",
            Some(
                json!({"query": "Where should I go?", "inputs": {"budget": "luxury"}, "user": "ana",
                "response_mode": "blocking"}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{turn}");
    let conv = turn["conversation_id"].as_str().unwrap();
    let (status, renamed) = server
        .call(
            &key,
            "POST",
            &format!("/v1/conversations/{conv}/name"),
            Some(json!({"name": "My trip", "user": "ana"})),
        )
        .await;
    assert_eq!((status, renamed["name"].as_str()), (200, Some("My trip")));
    // Let the title call finish (and fail to overwrite).
    let done = common::eventually(Duration::from_secs(5), || async {
        (upstream.chat_requests().len() >= 2 && upstream.in_flight() == 0).then_some(())
    })
    .await;
    assert!(done.is_some(), "the title was never asked for");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, list) = server
        .call(&key, "GET", "/v1/conversations?user=ana", None)
        .await;
    assert_eq!(list["data"][0]["name"], "My trip", "{list}");
}

#[tokio::test]
async fn a_conversation_nobody_renamed_gets_its_title() {
    let upstream = FakeUpstream::start().await;
    let server = TestServer::start_with(with_upstream(&upstream)).await;
    let (_, key) = server.app_with_key("01-chat-simple.yml").await;
    upstream.push(Script::Reply("Sure".into()));
    upstream.push(Script::Reply("Weekend in Porto".into()));
    let (status, _) = server
        .call(
            &key,
            "POST",
            "/v1/chat-messages",
            Some(
                json!({"query": "Plan a weekend", "inputs": {"budget": "luxury"}, "user": "bo",
                "response_mode": "blocking"}),
            ),
        )
        .await;
    assert_eq!(status, 200);
    let named = common::eventually(Duration::from_secs(5), || async {
        let (_, list) = server
            .call(&key, "GET", "/v1/conversations?user=bo", None)
            .await;
        (list["data"][0]["name"] == "Weekend in Porto").then_some(())
    })
    .await;
    assert!(named.is_some());
}

async fn wait_indexed(server: &TestServer, key: &str, ds: &str, batch: &str) {
    let path = format!("/v1/datasets/{ds}/documents/{batch}/indexing-status");
    let done = common::eventually(Duration::from_secs(20), || async {
        let (_, body) = server.call(key, "GET", &path, None).await;
        body["data"]
            .as_array()
            .filter(|d| d.iter().all(|d| d["indexing_status"] == "completed"))
            .map(|_| ())
    })
    .await;
    assert!(done.is_some(), "indexing did not complete");
}

#[tokio::test]
async fn documents_and_segments_as_typed_sdks_expect_them() {
    let upstream = FakeUpstream::start().await;
    let server = TestServer::start_with(knowledge_options(&upstream)).await;
    let key = server.dataset_key().await;
    let (_, ds) = server
        .call(
            &key,
            "POST",
            "/v1/datasets",
            Some(json!({"name": "Guides", "indexing_technique": "high_quality"})),
        )
        .await;
    let ds = ds["id"].as_str().unwrap().to_owned();
    let (status, created) = server
        .call(
            &key,
            "POST",
            &format!("/v1/datasets/{ds}/document/create-by-text"),
            Some(
                json!({"name": "porto.txt", "text": "Porto has bridges and port wine cellars.",
                "process_rule": {"mode": "automatic"}}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let doc = created["document"]["id"].as_str().unwrap().to_owned();
    wait_indexed(&server, &key, &ds, created["batch"].as_str().unwrap()).await;

    // No metadata: null, in the list and in the detail.
    let (_, list) = server
        .call(&key, "GET", &format!("/v1/datasets/{ds}/documents"), None)
        .await;
    assert_eq!(list["data"][0]["doc_metadata"], Value::Null, "{list}");
    let (_, detail) = server
        .call(
            &key,
            "GET",
            &format!("/v1/datasets/{ds}/documents/{doc}"),
            None,
        )
        .await;
    assert_eq!(detail["doc_metadata"], Value::Null, "{detail}");
    // With a value: the list of fields.
    let (_, field) = server
        .call(
            &key,
            "POST",
            &format!("/v1/datasets/{ds}/metadata"),
            Some(json!({"type": "string", "name": "city"})),
        )
        .await;
    let (status, _) = server
        .call(
            &key,
            "POST",
            &format!("/v1/datasets/{ds}/documents/metadata"),
            Some(
                json!({"operation_data": [{"document_id": doc, "metadata_list": [
                {"id": field["id"], "name": "city", "value": "Porto"}]}]}),
            ),
        )
        .await;
    assert_eq!(status, 200);
    let (_, detail) = server
        .call(
            &key,
            "GET",
            &format!("/v1/datasets/{ds}/documents/{doc}"),
            None,
        )
        .await;
    assert_eq!(detail["doc_metadata"][0]["value"], "Porto", "{detail}");

    // Segments name their creator, as datasets and documents do.
    let (_, dataset) = server
        .call(&key, "GET", &format!("/v1/datasets/{ds}"), None)
        .await;
    let owner = dataset["created_by"].as_str().unwrap().to_owned();
    assert!(!owner.is_empty());
    let (_, segments) = server
        .call(
            &key,
            "GET",
            &format!("/v1/datasets/{ds}/documents/{doc}/segments"),
            None,
        )
        .await;
    assert_eq!(
        segments["data"][0]["created_by"],
        owner.as_str(),
        "{segments}"
    );
    let (_, added) = server
        .call(
            &key,
            "POST",
            &format!("/v1/datasets/{ds}/documents/{doc}/segments"),
            Some(json!({"segments": [{"content": "Trams climb the hills."}]})),
        )
        .await;
    assert_eq!(added["data"][0]["created_by"], owner.as_str(), "{added}");

    // The upload file of a document made from a file.
    let part = reqwest::multipart::Part::bytes(b"Lisbon has trams.".to_vec())
        .file_name("lisbon.txt")
        .mime_str("text/plain")
        .unwrap();
    let form = reqwest::multipart::Form::new().part("file", part).text(
        "data",
        json!({"indexing_technique": "high_quality", "process_rule": {"mode": "automatic"}})
            .to_string(),
    );
    let res = server
        .client
        .post(server.url(&format!("/v1/datasets/{ds}/document/create-by-file")))
        .bearer_auth(&key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, by_file) = common::status_json(res).await;
    assert_eq!(status, 200, "{by_file}");
    let file_doc = by_file["document"]["id"].as_str().unwrap();
    let (status, file) = server
        .call(
            &key,
            "GET",
            &format!("/v1/datasets/{ds}/documents/{file_doc}/upload-file"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{file}");
    assert_eq!(
        (
            file["name"].as_str(),
            file["extension"].as_str(),
            file["size"].as_u64()
        ),
        (Some("lisbon.txt"), Some("txt"), Some(17))
    );
    for k in [
        "id",
        "url",
        "download_url",
        "mime_type",
        "created_by",
        "created_at",
    ] {
        assert!(!file[k].is_null(), "{k}: {file}");
    }
    let bytes = server
        .client
        .get(server.url(file["download_url"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&bytes[..], b"Lisbon has trams.");
    let unknown = "00000000-0000-4000-8000-000000000000";
    let (status, body) = server
        .call(
            &key,
            "GET",
            &format!("/v1/datasets/{ds}/documents/{unknown}/upload-file"),
            None,
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn deleting_a_dataset_mid_indexing_ends_its_jobs_quietly() {
    let logs = LogCapture::start();
    let upstream = FakeUpstream::start().await;
    upstream.delay_embeddings(Duration::from_millis(400));
    let server = TestServer::start_with(knowledge_options(&upstream)).await;
    let key = server.dataset_key().await;
    let (_, ds) = server
        .call(
            &key,
            "POST",
            "/v1/datasets",
            Some(json!({"name": "Doomed", "indexing_technique": "high_quality"})),
        )
        .await;
    let ds = ds["id"].as_str().unwrap().to_owned();
    for i in 0..4 {
        let (status, body) = server
            .call(
                &key,
                "POST",
                &format!("/v1/datasets/{ds}/document/create-by-text"),
                Some(json!({"name": format!("doc-{i}.txt"), "text": format!("Document number {i} about rivers."),
                    "process_rule": {"mode": "automatic"}})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    // Some documents are being embedded, others wait in the queue.
    let busy = common::eventually(Duration::from_secs(5), || async {
        upstream
            .requests()
            .iter()
            .any(|(p, _)| p.ends_with("/embeddings"))
            .then_some(())
    })
    .await;
    assert!(busy.is_some());
    let (status, _) = server
        .call(&key, "DELETE", &format!("/v1/datasets/{ds}"), None)
        .await;
    assert_eq!(status, 204);
    // Give the running jobs time to finish their embedding calls and notice.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for table in ["documents", "segments", "child_chunks"] {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM {table} WHERE dataset_id = $1"
        ))
        .bind(&ds)
        .fetch_one(server.db.store.pool())
        .await
        .unwrap();
        assert_eq!(n, 0, "{table} rows left behind");
    }
    assert!(logs.errors().is_empty(), "{:#?}", logs.errors());
    let (status, _) = server
        .call(&key, "GET", &format!("/v1/datasets/{ds}"), None)
        .await;
    assert_eq!(status, 404);
}
