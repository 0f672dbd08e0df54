//! Throughput, latency, CPU and memory of weir, side by side with the physical limit, in one
//! run (`cargo bench --bench throughput`; see benches/README.md for what each figure means).
//!
//! Three processes: this driver, the upstream stub (this binary again, as a child), and weir
//! (the release binary, as a child, on a fresh SQLite database — and on Postgres when
//! `WEIR_TEST_POSTGRES_URL` is set). Every scenario runs at each concurrency level twice:
//! straight at the stub, then through weir; the ratio of the two is the figure that counts.
//! Under `cargo test` (no `--bench` flag) it runs a seconds-long smoke version, so the
//! suite keeps it compiling and working. `WEIR_BENCH_SECS` sets the seconds per measurement.

#[path = "engine.rs"]
#[allow(dead_code)]
mod engine;
#[path = "support/load.rs"]
mod load;
#[path = "support/procfs.rs"]
mod procfs;
#[path = "support/stub.rs"]
mod stub;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use load::{HeldStreams, Outcome, Scenario, Target};
use serde_json::{json, Value};

/// The environment variable that makes this binary the stub.
const ROLE_ENV: &str = "WEIR_BENCH_ROLE";

/// What one run measures.
struct Plan {
    levels: Vec<usize>,
    measure: Duration,
    warmup: Duration,
    streams: Vec<usize>,
    engine_runs: usize,
    postgres: bool,
    /// Only the scenarios whose name contains this (`WEIR_BENCH_ONLY`, for profiling).
    only: Option<String>,
}

impl Plan {
    fn full() -> Plan {
        let secs = std::env::var("WEIR_BENCH_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3.0);
        let list = |name: &str, default: &[usize]| -> Vec<usize> {
            std::env::var(name).map_or_else(
                |_| default.to_vec(),
                |v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
            )
        };
        Plan {
            levels: list("WEIR_BENCH_LEVELS", &[1, 16, 32, 64, 256]),
            measure: Duration::from_secs_f64(secs),
            warmup: Duration::from_millis(500),
            streams: list("WEIR_BENCH_STREAMS", &[1_000, 10_000]),
            engine_runs: 300,
            postgres: std::env::var("WEIR_TEST_POSTGRES_URL").is_ok_and(|u| !u.is_empty()),
            only: std::env::var("WEIR_BENCH_ONLY").ok(),
        }
    }

    fn smoke() -> Plan {
        Plan {
            levels: vec![1, 4],
            measure: Duration::from_millis(300),
            warmup: Duration::from_millis(50),
            streams: vec![20],
            engine_runs: 3,
            postgres: false,
            only: None,
        }
    }
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts the stub as a child; returns it and its address.
fn start_stub() -> (Proc, SocketAddr) {
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .env(ROLE_ENV, "stub")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the stub");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stub stdout"))
        .read_line(&mut line)
        .expect("stub port");
    let port: u16 = line
        .trim()
        .strip_prefix("STUB ")
        .and_then(|p| p.parse().ok())
        .expect("STUB <port>");
    (Proc(child), SocketAddr::from(([127, 0, 0, 1], port)))
}

fn run_stub() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("STUB {}", listener.local_addr().expect("addr").port());
        std::io::stdout().flush().expect("flush");
        stub::serve(listener).await;
    });
}

