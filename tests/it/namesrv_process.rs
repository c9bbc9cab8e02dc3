//! `apogee namesrv` as a process: a broker registered over TCP is routed, then forgotten
//! after expiry; a broker whose connection closes is forgotten at once.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apogee::protocol::body::TopicRouteData;
use apogee::protocol::ResponseCode;
use apogee::remoting::RemotingClient;

use super::support::{connect, register_request, route_request, TIMEOUT};

struct NameServerProcess {
    child: Child,
    addr: SocketAddr,
}

impl Drop for NameServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_namesrv(broker_timeout_ms: u64) -> NameServerProcess {
    let mut child = Command::new(env!("CARGO_BIN_EXE_apogee"))
        .args([
            "namesrv",
            "--listen",
            "127.0.0.1:0",
            "--no-kv-file",
            "--broker-timeout-ms",
            &broker_timeout_ms.to_string(),
            "--scan-interval-ms",
            "100",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn apogee namesrv");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .rsplit(' ')
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    NameServerProcess { child, addr }
}

async fn route_code(
    client: &RemotingClient,
    topic: &str,
) -> (ResponseCode, Option<TopicRouteData>) {
    let response = client.invoke(route_request(topic), TIMEOUT).await.unwrap();
    let route = (response.response_code() == ResponseCode::SUCCESS)
        .then(|| serde_json::from_slice(&response.body).unwrap());
    (response.response_code(), route)
}

#[tokio::test]
async fn routes_a_registered_broker_then_forgets_it_after_expiry() {
    let namesrv = spawn_namesrv(1500);
    let broker = connect(namesrv.addr).await;
    let client = connect(namesrv.addr).await;
    assert_eq!(
        route_code(&client, "TopicTest").await.0,
        ResponseCode::TOPIC_NOT_EXIST
    );

    let registered_at = Instant::now();
    let request = register_request(
        "C",
        "broker-a",
        0,
        "127.0.0.1:10911",
        &["TopicTest", "T2"],
        1,
    );
    let response = broker.invoke(request, TIMEOUT).await.unwrap();
    assert_eq!(response.response_code(), ResponseCode::SUCCESS);
    assert_eq!(response.version, apogee::protocol::APOGEE_VERSION);

    let (code, route) = route_code(&client, "TopicTest").await;
    assert_eq!(code, ResponseCode::SUCCESS);
    let route = route.unwrap();
    assert_eq!(route.broker_datas[0].master_addr(), Some("127.0.0.1:10911"));
    assert_eq!(route.queue_datas[0].write_queue_nums, 4);

    // The broker's connection stays open but it stops heartbeating: expiry removes it.
    loop {
        let (code, _) = route_code(&client, "TopicTest").await;
        if code == ResponseCode::TOPIC_NOT_EXIST {
            break;
        }
        assert!(
            registered_at.elapsed() < Duration::from_secs(10),
            "never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        registered_at.elapsed() >= Duration::from_millis(1500),
        "expired before its timeout: {:?}",
        registered_at.elapsed()
    );
    assert!(broker.is_open());
}

#[tokio::test]
async fn forgets_a_broker_whose_connection_closes() {
    let namesrv = spawn_namesrv(120_000);
    let client = connect(namesrv.addr).await;
    {
        let broker = connect(namesrv.addr).await;
        let request = register_request(
            "C",
            "broker-a",
            0,
            "127.0.0.1:10911",
            &["TopicTest", "T2"],
            1,
        );
        broker.invoke(request, TIMEOUT).await.unwrap();
        assert_eq!(
            route_code(&client, "TopicTest").await.0,
            ResponseCode::SUCCESS
        );
    }
    // Dropping the last handle ends the connection; no expiry is needed (timeout is 120 s).
    let closed_at = Instant::now();
    while route_code(&client, "TopicTest").await.0 == ResponseCode::SUCCESS {
        assert!(
            closed_at.elapsed() < Duration::from_secs(5),
            "still routed after close"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
