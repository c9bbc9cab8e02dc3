//! Message trace records, as RocketMQ's clients write them into the trace topic
//! (`RMQ_SYS_TRACE_TOPIC` by default; Java's `TraceDataEncoder`): fields separated by
//! `\x01`, each record ended by `\x02`, several records in one message body; the trace
//! message's keys are the traced message ids and keys, so a query by key on the trace
//! topic finds a message's trace. Pure: [`encode`] and [`decode`].
//!
//! | type | fields after the type |
//! |---|---|
//! | `Pub` | timeStamp, regionId, groupName, topic, msgId, tags, keys, storeHost, bodyLength, costTime, msgType, offsetMsgId, success |
//! | `SubBefore` | timeStamp, regionId, groupName, requestId, msgId, retryTimes, keys |
//! | `SubAfter` | requestId, msgId, costTime, success, keys, contextCode, timeStamp, groupName |
//! | `EndTransaction` | timeStamp, regionId, groupName, topic, msgId, tags, keys, storeHost, msgType, transactionId, transactionState, fromTransactionCheck |
//! | `Recall` | timeStamp, regionId, groupName, topic, msgId, success |

use serde::Serialize;

pub const CONTENT_SPLITOR: char = '\u{1}';
pub const FIELD_SPLITOR: char = '\u{2}';
/// The trace topic when none is configured.
pub const DEFAULT_TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub enum TraceType {
    #[default]
    Pub,
    SubBefore,
    SubAfter,
    EndTransaction,
    Recall,
}

impl TraceType {
    pub fn name(self) -> &'static str {
        match self {
            Self::Pub => "Pub",
            Self::SubBefore => "SubBefore",
            Self::SubAfter => "SubAfter",
            Self::EndTransaction => "EndTransaction",
            Self::Recall => "Recall",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "Pub" => Self::Pub,
            "SubBefore" => Self::SubBefore,
            "SubAfter" => Self::SubAfter,
            "EndTransaction" => Self::EndTransaction,
            "Recall" => Self::Recall,
            _ => return None,
        })
    }
}

/// Java's `MessageType` ordinals in `Pub` records.
pub mod msg_type {
    pub const NORMAL: i32 = 0;
    pub const TRANS_HALF: i32 = 1;
    pub const TRANS_COMMIT: i32 = 2;
    pub const DELAY: i32 = 3;
    pub const ORDER: i32 = 4;
}

/// One trace record (a `TraceContext` with one `TraceBean`); fields a type does not
/// carry stay empty.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceRecord {
    #[serde(rename = "type")]
    pub kind: TraceType,
    pub timestamp: i64,
    pub region_id: String,
    pub group: String,
    pub topic: String,
    pub msg_id: String,
    pub offset_msg_id: String,
    pub tags: String,
    pub keys: String,
    pub store_host: String,
    pub body_length: i32,
    pub cost_time: i64,
    pub msg_type: i32,
    pub success: bool,
    pub request_id: String,
    pub retry_times: i32,
    /// `ConsumeReturnType` ordinal of a `SubAfter`: 0 success, 1 time-out, 2 exception,
    /// 3 returned null, 4 failed.
    pub context_code: i32,
    pub transaction_id: String,
    pub transaction_state: String,
    pub from_transaction_check: bool,
}

/// The fields `Pub` and `EndTransaction` begin with.
fn head(r: &TraceRecord) -> [String; 8] {
    [
        r.timestamp.to_string(),
        r.region_id.clone(),
        r.group.clone(),
        r.topic.clone(),
        r.msg_id.clone(),
        r.tags.clone(),
        r.keys.clone(),
        r.store_host.clone(),
    ]
}

