//! The fields shared by the create/update-by-text/file requests, and how they settle the
//! dataset's technique, embedding model, doc form and process rule.

use serde_json::{Map, Value};
use weir_layers::BoxError;

use super::opt_str;
use crate::knowledge::retrieve::first_document_default;
use crate::knowledge::split::ProcessRule;
use crate::knowledge::KnowledgeError;
use crate::state::AppState;
use crate::store::DatasetRow;

/// Document forms weir indexes.
pub const DOC_FORMS: [&str; 2] = ["text_model", "hierarchical_model"];

/// The common fields of the create/update family.
#[derive(Debug, Default)]
pub struct KnowledgeConfig {
    pub(super) indexing_technique: Option<String>,
    pub(super) doc_form: Option<String>,
    pub(super) doc_language: Option<String>,
    pub(super) process_rule: Option<Value>,
    pub(super) retrieval_model: Option<Value>,
    pub(super) embedding_model: Option<String>,
    pub(super) embedding_model_provider: Option<String>,
    pub(super) original_document_id: Option<String>,
    pub(super) duplicate: bool,
}

impl KnowledgeConfig {
    /// Reads the fields from a request body.
    pub(super) fn parse(body: &Map<String, Value>) -> Result<KnowledgeConfig, KnowledgeError> {
        Ok(KnowledgeConfig {
            indexing_technique: opt_str(body, "indexing_technique")?,
            doc_form: opt_str(body, "doc_form")?,
            doc_language: opt_str(body, "doc_language")?,
            process_rule: body.get("process_rule").filter(|v| !v.is_null()).cloned(),
            retrieval_model: body
                .get("retrieval_model")
                .filter(|v| !v.is_null())
                .cloned(),
            embedding_model: opt_str(body, "embedding_model")?,
            embedding_model_provider: opt_str(body, "embedding_model_provider")?,
            original_document_id: opt_str(body, "original_document_id")?,
            duplicate: body
                .get("duplicate")
                .and_then(Value::as_bool)
                .unwrap_or(true),
        })
    }
}

/// Settles the dataset side of a new document (technique, embedding model, retrieval
/// model, doc form) and the process rule to use; returns the rule's id.
pub(super) async fn prepare(
    state: &AppState,
    d: &mut DatasetRow,
    cfg: &KnowledgeConfig,
    doc_form: &str,
) -> Result<String, BoxError> {
    if d.indexing_technique.is_none() {
        let t = cfg
            .indexing_technique
            .clone()
            .ok_or_else(|| KnowledgeError::invalid("indexing_technique is required."))?;
        if !matches!(t.as_str(), "high_quality" | "economy") {
            return Err(KnowledgeError::invalid(
                "indexing_technique must be high_quality or economy",
            )
            .into());
        }
        if t == "high_quality" {
            let (p, m) = super::bases::embedding_model(
                state,
                cfg.embedding_model_provider.clone(),
                cfg.embedding_model.clone(),
            )?;
            d.embedding_model_provider = Some(p);
            d.embedding_model = Some(m);
            if d.retrieval_model.is_none() {
                d.retrieval_model = Some(match &cfg.retrieval_model {
                    Some(v) => super::bases::retrieval_model(state, v)?,
                    None => first_document_default().to_string(),
                });
            }
        }
        d.indexing_technique = Some(t);
    }
    if d.data_source_type.is_none() {
        d.data_source_type = Some("upload_file".into());
    }
    if doc_form == "qa_model" {
        return Err(KnowledgeError::invalid("doc_form qa_model is not supported by weir.").into());
    }
    if !DOC_FORMS.contains(&doc_form) {
        return Err(KnowledgeError::invalid("Invalid doc_form.").into());
    }
    match &d.doc_form {
        Some(existing) if existing != doc_form => {
            return Err(
                KnowledgeError::invalid("doc_form is different from the dataset doc_form.").into(),
            )
        }
        None => d.doc_form = Some(doc_form.to_owned()),
        _ => {}
    }
    let store = state.store();
    let rule_id = match &cfg.process_rule {
        Some(v) => {
            let rule = ProcessRule::parse(v)?;
            if doc_form == "hierarchical_model" && rule.mode != "hierarchical" {
                return Err(KnowledgeError::invalid(
                    "hierarchical_model documents need a hierarchical process rule.",
                )
                .into());
            }
            store
                .insert_rule(&d.id, &rule.mode, &rule.rules_json().to_string())
                .await?
        }
        None => match store.latest_rule(&d.id).await? {
            Some(r) => r.id,
            None => return Err(KnowledgeError::invalid("process_rule is required.").into()),
        },
    };
    Ok(rule_id)
}
