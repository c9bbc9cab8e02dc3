//! Typed request and response headers, one module per server role.

pub mod admin;
pub mod broker;
pub mod controller;
pub mod namesrv;
