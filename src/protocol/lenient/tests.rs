//! The conversions, the Go client's heartbeat, and a property test of retyped bodies.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use crate::protocol::body::client::{
    ConsumerData, HeartbeatData, LockBatchRequest, MessageQueue, ProducerData, SubscriptionData,
};
use crate::protocol::fastjson::from_slice;

#[test]
fn reads_the_go_clients_heartbeat() {
    // As rocketmq-client-go v2 writes it: its sets' items as strings, the code set too.
    let go = br#"{"clientID":"127.0.0.1@4242#13455","producerDataSet":[],"consumerDataSet":[{"groupName":"g","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","subscriptionDataSet":[{"classFilterMode":false,"topic":"T","subString":"TagA || TagB","tagsSet":["TagA","TagB"],"codeSet":["2598919","2598920"],"subVersion":1764756000000000000,"expressionType":"TAG"}],"unitMode":false}]}"#;
    let hb: HeartbeatData = from_slice(go).unwrap();
    let sub = &hb.consumer_data_set[0].subscription_data_set[0];
    assert_eq!(sub.code_set, BTreeSet::from([2598919, 2598920]));
    assert_eq!(sub.tags_set.len(), 2);
    assert_eq!(hb.consumer_data_set[0].group_name, "g");
    // Strictly typed serde refuses it: the lenient pass is what reads it.
    assert!(serde_json::from_slice::<HeartbeatData>(go).is_err());
}

#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Sample {
    count: i32,
    offset: i64,
    small: u8,
    ratio: f64,
    enabled: bool,
    name: String,
    maybe: Option<i64>,
    codes: Vec<i32>,
    table: BTreeMap<i32, String>,
    kind: Kind,
    nested: Option<Box<Sample>>,
}

#[derive(Debug, Default, PartialEq, Deserialize)]
enum Kind {
    #[default]
    Tag,
    Sql92,
}

fn read(json: &str) -> Sample {
    from_slice(json.as_bytes()).unwrap_or_else(|e| panic!("{json}: {e}"))
}

#[test]
fn converts_as_fastjson_does() {
    let s = read(
        r#"{"count":"1,024","offset":"-7.000","small":true,"ratio":"2.5","enabled":"Y",
            "name":12,"maybe":"5","codes":["3",4,null,"-1"],"table":{"0":"a",1:2},
            "kind":1,"nested":{"count":2.9,"enabled":1,"name":{"a":[1,true]}},"unknown":[{}]}"#,
    );
    assert_eq!(s.count, 1024);
    assert_eq!(s.offset, -7);
    assert_eq!(s.small, 1);
    assert_eq!(s.ratio, 2.5);
    assert!(s.enabled);
    assert_eq!(s.name, "12");
    assert_eq!(s.maybe, Some(5));
    assert_eq!(s.codes, vec![3, 4, 0, -1]);
    assert_eq!(s.table[&0], "a");
    assert_eq!(s.table[&1], "2");
    assert_eq!(s.kind, Kind::Sql92);
    let nested = s.nested.unwrap();
    assert_eq!(nested.count, 2);
    assert!(nested.enabled);
    assert_eq!(nested.name, r#"{"a":[1,true]}"#);
}

