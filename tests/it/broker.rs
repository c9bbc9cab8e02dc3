//! The broker in process, driven by raw remoting requests: send, pull, long polling,
//! offsets, heartbeats and NOTIFY_CONSUMER_IDS_CHANGED, bad input.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use apogee::broker::{self, Broker, BrokerConfig};
use apogee::namesrv::{self, NameServer, NamesrvConfig};
use apogee::protocol::body::client::{ConsumerData, HeartbeatData, SubscriptionData};
use apogee::protocol::header::broker::*;
use apogee::protocol::message::{self, Record};
use apogee::protocol::{properties, ExtFields, RemotingCommand, RequestCode, ResponseCode};
use apogee::remoting::RemotingClient;
use apogee::store::FlushMode;

use super::store::temp_dir;
use super::support::{connect, route_request, TIMEOUT};

pub async fn start_standalone(dir: &Path, flush: FlushMode) -> (NameServer, Broker) {
    start_with(dir, flush, |_| {}).await
}

pub async fn start_with(
    dir: &Path,
    flush: FlushMode,
    tune: impl FnOnce(&mut BrokerConfig),
) -> (NameServer, Broker) {
    let namesrv = namesrv::start(NamesrvConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..NamesrvConfig::default()
    })
    .await
    .unwrap();
    let mut config = BrokerConfig::new(dir);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.namesrv_addrs = vec![namesrv.local_addr()];
    config.store.commit_log_file_size = 64 << 20;
    config.store.flush.mode = flush;
    tune(&mut config);
    let broker = broker::start(config).await.unwrap();
    (namesrv, broker)
}

/// UPDATE_CONSUMER_OFFSET of `group` for one queue.
pub fn commit_request(group: &str, topic: &str, queue_id: i32, offset: i64) -> RemotingCommand {
    RemotingCommand::request(RequestCode::UPDATE_CONSUMER_OFFSET).with_header(
        &UpdateConsumerOffsetRequest {
            consumer_group: group.into(),
            topic: topic.into(),
            queue_id,
            commit_offset: offset,
        },
    )
}

pub fn send_request(topic: &str, queue_id: i32, body: &str, tags: &str) -> RemotingCommand {
    let props = properties::encode([
        (properties::TAGS, tags),
        (
            properties::UNIQ_KEY,
            &format!("UNIQ-{}", &body[..body.len().min(16)]),
        ),
        (properties::WAIT_STORE_MSG_OK, "true"),
    ]);
    let ext: ExtFields = [
        ("a", "pg"),
        ("b", topic),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", &queue_id.to_string()),
        ("f", "0"),
        ("g", "1700000000000"),
        ("h", "0"),
        ("i", &props),
        ("j", "0"),
        ("k", "false"),
        ("m", "false"),
    ]
    .into_iter()
    .collect();
    let mut cmd =
        RemotingCommand::request(RequestCode::SEND_MESSAGE_V2).with_body(body.as_bytes().to_vec());
    cmd.ext_fields = Some(ext);
    cmd
}

fn pull_request(
    group: &str,
    topic: &str,
    queue: i32,
    offset: i64,
    suspend_ms: i64,
) -> RemotingCommand {
    RemotingCommand::request(RequestCode::PULL_MESSAGE).with_header(&PullRequest {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id: queue,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag: pull_flag::SUSPEND | pull_flag::SUBSCRIPTION,
        commit_offset: 0,
        suspend_timeout_millis: suspend_ms,
        subscription: Some("*".into()),
        sub_version: 0,
        expression_type: Some("TAG".into()),
        max_msg_bytes: None,
    })
}

