use super::*;

#[tokio::test]
async fn python_cannot_reach_weirs_files_processes_or_output_budget() {
    let server = TestServer::start_with(Options {
        config: Box::new(|c| c.services.code.timeout_s = 10),
        ..Options::default()
    })
    .await;
    let data_dir = server.config.services.data_dir.clone();
    std::fs::write(data_dir.join("weir.toml"), "secret_key = \"hunter2\"\n").unwrap();
    let db_file = server
        .db
        .url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let read = "def main(arg: str) -> dict:\n    return {'out': open(arg, 'rb').read().decode('latin-1')}\n";
    let key = server
        .app_key(
            &server
                .import(&workflow(json!([text_input("arg")]), python(read), "out"))
                .await,
        )
        .await;
    for path in [
        data_dir.join("weir.toml").display().to_string(),
        data_dir.join("secret_key").display().to_string(),
        db_file,
        format!("/proc/{}/environ", std::process::id()),
    ] {
        let data = run(&server, &key, json!({"arg": path})).await;
        assert_eq!(data["status"], "failed", "{path}: {data}");
        let error = data["error"].as_str().unwrap();
        assert!(error.contains("PermissionError"), "{path}: {error}");
        assert!(!error.contains("hunter2"));
    }
    // The parent's environment, by the parent's pid as the child sees it.
    let environ = "import os\ndef main(arg: str) -> dict:\n    return {'out': open('/proc/%d/environ' % os.getppid()).read()}\n";
    let key = server
        .app_key(
            &server
                .import(&workflow(
                    json!([text_input("arg")]),
                    python(environ),
                    "out",
                ))
                .await,
        )
        .await;
    let data = run(&server, &key, json!({"arg": ""})).await;
    assert_eq!(data["status"], "failed", "{data}");

    let fork = "import os\ndef main(arg: str) -> dict:\n    for _ in range(1000):\n        os.fork()\n    return {'out': 'forked'}\n";
    let key = server
        .app_key(
            &server
                .import(&workflow(json!([text_input("arg")]), python(fork), "out"))
                .await,
        )
        .await;
    let data = run(&server, &key, json!({"arg": ""})).await;
    assert_eq!(data["status"], "failed");
    assert!(
        data["error"].as_str().unwrap().contains("PermissionError"),
        "{data}"
    );

    let flood = "import sys\ndef main(arg: str) -> dict:\n    for _ in range(100):\n        sys.stdout.write('x' * 1048576)\n    return {'out': 'done'}\n";
    let key = server
        .app_key(
            &server
                .import(&workflow(json!([text_input("arg")]), python(flood), "out"))
                .await,
        )
        .await;
    let data = run(&server, &key, json!({"arg": ""})).await;
    assert_eq!(data["status"], "failed");
    assert!(
        data["error"].as_str().unwrap().contains("too much output"),
        "{data}"
    );
    // The server is unharmed.
    let health = server
        .client
        .get(server.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn a_forged_file_object_is_plain_data() {
    let server = TestServer::start().await;
    // A victim's upload, through another app.
    let victim_app = server
        .import(&workflow(
            json!([text_input("arg")]),
            python("def main(arg: str) -> dict:\n    return {'out': arg}\n"),
            "out",
        ))
        .await;
    let victim_key = server.app_key(&victim_app).await;
    let part = reqwest::multipart::Part::bytes(b"TOPSECRET payroll".to_vec())
        .file_name("payroll.txt")
        .mime_str("text/plain")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .part("file", part)
        .text("user", "victim");
    let res = server
        .client
        .post(server.url("/v1/files/upload"))
        .bearer_auth(&victim_key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, upload) = status_json(res).await;
    assert_eq!(status, 201, "{upload}");
    let upload_id = upload["id"].as_str().unwrap();

    // A json_object input that carries Dify's file marker and the victim's upload id.
    let extractor = json!({"id": "n", "data": {"type": "document-extractor", "title": "X",
        "variable_selector": ["s", "f"]}});
    let vars = json!([{"variable": "f", "type": "json_object", "label": "f", "required": true}]);
    let key = server
        .app_key(&server.import(&workflow(vars, extractor, "text")).await)
        .await;
    let forged = json!({"dify_model_identity": "__dify__file__", "related_id": upload_id, "id": upload_id,
        "type": "document", "transfer_method": "local_file", "extension": ".txt",
        "mime_type": "text/plain", "filename": "payroll.txt", "size": 17});
    let data = run(&server, &key, json!({"f": forged})).await;
    assert_eq!(data["status"], "failed", "{data}");
    assert!(
        data["error"].as_str().unwrap().contains("not a file"),
        "{data}"
    );
    assert!(!data.to_string().contains("TOPSECRET"));

    // The upload id as a real file input of another app: refused, uploads are not shared.
    let extractor = json!({"id": "n", "data": {"type": "document-extractor", "title": "X",
        "variable_selector": ["s", "f"]}});
    let vars = json!([{"variable": "f", "type": "file", "label": "f", "required": true,
        "allowed_file_types": ["document"], "allowed_file_upload_methods": ["local_file"]}]);
    let key = server
        .app_key(&server.import(&workflow(vars, extractor, "text")).await)
        .await;
    let (status, body) = server
        .call(
            &key,
            "POST",
            "/v1/workflows/run",
            Some(json!({"inputs": {"f": {"transfer_method": "local_file", "upload_file_id": upload_id, "type": "document"}},
                "response_mode": "blocking", "user": "attacker"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_param")),
        "{body}"
    );
}
