//! The producer: sync, async, oneway and batch sends; round-robin queue choice with
//! latency fault avoidance, or a selector for ordered sends; retries on another broker.
//!
//! Sends use SEND_MESSAGE_V2 (one-letter header, as Java's default) or SEND_BATCH_MESSAGE.
//! A topic the name server does not know yet is sent through the route of `TBW102`, so a
//! broker with auto-create makes it (as RocketMQ producers do).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::error::ClientError;
use super::fault::FaultTable;
use super::instance::Instance;
use super::message::{deflate, Message};
use super::ClientConfig;
use crate::protocol::body::client::MessageQueue;
use crate::protocol::body::{perm, TopicRouteData};
use crate::protocol::message::{encode_batch, sys_flag, BatchItem, MAX_TOPIC_LEN};
use crate::protocol::{properties, ExtFields, RemotingCommand, RequestCode, ResponseCode};
use crate::util::lock;

/// Producer settings (names as RocketMQ's `DefaultMQProducer`).
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    pub group: String,
    /// `sendMsgTimeout`: the whole send, retries included (3 s).
    pub send_timeout: Duration,
    /// `retryTimesWhenSendFailed` (2): extra attempts, preferring another broker.
    pub retry_times: u32,
    /// `compressMsgBodyOverHowmuch` (4096): larger bodies are sent zlib-compressed.
    pub compress_over: usize,
    /// `maxMessageSize` (4 MiB).
    pub max_message_size: usize,
    /// `createTopicKey` (`TBW102`) and `defaultTopicQueueNums` (4) for auto-created topics.
    pub create_topic_key: String,
    pub default_topic_queue_nums: i32,
    /// Avoid brokers that just failed or answered slowly (RocketMQ's
    /// `sendLatencyFaultEnable`; on by default here).
    pub latency_fault_avoidance: bool,
    /// `enableMsgTrace`: record each send in `trace_topic` (see [`super::trace`]).
    pub enable_trace: bool,
    /// `customizedTraceTopic` (`RMQ_SYS_TRACE_TOPIC`).
    pub trace_topic: String,
}

impl ProducerConfig {
    pub fn new(group: impl Into<String>) -> Self {
        Self {
            group: group.into(),
            send_timeout: Duration::from_secs(3),
            retry_times: 2,
            compress_over: 4096,
            max_message_size: 4 * 1024 * 1024,
            create_topic_key: "TBW102".into(),
            default_topic_queue_nums: 4,
            latency_fault_avoidance: true,
            enable_trace: false,
            trace_topic: crate::protocol::trace::DEFAULT_TRACE_TOPIC.into(),
        }
    }
}

/// How the broker stored a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStatus {
    SendOk,
    FlushDiskTimeout,
    FlushSlaveTimeout,
    SlaveNotAvailable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    pub status: SendStatus,
    /// Our `UNIQ_KEY` (comma-joined for a batch).
    pub msg_id: String,
    /// The broker's offset id(s).
    pub offset_msg_id: String,
    pub queue: MessageQueue,
    /// Consume-queue offset of the (first) message.
    pub queue_offset: i64,
    pub region_id: Option<String>,
    /// A timer message's handle for [`Producer::recall`] (RocketMQ 5.3.2+).
    pub recall_handle: Option<String>,
}

/// A cloneable handle; clones share connections and routes.
#[derive(Debug, Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    instance: Arc<Instance>,
    config: ProducerConfig,
    publish: Mutex<HashMap<String, Publish>>,
    counter: AtomicUsize,
    faults: FaultTable,
    tracer: Option<super::trace::Tracer>,
}

/// The writable queues of a topic, derived from a route.
#[derive(Debug, Clone)]
struct Publish {
    route: Option<Arc<TopicRouteData>>,
    queues: Arc<Vec<MessageQueue>>,
    /// Derived from `TBW102` because the topic has no route yet.
    provisional_since: Option<Instant>,
}

