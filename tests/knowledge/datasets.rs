use super::*;

#[tokio::test]
async fn datasets_crud_gate_pagination_and_workspaces() {
    let upstream = FakeUpstream::start().await;
    let server = start(&upstream).await;
    let key = server.dataset_key().await;

    // Auth: app keys and garbage are refused with Dify's 401 bodies.
    let app = server.import_example("01-chat-simple.yml").await;
    let app_key = server.app_key(&app).await;
    let (status, body) = server.call(&app_key, "GET", "/v1/datasets", None).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("Access token is invalid"))
    );

    let (status, body) = server
        .call(
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
    let (status, body) = server
        .call(
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
    let (status, body) = server
        .call(&key, "POST", "/v1/datasets", Some(json!({"name": ""})))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_param"))
    );
    for i in 0..3 {
        create_dataset(&server, &key, &format!("Extra {i}"), "economy").await;
    }
    // has_more = a full page (requested limit), even on the exact last page.
    let (_, page) = server
        .call(&key, "GET", "/v1/datasets?page=1&limit=2", None)
        .await;
    assert_eq!(
        (
            page["total"].as_i64(),
            page["has_more"].as_bool(),
            page["limit"].as_i64()
        ),
        (Some(4), Some(true), Some(2))
    );
    let (_, page) = server
        .call(&key, "GET", "/v1/datasets?page=2&limit=2", None)
        .await;
    assert_eq!(
        (
            page["data"].as_array().unwrap().len(),
            page["has_more"].as_bool()
        ),
        (2, Some(true))
    );
    let (_, page) = server
        .call(&key, "GET", "/v1/datasets?page=3&limit=2", None)
        .await;
    assert_eq!(
        (
            page["data"].as_array().unwrap().len(),
            page["has_more"].as_bool()
        ),
        (0, Some(false))
    );
    let (_, page) = server
        .call(&key, "GET", "/v1/datasets?keyword=hand", None)
        .await;
    assert_eq!(page["total"], 1);

    // Detail, update, the gate, delete.
    let (status, body) = server
        .call(&key, "GET", &format!("/v1/datasets/{id}"), None)
        .await;
    assert_eq!((status, body["name"].as_str()), (200, Some("Handbook")));
    let (status, body) = server.call(&key,
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
    let (status, body) = server
        .call(&key, "GET", "/v1/datasets/not-a-uuid", None)
        .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let (status, body) = server
        .call(
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
    let (status, body) = server
        .call(&key, "GET", &format!("/v1/datasets/{id}"), None)
        .await;
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
    let (status, _) = server
        .call(&foreign, "GET", &format!("/v1/datasets/{id}"), None)
        .await;
    assert_eq!(status, 404);
    let (_, page) = server.call(&foreign, "GET", "/v1/datasets", None).await;
    assert_eq!(page["total"], 0);

    // Tags: bare array with string counts, bindings, a dataset's tags.
    let (status, tag) = server
        .call(
            &key,
            "POST",
            "/v1/datasets/tags",
            Some(json!({"name": "hr"})),
        )
        .await;
    assert_eq!((status, tag["binding_count"].as_str()), (200, Some("0")));
    let tag_id = tag["id"].as_str().unwrap();
    let (status, body) = server
        .call(
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
    let (_, tags) = server.call(&key, "GET", "/v1/datasets/tags", None).await;
    assert_eq!(
        tags,
        json!([{"id": tag_id, "name": "hr", "type": "knowledge", "binding_count": "1"}])
    );
    let (_, of) = server
        .call(&key, "GET", &format!("/v1/datasets/{id}/tags"), None)
        .await;
    assert_eq!(
        of,
        json!({"total": 1, "data": [{"id": tag_id, "name": "hr"}]})
    );
    let (_, page) = server
        .call(&key, "GET", &format!("/v1/datasets?tag_ids={tag_id}"), None)
        .await;
    assert_eq!(page["total"], 1);

    // The models list comes from the configured providers.
    let (status, models) = server
        .call(
            &key,
            "GET",
            "/v1/workspaces/current/models/model-types/text-embedding",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(models["data"][0]["models"][0]["model"], EMBEDDING);
    let (status, _) = server
        .call(
            &key,
            "GET",
            "/v1/workspaces/current/models/model-types/vision",
            None,
        )
        .await;
    assert_eq!(status, 400);

    let (status, _) = server
        .call(&key, "DELETE", &format!("/v1/datasets/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = server
        .call(&key, "GET", &format!("/v1/datasets/{id}"), None)
        .await;
    assert_eq!(status, 404);
}
