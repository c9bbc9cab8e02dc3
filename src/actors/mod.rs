//! Actors: each owns one piece of state and is the only thing that mutates it. One actor per
//! file; each file opens with what it owns, which messages it handles and who sends them.

pub mod client_manager;
pub mod consumer_offsets;
pub mod delay_scheduler;
pub mod kv_config;
pub mod long_poll;
pub mod queue_locks;
pub mod queue_writer;
pub mod registrar;
pub mod registry;
pub mod reput;
pub mod route_table;
pub mod topic_config;
