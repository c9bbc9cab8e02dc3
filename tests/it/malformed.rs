//! Malformed frames close only the connection that sent them; bad requests in good frames
//! get an error response and the connection stays usable.

use std::net::SocketAddr;
use std::time::Duration;

use apogee::namesrv::{self, NamesrvConfig};
use apogee::protocol::{RemotingCommand, RequestCode, ResponseCode};
use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::support::{connect, route_request, TIMEOUT};

fn frame(serialize_byte: u8, header: &[u8], declared_header_len: usize) -> Vec<u8> {
    let mut out = BytesMut::new();
    out.put_i32(4 + header.len() as i32);
    out.put_u32(u32::from(serialize_byte) << 24 | declared_header_len as u32);
    out.put_slice(header);
    out.to_vec()
}

/// Sends `bytes` on a fresh connection and expects the server to close it.
async fn assert_closed_after(addr: SocketAddr, what: &str, bytes: &[u8]) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("{what}: connection left open"));
    // EOF, or a reset when unread bytes were left in the server's buffer.
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "{what}: got {read:?} instead of a close"
    );
}

#[actix_rt::test]
async fn malformed_frames_close_only_their_connection() {
    let server = namesrv::start(NamesrvConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..NamesrvConfig::default()
    })
    .await
    .unwrap();
    let addr = server.local_addr();
    let bystander = connect(addr).await;
    let json_header = br#"{"code":105,"flag":0,"language":"JAVA","opaque":1,"version":409}"#;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("length below 4", vec![0, 0, 0, 2, 0, 0, 0, 0]),
        ("negative length", (-5i32).to_be_bytes().to_vec()),
        ("header length past the frame", frame(0, json_header, 1000)),
        ("invalid JSON", frame(0, b"{not json", 9)),
        (
            "unknown serialize type",
            frame(7, json_header, json_header.len()),
        ),
        ("truncated binary header", frame(1, &[0, 105, 0], 3)),
        (
            "100 MiB length",
            (100 * 1024 * 1024i32).to_be_bytes().to_vec(),
        ),
    ];
    for (what, bytes) in cases {
        assert_closed_after(addr, what, &bytes).await;
        let response = bystander
            .invoke(route_request("Nope"), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(
            response.response_code(),
            ResponseCode::TOPIC_NOT_EXIST,
            "after {what}"
        );
    }
}

#[actix_rt::test]
async fn bad_requests_in_good_frames_get_error_codes() {
    let server = namesrv::start(NamesrvConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..NamesrvConfig::default()
    })
    .await
    .unwrap();
    let client = connect(server.local_addr()).await;
    let unknown = client
        .invoke(
            RemotingCommand::request(RequestCode::Unknown(9999)),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(
        unknown.response_code(),
        ResponseCode::REQUEST_CODE_NOT_SUPPORTED
    );
    assert_eq!(
        unknown.remark.as_deref(),
        Some(" request type 9999 not supported")
    );
    let missing = client
        .invoke(
            RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(missing.response_code(), ResponseCode::SYSTEM_ERROR);
    assert!(missing.remark.unwrap().contains("topic"));
    let bad_body = client
        .invoke(
            RemotingCommand::request(RequestCode::QUERY_DATA_VERSION)
                .with_header(&apogee::protocol::header::namesrv::BrokerIdentity {
                    broker_name: "b".into(),
                    broker_addr: "a".into(),
                    cluster_name: "c".into(),
                    broker_id: 0,
                })
                .with_body(&b"{oops"[..]),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(bad_body.response_code(), ResponseCode::SYSTEM_ERROR);
    // The same connection still works.
    let ok = client.invoke(route_request("Nope"), TIMEOUT).await.unwrap();
    assert_eq!(ok.response_code(), ResponseCode::TOPIC_NOT_EXIST);
    // The binary header is answered in kind.
    let binary = client
        .invoke(
            route_request("Nope").with_serialize_type(apogee::protocol::SerializeType::RocketMq),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(
        binary.serialize_type,
        apogee::protocol::SerializeType::RocketMq
    );
    assert_eq!(binary.response_code(), ResponseCode::TOPIC_NOT_EXIST);
}
