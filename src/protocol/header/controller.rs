//! Headers of RocketMQ 5's controller requests (controller mode), field names as the Java
//! classes' fields (`remoting/protocol/header/controller/**`).

use serde::{Deserialize, Serialize};

/// BROKER_HEARTBEAT (904) to a controller (`BrokerHeartbeatRequestHeader`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerHeartbeat {
    pub cluster_name: String,
    pub broker_addr: String,
    pub broker_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_offset: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_offset: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_timeout_mills: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub election_priority: Option<i32>,
}

/// CONTROLLER_GET_NEXT_BROKER_ID (1012) request; its response adds `nextBrokerId`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NextBrokerId {
    pub cluster_name: String,
    pub broker_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_broker_id: Option<i64>,
}

/// CONTROLLER_APPLY_BROKER_ID (1013) request (`registerCheckCode` = `addr;millis`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyBrokerId {
    pub cluster_name: String,
    pub broker_name: String,
    pub applied_broker_id: i64,
    pub register_check_code: String,
}

/// CONTROLLER_REGISTER_BROKER (1003) request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterToController {
    pub cluster_name: String,
    pub broker_name: String,
    pub broker_id: i64,
    pub broker_address: String,
    #[serde(default)]
    pub invoke_time: i64,
}

/// The master of a group as the controller answers it: REGISTER_BROKER, GET_REPLICA_INFO,
/// ELECT_MASTER responses and NOTIFY_BROKER_ROLE_CHANGED (fields absent when there is none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MasterInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_broker_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_epoch: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_state_set_epoch: Option<i32>,
}

/// CONTROLLER_GET_REPLICA_INFO (1004) request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetReplicaInfo {
    pub broker_name: String,
}

/// CONTROLLER_ELECT_MASTER (1002) request (`brokerId` -1: the controller's own trigger).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ElectMaster {
    #[serde(default)]
    pub cluster_name: String,
    pub broker_name: String,
    #[serde(default = "minus_one")]
    pub broker_id: i64,
    #[serde(default)]
    pub designate_elect: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoke_time: Option<i64>,
}

fn minus_one() -> i64 {
    -1
}

/// CONTROLLER_ALTER_SYNC_STATE_SET (1001) request (the body is the new `SyncStateSet`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlterSyncStateSet {
    pub broker_name: String,
    pub master_broker_id: i64,
    pub master_epoch: i32,
    #[serde(default)]
    pub invoke_time: i64,
}

/// CONTROLLER_ALTER_SYNC_STATE_SET response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlterSyncStateSetResponse {
    pub new_sync_state_set_epoch: i32,
}

/// CONTROLLER_GET_METADATA_INFO (1005) response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControllerMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_leader_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_leader_address: Option<String>,
    #[serde(default)]
    pub is_leader: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peers: Option<String>,
}

/// CLEAN_BROKER_DATA (1011) request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CleanBrokerData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    pub broker_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_controller_ids_to_clean: Option<String>,
    #[serde(default)]
    pub is_clean_living_broker: bool,
}
