//! Engine semantics on small graphs, run in this runtime's environment (no model calls):
//! branches and joins, skips, error strategies, retries, aggregators, loops with assigners,
//! iteration error modes, list operations, tools and document extraction.

use std::sync::Arc;

use serde_json::{json, Value};
use weir_core::files::{FileTable, ResolvedFile};
use weir_core::model::NoMetrics;
use weir_engine::pool::Pool;
use weir_engine::run::{run_workflow, RunSetup, RunSummary};
use weir_engine::{NoEvents, RunCtx, Workflow};

use crate::settings::Settings;
use crate::store::scratch::ScratchDb;
use crate::tasks::StopFlag;
use crate::Runtime;

fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    e.to_string()
}

async fn state() -> (Arc<Runtime>, ScratchDb) {
    let db = ScratchDb::sqlite().await;
    let mut settings = Settings {
        data_dir: std::env::temp_dir()
            .join(format!("weir-engine-{}", uuid::Uuid::new_v4().simple())),
        ..Settings::default()
    };
    settings.code.timeout_s = 3;
    let blobs = Arc::new(weir_store::LocalBlobs::new(settings.data_dir.clone()));
    (
        Runtime::new(
            db.store.clone(),
            settings,
            Arc::new(NoMetrics),
            describe,
            weir_core::coordination::Local::new(),
            blobs,
        ),
        db,
    )
}

/// Runs a graph given as YAML (nodes and edges) with these inputs.
async fn run(graph_yaml: &str, inputs: Value) -> RunSummary {
    let (state, _db) = state().await;
    run_in(state, graph_yaml, inputs).await
}

/// Runs a graph on a state the test has prepared.
async fn run_in(state: Arc<Runtime>, graph_yaml: &str, inputs: Value) -> RunSummary {
    run_with_files(state, graph_yaml, inputs, Arc::default()).await
}

/// Runs a graph whose inputs hold files registered in `files`.
async fn run_with_files(
    state: Arc<Runtime>,
    graph_yaml: &str,
    inputs: Value,
    files: Arc<FileTable>,
) -> RunSummary {
    let graph: Value =
        serde_json::to_value(serde_yaml::from_str::<serde_yaml::Value>(graph_yaml).unwrap())
            .unwrap();
    let wf = Arc::new(Workflow::compile("wf", &graph, &json!([]), &json!([])).unwrap());
    let ctx = RunCtx::new(RunSetup {
        env: state.run_env().clone(),
        workspace_id: "workspace".into(),
        workflow: wf,
        chatflow: false,
        app_id: "app".into(),
        run_id: "run".into(),
        end_user_id: "user".into(),
        conversation_id: None,
        history: Vec::new(),
        inputs: inputs.as_object().cloned().unwrap_or_default(),
        files,
        sink: Arc::new(NoEvents),
        stop: Arc::new(StopFlag::default()),
    });
    let pool = Pool::new();
    run_workflow(&ctx, pool).await
}

fn ran(s: &RunSummary) -> Vec<String> {
    s.records
        .iter()
        .filter(|r| r.iteration_id.is_none() && r.loop_id.is_none())
        .map(|r| r.node_id.clone())
        .collect()
}

fn status_of<'a>(s: &'a RunSummary, node: &str) -> &'a str {
    s.records
        .iter()
        .find(|r| r.node_id == node)
        .map(|r| r.status)
        .unwrap_or("skipped")
}

const BRANCH: &str = r#"
nodes:
- {id: s, data: {type: start, variables: [{variable: n, type: number}]}}
- {id: check, data: {type: if-else, cases: [{case_id: big, logical_operator: and, conditions: [{variable_selector: [s, n], comparison_operator: ">", value: "10"}]}]}}
- {id: big, data: {type: template-transform, variables: [{variable: n, value_selector: [s, n]}], template: "big {{ n }}"}}
- {id: small, data: {type: template-transform, variables: [{variable: n, value_selector: [s, n]}], template: "small {{ n }}"}}
- {id: after_big, data: {type: template-transform, variables: [], template: "only after big"}}
- {id: merge, data: {type: variable-aggregator, variables: [[big, output], [small, output]]}}
- {id: e, data: {type: end, outputs: [{variable: out, value_selector: [merge, output]}, {variable: extra, value_selector: [after_big, output]}]}}
edges:
- {source: s, target: check}
- {source: check, sourceHandle: big, target: big}
- {source: check, sourceHandle: "false", target: small}
- {source: big, target: after_big}
- {source: after_big, target: merge}
- {source: small, target: merge}
- {source: merge, target: e}
"#;

