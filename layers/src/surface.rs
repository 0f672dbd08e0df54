//! Which API surface a request belongs to; it decides the wording of generic errors.

/// Dify's generic 500 message on the Service API (`/v1`).
pub const SERVICE_API_INTERNAL_MESSAGE: &str = "The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application.";
/// Dify's 500 message in an SSE `error` event on the Service API.
pub const SERVICE_API_STREAM_INTERNAL_MESSAGE: &str =
    "Internal Server Error, please contact support.";
/// The only 5xx message of the `/openapi/v1` surface.
pub const OPENAPI_INTERNAL_MESSAGE: &str = "Internal Server Error";

/// The path prefix of the `/openapi/v1` surface.
pub const OPENAPI_PREFIX: &str = "/openapi/v1";
/// The path prefix of Dify's Service API.
pub const SERVICE_API_PREFIX: &str = "/v1";
/// The path prefix of the console API (Dify's web console).
pub const CONSOLE_PREFIX: &str = "/console/api";
/// The path prefix of the web-app API (published web apps).
pub const WEB_APP_PREFIX: &str = "/api";
/// The generic 500 message of the console and web-app APIs.
pub const CONSOLE_INTERNAL_MESSAGE: &str = "Internal Server Error";

/// An API surface, found from the request path and carried in request extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Surface {
    /// Dify's Service API under `/v1` (and weir's own paths such as `/health`).
    #[default]
    ServiceApi,
    /// The `/openapi/v1` surface.
    OpenApi,
    /// The console API under `/console/api` (cookie sessions).
    Console,
    /// The web-app API under `/api` (passports of published web apps).
    WebApp,
}

/// Whether `path` is `prefix` or lies under it.
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl Surface {
    /// The surface a request path belongs to.
    pub fn from_path(path: &str) -> Self {
        if under(path, OPENAPI_PREFIX) {
            Surface::OpenApi
        } else if under(path, CONSOLE_PREFIX) {
            Surface::Console
        } else if under(path, WEB_APP_PREFIX) {
            Surface::WebApp
        } else {
            Surface::ServiceApi
        }
    }

    /// Whether browsers call this surface with cookies (CORS with credentials).
    pub fn is_browser(self) -> bool {
        matches!(self, Surface::Console | Surface::WebApp)
    }

    /// The surface of a request, from its extensions if the router put it there, else its path.
    pub fn of<B>(req: &http::Request<B>) -> Self {
        req.extensions()
            .get::<Surface>()
            .copied()
            .unwrap_or_else(|| Surface::from_path(req.uri().path()))
    }

    /// The message of the generic 500 on this surface.
    pub fn internal_message(self, in_stream: bool) -> &'static str {
        match (self, in_stream) {
            (Surface::OpenApi, _) => OPENAPI_INTERNAL_MESSAGE,
            (Surface::Console | Surface::WebApp, _) => CONSOLE_INTERNAL_MESSAGE,
            (Surface::ServiceApi, false) => SERVICE_API_INTERNAL_MESSAGE,
            (Surface::ServiceApi, true) => SERVICE_API_STREAM_INTERNAL_MESSAGE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(Surface::from_path("/openapi/v1/apps"), Surface::OpenApi);
        assert_eq!(Surface::from_path("/openapi/v1"), Surface::OpenApi);
        assert_eq!(Surface::from_path("/openapi/v10"), Surface::ServiceApi);
        assert_eq!(Surface::from_path("/v1/chat-messages"), Surface::ServiceApi);
        assert_eq!(Surface::from_path("/health"), Surface::ServiceApi);
        assert_eq!(Surface::from_path("/console/api/apps"), Surface::Console);
        assert_eq!(Surface::from_path("/console/apix"), Surface::ServiceApi);
        assert_eq!(Surface::from_path("/api/passport"), Surface::WebApp);
        assert_eq!(Surface::from_path("/apis"), Surface::ServiceApi);
    }
}
