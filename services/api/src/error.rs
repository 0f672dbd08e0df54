//! THE table that turns domain errors into HTTP errors.
//!
//! Handlers and the domain return domain errors (or any error wrapping them); the error
//! layer asks [`translate`] along the error's source chain. No other module builds an HTTP
//! error from a domain condition. Codes and messages are defined once, in
//! `weir_core::error`.

use std::error::Error;

use http::StatusCode;
pub use weir_core::error::{
    codes, console_codes, console_messages, messages, ConsoleError, ServiceError,
    BUSY_RETRY_AFTER_S,
};
use weir_core::model::ProviderError;
use weir_layers::error::codes as http_codes;
use weir_layers::{HttpError, Surface};

use crate::dsl::DslError;

/// Status and code of a domain error on `surface`.
fn service_status(e: &ServiceError, surface: Surface) -> (StatusCode, &'static str) {
    use ServiceError::*;
    const BAD: StatusCode = StatusCode::BAD_REQUEST;
    match e {
        AppUnavailable => (BAD, codes::APP_UNAVAILABLE),
        NotChatApp => (BAD, codes::NOT_CHAT_APP),
        NotWorkflowApp => (BAD, codes::NOT_WORKFLOW_APP),
        ConversationCompleted => (BAD, codes::CONVERSATION_COMPLETED),
        NotFound(_) | WorkflowNotFound(_) => (StatusCode::NOT_FOUND, http_codes::NOT_FOUND),
        InvalidParam(_) | WorkflowNotPublished => match surface {
            Surface::OpenApi => (BAD, http_codes::BAD_REQUEST),
            _ => (BAD, http_codes::INVALID_PARAM),
        },
        BadRequest(_) | InvalidWorkflowId(_) | DraftWorkflow(_) => (BAD, http_codes::BAD_REQUEST),
        ProviderNotInitialized(_) => (BAD, codes::PROVIDER_NOT_INITIALIZE),
        ProviderQuotaExceeded => (BAD, codes::PROVIDER_QUOTA_EXCEEDED),
        ModelNotSupported(_) => (BAD, codes::MODEL_CURRENTLY_NOT_SUPPORT),
        CompletionRequest(_) => (BAD, codes::COMPLETION_REQUEST_ERROR),
        UpstreamRateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, codes::RATE_LIMIT_ERROR),
        NoFileUploaded => (BAD, codes::NO_FILE_UPLOADED),
        TooManyFiles => (BAD, codes::TOO_MANY_FILES),
        FileTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, codes::FILE_TOO_LARGE),
        UnsupportedFileType => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::UNSUPPORTED_FILE_TYPE,
        ),
        FilenameNotExists => match surface {
            Surface::OpenApi => (BAD, codes::FILENAME_NOT_EXISTS_OPENAPI),
            _ => (BAD, codes::FILENAME_NOT_EXISTS),
        },
        FileNotFound(_) => (StatusCode::NOT_FOUND, codes::FILE_NOT_FOUND),
        FileAccessDenied => (StatusCode::FORBIDDEN, codes::FILE_ACCESS_DENIED),
        EndUserNotFound => (StatusCode::NOT_FOUND, codes::END_USER_NOT_FOUND),
    }
}

/// A domain error as the HTTP error of `surface`.
pub fn service_error(e: &ServiceError, surface: Surface) -> HttpError {
    let (status, code) = service_status(e, surface);
    HttpError::new(status, code, e.to_string())
}

