//! Snapshot of the name server's actors at work: registrations, route queries, expiry
//! driven by a paused clock, slaves, unregistration, topic deletion and KV config.

use std::time::Duration;

use apogee::actors::registry::ScanExpired;
use apogee::namesrv::{self, NamesrvConfig};
use apogee::protocol::header::namesrv::*;
use apogee::protocol::{RemotingCommand, RequestCode};

use super::support::{register_request, render, route_request};

struct Transcript {
    service: apogee::namesrv::service::NamesrvService,
    steps: Vec<serde_json::Value>,
}

impl Transcript {
    async fn step(&mut self, what: &str, request: RemotingCommand) -> RemotingCommand {
        let response = self.service.handle(None, request).await;
        self.steps
            .push(serde_json::json!({ "step": what, "response": render(&response) }));
        response
    }

    async fn scan(&mut self, what: &str) {
        let expired = self.service.registry.send(ScanExpired).await.unwrap();
        self.steps
            .push(serde_json::json!({ "step": what, "expired": expired }));
    }
}

#[actix_rt::test]
async fn registration_routes_expiry_and_kv() {
    tokio::time::pause();
    let config = NamesrvConfig {
        // Only explicit scans in this test: the interval never fires on its own.
        scan_interval: Duration::from_secs(3600),
        ..NamesrvConfig::default()
    };
    let mut t = Transcript {
        service: namesrv::start_service(&config),
        steps: Vec::new(),
    };
    let a = "127.0.0.1:10911";
    let b = "127.0.0.2:10911";
    t.step(
        "broker-a registers TopicTest and TBW102",
        register_request("C", "broker-a", 0, a, &["TopicTest", "TBW102"], 1),
    )
    .await;
    t.step(
        "broker-b first registers a single topic: refused, as RocketMQ does",
        register_request("C", "broker-b", 0, b, &["TopicB"], 1),
    )
    .await;
    t.step(
        "broker-b registers TopicTest and TopicB",
        register_request("C", "broker-b", 0, b, &["TopicTest", "TopicB"], 1),
    )
    .await;
    t.step(
        "route of TopicTest spans both brokers",
        route_request("TopicTest"),
    )
    .await;
    t.step(
        "cluster info",
        RemotingCommand::request(RequestCode::GET_BROKER_CLUSTER_INFO),
    )
    .await;

    tokio::time::advance(Duration::from_secs(60)).await;
    t.step(
        "60 s later broker-a heartbeats (same data version)",
        register_request("C", "broker-a", 0, a, &["TopicTest", "TBW102"], 1),
    )
    .await;
    tokio::time::advance(Duration::from_secs(61)).await;
    t.scan("121 s after its last heartbeat broker-b expires")
        .await;
    t.step(
        "route of TopicTest shows only broker-a",
        route_request("TopicTest"),
    )
    .await;
    t.step("TopicB is gone with broker-b", route_request("TopicB"))
        .await;

    t.step(
        "a slave of broker-a registers and learns its master",
        register_request(
            "C",
            "broker-a",
            1,
            "127.0.0.3:10911",
            &["TopicTest", "TBW102"],
            1,
        ),
    )
    .await;
    t.step(
        "the master unregisters",
        RemotingCommand::request(RequestCode::UNREGISTER_BROKER).with_header(&BrokerIdentity {
            broker_name: "broker-a".into(),
            broker_addr: a.into(),
            cluster_name: "C".into(),
            broker_id: 0,
        }),
    )
    .await;
    t.step("the route keeps the slave", route_request("TopicTest"))
        .await;
    t.step(
        "topics of cluster C",
        RemotingCommand::request(RequestCode::GET_TOPICS_BY_CLUSTER).with_header(
            &TopicsByClusterRequest {
                cluster: "C".into(),
            },
        ),
    )
    .await;
    t.step(
        "delete TBW102 in cluster C",
        RemotingCommand::request(RequestCode::DELETE_TOPIC_IN_NAMESRV).with_header(
            &DeleteTopicRequest {
                topic: "TBW102".into(),
                cluster_name: Some("C".into()),
            },
        ),
    )
    .await;
    t.step(
        "all topics",
        RemotingCommand::request(RequestCode::GET_ALL_TOPIC_LIST_FROM_NAMESERVER),
    )
    .await;

    let kv = |code, key: &str| {
        RemotingCommand::request(code).with_header(&KvKeyRequest {
            namespace: "ORDER_TOPIC_CONFIG".into(),
            key: key.into(),
        })
    };
    t.step(
        "put a KV config item",
        RemotingCommand::request(RequestCode::PUT_KV_CONFIG).with_header(&PutKvRequest {
            namespace: "ORDER_TOPIC_CONFIG".into(),
            key: "TopicTest".into(),
            value: "broker-a:4".into(),
        }),
    )
    .await;
    t.step("get it", kv(RequestCode::GET_KV_CONFIG, "TopicTest"))
        .await;
    t.step(
        "list the namespace",
        RemotingCommand::request(RequestCode::GET_KVLIST_BY_NAMESPACE).with_header(
            &NamespaceRequest {
                namespace: "ORDER_TOPIC_CONFIG".into(),
            },
        ),
    )
    .await;
    t.step(
        "a registration now carries the order config back",
        register_request(
            "C",
            "broker-a",
            1,
            "127.0.0.3:10911",
            &["TopicTest", "TBW102"],
            1,
        ),
    )
    .await;
    t.step("delete it", kv(RequestCode::DELETE_KV_CONFIG, "TopicTest"))
        .await;
    t.step("get it again", kv(RequestCode::GET_KV_CONFIG, "TopicTest"))
        .await;
    t.step(
        "a header without its required field",
        RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC),
    )
    .await;
    t.step(
        "an unknown request code",
        RemotingCommand::request(RequestCode::Unknown(9999)),
    )
    .await;
    insta::assert_json_snapshot!(t.steps);
}
