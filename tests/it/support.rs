//! Shared builders for the tests.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use apogee::protocol::body::{DataVersion, RegisterBrokerBody, TopicConfig, TopicConfigWrapper};
use apogee::protocol::header::namesrv::{RegisterBrokerRequest, RouteByTopicRequest};
use apogee::protocol::{RemotingCommand, RequestCode};
use apogee::remoting::RemotingClient;

pub const TIMEOUT: Duration = Duration::from_secs(5);

/// A classic hex dump: offset, 16 bytes in hex, printable ASCII.
pub fn hexdump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (line, chunk) in bytes.chunks(16).enumerate() {
        let _ = write!(out, "{:08x} ", line * 16);
        for i in 0..16 {
            match chunk.get(i) {
                Some(b) => {
                    let _ = write!(out, " {b:02x}");
                }
                None => out.push_str("   "),
            }
        }
        out.push_str("  |");
        for &b in chunk {
            out.push(if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            });
        }
        out.push_str("|\n");
    }
    out
}

/// A broker's registration: `topics` each with 4 queues, data version `counter`.
pub fn register_request(
    cluster: &str,
    name: &str,
    id: i64,
    addr: &str,
    topics: &[&str],
    counter: i64,
) -> RemotingCommand {
    let body = RegisterBrokerBody {
        filter_server_list: vec![],
        topic_config_serialize_wrapper: TopicConfigWrapper {
            data_version: DataVersion {
                counter,
                state_version: 0,
                timestamp: 1_700_000_000_000,
            },
            topic_config_table: topics
                .iter()
                .map(|t| (t.to_string(), TopicConfig::new(*t, 4)))
                .collect::<BTreeMap<_, _>>(),
        },
    };
    RemotingCommand::request(RequestCode::REGISTER_BROKER)
        .with_header(&RegisterBrokerRequest {
            broker_name: name.into(),
            broker_addr: addr.into(),
            cluster_name: cluster.into(),
            ha_server_addr: addr.replace(":10911", ":10912"),
            broker_id: id,
            heartbeat_timeout_millis: None,
            enable_acting_master: Some(false),
            compressed: false,
            body_crc32: 0,
        })
        .with_body(body.encode_json())
}

pub fn route_request(topic: &str) -> RemotingCommand {
    RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC).with_header(
        &RouteByTopicRequest {
            topic: topic.into(),
            accept_standard_json_only: None,
        },
    )
}

pub async fn connect(addr: SocketAddr) -> RemotingClient {
    RemotingClient::connect(addr).await.expect("connect")
}

/// A response rendered for snapshots: code name, remark, header fields and JSON body.
pub fn render(response: &RemotingCommand) -> serde_json::Value {
    let body = if response.body.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&response.body)
            .unwrap_or_else(|_| serde_json::Value::String(format!("{:?}", response.body)))
    };
    serde_json::json!({
        "code": response.response_code().name(),
        "remark": response.remark,
        "extFields": response.ext_fields,
        "body": body,
    })
}
