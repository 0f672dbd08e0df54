use super::*;

fn examples() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/dsl");
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "yml"))
                .map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    (name, std::fs::read_to_string(e.path()).unwrap())
                })
                .collect()
        })
        .unwrap_or_else(|e| panic!("{dir}: {e}"));
    out.sort();
    assert_eq!(out.len(), 10, "the DSL fixtures are all there");
    out
}

#[test]
fn every_example_parses_and_round_trips() {
    for (name, text) in examples() {
        let dsl = Dsl::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let exported = export(&dsl.doc, true);
        let again = Dsl::parse(&exported).unwrap_or_else(|e| panic!("{name} re-import: {e}"));
        assert_eq!(again.mode, dsl.mode, "{name}");
        for part in ["app", "model_config", "workflow", "dependencies"] {
            assert_eq!(again.doc.get(part), dsl.doc.get(part), "{name}: {part}");
        }
        assert_eq!(again.version, CURRENT_VERSION);
    }
}

#[test]
fn legacy_versions_import_with_warnings() {
    let dsl =
        Dsl::parse("version: 0.1.3\napp: {mode: chat, name: x}\nmodel_config: {pre_prompt: ''}\n")
            .unwrap();
    assert_eq!(dsl.status, ImportStatus::CompletedWithWarnings);
    let dsl = Dsl::parse("app: {mode: workflow}\nworkflow: {}\n").unwrap();
    assert_eq!(dsl.version, "0.1.0");
    assert_eq!(dsl.doc["workflow"]["graph"]["nodes"], serde_json::json!([]));
    assert_eq!(dsl.doc["kind"], "app");
}

#[test]
fn malformed_files_are_refused_with_a_reason() {
    let cases = [
        ("version: [unclosed", "invalid YAML"),
        ("- just\n- a list\n", "content must be a mapping"),
        (
            "version: 0.1\napp: {mode: chat}\nmodel_config: {pre_prompt: ''}\n",
            "version must be a string",
        ),
        (
            "version: '0.6.0'\napp: {mode: channel}\n",
            "unknown app mode \"channel\"",
        ),
        (
            "version: '9.0.0'\napp: {mode: chat}\nmodel_config: {pre_prompt: ''}\n",
            "newer than the supported",
        ),
        ("version: 'x.y'\napp: {mode: chat}\n", "invalid DSL version"),
        (
            "version: '0.6.0'\napp: {mode: workflow}\n",
            "missing workflow data",
        ),
        (
            "version: '0.6.0'\napp: {mode: chat}\n",
            "missing model_config",
        ),
        (
            "version: '0.6.0'\napp: {mode: chat}\nmodel_config: {}\n",
            "pre_prompt is required",
        ),
        ("version: '0.6.0'\nkind: app\n", "missing app data"),
        (
            "version: '0.6.0'\napp: {mode: workflow}\nworkflow: {graph: {nodes: 3}}\n",
            "nodes must be a list",
        ),
    ];
    for (text, reason) in cases {
        let err = Dsl::parse(text).expect_err(text).to_string();
        assert!(err.contains(reason), "{text:?}: {err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }
}

#[test]
fn export_masks_secrets_and_credentials() {
    let text = "version: '0.6.0'\napp: {mode: workflow, name: w}\nworkflow:\n  environment_variables:\n  - {name: KEY, value_type: secret, value: s3cret}\n  - {name: BASE, value_type: string, value: http://x}\n  graph:\n    nodes:\n    - {id: t, data: {type: tool, credential_id: c1}}\n";
    let dsl = Dsl::parse(text).unwrap();
    assert_eq!(secret_values(&dsl.doc), vec!["s3cret".to_string()]);
    let out = export(&dsl.doc, false);
    assert!(
        !out.contains("s3cret") && !out.contains("credential_id"),
        "{out}"
    );
    assert!(out.contains("http://x"));
    assert!(export(&dsl.doc, true).contains("s3cret"));
}
