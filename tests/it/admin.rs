//! `apogee admin` against an in-process name server and broker: each mqadmin command's
//! requests answered and printed (tables, `--json`), bad arguments and unreachable servers
//! refused with exit codes and one line naming the reason; and snapshots of the admin
//! answers' bodies (GET_TOPIC_STATS_INFO, GET_CONSUME_STATS, GET_CONSUMER_CONNECTION_LIST,
//! INVOKE_BROKER_TO_RESET_OFFSET, GET_BROKER_RUNTIME_INFO keys).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use apogee::client::{ClientConfig, Message, Producer, ProducerConfig, PushConsumer};
use apogee::protocol::body::admin::{ConsumeStats, TopicStatsTable};
use apogee::protocol::body::KvTable;
use apogee::protocol::header::admin::{ConsumeStatsRequest, ResetOffsetRequest};
use apogee::protocol::header::broker::{ConsumerGroupRequest, TopicRequest};
use apogee::protocol::{fastjson, RemotingCommand, RequestCode, ResponseCode};
use apogee::store::FlushMode;
use serde_json::Value;

use super::broker::start_with;
use super::client::{collector, consumer_config, wait_until, Seen};
use super::store::temp_dir;
use super::support::connect;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `apogee admin -n <namesrv> <args…>`, run as a process while this test serves.
async fn admin(namesrv: SocketAddr, args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_apogee"))
        .arg("admin")
        .arg("-n")
        .arg(namesrv.to_string())
        .args(args)
        .env_remove("NAMESRV_ADDR")
        .env_remove("RUST_BACKTRACE")
        .output()
        .await
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The command must succeed; its stdout.
async fn ok(namesrv: SocketAddr, args: &[&str]) -> String {
    let run = admin(namesrv, args).await;
    assert_eq!(
        run.code, 0,
        "apogee admin {args:?} failed: {}{}",
        run.stdout, run.stderr
    );
    run.stdout
}

/// The command with `--json`, parsed.
async fn json(namesrv: SocketAddr, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = ok(namesrv, &all).await;
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

async fn registered(namesrv: SocketAddr) {
    let start = std::time::Instant::now();
    loop {
        let run = admin(namesrv, &["clusterList", "--json"]).await;
        if run.code == 0 && run.stdout.contains("broker-a") {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "broker never registered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_rt::test]
async fn topic_and_message_commands() {
    let dir = temp_dir("admin-topics");
    let (namesrv, broker) = start_with(&dir, FlushMode::Async, |_| {}).await;
    let ns = namesrv.local_addr();
    registered(ns).await;

    let out = ok(
        ns,
        &[
            "updateTopic",
            "-c",
            "DefaultCluster",
            "-t",
            "AdminT",
            "-r",
            "2",
            "-w",
            "2",
        ],
    )
    .await;
    assert!(
        out.contains(&format!("create topic to {} success.", broker.advertised)),
        "{out}"
    );
    assert!(
        out.contains("TopicConfig [topicName=AdminT, readQueueNums=2, writeQueueNums=2, perm=RW-"),
        "{out}"
    );
    let topics = ok(ns, &["topicList"]).await;
    assert!(topics.lines().any(|l| l == "AdminT"), "{topics}");
    let route = json(ns, &["topicRoute", "-t", "AdminT"]).await;
    assert_eq!(route["queueDatas"][0]["writeQueueNums"], 2);
    let listed = ok(ns, &["topicRoute", "-t", "AdminT", "-l"]).await;
    assert!(
        listed.lines().last().unwrap().starts_with("Total:"),
        "{listed}"
    );
    assert_eq!(
        ok(ns, &["topicClusterList", "-t", "AdminT"]).await.trim(),
        "DefaultCluster"
    );

    let mut ids = Vec::new();
    for i in 0..3 {
        let sent = json(
            ns,
            &[
                "sendMessage",
                "-t",
                "AdminT",
                "-p",
                &format!("body-{i}"),
                "-k",
                &format!("key-{i}"),
                "-c",
                "TagA",
            ],
        )
        .await;
        assert_eq!(sent["sendStatus"], "SEND_OK");
        ids.push((
            sent["msgId"].as_str().unwrap().to_owned(),
            sent["offsetMsgId"].as_str().unwrap().to_owned(),
        ));
    }
    // Table form of sendMessage.
    let table = ok(
        ns,
        &[
            "sendMessage",
            "-t",
            "AdminT",
            "-p",
            "x",
            "-b",
            "broker-a",
            "-i",
            "1",
        ],
    )
    .await;
    assert!(
        table
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("broker-a                          1     SEND_OK"),
        "{table}"
    );

    wait_until_async(|| async {
        let status = json(ns, &["topicStatus", "-t", "AdminT"]).await;
        status
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["maxOffset"].as_i64().unwrap())
            .sum::<i64>()
            == 4
    })
    .await;
    let status = ok(ns, &["topicStatus", "-t", "AdminT"]).await;
    assert!(
        status.starts_with("#Broker Name                      #QID  #Min Offset"),
        "{status}"
    );

    let by_key = json(ns, &["queryMsgByKey", "-t", "AdminT", "-k", "key-1"]).await;
    assert_eq!(by_key[0]["body"], "body-1");
    let by_key_table = ok(ns, &["queryMsgByKey", "-t", "AdminT", "-k", "key-1"]).await;
    assert!(by_key_table.contains(&ids[1].0), "{by_key_table}");
    let by_id = ok(ns, &["queryMsgById", "-i", &ids[2].1, "-f", "UTF-8"]).await;
    assert!(
        by_id.contains("Keys:                [key-2]")
            && by_id.contains("Message Body:        body-2"),
        "{by_id}"
    );
    let by_unique = json(
        ns,
        &["queryMsgByUniqueKey", "-t", "AdminT", "-i", &ids[0].0],
    )
    .await;
    assert_eq!(by_unique[0]["body"], "body-0");
    // A unique key passed as an id, with its topic.
    let by_id_key = json(ns, &["queryMsgById", "-t", "AdminT", "-i", &ids[0].0]).await;
    assert_eq!(by_id_key[0]["keys"], "key-0");
    let queue = by_key[0]["queueId"].as_i64().unwrap().to_string();
    let offset = by_key[0]["queueOffset"].as_i64().unwrap().to_string();
    let at = json(
        ns,
        &[
            "queryMsgByOffset",
            "-t",
            "AdminT",
            "-b",
            "broker-a",
            "-i",
            &queue,
            "-o",
            &offset,
        ],
    )
    .await;
    assert_eq!(at[0]["body"], "body-1");
    let consumed = json(ns, &["consumeMessage", "-t", "AdminT", "-c", "3"]).await;
    assert_eq!(consumed.as_array().unwrap().len(), 3);
    let printed = json(ns, &["printMsg", "-t", "AdminT"]).await;
    assert_eq!(printed.as_array().unwrap().len(), 4);

    // Failures: one line naming the reason, exit 1.
    let missing = admin(ns, &["queryMsgByKey", "-t", "AdminT", "-k", "nothing"]).await;
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.starts_with(
            "apogee admin queryMsgByKey: query message by key finished, but no message"
        ),
        "{}",
        missing.stderr
    );
    let unknown = admin(ns, &["topicStatus", "-t", "NoSuchTopic"]).await;
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stderr.contains("unknown topic NoSuchTopic"),
        "{}",
        unknown.stderr
    );
    let bad_name = admin(
        ns,
        &["updateTopic", "-c", "DefaultCluster", "-t", "bad topic!"],
    )
    .await;
    assert_eq!(bad_name.code, 1, "{}", bad_name.stderr);

    let out = ok(ns, &["deleteTopic", "-t", "AdminT", "-c", "DefaultCluster"]).await;
    assert!(
        out.contains("delete topic [AdminT] from NameServer success."),
        "{out}"
    );
    assert!(!ok(ns, &["topicList"]).await.lines().any(|l| l == "AdminT"));
    broker.shutdown().await.unwrap();
}

async fn wait_until_async<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "condition never held"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_rt::test]
async fn group_commands_with_consumers_online() {
    let dir = temp_dir("admin-groups");
    let (namesrv, broker) = start_with(&dir, FlushMode::Async, |_| {}).await;
    let ns = namesrv.local_addr();
    let addr = broker.advertised.to_string();
    registered(ns).await;
    ok(
        ns,
        &[
            "updateTopic",
            "-b",
            &addr,
            "-t",
            "GroupT",
            "-r",
            "2",
            "-w",
            "2",
        ],
    )
    .await;

    let out = ok(
        ns,
        &["updateSubGroup", "-b", &addr, "-g", "AdminG", "-r", "5"],
    )
    .await;
    assert!(
        out.contains(&format!("create subscription group to {addr} success.")),
        "{out}"
    );
    assert!(out.contains("retryMaxTimes=5"), "{out}");

    let producer = Producer::start(
        ClientConfig::new(&ns.to_string()),
        ProducerConfig::new("AdminPG"),
    )
    .await
    .unwrap();
    for i in 0..10 {
        producer
            .send(Message::new("GroupT", format!("m{i}")))
            .await
            .unwrap();
    }
    let conns = json(ns, &["producerConnection", "-g", "AdminPG", "-t", "GroupT"]).await;
    assert_eq!(conns["connectionSet"][0]["language"], "RUST");
    let none = admin(
        ns,
        &["producerConnection", "-g", "NoSuchPG", "-t", "GroupT"],
    )
    .await;
    assert_eq!(none.code, 1);
    assert!(
        none.stderr
            .contains("the producer group[NoSuchPG] not exist"),
        "{}",
        none.stderr
    );

    let seen: Seen = Arc::default();
    let consumer = PushConsumer::builder(
        ClientConfig::new(&ns.to_string()),
        consumer_config("AdminG"),
    )
    .subscribe("GroupT", "*")
    .listen(collector(&seen))
    .start()
    .await
    .unwrap();
    wait_until("10 messages", Duration::from_secs(20), || {
        seen.lock().unwrap().len() >= 10
    })
    .await;

    let conns = json(ns, &["consumerConnection", "-g", "AdminG"]).await;
    assert_eq!(conns["connectionSet"][0]["clientId"], consumer.client_id());
    assert_eq!(conns["messageModel"], "CLUSTERING");
    let table = ok(ns, &["consumerConnection", "-g", "AdminG"]).await;
    assert!(table.contains("ConsumeType: CONSUME_PASSIVELY"), "{table}");

    // Lag: everything consumed once the offsets are committed (every 500 ms here).
    wait_until_async(|| async {
        let progress = json(ns, &["consumerProgress", "-g", "AdminG", "-t", "GroupT"]).await;
        progress["diffTotal"] == 0 && progress["queues"].as_array().unwrap().len() == 2
    })
    .await;
    for i in 0..5 {
        producer
            .send(Message::new("GroupT", format!("late{i}")))
            .await
            .unwrap();
    }
    let table = ok(ns, &["consumerProgress", "-g", "AdminG"]).await;
    assert!(table.contains("Consume Diff Total: "), "{table}");
    let all = json(ns, &["consumerProgress"]).await;
    let row = all
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["group"] == "AdminG")
        .unwrap()
        .clone();
    assert_eq!(row["count"], 1);
    assert_eq!(row["type"], "PUSH");

    let status = json(ns, &["consumerStatus", "-g", "AdminG"]).await;
    assert_eq!(
        status[0]["runningInfo"]["properties"]["PROP_CONSUME_TYPE"],
        "CONSUME_PASSIVELY"
    );

    // Reset to the start: the consumer reads everything again.
    wait_until("15 messages", Duration::from_secs(20), || {
        seen.lock().unwrap().len() >= 15
    })
    .await;
    // Consumed again, directly, by the consumer named (through the broker).
    let before = seen.lock().unwrap().len();
    let one = seen.lock().unwrap()[0].offset_msg_id.clone();
    let direct = json(
        ns,
        &[
            "queryMsgById",
            "-i",
            &one,
            "-g",
            "AdminG",
            "-d",
            consumer.client_id(),
        ],
    )
    .await;
    assert_eq!(direct[0]["consumeResult"], "CR_SUCCESS", "{direct}");
    assert_eq!(
        seen.lock().unwrap().len(),
        before + 1,
        "only the one asked for"
    );
    let absent = admin(
        ns,
        &["queryMsgById", "-i", &one, "-g", "AdminG", "-d", "nobody@1"],
    )
    .await;
    assert_eq!(absent.code, 1);
    assert!(
        absent
            .stderr
            .contains("The Consumer <AdminG> <nobody@1> not online"),
        "{}",
        absent.stderr
    );

    let reset = json(
        ns,
        &[
            "resetOffsetByTime",
            "-g",
            "AdminG",
            "-t",
            "GroupT",
            "-s",
            "0",
        ],
    )
    .await;
    assert!(
        reset.as_array().unwrap().iter().all(|q| q["offset"] == 0),
        "{reset}"
    );
    wait_until(
        "31 messages (all read again)",
        Duration::from_secs(20),
        || seen.lock().unwrap().len() >= 31,
    )
    .await;
    wait_until_async(|| async {
        json(ns, &["consumerProgress", "-g", "AdminG", "-t", "GroupT"]).await["diffTotal"] == 0
    })
    .await;

    let lag = json(ns, &["brokerConsumeStats", "-b", &addr]).await;
    assert_eq!(lag["totalDiff"], 0, "{lag}");
    assert!(
        lag["queues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["group"] == "AdminG"),
        "{lag}"
    );

    // Clone offsets to another group.
    ok(ns, &["updateSubGroup", "-b", &addr, "-g", "AdminG2"]).await;
    let out = ok(
        ns,
        &[
            "cloneGroupOffset",
            "-s",
            "AdminG",
            "-d",
            "AdminG2",
            "-t",
            "GroupT",
        ],
    )
    .await;
    assert!(out.contains("clone group offset success."), "{out}");
    let mut client = connect(broker.local_addr()).await;
    let committed = stats(&mut client, "AdminG2", "GroupT").await;
    assert_eq!(
        committed.values().map(|o| o.consumer_offset).sum::<i64>(),
        15,
        "{committed:?}"
    );

    consumer.shutdown().await;
    producer.shutdown().await;
    // Offline: the reset is still done, on the broker.
    let reset = json(
        ns,
        &[
            "resetOffsetByTime",
            "-g",
            "AdminG",
            "-t",
            "GroupT",
            "-s",
            "now",
        ],
    )
    .await;
    assert_eq!(
        reset
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["offset"].as_i64().unwrap())
            .sum::<i64>(),
        15
    );
    let gone = admin(ns, &["consumerConnection", "-g", "AdminG"]).await;
    assert_eq!(gone.code, 1);
    assert!(
        gone.stderr.contains("AdminG has no consumers online"),
        "{}",
        gone.stderr
    );
    let no_group = admin(
        ns,
        &[
            "resetOffsetByTime",
            "-g",
            "NoSuchGroup",
            "-t",
            "GroupT",
            "-s",
            "now",
        ],
    )
    .await;
    assert!(
        no_group.stderr.contains("SUBSCRIPTION_GROUP_NOT_EXIST"),
        "{}",
        no_group.stderr
    );

    let out = ok(ns, &["deleteSubGroup", "-b", &addr, "-g", "AdminG2"]).await;
    assert!(
        out.contains("delete subscription group [AdminG2] from broker"),
        "{out}"
    );
    broker.shutdown().await.unwrap();
}

