//! The broker's Prometheus metrics, named as RocketMQ 5 names them where it has them
//! (`rocketmq_messages_in_total`, `rocketmq_rpc_latency`, `rocketmq_consumer_lag_messages`,
//! …) and `apogee_…` where it does not. Served as text by the console's `GET /metrics`.
//!
//! The send and pull paths count through [`Metrics::message_in`] and
//! [`Metrics::message_out`]: a lookup in a concurrent map by topic (or group) and atomic
//! adds, no allocation once a topic has been seen. Gauges (lag, connections, held pulls,
//! storage) are set when scraped ([`super::scrape`]).

use std::borrow::Cow;

use dashmap::DashMap;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::time::Duration;

use crate::protocol::{RequestCode, ResponseCode};

/// RocketMQ's buckets of `rocketmq_message_size` (bytes).
const MESSAGE_SIZE_BUCKETS: [f64; 6] = [
    1024.0,
    4096.0,
    512.0 * 1024.0,
    1024.0 * 1024.0,
    2.0 * 1024.0 * 1024.0,
    4.0 * 1024.0 * 1024.0,
];

/// RocketMQ's buckets of `rocketmq_rpc_latency` (milliseconds).
const RPC_LATENCY_BUCKETS: [f64; 9] = [1.0, 3.0, 5.0, 7.0, 10.0, 100.0, 1000.0, 2000.0, 3000.0];

tokio::task_local! {
    /// Set while a request is handled; a pull that is held marks it (`is_long_polling`).
    static HELD: std::cell::Cell<bool>;
}

/// Runs a request's handling, returning whether it was held by long polling.
pub async fn watch_hold<T>(handling: impl std::future::Future<Output = T>) -> (T, bool) {
    HELD.scope(std::cell::Cell::new(false), async move {
        let out = handling.await;
        (out, HELD.with(|h| h.get()))
    })
    .await
}

/// Marks the request being handled as held by long polling.
pub fn mark_held() {
    let _ = HELD.try_with(|h| h.set(true));
}

/// What kind of message a send carried (the `message_type` label), decided as RocketMQ's
/// `BrokerMetricsManager.getMessageType` decides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    Normal,
    Fifo,
    Delay,
    Transaction,
}

impl MessageType {
    const ALL: [MessageType; 4] = [Self::Normal, Self::Fifo, Self::Delay, Self::Transaction];

