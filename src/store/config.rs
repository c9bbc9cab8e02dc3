//! The broker's JSON config stores, in RocketMQ's file formats (`config/` under the store
//! root): `topics.json`, `consumerOffset.json`, `subscriptionGroup.json`,
//! `delayOffset.json`. Written atomically with the previous version kept as `.bak` (see
//! [`super::config_file`]); read with fastjson's quirks (unquoted integer keys) accepted.

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::config_file;
use super::StoreError;
use crate::protocol::body::DataVersion;
use crate::protocol::fastjson;

pub use crate::protocol::body::TopicConfigWrapper as TopicTable;

pub const TOPICS: &str = "topics.json";
pub const CONSUMER_OFFSETS: &str = "consumerOffset.json";
pub const SUBSCRIPTION_GROUPS: &str = "subscriptionGroup.json";
pub const DELAY_OFFSETS: &str = "delayOffset.json";

/// `consumerOffset.json`: `topic@group` → queue id → next offset to consume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerOffsets {
    #[serde(default)]
    pub offset_table: BTreeMap<String, BTreeMap<i32, i64>>,
    #[serde(default)]
    pub data_version: DataVersion,
}

/// One subscription group's settings (`SubscriptionGroupConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionGroup {
    pub group_name: String,
    #[serde(default = "yes")]
    pub consume_enable: bool,
    #[serde(default = "yes")]
    pub consume_from_min_enable: bool,
    #[serde(default = "yes")]
    pub consume_broadcast_enable: bool,
    #[serde(default)]
    pub consume_message_orderly: bool,
    #[serde(default = "one")]
    pub retry_queue_nums: i32,
    #[serde(default = "sixteen")]
    pub retry_max_times: i32,
    #[serde(default)]
    pub broker_id: i64,
    #[serde(default = "one_i64")]
    pub which_broker_when_consume_slowly: i64,
    #[serde(default = "yes")]
    pub notify_consumer_ids_changed_enable: bool,
}

fn yes() -> bool {
    true
}
fn one() -> i32 {
    1
}
fn one_i64() -> i64 {
    1
}
fn sixteen() -> i32 {
    16
}

impl SubscriptionGroup {
    /// A group with RocketMQ's defaults.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            group_name: name.into(),
            consume_enable: true,
            consume_from_min_enable: true,
            consume_broadcast_enable: true,
            consume_message_orderly: false,
            retry_queue_nums: 1,
            retry_max_times: 16,
            broker_id: 0,
            which_broker_when_consume_slowly: 1,
            notify_consumer_ids_changed_enable: true,
        }
    }
}

/// `subscriptionGroup.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionGroups {
    #[serde(default)]
    pub subscription_group_table: BTreeMap<String, SubscriptionGroup>,
    /// 5.x: group → topic → forbidden permission bits; kept as read.
    #[serde(default)]
    pub forbidden_table: BTreeMap<String, BTreeMap<String, i32>>,
    #[serde(default)]
    pub data_version: DataVersion,
}

/// `delayOffset.json`: delay level → next offset of its schedule queue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelayOffsets {
    #[serde(default)]
    pub offset_table: BTreeMap<i32, i64>,
    #[serde(default)]
    pub data_version: DataVersion,
}

/// Reads a config file (or its `.bak`); `None` when neither exists.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, StoreError> {
    match config_file::read(path)? {
        None => Ok(None),
        Some(bytes) => fastjson::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("config file {}: {e}", path.display()))),
    }
}

/// A config file's content: JSON pretty-printed with tabs, as RocketMQ writes them.
pub fn to_json_pretty<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    // Plain data structs serialize without error.
    let _ = value.serialize(&mut ser);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_java_files_and_round_trips() {
        let dir = std::env::temp_dir().join(format!("apogee-config-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // What a Java 5.x broker writes: unquoted queue ids, plus a derived key to ignore.
        let java = "{\n\t\"offsetTable\":{\n\t\t\"TopicTest@g1\":{0:12,1:9}\n\t},\n\t\"groupTopicMap\":{\"g1\":[\"TopicTest\"]},\n\t\"dataVersion\":{\"counter\":2,\"stateVersion\":0,\"timestamp\":1}\n}";
        let path = dir.join(CONSUMER_OFFSETS);
        std::fs::write(&path, java).unwrap();
        let offsets: ConsumerOffsets = load(&path).unwrap().unwrap();
        assert_eq!(offsets.offset_table["TopicTest@g1"][&1], 9);
        config_file::write_atomic(&path, &to_json_pretty(&offsets)).unwrap();
        assert_eq!(load::<ConsumerOffsets>(&path).unwrap().unwrap(), offsets);
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("\n\t\"offsetTable\""));
        let groups: SubscriptionGroups = fastjson::from_slice(
            br#"{"subscriptionGroupTable":{"g":{"groupName":"g","retryMaxTimes":3}}}"#,
        )
        .unwrap();
        assert_eq!(groups.subscription_group_table["g"].retry_max_times, 3);
        assert!(groups.subscription_group_table["g"].consume_enable);
        assert_eq!(
            load::<DelayOffsets>(&dir.join(DELAY_OFFSETS)).unwrap(),
            None
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
