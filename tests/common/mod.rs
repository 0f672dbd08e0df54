//! Black-box test helpers: a real weir server on an ephemeral port over a scratch database,
//! the `weir` binary for CLI tests, and SSE parsing.
#![allow(dead_code)]

pub mod cluster;
pub mod console;
pub mod sse;
pub mod upstream;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tokio::sync::oneshot;
use weir::config::Config;
use weir::Server;
use weir_api::store::scratch::ScratchDb;

/// A file of `tests/fixtures`.
pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// A DSL fixture's text.
pub fn example(name: &str) -> String {
    std::fs::read_to_string(fixture(&format!("dsl/{name}"))).unwrap()
}

/// A JSON body Dify answered, recorded as a fixture.
pub fn wire_body(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(&format!("wire/{name}.json"))).unwrap())
        .unwrap()
}

/// Every DSL fixture file name, sorted.
pub fn example_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixture("dsl"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml"))
        .collect();
    names.sort();
    names
}

/// A running server.
pub struct TestServer {
    /// Its address.
    pub addr: SocketAddr,
    /// The address of `metrics_bind`, when configured.
    pub metrics_addr: Option<SocketAddr>,
    /// The database it runs on.
    pub db: ScratchDb,
    /// Its configuration.
    pub config: Config,
    /// A client for it.
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _data_dir: TempDir,
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory.
    pub fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("weir-it-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Options for [`TestServer::start_with`].
pub struct Options {
    /// Adjusts the config before the server starts.
    pub config: Box<dyn FnOnce(&mut Config)>,
    /// Adjusts the server (extra routes, layers).
    pub server: Box<dyn FnOnce(Server) -> Server>,
    /// Use Postgres (when configured) instead of SQLite.
    pub postgres: bool,
    /// Open the store with these options (pool and write-queue sizes).
    pub store: Option<weir_api::store::StoreOptions>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config: Box::new(|_| {}),
            server: Box::new(|s| s),
            postgres: false,
            store: None,
        }
    }
}

impl Options {
    /// These options with one more config change, applied after the present ones.
    pub fn also(mut self, change: impl FnOnce(&mut Config) + 'static) -> Options {
        let before = self.config;
        self.config = Box::new(move |c| {
            before(c);
            change(c);
        });
        self
    }
}

impl TestServer {
    /// A server with the default config on a fresh SQLite database.
    pub async fn start() -> TestServer {
        Self::start_with(Options::default()).await
    }

