//! weir's core: what every domain crate shares and is written against — ids and small
//! helpers ([`util`]), values and rows ([`value`], [`rows`]), the domain's errors
//! ([`error`]), configuration ([`settings`]), input forms ([`inputs`]), and the traits other
//! crates implement: model calls ([`model`]), sandboxed code ([`code`]), tools ([`tools`]),
//! retrieval and the knowledge repository ([`knowledge`]), files ([`files`]), blob storage
//! ([`blob`]), outbound requests ([`fetch`]), run events ([`events`]) and stop flags
//! ([`coordination`]). It knows no HTTP server, no SQL and no provider.
#![warn(missing_docs)]

pub mod blob;
pub mod code;
pub mod coordination;
pub mod error;
pub mod events;
pub mod fetch;
pub mod files;
pub mod inputs;
pub mod knowledge;
pub mod model;
pub mod rows;
pub mod settings;
pub mod tools;
pub mod util;
pub mod value;

/// A boxed error, as every fallible domain call returns when it can fail in several ways.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A boxed, sendable future, as the traits of this crate return.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
