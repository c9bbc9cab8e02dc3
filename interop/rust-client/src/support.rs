//! Shared plumbing: settings, the owned client runtime, unique names, client factories,
//! topic creation, the recording listener, bounded waits and the lite-pull read-back.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use rocketmq_client_rust::{
    ClientConfig, ClientError, ClientResult, ClientRuntime, ClientRuntimeConfig,
    ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, DefaultLitePullConsumer,
    DefaultMQProducer, DefaultMQPushConsumer, MQPushConsumer, MessageListenerConcurrently,
    TelemetryHandle,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_queue::MessageQueue;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_model::common::message::MessageTrait;
use rocketmq_protocol::protocol::heartbeat::message_model::MessageModel;
use rocketmq_runtime::{RuntimeConfig, RuntimeOwner};

/// RocketMQ's template topic: its route tells a client which brokers may create topics.
pub const TBW102: &str = "TBW102";
/// Queues per test topic.
pub const QUEUES: usize = 4;

/// What the run is configured with (environment, with defaults that suit a 2-core machine).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `APOGEE_NAMESRV`: the name server address.
    pub namesrv: String,
    /// `INTEROP_RUN`: suffix of every topic / group / instance name (default: time based).
    pub run: String,
    /// `INTEROP_MESSAGES`: messages per send mode (sync, async, batch) and per push scenario.
    pub messages: usize,
    /// `INTEROP_ONEWAY_MESSAGES`: oneway sends.
    pub oneway_messages: usize,
    /// `INTEROP_LANE_DEPTH`: admission queue depth of the runtime's metadata-io lane, on
    /// which the push consumer runs every listener call (the crate derives 8 × cores, i.e.
    /// 16 here, and treats a full lane as RECONSUME_LATER; see protocol doc §9).
    pub lane_depth: usize,
    /// `INTEROP_ASYNC_IN_FLIGHT`: bound on async sends awaiting their callback.
    pub async_in_flight: usize,
    /// `INTEROP_WAIT_SECS`: how long a wait may go without progress before it gives up.
    pub wait: Duration,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|_| anyhow!("{name}={v:?} is not a valid value")),
        _ => Ok(default),
    }
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let namesrv = std::env::var("APOGEE_NAMESRV")
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .context("APOGEE_NAMESRV is not set (run.sh sets it)")?;
        let millis = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64;
        let run = env_or("INTEROP_RUN", base36(millis % 36u64.pow(7)))?;
        Ok(Self {
            namesrv,
            run,
            messages: env_or("INTEROP_MESSAGES", 10_000)?,
            oneway_messages: env_or("INTEROP_ONEWAY_MESSAGES", 10_000)?,
            lane_depth: env_or("INTEROP_LANE_DEPTH", 8_192)?,
            async_in_flight: env_or("INTEROP_ASYNC_IN_FLIGHT", 256)?,
            wait: Duration::from_secs(env_or("INTEROP_WAIT_SECS", 60)?),
        })
    }

    pub fn describe(&self) -> String {
        format!(
            "run {}, {} msgs/mode ({} oneway), metadata-io lane depth {}, \
             async in flight <= {}, waits <= {} s without progress",
            self.run,
            self.messages,
            self.oneway_messages,
            self.lane_depth,
            self.async_in_flight,
            self.wait.as_secs()
        )
    }
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Client logs (the crate logs through `tracing`) go to stderr; `INTEROP_LOG` is the filter.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("INTEROP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// The application-owned runtime the crate requires, and the one `ClientRuntime` on it.
pub struct Harness {
    pub settings: Settings,
    owner: RuntimeOwner,
    pub client: Arc<ClientRuntime>,
}

impl Harness {
    pub fn new(settings: Settings) -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let mut config = RuntimeConfig::for_parallelism("apogee-interop", cores);
        config.blocking_lane_policies.metadata_io.max_queue_depth = settings.lane_depth;
        let owner = RuntimeOwner::plan(config)
            .map_err(|v| anyhow!("runtime config rejected: {v:?}"))?
            .build()
            .map_err(|e| anyhow!("runtime owner: {e}"))?;
        let client = ClientRuntime::try_new(
            owner.root_context().component("interop"),
            ClientRuntimeConfig::default(),
            TelemetryHandle::noop(),
        )
        .map_err(|e| anyhow!("client runtime: {}", describe(&e)))?;
        Ok(Self {
            settings,
            owner,
            client,
        })
    }

    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.owner.block_on(f)
    }

    /// Topic / group / instance names unique to this run.
    pub fn name(&self, scenario: &str, kind: &str) -> String {
        format!("rsit_{scenario}_{kind}_{}", self.settings.run)
    }

    fn client_config(&self, instance: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set_namesrv_addr(self.settings.namesrv.as_str().into());
        config.set_instance_name(instance.into());
        config
    }

    /// A started producer. Settings: 10 s send timeout; the crate's own async back-pressure
    /// on, at the same bound the tests keep (`async_in_flight`).
    pub async fn producer(&self, scenario: &str) -> anyhow::Result<DefaultMQProducer> {
        let mut producer = DefaultMQProducer::builder(self.client.clone())
            .client_config(self.client_config(&self.name(scenario, "producer")))
            .producer_group(self.name(scenario, "pg"))
            .send_msg_timeout(10_000)
            .enable_backpressure_for_async_mode(true)
            .back_pressure_for_async_send_num(self.settings.async_in_flight as u32)
            .build();
        producer
            .start()
            .await
            .map_err(|e| anyhow!("producer start: {}", describe(&e)))?;
        Ok(producer)
    }

    /// Creates `topic` with [`QUEUES`] queues on the brokers serving TBW102 (the crate's
    /// `create_topic`, i.e. UPDATE_AND_CREATE_TOPIC) and waits until the name server routes it.
    pub async fn create_topic(
        &self,
        producer: &mut DefaultMQProducer,
        topic: &str,
    ) -> anyhow::Result<()> {
        producer
            .create_topic(TBW102, topic, QUEUES as i32, HashMap::new())
            .await
            .map_err(|e| anyhow!("create_topic({topic}) via {TBW102}: {}", describe(&e)))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = String::from("no lookup yet");
        while Instant::now() < deadline {
            match producer.fetch_publish_message_queues(topic).await {
                Ok(queues) if queues.len() == QUEUES => return Ok(()),
                Ok(queues) => last = format!("route has {} queues", queues.len()),
                Err(e) => last = describe(&e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("topic {topic} created but not routed with {QUEUES} queues within 30 s; last: {last}")
    }

    /// A push consumer (not started) with a recording listener. Settings: consume from the
    /// first offset (a new group reads the whole topic), instance name `member` so two
    /// members in one process are two clients, everything else the crate's default.
    pub async fn push_consumer(
        &self,
        group: &str,
        member: &str,
        topic: &str,
        expression: &str,
        model: MessageModel,
        recorder: Arc<Recorder>,
    ) -> anyhow::Result<DefaultMQPushConsumer> {
        let mut consumer = DefaultMQPushConsumer::builder(self.client.clone())
            .client_config(self.client_config(&format!("{group}_{member}")))
            .consumer_group(group)
            .message_model(model)
            .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
            .build();
        consumer
            .subscribe(topic, expression)
            .await
            .map_err(|e| anyhow!("subscribe({topic}, {expression:?}): {}", describe(&e)))?;
        consumer.register_message_listener_concurrently(Listener(recorder));
        Ok(consumer)
    }

    /// A started lite pull consumer of its own group, subscribed to all of `topic`. Settings:
    /// batches of 32, and the broker asked to hold an empty pull for at most 2 s (default
    /// 20 s): the crate gives each pull task 5 s to stop at shutdown and aborts it otherwise.
    pub async fn lite_pull_consumer(
        &self,
        group: &str,
        topic: &str,
    ) -> anyhow::Result<DefaultLitePullConsumer> {
        let consumer = DefaultLitePullConsumer::builder(self.client.clone())
            .name_server_addr(self.settings.namesrv.as_str())
            .consumer_group(group)
            .instance_name(group)
            .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
            .pull_batch_size(32)
            .poll_timeout_millis(1_000)
            .broker_suspend_max_time_millis(2_000)
            .consumer_timeout_millis_when_suspend(5_000)
            .build()
            .map_err(|e| anyhow!("lite pull consumer build: {}", describe(&e)))?;
        consumer
            .subscribe(topic)
            .await
            .map_err(|e| anyhow!("lite pull subscribe({topic}): {}", describe(&e)))?;
        consumer
            .start()
            .await
            .map_err(|e| anyhow!("lite pull consumer start: {}", describe(&e)))?;
        Ok(consumer)
    }

    pub fn shutdown(self) {
        let Self { owner, client, .. } = self;
        let report = owner.block_on(async move { client.shutdown().await });
        if !report.is_healthy() {
            eprintln!(
                "rust-interop: client runtime shutdown not clean: {}",
                report.to_json()
            );
        }
        if let Err(e) = owner.shutdown_runtime_blocking() {
            eprintln!("rust-interop: runtime shutdown: {e}");
        }
    }
}

/// A client error with everything it carries: its display (the crate redacts broker
/// remarks), the broker response code, the broker address and the chain of causes.
pub fn describe(e: &ClientError) -> String {
    let mut s = e.to_string();
    if let Some(code) = e.broker_response_code() {
        s.push_str(&format!(" [broker code {code}]"));
    }
    if let Some(addr) = e.broker_addr() {
        s.push_str(&format!(" [broker {addr}]"));
    }
    let mut source = std::error::Error::source(e);
    let mut depth = 0;
    while let Some(cause) = source {
        let text = cause.to_string();
        if !s.contains(&text) {
            s.push_str(&format!(" <- {text}"));
        }
        source = cause.source();
        depth += 1;
        if depth > 6 {
            break;
        }
    }
    s
}

/// A message whose body names it uniquely: `<topic>|<label>|<index>|` plus padding.
pub fn message(topic: &str, tag: &str, label: &str, index: usize) -> Message {
    let id = id(label, index);
    let body = format!("{topic}|{id}|{}", "x".repeat(64));
    Message::builder()
        .topic(topic)
        .tags(tag)
        .key(id.as_str())
        .body_slice(body.as_bytes())
        .build_unchecked()
}

/// The unique id of message `index` of `label`.
pub fn id(label: &str, index: usize) -> String {
    format!("{label}-{index:06}")
}

/// The unique id (`<label>-<index>`) inside a body built by [`message`].
pub fn body_id(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.split('|')
        .nth(1)
        .unwrap_or("<unparsable body>")
        .to_string()
}

/// What is wrong with a delivered message built by [`message`], if anything: its topic must
/// be the one named in its body (also for redeliveries from `%RETRY%`), its KEYS property
/// its id, and it must carry a message id.
pub fn integrity(m: &MessageExt) -> Option<String> {
    let body = m.body()?;
    let text = String::from_utf8_lossy(&body);
    let mut parts = text.split('|');
    let (topic, id) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let keys = m.get_keys().map(|k| k.to_string()).unwrap_or_default();
    if m.topic().as_str() != topic {
        return Some(format!(
            "{id}: topic {:?}, body says {topic:?}",
            m.topic().as_str()
        ));
    }
    if keys != id {
        return Some(format!("{id}: KEYS {keys:?}"));
    }
    if m.msg_id().is_empty() {
        return Some(format!("{id}: empty msgId"));
    }
    None
}

/// Everything a consumer was handed, as the listener saw it.
#[derive(Default)]
pub struct Recorder {
    inner: Mutex<Record>,
    /// Optional pause per message inside the listener (to stop a consumer mid-stream).
    pub delay: Option<Duration>,
}

#[derive(Default, Clone)]
pub struct Record {
    /// Deliveries per message id.
    pub seen: HashMap<String, u32>,
    /// Deliveries per tag (`<none>` when absent).
    pub tags: BTreeMap<String, u32>,
    /// Deliveries per queue id.
    pub queues: BTreeMap<i32, u32>,
    /// Deliveries with reconsume_times > 0 (redeliveries from %RETRY%).
    pub redelivered: u32,
    /// Deliveries failing [`integrity`], and the first such problem.
    pub damaged: u32,
    pub first_damage: Option<String>,
    pub deliveries: u32,
}

impl Record {
    pub fn unique(&self) -> usize {
        self.seen.len()
    }
    pub fn duplicates(&self) -> u32 {
        self.seen.values().map(|n| n - 1).sum()
    }
}

impl Recorder {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    pub fn slow(delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::default(),
            delay: Some(delay),
        })
    }
    pub fn snapshot(&self) -> Record {
        self.inner.lock().map(|r| r.clone()).unwrap_or_default()
    }
    pub fn unique(&self) -> usize {
        self.inner.lock().map(|r| r.seen.len()).unwrap_or(0)
    }
    pub fn deliveries(&self) -> usize {
        self.inner
            .lock()
            .map(|r| r.deliveries as usize)
            .unwrap_or(0)
    }
    fn record(&self, m: &MessageExt) {
        let id = m
            .body()
            .map(|b| body_id(&b))
            .unwrap_or_else(|| "<no body>".into());
        let tag = m
            .get_tags()
            .map(|t| t.to_string())
            .unwrap_or_else(|| "<none>".into());
        if let Ok(mut r) = self.inner.lock() {
            *r.seen.entry(id).or_default() += 1;
            *r.tags.entry(tag).or_default() += 1;
            *r.queues.entry(m.queue_id()).or_default() += 1;
            if m.reconsume_times() > 0 {
                r.redelivered += 1;
            }
            if let Some(problem) = integrity(m) {
                r.damaged += 1;
                r.first_damage.get_or_insert(problem);
            }
            r.deliveries += 1;
        }
    }
}

