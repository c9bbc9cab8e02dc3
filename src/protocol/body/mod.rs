//! Request and response bodies.

pub mod admin;
pub mod client;
pub mod controller;
pub mod register;
pub mod route;

pub use register::{perm, DataVersion, RegisterBrokerBody, TopicConfig, TopicConfigWrapper};
pub use route::{BrokerData, ClusterInfo, KvTable, QueueData, TopicList, TopicRouteData};
