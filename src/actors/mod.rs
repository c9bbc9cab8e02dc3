//! Actors: each owns one piece of state and is the only thing that mutates it. One actor per
//! file; each file opens with what it owns, which messages it handles and who sends them.

pub mod kv_config;
pub mod registry;
pub mod route_table;
