//! Domain errors and THE table that turns them into HTTP errors.
//!
//! Handlers and the domain return these (or any error wrapping them); the error layer asks
//! [`translate`] along the error's source chain. No other module builds an HTTP error from a
//! domain condition. Codes and messages are defined once, here ([`codes`], [`messages`]).

use std::borrow::Cow;
use std::error::Error;

use http::StatusCode;
use weir_layers::error::codes as http_codes;
use weir_layers::{HttpError, Surface};

use crate::dsl::DslError;
use crate::providers::ProviderError;

/// Dify's application error codes (Service API §5.1).
pub mod codes {
    /// The app's configuration is missing or broken, or a completion route on another mode.
    pub const APP_UNAVAILABLE: &str = "app_unavailable";
    /// A chat-only route on a non-chat app.
    pub const NOT_CHAT_APP: &str = "not_chat_app";
    /// A workflow route on a non-workflow app.
    pub const NOT_WORKFLOW_APP: &str = "not_workflow_app";
    /// A conversation whose status is not `normal`.
    pub const CONVERSATION_COMPLETED: &str = "conversation_completed";
    /// The model provider has no valid credentials.
    pub const PROVIDER_NOT_INITIALIZE: &str = "provider_not_initialize";
    /// The provider quota is exhausted.
    pub const PROVIDER_QUOTA_EXCEEDED: &str = "provider_quota_exceeded";
    /// The model is not available.
    pub const MODEL_CURRENTLY_NOT_SUPPORT: &str = "model_currently_not_support";
    /// The model call failed.
    pub const COMPLETION_REQUEST_ERROR: &str = "completion_request_error";
    /// The upstream model (or a quota) rate-limited the call.
    pub const RATE_LIMIT_ERROR: &str = "rate_limit_error";
    /// Upload without a `file` part.
    pub const NO_FILE_UPLOADED: &str = "no_file_uploaded";
    /// Upload with more than one file field.
    pub const TOO_MANY_FILES: &str = "too_many_files";
    /// Upload over its category's limit.
    pub const FILE_TOO_LARGE: &str = "file_too_large";
    /// Upload part without a MIME type.
    pub const UNSUPPORTED_FILE_TYPE: &str = "unsupported_file_type";
    /// Upload part with an empty filename.
    pub const FILENAME_NOT_EXISTS: &str = "filename_not_exists_error";
    /// Upload part with an empty filename, on `/openapi/v1`.
    pub const FILENAME_NOT_EXISTS_OPENAPI: &str = "filename_not_exists";
    /// File preview of a file no message references.
    pub const FILE_NOT_FOUND: &str = "file_not_found";
    /// File preview across apps.
    pub const FILE_ACCESS_DENIED: &str = "file_access_denied";
    /// `/end-users/{id}` miss.
    pub const END_USER_NOT_FOUND: &str = "end_user_not_found";
    /// A dataset name already used in the workspace.
    pub const DATASET_NAME_DUPLICATE: &str = "dataset_name_duplicate";
    /// Retrieval before anything is indexed.
    pub const DATASET_NOT_INITIALIZED: &str = "dataset_not_initialized";
    /// Deleting an archived document.
    pub const ARCHIVED_DOCUMENT_IMMUTABLE: &str = "archived_document_immutable";
    /// Deleting a document being indexed.
    pub const DOCUMENT_INDEXING: &str = "document_indexing";
    /// A document status action that cannot be done.
    pub const INVALID_ACTION: &str = "invalid_action";
    /// A bad `metadata` query value.
    pub const INVALID_METADATA: &str = "invalid_metadata";
}