/// A weir instance and the keys of its apps.
struct Weir {
    proc: Proc,
    addr: SocketAddr,
    chat: String,
    completion: String,
    workflow: String,
    drip: String,
    cold_start: Duration,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn weir_cli(config: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run weir");
    assert!(
        out.status.success(),
        "weir {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Starts weir on `database_url` (a fresh SQLite file when `None`) with the bench apps.
async fn start_weir(stub: SocketAddr, database_url: Option<&str>, http2: bool) -> Weir {
    let dir =
        TempDir(std::env::temp_dir().join(format!("weir-bench-{}", uuid::Uuid::new_v4().simple())));
    std::fs::create_dir_all(&dir.0).expect("bench dir");
    let port = free_port();
    let db = database_url
        .map(str::to_owned)
        .unwrap_or_else(|| format!("sqlite://{}", dir.0.join("weir.db").display()));
    let config = dir.0.join("weir.toml");
    std::fs::write(
        &config,
        format!(
            "bind = \"127.0.0.1:{port}\"\ndatabase_url = \"{db}\"\ndata_dir = \"{}\"\nlog = \"warn\"\n\
             [limits]\nopenapi_rate_limit_per_token = \"0/m\"\n\
             [providers.openai]\nbase_url = \"http://{stub}/v1\"\napi_key = \"sk-bench\"\nhttp2_prior_knowledge = {http2}\n",
            dir.0.join("data").display()
        ),
    )
    .expect("config");
    let apps = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/apps");
    let key = |file: &str| {
        let app = weir_cli(
            &config,
            &["app", "import", apps.join(file).to_str().expect("path")],
        );
        weir_cli(&config, &["key", "create", &app])
    };
    let (chat, completion, workflow, drip) = (
        key("chat.yml"),
        key("completion.yml"),
        key("workflow-empty.yml"),
        key("drip.yml"),
    );
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start weir");
    let proc = Proc(child);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while !load::get_ok(addr, "/health").await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "weir did not start"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let cold_start = started.elapsed();
    Weir {
        proc,
        addr,
        chat,
        completion,
        workflow,
        drip,
        cold_start,
        _dir: dir,
    }
}

/// One measured row: a scenario at a concurrency level, direct and through weir.
struct Row {
    scenario: &'static str,
    database: &'static str,
    concurrency: usize,
    direct: Outcome,
    weir: Outcome,
    weir_cpu_s: f64,
    cores_weir: f64,
    cores_stub: f64,
    cores_driver: f64,
}

impl Row {
    fn ratio(&self) -> f64 {
        self.weir.rps() / self.direct.rps()
    }

    fn cpu_per_1k(&self) -> f64 {
        self.weir_cpu_s * 1000.0 / self.weir.ok.max(1) as f64
    }

    fn problems(&self) -> u64 {
        self.direct.failed + self.direct.wrong + self.weir.failed + self.weir.wrong
    }

    fn json(&self) -> Value {
        let side = |o: &Outcome| {
            json!({"ok": o.ok, "failed": o.failed, "wrong": o.wrong, "rps": o.rps(),
                "p50_ms": o.percentile_ms(0.5), "p99_ms": o.percentile_ms(0.99), "first_problem": o.first_problem})
        };
        json!({"scenario": self.scenario, "database": self.database, "concurrency": self.concurrency,
            "direct": side(&self.direct), "weir": side(&self.weir), "ratio": self.ratio(),
            "added_p50_ms": self.weir.percentile_ms(0.5) - self.direct.percentile_ms(0.5),
            "added_p99_ms": self.weir.percentile_ms(0.99) - self.direct.percentile_ms(0.99),
            "weir_cpu_s_per_1k": self.cpu_per_1k(),
            "cores": {"weir": self.cores_weir, "stub": self.cores_stub, "driver": self.cores_driver}})
    }
}

/// A scenario pair: name, straight at the stub, through weir, and which app's key.
type Pair = (&'static str, Scenario, Scenario, fn(&Weir) -> &str);

/// The scenario pairs.
fn pairs() -> Vec<Pair> {
    vec![
        (
            "chat blocking, continued",
            Scenario::StubChat { stream: false },
            Scenario::ChatMessages { stream: false },
            |w| &w.chat,
        ),
        (
            "chat streaming, continued",
            Scenario::StubChat { stream: true },
            Scenario::ChatMessages { stream: true },
            |w| &w.chat,
        ),
        (
            "completion blocking",
            Scenario::StubChat { stream: false },
            Scenario::Completion,
            |w| &w.completion,
        ),
        (
            "empty workflow blocking",
            Scenario::StubHealth,
            Scenario::Workflow,
            |w| &w.workflow,
        ),
    ]
}

async fn measure_pairs(
    plan: &Plan,
    stub: &Proc,
    stub_addr: SocketAddr,
    weir: &Weir,
    database: &'static str,
) -> Vec<Row> {
    let mut rows = Vec::new();
    let me = std::process::id();
    for (name, direct, through, key) in pairs() {
        if plan.only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        for &c in &plan.levels {
            let stub_target = Target {
                addr: stub_addr,
                key: String::new(),
            };
            let weir_target = Target {
                addr: weir.addr,
                key: key(weir).to_owned(),
            };
            load::run(&stub_target, direct, c, plan.warmup).await;
            let direct_out = load::run(&stub_target, direct, c, plan.measure).await;
            load::run(&weir_target, through, c, plan.warmup).await;
            let cpu = |pid| procfs::cpu_seconds(pid).unwrap_or(0.0);
            let (w0, s0, d0) = (cpu(weir.proc.pid()), cpu(stub.pid()), cpu(me));
            let weir_out = load::run(&weir_target, through, c, plan.measure).await;
            let (w1, s1, d1) = (cpu(weir.proc.pid()), cpu(stub.pid()), cpu(me));
            let wall = weir_out.elapsed.as_secs_f64();
            let row = Row {
                scenario: name,
                database,
                concurrency: c,
                direct: direct_out,
                weir: weir_out,
                weir_cpu_s: w1 - w0,
                cores_weir: (w1 - w0) / wall,
                cores_stub: (s1 - s0) / wall,
                cores_driver: (d1 - d0) / wall,
            };
            print_row(&row);
            rows.push(row);
        }
    }
    rows
}

fn print_header() {
    println!(
        "{:<27} {:<6} {:>4} | {:>9} {:>9} {:>6} | {:>15} {:>15} {:>15} | {:>8} | {:>14} | errors",
        "scenario",
        "db",
        "c",
        "direct/s",
        "weir/s",
        "ratio",
        "direct p50/p99",
        "weir p50/p99",
        "added p50/p99",
        "cpu s/1k",
        "cores w/s/d"
    );
}

fn print_row(r: &Row) {
    let pair = |o: &Outcome| format!("{:.2}/{:.2}", o.percentile_ms(0.5), o.percentile_ms(0.99));
    let added = format!(
        "{:.2}/{:.2}",
        r.weir.percentile_ms(0.5) - r.direct.percentile_ms(0.5),
        r.weir.percentile_ms(0.99) - r.direct.percentile_ms(0.99)
    );
    let problems = r.problems();
    let note = match (&r.direct.first_problem, &r.weir.first_problem) {
        _ if problems == 0 => String::new(),
        (Some(p), _) => format!(" (direct: {p})"),
        (_, Some(p)) => format!(" (weir: {p})"),
        _ => String::new(),
    };
    let bound = if r.cores_driver > r.cores_weir.max(0.1) * 1.5 && r.cores_driver > 0.6 {
        " driver-bound"
    } else {
        ""
    };
    println!(
        "{:<27} {:<6} {:>4} | {:>9.0} {:>9.0} {:>6.2} | {:>15} {:>15} {:>15} | {:>8.3} | {:>4.2}/{:>4.2}/{:>4.2} | {}{}{}",
        r.scenario, r.database, r.concurrency, r.direct.rps(), r.weir.rps(), r.ratio(), pair(&r.direct),
        pair(&r.weir), added, r.cpu_per_1k(), r.cores_weir, r.cores_stub, r.cores_driver,
        if problems == 0 { "0".to_owned() } else { format!("{problems} FAILED") }, note, bound
    );
}

/// Holds `n` open streams on a fresh weir; returns (idle RSS KiB, RSS with them KiB, opened).
async fn hold_streams(stub_addr: SocketAddr, n: usize) -> Value {
    let weir = start_weir(stub_addr, None, true).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = procfs::rss_kib(weir.proc.pid()).unwrap_or(0);
    let target = Target {
        addr: weir.addr,
        key: weir.drip.clone(),
    };
    let started = Instant::now();
    let held = HeldStreams::open(&target, n, 512);
    let settled = held.settle(n, Duration::from_secs(60)).await;
    let opened = held.open.load(std::sync::atomic::Ordering::SeqCst);
    let failed = held.failed.load(std::sync::atomic::Ordering::SeqCst);
    let ramp = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let with = procfs::rss_kib(weir.proc.pid()).unwrap_or(0);
    held.close().await;
    let per_stream = (with.saturating_sub(idle)) as f64 / opened.max(1) as f64;
    println!(
        "open streams: {opened}/{n} held (failed {failed}{}) in {:.1} s; weir idle RSS {:.1} MiB, with streams {:.1} MiB → {per_stream:.1} KiB per stream",
        if settled { "" } else { ", timed out" },
        ramp.as_secs_f64(),
        idle as f64 / 1024.0,
        with as f64 / 1024.0
    );
    json!({"requested": n, "opened": opened, "failed": failed, "idle_rss_kib": idle, "rss_kib": with,
        "kib_per_stream": per_stream, "ramp_s": ramp.as_secs_f64()})
}

fn target_line(name: &str, met: bool, detail: String) -> Value {
    println!(
        "  [{}] {name}: {detail}",
        if met { "met" } else { "MISSED" }
    );
    json!({"target": name, "met": met, "detail": detail})
}

async fn bench(plan: Plan) -> u64 {
    let nofile = procfs::raise_open_files();
    let (stub, stub_addr) = start_stub();
    let weir = start_weir(stub_addr, None, false).await;
    println!(
        "weir {} (pid {}) on SQLite; stub at {stub_addr}; open-files limit {nofile}; {} s per measurement",
        env!("CARGO_BIN_EXE_weir"),
        weir.proc.pid(),
        plan.measure.as_secs_f64()
    );
    print_header();
    let mut rows = measure_pairs(&plan, &stub, stub_addr, &weir, "sqlite").await;
    let peak_rss = procfs::peak_rss_kib(weir.proc.pid()).unwrap_or(0);
    let cold_start = weir.cold_start;
    drop(weir);
    let mut pg_peak = None;
    if plan.postgres {
        if let Some(db) = weir_api::store::scratch::ScratchDb::postgres_from_env().await {
            db.store.close().await;
            let weir = start_weir(stub_addr, Some(&db.url), false).await;
            rows.extend(measure_pairs(&plan, &stub, stub_addr, &weir, "pg").await);
            pg_peak = procfs::peak_rss_kib(weir.proc.pid());
            drop(weir);
            drop(db);
        }
    }
    println!(
        "weir peak RSS over the SQLite run: {:.1} MiB; cold start to first /health: {:.1} ms",
        peak_rss as f64 / 1024.0,
        cold_start.as_secs_f64() * 1e3
    );

    let mut streams = Vec::new();
    for &n in &plan.streams {
        streams.push(hold_streams(stub_addr, n).await);
    }
    let (chain_us, fan_us) = engine::run(plan.engine_runs).await;

    // The targets, judged on this run's figures.
    println!("targets:");
    let best = |scenario: &str, levels: &[usize]| {
        rows.iter()
            .filter(|r| {
                r.database == "sqlite" && r.scenario == scenario && levels.contains(&r.concurrency)
            })
            .max_by(|a, b| a.weir.rps().total_cmp(&b.weir.rps()))
    };
    let mut targets = Vec::new();
    if let Some(r) = best("empty workflow blocking", &[32, 64]) {
        targets.push(target_line(
            "empty workflow ≥ 6,000 runs/s at 32–64 clients (SQLite)",
            r.weir.rps() >= 6000.0,
            format!(
                "{:.0} runs/s at c={} (stub limit {:.0}/s)",
                r.weir.rps(),
                r.concurrency,
                r.direct.rps()
            ),
        ));
    }
    if let Some(r) = rows.iter().find(|r| {
        r.database == "sqlite" && r.scenario == "chat streaming, continued" && r.concurrency == 64
    }) {
        let added = r.weir.percentile_ms(0.99) - r.direct.percentile_ms(0.99);
        targets.push(target_line(
            "streaming chat at 64 clients ≥ 0.5× direct, added p99 < 2 ms",
            r.ratio() >= 0.5 && added < 2.0,
            format!("{:.2}× direct, added p99 {added:.2} ms", r.ratio()),
        ));
    }
    if let Some(r) = rows.iter().find(|r| {
        r.database == "sqlite" && r.scenario == "chat blocking, continued" && r.concurrency == 64
    }) {
        targets.push(target_line(
            "blocking continued chat at 64 clients ≥ 0.35× direct (SQLite)",
            r.ratio() >= 0.35,
            format!("{:.2}× direct", r.ratio()),
        ));
    }
    if let Some(s) = streams.last() {
        let per = s["kib_per_stream"].as_f64().unwrap_or(f64::NAN);
        let idle = s["idle_rss_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0;
        targets.push(target_line(
            "10,000 open streams < 25 KiB each, idle RSS < 40 MiB",
            s["opened"].as_u64() == Some(10_000) && per < 25.0 && idle < 40.0,
            format!(
                "{} streams, {per:.1} KiB each, idle {idle:.1} MiB",
                s["opened"]
            ),
        ));
    }
    targets.push(target_line(
        "cold start < 100 ms",
        cold_start < Duration::from_millis(100),
        format!("{:.1} ms", cold_start.as_secs_f64() * 1e3),
    ));
    targets.push(target_line(
        "engine < 20 µs per node",
        chain_us.max(fan_us) < 20.0,
        format!("chain {chain_us:.2}, fan {fan_us:.2} µs/node"),
    ));

    let problems: u64 = rows.iter().map(Row::problems).sum();
    let report = json!({
        "when": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "measure_s": plan.measure.as_secs_f64(),
        "rows": rows.iter().map(Row::json).collect::<Vec<_>>(),
        "weir_peak_rss_kib": {"sqlite": peak_rss, "pg": pg_peak},
        "cold_start_ms": cold_start.as_secs_f64() * 1e3,
        "open_streams": streams,
        "engine_us_per_node": {"chain": chain_us, "fan": fan_us},
        "targets": targets,
        "errors": problems,
    });
    let out_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out_dir).expect("target/bench");
    let path = out_dir.join("latest.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&report).expect("json"))
        .expect("write latest.json");
    println!("wrote {}", path.display());
    if problems > 0 {
        println!("!!! {problems} failed or wrong responses: these figures do not count !!!");
    }
    drop(stub);
    problems
}

fn main() {
    if std::env::var(ROLE_ENV).as_deref() == Ok("stub") {
        run_stub();
        return;
    }
    let full = std::env::args().any(|a| a == "--bench");
    let plan = if full { Plan::full() } else { Plan::smoke() };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let problems = rt.block_on(bench(plan));
    if problems > 0 {
        std::process::exit(1);
    }
}
