//! The console's HTTP side against an in-process name server and broker: `/metrics` (the
//! names RocketMQ 5 exports, values that move with traffic, gauges set when scraped), the
//! admin door `POST /api/admin` (same commands as `apogee admin`, 400 / 502 refusals),
//! the embedded assets; and message traces written by Apogee's own producer and consumer,
//! read back by `queryMsgTraceById`.

use std::net::SocketAddr;
use std::time::Duration;

use apogee::client::{Message, Producer, ProducerConfig, PushConsumer};
use apogee::console::{self, ConsoleConfig};
use apogee::store::FlushMode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::broker::start_with;
use super::client::{client, collector, consumer_config, wait_until, Seen};
use super::store::temp_dir;

/// One HTTP/1.1 exchange: (status, content type, body).
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<(&str, &str)>,
) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (kind, payload) = body.unwrap_or(("text/plain", ""));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\r\n{payload}",
        payload.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_owned)
        })
        .unwrap_or_default();
    // Chunked bodies (actix streams some): join the chunks.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = rest;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&tail[..n]);
            rest = &tail[n + 2..];
        }
        out
    } else {
        rest.to_owned()
    };
    (status, content_type, body)
}

async fn api(addr: SocketAddr, args: &[&str]) -> (u16, Value) {
    let body = serde_json::json!({ "args": args }).to_string();
    let (status, _, text) = http(
        addr,
        "POST",
        "/api/admin",
        Some(("application/json", &body)),
    )
    .await;
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}")),
    )
}

/// The value of the sample whose name and labels start with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

const NODE: &str = r#"node_type="broker",cluster="DefaultCluster",node_id="broker-a",otel_scope_name="broker-meter""#;

