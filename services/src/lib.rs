//! weir's handlers and domain.
//!
//! - [`error`]: domain errors and THE table that maps them to HTTP errors;
//! - [`store`]: the database (SQLite or Postgres) behind one [`store::Store`];
//! - [`dsl`]: Dify DSL parsing, validation and export;
//! - [`credentials`]: API keys and bearer tokens, and the authenticator of the auth layer;
//! - [`events`]: SSE events and the stream writer;
//! - [`api`]: the handlers, one module per surface.
#![warn(missing_docs)]

pub mod api;
pub mod apps;
pub mod credentials;
pub mod dsl;
pub mod engine;
pub mod error;
pub mod events;
pub mod extract;
pub mod files;
pub mod knowledge;
pub mod net;
pub mod providers;
pub mod runtime;
pub mod secrets;
pub mod settings;
pub mod state;
pub mod store;
pub mod tools;
pub mod util;

pub use error::ServiceError;
pub use settings::Settings;
pub use state::AppState;

/// The version weir reports (`/health`, `/v1/`, `/openapi/v1/_version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