/// Which queue a send goes to.
enum Target<'a> {
    RoundRobin,
    Queue(&'a MessageQueue),
}

impl Producer {
    /// Starts a producer of `config.group` against the cluster of `client`.
    pub async fn start(client: ClientConfig, config: ProducerConfig) -> Result<Self, ClientError> {
        let tracer = match config.enable_trace {
            true => Some(
                super::trace::Tracer::start(&client, &config.group, "PRODUCE", &config.trace_topic)
                    .await?,
            ),
            false => None,
        };
        Self::start_untraced(client, config, tracer).await
    }

    /// Starts a producer that records its sends with `tracer` (if any), not one of its own.
    pub(crate) async fn start_untraced(
        client: ClientConfig,
        config: ProducerConfig,
        tracer: Option<super::trace::Tracer>,
    ) -> Result<Self, ClientError> {
        let instance = Instance::start(client).await?;
        instance.add_producer_group(&config.group);
        Ok(Self {
            inner: Arc::new(Inner {
                tracer,
                faults: FaultTable::new(config.latency_fault_avoidance),
                instance,
                config,
                publish: Mutex::default(),
                counter: AtomicUsize::new(rand_start()),
            }),
        })
    }

    pub fn instance(&self) -> &Arc<Instance> {
        &self.inner.instance
    }

    /// The producer group.
    pub fn group(&self) -> &str {
        &self.inner.config.group
    }

    /// Sends one message as a transaction's half (sys flag TRANSACTION_PREPARED).
    pub(crate) async fn send_half(&self, msg: Message) -> Result<SendResult, ClientError> {
        let mut prepared = self.inner.prepare(vec![msg])?;
        prepared.sys_flag |= sys_flag::TRANSACTION_PREPARED_TYPE;
        self.inner.send_prepared(prepared, Target::RoundRobin).await
    }

    /// Sends and waits for the broker's answer, retrying on another broker on failure.
    pub async fn send(&self, msg: Message) -> Result<SendResult, ClientError> {
        self.inner.send(vec![msg], Target::RoundRobin).await
    }

    /// Sends a timer message delivered at `epoch_ms` (the broker keeps it until then).
    pub async fn send_at(&self, msg: Message, epoch_ms: i64) -> Result<SendResult, ClientError> {
        self.send(msg.with_deliver_time_ms(epoch_ms)).await
    }

    /// Sends a timer message delivered `delay` after the broker receives it.
    pub async fn send_after(
        &self,
        msg: Message,
        delay: Duration,
    ) -> Result<SendResult, ClientError> {
        self.send(msg.with_delay(delay)).await
    }

    /// Cancels a timer message not delivered yet, by the handle of its send answer
    /// (RECALL_MESSAGE to the broker the handle names; the broker needs
    /// `recallMessageEnable=true`). Returns the message id.
    pub async fn recall(&self, topic: &str, handle: &str) -> Result<String, ClientError> {
        let broker = crate::protocol::recall::RecallHandle::decode(handle)
            .map(|h| h.broker_name)
            .ok_or_else(|| ClientError::InvalidMessage("not a recall handle".into()))?;
        self.inner.publish_info(topic).await?;
        let addr = self
            .inner
            .instance
            .master_addr(&broker)
            .ok_or_else(|| ClientError::NoRoute(topic.to_owned()))?;
        let mut ext = ExtFields::new();
        ext.append("producerGroup", &self.inner.config.group);
        ext.append("recallHandle", handle);
        ext.append("topic", topic);
        let mut cmd = RemotingCommand::request(RequestCode::RECALL_MESSAGE);
        cmd.ext_fields = Some(ext);
        let timeout = self.inner.config.send_timeout;
        let response = self.inner.instance.invoke(&addr, cmd, timeout).await?;
        if response.response_code() != ResponseCode::SUCCESS {
            return Err(ClientError::Response {
                addr,
                code: response.response_code(),
                remark: response.remark.unwrap_or_default(),
            });
        }
        Ok(response.ext("msgId").unwrap_or_default().to_owned())
    }

