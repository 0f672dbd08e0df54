//! Dify's Service API (`/v1`, app keys).

mod info;

use super::Route;
use crate::state::AppState;

/// The routes of the Service API.
pub fn routes(state: &AppState) -> Vec<Route> {
    info::routes(state)
}
