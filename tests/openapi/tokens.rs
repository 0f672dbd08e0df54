use super::*;

#[tokio::test]
async fn token_rate_limit_and_revocation() {
    let server = TestServer::start_with(Options {
        config: Box::new(|c| c.services.limits.openapi_rate_limit_per_token = "3/m".into()),
        ..Options::default()
    })
    .await;
    let t = token(&server, "full").await;
    for _ in 0..3 {
        assert_eq!(get(&server, &t, "/openapi/v1/account").await.0, 200);
    }
    let res = server
        .client
        .get(server.url("/openapi/v1/account"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(
        status_json(res).await,
        (
            429,
            expect(429, "too_many_requests", credentials::TOKEN_RATE_LIMITED)
        )
    );
    // Unknown tokens with a valid prefix are charged too; malformed ones are not.
    let unknown = format!("dfoa_{}", "y".repeat(43));
    for _ in 0..3 {
        assert_eq!(get(&server, &unknown, "/openapi/v1/account").await.0, 401);
    }
    assert_eq!(get(&server, &unknown, "/openapi/v1/account").await.0, 429);
    for _ in 0..5 {
        assert_eq!(get(&server, "nope", "/openapi/v1/account").await.0, 401);
    }
}

#[tokio::test]
async fn revocation_bites_at_once_here_and_within_the_cache_bound_elsewhere() {
    let upstream = FakeUpstream::start().await;
    let server = start(&upstream, |_| {}).await;
    // Revoking the presenting token bites at once.
    let t = token(&server, "full").await;
    let res = server
        .client
        .delete(server.url("/openapi/v1/account/sessions/self"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(status_json(res).await, (200, json!({"status": "revoked"})));
    assert_eq!(get(&server, &t, "/openapi/v1/account").await.0, 401);
    // A revocation elsewhere (another instance, the CLI) bites within the cache bound.
    let t = token(&server, "full").await;
    assert_eq!(get(&server, &t, "/openapi/v1/account").await.0, 200);
    let row = server
        .db
        .store
        .token_by_hash(&weir_api::util::sha256_hex(&t))
        .await
        .unwrap()
        .unwrap();
    server.db.store.revoke_token(&row.id).await.unwrap();
    let gone = common::eventually(credentials::AUTH_CACHE_TTL + Duration::from_secs(2), || {
        let (server, t) = (&server, &t);
        async move { (get(server, t, "/openapi/v1/account").await.0 == 401).then_some(()) }
    })
    .await;
    assert!(
        gone.is_some(),
        "revocation takes effect within the cache bound"
    );
}

#[tokio::test]
async fn account_and_workspaces() {
    let server = TestServer::start().await;
    let ws = workspace(&server).await;
    let full = token(&server, "full").await;
    let (status, body) = get(&server, &full, "/openapi/v1/account").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["subject_type"], "account");
    assert_eq!(body["account"]["name"], "test");
    assert_eq!(
        body["workspaces"],
        json!([{"id": ws, "name": "default", "role": "owner"}])
    );
    assert_eq!(body["default_workspace_id"], ws.as_str());
    let (status, body) = get(&server, &full, "/openapi/v1/workspaces").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"page": 1, "limit": 20, "total": 1, "has_more": false,
            "data": [{"id": ws, "name": "default", "role": "owner", "status": "normal", "current": true}]})
    );
    let (status, body) = get(&server, &full, "/openapi/v1/workspaces?limit=1&tag=x").await;
    assert_eq!(
        (status, body["details"][0]["type"].as_str()),
        (422, Some("extra_forbidden"))
    );
    // `/account` needs `full`; `/workspaces` needs `workspace:read`.
    let reader = token(&server, "workspace:read").await;
    assert_eq!(get(&server, &reader, "/openapi/v1/workspaces").await.0, 200);
    assert_eq!(
        get(&server, &reader, "/openapi/v1/account").await,
        (403, expect(403, "forbidden", "insufficient_scope"))
    );
    let apps = token(&server, "apps:read").await;
    assert_eq!(get(&server, &apps, "/openapi/v1/workspaces").await.0, 403);
}