#[tokio::test]
async fn branches_skip_and_joins_run_once() {
    let s = run(BRANCH, json!({"n": 3})).await;
    assert_eq!(s.status, "succeeded");
    assert_eq!(s.outputs, json!({"out": "small 3", "extra": null}));
    assert_eq!(ran(&s), vec!["s", "check", "small", "merge", "e"]);
    let s = run(BRANCH, json!({"n": 30})).await;
    assert_eq!(
        s.outputs,
        json!({"out": "big 30", "extra": "only after big"})
    );
    assert_eq!(ran(&s).iter().filter(|n| *n == "merge").count(), 1);
}

const FAILING: &str = r#"
nodes:
- {id: s, data: {type: start}}
- {id: boom, data: {type: code, code_language: javascript, code: "function main() { throw new Error('kaput'); }", variables: [], outputs: {x: {type: string}}, STRATEGY}}
- {id: ok, data: {type: template-transform, variables: [{variable: x, value_selector: [boom, x]}, {variable: m, value_selector: [boom, error_message]}], template: "ok {{ x }} {{ m }}"}}
- {id: failed, data: {type: template-transform, variables: [{variable: m, value_selector: [boom, error_message]}], template: "failed: {{ m }}"}}
- {id: e, data: {type: end, outputs: [{variable: ok, value_selector: [ok, output]}, {variable: failed, value_selector: [failed, output]}]}}
edges:
- {source: s, target: boom}
- {source: boom, sourceHandle: source, target: ok}
- {source: boom, sourceHandle: fail-branch, target: failed}
- {source: ok, target: e}
- {source: failed, target: e}
"#;

#[tokio::test]
async fn error_strategies() {
    let s = run(&FAILING.replace(", STRATEGY", ""), json!({})).await;
    assert_eq!(s.status, "failed");
    assert!(s.error.as_deref().unwrap().contains("kaput"));
    assert_eq!(s.outputs, json!({}));

    let s = run(&FAILING.replace("STRATEGY", "error_strategy: default-value, default_value: [{key: x, type: string, value: fallback}]"), json!({})).await;
    assert_eq!(s.status, "partial-succeeded");
    assert_eq!(s.exceptions_count, 1);
    assert_eq!(status_of(&s, "boom"), "exception");
    assert!(
        s.outputs["ok"]
            .as_str()
            .unwrap()
            .starts_with("ok fallback Error: kaput"),
        "{}",
        s.outputs
    );

    let s = run(
        &FAILING.replace("STRATEGY", "error_strategy: fail-branch"),
        json!({}),
    )
    .await;
    assert_eq!(s.status, "partial-succeeded");
    assert_eq!(s.outputs["ok"], Value::Null);
    assert!(s.outputs["failed"].as_str().unwrap().contains("kaput"));
    assert_eq!(status_of(&s, "ok"), "skipped");
}

#[tokio::test]
async fn retries_run_the_node_again() {
    let s = run(&FAILING.replace("STRATEGY", "retry_config: {retry_enabled: true, max_retries: 2, retry_interval: 10}, error_strategy: fail-branch"), json!({})).await;
    assert_eq!(s.status, "partial-succeeded");
    assert_eq!(status_of(&s, "boom"), "exception");
}

const LOOP: &str = r#"
nodes:
- {id: s, data: {type: start}}
- {id: lp, data: {type: loop, start_node_id: lpstart, loop_count: 10, logical_operator: and,
    break_conditions: [{variable_selector: [lp, n], comparison_operator: "≥", value: "4"}],
    loop_variables: [{label: n, var_type: number, value_type: constant, value: "1"}, {label: log, var_type: "array[number]", value_type: constant, value: "[]"}]}}
- {id: lpstart, parentId: lp, data: {type: loop-start}}
- {id: double, parentId: lp, data: {type: assigner, version: "2", items: [{variable_selector: [lp, n], input_type: constant, operation: "*=", value: 2}, {variable_selector: [lp, log], input_type: variable, operation: append, value: [lp, n]}]}}
- {id: e, data: {type: end, outputs: [{variable: n, value_selector: [lp, n]}, {variable: rounds, value_selector: [lp, loop_round]}, {variable: log, value_selector: [lp, log]}]}}
edges:
- {source: s, target: lp}
- {source: lpstart, target: double}
- {source: lp, target: e}
"#;

