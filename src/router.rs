//! The route table: a `matchit` router from path to the routes of each method.
//!
//! Routing happens before the layer stack: the match (template, facts, params) goes into
//! request extensions so that every layer can read it and so that a 404 or 405 comes before
//! authentication. `/openapi/v1` custom methods (`/apps/{id}:run`) are matched by treating
//! the `:verb` suffix of the last segment as a segment of its own.

use std::sync::Arc;

use http::Method;
use weir_api::{Handler, Route};
use weir_layers::route::MatchedRoute;
use weir_layers::surface::OPENAPI_PREFIX;
use weir_layers::RouteMeta;

/// A route table could not be built.
#[derive(Debug, thiserror::Error)]
#[error("route {path}: {reason}")]
pub struct RouteError {
    path: String,
    reason: String,
}

struct Endpoint {
    method: Method,
    meta: RouteMeta,
    uuid_params: &'static [&'static str],
    handler: Handler,
}

struct PathEntry {
    template: &'static str,
    endpoints: Vec<Endpoint>,
}

/// What a request matched.
#[derive(Clone, Debug)]
pub enum Resolution {
    /// A route: its match, and where its handler is.
    Found(MatchedRoute, RouteIndex),
    /// The path exists for other methods.
    MethodNotAllowed(String),
    /// Nothing matches.
    NotFound,
}

/// The position of a matched handler, in request extensions for the dispatcher.
#[derive(Clone, Copy, Debug)]
pub struct RouteIndex {
    path: usize,
    endpoint: usize,
}

/// The route table.
pub struct Router {
    paths: matchit::Router<usize>,
    entries: Vec<PathEntry>,
}

/// Rewrites a trailing `:verb` of the last segment of an `/openapi/v1` path into `/:verb`.
fn split_verb(path: &str) -> std::borrow::Cow<'_, str> {
    if !path.starts_with(OPENAPI_PREFIX) {
        return path.into();
    }
    let last_slash = path.rfind('/').unwrap_or(0);
    match path[last_slash..].rfind(':') {
        Some(i) if i > 1 => {
            let at = last_slash + i;
            format!("{}/{}", &path[..at], &path[at..]).into()
        }
        _ => path.into(),
    }
}

impl Router {
    /// Builds the table from routes.
    pub fn new(routes: Vec<Route>) -> Result<Router, RouteError> {
        let mut paths = matchit::Router::new();
        let mut entries: Vec<PathEntry> = Vec::new();
        for route in routes {
            let key = split_verb(route.path).into_owned();
            let idx = match entries.iter().position(|e| e.template == route.path) {
                Some(i) => i,
                None => {
                    paths.insert(key, entries.len()).map_err(|e| RouteError {
                        path: route.path.to_owned(),
                        reason: e.to_string(),
                    })?;
                    entries.push(PathEntry {
                        template: route.path,
                        endpoints: Vec::new(),
                    });
                    entries.len() - 1
                }
            };
            let entry = &mut entries[idx];
            if entry.endpoints.iter().any(|e| e.method == route.method) {
                return Err(RouteError {
                    path: route.path.to_owned(),
                    reason: format!("{} defined twice", route.method),
                });
            }
            entry.endpoints.push(Endpoint {
                method: route.method,
                meta: route.meta,
                uuid_params: route.uuid_params,
                handler: route.handler,
            });
        }
        Ok(Router { paths, entries })
    }

    /// Finds the route of a request.
    pub fn resolve(&self, method: &Method, path: &str) -> Resolution {
        let key = split_verb(path);
        let Ok(m) = self.paths.at(&key) else {
            return Resolution::NotFound;
        };
        let entry = &self.entries[*m.value];
        let params: Vec<(String, String)> = m
            .params
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let lookup = |method: &Method| entry.endpoints.iter().position(|e| e.method == method);
        let found = lookup(method).or_else(|| {
            // HEAD is served by GET, as everywhere in HTTP.
            (method == Method::HEAD)
                .then(|| lookup(&Method::GET))
                .flatten()
        });
        let Some(i) = found else {
            let allow: Vec<&str> = entry.endpoints.iter().map(|e| e.method.as_str()).collect();
            return Resolution::MethodNotAllowed(allow.join(", "));
        };
        let endpoint = &entry.endpoints[i];
        let ids_ok = endpoint.uuid_params.iter().all(|name| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .is_some_and(|(_, v)| weir_api::util::is_uuid(v))
        });
        if !ids_ok {
            return Resolution::NotFound;
        }
        Resolution::Found(
            MatchedRoute {
                template: entry.template,
                meta: endpoint.meta,
                params: Arc::from(params),
            },
            RouteIndex {
                path: *m.value,
                endpoint: i,
            },
        )
    }

    /// The handler at an index.
    pub fn handler(&self, index: RouteIndex) -> Handler {
        self.entries[index.path].endpoints[index.endpoint]
            .handler
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_layers::{body, AuthKind, BoxError};

    fn h() -> Handler {
        tower::util::BoxCloneSyncService::new(tower::service_fn(|_req| async {
            Ok::<_, BoxError>(http::Response::new(body::empty()))
        }))
    }

    fn router() -> Router {
        let meta = RouteMeta::auth(AuthKind::AppKey);
        Router::new(vec![
            Route::new(Method::GET, "/v1/conversations", meta, h()),
            Route::new(
                Method::DELETE,
                "/v1/conversations/{conversation_id}",
                meta,
                h(),
            )
            .uuids(&["conversation_id"]),
            Route::new(Method::POST, "/openapi/v1/apps/{app_id}:run", meta, h()),
            Route::new(Method::GET, "/openapi/v1/apps/{app_id}", meta, h()),
        ])
        .unwrap()
    }

    #[test]
    fn resolves_templates_methods_and_uuids() {
        let r = router();
        match r.resolve(&Method::GET, "/v1/conversations") {
            Resolution::Found(m, _) => assert_eq!(m.template, "/v1/conversations"),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(r.resolve(&Method::POST, "/v1/conversations"), Resolution::MethodNotAllowed(a) if a == "GET")
        );
        assert!(matches!(
            r.resolve(&Method::GET, "/v1/nope"),
            Resolution::NotFound
        ));
        assert!(matches!(
            r.resolve(&Method::DELETE, "/v1/conversations/not-a-uuid"),
            Resolution::NotFound
        ));
        let id = "1f0b6e3c-8a57-4b8e-9d2a-0c1f2e3d4a5b";
        match r.resolve(&Method::DELETE, &format!("/v1/conversations/{id}")) {
            Resolution::Found(m, _) => assert_eq!(m.param("conversation_id"), Some(id)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn colon_verbs() {
        let r = router();
        match r.resolve(&Method::POST, "/openapi/v1/apps/abc:run") {
            Resolution::Found(m, _) => {
                assert_eq!(m.template, "/openapi/v1/apps/{app_id}:run");
                assert_eq!(m.param("app_id"), Some("abc"));
            }
            other => panic!("{other:?}"),
        }
        match r.resolve(&Method::GET, "/openapi/v1/apps/abc") {
            Resolution::Found(m, _) => assert_eq!(m.template, "/openapi/v1/apps/{app_id}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            r.resolve(&Method::POST, "/openapi/v1/apps/abc:fly"),
            Resolution::NotFound
        ));
    }

    #[test]
    fn duplicate_routes_are_refused() {
        let meta = RouteMeta::auth(AuthKind::None);
        let err = Router::new(vec![
            Route::new(Method::GET, "/a", meta, h()),
            Route::new(Method::GET, "/a", meta, h()),
        ]);
        assert!(err.is_err());
    }
}