#[test]
fn nulls_and_blanks_are_defaults() {
    let s = read(
        r#"{"count":null,"offset":"","small":"null","ratio":null,"enabled":"","name":null,
            "maybe":null,"codes":null,"table":"","kind":"Tag","nested":null}"#,
    );
    assert_eq!(s, Sample::default());
    assert_eq!(read("{}"), Sample::default());
    for (text, want) in [
        ("\"false\"", false),
        ("\"TRUE\"", true),
        ("0", false),
        ("2", false),
    ] {
        assert_eq!(
            read(&format!(r#"{{"enabled":{text}}}"#)).enabled,
            want,
            "{text}"
        );
    }
}

#[test]
fn what_cannot_be_converted_is_an_error() {
    for bad in [
        r#"{"count":"twelve"}"#,
        r#"{"count":"1.5"}"#,
        r#"{"small":300}"#,
        r#"{"small":-1}"#,
        r#"{"enabled":"maybe"}"#,
        r#"{"codes":7}"#,
        r#"{"codes":{"a":1}}"#,
        r#"{"table":{"x":"y"}}"#,
        r#"{"kind":"Neither"}"#,
        r#"{"kind":5}"#,
        r#"{"nested":3}"#,
        r#"{"count":[1]}"#,
    ] {
        let err = from_slice::<Sample>(bad.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("invalid") || err.contains("unknown variant"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn fastjson_keys_and_conversions_together() {
    // Unquoted keys (fastjson's writing) and mistyped values in one body.
    let lock: LockBatchRequest = from_slice(
        br#"{"consumerGroup":"g","clientId":7,"onlyThisBroker":"true","mqSet":[{"brokerName":"b","queueId":"3","topic":"T"}]}"#,
    )
    .unwrap();
    assert_eq!(lock.client_id, "7");
    assert!(lock.only_this_broker);
    assert_eq!(
        lock.mq_set.into_iter().next().unwrap(),
        MessageQueue {
            broker_name: "b".into(),
            queue_id: 3,
            topic: "T".into()
        }
    );
    let table: BTreeMap<String, BTreeMap<i32, i64>> =
        from_slice(br#"{"T@g":{0:"12",1:null}}"#).unwrap();
    assert_eq!(table["T@g"], BTreeMap::from([(0, 12)]));
}

// The property: whatever fastjson-compatible retyping a writer applies to a body (numbers
// as strings, booleans as strings or 0/1, default members left out or null, unknown
// members added), the body reads back as the same value.

fn subscription() -> impl Strategy<Value = SubscriptionData> {
    (
        any::<bool>(),
        "[A-Za-z%_]{1,12}",
        "[A-Za-z |*]{0,16}",
        proptest::collection::btree_set("[A-Za-z0-9]{1,6}", 0..4),
        proptest::collection::btree_set(any::<i32>(), 0..4),
        any::<i64>(),
        proptest::option::of(prop_oneof![Just("TAG".to_string()), Just("SQL92".into())]),
    )
        .prop_map(
            |(cfm, topic, sub, tags, codes, version, kind)| SubscriptionData {
                class_filter_mode: cfm,
                topic,
                sub_string: sub,
                tags_set: tags,
                code_set: codes,
                sub_version: version,
                expression_type: kind,
            },
        )
}

fn heartbeat() -> impl Strategy<Value = HeartbeatData> {
    let consumer = (
        "[A-Za-z0-9_]{0,10}",
        "[A-Z_]{0,18}",
        any::<bool>(),
        proptest::collection::vec(subscription(), 0..3),
    )
        .prop_map(|(group, ctype, unit, subs)| ConsumerData {
            group_name: group,
            consume_type: ctype.clone(),
            message_model: "CLUSTERING".into(),
            consume_from_where: ctype,
            subscription_data_set: subs,
            unit_mode: unit,
        });
    (
        "[0-9.@#A-Za-z]{0,24}",
        proptest::collection::vec("[A-Z_]{1,8}", 0..3),
        proptest::collection::vec(consumer, 0..3),
        proptest::option::of(any::<i64>()),
        any::<bool>(),
    )
        .prop_map(
            |(id, producers, consumers, fingerprint, without)| HeartbeatData {
                client_id: id,
                producer_data_set: producers
                    .into_iter()
                    .map(|group_name| ProducerData { group_name })
                    .collect(),
                consumer_data_set: consumers,
                heartbeat_fingerprint: fingerprint,
                without_sub: without,
            },
        )
}

/// A small deterministic generator for the retyping choices.
struct Choices(u64);

impl Choices {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn is_default(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_i64() == Some(0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(_) => false,
    }
}

fn retype(v: &mut serde_json::Value, c: &mut Choices) {
    use serde_json::Value;
    match v {
        Value::Bool(b) => {
            let b = *b;
            *v = match c.next(5) {
                0 => Value::String(if b { "true" } else { "false" }.into()),
                1 => Value::String(if b { "TRUE" } else { "False" }.into()),
                2 => Value::from(i32::from(b)),
                3 => Value::String(if b { "1" } else { "0" }.into()),
                _ => Value::Bool(b),
            }
        }
        Value::Number(n) if c.next(2) == 0 => *v = Value::String(n.to_string()),
        Value::String(s) if c.next(2) == 0 => {
            // Only where the number's text is the string again.
            if let Ok(n) = s.parse::<i64>() {
                if n.to_string() == *s {
                    *v = Value::from(n);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| retype(item, c)),
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                if is_default(&map[&key]) && c.next(3) == 0 {
                    if c.next(2) == 0 {
                        map.remove(&key);
                    } else {
                        map.insert(key, Value::Null);
                    }
                    continue;
                }
                if let Some(member) = map.get_mut(&key) {
                    retype(member, c);
                }
            }
            if c.next(4) == 0 {
                map.insert(format!("unknown{}", c.next(100)), Value::from(c.next(9)));
            }
        }
        _ => {}
    }
}

fn retyped<T: Serialize>(value: &T, seed: u64) -> Vec<u8> {
    let mut json = serde_json::to_value(value).unwrap();
    retype(&mut json, &mut Choices(seed | 1));
    serde_json::to_vec(&json).unwrap()
}

proptest! {
    #[test]
    fn a_retyped_heartbeat_reads_back_the_same(hb in heartbeat(), seed in any::<u64>()) {
        let bytes = retyped(&hb, seed);
        let read: HeartbeatData = from_slice(&bytes)
            .map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&bytes))))?;
        prop_assert_eq!(read, hb);
    }

    #[test]
    fn a_retyped_lock_request_reads_back_the_same(
        group in "[a-z]{1,8}",
        queues in proptest::collection::btree_set((any::<i32>(), "[A-Z]{1,4}"), 0..5),
        only in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let request = LockBatchRequest {
            consumer_group: group,
            client_id: "c".into(),
            only_this_broker: only,
            mq_set: queues
                .into_iter()
                .map(|(queue_id, topic)| MessageQueue { broker_name: "b".into(), queue_id, topic })
                .collect(),
        };
        let read: LockBatchRequest = from_slice(&retyped(&request, seed)).unwrap();
        prop_assert_eq!(read, request);
    }

    #[test]
    fn arbitrary_json_never_panics(text in "\\PC{0,64}") {
        let _ = from_slice::<HeartbeatData>(text.as_bytes());
        let _ = from_slice::<Sample>(text.as_bytes());
    }
}
