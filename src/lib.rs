//! Apogee: a message broker that speaks Apache RocketMQ's remoting protocol.
//!
//! Layout:
//! - [`protocol`]: the wire codec (frames, headers, bodies), pure;
//! - [`remoting`]: TCP server and client over that codec;
//! - [`namesrv`]: the name server — wiring and request dispatch;
//! - [`actors`]: the actors that own the servers' state (one per file);
//! - [`store`], [`filter`], [`rebalance`]: storage, filters and queue allocation (to come).

pub mod actors;
pub mod broker;
pub mod namesrv;
pub mod protocol;
pub mod remoting;
pub mod store;
pub mod util;
