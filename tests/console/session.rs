use super::*;

#[tokio::test]
async fn setup_happens_once_and_login_needs_it() {
    let server = TestServer::start().await;
    let mut b = Browser::new(&server);
    assert_eq!(
        b.get("/setup").await,
        (200, json!({"step": "not_started", "setup_at": null}))
    );
    let seen = b.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(
        (seen.status, seen.body["code"].as_str()),
        (401, Some("not_setup"))
    );
    // Dify's password rule, as invalid_param.
    let (status, body) = b
        .post(
            "/setup",
            json!({"email": ADMIN_EMAIL, "name": "Admin", "password": "short"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_param"))
    );
    assert_eq!(
        body["message"],
        "Password must contain letters and numbers, and the length must be greater than 8."
    );
    let (status, body) = b
        .post(
            "/setup",
            json!({"email": "nope", "name": "Admin", "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_param"))
    );
    let (status, _) = b
        .post(
            "/setup",
            json!({"email": ADMIN_EMAIL, "name": "Admin", "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, body) = b.get("/setup").await;
    assert_eq!(body["step"], "finished");
    assert!(body["setup_at"].as_str().unwrap().contains('T'));
    let (status, body) = b
        .post(
            "/setup",
            json!({"email": "b@example.com", "name": "B", "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("already_setup"))
    );
    assert_eq!(b.get("/init").await, (200, json!({"status": "finished"})));
    // Setup sets no cookies: the install page logs in next.
    assert!(b.cookies.is_empty());
}

#[tokio::test]
async fn login_sets_three_cookies_and_the_session_needs_the_csrf_echo() {
    let server = TestServer::start().await;
    let mut b = admin(&server).await;
    let seen = b.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(seen.body, json!({"result": "success"}));
    let cookie = |name: &str| {
        seen.set_cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} set"))
            .clone()
    };
    for (name, max_age, http_only) in [
        ("access_token", 3600, true),
        ("refresh_token", 2_592_000, true),
        ("csrf_token", 3600, false),
    ] {
        let c = cookie(name);
        assert!(c.contains("Path=/") && c.contains("SameSite=Lax"), "{c}");
        assert!(c.contains(&format!("Max-Age={max_age}")), "{c}");
        assert_eq!(c.contains("HttpOnly"), http_only, "{c}");
        assert!(!c.contains("Secure"), "plain http: {c}");
    }
    assert_eq!(b.cookies["refresh_token"].len(), 128);

    let seen = b.send("GET", "/console/api/account/profile", None).await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert_eq!(seen.body["email"], ADMIN_EMAIL);
    assert_eq!(seen.body["name"], "Admin");
    assert_eq!(seen.body["timezone"], "America/New_York");
    assert_eq!(seen.body["is_password_set"], true);
    assert!(seen.body.get("password").is_none() && seen.body.get("password_hash").is_none());
    assert_eq!(seen.headers["x-version"], "1.14.0");
    assert_eq!(seen.headers["x-env"], "PRODUCTION");

    // No CSRF echo, a wrong one, or none of the cookies.
    b.csrf = false;
    let (status, body) = b.get("/account/profile").await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("CSRF token is missing or invalid."))
    );
    b.csrf = true;
    let saved = b.cookies.clone();
    b.cookies.insert("csrf_token".into(), "forged".into());
    let (status, _) = b.get("/account/profile").await;
    assert_eq!(status, 401);
    b.cookies = saved.clone();
    let mut stranger = Browser::new(&server);
    let seen = stranger
        .send("GET", "/console/api/account/profile", None)
        .await;
    assert_eq!(seen.status, 401);
    assert_eq!(seen.body["code"], "unauthorized");
    assert_eq!(seen.body["message"], "Invalid Authorization token.");
    assert_eq!(seen.headers["www-authenticate"], "Bearer realm=\"api\"");
    // A script may send the access token as a bearer, without cookies and CSRF.
    let res = server
        .client
        .get(server.url("/console/api/account/profile"))
        .bearer_auth(&saved["access_token"])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // A tampered token.
    let mut tampered = saved["access_token"].clone();
    tampered.push('x');
    b.cookies.insert("access_token".into(), tampered);
    let (status, body) = b.get("/account/profile").await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
}

#[tokio::test]
async fn wrong_passwords_fail_and_too_many_lock_the_email() {
    let server = TestServer::start().await;
    let _ = admin(&server).await;
    let mut b = Browser::new(&server);
    let seen = b.login(ADMIN_EMAIL, "wrong-pass-1").await;
    assert_eq!(
        (
            seen.status,
            seen.body["code"].as_str(),
            seen.body["message"].as_str()
        ),
        (
            401,
            Some("authentication_failed"),
            Some("Invalid email or password.")
        )
    );
    let seen = b
        .send(
            "POST",
            "/console/api/login",
            Some(json!({"email": ADMIN_EMAIL, "password": "%%% not base64"})),
        )
        .await;
    assert_eq!(seen.body["message"], "Invalid encrypted data");
    let seen = b.login("nobody@example.com", ADMIN_PASSWORD).await;
    assert_eq!(seen.body["code"], "authentication_failed");
    for _ in 0..5 {
        b.login(ADMIN_EMAIL, "wrong-pass-1").await;
    }
    // Six failures: even the right password is refused for the rest of the window.
    let seen = b.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(
        (seen.status, seen.body["code"].as_str()),
        (429, Some("email_code_login_limit"))
    );
    assert!(b.cookies.is_empty());
}

#[tokio::test]
async fn refresh_rotates_and_logout_revokes() {
    let server = TestServer::start().await;
    let mut b = admin(&server).await;
    let old_refresh = b.cookies["refresh_token"].clone();
    let old_access = b.cookies["access_token"].clone();
    b.csrf = false; // the console sends no CSRF header here
    let seen = b.send("POST", "/console/api/refresh-token", None).await;
    assert_eq!(
        (seen.status, seen.body.clone()),
        (200, json!({"result": "success"}))
    );
    assert_eq!(seen.set_cookies.len(), 3);
    assert_ne!(b.cookies["refresh_token"], old_refresh);
    assert_ne!(b.cookies["access_token"], old_access);
    // The old refresh token was used up.
    let mut replay = Browser::new(&server);
    replay.cookies.insert("refresh_token".into(), old_refresh);
    let (status, _) = replay
        .call("POST", "/console/api/refresh-token", None)
        .await;
    assert_eq!(status, 401);
    let (status, _) = Browser::new(&server)
        .call("POST", "/console/api/refresh-token", None)
        .await;
    assert_eq!(status, 401);

    b.csrf = true;
    assert_eq!(b.get("/account/profile").await.0, 200);
    let refresh = b.cookies["refresh_token"].clone();
    let seen = b.send("POST", "/console/api/logout", Some(json!({}))).await;
    assert_eq!(seen.status, 200);
    assert!(seen.set_cookies.iter().all(|c| c.contains("Max-Age=0")));
    assert!(b.cookies.is_empty());
    let mut after = Browser::new(&server);
    after.cookies.insert("refresh_token".into(), refresh);
    assert_eq!(
        after
            .call("POST", "/console/api/refresh-token", None)
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn sessions_survive_a_restart_and_passwords_stay_out_of_logs() {
    let logs = common::LogCapture::start();
    let mut server = TestServer::start().await;
    let cookies = admin(&server).await.cookies;
    server.restart().await;
    let mut b = Browser::new(&server);
    b.cookies = cookies;
    let (status, body) = b.get("/account/profile").await;
    assert_eq!((status, body["email"].as_str()), (200, Some(ADMIN_EMAIL)));
    b.csrf = false;
    assert_eq!(
        b.call("POST", "/console/api/refresh-token", None).await.0,
        200
    );
    let all = String::from_utf8_lossy(&logs.all()).into_owned();
    assert!(!all.contains(ADMIN_PASSWORD));
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM accounts")
        .fetch_one(server.db.store.pool())
        .await
        .unwrap();
    assert!(stored.starts_with("$argon2id$") && !stored.contains(ADMIN_PASSWORD));
}

#[tokio::test]
async fn boot_calls_answer_truthfully() {
    let server = TestServer::start().await;
    let mut b = admin(&server).await;
    let (status, ws) = b.post("/workspaces/current", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        (ws["role"].as_str(), ws["name"].as_str()),
        (Some("owner"), Some("Admin's Workspace"))
    );
    assert_eq!(ws["status"], "normal");
    // The deprecated alias, posted bare.
    let (status, again) = b.call("POST", "/console/api/info", None).await;
    assert_eq!((status, &again["id"]), (200, &ws["id"]));
    let (_, list) = b.get("/workspaces").await;
    assert_eq!(list["workspaces"][0]["current"], true);
    let (status, body) = b
        .post("/workspaces/switch", json!({"tenant_id": "nope"}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("account_not_link_tenant"))
    );
    let (status, body) = b
        .post("/workspaces/switch", json!({"tenant_id": ws["id"]}))
        .await;
    assert_eq!((status, &body["new_tenant"]["id"]), (200, &ws["id"]));

    let (_, f) = b.get("/features").await;
    assert_eq!(
        (
            f["billing"]["enabled"].as_bool(),
            f["education"]["enabled"].as_bool()
        ),
        (Some(false), Some(false))
    );
    let mut anon = Browser::new(&server);
    let (_, sf) = anon.get("/system-features").await;
    assert_eq!(sf["enable_email_password_login"], true);
    for off in [
        "enable_marketplace",
        "enable_collaboration_mode",
        "enable_trial_app",
    ] {
        assert_eq!(sf[off], false, "{off}");
    }
    assert_eq!(sf["webapp_auth"]["enabled"], false);
    assert_eq!(sf["branding"]["enabled"], false);
    let (status, v) = anon.get("/version?current_version=1.14.0").await;
    assert_eq!(
        (
            status,
            v["version"].as_str(),
            v["can_auto_update"].as_bool()
        ),
        (200, Some("1.14.0"), Some(false))
    );
    assert_eq!(anon.get("/version").await.0, 400);
    assert_eq!(anon.get("/ping").await, (200, json!({"result": "pong"})));
}

#[tokio::test]
async fn account_settings_follow_difys_rules() {
    let server = TestServer::start().await;
    let mut b = admin(&server).await;
    let cases: [(&str, Value, u16, Option<&str>); 8] = [
        (
            "/account/name",
            json!({"name": "Al"}),
            400,
            Some("invalid_param"),
        ),
        ("/account/name", json!({"name": "Ada Admin"}), 200, None),
        (
            "/account/interface-language",
            json!({"interface_language": "xx-XX"}),
            400,
            Some("invalid_param"),
        ),
        (
            "/account/interface-language",
            json!({"interface_language": "fr-FR"}),
            200,
            None,
        ),
        (
            "/account/interface-theme",
            json!({"interface_theme": "dark"}),
            200,
            None,
        ),
        (
            "/account/timezone",
            json!({"timezone": "Mars/Base"}),
            400,
            Some("invalid_param"),
        ),
        (
            "/account/timezone",
            json!({"timezone": "Europe/Paris"}),
            200,
            None,
        ),
        (
            "/account/password",
            json!({"password": ADMIN_PASSWORD, "new_password": "new-pass-22", "repeat_new_password": "other-pass-22"}),
            400,
            Some("repeat_password_not_match"),
        ),
    ];
    for (path, body, status, code) in cases {
        let (got, res) = b.post(path, body.clone()).await;
        assert_eq!((got, res["code"].as_str()), (status, code), "{path} {body}");
    }
    let (_, profile) = b.get("/account/profile").await;
    assert_eq!(
        (
            profile["name"].as_str(),
            profile["interface_language"].as_str(),
            profile["interface_theme"].as_str(),
            profile["timezone"].as_str()
        ),
        (
            Some("Ada Admin"),
            Some("fr-FR"),
            Some("dark"),
            Some("Europe/Paris")
        )
    );
    let (status, body) = b
        .post("/account/password", json!({"password": "wrong-pass-1", "new_password": "new-pass-22", "repeat_new_password": "new-pass-22"}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("current_password_incorrect"))
    );
    let (status, _) = b
        .post("/account/password", json!({"password": ADMIN_PASSWORD, "new_password": "new-pass-22", "repeat_new_password": "new-pass-22"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        Browser::new(&server)
            .login(ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .status,
        401
    );
    assert_eq!(
        Browser::new(&server)
            .login(ADMIN_EMAIL, "new-pass-22")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn the_console_origin_gets_cors_with_credentials() {
    let opts =
        Options::default().also(|c| c.services.console_web_url = "http://127.0.0.1:3000".into());
    let server = TestServer::start_with(opts).await;
    let res = server
        .client
        .request(
            reqwest::Method::OPTIONS,
            server.url("/console/api/account/profile"),
        )
        .header("origin", "http://127.0.0.1:3000")
        .header("access-control-request-method", "GET")
        .header(
            "access-control-request-headers",
            "x-csrf-token,content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://127.0.0.1:3000"
    );
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
    let res = server
        .client
        .get(server.url("/console/api/system-features"))
        .header("origin", "http://127.0.0.1:3000")
        .send()
        .await
        .unwrap();
    let exposed = res.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        exposed.contains("x-version") && exposed.contains("x-env"),
        "{exposed}"
    );
    let res = server
        .client
        .get(server.url("/console/api/system-features"))
        .header("origin", "https://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    // A refusal must be readable too: the console reacts to a 401 by refreshing its session,
    // which it cannot do if the browser hides the answer.
    let res = server
        .client
        .get(server.url("/console/api/account/profile"))
        .header("origin", "http://127.0.0.1:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://127.0.0.1:3000"
    );
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
}

#[tokio::test]
async fn the_operator_cli_creates_accounts_and_resets_passwords() {
    let server = TestServer::start().await;
    let dir = common::TempDir::new();
    let url = &server.db.url;
    let (ok, out, err) = common::weir_cli_with(
        url,
        &dir.0,
        &[
            "account",
            "create",
            "--email",
            "Ops@Example.com",
            "--name",
            "Ops",
        ],
        "ops-pass-123\n",
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim().len(), 36, "prints the id: {out}");
    assert!(!out.contains("ops-pass-123") && !err.contains("ops-pass-123"));
    // The first account is the setup's owner.
    let mut b = Browser::new(&server);
    assert_eq!(b.get("/setup").await.1["step"], "finished");
    assert_eq!(b.login("ops@example.com", "ops-pass-123").await.status, 200);
    let (_, ws) = b.post("/workspaces/current", json!({})).await;
    assert_eq!(
        (ws["role"].as_str(), ws["name"].as_str()),
        (Some("owner"), Some("Ops's Workspace"))
    );
    let (ok, _, err) = common::weir_cli_with(
        url,
        &dir.0,
        &[
            "account",
            "create",
            "--email",
            "ops@example.com",
            "--name",
            "Again",
        ],
        "ops-pass-123\n",
    );
    assert!(!ok && err.contains("exists"), "{err}");
    let (ok, _, err) = common::weir_cli_with(
        url,
        &dir.0,
        &[
            "account",
            "create",
            "--email",
            "x@example.com",
            "--name",
            "X",
            "--role",
            "king",
        ],
        "pw-123456\n",
    );
    assert!(!ok && err.contains("unknown role"), "{err}");
    let (ok, _, err) = common::weir_cli_with(
        url,
        &dir.0,
        &[
            "account",
            "create",
            "--email",
            "ed@example.com",
            "--name",
            "Ed",
            "--role",
            "editor",
        ],
        "short\n",
    );
    assert!(!ok && err.contains("letters and numbers"), "{err}");
    let (ok, _, err) = common::weir_cli_with(
        url,
        &dir.0,
        &[
            "account",
            "create",
            "--email",
            "ed@example.com",
            "--name",
            "Ed",
            "--role",
            "editor",
        ],
        "editor-pass-1\n",
    );
    assert!(ok, "{err}");
    let mut ed = Browser::new(&server);
    assert_eq!(
        ed.login("ed@example.com", "editor-pass-1").await.status,
        200
    );
    assert_eq!(
        ed.post("/workspaces/current", json!({})).await.1["role"],
        "editor"
    );

    let (ok, _, err) = common::weir_cli_with(
        url,
        &dir.0,
        &["account", "reset-password", "--email", "ops@example.com"],
        "new-pass-456\n",
    );
    assert!(ok, "{err}");
    assert_eq!(
        Browser::new(&server)
            .login("ops@example.com", "ops-pass-123")
            .await
            .status,
        401
    );
    assert_eq!(
        Browser::new(&server)
            .login("ops@example.com", "new-pass-456")
            .await
            .status,
        200
    );
    let (ok, _, err) = common::weir_cli_with(
        url,
        &dir.0,
        &["account", "reset-password", "--email", "nobody@example.com"],
        "new-pass-456\n",
    );
    assert!(!ok && err.contains("no account"), "{err}");
}
