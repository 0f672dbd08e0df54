//! The knowledge API over real HTTP with the fake upstream's deterministic embeddings:
//! datasets (gate, pagination, workspaces), documents from text, Markdown, PDF and DOCX
//! indexed to `completed`, chunk boundaries by rule, chunks and child chunks, a restart
//! mid-indexing, retrieval (semantic, full-text, hybrid, keyword) on SQLite and Postgres,
//! tags and metadata, and the consumers: a chat app with a dataset and a workflow's
//! knowledge-retrieval node.

mod common;

use std::time::Duration;

use common::upstream::FakeUpstream;
use common::{example, sse, status_json, with_upstream, Options, TestServer};
use serde_json::{json, Value};

const EMBEDDING: &str = "text-embedding-3-small";
const RERANK: &str = "rerank-1";

fn options(upstream: &FakeUpstream, postgres: bool) -> Options {
    let base = with_upstream(upstream);
    Options {
        config: Box::new(move |c| {
            (base.config)(c);
            let p = c.services.providers.get_mut("openai").unwrap();
            p.embedding_models = vec![EMBEDDING.into()];
            p.rerank_models = vec![RERANK.into()];
            p.llm_models = vec!["gpt-4o-mini".into()];
        }),
        postgres,
        ..Options::default()
    }
}

async fn start(upstream: &FakeUpstream) -> TestServer {
    TestServer::start_with(options(upstream, false)).await
}

async fn dataset_key(server: &TestServer) -> String {
    let ws = server.db.store.default_workspace_id().await.unwrap();
    weir_api::credentials::create_dataset_key(&server.db.store, &ws)
        .await
        .unwrap()
}

