//! Dify's Service API (`/v1`, app keys).

pub mod chat;
pub mod conversations;
pub mod files;
pub mod info;
pub mod messages;
pub mod workflows;

use super::Route;
use crate::state::AppState;

/// The routes of the Service API.
pub fn routes(state: &AppState) -> Vec<Route> {
    let mut routes = info::routes(state);
    routes.extend(chat::routes(state));
    routes.extend(messages::routes(state));
    routes.extend(conversations::routes(state));
    routes.extend(files::routes(state));
    routes.extend(workflows::routes(state));
    routes
}
