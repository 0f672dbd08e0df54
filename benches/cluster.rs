//! Several instances on one Postgres and one Redis, measured side by side in one run: the
//! empty workflow's throughput with 1, 2 and 3 instances sharing the load, and the Redis
//! commands one chat turn and one workflow run cost. Needs `WEIR_TEST_POSTGRES_URL` and
//! `WEIR_TEST_REDIS_URL` (as the cluster tests do); without them it says so and stops.
//!
//! `cargo bench --bench cluster` (optional: `WEIR_BENCH_SECONDS`, default 5 per row). Under
//! `cargo test` it runs for a second per row.

// The throughput bench's load driver and model stub; this bench uses part of them.
#[allow(dead_code)]
#[path = "support/load.rs"]
mod load;
#[allow(dead_code)]
#[path = "support/stub.rs"]
mod stub;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use load::{Scenario, Target};
use weir_api::store::scratch::ScratchDb;

/// Concurrent clients, split evenly over the instances in use.
const CLIENTS: usize = 32;
/// Runs measured for the Redis commands per run.
const SAMPLE_RUNS: u64 = 200;

struct Node(Child, SocketAddr);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn cli(env: &[(String, String)], args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .env_remove("WEIR_CONFIG")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run weir");
    assert!(
        out.status.success(),
        "weir {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Redis's count of commands processed so far (one `INFO` itself included).
fn redis_commands(addr: &str) -> u64 {
    let mut s = std::net::TcpStream::connect(addr).expect("redis answers");
    s.write_all(b"INFO stats\r\n").expect("write");
    let mut buf = vec![0u8; 16 * 1024];
    let mut text = String::new();
    while !text.contains("total_commands_processed:") || !text.ends_with("\r\n") {
        let n = s.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    text.lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("INFO stats names total_commands_processed")
}

/// Redis commands per request of `scenario` (idle traffic subtracted).
async fn commands_per_run(redis: &str, target: &Target, scenario: Scenario) -> f64 {
    let before = redis_commands(redis);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = redis_commands(redis) - before - 1;
    let start = redis_commands(redis);
    let mut done = 0;
    let started = Instant::now();
    while done < SAMPLE_RUNS {
        let out = load::run(target, scenario, 1, Duration::from_millis(100)).await;
        done += out.ok;
        assert_eq!(out.failed + out.wrong, 0, "{:?}", out.first_problem);
    }
    // Leases end in the background: let them land before counting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let spent = redis_commands(redis) - start - 1;
    let idle_share = idle as f64 * started.elapsed().as_secs_f64();
    (spent as f64 - idle_share).max(0.0) / done as f64
}

#[tokio::main]
async fn main() {
    let (true, Ok(redis_url)) = (
        std::env::var_os("WEIR_TEST_POSTGRES_URL").is_some(),
        std::env::var("WEIR_TEST_REDIS_URL"),
    ) else {
        println!("cluster bench: set WEIR_TEST_POSTGRES_URL and WEIR_TEST_REDIS_URL");
        return;
    };
    // Under `cargo test` (no `--bench` flag) a one-second smoke run keeps the bench from rotting.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let seconds: u64 = std::env::var("WEIR_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if smoke { 1 } else { 5 });
    let db = ScratchDb::postgres_from_env()
        .await
        .expect("a scratch Postgres database");
    let stub_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("stub");
    let stub_addr = stub_listener.local_addr().expect("stub addr");
    tokio::spawn(stub::serve(stub_listener));
    let redis_addr = redis_url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or("127.0.0.1:6379")
        .to_owned();
    let env: Vec<(String, String)> = vec![
        ("WEIR_DATABASE_URL".into(), db.url.clone()),
        ("WEIR_REDIS_URL".into(), redis_url.clone()),
        (
            "WEIR_REDIS_PREFIX".into(),
            format!("weir-bench:{}:", uuid::Uuid::new_v4()),
        ),
        ("WEIR_SECRET_KEY".into(), "bench-secret".into()),
        ("WEIR_LOG".into(), "warn".into()),
        (
            "WEIR_PROVIDERS__OPENAI__BASE_URL".into(),
            format!("http://{stub_addr}/v1"),
        ),
        ("WEIR_PROVIDERS__OPENAI__API_KEY".into(), "sk-bench".into()),
    ];
    let apps = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/apps");
    let key = |file: &str| {
        let app = cli(
            &env,
            &["app", "import", apps.join(file).to_str().expect("path")],
        );
        cli(&env, &["key", "create", &app])
    };
    let (workflow_key, chat_key) = (key("workflow-empty.yml"), key("chat.yml"));
    let data = std::env::temp_dir().join(format!("weir-bench-{}", uuid::Uuid::new_v4().simple()));
    let mut nodes = Vec::new();
    for i in 0..3 {
        let port = free_port();
        let dir = data.join(format!("node{i}"));
        std::fs::create_dir_all(&dir).expect("node dir");
        let child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .arg("serve")
            .env_remove("WEIR_CONFIG")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("WEIR_BIND", format!("127.0.0.1:{port}"))
            .env("WEIR_DATA_DIR", &dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("weir serve");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        while !load::get_ok(addr, "/health").await {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "node {i} did not start"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        nodes.push(Node(child, addr));
    }
    let target = |i: usize, key: &str| Target {
        addr: nodes[i].1,
        key: key.to_owned(),
    };

    println!("| instances | workflow runs/s | p50 ms | p99 ms | failed |");
    println!("|---|---|---|---|---|");
    for n in 1..=3 {
        let runs: Vec<_> = (0..n)
            .map(|i| {
                let t = target(i, &workflow_key);
                tokio::spawn(async move {
                    load::run(
                        &t,
                        Scenario::Workflow,
                        CLIENTS / n,
                        Duration::from_secs(seconds),
                    )
                    .await
                })
            })
            .collect();
        let (mut ok, mut failed, mut lat, mut secs) = (0, 0, Vec::new(), 0f64);
        for r in runs {
            let o = r.await.expect("load");
            ok += o.ok;
            failed += o.failed + o.wrong;
            secs = secs.max(o.elapsed.as_secs_f64());
            lat.extend(o.latencies_us);
        }
        lat.sort_unstable();
        let pct = |p: f64| {
            lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
                .map_or(0.0, |v| *v as f64 / 1000.0)
        };
        println!(
            "| {n} | {:.0} | {:.2} | {:.2} | {failed} |",
            ok as f64 / secs,
            pct(0.5),
            pct(0.99)
        );
    }
    let per_workflow =
        commands_per_run(&redis_addr, &target(0, &workflow_key), Scenario::Workflow).await;
    let per_chat = commands_per_run(
        &redis_addr,
        &target(0, &chat_key),
        Scenario::ChatMessages { stream: true },
    )
    .await;
    println!();
    println!("Redis commands per blocking workflow run: {per_workflow:.1}; per streaming chat turn: {per_chat:.1}");
    drop(nodes);
    let _ = std::fs::remove_dir_all(&data);
}