/// Writes records as the Java client does (each ends with `\x02`).
pub fn encode(records: &[TraceRecord]) -> String {
    let mut out = String::new();
    for r in records {
        let fields: Vec<String> = match r.kind {
            TraceType::Pub => [
                head(r).as_slice(),
                &[
                    r.body_length.to_string(),
                    r.cost_time.to_string(),
                    r.msg_type.to_string(),
                    r.offset_msg_id.clone(),
                    r.success.to_string(),
                ],
            ]
            .concat(),
            TraceType::SubBefore => vec![
                r.timestamp.to_string(),
                r.region_id.clone(),
                r.group.clone(),
                r.request_id.clone(),
                r.msg_id.clone(),
                r.retry_times.to_string(),
                r.keys.clone(),
            ],
            TraceType::SubAfter => vec![
                r.request_id.clone(),
                r.msg_id.clone(),
                r.cost_time.to_string(),
                r.success.to_string(),
                r.keys.clone(),
                r.context_code.to_string(),
                r.timestamp.to_string(),
                r.group.clone(),
            ],
            TraceType::EndTransaction => [
                head(r).as_slice(),
                &[
                    r.msg_type.to_string(),
                    r.transaction_id.clone(),
                    r.transaction_state.clone(),
                    r.from_transaction_check.to_string(),
                ],
            ]
            .concat(),
            TraceType::Recall => vec![
                r.timestamp.to_string(),
                r.region_id.clone(),
                r.group.clone(),
                r.topic.clone(),
                r.msg_id.clone(),
                r.success.to_string(),
            ],
        };
        out.push_str(r.kind.name());
        for field in fields {
            out.push(CONTENT_SPLITOR);
            out.push_str(&field);
        }
        out.push(FIELD_SPLITOR);
    }
    out
}

/// Reads the records of a trace message body, as Java's `decoderFromTraceDataString`
/// (records of unknown types and records too short for their type are skipped).
pub fn decode(body: &str) -> Vec<TraceRecord> {
    let mut records = Vec::new();
    for record in body.split(FIELD_SPLITOR) {
        let mut f: Vec<&str> = record.split(CONTENT_SPLITOR).collect();
        // Java's String.split drops trailing empty fields.
        while f.last() == Some(&"") {
            f.pop();
        }
        let Some(kind) = f.first().and_then(|t| TraceType::parse(t.trim_start())) else {
            continue;
        };
        let s = |i: usize| f.get(i).map_or(String::new(), |v| (*v).to_owned());
        let n = |i: usize| f.get(i).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        let b = |i: usize| f.get(i).is_some_and(|v| *v == "true");
        let read_head = |r: &mut TraceRecord| {
            r.timestamp = n(1);
            r.region_id = s(2);
            r.group = s(3);
            r.topic = s(4);
            r.msg_id = s(5);
            r.tags = s(6);
            r.keys = s(7);
            r.store_host = s(8);
        };
        // Records without a success field are successes (Java's TraceContext default).
        let mut r = TraceRecord {
            kind,
            success: true,
            ..TraceRecord::default()
        };
        match kind {
            TraceType::Pub if f.len() >= 13 => {
                read_head(&mut r);
                r.body_length = n(9) as i32;
                r.cost_time = n(10);
                r.msg_type = n(11) as i32;
                if f.len() == 13 {
                    r.success = b(12);
                } else {
                    r.offset_msg_id = s(12);
                    r.success = b(13);
                }
            }
            TraceType::SubBefore if f.len() >= 7 => {
                r.timestamp = n(1);
                r.region_id = s(2);
                r.group = s(3);
                r.request_id = s(4);
                r.msg_id = s(5);
                r.retry_times = n(6) as i32;
                r.keys = s(7);
            }
            TraceType::SubAfter if f.len() >= 5 => {
                r.request_id = s(1);
                r.msg_id = s(2);
                r.cost_time = n(3);
                r.success = b(4);
                r.keys = s(5);
                r.context_code = n(6) as i32;
                r.timestamp = n(7);
                r.group = s(8);
            }
            TraceType::EndTransaction if f.len() >= 12 => {
                read_head(&mut r);
                r.msg_type = n(9) as i32;
                r.transaction_id = s(10);
                r.transaction_state = s(11);
                r.from_transaction_check = b(12);
            }
            TraceType::Recall if f.len() >= 6 => {
                r.timestamp = n(1);
                r.region_id = s(2);
                r.group = s(3);
                r.topic = s(4);
                r.msg_id = s(5);
                r.success = b(6);
            }
            _ => continue,
        }
        records.push(r);
    }
    records
}

