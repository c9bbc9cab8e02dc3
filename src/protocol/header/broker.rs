//! Headers of the broker's requests and responses (field names as RocketMQ's classes).

use serde::{Deserialize, Serialize};

use crate::protocol::command::ExtFields;
use crate::protocol::error::HeaderError;

/// A send request, from either header spelling: SEND_MESSAGE's long names
/// (`SendMessageRequestHeader`) or SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE's one-letter names
/// (`SendMessageRequestHeaderV2`). Brokers must accept both for any of the three codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    pub producer_group: String,
    pub topic: String,
    pub default_topic: String,
    pub default_topic_queue_nums: i32,
    /// −1 (or out of range) lets the broker choose.
    pub queue_id: i32,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub flag: i32,
    pub properties: String,
    pub reconsume_times: i32,
    pub unit_mode: bool,
    pub max_reconsume_times: Option<i32>,
    /// The body is a batch (`MessageDecoder.encodeMessages`); decided by this flag, not by
    /// the request code.
    pub batch: bool,
    pub broker_name: Option<String>,
}

impl SendRequest {
    /// Reads either spelling (the one-letter form wins when both appear).
    pub fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        // The one-letter spelling, recognised by any of its usual fields.
        let v2 = ["a", "b", "e"].iter().any(|k| ext.contains_key(k));
        let field = |short: &'static str, long: &'static str| {
            if v2 {
                ext.get(short)
            } else {
                ext.get(long)
            }
        };
        let required = |short: &'static str, long: &'static str| {
            field(short, long).ok_or_else(|| {
                HeaderError::Field(if v2 {
                    format!("missing field `{short}` ({long})")
                } else {
                    format!("missing field `{long}`")
                })
            })
        };
        fn number<T: std::str::FromStr>(name: &str, text: &str) -> Result<T, HeaderError> {
            text.trim()
                .parse()
                .map_err(|_| HeaderError::Field(format!("field `{name}`: bad number {text:?}")))
        }
        let flag_of = |s: Option<&str>| s.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        Ok(Self {
            producer_group: required("a", "producerGroup")?.to_owned(),
            topic: required("b", "topic")?.to_owned(),
            default_topic: field("c", "defaultTopic").unwrap_or("TBW102").to_owned(),
            default_topic_queue_nums: match field("d", "defaultTopicQueueNums") {
                Some(v) => number("defaultTopicQueueNums", v)?,
                None => 4,
            },
            queue_id: number("queueId", required("e", "queueId")?)?,
            sys_flag: match field("f", "sysFlag") {
                Some(v) => number("sysFlag", v)?,
                None => 0,
            },
            born_timestamp: match field("g", "bornTimestamp") {
                Some(v) => number("bornTimestamp", v)?,
                None => 0,
            },
            flag: match field("h", "flag") {
                Some(v) => number("flag", v)?,
                None => 0,
            },
            properties: field("i", "properties").unwrap_or("").to_owned(),
            reconsume_times: match field("j", "reconsumeTimes") {
                Some(v) => number("reconsumeTimes", v)?,
                None => 0,
            },
            unit_mode: flag_of(field("k", "unitMode")),
            max_reconsume_times: field("l", "maxReconsumeTimes")
                .map(|v| number("maxReconsumeTimes", v))
                .transpose()?,
            batch: flag_of(field("m", "batch")),
            broker_name: field("n", "bname").map(str::to_owned),
        })
    }
}

/// SEND response (`SendMessageResponseHeader`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendResponse {
    /// Offset message id(s), comma-separated for a batch.
    pub msg_id: String,
    pub queue_id: i32,
    pub queue_offset: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(rename = "MSG_REGION")]
    pub msg_region: String,
    #[serde(rename = "TRACE_ON")]
    pub trace_on: String,
}

/// PullSysFlag bits.
pub mod pull_flag {
    pub const COMMIT_OFFSET: i32 = 0x1;
    pub const SUSPEND: i32 = 0x2;
    pub const SUBSCRIPTION: i32 = 0x4;
    pub const CLASS_FILTER: i32 = 0x8;
    pub const LITE_PULL: i32 = 0x10;
}

/// PULL_MESSAGE / LITE_PULL_MESSAGE request (`PullMessageRequestHeader`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullRequest {
    pub consumer_group: String,
    pub topic: String,
    pub queue_id: i32,
    pub queue_offset: i64,
    pub max_msg_nums: i32,
    pub sys_flag: i32,
    #[serde(default)]
    pub commit_offset: i64,
    #[serde(default)]
    pub suspend_timeout_millis: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
    #[serde(default)]
    pub sub_version: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_msg_bytes: Option<i32>,
}

/// PULL response (`PullMessageResponseHeader`): all four offsets are required by clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullResponse {
    pub suggest_which_broker_id: i64,
    pub next_begin_offset: i64,
    pub min_offset: i64,
    pub max_offset: i64,
}

/// A topic and queue (GET_MAX_OFFSET, GET_MIN_OFFSET, GET_EARLIEST_MSG_STORETIME).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicQueue {
    pub topic: String,
    pub queue_id: i32,
}

