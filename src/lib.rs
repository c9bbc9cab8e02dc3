//! Apogee: a message broker that speaks Apache RocketMQ's remoting protocol.
//!
//! Layout:
//! - [`protocol`]: the wire codec (frames, headers, bodies, message records), pure;
//! - [`remoting`]: TCP server and client over that codec;
//! - [`namesrv`]: the name server — request service and its decision logic;
//! - [`broker`]: the broker — wiring, request service, pull/hold/retry/lock logic;
//! - [`actors`]: the actors that own the servers' state (one per file);
//! - [`store`]: commit log, consume queues, index, flush, recovery, retention;
//! - [`filter`]: tag expressions and SQL92 selectors, pure;
//! - [`client`]: Apogee's own RocketMQ client (producer, push and lite pull consumers);
//! - [`rebalance`]: queue allocation strategies, pure;
//! - [`console`]: the web console and `/metrics` over HTTP;
//! - [`bench`]: `apogee bench`, the load generator for any RocketMQ-compatible cluster;
//! - [`util`]: small shared helpers.

pub mod actors;
pub mod admin;
pub mod bench;
pub mod broker;
pub mod client;
pub mod console;
pub mod controller;
pub mod filter;
pub mod namesrv;
pub mod protocol;
pub mod rebalance;
pub mod remoting;
pub mod store;
pub mod util;
