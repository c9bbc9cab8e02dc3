//! Typed request and response headers, one module per server role.

pub mod broker;
pub mod namesrv;
