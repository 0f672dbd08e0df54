//! Dify's sandbox service (`POST /v1/sandbox/run`, `X-Api-Key`): the code is wrapped so that
//! it reads its inputs and prints the result between markers, as the service expects.

use std::time::Duration;

use base64::Engine;
use serde_json::{json, Map, Value};

use super::{extract_result, CodeError, Language, RESULT_MARK};
use weir_core::settings::CodeSettings;

fn wrap(language: Language, code: &str, inputs: &Map<String, Value>) -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(Value::Object(inputs.clone()).to_string());
    match language {
        Language::Python3 => format!(
            "{code}\n\nimport json as __j, base64 as __b\n__inputs = __j.loads(__b.b64decode('{encoded}').decode('utf-8'))\nprint('{RESULT_MARK}' + __j.dumps(main(**__inputs)) + '{RESULT_MARK}')\n"
        ),
        Language::JavaScript => format!(
            "{code}\n\nconst __inputs = JSON.parse(Buffer.from('{encoded}', 'base64').toString('utf-8'));\nconsole.log('{RESULT_MARK}' + JSON.stringify(main(__inputs)) + '{RESULT_MARK}');\n"
        ),
    }
}

/// Runs code on the sandbox service.
pub async fn run(
    settings: &CodeSettings,
    language: Language,
    code: &str,
    inputs: &Map<String, Value>,
    timeout: Duration,
) -> Result<Value, CodeError> {
    let lang = match language {
        Language::Python3 => "python3",
        Language::JavaScript => "nodejs",
    };
    let client = reqwest::Client::builder()
        .timeout(timeout + Duration::from_secs(5))
        .build()
        .unwrap_or_default();
    let url = format!(
        "{}/v1/sandbox/run",
        settings.sandbox_endpoint.trim_end_matches('/')
    );
    let res = client
        .post(url)
        .header("X-Api-Key", &settings.sandbox_api_key)
        .json(&json!({"language": lang, "code": wrap(language, code, inputs), "preload": "", "enable_network": false}))
        .send()
        .await
        .map_err(|e| CodeError::Sandbox(format!("the sandbox service is unreachable: {e}")))?;
    if !res.status().is_success() {
        return Err(CodeError::Sandbox(format!(
            "the sandbox service answered {}",
            res.status()
        )));
    }
    let body: Value = res
        .json()
        .await
        .map_err(|e| CodeError::Sandbox(e.to_string()))?;
    if body["code"].as_i64() != Some(0) {
        return Err(CodeError::Sandbox(
            body["message"]
                .as_str()
                .unwrap_or("sandbox error")
                .to_owned(),
        ));
    }
    if let Some(err) = body["data"]["error"].as_str().filter(|e| !e.is_empty()) {
        return Err(CodeError::Failed(err.to_owned()));
    }
    extract_result(body["data"]["stdout"].as_str().unwrap_or(""))
        .ok_or_else(|| CodeError::Failed("the code printed no result".into()))
}