    /// Sends to one queue (no move to another queue on failure).
    pub async fn send_to_queue(
        &self,
        msg: Message,
        queue: &MessageQueue,
    ) -> Result<SendResult, ClientError> {
        self.inner.send(vec![msg], Target::Queue(queue)).await
    }

    /// Sends to the queue `selector` picks among the topic's writable queues (by index),
    /// e.g. by hash of an order id, so that related messages keep their order.
    pub async fn send_with_selector<F>(
        &self,
        msg: Message,
        selector: F,
    ) -> Result<SendResult, ClientError>
    where
        F: Fn(&[MessageQueue], &Message) -> usize + Send + Sync,
    {
        check_topic(&msg.topic)?;
        let publish = self.inner.publish_info(&msg.topic).await?;
        let queue = &publish.queues[selector(&publish.queues, &msg) % publish.queues.len()];
        self.inner.send(vec![msg], Target::Queue(queue)).await
    }

    /// Starts a send in the background; the returned future resolves to its result.
    pub fn send_async(
        &self,
        msg: Message,
    ) -> impl Future<Output = Result<SendResult, ClientError>> + Send + 'static {
        let inner = Arc::clone(&self.inner);
        let task = tokio::spawn(async move { inner.send(vec![msg], Target::RoundRobin).await });
        async move {
            task.await
                .unwrap_or(Err(ClientError::NotRunning("producer task")))
        }
    }

    /// Sends without waiting for (or getting) an answer.
    pub async fn send_oneway(&self, msg: Message) -> Result<(), ClientError> {
        let inner = &self.inner;
        let request = inner.prepare(vec![msg])?;
        let publish = inner.publish_info(&request.topic).await?;
        let queue = inner
            .faults
            .select(&publish.queues, &inner.counter, None, Instant::now())
            .ok_or_else(|| ClientError::NoRoute(request.topic.clone()))?
            .clone();
        let addr = inner.addr_of(&queue).await?;
        let cmd = request.command(&inner.config, &queue);
        let client = inner.instance.broker(&addr).await?;
        Ok(client.invoke_oneway(cmd).await?)
    }

    /// Sends messages of one topic as one batch (stored as separate messages, in order,
    /// in one queue).
    pub async fn send_batch(&self, msgs: Vec<Message>) -> Result<SendResult, ClientError> {
        self.inner.send(msgs, Target::RoundRobin).await
    }

    /// A batch to one queue.
    pub async fn send_batch_to_queue(
        &self,
        msgs: Vec<Message>,
        queue: &MessageQueue,
    ) -> Result<SendResult, ClientError> {
        self.inner.send(msgs, Target::Queue(queue)).await
    }

    /// The topic's writable queues (as the producer would choose among them).
    pub async fn queues(&self, topic: &str) -> Result<Vec<MessageQueue>, ClientError> {
        Ok(self.inner.publish_info(topic).await?.queues.to_vec())
    }

    /// Sends the trace records still queued, unregisters from the brokers and stops
    /// background work.
    pub async fn shutdown(&self) {
        if let Some(tracer) = &self.inner.tracer {
            tracer.flush().await;
        }
        self.inner.instance.shutdown().await;
    }
}

