use http::HeaderValue;
use tower::Layer;
use tower_http::cors::{AllowOrigin, Any};

use super::service::Park;
use super::{Cors, BROWSER_HEADERS, BROWSER_METHODS, EXPOSED_HEADERS};

/// Applies the public or the browser CORS policy by surface (see the module docs).
#[derive(Clone, Debug)]
pub struct CorsLayer {
    public: tower_http::cors::CorsLayer,
    browser: tower_http::cors::CorsLayer,
}

impl CorsLayer {
    /// The layer, allowing credentials from `browser_origins` (`scheme://host[:port]`; a
    /// trailing path is ignored) on the console and web-app surfaces.
    pub fn new(browser_origins: &[String]) -> Self {
        let origins: Vec<HeaderValue> = browser_origins
            .iter()
            .filter_map(|o| origin_of(o))
            .filter_map(|o| HeaderValue::from_str(&o).ok())
            .collect();
        CorsLayer {
            public: tower_http::cors::CorsLayer::new()
                .allow_origin(Any)
                .allow_methods(Any)
                .allow_headers(Any)
                .expose_headers(EXPOSED_HEADERS),
            browser: tower_http::cors::CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_credentials(true)
                .allow_methods(BROWSER_METHODS)
                .allow_headers(BROWSER_HEADERS)
                .expose_headers(EXPOSED_HEADERS),
        }
    }
}

/// `scheme://host[:port]` of a URL, if it has one.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let host = rest.split('/').next().filter(|h| !h.is_empty())?;
    Some(format!("{scheme}://{host}"))
}

impl<S: Clone> Layer<S> for CorsLayer {
    type Service = Cors<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Cors {
            public: self.public.layer(Park(inner.clone())),
            browser: self.browser.layer(Park(inner)),
        }
    }
}