/// The keys of a trace message carrying `records`: their message ids and keys
/// (space-separated, as Java's `TraceTransferBean.transKey`).
pub fn keys_of(records: &[TraceRecord]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for r in records {
        let ids = std::iter::once(r.msg_id.as_str()).chain(r.keys.split(' '));
        for key in ids.filter(|k| !k.is_empty()) {
            if !keys.iter().any(|k| k == key) {
                keys.push(key.to_owned());
            }
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body the Java client 4.9.8 writes: a Pub, then (another message) a SubBefore and
    /// a SubAfter, as its TraceDataEncoder lays them out.
    const JAVA_BODY: &str = "Pub\u{1}1700000000000\u{1}DefaultRegion\u{1}PG\u{1}T\u{1}7F0000010001\u{1}TagA\u{1}k1 k2\u{1}127.0.0.1:10911\u{1}5\u{1}3\u{1}0\u{1}7F00000100002A9F0000000000000000\u{1}true\u{2}SubBefore\u{1}1700000000100\u{1}DefaultRegion\u{1}CG\u{1}REQ1\u{1}7F0000010001\u{1}0\u{1}k1 k2\u{2}SubAfter\u{1}REQ1\u{1}7F0000010001\u{1}12\u{1}true\u{1}k1 k2\u{1}0\u{1}1700000000112\u{1}CG\u{2}";

    #[test]
    fn java_records_decode_and_encode_back() {
        let records = decode(JAVA_BODY);
        assert_eq!(records.len(), 3);
        let publish = &records[0];
        assert_eq!(publish.kind, TraceType::Pub);
        assert_eq!(publish.group, "PG");
        assert_eq!(publish.store_host, "127.0.0.1:10911");
        assert_eq!(publish.body_length, 5);
        assert_eq!(publish.cost_time, 3);
        assert_eq!(publish.offset_msg_id, "7F00000100002A9F0000000000000000");
        assert!(publish.success);
        let after = &records[2];
        assert_eq!(after.kind, TraceType::SubAfter);
        assert_eq!(
            (after.group.as_str(), after.cost_time, after.timestamp),
            ("CG", 12, 1_700_000_000_112)
        );
        assert_eq!(records[1].request_id, after.request_id);
        assert!(
            records[1].success,
            "a SubBefore carries no status: a success, as in Java"
        );
        assert_eq!(encode(&records), JAVA_BODY);
        assert_eq!(keys_of(&records), ["7F0000010001", "k1", "k2"]);
    }

    #[test]
    fn short_old_and_unknown_records_decode_as_java_does() {
        // A 13-field Pub (no offsetMsgId); a cloud SubAfter of 4.9.8 (7 fields, no
        // terminator) followed by nothing; an unknown type; a truncated Pub.
        let body = "Pub\u{1}1\u{1}R\u{1}G\u{1}T\u{1}ID\u{1}\u{1}\u{1}h\u{1}1\u{1}2\u{1}0\u{1}false\u{2}Odd\u{1}x\u{2}Pub\u{1}1\u{2}SubAfter\u{1}Q\u{1}ID\u{1}4\u{1}false\u{1}\u{1}4\u{1}";
        let records = decode(body);
        assert_eq!(records.len(), 2, "{records:?}");
        assert!(!records[0].success);
        assert_eq!(records[0].offset_msg_id, "");
        assert_eq!(
            (records[1].kind, records[1].context_code),
            (TraceType::SubAfter, 4)
        );
        assert_eq!(records[1].group, "");
        assert!(decode("").is_empty());
    }
}
