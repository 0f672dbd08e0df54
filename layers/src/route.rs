//! What the router found for a request, carried in request extensions.
//!
//! weir matches the route *before* the layer stack runs, so that a 404 comes before a 401
//! (as in Dify) and so that every layer can read the route template and its needs.

use std::sync::Arc;

/// The credential a route requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthKind {
    /// Open route.
    None,
    /// A Service API app key (`app-…`).
    AppKey,
    /// A workspace knowledge key (`dataset-…`).
    DatasetKey,
    /// An `/openapi/v1` bearer token; the route needs this scope (or `full`), if any.
    Bearer(Option<&'static str>),
    /// A console session: the access token from its cookie (else `Authorization: Bearer`);
    /// `csrf`: whether the CSRF double submit is checked.
    Console {
        /// Check the CSRF double submit.
        csrf: bool,
    },
    /// A web-app passport (`X-App-Passport`).
    Passport,
}

/// Static facts about a route, declared where the route is defined.
#[derive(Clone, Copy, Debug)]
pub struct RouteMeta {
    /// The credential the route requires.
    pub auth: AuthKind,
    /// Whether a call runs a generation (counts against the per-app concurrency cap).
    pub generation: bool,
    /// A body limit that replaces the stack's default (uploads).
    pub body_limit: Option<u64>,
}

impl RouteMeta {
    /// A route with this auth, no generation, the default body limit.
    pub const fn auth(auth: AuthKind) -> Self {
        RouteMeta {
            auth,
            generation: false,
            body_limit: None,
        }
    }

    /// Marks the route as running a generation.
    pub const fn generation(mut self) -> Self {
        self.generation = true;
        self
    }

    /// Sets the route's own body limit.
    pub const fn body_limit(mut self, bytes: u64) -> Self {
        self.body_limit = Some(bytes);
        self
    }
}

/// The route a request matched: its template, facts and path parameters.
#[derive(Clone, Debug)]
pub struct MatchedRoute {
    /// The route template, e.g. `/v1/conversations/{conversation_id}` (metrics and traces
    /// label by it, never by the raw path).
    pub template: &'static str,
    /// The route's facts.
    pub meta: RouteMeta,
    /// Path parameters by name.
    pub params: Arc<[(String, String)]>,
}

impl MatchedRoute {
    /// The value of a path parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The template label used for requests that matched no route.
pub const UNMATCHED: &str = "<unmatched>";

/// The route template of a request, or [`UNMATCHED`].
pub fn template_of<B>(req: &http::Request<B>) -> &'static str {
    req.extensions()
        .get::<MatchedRoute>()
        .map(|m| m.template)
        .unwrap_or(UNMATCHED)
}
