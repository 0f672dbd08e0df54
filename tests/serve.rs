//! The README's serve command: `weir serve` on a fresh directory starts on SQLite with no
//! set-up, answers `/health`, and shuts down gracefully on SIGTERM.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::TempDir;

#[tokio::test]
async fn serve_starts_on_a_fresh_directory_and_stops_on_sigterm() {
    let dir = TempDir::new();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("serve")
        .current_dir(&dir.0)
        .env("WEIR_BIND", format!("127.0.0.1:{port}"))
        .env_remove("WEIR_DATABASE_URL")
        .env_remove("WEIR_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/health");
    let up = common::eventually(Duration::from_secs(20), || {
        let (client, url) = (client.clone(), url.clone());
        async move {
            client
                .get(&url)
                .send()
                .await
                .ok()
                .filter(|r| r.status() == 200)
        }
    })
    .await;
    assert!(up.is_some(), "weir serve did not answer /health");
    assert!(
        dir.0.join("weir.db").exists(),
        "the embedded SQLite default is used"
    );
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "graceful exit, got {status:?}");
}
