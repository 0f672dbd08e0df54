//! The crate layout keeps its promises: dependencies between weir's crates only point down,
//! the lower domain crates have no HTTP or SQL crate in their tree, no source file outgrows
//! 600 lines, and the api's all-in-one handle stays in the api.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Each domain crate's tier: a crate may depend only on crates of a lower tier.
const TIERS: [(&str, u8); 13] = [
    ("weir-core", 0),
    ("weir-store", 1),
    ("weir-providers", 1),
    ("weir-sandbox", 1),
    ("weir-net", 1),
    ("weir-s3", 1),
    ("weir-engine", 2),
    ("weir-knowledge", 2),
    ("weir-runtime", 3),
    ("weir-layers", 3),
    ("weir-api", 4),
    ("weir-redis", 4),
    ("weir", 5),
];

/// Crates that must stay free of the transport and the database.
const PURE: [&str; 3] = ["weir-core", "weir-engine", "weir-knowledge"];
/// What they must not pull in, directly or not.
const FORBIDDEN: [&str; 6] = ["hyper", "http", "sqlx", "sqlx-core", "rusqlite", "axum"];
/// Longest source file.
const MAX_LINES: usize = 600;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The machine's target triple, as rustc names it.
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).arg("-vV").output().expect("rustc runs");
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_owned()
}

/// The resolved graph for this machine's target (other targets' crates are not downloaded
/// on a fresh machine): package id → (name, ids of its normal and build dependencies).
fn graph() -> HashMap<String, (String, Vec<String>)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--filter-platform",
        ])
        .arg(host_triple())
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let id = n["id"].as_str().unwrap();
            let deps = n["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| {
                    d["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|k| k["kind"].as_str() != Some("dev"))
                })
                .map(|d| d["pkg"].as_str().unwrap().to_owned())
                .collect();
            (id.to_owned(), (names[id].to_owned(), deps))
        })
        .collect()
}

fn id_of(graph: &HashMap<String, (String, Vec<String>)>, name: &str) -> String {
    graph
        .iter()
        .find(|(_, (n, _))| n == name)
        .map(|(id, _)| id.clone())
        .unwrap_or_else(|| panic!("{name} is in the workspace"))
}

#[test]
fn weir_crates_depend_only_downward() {
    let graph = graph();
    let tier: HashMap<&str, u8> = TIERS.into_iter().collect();
    let mut wrong = Vec::new();
    for (name, &own) in &tier {
        let (_, deps) = &graph[&id_of(&graph, name)];
        for dep in deps {
            let dep_name = graph[dep].0.as_str();
            if let Some(&t) = tier.get(dep_name) {
                if t >= own {
                    wrong.push(format!("{name} (tier {own}) → {dep_name} (tier {t})"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "upward or sideways edges: {wrong:?}");
}

#[test]
fn core_engine_and_knowledge_know_no_http_or_sql() {
    let graph = graph();
    for name in PURE {
        let mut seen = BTreeSet::new();
        let mut todo = vec![id_of(&graph, name)];
        while let Some(id) = todo.pop() {
            for dep in &graph[&id].1 {
                if seen.insert(dep.clone()) {
                    todo.push(dep.clone());
                }
            }
        }
        let found: Vec<&str> = seen
            .iter()
            .map(|id| graph[id].0.as_str())
            .filter(|n| FORBIDDEN.contains(n))
            .collect();
        assert!(found.is_empty(), "{name} pulls in {found:?}");
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources(dirs: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in dirs {
        rust_files(&root().join(d), &mut out);
    }
    out
}

#[test]
fn no_source_file_passes_the_line_limit() {
    let long: Vec<String> = sources(&["src", "layers", "services", "tests", "benches", "examples"])
        .into_iter()
        .filter_map(|p| {
            let n = std::fs::read_to_string(&p).unwrap().lines().count();
            (n > MAX_LINES).then(|| format!("{} ({n})", p.display()))
        })
        .collect();
    assert!(long.is_empty(), "over {MAX_LINES} lines: {long:?}");
}

#[test]
fn the_api_handle_stays_in_the_api() {
    let below: Vec<String> = sources(&[
        "services/core",
        "services/store",
        "services/providers",
        "services/sandbox",
        "services/net",
        "services/engine",
        "services/knowledge",
        "services/runtime",
    ])
    .into_iter()
    .filter(|p| {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .any(|l| l.contains("AppState") && !l.trim_start().starts_with("//"))
    })
    .map(|p| p.display().to_string())
    .collect();
    assert!(below.is_empty(), "AppState below the api: {below:?}");
}
