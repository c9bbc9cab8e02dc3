//! The codec over every request and response the name server speaks: round trip in both
//! header serializations, a byte-exact hex snapshot, and truncation at every cut point.

use std::collections::{BTreeMap, BTreeSet};

use apogee::protocol::body::*;
use apogee::protocol::header::namesrv::*;
use apogee::protocol::{
    frame, RemotingCodec, RemotingCommand, RequestCode, ResponseCode, SerializeType,
};
use bytes::{BufMut, Bytes, BytesMut};
use tokio_util::codec::Decoder;

use super::support::{hexdump, register_request};

fn json<T: serde::Serialize>(value: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap())
}

fn broker_data() -> BrokerData {
    BrokerData {
        broker_addrs: BTreeMap::from([
            (0, "127.0.0.1:10911".to_string()),
            (1, "127.0.0.2:10911".to_string()),
        ]),
        broker_name: "broker-a".into(),
        cluster: "DefaultCluster".into(),
        enable_acting_master: false,
        zone_name: None,
    }
}

fn identity() -> BrokerIdentity {
    BrokerIdentity {
        broker_name: "broker-a".into(),
        broker_addr: "127.0.0.1:10911".into(),
        cluster_name: "DefaultCluster".into(),
        broker_id: 0,
    }
}

fn version() -> DataVersion {
    DataVersion {
        counter: 7,
        state_version: 0,
        timestamp: 1_700_000_000_000,
    }
}

fn req(code: RequestCode, opaque: i32) -> RemotingCommand {
    RemotingCommand::request(code).with_opaque(opaque)
}

fn ok(opaque: i32) -> RemotingCommand {
    RemotingCommand::response(ResponseCode::SUCCESS).with_opaque(opaque)
}