/// The `Pub` trace records of a send (none when the broker does not trace: no region in
/// its answer, as the Java client decides).
fn pub_records(
    prepared: &Prepared,
    result: &SendResult,
    group: &str,
    store_host: &str,
    begin_ms: i64,
) -> Vec<crate::protocol::trace::TraceRecord> {
    use crate::protocol::trace::{msg_type, TraceRecord, TraceType};
    let Some(region) = &result.region_id else {
        return Vec::new();
    };
    let props = (!prepared.batch).then_some(prepared.properties.as_str());
    let prop = |name| {
        props
            .and_then(|p| properties::get(p, name))
            .unwrap_or_default()
    };
    let kind = if prepared.sys_flag & sys_flag::TRANSACTION_PREPARED_TYPE != 0 {
        msg_type::TRANS_HALF
    } else if !prop(properties::DELAY).is_empty() {
        msg_type::DELAY
    } else {
        msg_type::NORMAL
    };
    let ids = result
        .msg_id
        .split(',')
        .zip(result.offset_msg_id.split(','));
    ids.map(|(msg_id, offset_msg_id)| TraceRecord {
        kind: TraceType::Pub,
        timestamp: begin_ms,
        region_id: region.clone(),
        topic: prepared.topic.clone(),
        msg_id: msg_id.to_owned(),
        offset_msg_id: offset_msg_id.to_owned(),
        tags: prop(properties::TAGS).to_owned(),
        keys: prop(properties::KEYS).to_owned(),
        store_host: store_host.to_owned(),
        body_length: prepared.body.len() as i32,
        cost_time: crate::util::now_ms() - begin_ms,
        msg_type: kind,
        success: result.status == SendStatus::SendOk,
        group: group.to_owned(),
        ..TraceRecord::default()
    })
    .collect()
}

/// A message (or batch) ready to go, independent of the queue.
struct Prepared {
    topic: String,
    body: Bytes,
    flag: i32,
    sys_flag: i32,
    properties: String,
    msg_id: String,
    batch: bool,
}

impl Prepared {
    fn command(&self, config: &ProducerConfig, queue: &MessageQueue) -> RemotingCommand {
        let mut ext = ExtFields::new();
        ext.append("a", &config.group);
        ext.append("b", &self.topic);
        ext.append("c", &config.create_topic_key);
        ext.append("d", &config.default_topic_queue_nums.to_string());
        ext.append("e", &queue.queue_id.to_string());
        ext.append("f", &self.sys_flag.to_string());
        ext.append("g", &crate::util::now_ms().to_string());
        ext.append("h", &self.flag.to_string());
        ext.append("i", &self.properties);
        ext.append("j", "0");
        ext.append("k", "false");
        if self.batch {
            ext.append("m", "true");
        }
        ext.append("n", &queue.broker_name);
        let code = if self.batch {
            RequestCode::SEND_BATCH_MESSAGE
        } else {
            RequestCode::SEND_MESSAGE_V2
        };
        let mut cmd = RemotingCommand::request(code).with_body(self.body.clone());
        cmd.ext_fields = Some(ext);
        cmd
    }
}

impl Inner {
    async fn send(
        &self,
        msgs: Vec<Message>,
        target: Target<'_>,
    ) -> Result<SendResult, ClientError> {
        let prepared = self.prepare(msgs)?;
        self.send_prepared(prepared, target).await
    }

