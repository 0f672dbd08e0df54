use super::*;

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
    let key = server.dataset_key().await;
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
    let (status, body) = server
        .call(
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
    let (status, _) = server.call(&key, "POST", &format!("/v1/datasets/{ds}/documents/metadata"),
        Some(json!({"operation_data": [{"document_id": a, "metadata_list": [{"id": field["id"], "name": "author", "value": "ana"}]}]}))).await;
    assert_eq!(status, 200);
    let (_, list) = server
        .call(&key, "GET", &format!("/v1/datasets/{ds}/metadata"), None)
        .await;
    assert_eq!(list["doc_metadata"][0]["count"], 1);
    let filtered = |value: &str| {
        json!({"search_method": "semantic_search", "reranking_enable": false, "top_k": 4,
        "score_threshold_enabled": false, "metadata_filtering_conditions": {"logical_operator": "and",
            "conditions": [{"name": "author", "comparison_operator": "is", "value": value}]}})
    };
    let (_, body) = server
        .call(
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
    let (_, body) = server
        .call(
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
    let (status, _) = server
        .call(
            &key,
            "POST",
            &format!("/v1/datasets/{ds}/metadata/built-in/enable"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (_, detail) = server
        .call(
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
    let (_, fields) = server
        .call(
            &key,
            "GET",
            &format!("/v1/datasets/{ds}/metadata/built-in"),
            None,
        )
        .await;
    assert_eq!(fields["fields"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn pgvector_finds_a_small_datasets_chunks_beside_a_large_one() {
    if !common::postgres_configured("pgvector retrieval") {
        return;
    }
    let upstream = FakeUpstream::start().await;
    let server = TestServer::start_with(options(&upstream, true)).await;
    if !server.db.pgvector("pgvector retrieval") {
        return;
    }
    let key = server.dataset_key().await;
    // One HNSW index holds every dataset's vectors of a size: 1,200 chunks of a large dataset…
    let big = create_dataset(&server, &key, "Filler", "high_quality").await;
    let text: Vec<String> = (0..1200)
        .map(|i| format!("filler line {i} of many"))
        .collect();
    let (_, batch) = add_text(
        &server,
        &key,
        &big,
        "filler",
        &text.join("\n"),
        custom_rule("\\n", 50),
    )
    .await;
    wait_batch(&server, &key, &big, &batch).await;
    // …and three of a small one, which a filtered graph search must still find.
    let small = create_dataset(&server, &key, "Nature", "high_quality").await;
    let text =
        "Rivers flow to the sea.\n\nMountains rise above the clouds.\n\nDeserts are dry sand.";
    let (_, batch) = add_text(
        &server,
        &key,
        &small,
        "nature",
        text,
        custom_rule("\\n\\n", 200),
    )
    .await;
    wait_batch(&server, &key, &small, &batch).await;
    let search = |ds: String, q: &'static str, k: u64| {
        let (server, key) = (&server, &key);
        async move {
            let model = json!({"search_method": "semantic_search", "reranking_enable": false,
                "top_k": k, "score_threshold_enabled": false});
            retrieve_records(server, key, &ds, q, model)
                .await
                .iter()
                .map(|r| r["segment"]["content"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let hits = search(small.clone(), "mountains above the clouds", 3).await;
    assert_eq!(hits.len(), 3, "{hits:?}");
    assert_eq!(hits[0], "Mountains rise above the clouds.");
    let hits = search(big.clone(), "filler line 7 of many", 4).await;
    assert_eq!(hits.len(), 4, "{hits:?}");
    assert!(
        hits.iter().all(|h| h.starts_with("filler line")),
        "{hits:?}"
    );
}
