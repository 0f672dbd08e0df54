//! The address of the client a request came from, put in request extensions by the server
//! for layers that limit per client (failed authentication, say).

use std::net::SocketAddr;

/// The peer address of the connection a request arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);