    /// Checks and encodes: one message, or several as a batch body.
    fn prepare(&self, mut msgs: Vec<Message>) -> Result<Prepared, ClientError> {
        let Some(first) = msgs.first() else {
            return Err(ClientError::InvalidMessage("no message to send".into()));
        };
        let topic = first.topic.clone();
        check_topic(&topic)?;
        for m in &mut msgs {
            if m.topic != topic {
                return Err(ClientError::InvalidMessage(
                    "messages of a batch must have the same topic".into(),
                ));
            }
            if m.body.is_empty() {
                return Err(ClientError::InvalidMessage(
                    "the message body is empty".into(),
                ));
            }
            if m.property(properties::UNIQ_KEY).is_none() {
                m.set_property(properties::UNIQ_KEY, self.instance.ids.next());
            }
        }
        let count = msgs.len();
        let prepared = if count == 1 {
            let m = msgs.pop().unwrap_or_else(|| unreachable!());
            let mut sys = 0;
            let mut body = m.body.clone();
            if body.len() >= self.config.compress_over {
                body = Bytes::from(deflate(&body));
                sys |= sys_flag::COMPRESSED;
            }
            Prepared {
                msg_id: m
                    .property(properties::UNIQ_KEY)
                    .unwrap_or_default()
                    .to_owned(),
                topic,
                body,
                flag: m.flag,
                sys_flag: sys,
                properties: m.encode_properties(),
                batch: false,
            }
        } else {
            if msgs.iter().any(|m| m.property(properties::DELAY).is_some()) {
                return Err(ClientError::InvalidMessage(
                    "delayed messages cannot be sent as a batch".into(),
                ));
            }
            let props: Vec<String> = msgs.iter().map(Message::encode_properties).collect();
            let body = encode_batch(msgs.iter().zip(&props).map(|(m, p)| BatchItem {
                flag: m.flag,
                body: &m.body,
                properties: p,
            }));
            Prepared {
                msg_id: msgs
                    .iter()
                    .map(|m| m.property(properties::UNIQ_KEY).unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(","),
                topic,
                body: Bytes::from(body),
                flag: 0,
                sys_flag: 0,
                properties: properties::encode([(properties::WAIT_STORE_MSG_OK, "true")]),
                batch: true,
            }
        };
        if prepared.body.len() > self.config.max_message_size {
            return Err(ClientError::InvalidMessage(format!(
                "the message body size {} exceeds the maximum {}",
                prepared.body.len(),
                self.config.max_message_size
            )));
        }
        Ok(prepared)
    }

    async fn send_prepared(
        &self,
        prepared: Prepared,
        target: Target<'_>,
    ) -> Result<SendResult, ClientError> {
        let begin = Instant::now();
        let begin_ms = crate::util::now_ms();
        let attempts = 1 + self.config.retry_times;
        let mut last_broker: Option<String> = None;
        let mut last_error = None;
        let mut tried = 0;
        for attempt in 0..attempts {
            let elapsed = begin.elapsed();
            if elapsed >= self.config.send_timeout {
                break;
            }
            tried += 1;
            let queue = match &target {
                Target::Queue(q) => (*q).clone(),
                Target::RoundRobin => {
                    let publish = self.publish_info(&prepared.topic).await?;
                    self.faults
                        .select(
                            &publish.queues,
                            &self.counter,
                            last_broker.as_deref(),
                            Instant::now(),
                        )
                        .ok_or_else(|| ClientError::NoRoute(prepared.topic.clone()))?
                        .clone()
                }
            };
            let started = Instant::now();
            let outcome = self
                .send_once(&prepared, &queue, self.config.send_timeout - elapsed)
                .await;
            let latency = started.elapsed();
            match outcome {
                Ok(result) => {
                    self.faults
                        .record(&queue.broker_name, latency, false, Instant::now());
                    if let Some(tracer) = &self.tracer {
                        let store_host = self.addr_of(&queue).await.unwrap_or_default();
                        let group = &self.config.group;
                        tracer.record(pub_records(
                            &prepared,
                            &result,
                            group,
                            &store_host,
                            begin_ms,
                        ));
                    }
                    return Ok(result);
                }
                Err(e) => {
                    self.faults
                        .record(&queue.broker_name, latency, true, Instant::now());
                    tracing::debug!(queue = ?queue, attempt, error = %e, "send failed");
                    let retry = retryable(&e);
                    last_broker = Some(queue.broker_name.clone());
                    last_error = Some(e);
                    if !retry {
                        break;
                    }
                    if matches!(
                        last_error,
                        Some(ClientError::Response {
                            code: ResponseCode::TOPIC_NOT_EXIST,
                            ..
                        })
                    ) {
                        let _ = self.instance.update_route(&prepared.topic).await;
                    }
                }
            }
        }
        let last = last_error.unwrap_or(ClientError::NoRoute(prepared.topic.clone()));
        Err(ClientError::SendFailed {
            attempts: tried,
            last: Box::new(last),
        })
    }

    async fn send_once(
        &self,
        prepared: &Prepared,
        queue: &MessageQueue,
        timeout: Duration,
    ) -> Result<SendResult, ClientError> {
        let addr = self.addr_of(queue).await?;
        let cmd = prepared.command(&self.config, queue);
        let response = self.instance.invoke(&addr, cmd, timeout).await?;
        let status = match response.response_code() {
            ResponseCode::SUCCESS => SendStatus::SendOk,
            ResponseCode::FLUSH_DISK_TIMEOUT => SendStatus::FlushDiskTimeout,
            ResponseCode::FLUSH_SLAVE_TIMEOUT => SendStatus::FlushSlaveTimeout,
            ResponseCode::SLAVE_NOT_AVAILABLE => SendStatus::SlaveNotAvailable,
            code => {
                return Err(ClientError::Response {
                    addr,
                    code,
                    remark: response.remark.unwrap_or_default(),
                })
            }
        };
        let bad = |what: &str| ClientError::BadResponse {
            addr: addr.clone(),
            source: crate::protocol::HeaderError::Field(format!("send response: {what}")),
        };
        let queue_id = response
            .ext("queueId")
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| bad("queueId"))?;
        let queue_offset = response
            .ext("queueOffset")
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| bad("queueOffset"))?;
        Ok(SendResult {
            status,
            msg_id: prepared.msg_id.clone(),
            offset_msg_id: response.ext("msgId").unwrap_or_default().to_owned(),
            queue: MessageQueue {
                broker_name: queue.broker_name.clone(),
                queue_id,
                topic: queue.topic.clone(),
            },
            queue_offset,
            region_id: response.ext("MSG_REGION").map(str::to_owned),
            recall_handle: response.ext("recallHandle").map(str::to_owned),
        })
    }

    async fn addr_of(&self, queue: &MessageQueue) -> Result<String, ClientError> {
        if let Some(addr) = self.instance.master_addr(&queue.broker_name) {
            return Ok(addr);
        }
        self.instance.update_route(&queue.topic).await?;
        self.instance
            .master_addr(&queue.broker_name)
            .ok_or_else(|| ClientError::NoBroker(queue.broker_name.clone()))
    }

    /// The topic's writable queues, from its route (or from `TBW102` while it has none).
    async fn publish_info(&self, topic: &str) -> Result<Publish, ClientError> {
        let cached = lock(&self.publish).get(topic).cloned();
        if let Some(p) = &cached {
            match p.provisional_since {
                Some(since) if since.elapsed() > Duration::from_millis(500) => {}
                Some(_) => return Ok(p.clone()),
                None => {
                    // Still the route the instance holds? (It refreshes every 30 s.)
                    let current = self.instance.route(topic).await?;
                    if p.route.as_ref().is_some_and(|r| Arc::ptr_eq(r, &current)) {
                        return Ok(p.clone());
                    }
                }
            }
        }
        let publish = match self.instance.route(topic).await {
            Ok(route) => Publish {
                queues: Arc::new(writable_queues(topic, &route, None)),
                route: Some(route),
                provisional_since: None,
            },
            Err(ClientError::NoRoute(_)) if cached.is_some() => {
                let mut p = cached.unwrap_or_else(|| unreachable!());
                p.provisional_since = Some(Instant::now());
                p
            }
            Err(ClientError::NoRoute(_)) => {
                let default = self
                    .instance
                    .fetch_route(&self.config.create_topic_key)
                    .await?;
                let route = Arc::new(default);
                let queues =
                    writable_queues(topic, &route, Some(self.config.default_topic_queue_nums));
                self.instance.remember_brokers(&route);
                Publish {
                    queues: Arc::new(queues),
                    route: None,
                    provisional_since: Some(Instant::now()),
                }
            }
            Err(e) => return Err(e),
        };
        if publish.queues.is_empty() {
            return Err(ClientError::NoRoute(topic.to_owned()));
        }
        lock(&self.publish).insert(topic.to_owned(), publish.clone());
        Ok(publish)
    }
}