struct Listener(Arc<Recorder>);

impl MessageListenerConcurrently for Listener {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        _context: &ConsumeConcurrentlyContext,
    ) -> ClientResult<ConsumeConcurrentlyStatus> {
        for m in msgs {
            if let Some(d) = self.0.delay {
                std::thread::sleep(d);
            }
            self.0.record(m);
        }
        Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
    }
}

/// Deliveries per id over several consumers.
pub fn merged(records: &[&Record]) -> HashMap<String, u32> {
    let mut all: HashMap<String, u32> = HashMap::new();
    for r in records {
        for (id, n) in &r.seen {
            *all.entry(id.clone()).or_default() += n;
        }
    }
    all
}

/// Distinct ids over several recorders.
pub fn union_unique(recorders: &[&Recorder]) -> usize {
    let mut ids: HashSet<String> = HashSet::new();
    for r in recorders {
        if let Ok(inner) = r.inner.lock() {
            ids.extend(inner.seen.keys().cloned());
        }
    }
    ids.len()
}

/// Waits until `done()` or until `progress()` has not changed for `stall`; returns whether
/// `done()` held and how long it took.
pub async fn wait_for(
    stall: Duration,
    progress: impl Fn() -> usize,
    done: impl Fn() -> bool,
) -> (bool, Duration) {
    let start = Instant::now();
    let mut last = progress();
    let mut last_change = Instant::now();
    loop {
        if done() {
            return (true, start.elapsed());
        }
        if last_change.elapsed() >= stall {
            return (false, start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = progress();
        if now != last {
            last = now;
            last_change = Instant::now();
        }
    }
}

/// Queues of `topic` a push consumer currently holds (its process-queue table).
pub async fn held_queues(consumer: &DefaultMQPushConsumer, topic: &str) -> Vec<i32> {
    match consumer.consumer_running_info().await {
        Ok(info) => info
            .mq_table
            .keys()
            .filter(|mq| mq.topic().as_str() == topic)
            .map(MessageQueue::queue_id)
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Waits (bounded) until each consumer holds exactly `want[i]` queues of `topic`; returns
/// the final holdings, one line per consumer, and whether the target was reached.
pub async fn wait_for_assignment(
    consumers: &[&DefaultMQPushConsumer],
    topic: &str,
    want: &[usize],
    limit: Duration,
) -> (bool, Vec<Vec<i32>>, Duration) {
    let start = Instant::now();
    loop {
        let mut held = Vec::new();
        for c in consumers {
            let mut q = held_queues(c, topic).await;
            q.sort_unstable();
            held.push(q);
        }
        let ok = held.iter().zip(want).all(|(h, w)| h.len() == *w);
        if ok || start.elapsed() >= limit {
            return (ok, held, start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What reading a whole topic back with a lite pull consumer found.
pub struct ReadBack {
    pub seen: HashMap<String, u32>,
    /// Messages failing [`integrity`], and the first such problem.
    pub damaged: u32,
    pub first_damage: Option<String>,
    /// GET_MAX_OFFSET per queue: the number of messages the broker holds (fresh topic).
    pub max_offsets: BTreeMap<i32, i64>,
    pub took: Duration,
    pub errors: Vec<String>,
}

impl ReadBack {
    pub fn stored(&self) -> i64 {
        self.max_offsets.values().sum()
    }
    pub fn duplicates(&self) -> u32 {
        self.seen.values().map(|n| n - 1).sum()
    }
}

/// Starts a lite pull consumer and polls `topic` from its first offset with a fresh lite pull consumer group until
/// `expected` distinct messages were seen or nothing new arrived for `stall`.
pub async fn read_back(
    h: &Harness,
    group: &str,
    topic: &str,
    expected: usize,
) -> anyhow::Result<ReadBack> {
    let start = Instant::now();
    let consumer = h.lite_pull_consumer(group, topic).await?;
    let mut seen: HashMap<String, u32> = HashMap::new();
    let (mut damaged, mut first_damage) = (0, None);
    let mut last_change = Instant::now();
    while seen.len() < expected && last_change.elapsed() < h.settings.wait {
        let batch = consumer.poll_with_timeout(1_000).await;
        if !batch.is_empty() {
            last_change = Instant::now();
        }
        for m in &batch {
            let id = m
                .body()
                .map(|b| body_id(&b))
                .unwrap_or_else(|| "<no body>".into());
            *seen.entry(id).or_default() += 1;
            if let Some(problem) = integrity(m) {
                damaged += 1;
                first_damage.get_or_insert(problem);
            }
        }
    }
    let took = start.elapsed();
    let mut max_offsets = BTreeMap::new();
    let mut errors = Vec::new();
    match consumer.fetch_message_queues(topic).await {
        Ok(queues) => {
            for mq in queues {
                match consumer.max_offset(&mq).await {
                    Ok(max) => {
                        max_offsets.insert(mq.queue_id(), max);
                    }
                    Err(e) => errors.push(format!(
                        "max_offset(queue {}): {}",
                        mq.queue_id(),
                        describe(&e)
                    )),
                }
            }
        }
        Err(e) => errors.push(format!("fetch_message_queues: {}", describe(&e))),
    }
    consumer.shutdown().await;
    Ok(ReadBack {
        seen,
        damaged,
        first_damage,
        max_offsets,
        took,
        errors,
    })
}

/// A scenario's verdict and the lines that explain it.
pub struct Outcome {
    pub name: String,
    pub passed: bool,
    pub lines: Vec<String>,
}

impl Outcome {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            passed: true,
            lines: Vec::new(),
        }
    }
    pub fn note(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }
    /// Records a check: a failed one fails the scenario and is marked in the output.
    pub fn check(&mut self, ok: bool, line: impl Into<String>) {
        let line = line.into();
        self.lines
            .push(format!("{} {line}", if ok { "ok  " } else { "FAIL" }));
        self.passed &= ok;
    }
    pub fn setup_error(name: &str, e: &anyhow::Error) -> Self {
        let mut o = Self::new(name);
        o.check(false, format!("set-up error: {e:#}"));
        o
    }
    pub fn print(&self) {
        println!(
            "SCENARIO {}: {}",
            self.name,
            if self.passed { "PASS" } else { "FAIL" }
        );
        for line in &self.lines {
            println!("    {line}");
        }
    }
}

/// Adds the integrity check of one consumer's deliveries to `o`.
pub fn check_integrity(o: &mut Outcome, who: &str, damaged: u32, first: &Option<String>) {
    o.check(
        damaged == 0,
        format!(
            "{who}: {damaged} deliveries with a wrong topic, KEYS or msgId{}",
            first
                .as_ref()
                .map(|p| format!(" (first: {p})"))
                .unwrap_or_default()
        ),
    );
}

/// A short, sorted sample of ids for a report line.
pub fn sample<'a>(ids: impl IntoIterator<Item = &'a String>, n: usize) -> String {
    let mut v: Vec<&String> = ids.into_iter().collect();
    v.sort();
    let shown: Vec<&str> = v.iter().take(n).map(|s| s.as_str()).collect();
    if v.len() > n {
        format!("{} …", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// Ids expected for `label` with indices `0..n`.
pub fn expected_ids(label: &str, n: usize) -> HashSet<String> {
    (0..n).map(|i| id(label, i)).collect()
}
