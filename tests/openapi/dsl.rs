use super::*;

#[tokio::test]
async fn dsl_round_trips_and_version_statuses() {
    let upstream = FakeUpstream::start().await;
    let server = start(&upstream, |_| {}).await;
    let writer = token(&server, "workspace:write,apps:read").await;
    for name in example_names() {
        let text = example(&name);
        let (status, first) = import_dsl(
            &server,
            &writer,
            json!({"mode": "yaml-content", "yaml_content": text}),
        )
        .await;
        assert_eq!(status, 200, "{name}: {first}");
        let declared = weir_api::dsl::Dsl::declared_version(&example(&name)).unwrap_or_default();
        assert_eq!(
            first["status"],
            weir_api::dsl::import_status(&declared).as_str(),
            "{name}"
        );
        for key in [
            "id",
            "app_id",
            "app_mode",
            "current_dsl_version",
            "imported_dsl_version",
            "error",
        ] {
            assert!(first.get(key).is_some(), "{key}");
        }
        assert_eq!(first["current_dsl_version"], "0.6.0");
        let app = first["app_id"].as_str().unwrap();
        let (status, exported) =
            get(&server, &writer, &format!("/openapi/v1/apps/{app}/dsl")).await;
        assert_eq!(status, 200, "{exported}");
        assert!(exported.get("draft_hash").is_some());
        let yaml = exported["data"].as_str().unwrap().to_owned();
        // An export is always at weir's version, so it imports `completed`.
        let (status, second) = import_dsl(
            &server,
            &writer,
            json!({"mode": "yaml-content", "yaml_content": yaml}),
        )
        .await;
        assert_eq!(
            (status, second["status"].as_str()),
            (200, Some("completed")),
            "{name}: {second}"
        );
        assert_eq!(second["app_mode"], first["app_mode"]);
        let again = get(
            &server,
            &writer,
            &format!(
                "/openapi/v1/apps/{}/dsl",
                second["app_id"].as_str().unwrap()
            ),
        )
        .await
        .1;
        assert_eq!(
            parse_yaml(&yaml),
            parse_yaml(again["data"].as_str().unwrap()),
            "{name} round-trips"
        );
        let original = parse_yaml(&example(&name));
        let exported = parse_yaml(&yaml);
        assert_eq!(exported["app"]["mode"], original["app"]["mode"]);
        assert_eq!(
            exported["workflow"]["graph"]["nodes"]
                .as_array()
                .map(Vec::len),
            original["workflow"]["graph"]["nodes"]
                .as_array()
                .map(Vec::len)
        );
    }

    // Version statuses.
    let base = example("01-chat-simple.yml");
    let with_version = |v: &str| {
        let doc = parse_yaml(&base);
        let mut doc = doc.as_object().unwrap().clone();
        doc.insert("version".into(), json!(v));
        serde_yaml::to_string(&doc).unwrap()
    };
    let (status, body) = import_dsl(
        &server,
        &writer,
        json!({"mode": "yaml-content", "yaml_content": with_version("0.5.0")}),
    )
    .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("completed-with-warnings")),
        "{body}"
    );
    assert_eq!(body["imported_dsl_version"], "0.5.0");
    let (status, body) = import_dsl(&server, &writer, json!({"mode": "yaml-content", "yaml_content": with_version("0.7.0"), "name": "From the future"})).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("pending")),
        "{body}"
    );
    assert!(body["app_id"].is_null());
    let ws = workspace(&server).await;
    let confirm = format!(
        "/openapi/v1/workspaces/{ws}/apps/imports/{}:confirm",
        body["id"].as_str().unwrap()
    );
    let (status, done) = status_json(post(&server, &writer, &confirm, json!({})).await).await;
    assert_eq!(
        (status, done["status"].as_str()),
        (200, Some("completed")),
        "{done}"
    );
    let app = done["app_id"].as_str().unwrap();
    assert_eq!(
        server.db.store.app(app).await.unwrap().unwrap().name,
        "From the future"
    );
    let (status, again) = status_json(post(&server, &writer, &confirm, json!({})).await).await;
    assert_eq!(
        (status, again["status"].as_str()),
        (400, Some("failed")),
        "a pending import confirms once"
    );
    for bad in [
        with_version("zero"),
        "a: [unclosed".to_owned(),
        "version: '0.6.0'\napp: {mode: chat}\n".to_owned(),
    ] {
        let (status, body) = import_dsl(
            &server,
            &writer,
            json!({"mode": "yaml-content", "yaml_content": bad}),
        )
        .await;
        assert_eq!(
            (status, body["status"].as_str()),
            (400, Some("failed")),
            "{body}"
        );
        assert!(!body["error"].as_str().unwrap().is_empty());
    }
    // Overwrite a workflow app in place; refuse other modes.
    let flow = example("05-workflow-llm.yml");
    let (_, created) = import_dsl(
        &server,
        &writer,
        json!({"mode": "yaml-content", "yaml_content": flow}),
    )
    .await;
    let id = created["app_id"].as_str().unwrap();
    let (status, body) = import_dsl(
        &server,
        &writer,
        json!({"mode": "yaml-content", "yaml_content": flow, "app_id": id, "name": "Renamed"}),
    )
    .await;
    assert_eq!((status, body["app_id"].as_str()), (200, Some(id)), "{body}");
    assert_eq!(
        server.db.store.app(id).await.unwrap().unwrap().name,
        "Renamed"
    );
    let (status, body) = import_dsl(
        &server,
        &writer,
        json!({"mode": "yaml-content", "yaml_content": base, "app_id": id}),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (400, Some("failed")));
    // Strict bodies and the URL mode (guarded like any outbound fetch).
    let (status, body) = import_dsl(
        &server,
        &writer,
        json!({"mode": "yaml-content", "extra": true}),
    )
    .await;
    assert_eq!(status, 422);
    let kinds: Vec<_> = body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["extra_forbidden", "value_error"]);
    let (status, body) = import_dsl(
        &server,
        &writer,
        json!({"mode": "yaml-url", "yaml_url": "http://127.0.0.1:1/app.yml"}),
    )
    .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (400, Some("failed")),
        "{body}"
    );
    // Scopes: importing needs `workspace:write`.
    let reader = token(&server, "apps:read,workspace:read").await;
    let (status, body) = import_dsl(
        &server,
        &reader,
        json!({"mode": "yaml-content", "yaml_content": base}),
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (403, Some("insufficient_scope"))
    );
}
