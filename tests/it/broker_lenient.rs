//! Bodies typed as other clients type them: the Go client's heartbeat (its sets' items,
//! the tag hash codes too, written as JSON strings) registers its consumer, creates its
//! retry topic and subscription group, and its tag subscription filters pulls; the group
//! is listed by GET_ALL_SUBSCRIPTIONGROUP_CONFIG (which the Go client's admin API sends).

use std::time::Duration;

use apogee::protocol::body::client::ConsumerList;
use apogee::protocol::body::TopicConfigWrapper;
use apogee::protocol::header::broker::{ConsumerGroupRequest, PullRequest};
use apogee::protocol::message::Record;
use apogee::protocol::{properties, RemotingCommand, RequestCode, ResponseCode};
use apogee::store::config::SubscriptionGroups;
use apogee::store::FlushMode;

use super::broker::{send_request, start_with};
use super::store::temp_dir;
use super::support::{connect, TIMEOUT};

/// As rocketmq-client-go v2 writes a push consumer's heartbeat.
const GO_HEARTBEAT: &str = r#"{"clientID":"127.0.0.1@4242#1764756000","producerDataSet":[],"consumerDataSet":[{"groupName":"goGroup","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","subscriptionDataSet":[{"classFilterMode":false,"topic":"GoTags","subString":"TagA || TagB","tagsSet":["TagA","TagB"],"codeSet":["2598919","2598920"],"subVersion":1764756000000000000,"expressionType":"TAG"}],"unitMode":false}]}"#;

#[actix_rt::test]
async fn a_go_heartbeat_registers_its_consumer_and_group() {
    let dir = temp_dir("broker-lenient");
    let (_namesrv, broker) = start_with(&dir, FlushMode::Async, |_| {}).await;
    let client = connect(broker.local_addr()).await;
    for (i, tag) in ["TagA", "TagB", "TagC", "TagA"].into_iter().enumerate() {
        let r = client
            .invoke(send_request("GoTags", 0, &format!("m{i}"), tag), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    }

    let heartbeat = RemotingCommand::request(RequestCode::HEART_BEAT)
        .with_body(GO_HEARTBEAT.as_bytes().to_vec());
    let r = client.invoke(heartbeat, TIMEOUT).await.unwrap();
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);

    let ids = client
        .invoke(
            RemotingCommand::request(RequestCode::GET_CONSUMER_LIST_BY_GROUP).with_header(
                &ConsumerGroupRequest {
                    consumer_group: "goGroup".into(),
                },
            ),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(
        ids.response_code(),
        ResponseCode::SUCCESS,
        "{:?}",
        ids.remark
    );
    let ids: ConsumerList = serde_json::from_slice(&ids.body).unwrap();
    assert_eq!(ids.consumer_id_list, vec!["127.0.0.1@4242#1764756000"]);

    // The subscription learned from the heartbeat filters a pull that carries none (once
    // the dispatcher has put the four messages in the consume queue).
    let pull = RemotingCommand::request(RequestCode::PULL_MESSAGE).with_header(&PullRequest {
        consumer_group: "goGroup".into(),
        topic: "GoTags".into(),
        queue_id: 0,
        queue_offset: 0,
        max_msg_nums: 32,
        sys_flag: 0,
        commit_offset: 0,
        suspend_timeout_millis: 0,
        subscription: None,
        sub_version: 0,
        expression_type: Some("TAG".into()),
        max_msg_bytes: None,
    });
    let mut r = client.invoke(pull.clone(), TIMEOUT).await.unwrap();
    for _ in 0..250 {
        if r.response_code() == ResponseCode::SUCCESS && r.ext("maxOffset") == Some("4") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        r = client.invoke(pull.clone(), TIMEOUT).await.unwrap();
    }
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    let mut tags = Vec::new();
    let mut buf = &r.body[..];
    while !buf.is_empty() {
        let record = Record::decode(buf, true).unwrap();
        tags.push(
            properties::get(record.properties, properties::TAGS)
                .unwrap()
                .to_owned(),
        );
        buf = &buf[record.size..];
    }
    assert_eq!(tags, ["TagA", "TagB", "TagA"]);

    // Its retry topic and its subscription group exist now.
    let mut retry_topic = false;
    for _ in 0..50 {
        let r = client
            .invoke(
                RemotingCommand::request(RequestCode::GET_ALL_TOPIC_CONFIG),
                TIMEOUT,
            )
            .await
            .unwrap();
        let topics: TopicConfigWrapper = serde_json::from_slice(&r.body).unwrap();
        if topics.topic_config_table.contains_key("%RETRY%goGroup") {
            retry_topic = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(retry_topic, "no %RETRY%goGroup after the heartbeat");
    let r = client
        .invoke(
            RemotingCommand::request(RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    // Standard JSON, as Go's encoding/json reads it.
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(body["dataVersion"]["counter"].as_i64().unwrap() > 0);
    let groups: SubscriptionGroups = serde_json::from_slice(&r.body).unwrap();
    let group = &groups.subscription_group_table["goGroup"];
    assert!(group.consume_enable);
    assert_eq!(group.retry_max_times, 16);
    assert!(groups
        .subscription_group_table
        .contains_key("TOOLS_CONSUMER"));

    broker.shutdown().await.unwrap();
    // The group is kept in subscriptionGroup.json.
    let file = dir.join("config").join("subscriptionGroup.json");
    let kept: SubscriptionGroups = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(kept.subscription_group_table.contains_key("goGroup"));
    std::fs::remove_dir_all(&dir).unwrap();
}
