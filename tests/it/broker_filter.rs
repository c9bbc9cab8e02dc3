//! Filtering on the broker: an SQL92 subscriber and a tag subscriber each receive exactly
//! their messages out of 10 000 with random properties; held pulls wake only for matching
//! arrivals; SQL92 is refused while `enablePropertyFilter` is off; bad expressions get
//! SUBSCRIPTION_PARSE_FAILED.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use apogee::protocol::body::client::{ConsumerData, HeartbeatData, SubscriptionData};
use apogee::protocol::header::broker::{pull_flag, PullRequest};
use apogee::protocol::message::Record;
use apogee::protocol::{properties, RemotingCommand, RequestCode, ResponseCode};
use apogee::remoting::RemotingClient;
use apogee::store::FlushMode;

use super::broker::{send_request, start_with};
use super::store::temp_dir;
use super::support::{connect, TIMEOUT};

const SQL: &str = "a BETWEEN 3 AND 5 AND b IN ('x','y')";
const QUEUES: i32 = 4;

fn pull(
    topic: &str,
    queue_id: i32,
    offset: i64,
    kind: &str,
    expression: &str,
    suspend_ms: i64,
) -> RemotingCommand {
    RemotingCommand::request(RequestCode::PULL_MESSAGE).with_header(&PullRequest {
        consumer_group: "filtering".into(),
        topic: topic.into(),
        queue_id,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag: pull_flag::SUBSCRIPTION
            | if suspend_ms > 0 {
                pull_flag::SUSPEND
            } else {
                0
            },
        commit_offset: 0,
        suspend_timeout_millis: suspend_ms,
        subscription: Some(expression.into()),
        sub_version: 0,
        expression_type: Some(kind.into()),
        max_msg_bytes: None,
    })
}

/// A message with properties `a`, `b` and a tag.
fn send(topic: &str, queue_id: i32, id: usize, a: u32, b: &str, tag: &str) -> RemotingCommand {
    let mut cmd = send_request(topic, queue_id, &format!("m{id}"), tag);
    let props = format!(
        "{}{}",
        cmd.ext("i").unwrap(),
        properties::encode([("a", a.to_string().as_str()), ("b", b)])
    );
    cmd.ext_fields.as_mut().unwrap().insert("i", &props);
    cmd
}

/// Every body a subscriber gets from every queue, pulling to the end.
async fn drain(
    client: &RemotingClient,
    topic: &str,
    kind: &str,
    expression: &str,
) -> BTreeSet<String> {
    let mut got = BTreeSet::new();
    for queue_id in 0..QUEUES {
        let mut offset = 0;
        loop {
            let r = client
                .invoke(pull(topic, queue_id, offset, kind, expression, 0), TIMEOUT)
                .await
                .unwrap();
            match r.response_code() {
                ResponseCode::SUCCESS | ResponseCode::PULL_RETRY_IMMEDIATELY => {}
                ResponseCode::PULL_NOT_FOUND => break,
                other => panic!("pull answered {other:?} {:?}", r.remark),
            }
            let mut buf = &r.body[..];
            while !buf.is_empty() {
                let record = Record::decode(buf, true).unwrap();
                got.insert(String::from_utf8(record.body.to_vec()).unwrap());
                buf = &buf[record.size..];
            }
            offset = r.ext("nextBeginOffset").unwrap().parse().unwrap();
        }
    }
    got
}

