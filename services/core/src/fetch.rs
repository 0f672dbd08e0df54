//! HTTP requests that a workflow's http-request node makes, described without any HTTP
//! library: the engine builds a [`FetchRequest`], and a [`Fetch`] (the guarded outbound
//! client of the net crate) sends it and reads at most a capped body.

use std::time::Duration;

use bytes::Bytes;

use crate::BoxFuture;

/// The body of a request.
#[derive(Clone, Debug, Default)]
pub enum FetchBody {
    /// None.
    #[default]
    Empty,
    /// These bytes (the content type is a header).
    Bytes(Bytes),
    /// `application/x-www-form-urlencoded` pairs.
    Form(Vec<(String, String)>),
    /// `multipart/form-data` parts.
    Multipart(Vec<FetchPart>),
}

/// One part of a multipart body.
#[derive(Clone, Debug)]
pub enum FetchPart {
    /// A text field.
    Text {
        /// Field name.
        name: String,
        /// Value.
        value: String,
    },
    /// A file field.
    File {
        /// Field name.
        name: String,
        /// File name.
        file_name: String,
        /// MIME type.
        mime: String,
        /// Content.
        bytes: Bytes,
    },
}

/// A request.
#[derive(Clone, Debug)]
pub struct FetchRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The URL (before its query parameters).
    pub url: String,
    /// Query parameters appended to the URL.
    pub query: Vec<(String, String)>,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: FetchBody,
    /// Longest the whole exchange may take.
    pub timeout: Duration,
    /// Most body bytes read.
    pub max_body: u64,
}

/// An answer, its body read up to the cap.
#[derive(Clone, Debug)]
pub struct FetchResponse {
    /// Status code.
    pub status: u16,
    /// Headers, in order (values as text).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
}

/// Sends requests on behalf of untrusted input (refusing internal targets).
pub trait Fetch: Send + Sync {
    /// Sends `req`; `Err` holds a readable reason (refused target, transfer failure,
    /// body over the cap).
    fn fetch(&self, req: FetchRequest) -> BoxFuture<'_, Result<FetchResponse, String>>;
}