/// Status and code of a console or web-app refusal.
fn console_status(e: &ConsoleError) -> (StatusCode, &'static str) {
    use ConsoleError::*;
    match e {
        NotSetup => (StatusCode::UNAUTHORIZED, console_codes::NOT_SETUP),
        AlreadySetup => (StatusCode::FORBIDDEN, console_codes::ALREADY_SETUP),
        AuthenticationFailed(_) => (
            StatusCode::UNAUTHORIZED,
            console_codes::AUTHENTICATION_FAILED,
        ),
        LoginLocked => (
            StatusCode::TOO_MANY_REQUESTS,
            console_codes::EMAIL_CODE_LOGIN_LIMIT,
        ),
        AccountBanned => (StatusCode::BAD_REQUEST, console_codes::ACCOUNT_BANNED),
        AccountNotLinkTenant => (
            StatusCode::FORBIDDEN,
            console_codes::ACCOUNT_NOT_LINK_TENANT,
        ),
        RepeatPasswordNotMatch => (
            StatusCode::BAD_REQUEST,
            console_codes::REPEAT_PASSWORD_NOT_MATCH,
        ),
        CurrentPasswordIncorrect => (
            StatusCode::BAD_REQUEST,
            console_codes::CURRENT_PASSWORD_INCORRECT,
        ),
        AppNotFound(_) => (StatusCode::NOT_FOUND, console_codes::APP_NOT_FOUND),
        SuggestedQuestionsDisabled(_) => (
            StatusCode::FORBIDDEN,
            console_codes::SUGGESTED_QUESTIONS_DISABLED,
        ),
        MoreLikeThisDisabled => (
            StatusCode::FORBIDDEN,
            console_codes::MORE_LIKE_THIS_DISABLED,
        ),
        NotCompletionApp => (StatusCode::BAD_REQUEST, console_codes::NOT_COMPLETION_APP),
    }
}

/// THE translation table: the HTTP error for a domain error, `None` for anything else.
pub fn translate(err: &(dyn Error + 'static), surface: Surface) -> Option<HttpError> {
    if let Some(e) = err.downcast_ref::<ServiceError>() {
        return Some(service_error(e, surface));
    }
    if let Some(e) = err.downcast_ref::<ConsoleError>() {
        let (status, code) = console_status(e);
        return Some(HttpError::new(status, code, e.to_string()));
    }
    if let Some(e) = err.downcast_ref::<ProviderError>() {
        let (status, code) = match e {
            ProviderError::NotConfigured { .. } => {
                (StatusCode::BAD_REQUEST, codes::PROVIDER_NOT_INITIALIZE)
            }
            ProviderError::RateLimited { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, codes::RATE_LIMIT_ERROR)
            }
            ProviderError::QuotaExceeded { .. } => {
                (StatusCode::BAD_REQUEST, codes::PROVIDER_QUOTA_EXCEEDED)
            }
            ProviderError::ModelNotSupported { .. } => {
                (StatusCode::BAD_REQUEST, codes::MODEL_CURRENTLY_NOT_SUPPORT)
            }
            ProviderError::Auth { .. }
            | ProviderError::Status { .. }
            | ProviderError::Connection { .. }
            | ProviderError::Timeout { .. }
            | ProviderError::InvalidResponse { .. } => {
                (StatusCode::BAD_REQUEST, codes::COMPLETION_REQUEST_ERROR)
            }
        };
        if let ProviderError::QuotaExceeded { .. } = e {
            // Dify answers an exhausted quota with its class text, not the upstream's.
            return Some(HttpError::new(
                status,
                code,
                messages::PROVIDER_QUOTA_EXCEEDED,
            ));
        }
        return Some(HttpError::new(status, code, e.to_string()));
    }
    if let Some(e) = err.downcast_ref::<crate::apps::OverwriteError>() {
        return Some(match e {
            crate::apps::OverwriteError::NotFound(_) => HttpError::not_found(e.to_string()),
            crate::apps::OverwriteError::WrongMode => HttpError::bad_request(e.to_string()),
        });
    }
    if let Some(e) = err.downcast_ref::<crate::knowledge::KnowledgeError>() {
        use crate::knowledge::KnowledgeError as K;
        let (status, code) = match e {
            K::NotFound(_) => (StatusCode::NOT_FOUND, http_codes::NOT_FOUND),
            K::Forbidden(_) => (StatusCode::FORBIDDEN, http_codes::FORBIDDEN),
            K::Invalid(_) => (StatusCode::BAD_REQUEST, http_codes::INVALID_PARAM),
            K::NameDuplicate => (StatusCode::CONFLICT, codes::DATASET_NAME_DUPLICATE),
            K::NotInitialized => (StatusCode::BAD_REQUEST, codes::DATASET_NOT_INITIALIZED),
            K::ArchivedImmutable => (StatusCode::FORBIDDEN, codes::ARCHIVED_DOCUMENT_IMMUTABLE),
            K::DocumentIndexing => (StatusCode::BAD_REQUEST, codes::DOCUMENT_INDEXING),
            K::InvalidAction(_) => (StatusCode::BAD_REQUEST, codes::INVALID_ACTION),
            K::InvalidMetadata(_) => (StatusCode::BAD_REQUEST, codes::INVALID_METADATA),
            K::NoModel(_) => (StatusCode::BAD_REQUEST, codes::PROVIDER_NOT_INITIALIZE),
        };
        return Some(HttpError::new(status, code, e.to_string()));
    }
    if let Some(e) = err.downcast_ref::<crate::store::StoreError>() {
        use crate::store::StoreError as S;
        return match e {
            // A constraint the domain did not expect to meet (it maps the ones it knows).
            S::Conflict(_) => Some(HttpError::status(StatusCode::CONFLICT, messages::CONFLICT)),
            S::Busy => Some(
                HttpError::status(StatusCode::SERVICE_UNAVAILABLE, messages::BUSY).with_header(
                    http::header::RETRY_AFTER,
                    http::HeaderValue::from(BUSY_RETRY_AFTER_S),
                ),
            ),
            _ => None,
        };
    }
    if err.is::<weir_core::coordination::CoordError>() {
        // The shared store is down: like a busy database, worth a retry.
        return Some(
            HttpError::status(StatusCode::SERVICE_UNAVAILABLE, messages::BUSY).with_header(
                http::header::RETRY_AFTER,
                http::HeaderValue::from(BUSY_RETRY_AFTER_S),
            ),
        );
    }
    if let Some(e) = err.downcast_ref::<DslError>() {
        return Some(HttpError::new(
            StatusCode::BAD_REQUEST,
            http_codes::INVALID_PARAM,
            e.to_string(),
        ));
    }
    None
}

