//! The bodies of the admin requests that mqadmin and the dashboard send (RocketMQ's
//! `TopicStatsTable`, `ConsumeStats`, `ConsumerConnection`, `ProducerConnection`,
//! `GroupList`, `ResetOffsetBody`), with Java's field names. Maps keyed by a message queue
//! use [`crate::protocol::fastjson::queue_key`] strings as keys and are written with
//! [`crate::protocol::fastjson::to_vec_object_keys`], as fastjson writes them; read them
//! with [`crate::protocol::fastjson::from_slice`] and [`parse_queue_key`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::client::{MessageQueue, SubscriptionData};

/// The message queue a [`crate::protocol::fastjson::queue_key`] names.
pub fn parse_queue_key(key: &str) -> Option<MessageQueue> {
    crate::protocol::fastjson::from_slice(key.as_bytes()).ok()
}

/// One queue's offsets (`TopicOffset`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicOffset {
    pub min_offset: i64,
    pub max_offset: i64,
    pub last_update_timestamp: i64,
}

/// GET_TOPIC_STATS_INFO answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicStatsTable {
    pub offset_table: BTreeMap<String, TopicOffset>,
    pub topic_put_tps: f64,
}

/// One queue's offsets for a group (`OffsetWrapper`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OffsetWrapper {
    pub broker_offset: i64,
    pub consumer_offset: i64,
    pub pull_offset: i64,
    pub last_timestamp: i64,
}

/// GET_CONSUME_STATS answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumeStats {
    pub offset_table: BTreeMap<String, OffsetWrapper>,
    pub consume_tps: f64,
}

impl ConsumeStats {
    /// The messages not consumed yet (Java's `computeTotalDiff`).
    pub fn total_diff(&self) -> i64 {
        self.offset_table
            .values()
            .map(|o| o.broker_offset - o.consumer_offset)
            .sum()
    }
}

/// A client connection as the admin tools show it (`Connection`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Connection {
    pub client_id: String,
    pub client_addr: String,
    pub language: String,
    pub version: i32,
}

/// GET_CONSUMER_CONNECTION_LIST answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerConnection {
    pub connection_set: BTreeSet<Connection>,
    pub subscription_table: BTreeMap<String, SubscriptionData>,
    pub consume_type: String,
    pub message_model: String,
    pub consume_from_where: String,
}

/// GET_PRODUCER_CONNECTION_LIST answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerConnection {
    pub connection_set: BTreeSet<Connection>,
}

/// QUERY_TOPIC_CONSUME_BY_WHO answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupList {
    pub group_list: BTreeSet<String>,
}

/// INVOKE_BROKER_TO_RESET_OFFSET answer, and RESET_CONSUMER_CLIENT_OFFSET's body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResetOffsetBody {
    pub offset_table: BTreeMap<String, i64>,
}

/// GET_BROKER_CONSUME_STATS answer: per subscription group, its consume stats by topic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumeStatsList {
    pub broker_addr: String,
    pub consume_stats_list: Vec<BTreeMap<String, Vec<ConsumeStats>>>,
    pub total_diff: i64,
    pub total_inflight_diff: i64,
}