/// SEARCH_OFFSET_BY_TIMESTAMP request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchOffsetRequest {
    pub topic: String,
    pub queue_id: i32,
    pub timestamp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boundary_type: Option<String>,
}

/// Responses that carry one offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetResponse {
    pub offset: i64,
}

/// GET_EARLIEST_MSG_STORETIME response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimestampResponse {
    pub timestamp: i64,
}

/// QUERY_CONSUMER_OFFSET request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryConsumerOffsetRequest {
    pub consumer_group: String,
    pub topic: String,
    pub queue_id: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_zero_if_not_found: Option<bool>,
}

/// UPDATE_CONSUMER_OFFSET request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateConsumerOffsetRequest {
    pub consumer_group: String,
    pub topic: String,
    pub queue_id: i32,
    pub commit_offset: i64,
}

/// GET_CONSUMER_RUNNING_INFO request (broker or admin to a consumer client).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerRunningInfoRequest {
    pub consumer_group: String,
    pub client_id: String,
    #[serde(default)]
    pub jstack_enable: bool,
}

/// GET_CONSUMER_LIST_BY_GROUP request, and NOTIFY_CONSUMER_IDS_CHANGED.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerGroupRequest {
    pub consumer_group: String,
}

/// END_TRANSACTION request (`EndTransactionRequestHeader`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndTransactionRequest {
    pub producer_group: String,
    pub tran_state_table_offset: i64,
    pub commit_log_offset: i64,
    /// `sysFlag`'s transaction bits: 8 commit, 12 rollback, 0 unknown.
    pub commit_or_rollback: i32,
    #[serde(default)]
    pub from_transaction_check: bool,
    #[serde(default)]
    pub msg_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
}

/// CHECK_TRANSACTION_STATE request, broker to producer (`CheckTransactionStateRequestHeader`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckTransactionStateRequest {
    /// 5.x: the real topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    pub tran_state_table_offset: i64,
    pub commit_log_offset: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_msg_id: Option<String>,
    /// 5.x: the broker's name.
    #[serde(default, rename = "bname", skip_serializing_if = "Option::is_none")]
    pub broker_name: Option<String>,
}

/// DELETE_SUBSCRIPTIONGROUP request (`DeleteSubscriptionGroupRequestHeader`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteSubscriptionGroupRequest {
    pub group_name: String,
    /// 5.x: also remove the group's consumer offsets.
    #[serde(default)]
    pub clean_offset: bool,
}

/// UNREGISTER_CLIENT request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnregisterClientRequest {
    #[serde(rename = "clientID")]
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_group: Option<String>,
}

/// UPDATE_AND_CREATE_TOPIC request (`CreateTopicRequestHeader`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateTopicRequest {
    pub topic: String,
    #[serde(default)]
    pub default_topic: String,
    pub read_queue_nums: i32,
    pub write_queue_nums: i32,
    pub perm: i32,
    #[serde(default)]
    pub topic_filter_type: Option<String>,
    #[serde(default)]
    pub topic_sys_flag: Option<i32>,
    #[serde(default)]
    pub order: bool,
}

/// DELETE_TOPIC_IN_BROKER request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRequest {
    pub topic: String,
}

/// QUERY_MESSAGE request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryMessageRequest {
    pub topic: String,
    pub key: String,
    pub max_num: i32,
    pub begin_timestamp: i64,
    pub end_timestamp: i64,
}

/// QUERY_MESSAGE response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryMessageResponse {
    pub index_last_update_timestamp: i64,
    pub index_last_update_phyoffset: i64,
}

/// VIEW_MESSAGE_BY_ID request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewMessageRequest {
    pub offset: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(pairs: &[(&str, &str)]) -> ExtFields {
        pairs.iter().copied().collect()
    }

    #[test]
    fn send_headers_are_read_in_both_spellings() {
        let v2 = SendRequest::from_ext(&ext(&[
            ("a", "pg"),
            ("b", "T"),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", "2"),
            ("f", "0"),
            ("g", "1700000000000"),
            ("h", "0"),
            ("i", "TAGS\u{1}A\u{2}"),
            ("m", "true"),
        ]))
        .unwrap();
        let v1 = SendRequest::from_ext(&ext(&[
            ("producerGroup", "pg"),
            ("topic", "T"),
            ("defaultTopic", "TBW102"),
            ("defaultTopicQueueNums", "4"),
            ("queueId", "2"),
            ("sysFlag", "0"),
            ("bornTimestamp", "1700000000000"),
            ("flag", "0"),
            ("properties", "TAGS\u{1}A\u{2}"),
            ("batch", "true"),
        ]))
        .unwrap();
        assert_eq!(v1, v2);
        assert!(v2.batch);
        assert_eq!(v2.queue_id, 2);
        let missing = SendRequest::from_ext(&ext(&[("b", "T"), ("e", "1")])).unwrap_err();
        assert_eq!(
            missing,
            HeaderError::Field("missing field `a` (producerGroup)".into())
        );
        let bad = SendRequest::from_ext(&ext(&[("a", "g"), ("b", "T"), ("e", "x")])).unwrap_err();
        assert!(bad.to_string().contains("queueId"));
    }
}