#[actix_rt::test]
async fn sql92_and_tag_subscribers_get_exactly_their_messages() {
    let dir = temp_dir("broker-filter");
    let (_namesrv, broker) =
        start_with(&dir, FlushMode::Async, |c| c.enable_property_filter = true).await;
    let client = connect(broker.local_addr()).await;
    let mut seed = 0x1234_5678_9ABC_DEF1u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut want_sql, mut want_tags) = (BTreeSet::new(), BTreeSet::new());
    for id in 0..10_000 {
        let a = (next() % 10) as u32;
        let b = ["x", "y", "z"][(next() % 3) as usize];
        let tag = ["TagA", "TagB", "TagC"][(next() % 3) as usize];
        let r = client
            .invoke(send("Filtered", id as i32 % QUEUES, id, a, b, tag), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(r.response_code(), ResponseCode::SUCCESS);
        if (3..=5).contains(&a) && b != "z" {
            want_sql.insert(format!("m{id}"));
        }
        if tag != "TagC" {
            want_tags.insert(format!("m{id}"));
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await; // let the dispatcher catch up
    let got_sql = drain(&client, "Filtered", "SQL92", SQL).await;
    assert_eq!(got_sql.len(), want_sql.len());
    assert_eq!(got_sql, want_sql);
    let got_tags = drain(&client, "Filtered", "TAG", "TagA || TagB").await;
    assert_eq!(got_tags, want_tags);

    // The same tag subscription learned from a heartbeat (push consumers pull without it).
    let hb = HeartbeatData {
        client_id: "c1".into(),
        consumer_data_set: vec![ConsumerData {
            group_name: "filtering".into(),
            consume_type: "CONSUME_PASSIVELY".into(),
            message_model: "CLUSTERING".into(),
            subscription_data_set: vec![SubscriptionData {
                topic: "Filtered".into(),
                sub_string: "TagA||TagB".into(),
                sub_version: 1,
                ..SubscriptionData::default()
            }],
            ..ConsumerData::default()
        }],
        ..HeartbeatData::default()
    };
    let heartbeat = RemotingCommand::request(RequestCode::HEART_BEAT)
        .with_body(serde_json::to_vec(&hb).unwrap());
    client.invoke(heartbeat, TIMEOUT).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut no_sub = pull("Filtered", 0, 0, "TAG", "", 0);
    no_sub.ext_fields.as_mut().unwrap().insert("sysFlag", "0");
    let r = client.invoke(no_sub, TIMEOUT).await.unwrap();
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    let mut buf = &r.body[..];
    while !buf.is_empty() {
        let record = Record::decode(buf, true).unwrap();
        let tag = properties::get(record.properties, properties::TAGS).unwrap();
        assert_ne!(tag, "TagC");
        buf = &buf[record.size..];
    }

    // A held SQL pull ignores a non-matching arrival and wakes for a matching one.
    client
        .invoke(send("Hold", 0, 90_000, 0, "z", "t"), TIMEOUT)
        .await
        .unwrap(); // creates the topic
    tokio::time::sleep(Duration::from_millis(200)).await;
    let holder = client.clone();
    let held = tokio::spawn(async move {
        let start = Instant::now();
        let r = holder
            .invoke(
                pull("Hold", 0, 1, "SQL92", SQL, 10_000),
                Duration::from_secs(15),
            )
            .await
            .unwrap();
        (r, start.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    client
        .invoke(send("Hold", 0, 90_001, 9, "x", "t"), TIMEOUT)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !held.is_finished(),
        "woken by a message that does not match"
    );
    client
        .invoke(send("Hold", 0, 90_002, 4, "y", "t"), TIMEOUT)
        .await
        .unwrap();
    let (r, waited) = held.await.unwrap();
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    assert_eq!(Record::decode(&r.body, true).unwrap().body, b"m90002");
    assert_eq!(
        r.ext("nextBeginOffset"),
        Some("3"),
        "skipped the non-matching one"
    );
    assert!(waited < Duration::from_secs(3));

    let bad = client
        .invoke(pull("Filtered", 0, 0, "SQL92", "a BETWEEN 3", 0), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(bad.response_code(), ResponseCode::SUBSCRIPTION_PARSE_FAILED);
    assert!(bad.remark.unwrap().contains("expected"));
    broker.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[actix_rt::test]
async fn sql92_is_refused_while_property_filtering_is_off() {
    let dir = temp_dir("broker-nosql");
    let (_namesrv, broker) = start_with(&dir, FlushMode::Async, |_| {}).await;
    let client = connect(broker.local_addr()).await;
    client
        .invoke(send("T", 0, 1, 4, "x", "t"), TIMEOUT)
        .await
        .unwrap();
    let r = client
        .invoke(pull("T", 0, 0, "SQL92", SQL, 0), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(r.response_code(), ResponseCode::SYSTEM_ERROR);
    assert_eq!(
        r.remark.as_deref(),
        Some("The broker does not support consumer to filter message by SQL92")
    );
    broker.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
