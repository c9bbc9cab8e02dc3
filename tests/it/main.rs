//! Black-box tests, one behaviour per module, linked into one binary.

mod admin;
mod broker;
mod broker_crash;
mod broker_filter;
mod broker_groups;
mod broker_lenient;
mod broker_reply;
mod broker_transaction;
mod client;
mod codec;
mod console;
mod failover;
mod filter;
mod malformed;
mod namesrv_actors;
mod namesrv_process;
mod replication;
mod store;
mod store_crash;
mod support;
mod timer;
