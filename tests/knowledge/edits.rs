use super::*;

#[tokio::test]
async fn updates_child_chunks_tags_and_zips() {
    let upstream = FakeUpstream::start().await;
    let server = start(&upstream).await;
    let key = server.dataset_key().await;
    let ds = create_dataset(&server, &key, "Edits", "high_quality").await;
    let rule = json!({"mode": "hierarchical", "rules": {"pre_processing_rules": [], "parent_mode": "paragraph",
        "segmentation": {"separator": "\\n\\n", "max_tokens": 200},
        "subchunk_segmentation": {"separator": ". ", "max_tokens": 50}}});
    let (status, body) = server.call(&key, "POST", &format!("/v1/datasets/{ds}/document/create_by_text"),
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
    let (status, page) = server
        .call(&key, "GET", &format!("{base}?limit=1"), None)
        .await;
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
    let (status, added) = server
        .call(&key, "POST", &base, Some(json!({"content": "Owls fly"})))
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
    let (status, edited) = server
        .call(
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
    let (status, _) = server
        .call(&key, "POST", &base, Some(json!({"content": " "})))
        .await;
    assert_eq!(status, 400);
    let (status, _) = server
        .call(&key, "DELETE", &format!("{base}/{child}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, body) = server
        .call(
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
    let (_, found) = server
        .call(
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
    let (status, body) = server
        .call(
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
    let (status, body) = server.call(&key, "POST", &format!("/v1/datasets/{ds}/documents/{doc}/update-by-text"),
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
    let (_, tag) = server
        .call(
            &key,
            "POST",
            "/v1/datasets/tags",
            Some(json!({"name": "night"})),
        )
        .await;
    let tag_id = tag["id"].as_str().unwrap().to_owned();
    let (status, renamed) = server
        .call(
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
    let (_, of) = server
        .call(&key, "GET", &format!("/v1/datasets/{ds}/tags"), None)
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
    let (status, body) = server
        .call(
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
    server.call(&key, "POST", &format!("/v1/datasets/{ds}/documents/metadata"),
        Some(json!({"operation_data": [{"document_id": doc, "metadata_list": [{"id": fid, "name": "year", "value": 2024}]}]}))).await;
    let (status, _) = server
        .call(
            &key,
            "PATCH",
            &format!("/v1/datasets/{ds}/metadata/{fid}"),
            Some(json!({"name": "published"})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, detail) = server
        .call(
            &key,
            "GET",
            &format!("/v1/datasets/{ds}/documents/{doc}?metadata=only"),
            None,
        )
        .await;
    assert_eq!(detail["doc_metadata"][0]["name"], "published");
    assert_eq!(detail["doc_metadata"][0]["value"], 2024);
    let (status, _) = server
        .call(
            &key,
            "DELETE",
            &format!("/v1/datasets/{ds}/metadata/{fid}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, detail) = server
        .call(
            &key,
            "GET",
            &format!("/v1/datasets/{ds}/documents/{doc}?metadata=only"),
            None,
        )
        .await;
    // No metadata left: `null`, as Dify sends it.
    assert_eq!(detail["doc_metadata"], Value::Null);
}
