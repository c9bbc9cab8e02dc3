//! Request-reply: every stored message carries its broker's `CLUSTER`; a consumer's reply
//! (SEND_REPLY_MESSAGE to `<cluster>_REPLY_TOPIC`) is pushed to the requester named by
//! `REPLY_TO_CLIENT` (PUSH_REPLY_MESSAGE_TO_CLIENT on its heartbeat connection) and stored
//! in the reply topic; a requester that is not connected gets the Java broker's refusal.

use apogee::protocol::{properties, ExtFields, RemotingCommand, RequestCode, ResponseCode};
use apogee::store::FlushMode;

use super::broker::{send_request, start_with};
use super::broker_transaction::producer;
use super::store::temp_dir;
use super::support::{connect, TIMEOUT};

/// SEND_REPLY_MESSAGE as the Go client writes it (long field names).
fn reply(to_client: Option<&str>, body: &str) -> RemotingCommand {
    let mut props = vec![
        ("MSG_TYPE", "reply"),
        (properties::CORRELATION_ID, "corr-1"),
        ("TTL", "5000"),
    ];
    if let Some(to) = to_client {
        props.push((properties::REPLY_TO_CLIENT, to));
    }
    let props = properties::encode(props);
    let ext: ExtFields = [
        ("producerGroup", "replier"),
        ("topic", "DefaultCluster_REPLY_TOPIC"),
        ("defaultTopic", "TBW102"),
        ("defaultTopicQueueNums", "4"),
        ("queueId", "0"),
        ("sysFlag", "0"),
        ("bornTimestamp", "1700000000000"),
        ("flag", "0"),
        ("properties", &props),
        ("reconsumeTimes", "0"),
        ("unitMode", "false"),
    ]
    .into_iter()
    .collect();
    let mut cmd = RemotingCommand::request(RequestCode::SEND_REPLY_MESSAGE)
        .with_body(body.as_bytes().to_vec());
    cmd.ext_fields = Some(ext);
    cmd
}

#[actix_rt::test]
async fn a_reply_reaches_its_requester_and_the_reply_topic() {
    let dir = temp_dir("broker-reply");
    let (_namesrv, broker) = start_with(&dir, FlushMode::Async, |_| {}).await;

    // The request, as any message: stored with CLUSTER.
    let replier = connect(broker.local_addr()).await;
    let sent = replier
        .invoke(send_request("Requests", 0, "question", "t"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(sent.response_code(), ResponseCode::SUCCESS);
    let phy: u64 = {
        let id = sent.ext("msgId").unwrap();
        u64::from_str_radix(&id[id.len() - 16..], 16).unwrap()
    };
    let cluster = broker.store.with_record(phy, |record| {
        properties::get(record.properties, properties::CLUSTER).map(str::to_owned)
    });
    assert_eq!(cluster, Some(Some("DefaultCluster".to_owned())));

    // The requester heartbeats as a producer and takes the pushed reply.
    // (Any producer group: the broker finds the requester by its client id.)
    let (requester, mut inbound) = producer(broker.local_addr(), "requester@1").await;
    let answering = requester.clone();
    let pushed = tokio::spawn(async move {
        let push = inbound.recv().await.unwrap();
        answering
            .respond(RemotingCommand::response(ResponseCode::SUCCESS).with_opaque(push.opaque))
            .await
            .unwrap();
        push
    });

    let r = replier
        .invoke(reply(Some("requester@1"), "answer"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    assert_eq!(r.ext("queueId"), Some("0"));
    assert_eq!(r.ext("queueOffset"), Some("0"));
    let push = pushed.await.unwrap();
    assert_eq!(push.code, RequestCode::PUSH_REPLY_MESSAGE_TO_CLIENT.wire());
    assert_eq!(&push.body[..], b"answer");
    assert_eq!(push.ext("topic"), Some("DefaultCluster_REPLY_TOPIC"));
    assert_eq!(push.ext("producerGroup"), Some("replier"));
    let props = push.ext("properties").unwrap();
    assert_eq!(
        properties::get(props, properties::CORRELATION_ID),
        Some("corr-1")
    );
    assert!(properties::get(props, properties::PUSH_REPLY_TIME).is_some());
    // Stored in the reply topic too (storeReplyMessageEnable), its id in the answer.
    assert_ne!(r.ext("msgId"), Some("0"));

    // A requester nobody knows, and a reply that names none.
    let r = replier
        .invoke(reply(Some("gone@2"), "late"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(r.response_code(), ResponseCode::SYSTEM_ERROR);
    assert_eq!(
        r.remark.as_deref(),
        Some("push reply message fail, channel of <gone@2> not found.")
    );
    let r = replier.invoke(reply(None, "x"), TIMEOUT).await.unwrap();
    assert_eq!(r.response_code(), ResponseCode::SYSTEM_ERROR);
    assert_eq!(
        r.remark.as_deref(),
        Some("reply message properties[REPLY_TO_CLIENT] is null")
    );

    // The reply topic is a system topic: admins can neither create nor delete it.
    let mut delete = RemotingCommand::request(RequestCode::DELETE_TOPIC_IN_BROKER);
    delete.ext_fields = Some(
        [("topic", "DefaultCluster_REPLY_TOPIC")]
            .into_iter()
            .collect(),
    );
    let r = replier.invoke(delete, TIMEOUT).await.unwrap();
    assert_eq!(r.response_code(), ResponseCode::INVALID_PARAMETER);

    broker.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