    /// A server with adjusted config and server.
    pub async fn start_with(options: Options) -> TestServer {
        let db = if options.postgres {
            ScratchDb::postgres_from_env()
                .await
                .expect("WEIR_TEST_POSTGRES_URL")
        } else {
            ScratchDb::sqlite().await
        };
        let data_dir = TempDir::new();
        let mut config = Config {
            bind: "127.0.0.1:0".into(),
            database_url: db.url.clone(),
            log: "warn".into(),
            ..Config::default()
        };
        config.services.data_dir = data_dir.0.clone();
        (options.config)(&mut config);
        let store = match &options.store {
            Some(opts) => weir_api::store::Store::open_with(&db.url, opts)
                .await
                .expect("store with options"),
            None => db.store.clone(),
        };
        let server = Server::with_store(config.clone(), store).expect("server");
        let server = (options.server)(server);
        let bound = server.bind().await.expect("bind");
        let addr = bound.local_addr();
        let metrics_addr = bound.metrics_addr();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(bound.serve(async {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            metrics_addr,
            db,
            config,
            client: reqwest::Client::builder().build().unwrap(),
            shutdown: Some(tx),
            task: Some(task),
            _data_dir: data_dir,
        }
    }

    /// The URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Imports a DSL text; returns the app id.
    pub async fn import(&self, dsl: &str) -> String {
        let ws = self.db.store.default_workspace_id().await.unwrap();
        let tools = weir_api::tools::ToolRegistry::new(&self.config.services);
        weir_api::apps::import(&self.db.store, &tools, &self.secrets(), &ws, dsl, None)
            .await
            .expect("import")
            .app_id
    }

    /// The sealer of secrets at rest this server uses.
    pub fn secrets(&self) -> weir_api::secrets::Secrets {
        weir_api::secrets::Secrets::from_settings(&self.config.services)
    }

    /// Imports a DSL example; returns the app id.
    pub async fn import_example(&self, name: &str) -> String {
        self.import(&example(name)).await
    }

    /// Creates an app key.
    pub async fn app_key(&self, app_id: &str) -> String {
        weir_api::credentials::create_app_key(&self.db.store, app_id)
            .await
            .unwrap()
    }

    /// Imports an example and creates a key for it: (app id, key).
    pub async fn app_with_key(&self, name: &str) -> (String, String) {
        let app = self.import_example(name).await;
        let key = self.app_key(&app).await;
        (app, key)
    }

    /// GET with an app key.
    pub async fn get(&self, key: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    /// POST JSON with an app key.
    pub async fn post(&self, key: &str, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Sends JSON (or nothing) with a key: status and JSON body (`null` when not JSON).
    pub async fn call(
        &self,
        key: &str,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .client
            .request(method.parse().unwrap(), self.url(path))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// A knowledge key of the default workspace.
    pub async fn dataset_key(&self) -> String {
        let ws = self.db.store.default_workspace_id().await.unwrap();
        weir_api::credentials::create_dataset_key(&self.db.store, &ws)
            .await
            .unwrap()
    }

    /// Stops and starts the server again on the same database, data directory and config
    /// (a process restart); the address changes.
    pub async fn restart(&mut self) {
        self.halt().await;
        let store = weir_api::store::Store::open(&self.db.url)
            .await
            .expect("reopen the store");
        let bound = Server::with_store(self.config.clone(), store)
            .expect("server")
            .bind()
            .await
            .expect("bind");
        self.addr = bound.local_addr();
        let (tx, rx) = oneshot::channel();
        self.task = Some(tokio::spawn(bound.serve(async {
            let _ = rx.await;
        })));
        self.shutdown = Some(tx);
    }

    /// Stops serving (as a killed process would) but keeps the database for a restart.
    pub async fn halt(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Stops the server and waits for it to drain.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Options for a server whose `openai` provider is the fake upstream.
pub fn with_upstream(upstream: &upstream::FakeUpstream) -> Options {
    let base = upstream.base_url();
    Options {
        config: Box::new(move |c| {
            c.services.providers.insert(
                "openai".into(),
                weir_api::settings::ProviderSettings {
                    base_url: base,
                    api_key: "sk-test".into(),
                    aliases: vec!["openai_api_compatible".into()],
                    ..Default::default()
                },
            );
            c.services.network.allow_private = true;
        }),
        ..Options::default()
    }
}

/// A server and a fake upstream wired together.
pub async fn start_with_upstream() -> (TestServer, upstream::FakeUpstream) {
    let upstream = upstream::FakeUpstream::start().await;
    let server = TestServer::start_with(with_upstream(&upstream)).await;
    (server, upstream)
}

/// Status and JSON body of a response.
pub async fn status_json(res: reqwest::Response) -> (u16, serde_json::Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let json =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, json)
}

/// Runs the `weir` binary with `WEIR_DATABASE_URL=db_url` in `dir`: (exit ok, stdout, stderr).
pub fn weir_cli(db_url: &str, dir: &Path, args: &[&str]) -> (bool, String, String) {
    weir_cli_with(db_url, dir, args, "")
}

/// [`weir_cli`] with `stdin` as standard input.
pub fn weir_cli_with(
    db_url: &str,
    dir: &Path,
    args: &[&str],
    stdin: &str,
) -> (bool, String, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .current_dir(dir)
        .env("WEIR_DATABASE_URL", db_url)
        .env_remove("WEIR_CONFIG")
        .env_remove("WEIR_ACCOUNT_PASSWORD")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run weir");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("weir exits");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Log lines emitted on this thread while the capture lives (tests run on a current-thread
/// runtime, so the server's tasks log here too).
pub struct LogCapture {
    lines: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

#[derive(Clone)]
struct CaptureWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    /// Captures events at `debug` and above.
    pub fn start() -> LogCapture {
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = CaptureWriter(lines.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        LogCapture {
            lines,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    /// Everything logged so far.
    pub fn all(&self) -> Vec<u8> {
        self.lines.lock().unwrap().clone()
    }

    /// What was logged at ERROR.
    pub fn errors(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.lines.lock().unwrap())
            .lines()
            .filter(|l| l.contains("ERROR"))
            .map(str::to_owned)
            .collect()
    }
}

/// Whether this Postgres test can run (see `postgres_available`: a loud skip, or a failure
/// where skips are not allowed).
pub fn postgres_configured(test: &str) -> bool {
    weir_api::store::scratch::postgres_available(test)
}

/// Polls `f` until it yields `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: std::time::Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
