use super::*;
use weir_api::store::WorkflowRunRow;

const DONE: &str = "retention: deleted old workflow runs";

fn run(app: &str, age_days: i64) -> WorkflowRunRow {
    WorkflowRunRow {
        id: weir_api::util::new_id(),
        app_id: app.into(),
        workflow_id: weir_api::util::new_id(),
        kind: "workflow".into(),
        conversation_id: None,
        message_id: None,
        status: "succeeded".into(),
        inputs: "{}".into(),
        outputs: None,
        error: None,
        elapsed_time: 0.0,
        total_tokens: 0,
        total_steps: 0,
        exceptions_count: 0,
        created_by_end_user_id: None,
        created_at: weir_api::util::now() - age_days * 86_400,
        finished_at: None,
    }
}

#[tokio::test]
async fn a_due_retention_job_runs_on_one_instance_only() {
    let extra = [("WEIR_RETENTION__WORKFLOW_RUN_DAYS", "30")];
    let Some(mut c) = Cluster::start(0, &extra).await else {
        return;
    };
    let app = c.import("05-workflow-llm.yml");
    let runs = [run(&app, 45), run(&app, 31), run(&app, 2)];
    for r in &runs {
        c.db.store.insert_run(r).await.unwrap();
    }
    // Both instances find the job due when they start; one runs it.
    c.add_node().await;
    c.add_node().await;
    let gone = common::eventually(Duration::from_secs(20), || async {
        let old = c.db.store.run(&app, &runs[1].id).await.unwrap();
        old.is_none().then_some(())
    })
    .await;
    let logs = || c.nodes.iter().map(|n| n.log_text()).collect::<Vec<_>>();
    assert!(gone.is_some(), "old runs deleted: {:?}", logs());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(c.db.store.run(&app, &runs[0].id).await.unwrap().is_none());
    assert!(c.db.store.run(&app, &runs[2].id).await.unwrap().is_some());
    let ran: Vec<String> = logs()
        .iter()
        .flat_map(|text| {
            text.lines()
                .filter(|l| l.contains(DONE))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert!(ran[0].contains("deleted=2"), "{}", ran[0]);
}