/// Fixed messages of the domain errors.
pub mod messages {
    /// `app_unavailable`.
    pub const APP_UNAVAILABLE: &str = "App unavailable, please check your app configurations.";
    /// `not_chat_app` / `not_workflow_app`.
    pub const MODE_MISMATCH: &str = "Please check if your app mode matches the right API route.";
    /// `conversation_completed`.
    pub const CONVERSATION_COMPLETED: &str =
        "The conversation has ended. Please start a new conversation.";
    /// `provider_quota_exceeded`.
    pub const PROVIDER_QUOTA_EXCEEDED: &str = "Your quota for Dify Hosted Model Provider has been exhausted. Please go to Settings -> Model Provider to complete your own provider credentials.";
    /// `no_file_uploaded`.
    pub const NO_FILE_UPLOADED: &str = "Please upload your file.";
    /// `too_many_files`.
    pub const TOO_MANY_FILES: &str = "Only one file is allowed.";
    /// `unsupported_file_type`.
    pub const UNSUPPORTED_FILE_TYPE: &str = "File type not allowed.";
    /// `filename_not_exists_error`.
    pub const FILENAME_NOT_EXISTS: &str = "The specified filename does not exist.";
    /// `file_access_denied`.
    pub const FILE_ACCESS_DENIED: &str = "Access to the requested file is denied.";
    /// `end_user_not_found`.
    pub const END_USER_NOT_FOUND: &str = "End user not found.";
    /// 404 conversation.
    pub const CONVERSATION_NOT_EXISTS: &str = "Conversation Not Exists.";
    /// 404 conversation cursor.
    pub const LAST_CONVERSATION_NOT_EXISTS: &str = "Last Conversation Not Exists.";
    /// 404 message cursor.
    pub const FIRST_MESSAGE_NOT_EXISTS: &str = "First Message Not Exists.";
    /// 404 message.
    pub const MESSAGE_NOT_EXISTS: &str = "Message Not Exists.";
    /// 404 conversation variable.
    pub const CONVERSATION_VARIABLE_NOT_EXISTS: &str = "Conversation Variable Not Exists.";
    /// 404 workflow run.
    pub const WORKFLOW_RUN_NOT_FOUND: &str = "Workflow run not found.";
    /// 400 advanced-chat / workflow app without a published workflow.
    pub const WORKFLOW_NOT_PUBLISHED: &str = "Workflow not published";
    /// 400 a required `user` is missing.
    pub const USER_REQUIRED: &str = "Arg user must be provided.";
    /// 409 a write that collided with another.
    pub const CONFLICT: &str = "The resource already exists or was changed at the same time.";
    /// 503 a saturated database.
    pub const BUSY: &str = "The server is busy. Please try again shortly.";
}

/// Seconds a client is told to wait when the database is saturated.
pub const BUSY_RETRY_AFTER_S: u64 = 1;