/// The text a client may see for an error stored with a run, a message or a document (the
/// runtime and knowledge crates are given this function).
pub fn describe(err: &(dyn Error + 'static)) -> String {
    to_http_error(err, Surface::ServiceApi)
        .message_for(Surface::ServiceApi, true)
        .to_owned()
}

/// The HTTP error for any error: the typed one if it carries one, the generic 500 otherwise.
/// Streams use it to build their `error` event from the same table as the error layer.
pub fn to_http_error(err: &(dyn Error + 'static), surface: Surface) -> HttpError {
    weir_layers::errors::rescue_or_internal(err, translate, surface, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant, with its expected Service-API status and code.
    fn table() -> Vec<(ServiceError, u16, &'static str)> {
        use ServiceError::*;
        vec![
            (AppUnavailable, 400, "app_unavailable"),
            (NotChatApp, 400, "not_chat_app"),
            (NotWorkflowApp, 400, "not_workflow_app"),
            (ConversationCompleted, 400, "conversation_completed"),
            (
                ServiceError::not_found(messages::CONVERSATION_NOT_EXISTS),
                404,
                "not_found",
            ),
            (ServiceError::invalid("x"), 400, "invalid_param"),
            (BadRequest("x".into()), 400, "bad_request"),
            (WorkflowNotPublished, 400, "invalid_param"),
            (InvalidWorkflowId("x".into()), 400, "bad_request"),
            (DraftWorkflow("x".into()), 400, "bad_request"),
            (WorkflowNotFound("x".into()), 404, "not_found"),
            (
                ProviderNotInitialized("x".into()),
                400,
                "provider_not_initialize",
            ),
            (ProviderQuotaExceeded, 400, "provider_quota_exceeded"),
            (
                ModelNotSupported("x".into()),
                400,
                "model_currently_not_support",
            ),
            (
                CompletionRequest("x".into()),
                400,
                "completion_request_error",
            ),
            (UpstreamRateLimited("x".into()), 429, "rate_limit_error"),
            (NoFileUploaded, 400, "no_file_uploaded"),
            (TooManyFiles, 400, "too_many_files"),
            (FileTooLarge("x".into()), 413, "file_too_large"),
            (UnsupportedFileType, 415, "unsupported_file_type"),
            (FilenameNotExists, 400, "filename_not_exists_error"),
            (FileNotFound("x".into()), 404, "file_not_found"),
            (FileAccessDenied, 403, "file_access_denied"),
            (EndUserNotFound, 404, "end_user_not_found"),
        ]
    }

    #[test]
    fn no_domain_error_is_a_500() {
        for (err, status, code) in table() {
            let http = translate(&err, Surface::ServiceApi).unwrap();
            assert_eq!(
                (http.status_code().as_u16(), http.code()),
                (status, code),
                "{err:?}"
            );
            assert_eq!(http.message(), err.to_string());
        }
    }

    #[test]
    fn messages_match_the_contract() {
        assert_eq!(
            ServiceError::DraftWorkflow("w1".into()).to_string(),
            "Cannot use draft workflow version. Workflow ID: w1. Please use a published workflow version or leave workflow_id empty."
        );
        assert_eq!(
            ServiceError::InvalidWorkflowId("x".into()).to_string(),
            "Invalid workflow_id format: 'x'. "
        );
    }

    #[test]
    fn provider_errors_map_to_difys_codes() {
        let p = || "openai".to_owned();
        let cases = [
            (
                ProviderError::NotConfigured {
                    provider: p(),
                    model: "m".into(),
                },
                400,
                "provider_not_initialize",
            ),
            (
                ProviderError::Auth {
                    provider: p(),
                    status: 401,
                    body: "no".into(),
                },
                400,
                "completion_request_error",
            ),
            (
                ProviderError::RateLimited {
                    provider: p(),
                    body: "slow".into(),
                },
                429,
                "rate_limit_error",
            ),
            (
                ProviderError::Status {
                    provider: p(),
                    status: 500,
                    body: "x".into(),
                },
                400,
                "completion_request_error",
            ),
            (
                ProviderError::Connection {
                    provider: p(),
                    message: "cut".into(),
                },
                400,
                "completion_request_error",
            ),
            (
                ProviderError::Timeout { provider: p() },
                400,
                "completion_request_error",
            ),
            (
                ProviderError::InvalidResponse {
                    provider: p(),
                    message: "x".into(),
                },
                400,
                "completion_request_error",
            ),
            (
                ProviderError::QuotaExceeded {
                    provider: p(),
                    body: "insufficient_quota".into(),
                },
                400,
                "provider_quota_exceeded",
            ),
            (
                ProviderError::ModelNotSupported {
                    provider: p(),
                    body: "model_not_found".into(),
                },
                400,
                "model_currently_not_support",
            ),
        ];
        for (err, status, code) in cases {
            let http = translate(&err, Surface::ServiceApi).unwrap();
            assert_eq!(
                (http.status_code().as_u16(), http.code()),
                (status, code),
                "{err}"
            );
        }
        let quota = ProviderError::QuotaExceeded {
            provider: p(),
            body: "x".into(),
        };
        assert_eq!(
            translate(&quota, Surface::OpenApi).unwrap().message(),
            messages::PROVIDER_QUOTA_EXCEEDED
        );
        let status = ProviderError::Status {
            provider: p(),
            status: 500,
            body: "{...}".into(),
        };
        assert_eq!(
            status.to_string(),
            "[openai] Server Unavailable Error, Error code: 500 - {...}"
        );
    }

    #[test]
    fn store_saturation_and_conflicts_are_not_500s() {
        use crate::store::StoreError;
        let busy = StoreError::from(sqlx::Error::PoolTimedOut);
        assert!(matches!(busy, StoreError::Busy));
        let http = translate(&busy, Surface::ServiceApi).unwrap();
        assert_eq!(
            (http.status_code().as_u16(), http.code()),
            (503, "service_unavailable")
        );
        let res = http.into_response(Surface::ServiceApi);
        assert_eq!(res.headers()[http::header::RETRY_AFTER], "1");
        let conflict = StoreError::Conflict("UNIQUE constraint failed".into());
        let http = translate(&conflict, Surface::ServiceApi).unwrap();
        assert_eq!(
            (http.status_code().as_u16(), http.code()),
            (409, "conflict")
        );
        assert!(
            !http.message().contains("UNIQUE"),
            "no database text in answers"
        );
    }

    #[test]
    fn wrapped_domain_errors_are_found() {
        #[derive(Debug, thiserror::Error)]
        #[error("context")]
        struct Ctx(#[source] ServiceError);
        let http = to_http_error(&Ctx(ServiceError::NotChatApp), Surface::ServiceApi);
        assert_eq!(http.code(), "not_chat_app");
        let http = to_http_error(&std::io::Error::other("disk"), Surface::ServiceApi);
        assert_eq!(http.code(), "internal_server_error");
    }
}
