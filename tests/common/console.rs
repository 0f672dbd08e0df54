//! A console browser stand-in: keeps the session cookies as a browser's jar would, echoes
//! the CSRF cookie in `X-CSRF-Token`, and sets up the first admin.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{json, Value};

use super::TestServer;

/// The first admin's e-mail and password in these tests.
pub const ADMIN_EMAIL: &str = "admin@example.com";
/// The first admin's password.
pub const ADMIN_PASSWORD: &str = "weir-pass-1";

/// One browser: a cookie jar over one server.
pub struct Browser<'a> {
    /// The server.
    pub server: &'a TestServer,
    /// Cookies by name.
    pub cookies: BTreeMap<String, String>,
    /// Send `X-CSRF-Token` (the page always does).
    pub csrf: bool,
}

/// A response as the browser saw it.
pub struct Seen {
    /// Status.
    pub status: u16,
    /// JSON body (`Null` when empty or not JSON).
    pub body: Value,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// The raw `Set-Cookie` lines.
    pub set_cookies: Vec<String>,
    /// The body as text (SSE streams).
    pub text: String,
}

impl<'a> Browser<'a> {
    /// A browser with an empty jar.
    pub fn new(server: &'a TestServer) -> Self {
        Browser {
            server,
            cookies: BTreeMap::new(),
            csrf: true,
        }
    }

    /// Sends a request the way the console does; stores the cookies it sets.
    pub async fn send(&mut self, method: &str, path: &str, body: Option<Value>) -> Seen {
        let mut req = self
            .server
            .client
            .request(method.parse().unwrap(), self.server.url(path));
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.header("cookie", jar.join("; "));
        }
        if self.csrf {
            let token = self.cookies.get("csrf_token").cloned().unwrap_or_default();
            req = req.header("x-csrf-token", token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let set_cookies: Vec<String> = headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for line in &set_cookies {
            let (pair, _) = line.split_once(';').unwrap_or((line, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let text = res.text().await.unwrap();
        Seen {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            headers,
            set_cookies,
            text,
        }
    }

    /// `(status, body)` of a call.
    pub async fn call(&mut self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let seen = self.send(method, path, body).await;
        (seen.status, seen.body)
    }

    /// GET `/console/api{path}`.
    pub async fn get(&mut self, path: &str) -> (u16, Value) {
        self.call("GET", &format!("/console/api{path}"), None).await
    }

    /// POST `/console/api{path}` with a JSON body.
    pub async fn post(&mut self, path: &str, body: Value) -> (u16, Value) {
        self.call("POST", &format!("/console/api{path}"), Some(body))
            .await
    }

    /// Logs in (the console sends the password base64-encoded).
    pub async fn login(&mut self, email: &str, password: &str) -> Seen {
        let encoded = base64::engine::general_purpose::STANDARD.encode(password);
        self.send(
            "POST",
            "/console/api/login",
            Some(json!({"email": email, "password": encoded, "remember_me": true, "language": "en-US"})),
        )
        .await
    }
}

/// Sets up the first admin and returns a logged-in browser.
pub async fn admin(server: &TestServer) -> Browser<'_> {
    let mut b = Browser::new(server);
    let (status, body) = b
        .post(
            "/setup",
            json!({"email": ADMIN_EMAIL, "name": "Admin", "password": ADMIN_PASSWORD, "language": "en-US"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let seen = b.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    b
}
