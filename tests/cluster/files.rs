use super::indexing::all_completed;
use super::*;
use weir_s3::moto::Moto;

/// A cluster of `n` instances, each with a data directory of its own, keeping uploads in
/// one bucket of a loopback S3 server.
async fn with_bucket(n: usize, extra: &[(&str, &str)]) -> Option<(Cluster, Moto)> {
    let moto = Moto::start("shared file storage").await?;
    let s3 = moto.bucket("cluster").await;
    let mut env: Vec<(&str, &str)> = vec![
        ("WEIR_STORAGE__KIND", "s3"),
        ("WEIR_STORAGE__S3__BUCKET", &s3.bucket),
        ("WEIR_STORAGE__S3__ENDPOINT", &s3.endpoint),
        ("WEIR_STORAGE__S3__ACCESS_KEY_ID", &s3.access_key_id),
        ("WEIR_STORAGE__S3__SECRET_ACCESS_KEY", &s3.secret_access_key),
        ("WEIR_STORAGE__S3__PREFIX", "weir/"),
    ];
    env.extend_from_slice(extra);
    let c = Cluster::start_with(n, &env, false).await?;
    Some((c, moto))
}

async fn upload(
    c: &Cluster,
    node: usize,
    key: &str,
    path: &str,
    name: &str,
    bytes: &[u8],
) -> Value {
    let part = reqwest::multipart::Part::bytes(bytes.to_vec())
        .file_name(name.to_owned())
        .mime_str("text/plain")
        .unwrap();
    let data = json!({"indexing_technique": "high_quality", "process_rule": {"mode": "automatic"}});
    let form = reqwest::multipart::Form::new()
        .part("file", part)
        .text("user", "ana")
        .text("data", data.to_string());
    let res = c
        .client
        .post(c.url(node, path))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body) = common::status_json(res).await;
    assert!(status == 200 || status == 201, "{status} {body}");
    body
}

#[tokio::test]
async fn a_file_uploaded_to_one_instance_is_served_by_another_at_its_signed_url() {
    let Some((c, _moto)) = with_bucket(2, &[]).await else {
        return;
    };
    let app = c.import("01-chat-simple.yml");
    let key = c.cli(&["key", "create", &app]);
    let file = upload(
        &c,
        0,
        &key,
        "/v1/files/upload",
        "notes.txt",
        b"shared bytes",
    )
    .await;
    let url = file["source_url"].as_str().unwrap();
    let res = c.client.get(c.url(1, url)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"shared bytes");
    // The bytes are in the bucket, not in either instance's data directory.
    let id = file["id"].as_str().unwrap();
    let local = c.nodes.iter().any(|n| {
        n.log
            .parent()
            .unwrap()
            .join("upload_files")
            .join(id)
            .exists()
    });
    assert!(!local, "an upload was kept on local disk");
}

#[tokio::test]
async fn a_document_uploaded_to_one_instance_is_indexed_and_served_by_any() {
    let extra = [(
        "WEIR_PROVIDERS__OPENAI__EMBEDDING_MODELS",
        "[\"text-embedding-3-small\"]",
    )];
    let Some((c, _moto)) = with_bucket(2, &extra).await else {
        return;
    };
    let key = c.cli(&["key", "create", "--knowledge"]);
    let res = post(
        &c,
        0,
        &key,
        "/v1/datasets",
        json!({"name": "files", "indexing_technique": "high_quality"}),
    )
    .await;
    let (status, ds) = common::status_json(res).await;
    assert_eq!(status, 200, "{ds}");
    let ds = ds["id"].as_str().unwrap().to_owned();
    let mut docs = Vec::new();
    for i in 0..4 {
        let body = upload(
            &c,
            i % 2,
            &key,
            &format!("/v1/datasets/{ds}/document/create-by-file"),
            &format!("doc{i}.txt"),
            format!("document {i} lives in the bucket").as_bytes(),
        )
        .await;
        docs.push(body["document"]["id"].as_str().unwrap().to_owned());
    }
    // Whichever instance claimed a document read its source from the bucket.
    all_completed(&c, 1, &key, &ds, Duration::from_secs(30))
        .await
        .unwrap();
    for (i, doc) in docs.iter().enumerate() {
        let (status, body) = get(
            &c,
            1 - i % 2,
            &key,
            &format!("/v1/datasets/{ds}/documents/{doc}/upload-file"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let res = c
            .client
            .get(c.url(1 - i % 2, body["url"].as_str().unwrap()))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.text().await.unwrap(),
            format!("document {i} lives in the bucket")
        );
    }
}