/// A domain error: something the request asked for that the domain refuses or cannot do.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The app's configuration is missing or broken (or a completion route on another mode).
    #[error("{}", messages::APP_UNAVAILABLE)]
    AppUnavailable,
    /// A chat-only route on a non-chat app.
    #[error("{}", messages::MODE_MISMATCH)]
    NotChatApp,
    /// A workflow route on a non-workflow app.
    #[error("{}", messages::MODE_MISMATCH)]
    NotWorkflowApp,
    /// A conversation that has ended.
    #[error("{}", messages::CONVERSATION_COMPLETED)]
    ConversationCompleted,
    /// Something the caller named does not exist (or is not theirs): 404 with this text.
    #[error("{0}")]
    NotFound(Cow<'static, str>),
    /// Invalid input (Dify's `ValueError`): 400 `invalid_param` on `/v1`.
    #[error("{0}")]
    InvalidParam(Cow<'static, str>),
    /// An explicitly bad request: 400 `bad_request`.
    #[error("{0}")]
    BadRequest(Cow<'static, str>),
    /// No published workflow.
    #[error("{}", messages::WORKFLOW_NOT_PUBLISHED)]
    WorkflowNotPublished,
    /// A pinned workflow id that is not a UUID.
    #[error("Invalid workflow_id format: '{0}'. ")]
    InvalidWorkflowId(String),
    /// A pinned workflow id that is a draft.
    #[error("Cannot use draft workflow version. Workflow ID: {0}. Please use a published workflow version or leave workflow_id empty.")]
    DraftWorkflow(String),
    /// A pinned workflow id that is unknown.
    #[error("Workflow not found with id: {0}")]
    WorkflowNotFound(String),
    /// The model provider is not configured or has no credentials.
    #[error("{0}")]
    ProviderNotInitialized(String),
    /// The provider quota is exhausted.
    #[error("{}", messages::PROVIDER_QUOTA_EXCEEDED)]
    ProviderQuotaExceeded,
    /// The model is not available.
    #[error("{0}")]
    ModelNotSupported(String),
    /// The model call failed (connection, upstream status, auth, garbage); the provider's text.
    #[error("{0}")]
    CompletionRequest(String),
    /// The upstream model rate-limited the call.
    #[error("{0}")]
    UpstreamRateLimited(String),
    /// Upload without a `file` part.
    #[error("{}", messages::NO_FILE_UPLOADED)]
    NoFileUploaded,
    /// Upload with several file fields.
    #[error("{}", messages::TOO_MANY_FILES)]
    TooManyFiles,
    /// Upload over its limit.
    #[error("File size exceeded. {0}")]
    FileTooLarge(String),
    /// Upload part without a MIME type.
    #[error("{}", messages::UNSUPPORTED_FILE_TYPE)]
    UnsupportedFileType,
    /// Upload part with an empty filename.
    #[error("{}", messages::FILENAME_NOT_EXISTS)]
    FilenameNotExists,
    /// A file that cannot be served.
    #[error("{0}")]
    FileNotFound(Cow<'static, str>),
    /// A file of another app.
    #[error("{}", messages::FILE_ACCESS_DENIED)]
    FileAccessDenied,
    /// `/end-users/{id}` miss.
    #[error("{}", messages::END_USER_NOT_FOUND)]
    EndUserNotFound,
}

impl ServiceError {
    /// 404 with this text.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        ServiceError::NotFound(message.into())
    }

    /// 400 `invalid_param` with this text.
    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        ServiceError::InvalidParam(message.into())
    }

    /// Status and code of this error on `surface`.
    fn status_code(&self, surface: Surface) -> (StatusCode, &'static str) {
        use ServiceError::*;
        const BAD: StatusCode = StatusCode::BAD_REQUEST;
        match self {
            AppUnavailable => (BAD, codes::APP_UNAVAILABLE),
            NotChatApp => (BAD, codes::NOT_CHAT_APP),
            NotWorkflowApp => (BAD, codes::NOT_WORKFLOW_APP),
            ConversationCompleted => (BAD, codes::CONVERSATION_COMPLETED),
            NotFound(_) | WorkflowNotFound(_) => (StatusCode::NOT_FOUND, http_codes::NOT_FOUND),
            InvalidParam(_) | WorkflowNotPublished => match surface {
                Surface::ServiceApi => (BAD, http_codes::INVALID_PARAM),
                Surface::OpenApi => (BAD, http_codes::BAD_REQUEST),
            },
            BadRequest(_) | InvalidWorkflowId(_) | DraftWorkflow(_) => {
                (BAD, http_codes::BAD_REQUEST)
            }
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
                Surface::ServiceApi => (BAD, codes::FILENAME_NOT_EXISTS),
                Surface::OpenApi => (BAD, codes::FILENAME_NOT_EXISTS_OPENAPI),
            },
            FileNotFound(_) => (StatusCode::NOT_FOUND, codes::FILE_NOT_FOUND),
            FileAccessDenied => (StatusCode::FORBIDDEN, codes::FILE_ACCESS_DENIED),
            EndUserNotFound => (StatusCode::NOT_FOUND, codes::END_USER_NOT_FOUND),
        }
    }

    /// This error as the HTTP error of `surface`.
    pub fn to_http(&self, surface: Surface) -> HttpError {
        let (status, code) = self.status_code(surface);
        HttpError::new(status, code, self.to_string())
    }
}

/// THE translation table: the HTTP error for a domain error, `None` for anything else.
pub fn translate(err: &(dyn Error + 'static), surface: Surface) -> Option<HttpError> {
    if let Some(e) = err.downcast_ref::<ServiceError>() {
        return Some(e.to_http(surface));
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
    if let Some(e) = err.downcast_ref::<DslError>() {
        return Some(HttpError::new(
            StatusCode::BAD_REQUEST,
            http_codes::INVALID_PARAM,
            e.to_string(),
        ));
    }
    None
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
        assert_eq!((http.status_code().as_u16(), http.code()), (503, "service_unavailable"));
        let res = http.into_response(Surface::ServiceApi);
        assert_eq!(res.headers()[http::header::RETRY_AFTER], "1");
        let conflict = StoreError::Conflict("UNIQUE constraint failed".into());
        let http = translate(&conflict, Surface::ServiceApi).unwrap();
        assert_eq!((http.status_code().as_u16(), http.code()), (409, "conflict"));
        assert!(!http.message().contains("UNIQUE"), "no database text in answers");
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