fn heartbeat(client: &str, group: &str, topic: &str) -> RemotingCommand {
    let data = HeartbeatData {
        client_id: client.into(),
        consumer_data_set: vec![ConsumerData {
            group_name: group.into(),
            consume_type: "CONSUME_PASSIVELY".into(),
            message_model: "CLUSTERING".into(),
            consume_from_where: "CONSUME_FROM_FIRST_OFFSET".into(),
            subscription_data_set: vec![SubscriptionData {
                topic: topic.into(),
                sub_string: "*".into(),
                sub_version: 1,
                expression_type: Some("TAG".into()),
                ..SubscriptionData::default()
            }],
            unit_mode: false,
        }],
        ..HeartbeatData::default()
    };
    RemotingCommand::request(RequestCode::HEART_BEAT).with_body(serde_json::to_vec(&data).unwrap())
}

/// The bodies of the records in a pull response.
fn bodies(response: &RemotingCommand) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = &response.body[..];
    while !buf.is_empty() {
        let record = Record::decode(buf, true).unwrap();
        out.push(String::from_utf8(record.body.to_vec()).unwrap());
        buf = &buf[record.size..];
    }
    out
}

/// A response with only what does not depend on ports or timing.
fn stable(response: &RemotingCommand) -> serde_json::Value {
    let ext: Vec<(String, String)> = response
        .ext_fields
        .iter()
        .flat_map(|e| e.iter())
        .filter(|(k, _)| *k != "msgId")
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    serde_json::json!({ "code": response.response_code().name(), "ext": ext, "remark": response.remark })
}

