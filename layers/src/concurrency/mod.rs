//! Concurrency per app (Dify's `APP_MAX_ACTIVE_REQUESTS`): a generation route takes a slot
//! of its app before it runs and gives it back when its response ends — a blocking reply is
//! written, a stream finishes or is dropped. Over the cap the request is refused with
//! 429 `too_many_requests` and Dify's message. Slots live behind [`SlotStore`] so a shared
//! (Redis) store can replace [`MemorySlotStore`]. The app is the credential's (app keys)
//! or the route's `{app_id}` (bearer tokens).

mod body;
mod layer;
mod memory;
mod service;

pub use body::SlotBody;
pub use layer::AppConcurrencyLayer;
pub use memory::MemorySlotStore;
pub use service::AppConcurrency;

use crate::{BoxFuture, HttpError};

/// A held slot; dropping it gives the slot back (the box is held only for its drop).
pub struct Slot(#[allow(dead_code)] Box<dyn Send + Sync>);

impl Slot {
    /// A slot whose release is `guard`'s drop.
    pub fn new(guard: impl Send + Sync + 'static) -> Self {
        Slot(Box::new(guard))
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Slot")
    }
}

/// Hands out at most `max` slots per key.
pub trait SlotStore: Send + Sync + 'static {
    /// A slot of `key`, or `None` when all `max` are taken.
    fn acquire<'a>(&'a self, key: &'a str, max: u32) -> BoxFuture<'a, Option<Slot>>;
}

/// Dify's 429 for an app at its cap (`/openapi/v1` drops the text for the reason phrase).
pub fn over_cap(app_id: &str, max: u32, surface: crate::Surface) -> HttpError {
    let message = match surface {
        crate::Surface::ServiceApi | crate::Surface::Console | crate::Surface::WebApp => format!(
            "Too many requests. Please try again later. The current maximum concurrent requests allowed for {app_id} is {max}."
        ),
        crate::Surface::OpenApi => "Too Many Requests".to_owned(),
    };
    HttpError::too_many_requests(message, None)
}
