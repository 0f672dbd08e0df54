//! Several `weir serve` processes sharing one scratch Postgres database and one Redis (a
//! key prefix of their own), on loopback ports, with the fake model upstream: the
//! multi-instance harness. A cluster is only built when `WEIR_TEST_POSTGRES_URL` and
//! `WEIR_TEST_REDIS_URL` are set (`.ci/run` sets both and requires them).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use weir_api::store::scratch::ScratchDb;

use super::upstream::FakeUpstream;
use super::TempDir;

/// One instance.
pub struct Node {
    child: Child,
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// Its log file.
    pub log: PathBuf,
}

/// The instances and what they share.
pub struct Cluster {
    /// The shared database.
    pub db: ScratchDb,
    /// The instances, by index.
    pub nodes: Vec<Node>,
    /// The fake model upstream they call.
    pub upstream: FakeUpstream,
    /// The Redis key prefix of this cluster.
    pub prefix: String,
    dir: TempDir,
    env: Vec<(String, String)>,
    shared_data: bool,
    /// A client.
    pub client: reqwest::Client,
}

impl Cluster {
    /// `n` instances with these extra `WEIR_…` variables, or `None` (test skipped) without
    /// Postgres and Redis — a failure instead when `WEIR_REQUIRE_REDIS` is set.
    pub async fn start(n: usize, extra: &[(&str, &str)]) -> Option<Cluster> {
        Self::start_with(n, extra, false).await
    }

    /// [`Cluster::start`]; with `shared_data`, every instance gets one `data_dir` (as on a
    /// shared file system, the way uploads reach every instance without object storage).
    pub async fn start_with(
        n: usize,
        extra: &[(&str, &str)],
        shared_data: bool,
    ) -> Option<Cluster> {
        let redis = std::env::var("WEIR_TEST_REDIS_URL").ok();
        if redis.is_none() {
            assert!(
                std::env::var_os("WEIR_REQUIRE_REDIS").is_none(),
                "WEIR_REQUIRE_REDIS is set but WEIR_TEST_REDIS_URL is not"
            );
            return None;
        }
        let db = ScratchDb::postgres_from_env().await?;
        let upstream = FakeUpstream::start().await;
        let prefix = format!("weir-test:{}:", uuid::Uuid::new_v4());
        let mut env: Vec<(String, String)> = vec![
            ("WEIR_DATABASE_URL".into(), db.url.clone()),
            ("WEIR_REDIS_URL".into(), redis.unwrap()),
            ("WEIR_REDIS_PREFIX".into(), prefix.clone()),
            ("WEIR_SECRET_KEY".into(), "cluster-secret".into()),
            (
                "WEIR_PROVIDERS__OPENAI__BASE_URL".into(),
                format!("http://{}/v1", upstream.addr),
            ),
            ("WEIR_PROVIDERS__OPENAI__API_KEY".into(), "sk-test".into()),
            ("WEIR_LOG".into(), "info".into()),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut cluster = Cluster {
            db,
            nodes: Vec::new(),
            upstream,
            prefix,
            dir: TempDir::new(),
            env,
            shared_data,
            client: reqwest::Client::new(),
        };
        for _ in 0..n {
            cluster.add_node().await;
        }
        Some(cluster)
    }

    /// Starts one more instance and waits until it answers.
    pub async fn add_node(&mut self) -> usize {
        let index = self.nodes.len();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let own = self.dir.0.join(format!("node{index}"));
        let data = if self.shared_data {
            self.dir.0.join("shared")
        } else {
            own.clone()
        };
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&own).unwrap();
        let log = own.join("weir.log");
        let child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .arg("serve")
            .current_dir(&own)
            .env_remove("WEIR_CONFIG")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("WEIR_BIND", format!("127.0.0.1:{port}"))
            .env("WEIR_DATA_DIR", &data)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("weir serve starts");
        let base = format!("http://127.0.0.1:{port}");
        let health = format!("{base}/health");
        let client = self.client.clone();
        let up = super::eventually(Duration::from_secs(30), || {
            let (client, health) = (client.clone(), health.clone());
            async move {
                client
                    .get(&health)
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status() == 200)
            }
        })
        .await;
        let node = Node { child, base, log };
        assert!(
            up.is_some(),
            "node {index} did not start: {}",
            node.log_text()
        );
        self.nodes.push(node);
        index
    }

    /// The URL of `path` on instance `i`.
    pub fn url(&self, i: usize, path: &str) -> String {
        format!("{}{}", self.nodes[i].base, path)
    }

    /// Kills instance `i` with SIGKILL: no shutdown, no cleanup.
    pub fn kill9(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        node.child.kill().expect("SIGKILL");
        node.child.wait().expect("reaped");
    }

    /// Runs the `weir` CLI on the shared database; its standard output, trimmed.
    pub fn cli(&self, args: &[&str]) -> String {
        let (ok, out, err) = super::weir_cli(&self.db.url, &self.dir.0, args);
        assert!(ok, "weir {args:?}: {err}");
        out.trim().to_owned()
    }

    /// Imports a DSL fixture with the CLI; returns the app id.
    pub fn import(&self, name: &str) -> String {
        let path = super::fixture(&format!("dsl/{name}"));
        self.cli(&["app", "import", path.to_str().unwrap()])
    }
}

impl Node {
    /// What the instance logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.child.kill();
            let _ = node.child.wait();
        }
    }
}