    pub fn label(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Fifo => "fifo",
            Self::Delay => "delay",
            Self::Transaction => "transaction",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InLabels {
    topic: String,
    message_type: &'static str,
    is_system: bool,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutLabels {
    topic: String,
    consumer_group: String,
    is_system: bool,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcLabels {
    protocol_type: &'static str,
    request_code: String,
    response_code: String,
    is_long_polling: bool,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LagLabels {
    pub consumer_group: String,
    pub topic: String,
    pub is_retry: bool,
    pub is_system: bool,
}

impl LagLabels {
    pub fn new(group: &str, topic: &str) -> Self {
        Self {
            consumer_group: group.to_owned(),
            topic: topic.to_owned(),
            is_retry: topic.starts_with(RETRY_PREFIX),
            is_system: is_system(topic),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DlqLabels {
    pub consumer_group: String,
    pub topic: String,
    pub is_system: bool,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConsumerConnectionLabels {
    pub consumer_group: String,
    pub language: String,
    pub version: String,
    pub consume_mode: &'static str,
    pub protocol_type: &'static str,
    pub is_system: bool,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProducerConnectionLabels {
    pub language: String,
    pub version: String,
    pub protocol_type: &'static str,
}

/// The counters of one (topic, message type).
#[derive(Clone)]
struct InCounters {
    messages: Counter,
    bytes: Counter,
    size: Histogram,
}

#[derive(Clone)]
struct OutCounters {
    messages: Counter,
    bytes: Counter,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn rpc_histogram() -> Histogram {
    Histogram::new(RPC_LATENCY_BUCKETS)
}

fn size_histogram() -> Histogram {
    Histogram::new(MESSAGE_SIZE_BUCKETS)
}

/// Gauges set at scrape time.
#[derive(Default)]
pub struct Gauges {
    pub consumer_lag: Family<LagLabels, Gauge>,
    pub consumer_lag_latency: Family<LagLabels, Gauge>,
    pub consumer_connections: Family<ConsumerConnectionLabels, Gauge>,
    pub producer_connections: Family<ProducerConnectionLabels, Gauge>,
    pub broker_permission: Gauge,
    pub topics: Gauge,
    pub consumer_groups: Gauge,
    pub storage_size: Gauge,
    pub flush_behind: Gauge,
    pub dispatch_behind: Gauge,
    pub reserve_time: Gauge,
    pub disk_used: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub held_pulls: Gauge,
    pub connections: Gauge,
}

pub struct Metrics {
    registry: Registry,
    in_messages: Family<InLabels, Counter>,
    in_bytes: Family<InLabels, Counter>,
    message_size: Histograms<InLabels>,
    out_messages: Family<OutLabels, Counter>,
    out_bytes: Family<OutLabels, Counter>,
    dlq: Family<DlqLabels, Counter>,
    rpc: Histograms<RpcLabels>,
    /// By topic: the counters of each message type seen.
    incoming: DashMap<String, [Option<InCounters>; 4]>,
    /// By group: the counters of each topic it pulled.
    outgoing: DashMap<String, Vec<(String, OutCounters)>>,
    /// By (request code, response code, held, oneway).
    latencies: DashMap<(i32, i32, bool, bool), Histogram>,
    pub gauges: Gauges,
}

fn is_system(topic: &str) -> bool {
    crate::actors::topic_config::is_system_topic(topic)
}

const RETRY_PREFIX: &str = crate::actors::topic_config::RETRY_PREFIX;
const DLQ_PREFIX: &str = crate::actors::topic_config::DLQ_PREFIX;

/// A code as RocketMQ's metrics name it: the constant's name in lower case, or the number.
fn code_label(name: &'static str, code: i32) -> String {
    match name {
        "UNKNOWN" => code.to_string(),
        name => name.to_ascii_lowercase(),
    }
}

fn ms() -> Unit {
    Unit::Other("milliseconds".into())
}

impl Metrics {
    /// Every metric is labelled as RocketMQ's exporter labels it: `node_type="broker"`,
    /// `cluster`, `node_id` (the broker name) and `otel_scope_name="broker-meter"`.
    pub fn new(cluster: &str, node_id: &str, flush_latency: Histogram) -> Self {
        let labels = [
            ("node_type", "broker".to_owned()),
            ("cluster", cluster.to_owned()),
            ("node_id", node_id.to_owned()),
            ("otel_scope_name", "broker-meter".to_owned()),
        ];
        let mut registry = Registry::with_labels(
            labels
                .into_iter()
                .map(|(k, v)| (Cow::Borrowed(k), Cow::Owned(v))),
        );
        let in_messages = Family::default();
        let in_bytes = Family::default();
        let message_size: Histograms<InLabels> = Family::new_with_constructor(size_histogram);
        let out_messages = Family::default();
        let out_bytes = Family::default();
        let dlq = Family::default();
        let rpc: Histograms<RpcLabels> = Family::new_with_constructor(rpc_histogram);
        let gauges = Gauges::default();
        let (r, g) = (&mut registry, &gauges);
        r.register(
            "rocketmq_messages_in",
            "Messages stored by sends",
            in_messages.clone(),
        );
        r.register(
            "rocketmq_throughput_in",
            "Body bytes stored by sends",
            in_bytes.clone(),
        );
        r.register(
            "rocketmq_message_size",
            "Body sizes of the messages stored, in bytes",
            message_size.clone(),
        );
        r.register(
            "rocketmq_messages_out",
            "Messages handed to consumers by pulls",
            out_messages.clone(),
        );
        r.register(
            "rocketmq_throughput_out",
            "Bytes handed to consumers by pulls",
            out_bytes.clone(),
        );
        r.register(
            "rocketmq_send_to_dlq_messages",
            "Messages moved to a dead-letter queue",
            dlq.clone(),
        );
        r.register_with_unit(
            "rocketmq_rpc_latency",
            "Time from a request's arrival to its response",
            ms(),
            rpc.clone(),
        );
        r.register(
            "rocketmq_consumer_lag_messages",
            "Messages stored but not yet consumed (committed) by a group",
            g.consumer_lag.clone(),
        );
        r.register_with_unit(
            "rocketmq_consumer_lag_latency",
            "How long the oldest message a group has not consumed has waited",
            ms(),
            g.consumer_lag_latency.clone(),
        );
        r.register(
            "rocketmq_consumer_connections",
            "Consumers online",
            g.consumer_connections.clone(),
        );
        r.register(
            "rocketmq_producer_connections",
            "Producers online",
            g.producer_connections.clone(),
        );
        r.register(
            "rocketmq_broker_permission",
            "The broker's permission (6: read and write)",
            g.broker_permission.clone(),
        );
        r.register("rocketmq_topic_number", "Topics", g.topics.clone());
        r.register(
            "rocketmq_consumer_group_number",
            "Subscription groups",
            g.consumer_groups.clone(),
        );
        {
            let storage = r.sub_registry_with_labels(
                [
                    (Cow::Borrowed("storage_type"), Cow::Borrowed("local")),
                    (Cow::Borrowed("storage_medium"), Cow::Borrowed("disk")),
                ]
                .into_iter(),
            );
            storage.register_with_unit(
                "rocketmq_storage_size",
                "Bytes of the files in the store's directory",
                Unit::Bytes,
                g.storage_size.clone(),
            );
            storage.register(
                "rocketmq_storage_flush_behind_bytes",
                "Bytes of the commit log not yet flushed",
                g.flush_behind.clone(),
            );
            storage.register(
                "rocketmq_storage_dispatch_behind_bytes",
                "Bytes of the commit log not yet dispatched to consume queues and indexes",
                g.dispatch_behind.clone(),
            );
            storage.register_with_unit(
                "rocketmq_storage_message_reserve_time",
                "Time since the oldest message kept was stored",
                ms(),
                g.reserve_time.clone(),
            );
        }
        r.register_with_unit(
            "apogee_flush_latency",
            "Time of one flush (msync) of the commit log",
            Unit::Seconds,
            flush_latency,
        );
        r.register(
            "apogee_disk_used_ratio",
            "Used fraction of the file system holding the store",
            g.disk_used.clone(),
        );
        r.register(
            "apogee_held_pulls",
            "Pulls held by long polling",
            g.held_pulls.clone(),
        );
        r.register(
            "apogee_connections",
            "Remoting connections open",
            g.connections.clone(),
        );
        Self {
            registry,
            in_messages,
            in_bytes,
            message_size,
            out_messages,
            out_bytes,
            dlq,
            rpc,
            incoming: DashMap::new(),
            outgoing: DashMap::new(),
            latencies: DashMap::new(),
            gauges,
        }
    }

    /// Counts messages stored by a send, by their body sizes (as RocketMQ, not the sends
    /// to retry and dead-letter topics).
    pub fn message_in(&self, topic: &str, kind: MessageType, sizes: impl Iterator<Item = usize>) {
        if topic.starts_with(RETRY_PREFIX) || topic.starts_with(DLQ_PREFIX) {
            return;
        }
        let slot = kind as usize;
        let found = self
            .incoming
            .get(topic)
            .and_then(|entry| entry[slot].clone());
        let counters = found.unwrap_or_else(|| {
            let labels = InLabels {
                topic: topic.to_owned(),
                message_type: MessageType::ALL[slot].label(),
                is_system: is_system(topic),
            };
            let made = InCounters {
                messages: self.in_messages.get_or_create_owned(&labels),
                bytes: self.in_bytes.get_or_create_owned(&labels),
                size: self.message_size.get_or_create_owned(&labels),
            };
            self.incoming.entry(topic.to_owned()).or_default()[slot] = Some(made.clone());
            made
        });
        let (mut n, mut total) = (0u64, 0u64);
        for size in sizes {
            n += 1;
            total += size as u64;
            counters.size.observe(size as f64);
        }
        counters.messages.inc_by(n);
        counters.bytes.inc_by(total);
    }

    /// Counts messages a pull handed to `group`.
    pub fn message_out(&self, group: &str, topic: &str, messages: usize, bytes: usize) {
        if messages == 0 {
            return;
        }
        let found = self.outgoing.get(group).and_then(|entry| {
            entry
                .iter()
                .find(|(t, _)| t == topic)
                .map(|(_, counters)| counters.clone())
        });
        let counters = found.unwrap_or_else(|| {
            let labels = OutLabels {
                topic: topic.to_owned(),
                consumer_group: group.to_owned(),
                is_system: is_system(topic),
            };
            let made = OutCounters {
                messages: self.out_messages.get_or_create_owned(&labels),
                bytes: self.out_bytes.get_or_create_owned(&labels),
            };
            self.outgoing
                .entry(group.to_owned())
                .or_default()
                .push((topic.to_owned(), made.clone()));
            made
        });
        counters.messages.inc_by(messages as u64);
        counters.bytes.inc_by(bytes as u64);
    }

    /// A message of `group` (from `topic`) moved to its dead-letter queue.
    pub fn sent_to_dlq(&self, group: &str, topic: &str) {
        self.dlq
            .get_or_create(&DlqLabels {
                consumer_group: group.to_owned(),
                topic: topic.to_owned(),
                is_system: is_system(topic),
            })
            .inc();
    }

    /// A request answered (or, oneway, handled) after `elapsed`.
    pub fn rpc(&self, request: i32, response: i32, held: bool, oneway: bool, elapsed: Duration) {
        let ms = elapsed.as_secs_f64() * 1000.0;
        let key = (request, response, held, oneway);
        if let Some(histogram) = self.latencies.get(&key) {
            histogram.observe(ms);
            return;
        }
        let histogram = self.rpc.get_or_create_owned(&RpcLabels {
            protocol_type: "remoting",
            request_code: code_label(RequestCode::from_wire(request).name(), request),
            response_code: code_label(ResponseCode::from_wire(response).name(), response),
            is_long_polling: held,
            result: if oneway { "oneway" } else { "success" },
        });
        histogram.observe(ms);
        self.latencies.insert(key, histogram);
    }

    /// The registry as Prometheus (OpenMetrics) text.
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_of(text: &str, prefix: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    #[test]
    fn counters_by_topic_type_and_group_keep_rocketmq_labels() {
        let m = Metrics::new("DefaultCluster", "broker-a", Histogram::new([0.001]));
        m.message_in("T", MessageType::Normal, [10, 20].into_iter());
        m.message_in("T", MessageType::Normal, [5].into_iter());
        m.message_in("T", MessageType::Delay, [1].into_iter());
        // Not counted in, as RocketMQ: the retry and dead-letter topics.
        m.message_in("%RETRY%G", MessageType::Normal, [1].into_iter());
        m.message_out("G", "T", 2, 300);
        m.message_out("G", "%RETRY%G", 1, 100);
        m.message_out("G", "T", 0, 0);
        m.rpc(310, 0, false, false, Duration::from_millis(2));
        m.rpc(11, 19, true, false, Duration::from_millis(1500));
        m.rpc(99_999, 0, false, true, Duration::from_millis(0));
        let text = m.encode();
        let base = r#"node_type="broker",cluster="DefaultCluster",node_id="broker-a",otel_scope_name="broker-meter""#;
        let at = |name: &str, labels: &str| value_of(&text, &format!("{name}{{{base},{labels}}}"));
        // Histogram buckets: `le` comes before the family's labels.
        let bucket = |name: &str, le: &str, labels: &str| {
            value_of(
                &text,
                &format!("{name}_bucket{{{base},le=\"{le}\",{labels}}}"),
            )
        };
        let normal = r#"topic="T",message_type="normal",is_system="false""#;
        assert_eq!(
            at("rocketmq_messages_in_total", normal),
            Some(3.0),
            "{text}"
        );
        assert_eq!(at("rocketmq_throughput_in_total", normal), Some(35.0));
        let delay = r#"topic="T",message_type="delay",is_system="false""#;
        assert_eq!(at("rocketmq_messages_in_total", delay), Some(1.0));
        assert!(!text.contains(r#"rocketmq_messages_in_total{node_type="broker",cluster="DefaultCluster",node_id="broker-a",otel_scope_name="broker-meter",topic="%RETRY%G""#));
        let retry = r#"topic="%RETRY%G",consumer_group="G",is_system="false""#;
        assert_eq!(at("rocketmq_messages_out_total", retry), Some(1.0));
        let out = r#"topic="T",consumer_group="G",is_system="false""#;
        assert_eq!(at("rocketmq_throughput_out_total", out), Some(300.0));
        assert_eq!(bucket("rocketmq_message_size", "1024.0", normal), Some(3.0));
        let send = r#"protocol_type="remoting",request_code="send_message_v2",response_code="success",is_long_polling="false",result="success""#;
        assert_eq!(
            bucket("rocketmq_rpc_latency_milliseconds", "1.0", send),
            Some(0.0),
            "{text}"
        );
        assert_eq!(
            bucket("rocketmq_rpc_latency_milliseconds", "3.0", send),
            Some(1.0)
        );
        let held = r#"protocol_type="remoting",request_code="pull_message",response_code="pull_not_found",is_long_polling="true",result="success""#;
        assert_eq!(
            bucket("rocketmq_rpc_latency_milliseconds", "2000.0", held),
            Some(1.0)
        );
        assert_eq!(
            bucket("rocketmq_rpc_latency_milliseconds", "1000.0", held),
            Some(0.0)
        );
        let unknown = r#"protocol_type="remoting",request_code="99999",response_code="success",is_long_polling="false",result="oneway""#;
        assert_eq!(
            at("rocketmq_rpc_latency_milliseconds_count", unknown),
            Some(1.0)
        );
    }
}
