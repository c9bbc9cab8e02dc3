//! Headers of the name-server requests and responses (field names as RocketMQ's classes).

use serde::{Deserialize, Serialize};

/// REGISTER_BROKER request (`RegisterBrokerRequestHeader`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterBrokerRequest {
    pub broker_name: String,
    pub broker_addr: String,
    pub cluster_name: String,
    pub ha_server_addr: String,
    pub broker_id: i64,
    /// 5.x: per-broker expiry; absent means the name server's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_timeout_millis: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_acting_master: Option<bool>,
    #[serde(default)]
    pub compressed: bool,
    /// CRC32 of the body masked to 31 bits; 0 means "not checked".
    #[serde(default)]
    pub body_crc32: i32,
}

/// REGISTER_BROKER response (`RegisterBrokerResponseHeader`): filled for slaves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterBrokerResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha_server_addr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_addr: Option<String>,
}

/// UNREGISTER_BROKER and QUERY_DATA_VERSION request: which broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerIdentity {
    pub broker_name: String,
    pub broker_addr: String,
    pub cluster_name: String,
    pub broker_id: i64,
}

/// QUERY_DATA_VERSION response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryDataVersionResponse {
    pub changed: bool,
}

/// GET_ROUTEINFO_BY_TOPIC request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteByTopicRequest {
    pub topic: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_standard_json_only: Option<bool>,
}

/// DELETE_TOPIC_IN_NAMESRV request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteTopicRequest {
    pub topic: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
}

/// GET_TOPICS_BY_CLUSTER request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicsByClusterRequest {
    pub cluster: String,
}

/// PUT_KV_CONFIG request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutKvRequest {
    pub namespace: String,
    pub key: String,
    pub value: String,
}

/// GET_KV_CONFIG and DELETE_KV_CONFIG request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvKeyRequest {
    pub namespace: String,
    pub key: String,
}

/// GET_KV_CONFIG response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvValueResponse {
    pub value: String,
}

/// GET_KVLIST_BY_NAMESPACE request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceRequest {
    pub namespace: String,
}
