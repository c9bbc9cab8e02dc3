//! Apogee's own RocketMQ client: it speaks the remoting protocol to any RocketMQ name server
//! and broker (Apogee, Apache RocketMQ, rocketmq-rust).
//!
//! - [`Producer`]: sync / async / oneway / batch sends, queue selectors for ordered sends,
//!   retries on another broker, latency fault avoidance, compression, unique message ids;
//! - [`PushConsumer`]: clustering or broadcasting, long-poll pull per assigned queue,
//!   concurrent (bounded worker pool, flow control) or orderly (broker queue locks) listeners,
//!   rebalance on NOTIFY_CONSUMER_IDS_CHANGED and every 20 s;
//! - [`LitePullConsumer`]: `poll`, `commit`, `seek`, `assign` or `subscribe`.
//!
//! With `enable_trace`, producers and push consumers write message traces as the Java
//! client does ([`trace`]).
//!
//! Every producer or consumer owns one [`instance::Instance`]: its name-server and broker
//! connections, the route cache (refreshed every 30 s) and the heartbeat (every 30 s).
//! All of it runs on the caller's Tokio runtime.

mod config;
pub mod consumer;
mod error;
mod fault;
pub mod instance;
mod message;
mod producer;
pub mod trace;
pub mod transaction;

pub use crate::protocol::body::client::MessageQueue;
pub use config::ClientConfig;
pub use consumer::lite_pull::LitePullConsumer;
pub use consumer::push::PushConsumer;
pub use consumer::{ConsumeFromWhere, ConsumeStatus, ConsumerConfig, MessageModel, OrderlyStatus};
pub use error::ClientError;
pub use message::{Message, MessageExt};
pub use producer::{Producer, ProducerConfig, SendResult, SendStatus};
pub use transaction::{
    LocalTransactionState, TransactionListener, TransactionProducer, TransactionSendResult,
};
