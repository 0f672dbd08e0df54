//! Dify's own SDKs, unchanged, drive a scripted session against weir: the Python
//! `dify-client` from PyPI and the Node `dify-client` from npm (installed by
//! `.ci/sdk-setup` into `target/sdk`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::start_with_upstream;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Installs the SDKs (idempotent); one test at a time does it.
fn sdks() -> PathBuf {
    static SETUP: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _lock = SETUP.lock().unwrap_or_else(|p| p.into_inner());
    let status = Command::new(root().join(".ci/sdk-setup"))
        .current_dir(root())
        .status()
        .expect("run .ci/sdk-setup");
    assert!(
        status.success(),
        ".ci/sdk-setup failed: the Dify SDKs could not be installed"
    );
    root().join("target/sdk")
}

async fn keys(server: &common::TestServer) -> (String, String) {
    let (_, chat) = server.app_with_key("01-chat-simple.yml").await;
    let (_, completion) = server.app_with_key("02-completion-inputs.yml").await;
    (chat, completion)
}

fn run(mut cmd: Command) {
    let out = cmd.output().expect("run the SDK script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "SDK script failed\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stdout.contains("conformance: ok"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn python_sdk_session() {
    let sdk = tokio::task::spawn_blocking(sdks).await.unwrap();
    let (server, _upstream) = start_with_upstream().await;
    let (chat, completion) = keys(&server).await;
    let mut cmd = Command::new(sdk.join("venv/bin/python"));
    cmd.arg(root().join("tests/sdk/python_conformance.py"))
        .arg(server.url("/v1"))
        .arg(chat)
        .arg(completion);
    tokio::task::spawn_blocking(move || run(cmd)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn node_sdk_session() {
    let sdk = tokio::task::spawn_blocking(sdks).await.unwrap();
    let (server, _upstream) = start_with_upstream().await;
    let (chat, completion) = keys(&server).await;
    let script = sdk.join("node/conformance.mjs");
    std::fs::copy(root().join("tests/sdk/node_conformance.mjs"), &script).unwrap();
    let mut cmd = Command::new("node");
    cmd.arg(&script)
        .arg(server.url("/v1"))
        .arg(chat)
        .arg(completion)
        .current_dir(sdk.join("node"));
    tokio::task::spawn_blocking(move || run(cmd)).await.unwrap();
}