async fn call(
    server: &TestServer,
    key: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = server
        .client
        .request(method.parse().unwrap(), server.url(path))
        .bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn create_dataset(server: &TestServer, key: &str, name: &str, technique: &str) -> String {
    let (status, body) = call(
        server,
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
    let (status, body) = call(
        server,
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
        let (status, body) = call(server, key, "GET", &path, None).await;
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
            let (_, body) = call(server, key, "GET", &path, None).await;
            panic!("indexing does not finish: {body}");
        }
    }
}

async fn segments(server: &TestServer, key: &str, ds: &str, doc: &str) -> Vec<Value> {
    let (status, body) = call(
        server,
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

#[tokio::test]
async fn datasets_crud_gate_pagination_and_workspaces() {
    let upstream = FakeUpstream::start().await;
    let server = start(&upstream).await;
    let key = dataset_key(&server).await;

    // Auth: app keys and garbage are refused with Dify's 401 bodies.
    let app = server.import_example("01-chat-simple.yml").await;
    let app_key = server.app_key(&app).await;
    let (status, body) = call(&server, &app_key, "GET", "/v1/datasets", None).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("Access token is invalid"))
    );

    let (status, body) = call(
        &server,
        &key,
        "POST",
        "/v1/datasets",
        Some(json!({"name": "Handbook",
        "description": "Company handbook", "indexing_technique": "high_quality"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for k in [
        "id",
        "name",
        "description",
        "provider",
        "permission",
        "data_source_type",
        "indexing_technique",
        "app_count",
        "document_count",
        "word_count",
        "created_by",
        "author_name",
        "created_at",
        "updated_at",
        "embedding_model",
        "embedding_model_provider",
        "embedding_available",
        "retrieval_model_dict",
        "tags",
        "doc_form",
        "external_knowledge_info",
        "doc_metadata",
        "built_in_field_enabled",
        "total_documents",
        "total_available_documents",
        "enable_api",
    ] {
        assert!(body.get(k).is_some(), "{k}");
    }
    assert_eq!(
        (
            body["embedding_model"].as_str(),
            body["embedding_available"].as_bool()
        ),
        (Some(EMBEDDING), Some(true))
    );
    assert_eq!(
        (body["document_count"].as_i64(), body["doc_form"].is_null()),
        (Some(0), true)
    );
    let id = body["id"].as_str().unwrap().to_owned();
    let (status, body) = call(
        &server,
        &key,
        "POST",
        "/v1/datasets",
        Some(json!({"name": "Handbook"})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("dataset_name_duplicate"))
    );
    let (status, body) = call(
        &server,
        &key,
        "POST",
        "/v1/datasets",
        Some(json!({"name": ""})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_param"))
    );
    for i in 0..3 {
        create_dataset(&server, &key, &format!("Extra {i}"), "economy").await;
    }
    // has_more = a full page (requested limit), even on the exact last page.
    let (_, page) = call(&server, &key, "GET", "/v1/datasets?page=1&limit=2", None).await;
    assert_eq!(
        (
            page["total"].as_i64(),
            page["has_more"].as_bool(),
            page["limit"].as_i64()
        ),
        (Some(4), Some(true), Some(2))
    );
    let (_, page) = call(&server, &key, "GET", "/v1/datasets?page=2&limit=2", None).await;
    assert_eq!(
        (
            page["data"].as_array().unwrap().len(),
            page["has_more"].as_bool()
        ),
        (2, Some(true))
    );
    let (_, page) = call(&server, &key, "GET", "/v1/datasets?page=3&limit=2", None).await;
    assert_eq!(
        (
            page["data"].as_array().unwrap().len(),
            page["has_more"].as_bool()
        ),
        (0, Some(false))
    );
    let (_, page) = call(&server, &key, "GET", "/v1/datasets?keyword=hand", None).await;
    assert_eq!(page["total"], 1);

    // Detail, update, the gate, delete.
    let (status, body) = call(&server, &key, "GET", &format!("/v1/datasets/{id}"), None).await;
    assert_eq!((status, body["name"].as_str()), (200, Some("Handbook")));
    let (status, body) = call(
        &server,
        &key,
        "PATCH",
        &format!("/v1/datasets/{id}"),
        Some(
            json!({"description": "Updated", "retrieval_model": {"search_method": "hybrid_search",
            "reranking_enable": false, "top_k": 3, "score_threshold_enabled": false}}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["description"].as_str(),
            body["partial_member_list"].clone()
        ),
        (Some("Updated"), json!([]))
    );
    assert_eq!(
        body["retrieval_model_dict"]["search_method"],
        "hybrid_search"
    );
    let (status, body) = call(&server, &key, "GET", "/v1/datasets/not-a-uuid", None).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let (status, body) = call(
        &server,
        &key,
        "GET",
        &format!("/v1/datasets/{}", uuid::Uuid::new_v4()),
        None,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("Dataset not found."))
    );
    sqlx::query("UPDATE datasets SET enable_api = 0 WHERE id = $1")
        .bind(&id)
        .execute(server.db.store.pool())
        .await
        .unwrap();
    let (status, body) = call(&server, &key, "GET", &format!("/v1/datasets/{id}"), None).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (403, Some("Dataset api access is not enabled."))
    );
    sqlx::query("UPDATE datasets SET enable_api = 1 WHERE id = $1")
        .bind(&id)
        .execute(server.db.store.pool())
        .await
        .unwrap();

    // Another workspace's key cannot reach this workspace's datasets.
    let other = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO workspaces (id, name, status, created_at) VALUES ($1, 'other', 'normal', 0)",
    )
    .bind(&other)
    .execute(server.db.store.pool())
    .await
    .unwrap();
    let foreign = weir_api::credentials::create_dataset_key(&server.db.store, &other)
        .await
        .unwrap();
    let (status, _) = call(
        &server,
        &foreign,
        "GET",
        &format!("/v1/datasets/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (_, page) = call(&server, &foreign, "GET", "/v1/datasets", None).await;
    assert_eq!(page["total"], 0);

    // Tags: bare array with string counts, bindings, a dataset's tags.
    let (status, tag) = call(
        &server,
        &key,
        "POST",
        "/v1/datasets/tags",
        Some(json!({"name": "hr"})),
    )
    .await;
    assert_eq!((status, tag["binding_count"].as_str()), (200, Some("0")));
    let tag_id = tag["id"].as_str().unwrap();
    let (status, body) = call(
        &server,
        &key,
        "POST",
        "/v1/datasets/tags",
        Some(json!({"name": "hr"})),
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Tag name already exists"))
    );
    let res = server
        .client
        .post(server.url("/v1/datasets/tags/binding"))
        .bearer_auth(&key)
        .json(&json!({"tag_ids": [tag_id], "target_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (_, tags) = call(&server, &key, "GET", "/v1/datasets/tags", None).await;
    assert_eq!(
        tags,
        json!([{"id": tag_id, "name": "hr", "type": "knowledge", "binding_count": "1"}])
    );
    let (_, of) = call(
        &server,
        &key,
        "GET",
        &format!("/v1/datasets/{id}/tags"),
        None,
    )
    .await;
    assert_eq!(
        of,
        json!({"total": 1, "data": [{"id": tag_id, "name": "hr"}]})
    );
    let (_, page) = call(
        &server,
        &key,
        "GET",
        &format!("/v1/datasets?tag_ids={tag_id}"),
        None,
    )
    .await;
    assert_eq!(page["total"], 1);

    // The models list comes from the configured providers.
    let (status, models) = call(
        &server,
        &key,
        "GET",
        "/v1/workspaces/current/models/model-types/text-embedding",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(models["data"][0]["models"][0]["model"], EMBEDDING);
    let (status, _) = call(
        &server,
        &key,
        "GET",
        "/v1/workspaces/current/models/model-types/vision",
        None,
    )
    .await;
    assert_eq!(status, 400);

    let res = server
        .client
        .delete(server.url(&format!("/v1/datasets/{id}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (status, _) = call(&server, &key, "GET", &format!("/v1/datasets/{id}"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn documents_are_indexed_chunked_and_managed() {
    let upstream = FakeUpstream::start().await;
    let server = start(&upstream).await;
    let key = dataset_key(&server).await;
    let ds = create_dataset(&server, &key, "Docs", "high_quality").await;

    // Text with a custom separator: one chunk per paragraph, boundaries exact.
    let text =
        "Rivers flow to the sea.\n\nMountains rise above the clouds.\n\nDeserts are dry and hot.";
    let (doc, batch) = add_text(&server, &key, &ds, "geo", text, custom_rule("\\n\\n", 200)).await;
    let status = wait_batch(&server, &key, &ds, &batch).await;
    assert_eq!(status[0]["indexing_status"], "completed", "{status:?}");
    assert_eq!(
        (
            status[0]["completed_segments"].as_i64(),
            status[0]["total_segments"].as_i64()
        ),
        (Some(3), Some(3))
    );
    let segs = segments(&server, &key, &ds, &doc).await;
    assert_eq!(
        contents(&segs),
        [
            "Rivers flow to the sea.",
            "Mountains rise above the clouds.",
            "Deserts are dry and hot."
        ]
    );
    assert_eq!(segs[0]["word_count"], 23);
    assert!(segs[0]["tokens"].as_i64().unwrap() > 0);
    assert_eq!(segs[0]["status"], "completed");

    // Markdown, PDF and DOCX files (automatic rule: short texts are one chunk each).
    let automatic =
        json!({"indexing_technique": "high_quality", "process_rule": {"mode": "automatic"}});
    let files: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "notes.md",
            b"# Notes\n\nThe lighthouse guides ships at night.".to_vec(),
            "text/markdown",
            "lighthouse",
        ),
        (
            "report.pdf",
            weir_api::knowledge::extract::pdf_fixture(&["Glaciers carve valleys slowly"]),
            "application/pdf",
            "Glaciers",
        ),
        (
            "memo.docx",
            weir_api::knowledge::extract::docx_fixture(&["Volcanoes erupt molten rock"]),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "Volcanoes",
        ),
    ];
    for (name, bytes, mime, word) in files {
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes)
                    .file_name(name)
                    .mime_str(mime)
                    .unwrap(),
            )
            .text("data", automatic.to_string());
        let res = server
            .client
            .post(server.url(&format!("/v1/datasets/{ds}/document/create-by-file")))
            .bearer_auth(&key)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let (status, body) = status_json(res).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(body["document"]["name"], name);
        let doc = body["document"]["id"].as_str().unwrap().to_owned();
        let s = wait_batch(&server, &key, &ds, body["batch"].as_str().unwrap()).await;
        assert_eq!(s[0]["indexing_status"], "completed", "{name}: {s:?}");
        let segs = segments(&server, &key, &ds, &doc).await;
        assert_eq!(segs.len(), 1, "{name}");
        assert!(
            segs[0]["content"].as_str().unwrap().contains(word),
            "{name}: {segs:?}"
        );
    }

    // Hierarchical: paragraph parents with sentence children.
    let ds2 = create_dataset(&server, &key, "Parents", "high_quality").await;
    let rule = json!({"mode": "hierarchical", "rules": {"pre_processing_rules": [], "parent_mode": "paragraph",
        "segmentation": {"separator": "\\n\\n", "max_tokens": 200},
        "subchunk_segmentation": {"separator": ". ", "max_tokens": 50}}});
    let (status, body) = call(&server, &key, "POST", &format!("/v1/datasets/{ds2}/document/create-by-text"),
        Some(json!({"name": "h", "text": "Cats purr. Cats sleep.\n\nDogs bark. Dogs run", "doc_form": "hierarchical_model",
            "process_rule": rule}))).await;
    assert_eq!(status, 200, "{body}");
    let hdoc = body["document"]["id"].as_str().unwrap().to_owned();
    wait_batch(&server, &key, &ds2, body["batch"].as_str().unwrap()).await;
    let segs = segments(&server, &key, &ds2, &hdoc).await;
    assert_eq!(
        contents(&segs),
        ["Cats purr. Cats sleep.", "Dogs bark. Dogs run"]
    );
    let kids: Vec<&str> = segs[0]["child_chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["content"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["Cats purr", "Cats sleep."]);
    // Dataset doc_form is fixed by its first document.
    let (status, body) = call(
        &server,
        &key,
        "POST",
        &format!("/v1/datasets/{ds2}/document/create-by-text"),
        Some(json!({"name": "t", "text": "x", "doc_form": "text_model"})),
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (
            400,
            Some("doc_form is different from the dataset doc_form.")
        )
    );

    // Chunks: add, update, list by keyword, delete.
    let (status, body) = call(
        &server,
        &key,
        "POST",
        &format!("/v1/datasets/{ds}/documents/{doc}/segments"),
        Some(json!({"segments": [{"content": "Oceans are deep.", "keywords": ["ocean"]}]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let seg_id = body["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (
            body["data"][0]["position"].as_i64(),
            body["doc_form"].as_str()
        ),
        (Some(4), Some("text_model"))
    );
    let (status, body) = call(
        &server,
        &key,
        "POST",
        &format!("/v1/datasets/{ds}/documents/{doc}/segments"),
        Some(json!({"segments": [{"answer": "x"}]})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["error"].is_string(), "non-standard body: {body}");
    let (status, body) = call(
        &server,
        &key,
        "POST",
        &format!("/v1/datasets/{ds}/documents/{doc}/segments/{seg_id}"),
        Some(json!({"segment": {"content": "Oceans are very deep."}})),
    )
    .await;
    assert_eq!(
        (status, body["data"]["content"].as_str()),
        (200, Some("Oceans are very deep."))
    );
    let (_, page) = call(
        &server,
        &key,
        "GET",
        &format!("/v1/datasets/{ds}/documents/{doc}/segments?keyword=ocean&limit=1"),
        None,
    )
    .await;
    assert_eq!(
        (page["total"].as_i64(), page["has_more"].as_bool()),
        (Some(1), Some(true))
    );
    let res = server
        .client
        .delete(server.url(&format!(
            "/v1/datasets/{ds}/documents/{doc}/segments/{seg_id}"
        )))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);

    // Documents: list, detail by metadata mode, disable/enable, archive blocks delete.
    let (_, list) = call(
        &server,
        &key,
        "GET",
        &format!("/v1/datasets/{ds}/documents?limit=2"),
        None,
    )
    .await;
    assert_eq!(
        (list["total"].as_i64(), list["has_more"].as_bool()),
        (Some(4), Some(true))
    );
    let (status, body) = call(
        &server,
        &key,
        "GET",
        &format!("/v1/datasets/{ds}/documents/{doc}?metadata=only"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
    let (status, body) = call(
        &server,
        &key,
        "GET",
        &format!("/v1/datasets/{ds}/documents/{doc}"),
        None,
    )
    .await;
    assert_eq!(
        (
            status,
            body["segment_count"].as_i64(),
            body["display_status"].as_str()
        ),
        (200, Some(3), Some("available"))
    );
    let (status, body) = call(
        &server,
        &key,
        "GET",
        &format!("/v1/datasets/{ds}/documents/{doc}?metadata=bad"),
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_metadata"))
    );
    let (status, _) = call(
        &server,
        &key,
        "PATCH",
        &format!("/v1/datasets/{ds}/documents/status/disable"),
        Some(json!({"document_ids": [doc]})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, list) = call(
        &server,
        &key,
        "GET",
        &format!("/v1/datasets/{ds}/documents?status=disabled"),
        None,
    )
    .await;
    assert_eq!(list["total"], 1);
    let (status, body) = call(
        &server,
        &key,
        "PATCH",
        &format!("/v1/datasets/{ds}/documents/status/shred"),
        Some(json!({"document_ids": [doc]})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_action"))
    );
    call(
        &server,
        &key,
        "PATCH",
        &format!("/v1/datasets/{ds}/documents/status/archive"),
        Some(json!({"document_ids": [doc]})),
    )
    .await;
    let (status, body) = call(
        &server,
        &key,
        "DELETE",
        &format!("/v1/datasets/{ds}/documents/{doc}"),
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("archived_document_immutable"))
    );
    call(
        &server,
        &key,
        "PATCH",
        &format!("/v1/datasets/{ds}/documents/status/un_archive"),
        Some(json!({"document_ids": [doc]})),
    )
    .await;
    let (status, body) = call(
        &server,
        &key,
        "GET",
        &format!("/v1/datasets/{ds}/documents/{doc}/download"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let url = body["url"].as_str().unwrap().to_owned();
    let file = server
        .client
        .get(server.url(&url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(file, text);
    let res = server
        .client
        .delete(server.url(&format!("/v1/datasets/{ds}/documents/{doc}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (status, body) = call(
        &server,
        &key,
        "DELETE",
        &format!("/v1/datasets/{ds}/documents/{doc}"),
        None,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("Document Not Exists."))
    );
    let (status, body) = call(
        &server,
        &key,
        "GET",
        &format!("/v1/datasets/{ds}/documents/nope/indexing-status"),
        None,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("Documents not found."))
    );
}

#[tokio::test]
async fn a_restart_mid_indexing_leaves_nothing_stuck_or_doubled() {
    let upstream = FakeUpstream::start().await;
    let mut server = start(&upstream).await;
    let key = dataset_key(&server).await;
    let ds = create_dataset(&server, &key, "Crash", "high_quality").await;
    let text = "One fact.\n\nTwo facts.\n\nThree facts.";
    let (doc, batch) = add_text(
        &server,
        &key,
        &ds,
        "facts",
        text,
        custom_rule("\\n\\n", 100),
    )
    .await;
    wait_batch(&server, &key, &ds, &batch).await;
    // The state a kill leaves behind mid-indexing: a document in a non-final status with
    // some chunks written, and another that never left the queue.
    let (doc2, b2) = add_text(
        &server,
        &key,
        &ds,
        "more",
        "Four facts.",
        custom_rule("\\n\\n", 100),
    )
    .await;
    wait_batch(&server, &key, &ds, &b2).await;
    server.halt().await;
    let pool = server.db.store.pool().clone();
    sqlx::query(
        "UPDATE documents SET indexing_status = 'indexing', completed_at = NULL WHERE id = $1",
    )
    .bind(&doc)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("UPDATE documents SET indexing_status = 'waiting' WHERE id = $1")
        .bind(&doc2)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM segments WHERE document_id = $1")
        .bind(&doc2)
        .execute(&pool)
        .await
        .unwrap();
    let url = server.db.url.clone();
    let config = server.config.clone();
    // A new server on the same database resumes both.
    let db = weir_api::store::Store::open(&url).await.unwrap();
    let restarted = weir::Server::with_store(config, db.clone()).unwrap();
    let bound = restarted.bind().await.unwrap();
    let addr = bound.local_addr();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(bound.serve(async {
        let _ = rx.await;
    }));
    let client = reqwest::Client::new();
    let statuses = common::eventually(Duration::from_secs(20), || async {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT id, indexing_status FROM documents")
                .fetch_all(db.pool())
                .await
                .unwrap();
        rows.iter().all(|(_, s)| s == "completed").then_some(rows)
    })
    .await;
    assert!(statuses.is_some(), "every document reaches completed");
    let dupes: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT document_id, content FROM segments GROUP BY document_id, content HAVING COUNT(*) > 1) d",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(dupes, 0, "no chunk is stored twice");
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM segments WHERE document_id = $1")
        .bind(&doc)
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(count, 3);
    let res = client
        .post(format!("http://{addr}/v1/datasets/{ds}/retrieve"))
        .bearer_auth(&key)
        .json(&json!({"query": "four facts"}))
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(res).await;
    assert_eq!(
        (status, body["records"][0]["segment"]["content"].as_str()),
        (200, Some("Four facts."))
    );
    let _ = tx.send(());
    let _ = task.await;
}

async fn retrieval_methods(postgres: bool) {
    let upstream = FakeUpstream::start().await;
    let server = TestServer::start_with(options(&upstream, postgres)).await;
    let key = dataset_key(&server).await;
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
            let (status, body) = call(
                server,
                key,
                "POST",
                &format!("/v1/datasets/{ds}/retrieve"),
                Some(json!({"query": q, "retrieval_model": model})),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["query"]["content"], q.as_str());
            body["records"]
                .as_array()
                .unwrap()
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
    let (status, body) = call(
        &server,
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
    let (status, body) = call(
        &server,
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
    let (status, body) = call(
        &server,
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

#[tokio::test]
async fn retrieval_on_sqlite() {
    retrieval_methods(false).await;
}

#[tokio::test]
async fn retrieval_on_postgres() {
    if common::postgres_configured("retrieval_on_postgres") {
        retrieval_methods(true).await;
    }
}

#[tokio::test]
async fn metadata_fields_values_and_filtered_retrieval() {
    let upstream = FakeUpstream::start().await;
    let server = start(&upstream).await;
    let key = dataset_key(&server).await;
    let ds = create_dataset(&server, &key, "Meta", "high_quality").await;
    let (a, b1) = add_text(
        &server,
        &key,
        &ds,
        "a",
        "Apples are red fruit.",
        custom_rule("\\n\\n", 100),
    )
    .await;
    let (b, b2) = add_text(
        &server,
        &key,
        &ds,
        "b",
        "Apples grow on trees.",
        custom_rule("\\n\\n", 100),
    )
    .await;
    wait_batch(&server, &key, &ds, &b1).await;
    wait_batch(&server, &key, &ds, &b2).await;
    let res = server
        .client
        .post(server.url(&format!("/v1/datasets/{ds}/metadata")))
        .bearer_auth(&key)
        .json(&json!({"type": "string", "name": "author"}))
        .send()
        .await
        .unwrap();
    let (status, field) = status_json(res).await;
    assert_eq!(status, 201, "{field}");
    let (status, body) = call(
        &server,
        &key,
        "POST",
        &format!("/v1/datasets/{ds}/metadata"),
        Some(json!({"type": "string", "name": "document_name"})),
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (
            400,
            Some("Metadata name already exists in Built-in fields.")
        )
    );
    let (status, _) = call(&server, &key, "POST", &format!("/v1/datasets/{ds}/documents/metadata"),
        Some(json!({"operation_data": [{"document_id": a, "metadata_list": [{"id": field["id"], "name": "author", "value": "ana"}]}]}))).await;
    assert_eq!(status, 200);
    let (_, list) = call(
        &server,
        &key,
        "GET",
        &format!("/v1/datasets/{ds}/metadata"),
        None,
    )
    .await;
    assert_eq!(list["doc_metadata"][0]["count"], 1);
    let filtered = |value: &str| {
        json!({"search_method": "semantic_search", "reranking_enable": false, "top_k": 4,
        "score_threshold_enabled": false, "metadata_filtering_conditions": {"logical_operator": "and",
            "conditions": [{"name": "author", "comparison_operator": "is", "value": value}]}})
    };
    let (_, body) = call(
        &server,
        &key,
        "POST",
        &format!("/v1/datasets/{ds}/retrieve"),
        Some(json!({"query": "apples", "retrieval_model": filtered("ana")})),
    )
    .await;
    let docs: Vec<&str> = body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["segment"]["document_id"].as_str().unwrap())
        .collect();
    assert_eq!(docs, [a.as_str()]);
    let (_, body) = call(
        &server,
        &key,
        "POST",
        &format!("/v1/datasets/{ds}/retrieve"),
        Some(json!({"query": "apples", "retrieval_model": filtered("nobody")})),
    )
    .await;
    assert_eq!(
        body["records"],
        json!([]),
        "no matching document, no results"
    );
    // Built-in fields.
    let (status, _) = call(
        &server,
        &key,
        "POST",
        &format!("/v1/datasets/{ds}/metadata/built-in/enable"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (_, detail) = call(
        &server,
        &key,
        "GET",
        &format!("/v1/datasets/{ds}/documents/{b}?metadata=only"),
        None,
    )
    .await;
    let names: Vec<&str> = detail["doc_metadata"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"document_name") && names.contains(&"source"),
        "{detail}"
    );
    let (_, fields) = call(
        &server,
        &key,
        "GET",
        &format!("/v1/datasets/{ds}/metadata/built-in"),
        None,
    )
    .await;
    assert_eq!(fields["fields"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn chat_apps_and_workflows_retrieve_from_datasets() {
    let upstream = FakeUpstream::start().await;
    let server = start(&upstream).await;
    let key = dataset_key(&server).await;
    let ds = create_dataset(&server, &key, "Handbook", "high_quality").await;
    let text = "Vacation: employees get 25 days of paid leave.\n\nExpenses: receipts are due within 30 days.";
    let (_, batch) = add_text(
        &server,
        &key,
        &ds,
        "handbook",
        text,
        custom_rule("\\n\\n", 200),
    )
    .await;
    wait_batch(&server, &key, &ds, &batch).await;

    // A chat app whose model_config names the dataset.
    let dsl = format!(
        "version: '0.6.0'\napp: {{mode: chat, name: HR}}\nmodel_config:\n  model: {{provider: openai, name: gpt-4o-mini, mode: chat}}\n  \
         pre_prompt: Answer from the handbook.\n  retriever_resource: {{enabled: true}}\n  dataset_configs:\n    retrieval_model: multiple\n    \
         top_k: 1\n    datasets:\n      datasets:\n      - dataset: {{enabled: true, id: {ds}}}\n"
    );
    let app = server.import(&dsl).await;
    let app_key = server.app_key(&app).await;
    let res = server
        .post(
            &app_key,
            "/v1/chat-messages",
            json!({"inputs": {}, "query": "how many vacation days?",
        "user": "u", "response_mode": "streaming"}),
        )
        .await;
    let events = sse::events(&res.text().await.unwrap());
    let end = events
        .iter()
        .find(|e| e["event"] == "message_end")
        .expect("message_end");
    let resources = end["metadata"]["retriever_resources"].as_array().unwrap();
    assert_eq!(resources.len(), 1, "{end}");
    let r = &resources[0];
    assert_eq!(
        (
            r["position"].as_i64(),
            r["dataset_id"].as_str(),
            r["retriever_from"].as_str()
        ),
        (Some(1), Some(ds.as_str()), Some("api"))
    );
    assert!(r["content"].as_str().unwrap().starts_with("Vacation"));
    for k in [
        "dataset_name",
        "document_id",
        "document_name",
        "data_source_type",
        "segment_id",
        "score",
    ] {
        assert!(r.get(k).is_some(), "{k}");
    }
    let sent = upstream.chat_requests();
    let system = sent
        .iter()
        .map(|r| {
            r["messages"][0]["content"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .find(|s| s.contains("Answer from the handbook"))
        .expect("the turn's request");
    assert!(
        system.contains("<context>") && system.contains("25 days of paid leave"),
        "{system}"
    );
    // Message history keeps the citations.
    let (_, history) = status_json(
        server
            .get(
                &app_key,
                &format!(
                    "/v1/messages?user=u&conversation_id={}",
                    end["conversation_id"].as_str().unwrap()
                ),
            )
            .await,
    )
    .await;
    assert_eq!(
        history["data"][0]["retriever_resources"][0]["segment_id"],
        r["segment_id"]
    );

    // The workflow example's knowledge-retrieval node, pointed at this dataset.
    let wf = example("10-workflow-knowledge-retrieval.yml")
        .replace("6f1c0d5e-8a2b-4c3d-9e0f-1a2b3c4d5e6f", &ds)
        .replace(
            "7a2d1e6f-9b3c-4d4e-8f1a-2b3c4d5e6f70",
            &uuid::Uuid::new_v4().to_string(),
        );
    let wf_app = server.import(&wf).await;
    let wf_key = server.app_key(&wf_app).await;
    let res = server
        .post(
            &wf_key,
            "/v1/workflows/run",
            json!({"inputs": {"question": "receipts expenses"},
        "user": "u", "response_mode": "streaming"}),
        )
        .await;
    let events = sse::events(&res.text().await.unwrap());
    let kb = events
        .iter()
        .find(|e| e["event"] == "node_finished" && e["data"]["node_id"] == "kb")
        .expect("kb node");
    let result = kb["data"]["outputs"]["result"].as_array().unwrap();
    assert!(!result.is_empty(), "{kb}");
    assert!(
        result[0]["content"]
            .as_str()
            .unwrap()
            .starts_with("Expenses"),
        "{result:?}"
    );
    assert_eq!(result[0]["metadata"]["_source"], "knowledge");
    assert_eq!(result[0]["metadata"]["dataset_id"], ds.as_str());
    assert_eq!(result[0]["title"], "handbook");
    let finished = events.last().unwrap();
    assert_eq!(finished["data"]["status"], "succeeded", "{finished}");
}

#[tokio::test]
async fn updates_child_chunks_tags_and_zips() {
    let upstream = FakeUpstream::start().await;
    let server = start(&upstream).await;
    let key = dataset_key(&server).await;
    let ds = create_dataset(&server, &key, "Edits", "high_quality").await;
    let rule = json!({"mode": "hierarchical", "rules": {"pre_processing_rules": [], "parent_mode": "paragraph",
        "segmentation": {"separator": "\\n\\n", "max_tokens": 200},
        "subchunk_segmentation": {"separator": ". ", "max_tokens": 50}}});
    let (status, body) = call(&server, &key, "POST", &format!("/v1/datasets/{ds}/document/create_by_text"),
        Some(json!({"name": "h", "text": "Owls hunt. Owls hoot.", "doc_form": "hierarchical_model", "process_rule": rule}))).await;
    assert_eq!(status, 200, "{body}");
    let doc = body["document"]["id"].as_str().unwrap().to_owned();
    wait_batch(&server, &key, &ds, body["batch"].as_str().unwrap()).await;
    let seg = segments(&server, &key, &ds, &doc).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let base = format!("/v1/datasets/{ds}/documents/{doc}/segments/{seg}/child_chunks");

    // Child chunks: list (own pagination flavour), add, edit, delete.
    let (status, page) = call(&server, &key, "GET", &format!("{base}?limit=1"), None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        (
            page["total"].as_i64(),
            page["total_pages"].as_i64(),
            page["limit"].as_i64()
        ),
        (Some(2), Some(2), Some(1))
    );
    assert!(page.get("has_more").is_none());
    let (status, added) = call(
        &server,
        &key,
        "POST",
        &base,
        Some(json!({"content": "Owls fly"})),
    )
    .await;
    assert_eq!(
        (
            status,
            added["data"]["type"].as_str(),
            added["data"]["position"].as_i64()
        ),
        (200, Some("customized"), Some(3))
    );
    let child = added["data"]["id"].as_str().unwrap().to_owned();
    let (status, edited) = call(
        &server,
        &key,
        "PATCH",
        &format!("{base}/{child}"),
        Some(json!({"content": "Owls glide"})),
    )
    .await;
    assert_eq!(
        (status, edited["data"]["content"].as_str()),
        (200, Some("Owls glide"))
    );
    let (status, _) = call(&server, &key, "POST", &base, Some(json!({"content": " "}))).await;
    assert_eq!(status, 400);
    let res = server
        .client
        .delete(server.url(&format!("{base}/{child}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (status, body) = call(
        &server,
        &key,
        "PATCH",
        &format!("{base}/{child}"),
        Some(json!({"content": "x"})),
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("Child chunk not found."))
    );
    // The children are what retrieval searches; the hit is the parent with its children.
    let (_, found) = call(
        &server,
        &key,
        "POST",
        &format!("/v1/datasets/{ds}/retrieve"),
        Some(json!({"query": "owls hoot"})),
    )
    .await;
    assert_eq!(found["records"][0]["segment"]["id"], seg.as_str());
    assert!(
        !found["records"][0]["child_chunks"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{found}"
    );

    // update-by-text: new text re-indexes the document under its batch.
    let (status, body) = call(
        &server,
        &key,
        "POST",
        &format!("/v1/datasets/{ds}/documents/{doc}/update-by-text"),
        Some(json!({"text": "no name"})),
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("name is required when text is provided"))
    );
    let (status, body) = call(&server, &key, "POST", &format!("/v1/datasets/{ds}/documents/{doc}/update-by-text"),
        Some(json!({"name": "h2", "text": "Bats sleep. Bats fly.", "doc_form": "hierarchical_model"}))).await;
    assert_eq!(status, 200, "{body}");
    wait_batch(&server, &key, &ds, body["batch"].as_str().unwrap()).await;
    let segs = segments(&server, &key, &ds, &doc).await;
    assert_eq!(contents(&segs), ["Bats sleep. Bats fly."]);
    // update-by-file (PATCH, multipart) with a new file.
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"Moths flutter. Moths rest.".to_vec())
                .file_name("m.txt")
                .mime_str("text/plain")
                .unwrap(),
        )
        .text(
            "data",
            json!({"doc_form": "hierarchical_model"}).to_string(),
        );
    let res = server
        .client
        .patch(server.url(&format!("/v1/datasets/{ds}/documents/{doc}")))
        .bearer_auth(&key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(res).await;
    assert_eq!(
        (status, body["document"]["name"].as_str()),
        (200, Some("m.txt")),
        "{body}"
    );
    wait_batch(&server, &key, &ds, body["batch"].as_str().unwrap()).await;
    assert_eq!(
        contents(&segments(&server, &key, &ds, &doc).await),
        ["Moths flutter. Moths rest."]
    );

    // ZIP of the source files.
    let res = server
        .client
        .post(server.url(&format!("/v1/datasets/{ds}/documents/download-zip")))
        .bearer_auth(&key)
        .json(&json!({"document_ids": [doc]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/zip");
    let bytes = res.bytes().await.unwrap();
    assert_eq!(&bytes[..2], b"PK");

    // Tags: rename, unbind (legacy single id), delete.
    let (_, tag) = call(
        &server,
        &key,
        "POST",
        "/v1/datasets/tags",
        Some(json!({"name": "night"})),
    )
    .await;
    let tag_id = tag["id"].as_str().unwrap().to_owned();
    let (status, renamed) = call(
        &server,
        &key,
        "PATCH",
        "/v1/datasets/tags",
        Some(json!({"tag_id": tag_id, "name": "nocturnal"})),
    )
    .await;
    assert_eq!((status, renamed["name"].as_str()), (200, Some("nocturnal")));
    let post = |path: &str, body: Value| {
        let (server, key, path) = (&server, &key, path.to_owned());
        async move {
            server
                .client
                .post(server.url(&path))
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        post(
            "/v1/datasets/tags/binding",
            json!({"tag_ids": [tag_id], "target_id": ds})
        )
        .await,
        204
    );
    assert_eq!(
        post(
            "/v1/datasets/tags/unbinding",
            json!({"tag_id": tag_id, "target_id": ds})
        )
        .await,
        204
    );
    assert_eq!(
        post("/v1/datasets/tags/unbinding", json!({"target_id": ds})).await,
        400
    );
    let (_, of) = call(
        &server,
        &key,
        "GET",
        &format!("/v1/datasets/{ds}/tags"),
        None,
    )
    .await;
    assert_eq!(of["total"], 0);
    let res = server
        .client
        .delete(server.url("/v1/datasets/tags"))
        .bearer_auth(&key)
        .json(&json!({"tag_id": tag_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (status, body) = call(
        &server,
        &key,
        "PATCH",
        "/v1/datasets/tags",
        Some(json!({"tag_id": tag_id, "name": "x"})),
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("Tag not found"))
    );

    // Metadata: rename and delete carry over to the documents' values.
    let res = server
        .client
        .post(server.url(&format!("/v1/datasets/{ds}/metadata")))
        .bearer_auth(&key)
        .json(&json!({"type": "number", "name": "year"}))
        .send()
        .await
        .unwrap();
    let field = status_json(res).await.1;
    let fid = field["id"].as_str().unwrap().to_owned();
    call(&server, &key, "POST", &format!("/v1/datasets/{ds}/documents/metadata"),
        Some(json!({"operation_data": [{"document_id": doc, "metadata_list": [{"id": fid, "name": "year", "value": 2024}]}]}))).await;
    let (status, _) = call(
        &server,
        &key,
        "PATCH",
        &format!("/v1/datasets/{ds}/metadata/{fid}"),
        Some(json!({"name": "published"})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, detail) = call(
        &server,
        &key,
        "GET",
        &format!("/v1/datasets/{ds}/documents/{doc}?metadata=only"),
        None,
    )
    .await;
    assert_eq!(detail["doc_metadata"][0]["name"], "published");
    assert_eq!(detail["doc_metadata"][0]["value"], 2024);
    let res = server
        .client
        .delete(server.url(&format!("/v1/datasets/{ds}/metadata/{fid}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (_, detail) = call(
        &server,
        &key,
        "GET",
        &format!("/v1/datasets/{ds}/documents/{doc}?metadata=only"),
        None,
    )
    .await;
    // No metadata left: `null`, as Dify sends it.
    assert_eq!(detail["doc_metadata"], Value::Null);
}
