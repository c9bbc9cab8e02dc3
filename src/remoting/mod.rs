//! TCP transport over the [`crate::protocol`] codec: a server that dispatches requests to a
//! [`server::Service`], and a client connection that matches responses by opaque.

pub mod client;
pub mod reply;
pub mod server;

pub use client::{ClientError, RemotingClient};
pub use server::{ConnId, Connection, LocalFuture, Service};
