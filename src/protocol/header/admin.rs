//! Headers of the admin requests (mqadmin, the dashboard, `apogee admin`), with Java's
//! field names.

use serde::{Deserialize, Serialize};

/// GET_CONSUME_STATS: one topic, a list of them (5.x, `;`-separated) or, with neither,
/// every topic the group committed offsets of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumeStatsRequest {
    pub consumer_group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_list: Option<String>,
}

/// GET_PRODUCER_CONNECTION_LIST.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducerGroupRequest {
    pub producer_group: String,
}

/// QUERY_TOPICS_BY_CONSUMER.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRequest {
    pub group: String,
}

/// INVOKE_BROKER_TO_RESET_OFFSET (from the admin tools) and RESET_CONSUMER_CLIENT_OFFSET
/// (from the broker to each consumer). `timestamp` -1 means the end of each queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetOffsetRequest {
    pub topic: String,
    pub group: String,
    pub timestamp: i64,
    #[serde(default)]
    pub is_force: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
}

/// CLONE_GROUP_OFFSET.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloneGroupOffsetRequest {
    pub src_group: String,
    pub dest_group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(default)]
    pub offline: bool,
}

/// CONSUME_MESSAGE_DIRECTLY, relayed to the client with the message as body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumeMessageDirectlyRequest {
    pub consumer_group: String,
    pub client_id: String,
    pub msg_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
}

/// GET_BROKER_CONFIG answer header: the configuration's data version (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerConfigResponse {
    pub version: String,
}

/// WIPE_WRITE_PERM_OF_BROKER / ADD_WRITE_PERM_OF_BROKER (name server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerNameRequest {
    pub broker_name: String,
}

/// WIPE_WRITE_PERM_OF_BROKER answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WipeWritePermResponse {
    pub wipe_topic_count: i32,
}

/// ADD_WRITE_PERM_OF_BROKER answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddWritePermResponse {
    pub add_topic_count: i32,
}

/// QUERY_CONSUME_TIME_SPAN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumeTimeSpanRequest {
    pub topic: String,
    pub group: String,
}