async fn stats(
    client: &mut apogee::remoting::RemotingClient,
    group: &str,
    topic: &str,
) -> std::collections::BTreeMap<String, apogee::protocol::body::admin::OffsetWrapper> {
    let response = client
        .invoke(
            RemotingCommand::request(RequestCode::GET_CONSUME_STATS).with_header(
                &ConsumeStatsRequest {
                    consumer_group: group.into(),
                    topic: Some(topic.into()),
                    topic_list: None,
                },
            ),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(response.response_code(), ResponseCode::SUCCESS);
    fastjson::from_slice::<ConsumeStats>(&response.body)
        .unwrap()
        .offset_table
}

#[actix_rt::test]
async fn cluster_broker_config_and_kv_commands() {
    let dir = temp_dir("admin-cluster");
    let (namesrv, broker) = start_with(&dir, FlushMode::Async, |_| {}).await;
    let ns = namesrv.local_addr();
    let addr = broker.advertised.to_string();
    registered(ns).await;
    ok(ns, &["updateTopic", "-b", &addr, "-t", "PermT"]).await;

    let table = ok(ns, &["clusterList"]).await;
    let row = table.lines().nth(1).unwrap();
    assert!(
        row.starts_with("DefaultCluster          broker-a                0     "),
        "{table}"
    );
    assert!(row.contains("V5_3_3"), "{row}");
    let more = ok(ns, &["clusterList", "-m"]).await;
    assert!(more.starts_with("#Cluster Name     #Broker Name"), "{more}");
    let status = json(ns, &["brokerStatus", "-b", &addr]).await;
    for key in [
        "commitLogMaxOffset",
        "putTps",
        "getTransferredTps",
        "msgPutTotalTodayNow",
        "brokerVersionDesc",
        "earliestMessageTimeStamp",
    ] {
        assert!(status[&addr].get(key).is_some(), "no {key} in {status}");
    }

    let config = ok(ns, &["getBrokerConfig", "-b", &addr]).await;
    assert!(
        config.contains("autoCreateTopicEnable                             =  true"),
        "{config}"
    );
    ok(
        ns,
        &[
            "updateBrokerConfig",
            "-b",
            &addr,
            "-k",
            "autoCreateTopicEnable",
            "-v",
            "false",
        ],
    )
    .await;
    let config = json(ns, &["getBrokerConfig", "-b", &addr]).await;
    assert_eq!(config[&addr]["autoCreateTopicEnable"], "false");
    // Applied: a send to a new topic is refused now.
    let client = connect(broker.local_addr()).await;
    let refused = client
        .invoke(
            super::broker::send_request("BrandNewTopic", 0, "x", ""),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(refused.response_code(), ResponseCode::TOPIC_NOT_EXIST);
    let restart = admin(
        ns,
        &[
            "updateBrokerConfig",
            "-b",
            &addr,
            "-k",
            "listenPort",
            "-v",
            "1",
        ],
    )
    .await;
    assert_eq!(restart.code, 1);
    assert!(
        restart.stderr.contains(&addr) && restart.stderr.contains("restart"),
        "{}",
        restart.stderr
    );
    let black = admin(
        ns,
        &[
            "updateBrokerConfig",
            "-b",
            &addr,
            "-k",
            "brokerConfigPath",
            "-v",
            "/x",
        ],
    )
    .await;
    assert!(
        black
            .stderr
            .contains("Can not update config in black list."),
        "{}",
        black.stderr
    );

    let out = ok(ns, &["wipeWritePerm", "-b", "broker-a"]).await;
    assert!(
        out.contains(&format!(
            "wipe write perm of broker[broker-a] in name server[{ns}] OK, "
        )),
        "{out}"
    );
    let route = json(ns, &["topicRoute", "-t", "PermT"]).await;
    assert_eq!(route["queueDatas"][0]["perm"], 4);
    ok(ns, &["addWritePerm", "-b", "broker-a"]).await;
    let route = json(ns, &["topicRoute", "-t", "PermT"]).await;
    assert_eq!(route["queueDatas"][0]["perm"], 6);

    ok(ns, &["updateKvConfig", "-s", "NS1", "-k", "k1", "-v", "v1"]).await;
    let mut ns_client = connect(ns).await;
    let get = |c: &mut apogee::remoting::RemotingClient| {
        let request = RemotingCommand::request(RequestCode::GET_KV_CONFIG).with_header(
            &apogee::protocol::header::namesrv::KvKeyRequest {
                namespace: "NS1".into(),
                key: "k1".into(),
            },
        );
        let c = c.clone();
        async move { c.invoke(request, Duration::from_secs(5)).await.unwrap() }
    };
    assert_eq!(get(&mut ns_client).await.ext("value"), Some("v1"));
    ok(ns, &["deleteKvConfig", "-s", "NS1", "-k", "k1"]).await;
    assert_eq!(
        get(&mut ns_client).await.response_code(),
        ResponseCode::QUERY_NOT_FOUND
    );
    broker.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn bad_arguments_and_unreachable_servers() {
    // Nothing listens there.
    let nowhere: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let down = admin(nowhere, &["clusterList"]).await;
    assert_eq!(down.code, 1);
    assert_eq!(down.stderr.lines().count(), 1, "{}", down.stderr);
    assert!(
        down.stderr
            .starts_with("apogee admin clusterList: cannot reach 127.0.0.1:1"),
        "{}",
        down.stderr
    );
    // Clap: unknown command, missing option, conflicting options: exit 2.
    assert_eq!(admin(nowhere, &["noSuchCommand"]).await.code, 2);
    assert_eq!(admin(nowhere, &["topicStatus"]).await.code, 2);
    assert_eq!(
        admin(
            nowhere,
            &["updateTopic", "-t", "T", "-b", "1.2.3.4:1", "-c", "C"]
        )
        .await
        .code,
        2
    );
    assert_eq!(admin(nowhere, &["brokerStatus"]).await.code, 2);
    let bad_ts = admin(
        nowhere,
        &["resetOffsetByTime", "-g", "g", "-t", "t", "-s", "yesterday"],
    )
    .await;
    assert_eq!(bad_ts.code, 1);
    assert!(
        bad_ts.stderr.contains("bad timestamp `yesterday`"),
        "{}",
        bad_ts.stderr
    );
    let bad_perm = admin(nowhere, &["updateTopic", "-t", "T", "-c", "C", "-p", "9"]).await;
    assert!(
        bad_perm
            .stderr
            .contains("topicPermission value: 9 is invalid."),
        "{}",
        bad_perm.stderr
    );
}

/// The admin answers' bodies, as the Java tools read them (message-queue keys unquoted).
#[actix_rt::test]
async fn admin_answer_bodies() {
    let dir = temp_dir("admin-bodies");
    let (namesrv, broker) = start_with(&dir, FlushMode::Sync, |_| {}).await;
    let mut client = connect(broker.local_addr()).await;
    let call = |request: RemotingCommand| {
        let c = client.clone();
        async move { c.invoke(request, Duration::from_secs(5)).await.unwrap() }
    };
    let create = RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_TOPIC).with_header(
        &apogee::protocol::header::broker::CreateTopicRequest {
            topic: "BodyT".into(),
            default_topic: "TBW102".into(),
            read_queue_nums: 2,
            write_queue_nums: 2,
            perm: 6,
            topic_filter_type: None,
            topic_sys_flag: None,
            order: false,
        },
    );
    assert_eq!(call(create).await.response_code(), ResponseCode::SUCCESS);
    for _ in 0..3 {
        let sent = call(super::broker::send_request("BodyT", 0, "payload", "")).await;
        assert_eq!(sent.response_code(), ResponseCode::SUCCESS);
    }
    let commit = super::broker::commit_request("BodyG", "BodyT", 0, 2);
    assert_eq!(call(commit).await.response_code(), ResponseCode::SUCCESS);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let stats = call(
        RemotingCommand::request(RequestCode::GET_TOPIC_STATS_INFO).with_header(&TopicRequest {
            topic: "BodyT".into(),
        }),
    )
    .await;
    let text = String::from_utf8(stats.body.to_vec()).unwrap();
    let parsed: TopicStatsTable = fastjson::from_slice(text.as_bytes()).unwrap();
    let stamp = parsed
        .offset_table
        .values()
        .map(|o| o.last_update_timestamp)
        .max()
        .unwrap();
    insta::assert_snapshot!(
        "topic_stats_body",
        text.replace(&stamp.to_string(), "<time>")
    );

    let consume = call(
        RemotingCommand::request(RequestCode::GET_CONSUME_STATS).with_header(
            &ConsumeStatsRequest {
                consumer_group: "BodyG".into(),
                topic: None,
                topic_list: None,
            },
        ),
    )
    .await;
    let text = String::from_utf8(consume.body.to_vec()).unwrap();
    let parsed: ConsumeStats = fastjson::from_slice(text.as_bytes()).unwrap();
    let stamps: Vec<i64> = parsed
        .offset_table
        .values()
        .map(|o| o.last_timestamp)
        .filter(|t| *t > 0)
        .collect();
    let mut shown = text.clone();
    for s in stamps {
        shown = shown.replace(&s.to_string(), "<time>");
    }
    insta::assert_snapshot!("consume_stats_body", shown);
    assert_eq!(parsed.total_diff(), 1);

    let not_online = call(
        RemotingCommand::request(RequestCode::GET_CONSUMER_CONNECTION_LIST).with_header(
            &ConsumerGroupRequest {
                consumer_group: "BodyG".into(),
            },
        ),
    )
    .await;
    assert_eq!(
        not_online.response_code(),
        ResponseCode::CONSUMER_NOT_ONLINE
    );
    assert_eq!(
        not_online.remark.as_deref(),
        Some("the consumer group[BodyG] not online")
    );

    // The group must be known for a reset (5.x's server-side reset).
    let reset = |group: &str| {
        RemotingCommand::request(RequestCode::INVOKE_BROKER_TO_RESET_OFFSET).with_header(
            &ResetOffsetRequest {
                topic: "BodyT".into(),
                group: group.into(),
                timestamp: -1,
                is_force: true,
                queue_id: None,
                offset: None,
            },
        )
    };
    let unknown = call(reset("NoSuchGroup")).await;
    assert_eq!(
        unknown.response_code(),
        ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST
    );
    let group = RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
        .with_body(br#"{"groupName":"BodyG"}"#.to_vec());
    assert_eq!(call(group).await.response_code(), ResponseCode::SUCCESS);
    let reset = call(reset("BodyG")).await;
    assert_eq!(reset.response_code(), ResponseCode::SUCCESS);
    insta::assert_snapshot!(
        "reset_offset_body",
        String::from_utf8(reset.body.to_vec()).unwrap()
    );

    let runtime = call(RemotingCommand::request(
        RequestCode::GET_BROKER_RUNTIME_INFO,
    ))
    .await;
    let table: KvTable = fastjson::from_slice(&runtime.body).unwrap();
    // One key per commit-log path (a temporary directory here).
    let keys: Vec<&str> = table
        .table
        .keys()
        .map(|k| {
            if k.starts_with("commitLogDiskRatio_") {
                "commitLogDiskRatio_<path>"
            } else {
                k
            }
        })
        .collect();
    insta::assert_json_snapshot!("runtime_info_keys", keys);
    assert_eq!(table.table["msgPutTotalTodayNow"], "3");

    let config = call(
        RemotingCommand::request(RequestCode::GET_TOPIC_CONFIG).with_header(&TopicRequest {
            topic: "Nope".into(),
        }),
    )
    .await;
    assert_eq!(config.response_code(), ResponseCode::TOPIC_NOT_EXIST);
    let _ = &mut client;
    drop(namesrv);
    broker.shutdown().await.unwrap();
}