/// Waits (at most 5 s) until the queue's max offset (GET_MAX_OFFSET) is `offset`.
async fn wait_for_max_offset(
    client: &RemotingClient,
    topic: &str,
    queue_id: i32,
    offset: i64,
    what: &str,
) {
    let start = Instant::now();
    let want = offset.to_string();
    loop {
        let max = client
            .invoke(
                RemotingCommand::request(RequestCode::GET_MAX_OFFSET).with_header(&TopicQueue {
                    topic: topic.into(),
                    queue_id,
                }),
                TIMEOUT,
            )
            .await
            .unwrap();
        if max.ext("offset") == Some(want.as_str()) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{what}: max offset {:?}",
            max.ext("offset")
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn wait_for_route(client: &RemotingClient, topic: &str) {
    let start = Instant::now();
    loop {
        let r = client.invoke(route_request(topic), TIMEOUT).await.unwrap();
        if r.response_code() == ResponseCode::SUCCESS {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no route for {topic}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_rt::test]
async fn send_reput_wakes_a_held_pull_and_members_are_notified() {
    let dir = temp_dir("broker-flow");
    let (namesrv, broker) = start_standalone(&dir, FlushMode::Async).await;
    let mut steps = Vec::new();
    let ns = connect(namesrv.local_addr()).await;
    wait_for_route(&ns, "TBW102").await;

    let producer = connect(broker.local_addr()).await;
    let sent = producer
        .invoke(send_request("TopicTest", 0, "hello-0", "TagA"), TIMEOUT)
        .await
        .unwrap();
    steps.push(("send to a new topic (auto-created)", stable(&sent)));
    let msg_id = sent.ext("msgId").unwrap();
    assert_eq!(
        msg_id,
        message::offset_msg_id(broker.advertised, 0),
        "offset msg id names the advertised address"
    );
    wait_for_route(&ns, "TopicTest").await;

    let consumer = connect(broker.local_addr()).await;
    let first = consumer
        .invoke(pull_request("g1", "TopicTest", 0, 0, 5000), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(bodies(&first), vec!["hello-0"]);
    steps.push(("pull from 0", stable(&first)));

    // A pull at the end is held until the next send arrives.
    let held = {
        let consumer = consumer.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            let r = consumer
                .invoke(pull_request("g1", "TopicTest", 0, 1, 10_000), TIMEOUT)
                .await
                .unwrap();
            (r, start.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = producer
        .invoke(send_request("TopicTest", 0, "hello-1", "TagB"), TIMEOUT)
        .await
        .unwrap();
    steps.push(("second send", stable(&second)));
    let (woken, waited) = held.await.unwrap();
    assert!(
        waited >= Duration::from_millis(250),
        "answered before the send: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(3),
        "not woken by the arrival: {waited:?}"
    );
    assert_eq!(bodies(&woken), vec!["hello-1"]);
    steps.push(("the held pull wakes with the new message", stable(&woken)));

    // An empty pull without suspension is answered at once.
    let mut no_suspend = pull_request("g1", "TopicTest", 0, 2, 0);
    no_suspend
        .ext_fields
        .as_mut()
        .unwrap()
        .insert("sysFlag", &pull_flag::SUBSCRIPTION.to_string());
    steps.push((
        "pull at the end, no suspend",
        stable(&consumer.invoke(no_suspend, TIMEOUT).await.unwrap()),
    ));
    steps.push((
        "pull past the end",
        stable(
            &consumer
                .invoke(pull_request("g1", "TopicTest", 0, 9, 0), TIMEOUT)
                .await
                .unwrap(),
        ),
    ));

    // Membership: a second consumer joins; the first is told.
    let (member_a, mut inbound_a) = RemotingClient::connect_with_inbound(broker.local_addr())
        .await
        .unwrap();
    let hb = member_a
        .invoke(heartbeat("client-a", "g1", "TopicTest"), TIMEOUT)
        .await
        .unwrap();
    steps.push(("client-a heartbeat", stable(&hb)));
    let _ = inbound_a.recv().await; // its own joining
    let member_b = connect(broker.local_addr()).await;
    member_b
        .invoke(heartbeat("client-b", "g1", "TopicTest"), TIMEOUT)
        .await
        .unwrap();
    let notify = tokio::time::timeout(Duration::from_secs(2), inbound_a.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(notify.is_oneway());
    steps.push((
        "client-b joins: client-a gets NOTIFY_CONSUMER_IDS_CHANGED",
        serde_json::json!({ "code": notify.request_code().name(), "ext": notify.ext_fields }),
    ));
    let list = member_a
        .invoke(
            RemotingCommand::request(RequestCode::GET_CONSUMER_LIST_BY_GROUP).with_header(
                &ConsumerGroupRequest {
                    consumer_group: "g1".into(),
                },
            ),
            TIMEOUT,
        )
        .await
        .unwrap();
    steps.push(("consumer list", serde_json::from_slice(&list.body).unwrap()));
    wait_for_route(&ns, "%RETRY%g1").await;

    // Offsets: a new group starts at 0 while the first message is still here; commits stick.
    let query = |group: &str| {
        RemotingCommand::request(RequestCode::QUERY_CONSUMER_OFFSET).with_header(
            &QueryConsumerOffsetRequest {
                consumer_group: group.into(),
                topic: "TopicTest".into(),
                queue_id: 0,
                set_zero_if_not_found: None,
            },
        )
    };
    steps.push((
        "query offset of a new group",
        stable(&consumer.invoke(query("g1"), TIMEOUT).await.unwrap()),
    ));
    consumer
        .invoke_oneway(commit_request("g1", "TopicTest", 0, 2))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    steps.push((
        "query after a oneway commit",
        stable(&consumer.invoke(query("g1"), TIMEOUT).await.unwrap()),
    ));
    let max = consumer
        .invoke(
            RemotingCommand::request(RequestCode::GET_MAX_OFFSET).with_header(&TopicQueue {
                topic: "TopicTest".into(),
                queue_id: 0,
            }),
            TIMEOUT,
        )
        .await
        .unwrap();
    steps.push(("max offset", stable(&max)));

    insta::assert_json_snapshot!(steps);
    broker.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[actix_rt::test]
async fn bad_sends_get_error_codes_and_others_keep_working() {
    let dir = temp_dir("broker-bad");
    let (_namesrv, broker) = start_standalone(&dir, FlushMode::Sync).await;
    let client = connect(broker.local_addr()).await;
    let mut cases = Vec::new();
    let mut check =
        |what: &str, response: RemotingCommand| cases.push((what.to_owned(), stable(&response)));
    check(
        "illegal topic name",
        client
            .invoke(send_request("bad topic!", 0, "x", "t"), TIMEOUT)
            .await
            .unwrap(),
    );
    check(
        "system topic",
        client
            .invoke(send_request("SCHEDULE_TOPIC_XXXX", 0, "x", "t"), TIMEOUT)
            .await
            .unwrap(),
    );
    check(
        "queue id out of range",
        client
            .invoke(send_request("T1", 99, "x", "t"), TIMEOUT)
            .await
            .unwrap(),
    );
    let big = "x".repeat(4 * 1024 * 1024 + 1);
    check(
        "body over maxMessageSize",
        client
            .invoke(send_request("T1", 0, &big, "t"), TIMEOUT)
            .await
            .unwrap(),
    );
    let mut no_topic = send_request("T1", 0, "x", "t");
    no_topic.ext_fields.as_mut().unwrap().remove("b");
    check(
        "header without topic",
        client.invoke(no_topic, TIMEOUT).await.unwrap(),
    );
    check(
        "unknown request code",
        client
            .invoke(
                RemotingCommand::request(RequestCode::Unknown(7777)),
                TIMEOUT,
            )
            .await
            .unwrap(),
    );
    check(
        "pull of an unknown topic",
        client
            .invoke(pull_request("g", "Nope", 0, 0, 0), TIMEOUT)
            .await
            .unwrap(),
    );
    // The same connection still sends fine, durably (SYNC_FLUSH).
    let ok = client
        .invoke(send_request("T1", 0, "fine", "t"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(ok.response_code(), ResponseCode::SUCCESS);
    assert!(broker.store.commit_log().flushed() > 0);
    insta::assert_json_snapshot!(cases);
    broker.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[actix_rt::test]
async fn a_broker_restart_keeps_messages_and_offsets() {
    let dir = temp_dir("broker-restart");
    let addr: SocketAddr;
    {
        let (_namesrv, broker) = start_standalone(&dir, FlushMode::Async).await;
        addr = broker.local_addr();
        let client = connect(addr).await;
        for i in 0..10 {
            let r = client
                .invoke(send_request("Keep", 1, &format!("m{i}"), "t"), TIMEOUT)
                .await
                .unwrap();
            assert_eq!(r.response_code(), ResponseCode::SUCCESS);
        }
        client
            .invoke(commit_request("g", "Keep", 1, 7), TIMEOUT)
            .await
            .unwrap();
        broker.shutdown().await.unwrap();
    }
    let (_namesrv, broker) = start_standalone(&dir, FlushMode::Async).await;
    let client = connect(broker.local_addr()).await;
    let q = client
        .invoke(
            RemotingCommand::request(RequestCode::QUERY_CONSUMER_OFFSET).with_header(
                &QueryConsumerOffsetRequest {
                    consumer_group: "g".into(),
                    topic: "Keep".into(),
                    queue_id: 1,
                    set_zero_if_not_found: None,
                },
            ),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(q.ext("offset"), Some("7"));
    let pulled = client
        .invoke(pull_request("g", "Keep", 1, 7, 0), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(bodies(&pulled), vec!["m7", "m8", "m9"]);
    broker.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Shutdown writes what the config files' writers still hold (an offset committed just
/// before it, well inside the 5 s persist interval) and, once it returns, nothing of the
/// broker writes there any more, neither a commit on a connection still open nor its actor
/// system stopping: a directory removed after it stays removed.
#[test]
fn shutdown_writes_the_config_files_last() {
    let dir = temp_dir("broker-shutdown-files");
    let system = actix_rt::System::new();
    system.block_on(async {
        let (_namesrv, broker) = start_standalone(&dir, FlushMode::Async).await;
        let client = connect(broker.local_addr()).await;
        let r = client
            .invoke(send_request("Last", 0, "m", "t"), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(r.response_code(), ResponseCode::SUCCESS);
        for offset in [3, 5] {
            let r = client
                .invoke(commit_request("g", "Last", 0, offset), TIMEOUT)
                .await
                .unwrap();
            assert_eq!(r.response_code(), ResponseCode::SUCCESS);
        }
        broker.shutdown().await.unwrap();
        // The open connection is still served; its commit is not written any more.
        let late = client
            .invoke(commit_request("g", "Last", 0, 9), TIMEOUT)
            .await;
        assert!(late.is_ok(), "{late:?}");
        let offsets: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.join("config").join("consumerOffset.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(offsets["offsetTable"]["Last@g"]["0"], 5, "{offsets}");
        let topics = std::fs::read_to_string(dir.join("config").join("topics.json")).unwrap();
        assert!(topics.contains("\"Last\""), "{topics}");
        std::fs::remove_dir_all(&dir).unwrap();
        // Past the offsets' 5 s persist interval.
        tokio::time::sleep(Duration::from_millis(5500)).await;
        actix::System::current().stop();
    });
    system.run().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !dir.exists(),
        "something wrote into the data directory after shutdown"
    );
}

#[actix_rt::test]
async fn orderly_consumers_lock_queues_exclusively() {
    use apogee::protocol::body::client::{LockBatchRequest, LockBatchResponse, MessageQueue};
    let dir = temp_dir("broker-locks");
    let (_namesrv, broker) = start_standalone(&dir, FlushMode::Async).await;
    let client = connect(broker.local_addr()).await;
    let mqs: std::collections::BTreeSet<MessageQueue> = (0..2)
        .map(|queue_id| MessageQueue {
            broker_name: "broker-a".into(),
            queue_id,
            topic: "Ordered".into(),
        })
        .collect();
    let lock = |client_id: &str, set: std::collections::BTreeSet<MessageQueue>| {
        let body = LockBatchRequest {
            consumer_group: "og".into(),
            client_id: client_id.into(),
            only_this_broker: false,
            mq_set: set,
        };
        RemotingCommand::request(RequestCode::LOCK_BATCH_MQ)
            .with_body(serde_json::to_vec(&body).unwrap())
    };
    let locked = |r: RemotingCommand| {
        serde_json::from_slice::<LockBatchResponse>(&r.body)
            .unwrap()
            .lock_o_k_m_q_set
    };
    let first: Vec<_> = mqs.iter().take(1).cloned().collect();
    let a = client
        .invoke(lock("a", first.iter().cloned().collect()), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(locked(a).len(), 1);
    let b = client
        .invoke(lock("b", mqs.clone()), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(
        locked(b)
            .into_iter()
            .map(|m| m.queue_id)
            .collect::<Vec<_>>(),
        vec![1],
        "queue 0 stays with a"
    );
    let mut unlock = lock("a", mqs.clone());
    unlock.code = RequestCode::UNLOCK_BATCH_MQ.wire();
    assert_eq!(
        client
            .invoke(unlock, TIMEOUT)
            .await
            .unwrap()
            .response_code(),
        ResponseCode::SUCCESS
    );
    let b = client
        .invoke(lock("b", mqs.clone()), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(locked(b), mqs, "released by a, renewed by b");
    broker.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Polls a queue from 0 until it holds `count` messages; returns the records' raw bytes.
async fn wait_for_messages(
    client: &RemotingClient,
    topic: &str,
    count: usize,
    within: Duration,
) -> Vec<bytes::Bytes> {
    let start = Instant::now();
    loop {
        let r = client
            .invoke(pull_request("probe", topic, 0, 0, 0), TIMEOUT)
            .await
            .unwrap();
        let mut records = Vec::new();
        let mut buf = r.body.clone();
        while !buf.is_empty() {
            let size = Record::decode(&buf, true).unwrap().size;
            records.push(buf.split_to(size));
        }
        if records.len() >= count {
            return records;
        }
        assert!(
            start.elapsed() < within,
            "{topic}: {} of {count} messages after {within:?}",
            records.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_rt::test]
async fn delayed_messages_retries_and_dead_letters() {
    let dir = temp_dir("broker-retry");
    let (_namesrv, broker) = start_with(&dir, FlushMode::Async, |config| {
        config.store.delay_levels = (1..=18).map(|i| Duration::from_millis(100 * i)).collect();
    })
    .await;
    let client = connect(broker.local_addr()).await;
    // DELAY=3 (300 ms here): parked in SCHEDULE_TOPIC_XXXX queue 2, then delivered.
    let mut delayed = send_request("Later", 0, "delayed", "t");
    let props = format!("{}DELAY\u{1}3\u{2}", delayed.ext("i").unwrap());
    delayed.ext_fields.as_mut().unwrap().insert("i", &props);
    let sent_at = Instant::now();
    let r = client.invoke(delayed, TIMEOUT).await.unwrap();
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    assert_eq!(
        r.ext("queueId"),
        Some("0"),
        "answered with the queue asked for, as RocketMQ (SendMessageProcessor answers queueIdInt)"
    );
    let records = wait_for_messages(&client, "Later", 1, Duration::from_secs(5)).await;
    assert!(
        sent_at.elapsed() >= Duration::from_millis(300),
        "delivered early: {:?}",
        sent_at.elapsed()
    );
    let record = Record::decode(&records[0], true).unwrap();
    assert_eq!(record.body, b"delayed");
    assert_eq!(properties::get(record.properties, properties::DELAY), None);
    assert_eq!(
        properties::get(record.properties, properties::REAL_TOPIC),
        Some("Later")
    );

    // A consumer fails it: back to %RETRY%g after level 3 + 0.
    let send_back = |offset: i64, max: i32| {
        let ext: ExtFields = [
            ("offset", offset.to_string()),
            ("group", "g".to_string()),
            ("delayLevel", "0".to_string()),
            ("maxReconsumeTimes", max.to_string()),
        ]
        .into_iter()
        .collect();
        let mut cmd = RemotingCommand::request(RequestCode::CONSUMER_SEND_MSG_BACK);
        cmd.ext_fields = Some(ext);
        cmd
    };
    let r = client
        .invoke(send_back(record.physical_offset, 16), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    let retried = wait_for_messages(&client, "%RETRY%g", 1, Duration::from_secs(5)).await;
    let retry = Record::decode(&retried[0], true).unwrap();
    assert_eq!(retry.reconsume_times, 1);
    assert_eq!(retry.body, b"delayed");
    assert_eq!(
        properties::get(retry.properties, properties::RETRY_TOPIC),
        Some("Later")
    );
    assert_eq!(
        properties::get(retry.properties, properties::ORIGIN_MESSAGE_ID),
        Some("UNIQ-delayed")
    );

    // Failed again with maxReconsumeTimes 1: dead letter.
    let r = client
        .invoke(send_back(retry.physical_offset, 1), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    let dead = wait_for_messages(&client, "%DLQ%g", 1, Duration::from_secs(5)).await;
    assert_eq!(Record::decode(&dead[0], true).unwrap().reconsume_times, 2);
    // An unknown offset is refused.
    let r = client
        .invoke(send_back(1 << 40, 16), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(r.response_code(), ResponseCode::SYSTEM_ERROR);
    broker.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[actix_rt::test]
async fn a_panicking_actor_is_restarted_with_its_state() {
    use apogee::actors::Poison;
    let dir = temp_dir("broker-panic");
    let (_namesrv, broker) = start_standalone(&dir, FlushMode::Async).await;
    let client = connect(broker.local_addr()).await;
    let sent = client
        .invoke(send_request("BeforePanic", 0, "x", "t"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(sent.response_code(), ResponseCode::SUCCESS);
    tokio::time::sleep(Duration::from_millis(300)).await; // topics.json written
    let topics = broker.service.parts().topic_actor.clone();
    topics.send(Poison).await.unwrap(); // caught, logged, actor stopped
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Restarted: it reloaded topics.json and serves again.
    let all = client
        .invoke(
            RemotingCommand::request(RequestCode::GET_ALL_TOPIC_CONFIG),
            TIMEOUT,
        )
        .await
        .unwrap();
    let table: apogee::protocol::body::TopicConfigWrapper =
        serde_json::from_slice(&all.body).unwrap();
    assert!(table.topic_config_table.contains_key("BeforePanic"));
    let after = client
        .invoke(send_request("AfterPanic", 0, "y", "t"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(
        after.response_code(),
        ResponseCode::SUCCESS,
        "auto-create works after the restart"
    );
    assert!(topics.connected());
    broker.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[actix_rt::test]
async fn a_full_writer_mailbox_is_system_busy_at_once() {
    let dir = temp_dir("broker-busy");
    // Writers on a thread of their own, which the test stalls; each holds 32 sends.
    let (_namesrv, broker) = start_with(&dir, FlushMode::Async, |c| {
        c.dedicated_store_threads = true;
        c.send_queue_capacity = 32;
    })
    .await;
    let client = connect(broker.local_addr()).await;
    let first = client
        .invoke(send_request("Busy", 0, "warm", "t"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(first.response_code(), ResponseCode::SUCCESS);
    // Stall the store arbiter: the writer of queue 1 cannot start or drain its mailbox.
    broker
        .store_arbiter()
        .spawn(async { std::thread::sleep(Duration::from_millis(1500)) });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let sends: Vec<_> = (0..64)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let r = client
                    .invoke(send_request("Busy", 1, &format!("b{i}"), "t"), TIMEOUT)
                    .await
                    .unwrap();
                (r.response_code(), r.remark, started.elapsed())
            })
        })
        .collect();
    let mut busy = 0;
    let mut stored = 0;
    for send in sends {
        let (code, remark, took) = send.await.unwrap();
        match code {
            ResponseCode::SYSTEM_BUSY => {
                busy += 1;
                assert!(
                    took < Duration::from_millis(1000),
                    "busy answered late: {took:?}"
                );
                assert!(remark.unwrap().contains("system busy"));
            }
            ResponseCode::SUCCESS => stored += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    // The new writer's mailbox held its 32 before the writer first ran (it held actix's
    // default of 16 until then, and a Java client's burst of async sends to a new topic was
    // partly answered SYSTEM_BUSY).
    assert!(busy > 0 && stored >= 32, "busy {busy}, stored {stored}");
    // The connection and the queue work again.
    let after = client
        .invoke(send_request("Busy", 1, "after", "t"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(after.response_code(), ResponseCode::SUCCESS);

    // Oneway senders cannot be told SYSTEM_BUSY: their messages wait for room instead.
    broker
        .store_arbiter()
        .spawn(async { std::thread::sleep(Duration::from_millis(1000)) });
    tokio::time::sleep(Duration::from_millis(50)).await;
    for i in 0..64 {
        client
            .invoke_oneway(send_request("Busy", 2, &format!("o{i}"), "t"))
            .await
            .unwrap();
    }
    wait_for_max_offset(&client, "Busy", 2, 64, "oneway sends lost").await;
    broker.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A pull without subscription in its header, at subscription version `version`.
fn pull_at_version(group: &str, topic: &str, version: i64) -> RemotingCommand {
    RemotingCommand::request(RequestCode::PULL_MESSAGE).with_header(&PullRequest {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id: 0,
        queue_offset: 0,
        max_msg_nums: 32,
        sys_flag: 0,
        commit_offset: 0,
        suspend_timeout_millis: 0,
        subscription: None,
        sub_version: version,
        expression_type: Some("TAG".into()),
        max_msg_bytes: None,
    })
}

#[actix_rt::test]
async fn a_pull_ahead_of_the_heartbeats_gets_the_subscription_from_the_client() {
    let dir = temp_dir("broker-refresh");
    let (_namesrv, broker) = start_standalone(&dir, FlushMode::Async).await;
    let (client, mut inbound) = RemotingClient::connect_with_inbound(broker.local_addr())
        .await
        .unwrap();
    let sent = client
        .invoke(send_request("Refresh", 0, "r0", "t"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(sent.response_code(), ResponseCode::SUCCESS);
    // Dispatched to the consume queue (the reput runs after the send is answered).
    wait_for_max_offset(&client, "Refresh", 0, 1, "not dispatched").await;
    // Client c1 in two groups, both at subscription version 1.
    for group in ["answers", "silent"] {
        let r = client
            .invoke(heartbeat("c1", group, "Refresh"), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    }
    // The client: answers GET_CONSUMER_RUNNING_INFO for "answers" (fastjson's way, a
    // message queue as a map key) with version 2; never for "silent".
    let (asked_tx, mut asked) = tokio::sync::mpsc::unbounded_channel();
    let responder = client.clone();
    tokio::spawn(async move {
        while let Some(request) = inbound.recv().await {
            if request.code != RequestCode::GET_CONSUMER_RUNNING_INFO.wire() {
                continue;
            }
            let header: ConsumerRunningInfoRequest = request.header().unwrap();
            let _ = asked_tx.send((header.consumer_group.clone(), header.client_id.clone()));
            if header.consumer_group == "answers" {
                let body = r#"{"jstack":"","mqTable":{{"brokerName":"broker-a","queueId":0,"topic":"Refresh"}:{"cachedMsgCount":0}},"properties":{"PROP_CONSUME_TYPE":"CONSUME_PASSIVELY"},"statusTable":{},"subscriptionSet":[{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":2,"tagsSet":[],"topic":"Refresh"}]}"#;
                let response = RemotingCommand::response(ResponseCode::SUCCESS)
                    .with_opaque(request.opaque)
                    .with_body(body.as_bytes().to_vec());
                responder.respond(response).await.unwrap();
            }
        }
    });

    // Version 2 is newer than the heartbeats told: the broker asks c1, takes its
    // subscription and serves the pull.
    let pulled = client
        .invoke(pull_at_version("answers", "Refresh", 2), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(
        pulled.response_code(),
        ResponseCode::SUCCESS,
        "{:?}",
        pulled.remark
    );
    assert_eq!(bodies(&pulled), vec!["r0"]);
    assert_eq!(asked.try_recv().unwrap(), ("answers".into(), "c1".into()));
    let again = client
        .invoke(pull_at_version("answers", "Refresh", 2), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(again.response_code(), ResponseCode::SUCCESS);
    assert!(
        asked.try_recv().is_err(),
        "asked again for a version it has"
    );

    // A client that does not answer: SUBSCRIPTION_NOT_LATEST after the answer timeout, and
    // the next pull is refused at once, without asking again.
    let refused_after = || async {
        let start = Instant::now();
        let refused = client
            .invoke(pull_at_version("silent", "Refresh", 2), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(
            refused.response_code(),
            ResponseCode::SUBSCRIPTION_NOT_LATEST
        );
        start.elapsed()
    };
    assert!(refused_after().await >= apogee::broker::refresh::ANSWER_TIMEOUT);
    assert_eq!(asked.try_recv().unwrap(), ("silent".into(), "c1".into()));
    assert!(refused_after().await < apogee::broker::refresh::ANSWER_TIMEOUT);
    assert!(asked.try_recv().is_err(), "asked again within REASK");
    broker.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