#[actix_rt::test]
async fn metrics_move_with_traffic_and_the_console_runs_admin_commands() {
    let dir = temp_dir("console-metrics");
    let (namesrv, broker) = start_with(&dir, FlushMode::Async, |_| {}).await;
    let ns = namesrv.local_addr();
    let web = console::start(
        ConsoleConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            namesrv: ns.to_string(),
            broker: Some(broker.advertised),
        },
        Some(broker.scraper.clone()),
    )
    .unwrap();
    let at = web.local_addr;

    let producer = Producer::start(client(ns), ProducerConfig::new("MetricsP"))
        .await
        .unwrap();
    let bodies = ["one", "two", "three", "four", "five"];
    for body in bodies {
        producer.send(Message::new("MetricsT", body)).await.unwrap();
    }
    let seen = Seen::default();
    let consumer = PushConsumer::builder(client(ns), consumer_config("MetricsG"))
        .subscribe("MetricsT", "*")
        .listen(collector(&seen))
        .start()
        .await
        .unwrap();
    wait_until("5 consumed", Duration::from_secs(20), || {
        seen.lock().unwrap().len() >= 5
    })
    .await;

    let scrape = || async {
        let (status, kind, text) = http(at, "GET", "/metrics", None).await;
        assert_eq!(status, 200);
        assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
        assert!(text.ends_with("# EOF\n"));
        text
    };
    let lag = format!(
        r#"rocketmq_consumer_lag_messages{{{NODE},consumer_group="MetricsG",topic="MetricsT",is_retry="false",is_system="false"}}"#
    );
    // The offsets reach the broker within the consumer's persist interval.
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape().await;
        if sample(&text, &lag) == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sample(&text, &lag), Some(0.0), "{text}");
    let normal = r#"topic="MetricsT",message_type="normal",is_system="false""#;
    assert_eq!(
        sample(
            &text,
            &format!("rocketmq_messages_in_total{{{NODE},{normal}}}")
        ),
        Some(5.0),
        "{text}"
    );
    let bytes: usize = bodies.iter().map(|b| b.len()).sum();
    assert_eq!(
        sample(
            &text,
            &format!("rocketmq_throughput_in_total{{{NODE},{normal}}}")
        ),
        Some(bytes as f64)
    );
    let out = r#"topic="MetricsT",consumer_group="MetricsG",is_system="false""#;
    assert_eq!(
        sample(
            &text,
            &format!("rocketmq_messages_out_total{{{NODE},{out}}}")
        ),
        Some(5.0)
    );
    assert!(
        sample(
            &text,
            &format!("rocketmq_throughput_out_total{{{NODE},{out}}}")
        )
        .unwrap()
            > bytes as f64
    );
    let sends = format!(
        r#"rocketmq_rpc_latency_milliseconds_count{{{NODE},protocol_type="remoting",request_code="send_message_v2",response_code="success",is_long_polling="false",result="success"}}"#
    );
    assert!(sample(&text, &sends).unwrap() >= 5.0, "{text}");
    let members = format!(
        r#"rocketmq_consumer_connections{{{NODE},consumer_group="MetricsG",language="rust""#
    );
    assert_eq!(sample(&text, &members), Some(1.0), "{text}");
    assert!(sample(&text, &format!("apogee_connections{{{NODE}}}")).unwrap() >= 2.0);
    assert!(sample(&text, &format!(r#"rocketmq_storage_size_bytes{{{NODE},storage_type="local",storage_medium="disk"}}"#)).unwrap() > 0.0);
    // A push consumer waits in long polling.
    assert!(
        text.contains(
            r#"request_code="pull_message",response_code="pull_not_found",is_long_polling="true""#
        ) || sample(&text, &format!("apogee_held_pulls{{{NODE}}}")).unwrap() >= 1.0,
        "{text}"
    );

    // The names and types RocketMQ 5's dashboards read (and Apogee's own), as exported.
    let mut types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE ")).collect();
    types.sort_unstable();
    insta::assert_snapshot!("metric_types", types.join("\n"));

    // Three more while nobody consumes: the lag shows them.
    consumer.shutdown().await;
    for body in ["six", "seven", "eight"] {
        producer.send(Message::new("MetricsT", body)).await.unwrap();
    }
    let text = scrape().await;
    assert_eq!(sample(&text, &lag), Some(3.0), "{text}");
    let waited = format!(
        r#"rocketmq_consumer_lag_latency_milliseconds{{{NODE},consumer_group="MetricsG",topic="MetricsT""#
    );
    assert!(sample(&text, &waited).is_some(), "{text}");

    // The admin door: the same commands as `apogee admin`, their JSON documents.
    let (status, answer) = api(at, &["topicStatus", "-t", "MetricsT"]).await;
    assert_eq!(status, 200, "{answer}");
    let max: i64 = answer["result"]
        .as_array()
        .map(|queues| {
            queues
                .iter()
                .map(|q| q["maxOffset"].as_i64().unwrap())
                .sum()
        })
        .unwrap_or_else(|| panic!("{answer}"));
    assert_eq!(max, 8);
    let (status, answer) = api(
        at,
        &[
            "updateTopic",
            "-c",
            "DefaultCluster",
            "-t",
            "FromConsole",
            "-w",
            "2",
            "-r",
            "2",
        ],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (_, route) = api(at, &["topicRoute", "-t", "FromConsole"]).await;
    assert_eq!(
        route["result"]["queueDatas"][0]["writeQueueNums"], 2,
        "{route}"
    );
    let (status, answer) = api(at, &["topicStatus"]).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().contains("--topic"),
        "{answer}"
    );
    let (status, answer) = api(at, &["topicList", "-n", "10.0.0.1:9876"]).await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = api(at, &["topicStatus", "-t", "NoSuchTopic"]).await;
    assert_eq!(status, 502);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("topicStatus: "),
        "{answer}"
    );
    // Only JSON bodies (no form posts from other origins).
    let (status, _, _) = http(
        at,
        "POST",
        "/api/admin",
        Some(("text/plain", r#"{"args":["topicList"]}"#)),
    )
    .await;
    assert!((400..500).contains(&status), "{status}");

    let (status, kind, page) = http(at, "GET", "/", None).await;
    assert_eq!((status, kind.as_str()), (200, "text/html; charset=utf-8"));
    assert!(page.contains("/assets/app.js"), "{page}");
    let (status, kind, _) = http(at, "GET", "/assets/app.js", None).await;
    assert_eq!(
        (status, kind.as_str()),
        (200, "text/javascript; charset=utf-8")
    );
    let (status, _, _) = http(at, "GET", "/assets/nothing.js", None).await;
    assert_eq!(status, 404);
    let (status, _, info) = http(at, "GET", "/api/info", None).await;
    assert_eq!(status, 200);
    let info: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["namesrv"], ns.to_string());

    web.stop().await;
    producer.shutdown().await;
    broker.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn apogee_clients_write_traces_that_query_msg_trace_by_id_reads() {
    let dir = temp_dir("console-trace");
    let (namesrv, broker) =
        start_with(&dir, FlushMode::Async, |c| c.trace_topic_enable = true).await;
    let ns = namesrv.local_addr();
    let mut config = ProducerConfig::new("TracedP");
    config.enable_trace = true;
    let producer = Producer::start(client(ns), config).await.unwrap();
    let sent = producer
        .send(
            Message::new("TracedT", "traced body")
                .with_keys(["order-7"])
                .with_tags("TagT"),
        )
        .await
        .unwrap();
    let seen = Seen::default();
    let mut cc = consumer_config("TracedG");
    cc.enable_trace = true;
    let consumer = PushConsumer::builder(client(ns), cc)
        .subscribe("TracedT", "*")
        .listen(collector(&seen))
        .start()
        .await
        .unwrap();
    wait_until("consumed", Duration::from_secs(20), || {
        !seen.lock().unwrap().is_empty()
    })
    .await;
    let got = seen.lock().unwrap()[0].clone();
    // The broker stamps its region and trace switch, as the Java broker does.
    assert_eq!(got.property("MSG_REGION"), Some("DefaultRegion"));
    assert_eq!(got.property("TRACE_ON"), Some("true"));

    let args: Vec<String> = ["queryMsgTraceById", "-i", &sent.msg_id]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut traces = Vec::new();
    for _ in 0..100 {
        let found = console::api::run(&ns.to_string(), &args).await.unwrap();
        traces = found["traces"].as_array().cloned().unwrap_or_default();
        if traces.iter().any(|t| t["type"] == "SubAfter") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let of = |kind: &str| {
        traces
            .iter()
            .find(|t| t["type"] == kind)
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} in {traces:?}"))
    };
    let publish = of("Pub");
    assert_eq!(publish["group"], "TracedP");
    assert_eq!(publish["topic"], "TracedT");
    assert_eq!(publish["tags"], "TagT");
    assert_eq!(publish["keys"], "order-7");
    assert_eq!(publish["offsetMsgId"], sent.offset_msg_id);
    assert_eq!(publish["storeHost"], broker.advertised.to_string());
    assert_eq!(publish["status"], "success");
    let before = of("SubBefore");
    assert_eq!(
        (before["group"].as_str(), before["regionId"].as_str()),
        (Some("TracedG"), Some("DefaultRegion"))
    );
    let after = of("SubAfter");
    assert_eq!(after["group"], "TracedG");
    assert_eq!(after["requestId"], before["requestId"]);
    assert_eq!(after["success"], true);
    // The trace topic was made at start (traceTopicEnable), with one queue.
    let topic = broker
        .service
        .parts()
        .topics
        .borrow()
        .table
        .get("RMQ_SYS_TRACE_TOPIC")
        .cloned()
        .unwrap();
    assert_eq!((topic.read_queue_nums, topic.write_queue_nums), (1, 1));

    consumer.shutdown().await;
    producer.shutdown().await;
    broker.shutdown().await.unwrap();
}
