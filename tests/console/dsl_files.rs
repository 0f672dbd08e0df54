use super::*;

#[tokio::test]
async fn dsl_export_import_confirm_and_copy() {
    let (server, _up) = server_with_model().await;
    let mut b = admin(&server).await;
    let app = create_app(&mut b, "Source", "completion").await;
    let id = app["id"].as_str().unwrap();
    let (_, export) = b.get(&format!("/apps/{id}/export")).await;
    let yaml = export["data"].as_str().unwrap().to_owned();
    let (status, done) = b
        .post(
            "/apps/imports",
            json!({"mode": "yaml-content", "yaml_content": yaml, "name": "Imported"}),
        )
        .await;
    assert_eq!(
        (status, done["status"].as_str()),
        (200, Some("completed")),
        "{done}"
    );
    let new_id = done["app_id"].as_str().unwrap();
    let (_, detail) = b.get(&format!("/apps/{new_id}")).await;
    assert_eq!(
        (detail["name"].as_str(), detail["mode"].as_str()),
        (Some("Imported"), Some("completion"))
    );
    let (status, deps) = b
        .get(&format!("/apps/imports/{new_id}/check-dependencies"))
        .await;
    assert_eq!((status, deps), (200, json!({"leaked_dependencies": []})));

    let (status, body) = b.post("/apps/imports", json!({"mode": "paste"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_param"))
    );
    let (status, body) = b
        .post("/apps/imports", json!({"mode": "yaml-content"}))
        .await;
    assert_eq!((status, body["status"].as_str()), (400, Some("failed")));
    let (status, body) = b
        .post(
            "/apps/imports",
            json!({"mode": "yaml-content", "yaml_content": "::: not yaml"}),
        )
        .await;
    assert_eq!((status, body["status"].as_str()), (400, Some("failed")));
    let newer = yaml.replacen("version: 0.6.0", "version: 0.9.0", 1);
    let (status, pending) = b
        .post(
            "/apps/imports",
            json!({"mode": "yaml-content", "yaml_content": newer}),
        )
        .await;
    assert_eq!(
        (status, pending["status"].as_str()),
        (202, Some("pending")),
        "{pending}"
    );
    let (status, confirmed) = b
        .post(
            &format!("/apps/imports/{}/confirm", pending["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, confirmed["status"].as_str()),
        (200, Some("completed"))
    );
    let (status, expired) = b
        .post(
            &format!("/apps/imports/{}/confirm", uuid::Uuid::new_v4()),
            json!({}),
        )
        .await;
    assert_eq!((status, expired["status"].as_str()), (400, Some("failed")));

    let (status, copy) = b
        .post(
            &format!("/apps/{id}/copy"),
            json!({"name": "Copy of Source", "mode": "completion"}),
        )
        .await;
    assert_eq!(status, 201, "{copy}");
    assert_eq!(
        (copy["name"].as_str(), copy["mode"].as_str()),
        (Some("Copy of Source"), Some("completion"))
    );
    assert_ne!(copy["id"], app["id"]);
    assert_eq!(copy["site"]["code"].as_str().unwrap().len(), 16);
    let (_, page) = b.get("/apps").await;
    assert_eq!(page["total"], 4);
}

#[tokio::test]
async fn uploads_and_their_limits() {
    let (server, _up) = server_with_model().await;
    let b = admin(&server).await;
    let mut b = b;
    let (_, limits) = b.get("/files/upload").await;
    assert_eq!(limits["file_size_limit"], 15);
    assert_eq!(limits["image_file_size_limit"], 10);
    let (_, types) = b.get("/files/support-type").await;
    assert!(types["allowed_extensions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "pdf"));
    let jar: Vec<String> = b.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"hello weir, a document".to_vec())
            .file_name("notes.txt")
            .mime_str("text/plain")
            .unwrap(),
    );
    let res = server
        .client
        .post(server.url("/console/api/files/upload"))
        .header("cookie", jar.join("; "))
        .header("x-csrf-token", b.cookies["csrf_token"].clone())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let file: Value = res.json().await.unwrap();
    assert_eq!(
        (file["name"].as_str(), file["extension"].as_str()),
        (Some("notes.txt"), Some("txt"))
    );
    let (status, preview) = b
        .get(&format!("/files/{}/preview", file["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        (status, preview["content"].as_str()),
        (200, Some("hello weir, a document"))
    );
    let res = server
        .client
        .post(server.url("/console/api/files/upload"))
        .header("cookie", jar.join("; "))
        .header("x-csrf-token", b.cookies["csrf_token"].clone())
        .multipart(reqwest::multipart::Form::new().text("source", "x"))
        .send()
        .await
        .unwrap();
    let (status, body) = common::status_json(res).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("no_file_uploaded"))
    );
}