/// Every request and response type of the name server, with a name for its snapshot.
fn fixtures() -> Vec<(&'static str, RemotingCommand)> {
    let register = register_request(
        "DefaultCluster",
        "broker-a",
        0,
        "127.0.0.1:10911",
        &["TopicTest", "TBW102"],
        7,
    )
    .with_opaque(1);
    let deflated_body = RegisterBrokerBody::decode(&register.body, false, 479)
        .unwrap()
        .encode_deflated(479);
    let mut deflated = register.clone().with_body(deflated_body).with_opaque(2);
    deflated
        .ext_fields
        .as_mut()
        .unwrap()
        .insert("compressed", "true");
    let route = TopicRouteData {
        broker_datas: vec![broker_data()],
        filter_server_table: BTreeMap::new(),
        order_topic_conf: None,
        queue_datas: vec![QueueData {
            broker_name: "broker-a".into(),
            perm: 6,
            read_queue_nums: 4,
            topic_sys_flag: 0,
            write_queue_nums: 4,
        }],
    };
    let cluster_info = ClusterInfo {
        broker_addr_table: BTreeMap::from([("broker-a".into(), broker_data())]),
        cluster_addr_table: BTreeMap::from([(
            "DefaultCluster".into(),
            BTreeSet::from(["broker-a".to_string()]),
        )]),
    };
    let topics = TopicList {
        broker_addr: None,
        topic_list: BTreeSet::from(["TBW102".to_string(), "TopicTest".to_string()]),
    };
    let kv_table = KvTable {
        table: BTreeMap::from([("TopicTest".into(), "broker-a:4".into())]),
    };
    vec![
        ("register_broker_request", register),
        ("register_broker_request_deflated", deflated),
        (
            "register_broker_response_slave",
            ok(1).with_header(&RegisterBrokerResponse {
                ha_server_addr: Some("127.0.0.1:10912".into()),
                master_addr: Some("127.0.0.1:10911".into()),
            }),
        ),
        (
            "register_broker_response_order_conf",
            ok(1).with_body(json(&kv_table)),
        ),
        (
            "register_broker_crc_mismatch",
            RemotingCommand::error(ResponseCode::SYSTEM_ERROR, "crc32 not match").with_opaque(1),
        ),
        (
            "unregister_broker_request",
            req(RequestCode::UNREGISTER_BROKER, 3).with_header(&identity()),
        ),
        ("unregister_broker_response", ok(3)),
        (
            "query_data_version_request",
            req(RequestCode::QUERY_DATA_VERSION, 4)
                .with_header(&identity())
                .with_body(json(&version())),
        ),
        (
            "query_data_version_response",
            ok(4)
                .with_header(&QueryDataVersionResponse { changed: true })
                .with_body(json(&version())),
        ),
        (
            "route_request",
            req(RequestCode::GET_ROUTEINFO_BY_TOPIC, 5).with_header(&RouteByTopicRequest {
                topic: "TopicTest".into(),
                accept_standard_json_only: Some(true),
            }),
        ),
        ("route_response", ok(5).with_body(json(&route))),
        (
            "route_topic_not_exist",
            RemotingCommand::error(
                ResponseCode::TOPIC_NOT_EXIST,
                "No topic route info in name server for the topic: Nope",
            )
            .with_opaque(5),
        ),
        (
            "cluster_info_request",
            req(RequestCode::GET_BROKER_CLUSTER_INFO, 6),
        ),
        (
            "cluster_info_response",
            ok(6).with_body(json(&cluster_info)),
        ),
        (
            "all_topics_request",
            req(RequestCode::GET_ALL_TOPIC_LIST_FROM_NAMESERVER, 7),
        ),
        ("all_topics_response", ok(7).with_body(json(&topics))),
        (
            "topics_by_cluster_request",
            req(RequestCode::GET_TOPICS_BY_CLUSTER, 8).with_header(&TopicsByClusterRequest {
                cluster: "DefaultCluster".into(),
            }),
        ),
        ("topics_by_cluster_response", ok(8).with_body(json(&topics))),
        (
            "delete_topic_request",
            req(RequestCode::DELETE_TOPIC_IN_NAMESRV, 9).with_header(&DeleteTopicRequest {
                topic: "TopicTest".into(),
                cluster_name: Some("DefaultCluster".into()),
            }),
        ),
        ("delete_topic_response", ok(9)),
        (
            "put_kv_request",
            req(RequestCode::PUT_KV_CONFIG, 10).with_header(&PutKvRequest {
                namespace: "ORDER_TOPIC_CONFIG".into(),
                key: "TopicTest".into(),
                value: "broker-a:4".into(),
            }),
        ),
        ("put_kv_response", ok(10)),
        (
            "get_kv_request",
            req(RequestCode::GET_KV_CONFIG, 11).with_header(&KvKeyRequest {
                namespace: "ORDER_TOPIC_CONFIG".into(),
                key: "TopicTest".into(),
            }),
        ),
        (
            "get_kv_response",
            ok(11).with_header(&KvValueResponse {
                value: "broker-a:4".into(),
            }),
        ),
        (
            "get_kv_not_found",
            RemotingCommand::error(
                ResponseCode::QUERY_NOT_FOUND,
                "No config item, Namespace: N Key: K",
            )
            .with_opaque(11),
        ),
        (
            "delete_kv_request",
            req(RequestCode::DELETE_KV_CONFIG, 12).with_header(&KvKeyRequest {
                namespace: "ORDER_TOPIC_CONFIG".into(),
                key: "TopicTest".into(),
            }),
        ),
        ("delete_kv_response", ok(12)),
        (
            "kv_namespace_request",
            req(RequestCode::GET_KVLIST_BY_NAMESPACE, 13).with_header(&NamespaceRequest {
                namespace: "ORDER_TOPIC_CONFIG".into(),
            }),
        ),
        ("kv_namespace_response", ok(13).with_body(json(&kv_table))),
        (
            "request_code_not_supported",
            RemotingCommand::error(
                ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
                " request type 9999 not supported",
            )
            .with_opaque(14),
        ),
        (
            "oneway_request",
            req(RequestCode::UPDATE_CONSUMER_OFFSET, 15).oneway(),
        ),
    ]
}

/// Encodes in the given serialization.
fn encode(cmd: &RemotingCommand, serialize_type: SerializeType) -> Vec<u8> {
    frame::encode_to_vec(&cmd.clone().with_serialize_type(serialize_type))
}

fn decode_all(bytes: &[u8]) -> Result<Option<RemotingCommand>, apogee::protocol::WireError> {
    RemotingCodec::default().decode(&mut BytesMut::from(bytes))
}

#[test]
fn every_command_round_trips_in_both_serializations() {
    for (name, cmd) in fixtures() {
        for serialize_type in [SerializeType::Json, SerializeType::RocketMq] {
            let bytes = encode(&cmd, serialize_type);
            let decoded = decode_all(&bytes)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .unwrap_or_else(|| panic!("{name}: incomplete"));
            let mut expected = cmd.clone().with_serialize_type(serialize_type);
            if serialize_type == SerializeType::RocketMq {
                // A binary header carries the language as a byte: ours is RUST, kept as is.
                expected.language = cmd.language;
            }
            assert_eq!(decoded, expected, "{name} as {serialize_type:?}");
        }
    }
}

#[test]
fn every_command_has_a_byte_exact_snapshot() {
    for (name, cmd) in fixtures() {
        let dump = format!(
            "JSON header:\n{}\nROCKETMQ header:\n{}",
            hexdump(&encode(&cmd, SerializeType::Json)),
            hexdump(&encode(&cmd, SerializeType::RocketMq))
        );
        insta::assert_snapshot!(name, dump);
    }
}

