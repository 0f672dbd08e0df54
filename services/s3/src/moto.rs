//! A loopback S3 endpoint for tests: moto's server (`pip install "moto[server]"`) on a free
//! port, one per test, stopped on drop. Tests that need it skip themselves loudly when it is
//! not installed, and fail instead where [`REQUIRE_S3_ENV`] is set (CI sets it).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::S3Settings;

/// The moto server program (default: `moto_server` on the `PATH`).
pub const MOTO_ENV: &str = "WEIR_TEST_MOTO";
/// Set (to anything) where skipping an S3 test is a failure.
pub const REQUIRE_S3_ENV: &str = "WEIR_REQUIRE_S3";

/// A running moto server.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange with no body; the status code, or `None` if nothing answered.
async fn status_of(port: u16, method: &str, path: &str) -> Option<u16> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).await.ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

impl Moto {
    /// Starts moto for `test`, or says why not (see the module doc).
    pub async fn start(test: &str) -> Option<Moto> {
        let program = std::env::var(MOTO_ENV).unwrap_or_else(|_| "moto_server".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .ok()?;
        let spawned = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(c) => c,
            Err(e) => {
                let line = format!(
                    "SKIPPED: {test} needs moto's S3 server ({program}: {e}); pip install \"moto[server]\""
                );
                if std::env::var_os(REQUIRE_S3_ENV).is_some() {
                    panic!("{line} ({REQUIRE_S3_ENV} is set, so a skip is a failure)");
                }
                eprintln!("\n*** {line} ***\n");
                return None;
            }
        };
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
        };
        let started = Instant::now();
        while status_of(port, "GET", "/").await.is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto did not answer on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(moto)
    }

    /// Settings for bucket `name`, created if it is not there yet.
    pub async fn bucket(&self, name: &str) -> S3Settings {
        let status = status_of(self.port, "PUT", &format!("/{name}")).await;
        assert!(
            matches!(status, Some(200 | 409)),
            "moto refused bucket {name}: {status:?}"
        );
        S3Settings {
            bucket: name.into(),
            endpoint: self.endpoint.clone(),
            region: "us-east-1".into(),
            access_key_id: "test".into(),
            secret_access_key: "test".into(),
            prefix: String::new(),
        }
    }
}