/// The writable queues of a route, ordered by broker name then queue id; `cap` limits the
/// count per broker (for the default topic's route).
fn writable_queues(topic: &str, route: &TopicRouteData, cap: Option<i32>) -> Vec<MessageQueue> {
    let mut datas: Vec<_> = route
        .queue_datas
        .iter()
        .filter(|q| perm::writeable(q.perm))
        .filter(|q| {
            route
                .broker_datas
                .iter()
                .any(|b| b.broker_name == q.broker_name && b.master_addr().is_some())
        })
        .collect();
    datas.sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
    let mut out = Vec::new();
    for q in datas {
        let n = cap.map_or(q.write_queue_nums, |c| c.min(q.write_queue_nums));
        for id in 0..n {
            out.push(MessageQueue {
                broker_name: q.broker_name.clone(),
                queue_id: id,
                topic: topic.to_owned(),
            });
        }
    }
    out
}

fn retryable(e: &ClientError) -> bool {
    match e {
        ClientError::Response { code, .. } => matches!(
            code,
            ResponseCode::TOPIC_NOT_EXIST
                | ResponseCode::SERVICE_NOT_AVAILABLE
                | ResponseCode::SYSTEM_ERROR
                | ResponseCode::SYSTEM_BUSY
                | ResponseCode::NO_PERMISSION
                | ResponseCode::NO_BUYER_ID
                | ResponseCode::NOT_IN_CURRENT_UNIT
        ),
        ClientError::Connection(_) | ClientError::NoBroker(_) | ClientError::Io(_) => true,
        _ => false,
    }
}

