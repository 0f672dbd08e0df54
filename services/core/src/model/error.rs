//! Why a model call failed. The one error table maps these to Dify's codes.

/// A model provider failure.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// No `[providers.*]` table serves this provider, or it has no credentials.
    #[error("Model {model} credentials is not initialized.")]
    NotConfigured {
        /// The provider.
        provider: String,
        /// The model.
        model: String,
    },
    /// The upstream refused the credentials.
    #[error("[{provider}] Incorrect API key provided, Error code: {status} - {body}")]
    Auth {
        /// Provider name.
        provider: String,
        /// HTTP status.
        status: u16,
        /// Upstream body (truncated).
        body: String,
    },
    /// The upstream rate-limited the call.
    #[error("[{provider}] Rate Limit Error, Error code: 429 - {body}")]
    RateLimited {
        /// Provider name.
        provider: String,
        /// Upstream body (truncated).
        body: String,
    },
    /// The account's quota is exhausted (OpenAI's `insufficient_quota`).
    #[error("[{provider}] Quota exceeded: {body}")]
    QuotaExceeded {
        /// Provider name.
        provider: String,
        /// Upstream body (truncated).
        body: String,
    },
    /// The model does not exist or is not available (`model_not_found`).
    #[error("[{provider}] Model not supported: {body}")]
    ModelNotSupported {
        /// Provider name.
        provider: String,
        /// Upstream body (truncated).
        body: String,
    },
    /// Any other non-2xx answer.
    #[error("[{provider}] {} Error, Error code: {status} - {body}", status_kind(*.status))]
    Status {
        /// Provider name.
        provider: String,
        /// HTTP status.
        status: u16,
        /// Upstream body (truncated).
        body: String,
    },
    /// Connecting or reading failed, or the connection was cut.
    #[error("[{provider}] Connection Error, {message}")]
    Connection {
        /// Provider name.
        provider: String,
        /// What happened.
        message: String,
    },
    /// Connect or read timeout.
    #[error("[{provider}] Request timed out")]
    Timeout {
        /// Provider name.
        provider: String,
    },
    /// The upstream answered something that is not the OpenAI format.
    #[error("[{provider}] Invalid response: {message}")]
    InvalidResponse {
        /// Provider name.
        provider: String,
        /// What was wrong.
        message: String,
    },
}

fn status_kind(status: u16) -> &'static str {
    match status {
        400 | 404 | 409 | 422 => "Bad Request",
        403 => "Permission Denied",
        500..=599 => "Server Unavailable",
        _ => "API",
    }
}