#[tokio::test]
async fn loops_update_their_variables_and_break() {
    let s = run(LOOP, json!({})).await;
    assert_eq!(s.status, "succeeded", "{:?}", s.error);
    assert_eq!(s.outputs, json!({"n": 4, "rounds": 2, "log": [2, 4]}));
    // Break before the first round when already true.
    let s = run(&LOOP.replace("value: \"1\"", "value: \"5\""), json!({})).await;
    assert_eq!(s.outputs["rounds"], 0);
    // loop-end ends it too.
    let with_end = LOOP
        .replace(
            "- {id: e,",
            "- {id: stop, parentId: lp, data: {type: loop-end}}\n- {id: e,",
        )
        .replace(
            "- {source: lp, target: e}",
            "- {source: double, target: stop}\n- {source: lp, target: e}",
        )
        .replace("value: \"4\"", "value: \"100\"");
    let s = run(&with_end, json!({})).await;
    assert_eq!(s.outputs["rounds"], 1);
}

#[tokio::test]
async fn grouped_aggregators_and_version_one_assigners() {
    let graph = r#"
nodes:
- {id: s, data: {type: start}}
- {id: lp, data: {type: loop, start_node_id: lpstart, loop_count: 2, logical_operator: and, break_conditions: [],
    loop_variables: [{label: log, var_type: "array[string]", value_type: constant, value: "[]"}, {label: last, var_type: string, value_type: constant, value: "x"}]}}
- {id: lpstart, parentId: lp, data: {type: loop-start}}
- {id: add, parentId: lp, data: {type: assigner, assigned_variable_selector: [lp, log], write_mode: append, input_variable_selector: [s, word]}}
- {id: wipe, parentId: lp, data: {type: assigner, assigned_variable_selector: [lp, last], write_mode: clear}}
- {id: agg, data: {type: variable-aggregator, advanced_settings: {group_enabled: true, groups: [
    {group_name: words, variables: [[nowhere, x], [lp, log]]}, {group_name: cleared, variables: [[lp, last]]}, {group_name: none, variables: [[nowhere, y]]}]}}}
- {id: e, data: {type: end, outputs: [{variable: words, value_selector: [agg, words, output]}, {variable: cleared, value_selector: [agg, cleared, output]}, {variable: none, value_selector: [agg, none, output]}]}}
edges:
- {source: s, target: lp}
- {source: lpstart, target: add}
- {source: add, target: wipe}
- {source: lp, target: agg}
- {source: agg, target: e}
"#;
    let s = run(graph, json!({"word": "hi"})).await;
    assert_eq!(s.status, "succeeded", "{:?}", s.error);
    assert_eq!(
        s.outputs,
        json!({"words": ["hi", "hi"], "cleared": "", "none": null})
    );
}

const ITERATION: &str = r#"
nodes:
- {id: s, data: {type: start}}
- {id: it, data: {type: iteration, start_node_id: itstart, iterator_selector: [s, items], output_selector: [work, x], error_handle_mode: MODE, is_parallel: true, parallel_nums: 2}}
- {id: itstart, parentId: it, data: {type: iteration-start}}
- {id: work, parentId: it, data: {type: code, code_language: javascript, code: "function main({v, i}) { if (v === 'bad') throw new Error('bad item'); return {x: v + i}; }",
    variables: [{variable: v, value_selector: [it, item]}, {variable: i, value_selector: [it, index]}], outputs: {x: {type: string}}}}
- {id: e, data: {type: end, outputs: [{variable: out, value_selector: [it, output]}]}}
edges:
- {source: s, target: it}
- {source: itstart, target: work}
- {source: it, target: e}
"#;

#[tokio::test]
async fn iteration_error_modes() {
    let inputs = json!({"items": ["a", "bad", "c"]});
    let s = run(
        &ITERATION.replace("MODE", "continue-on-error"),
        inputs.clone(),
    )
    .await;
    assert_eq!(s.outputs, json!({"out": ["a0", null, "c2"]}));
    let s = run(
        &ITERATION.replace("MODE", "remove-abnormal-output"),
        inputs.clone(),
    )
    .await;
    assert_eq!(s.outputs, json!({"out": ["a0", "c2"]}));
    let s = run(&ITERATION.replace("MODE", "terminated"), inputs).await;
    assert_eq!(s.status, "failed");
    assert!(s.error.unwrap().contains("bad item"));
    let s = run(
        &ITERATION.replace("MODE", "terminated"),
        json!({"items": []}),
    )
    .await;
    assert_eq!(s.outputs, json!({"out": []}));
}

