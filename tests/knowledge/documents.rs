use super::*;

#[tokio::test]
async fn documents_are_indexed_chunked_and_managed() {
    let upstream = FakeUpstream::start().await;
    let server = start(&upstream).await;
    let key = server.dataset_key().await;
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
    let (status, body) = server.call(&key, "POST", &format!("/v1/datasets/{ds2}/document/create-by-text"),
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
    let (status, body) = server
        .call(
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
    let (status, body) = server
        .call(
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
    let (status, body) = server
        .call(
            &key,
            "POST",
            &format!("/v1/datasets/{ds}/documents/{doc}/segments"),
            Some(json!({"segments": [{"answer": "x"}]})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["error"].is_string(), "non-standard body: {body}");
    let (status, body) = server
        .call(
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
    let (_, page) = server
        .call(
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
    let (status, _) = server
        .call(
            &key,
            "DELETE",
            &format!("/v1/datasets/{ds}/documents/{doc}/segments/{seg_id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);

    // Documents: list, detail by metadata mode, disable/enable, archive blocks delete.
    let (_, list) = server
        .call(
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
    let (status, body) = server
        .call(
            &key,
            "GET",
            &format!("/v1/datasets/{ds}/documents/{doc}?metadata=only"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
    let (status, body) = server
        .call(
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
    let (status, body) = server
        .call(
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
    let (status, _) = server
        .call(
            &key,
            "PATCH",
            &format!("/v1/datasets/{ds}/documents/status/disable"),
            Some(json!({"document_ids": [doc]})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, list) = server
        .call(
            &key,
            "GET",
            &format!("/v1/datasets/{ds}/documents?status=disabled"),
            None,
        )
        .await;
    assert_eq!(list["total"], 1);
    let (status, body) = server
        .call(
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
    server
        .call(
            &key,
            "PATCH",
            &format!("/v1/datasets/{ds}/documents/status/archive"),
            Some(json!({"document_ids": [doc]})),
        )
        .await;
    let (status, body) = server
        .call(
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
    server
        .call(
            &key,
            "PATCH",
            &format!("/v1/datasets/{ds}/documents/status/un_archive"),
            Some(json!({"document_ids": [doc]})),
        )
        .await;
    let (status, body) = server
        .call(
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
    let (status, _) = server
        .call(
            &key,
            "DELETE",
            &format!("/v1/datasets/{ds}/documents/{doc}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = server
        .call(
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
    let (status, body) = server
        .call(
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
    let key = server.dataset_key().await;
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
