//! Subscription groups as mqadmin manages them: created and updated with
//! UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (a body typed loosely, as fastjson reads it), listed by
//! GET_ALL_SUBSCRIPTIONGROUP_CONFIG, removed with DELETE_SUBSCRIPTIONGROUP; their settings
//! honoured: `consumeEnable` off refuses pulls, `retryMaxTimes` sends a retry to the
//! dead-letter queue, and without `autoCreateSubscriptionGroup` an unknown group may not pull.

use std::time::Duration;

use apogee::protocol::header::broker::{pull_flag, PullRequest};
use apogee::protocol::{RemotingCommand, RequestCode, ResponseCode};
use apogee::remoting::RemotingClient;
use apogee::store::config::SubscriptionGroups;
use apogee::store::FlushMode;

use super::broker::{send_request, start_with};
use super::broker_transaction::{ask, wait_for};
use super::store::temp_dir;
use super::support::connect;

fn pull(group: &str) -> RemotingCommand {
    RemotingCommand::request(RequestCode::PULL_MESSAGE).with_header(&PullRequest {
        consumer_group: group.into(),
        topic: "Groups".into(),
        queue_id: 0,
        queue_offset: 0,
        max_msg_nums: 32,
        sys_flag: pull_flag::SUBSCRIPTION,
        commit_offset: 0,
        suspend_timeout_millis: 0,
        subscription: Some("*".into()),
        sub_version: 0,
        expression_type: Some("TAG".into()),
        max_msg_bytes: None,
    })
}

fn update(body: &str) -> RemotingCommand {
    RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
        .with_body(body.as_bytes().to_vec())
}

async fn groups(client: &RemotingClient) -> SubscriptionGroups {
    let r = ask(
        client,
        RemotingCommand::request(RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG),
    )
    .await;
    serde_json::from_slice(&r.body).unwrap()
}

#[actix_rt::test]
async fn subscription_groups_are_managed_and_their_settings_honoured() {
    let dir = temp_dir("broker-groups");
    let (_namesrv, broker) = start_with(&dir, FlushMode::Async, |_| {}).await;
    let client = connect(broker.local_addr()).await;
    let r = ask(&client, send_request("Groups", 0, "m0", "t")).await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    wait_for(&client, "Groups", 1).await;

    // Created off, with 2 retries ("2" and "false" as strings: read as fastjson reads them).
    let r = ask(
        &client,
        update(r#"{"groupName":"gOff","consumeEnable":"false","retryMaxTimes":"2","brokerId":0}"#),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    let listed = groups(&client).await;
    let g = &listed.subscription_group_table["gOff"];
    assert!(!g.consume_enable);
    assert_eq!(g.retry_max_times, 2);
    assert!(g.consume_broadcast_enable, "left out: RocketMQ's default");
    let r = ask(&client, pull("gOff")).await;
    assert_eq!(r.response_code(), ResponseCode::NO_PERMISSION);
    assert_eq!(
        r.remark.as_deref(),
        Some("subscription group no permission, gOff")
    );

    // A retry past its group's retryMaxTimes (the client says none) goes to the DLQ.
    let mut retry = send_request("%RETRY%gOff", 0, "late", "t");
    retry.ext_fields.as_mut().unwrap().insert("j", "2");
    let r = ask(&client, retry).await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    wait_for(&client, "%DLQ%gOff", 1).await;

    // Switched on: the same pull is served.
    let r = ask(
        &client,
        update(r#"{"groupName":"gOff","consumeEnable":true}"#),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    let r = ask(&client, pull("gOff")).await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);

    // consumeBroadcastEnable off: a group consuming in BROADCASTING mode may not pull.
    let r = ask(
        &client,
        update(r#"{"groupName":"gCast","consumeBroadcastEnable":false}"#),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    let mut data = apogee::protocol::body::client::HeartbeatData {
        client_id: "caster".into(),
        consumer_data_set: vec![apogee::protocol::body::client::ConsumerData {
            group_name: "gCast".into(),
            consume_type: "CONSUME_PASSIVELY".into(),
            message_model: "BROADCASTING".into(),
            consume_from_where: "CONSUME_FROM_FIRST_OFFSET".into(),
            subscription_data_set: vec![apogee::protocol::body::client::SubscriptionData {
                topic: "Groups".into(),
                sub_string: "*".into(),
                sub_version: 1,
                ..Default::default()
            }],
            unit_mode: false,
        }],
        ..Default::default()
    };
    let beat = |d: &apogee::protocol::body::client::HeartbeatData| {
        RemotingCommand::request(RequestCode::HEART_BEAT).with_body(serde_json::to_vec(d).unwrap())
    };
    assert_eq!(
        ask(&client, beat(&data)).await.response_code(),
        ResponseCode::SUCCESS
    );
    let r = ask(&client, pull("gCast")).await;
    assert_eq!(r.response_code(), ResponseCode::NO_PERMISSION);
    assert_eq!(
        r.remark.as_deref(),
        Some("the consumer group[gCast] can not consume by broadcast way")
    );
    // The same group clustering: served.
    data.consumer_data_set[0].message_model = "CLUSTERING".into();
    assert_eq!(
        ask(&client, beat(&data)).await.response_code(),
        ResponseCode::SUCCESS
    );
    let r = ask(&client, pull("gCast")).await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);

    // Bad names are refused; deleting removes the group.
    let r = ask(&client, update(r#"{"groupName":"bad name!"}"#)).await;
    assert_eq!(r.response_code(), ResponseCode::INVALID_PARAMETER);
    let mut delete = RemotingCommand::request(RequestCode::DELETE_SUBSCRIPTIONGROUP);
    delete.ext_fields = Some([("groupName", "gOff")].into_iter().collect());
    let r = ask(&client, delete).await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    assert!(!groups(&client)
        .await
        .subscription_group_table
        .contains_key("gOff"));
    // A pull creates a group the broker does not know (autoCreateSubscriptionGroup).
    let r = ask(&client, pull("gNew")).await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(groups(&client)
        .await
        .subscription_group_table
        .contains_key("gNew"));
    broker.shutdown().await.unwrap();

    // Without autoCreateSubscriptionGroup an unknown group may not pull.
    let (_namesrv, broker) = start_with(&dir, FlushMode::Async, |c| {
        c.auto_create_subscription_group = false
    })
    .await;
    let client = connect(broker.local_addr()).await;
    let r = ask(&client, pull("gUnknown")).await;
    assert_eq!(
        r.response_code(),
        ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST
    );
    assert!(r
        .remark
        .unwrap_or_default()
        .starts_with("subscription group [gUnknown] does not exist"));
    let r = ask(&client, pull("gNew")).await;
    assert_eq!(
        r.response_code(),
        ResponseCode::SUCCESS,
        "kept in subscriptionGroup.json"
    );
    broker.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