#[test]
fn every_cut_point_is_incomplete_or_an_error_never_a_panic() {
    for (name, cmd) in fixtures() {
        for serialize_type in [SerializeType::Json, SerializeType::RocketMq] {
            let bytes = encode(&cmd, serialize_type);
            let header_len =
                (u32::from_be_bytes(bytes[4..8].try_into().unwrap()) & 0xFF_FFFF) as usize;
            for cut in 0..bytes.len() {
                // A prefix of a frame is simply not complete yet.
                assert!(
                    matches!(decode_all(&bytes[..cut]), Ok(None)),
                    "{name} {serialize_type:?}: prefix of {cut} bytes"
                );
                // A frame whose length claims only `cut` bytes: a cut inside the header is an
                // error; a cut inside the body yields a shorter body.
                if cut >= 8 {
                    let mut short = BytesMut::new();
                    short.put_i32((cut - 4) as i32);
                    short.put_slice(&bytes[4..cut]);
                    let result = decode_all(&short);
                    if cut < 8 + header_len {
                        assert!(
                            result.is_err(),
                            "{name} {serialize_type:?}: header cut at {cut}"
                        );
                    } else {
                        let decoded = result.unwrap().unwrap();
                        assert_eq!(&decoded.body[..], &cmd.body[..cut - 8 - header_len]);
                    }
                }
            }
        }
    }
}

#[test]
fn typed_headers_and_bodies_decode_back() {
    let fixtures: BTreeMap<_, _> = fixtures().into_iter().collect();
    let register = &fixtures["register_broker_request"];
    let header: RegisterBrokerRequest = register.header().unwrap();
    assert_eq!(header.broker_id, 0);
    assert_eq!(header.enable_acting_master, Some(false));
    let plain = RegisterBrokerBody::decode(&register.body, false, 479).unwrap();
    let deflated = &fixtures["register_broker_request_deflated"];
    assert_eq!(deflated.body[0], 0x78, "a zlib stream");
    // 5.3 brokers deflate without setting `compressed`: sniffed either way.
    assert_eq!(
        RegisterBrokerBody::decode(&deflated.body, false, 479).unwrap(),
        plain
    );
    assert_eq!(
        RegisterBrokerBody::decode(&deflated.body, true, 479).unwrap(),
        plain
    );
    // A 4.9 broker's deflated body has no mapping section.
    let v49 = plain.encode_deflated(409);
    assert_eq!(RegisterBrokerBody::decode(&v49, true, 409).unwrap(), plain);
    let route: TopicRouteData =
        apogee::protocol::fastjson::from_slice(&fixtures["route_response"].body).unwrap();
    assert_eq!(route.broker_datas[0].master_addr(), Some("127.0.0.1:10911"));
    let identity: BrokerIdentity = fixtures["unregister_broker_request"].header().unwrap();
    assert_eq!(identity.cluster_name, "DefaultCluster");
}

#[test]
fn fastjson_route_with_unquoted_ids_is_read() {
    // What a Java name server sends to clients older than 4.9.4.
    let text = br#"{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.2:10911"},"brokerName":"broker-a","cluster":"c"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSynFlag":0,"writeQueueNums":4}]}"#;
    let route: TopicRouteData = apogee::protocol::fastjson::from_slice(text).unwrap();
    assert_eq!(route.broker_datas[0].broker_addrs[&1], "127.0.0.2:10911");
    assert_eq!(route.queue_datas[0].write_queue_nums, 4);
}

#[test]
fn java_json_header_is_read_with_quirks() {
    // fastjson's output for a Java send-back, with \u0001/\u0002 property separators and an
    // unknown key, plus a numeric ext value as some clients send.
    let header = br#"{"code":310,"extFields":{"a":"g","i":"KEYS\u0001k1\u0002","n":12},"flag":0,"language":"JAVA","opaque":42,"serializeTypeCurrentRPC":"JSON","version":409}"#;
    let mut frame = BytesMut::new();
    frame.put_i32(4 + header.len() as i32 + 3);
    frame.put_u32(header.len() as u32);
    frame.put_slice(header);
    frame.put_slice(b"abc");
    let cmd = decode_all(&frame).unwrap().unwrap();
    assert_eq!(cmd.request_code(), RequestCode::SEND_MESSAGE_V2);
    assert_eq!(cmd.ext("i"), Some("KEYS\u{1}k1\u{2}"));
    assert_eq!(cmd.ext("n"), Some("12"));
    assert_eq!(cmd.version, 409);
    assert_eq!(&cmd.body[..], b"abc");
    // And we write the control characters escaped, as fastjson does.
    let out = frame::encode_to_vec(&cmd);
    assert!(String::from_utf8_lossy(&out).contains(r"KEYS\u0001k1\u0002"));
}