#[tokio::test]
async fn list_operator_and_tools() {
    let graph = r#"
nodes:
- {id: s, data: {type: start}}
- {id: l, data: {type: list-operator, variable: [s, nums],
    filter_by: {enabled: true, conditions: [{key: "", comparison_operator: ">", value: "1"}]},
    order_by: {enabled: true, key: "", value: desc}, limit: {enabled: true, size: 2}}}
- {id: t, data: {type: tool, provider_type: builtin, provider_id: langgenius/time/time, tool_name: weekday,
    tool_parameters: {year: {type: constant, value: 2024}, month: {type: mixed, value: "1"}, day: {type: variable, value: [s, day]}}}}
- {id: e, data: {type: end, outputs: [{variable: r, value_selector: [l, result]}, {variable: first, value_selector: [l, first_record]}, {variable: wd, value_selector: [t, text]}]}}
edges:
- {source: s, target: l}
- {source: l, target: t}
- {source: t, target: e}
"#;
    let s = run(graph, json!({"nums": [3, 1, 5, 2, 4], "day": 1})).await;
    assert_eq!(s.status, "succeeded", "{:?}", s.error);
    assert_eq!(
        s.outputs,
        json!({"r": [5, 4], "first": 5, "wd": "January 1, 2024 is Monday."})
    );
}

#[tokio::test]
async fn document_extractor_reads_stored_files_and_fails_cleanly() {
    let (state, _db) = state().await;
    let workspace_id = state.store().default_workspace_id().await.unwrap();
    let mut uploads = Vec::new();
    for (i, text) in ["first file", "second file"].iter().enumerate() {
        let key = format!("upload/doc-{i}.txt");
        let path = state.settings().data_dir.join(&key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        let row = crate::store::UploadFileRow {
            id: crate::util::new_id(),
            workspace_id: workspace_id.clone(),
            app_id: None,
            name: format!("doc-{i}.txt"),
            size: text.len() as i64,
            extension: "txt".into(),
            mime_type: "text/plain".into(),
            storage_key: key,
            created_by: "user".into(),
            created_at: 0,
        };
        state.store().insert_upload_file(&row).await.unwrap();
        uploads.push(ResolvedFile {
            kind: "document".into(),
            transfer_method: "local_file".into(),
            name: row.name.clone(),
            extension: "txt".into(),
            mime_type: "text/plain".into(),
            size: row.size,
            url: None,
            upload: Some(row),
        });
    }
    let table = Arc::new(FileTable::default());
    let files: Vec<Value> = uploads.iter().map(|f| table.register(f)).collect();
    let mut gone = uploads[0].clone();
    let row = gone.upload.as_mut().unwrap();
    (row.id, row.storage_key) = (crate::util::new_id(), "upload/missing.txt".into());
    let gone = table.register(&gone);
    // The marker and an upload id, as a client could send inside a json_object input.
    let forged = json!({"dify_model_identity": "__dify__file__", "related_id": uploads[0].upload.as_ref().unwrap().id,
        "extension": ".txt", "mime_type": "text/plain", "transfer_method": "local_file"});
    let graph = r#"
nodes:
- {id: s, data: {type: start}}
- {id: x, data: {type: document-extractor, variable_selector: [s, f] STRATEGY}}
- {id: e, data: {type: end, outputs: [{variable: text, value_selector: [x, text]}, {variable: why, value_selector: [x, error_message]}]}}
edges:
- {source: s, target: x}
- {source: x, target: e}
"#;
    let plain = graph.replace(" STRATEGY", "");
    let s = run_with_files(state.clone(), &plain, json!({"f": files[0]}), table.clone()).await;
    assert_eq!(s.status, "succeeded", "{:?}", s.error);
    assert_eq!(s.outputs["text"], "first file");
    let s = run_with_files(state.clone(), &plain, json!({"f": files}), table.clone()).await;
    assert_eq!(s.outputs["text"], json!(["first file", "second file"]));

    for (input, reason) in [
        (json!({}), "no file to extract"),
        (json!({"f": "plain text"}), "not a file"),
        (json!({"f": forged}), "not a file"),
        (json!({"f": gone}), "the file no longer exists"),
    ] {
        let s = run_with_files(state.clone(), &plain, input.clone(), table.clone()).await;
        assert_eq!(s.status, "failed", "{input}");
        assert!(
            s.error.as_deref().unwrap_or("").contains(reason),
            "{input}: {:?}",
            s.error
        );
        let with_default = graph.replace(
            "STRATEGY",
            ", error_strategy: default-value, default_value: [{key: text, type: string, value: none}]",
        );
        let s = run_with_files(state.clone(), &with_default, input, table.clone()).await;
        assert_eq!(s.status, "partial-succeeded");
        assert_eq!(s.outputs["text"], "none");
        assert!(s.outputs["why"].as_str().unwrap().contains(reason));
    }
}

#[test]
fn compile_errors_name_the_node() {
    let graph = json!({"nodes": [{"id": "s", "data": {"type": "start"}}, {"id": "c", "data": {"type": "code", "code_language": "cobol"}}]});
    let err = Workflow::compile("wf", &graph, &json!([]), &json!([]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"c\"") && err.contains("cobol"), "{err}");
}
