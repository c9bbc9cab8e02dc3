//! Bodies clients send to brokers: heartbeats (`HeartbeatData` with producer and consumer
//! data and subscriptions), consumer lists, queue-lock batches.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// HEART_BEAT body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HeartbeatData {
    #[serde(rename = "clientID")]
    pub client_id: String,
    #[serde(default)]
    pub producer_data_set: Vec<ProducerData>,
    #[serde(default)]
    pub consumer_data_set: Vec<ConsumerData>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_fingerprint: Option<i64>,
    #[serde(default)]
    pub without_sub: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerData {
    pub group_name: String,
}

/// One consumer group of a client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerData {
    pub group_name: String,
    /// `CONSUME_ACTIVELY` (pull / lite pull) or `CONSUME_PASSIVELY` (push).
    #[serde(default)]
    pub consume_type: String,
    /// `CLUSTERING` or `BROADCASTING`.
    #[serde(default)]
    pub message_model: String,
    #[serde(default)]
    pub consume_from_where: String,
    #[serde(default)]
    pub subscription_data_set: Vec<SubscriptionData>,
    #[serde(default)]
    pub unit_mode: bool,
}

/// A subscription: topic plus expression (TAG or SQL92).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionData {
    #[serde(default)]
    pub class_filter_mode: bool,
    pub topic: String,
    #[serde(default)]
    pub sub_string: String,
    #[serde(default)]
    pub tags_set: BTreeSet<String>,
    #[serde(default)]
    pub code_set: BTreeSet<i32>,
    #[serde(default)]
    pub sub_version: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression_type: Option<String>,
}

/// What the broker reads of a consumer's GET_CONSUMER_RUNNING_INFO answer
/// (`ConsumerRunningInfo`): its subscriptions. The rest (`properties`, `mqTable` with
/// message queues as keys, `statusTable`, `jstack`) is skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerRunningInfo {
    #[serde(default)]
    pub subscription_set: Vec<SubscriptionData>,
}

/// GET_CONSUMER_LIST_BY_GROUP response body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerList {
    pub consumer_id_list: Vec<String>,
}

/// A message queue as clients name it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageQueue {
    pub broker_name: String,
    pub queue_id: i32,
    pub topic: String,
}

/// LOCK_BATCH_MQ / UNLOCK_BATCH_MQ request body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockBatchRequest {
    pub consumer_group: String,
    pub client_id: String,
    #[serde(default)]
    pub only_this_broker: bool,
    #[serde(default)]
    pub mq_set: BTreeSet<MessageQueue>,
}

/// LOCK_BATCH_MQ response body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockBatchResponse {
    pub lock_o_k_m_q_set: BTreeSet<MessageQueue>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_java_heartbeat() {
        let json = br#"{"clientID":"10.0.0.5@12345#1234567890","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET",
 "consumeType":"CONSUME_PASSIVELY","groupName":"g1","messageModel":"CLUSTERING",
 "subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2598919],"expressionType":"TAG","subString":"TagA","subVersion":1700000000000,"tagsSet":["TagA"],"topic":"T"}],"unitMode":false}],
 "heartbeatFingerprint":0,"producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}],"withoutSub":false}"#;
        let hb: HeartbeatData = crate::protocol::fastjson::from_slice(json).unwrap();
        assert_eq!(hb.client_id, "10.0.0.5@12345#1234567890");
        assert_eq!(
            hb.consumer_data_set[0].subscription_data_set[0]
                .code_set
                .len(),
            1
        );
        assert_eq!(hb.producer_data_set[0].group_name, "CLIENT_INNER_PRODUCER");
        let lock: LockBatchResponse =
            serde_json::from_str(r#"{"lockOKMQSet":[{"brokerName":"b","queueId":1,"topic":"T"}]}"#)
                .unwrap();
        assert_eq!(lock.lock_o_k_m_q_set.len(), 1);
    }
}