fn check_topic(topic: &str) -> Result<(), ClientError> {
    let ok = !topic.is_empty()
        && topic.len() <= MAX_TOPIC_LEN
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"%|_-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ClientError::InvalidMessage(format!(
            "the topic {topic:?} is not valid (1..=127 of [%|a-zA-Z0-9_-])"
        )))
    }
}

fn rand_start() -> usize {
    (crate::util::now_ms() as usize).wrapping_mul(2_654_435_761) % 1024
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::body::{BrokerData, QueueData};

    #[test]
    fn writable_queues_follow_perm_and_masters() {
        let route = TopicRouteData {
            broker_datas: vec![
                BrokerData {
                    broker_addrs: [(0, "127.0.0.1:10911".to_owned())].into(),
                    broker_name: "b".into(),
                    ..Default::default()
                },
                BrokerData {
                    broker_addrs: [(0, "127.0.0.1:10921".to_owned())].into(),
                    broker_name: "a".into(),
                    ..Default::default()
                },
                BrokerData {
                    broker_addrs: [(1, "127.0.0.1:10931".to_owned())].into(),
                    broker_name: "slave-only".into(),
                    ..Default::default()
                },
            ],
            queue_datas: ["b", "a", "slave-only", "readonly"]
                .iter()
                .map(|name| QueueData {
                    broker_name: (*name).into(),
                    perm: if *name == "readonly" { 4 } else { 6 },
                    read_queue_nums: 8,
                    topic_sys_flag: 0,
                    write_queue_nums: 3,
                })
                .collect(),
            ..Default::default()
        };
        let qs = writable_queues("T", &route, None);
        let names: Vec<_> = qs
            .iter()
            .map(|q| format!("{}:{}", q.broker_name, q.queue_id))
            .collect();
        assert_eq!(names, ["a:0", "a:1", "a:2", "b:0", "b:1", "b:2"]);
        assert_eq!(writable_queues("T", &route, Some(2)).len(), 4);
    }

    #[test]
    fn topics_are_checked() {
        assert!(check_topic("TopicTest").is_ok());
        assert!(check_topic("%RETRY%g_1|x").is_ok());
        assert!(check_topic("").is_err());
        assert!(check_topic("a b").is_err());
        assert!(check_topic(&"x".repeat(128)).is_err());
    }
}
