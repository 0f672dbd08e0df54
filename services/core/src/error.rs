//! The domain's errors and their codes and messages, defined once ([`codes`], [`messages`]).
//! The api crate's table maps them to HTTP statuses; nothing here knows HTTP.

use std::borrow::Cow;

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
}

/// Codes of the console and web-app APIs (Dify's console errors).
pub mod console_codes {
    /// Before the first admin exists.
    pub const NOT_SETUP: &str = "not_setup";
    /// Setup once more.
    pub const ALREADY_SETUP: &str = "already_setup";
    /// Wrong e-mail or password.
    pub const AUTHENTICATION_FAILED: &str = "authentication_failed";
    /// Too many failed logins.
    pub const EMAIL_CODE_LOGIN_LIMIT: &str = "email_code_login_limit";
    /// A banned account.
    pub const ACCOUNT_BANNED: &str = "account_banned";
    /// A workspace the account is not in.
    pub const ACCOUNT_NOT_LINK_TENANT: &str = "account_not_link_tenant";
    /// New password and its repetition differ.
    pub const REPEAT_PASSWORD_NOT_MATCH: &str = "repeat_password_not_match";
    /// The current password is wrong.
    pub const CURRENT_PASSWORD_INCORRECT: &str = "current_password_incorrect";
    /// A console app that is not in the workspace (or of another mode).
    pub const APP_NOT_FOUND: &str = "app_not_found";
    /// Suggested questions are switched off.
    pub const SUGGESTED_QUESTIONS_DISABLED: &str = "app_suggested_questions_after_answer_disabled";
    /// "More like this" is switched off.
    pub const MORE_LIKE_THIS_DISABLED: &str = "app_more_like_this_disabled";
    /// A completion-only web-app route on another mode.
    pub const NOT_COMPLETION_APP: &str = "not_completion_app";
}

/// Messages of the console and web-app APIs (Dify's).
pub mod console_messages {
    /// `not_setup`.
    pub const NOT_SETUP: &str = "Dify has not been initialized and installed yet. Please proceed with the initialization and installation process first.";
    /// `already_setup`.
    pub const ALREADY_SETUP: &str = "Dify has been successfully installed. Please refresh the page or return to the dashboard homepage.";
    /// `authentication_failed`: wrong e-mail or password.
    pub const BAD_CREDENTIALS: &str = "Invalid email or password.";
    /// `authentication_failed`: a password that is not base64.
    pub const BAD_ENCODING: &str = "Invalid encrypted data";
    /// `email_code_login_limit`.
    pub const LOGIN_LOCKED: &str = "Too many incorrect password attempts. Please try again later.";
    /// `account_banned`.
    pub const ACCOUNT_BANNED: &str = "Account is banned.";
    /// `account_not_link_tenant`.
    pub const ACCOUNT_NOT_LINK_TENANT: &str = "Account not link tenant";
    /// `repeat_password_not_match`.
    pub const REPEAT_PASSWORD_NOT_MATCH: &str = "New password and repeat password does not match.";
    /// `current_password_incorrect`.
    pub const CURRENT_PASSWORD_INCORRECT: &str = "Current password is incorrect.";
    /// `app_not_found`.
    pub const APP_NOT_FOUND: &str = "App not found.";
    /// `app_suggested_questions_after_answer_disabled` on the console.
    pub const SUGGESTED_QUESTIONS_DISABLED: &str =
        "Function Suggested questions after answer disabled.";
    /// `app_suggested_questions_after_answer_disabled` in the web app.
    pub const SUGGESTED_QUESTIONS_DISABLED_WEB: &str =
        "The 'Suggested Questions After Answer' feature is disabled. Please refresh your page.";
    /// `app_more_like_this_disabled`.
    pub const MORE_LIKE_THIS_DISABLED: &str =
        "The 'More like this' feature is disabled. Please refresh your page.";
    /// `not_completion_app`.
    pub const NOT_COMPLETION_APP: &str =
        "Please check if your Completion app mode matches the right API route.";
}

/// A refusal of the console or web-app API.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// Before the first admin exists.
    #[error("{}", console_messages::NOT_SETUP)]
    NotSetup,
    /// The first admin exists already.
    #[error("{}", console_messages::ALREADY_SETUP)]
    AlreadySetup,
    /// Wrong e-mail or password, or a password that is not base64.
    #[error("{0}")]
    AuthenticationFailed(&'static str),
    /// Too many failed logins for the e-mail.
    #[error("{}", console_messages::LOGIN_LOCKED)]
    LoginLocked,
    /// A banned account.
    #[error("{}", console_messages::ACCOUNT_BANNED)]
    AccountBanned,
    /// A workspace the account is not in.
    #[error("{}", console_messages::ACCOUNT_NOT_LINK_TENANT)]
    AccountNotLinkTenant,
    /// New password and its repetition differ.
    #[error("{}", console_messages::REPEAT_PASSWORD_NOT_MATCH)]
    RepeatPasswordNotMatch,
    /// The current password is wrong.
    #[error("{}", console_messages::CURRENT_PASSWORD_INCORRECT)]
    CurrentPasswordIncorrect,
    /// An app the console cannot see (or of a mode the route does not serve).
    #[error("{0}")]
    AppNotFound(Cow<'static, str>),
    /// Suggested questions are switched off.
    #[error("{0}")]
    SuggestedQuestionsDisabled(&'static str),
    /// "More like this" is switched off.
    #[error("{}", console_messages::MORE_LIKE_THIS_DISABLED)]
    MoreLikeThisDisabled,
    /// A completion-only web-app route on another mode.
    #[error("{}", console_messages::NOT_COMPLETION_APP)]
    NotCompletionApp,
}
