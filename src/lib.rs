//! weir: Dify's backend API as a tower middleware stack.
//!
//! Use it as a library to compose your own stack: build a [`Server`] from a [`Config`], add
//! your layers with [`Server::map_stack`] (see `examples/custom_layer.rs`), then bind and
//! serve.
#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod router;
pub mod server;
pub mod stack;

pub use config::Config;
pub use server::{Bound, Server};
pub use stack::{HttpService, Stack};
pub use weir_api as api;
pub use weir_layers as layers;
