//! `apogee bench`: load generator and latency meter for any RocketMQ-compatible cluster
//! (Apogee, Apache RocketMQ, rocketmq-rust), built on Apogee's own client.
//!
//! - `produce`: `-w` senders (sync by default, `--async` keeps several sends in flight per
//!   sender, `--oneway`), `-s` bytes per message, `-b` batch size, `--topics N`, `--rate`;
//! - `consume`: a push consumer group, throughput and born→consume / store→consume latency;
//! - `e2e`: both in one process (start the consumer, then produce);
//! - `probe`: sends one message as soon as the cluster takes it (start-up time).
//!
//! Every second a live line goes to stderr; at the end a summary goes to stdout, and with
//! `--json` the last line is one JSON object. The first 8 bytes of each body carry the
//! send time in microseconds, which is how the consumer measures born→consume precisely.

mod admin;
pub mod stats;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde_json::json;

use crate::client::{
    ClientConfig, ConsumeFromWhere, ConsumeStatus, ConsumerConfig, LocalTransactionState, Message,
    MessageExt, Producer, ProducerConfig, PushConsumer, TransactionListener, TransactionProducer,
};
use stats::{Meter, Reporter, Summary};

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub mode: Mode,
}

#[derive(clap::Subcommand, Debug)]
pub enum Mode {
    /// Send messages as fast as allowed and measure send latency.
    Produce(ProduceArgs),
    /// Consume a topic and measure throughput and end-to-end latency.
    Consume(ConsumeArgs),
    /// Produce and consume in one process: end-to-end latency under a given load.
    E2e(E2eArgs),
    /// Wait until the cluster accepts a send; print the time since `--since-ms`.
    Probe(ProbeArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct Common {
    /// Name server(s), `host:port;host:port`.
    #[arg(short = 'n', long, default_value = "127.0.0.1:9876")]
    pub namesrv: String,
    /// Topic (with `--topics N`: the prefix of N topics `<topic>-<i>`).
    /// (Not `BenchmarkTest`: RocketMQ brokers refuse to create that system topic.)
    #[arg(short = 't', long, default_value = "ApogeeBench")]
    pub topic: String,
    /// Spread the load over this many topics.
    #[arg(long, default_value_t = 1)]
    pub topics: usize,
    /// Queues per topic, created on every master before the run (see `--no-create`).
    #[arg(long, default_value_t = 8)]
    pub queues: i32,
    /// Do not create topics (use what exists, or the broker's auto-create).
    #[arg(long)]
    pub no_create: bool,
    /// Run for this many seconds (default: until the count is reached, or Ctrl-C).
    #[arg(short = 'd', long)]
    pub duration: Option<f64>,
    /// Seconds measured but not counted at the start.
    #[arg(long, default_value_t = 0.0)]
    pub warmup: f64,
    /// Print the summary as one JSON object (the last line of stdout).
    #[arg(long)]
    pub json: bool,
    /// Note in the output that the broker runs SYNC_FLUSH (the broker decides; this
    /// only labels the run).
    #[arg(long)]
    pub sync_flush: bool,
    /// Trace the messages as the Java client's `enableMsgTrace` does (into
    /// `RMQ_SYS_TRACE_TOPIC`): each send and each consume writes a trace record.
    #[arg(long)]
    pub trace: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub common: Common,
    /// Concurrent senders.
    #[arg(short = 'w', long, default_value_t = 64)]
    pub senders: usize,
    /// Message size in bytes.
    #[arg(short = 's', long, default_value_t = 1024)]
    pub size: usize,
    /// Messages per send (a batch when > 1).
    #[arg(short = 'b', long, default_value_t = 1)]
    pub batch: usize,
    /// Keep up to `--inflight` sends outstanding per sender.
    #[arg(long = "async")]
    pub asynchronous: bool,
    #[arg(long, default_value_t = 16)]
    pub inflight: usize,
    /// Oneway sends (no answer; no latency).
    #[arg(long, conflicts_with = "asynchronous")]
    pub oneway: bool,
    /// Tag of every message.
    #[arg(long)]
    pub tags: Option<String>,
    /// Give every message a unique key (indexed by the broker).
    #[arg(long)]
    pub keys: bool,
    /// Total messages to send.
    #[arg(short = 'q', long)]
    pub count: Option<u64>,
    /// Messages per second in all (paced per sender).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Delay level of every message.
    #[arg(long)]
    pub delay_level: Option<i32>,
    /// Send timer messages due this many ms after the broker receives them
    /// (`TIMER_DELAY_MS`); the consumer's born→consume latency is then the lateness
    /// (measured from the send time plus the delay).
    #[arg(long)]
    pub timer_delay_ms: Option<u64>,
    /// Send every message in a transaction (a half, then END_TRANSACTION): the local
    /// transaction commits, rolls back, or stays unknown (the broker's check-backs are
    /// answered unknown too, so the halves pile up for the checker).
    #[arg(long, value_enum, conflicts_with_all = ["oneway", "batch"])]
    pub transaction: Option<TxnOutcome>,
    #[arg(long, default_value = "benchmark_producer")]
    pub group: String,
}

/// The outcome of every local transaction of `--transaction`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnOutcome {
    Commit,
    Rollback,
    Unknown,
}

impl TxnOutcome {
    fn state(self) -> LocalTransactionState {
        match self {
            Self::Commit => LocalTransactionState::Commit,
            Self::Rollback => LocalTransactionState::Rollback,
            Self::Unknown => LocalTransactionState::Unknown,
        }
    }
}

/// Answers every local transaction and check-back with one outcome.
struct FixedOutcome(LocalTransactionState);

impl TransactionListener for FixedOutcome {
    fn execute_local(&self, _: &Message, _: &crate::client::SendResult) -> LocalTransactionState {
        self.0
    }
    fn check_local(&self, _: &MessageExt) -> LocalTransactionState {
        self.0
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub common: Common,
    #[arg(short = 'g', long, default_value = "benchmark_consumer")]
    pub group: String,
    /// Start from the first offset of queues without a committed offset.
    #[arg(long)]
    pub from_first: bool,
    /// Stop after this many messages.
    #[arg(short = 'q', long)]
    pub count: Option<u64>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct E2eArgs {
    #[command(flatten)]
    pub produce: ProduceArgs,
    #[arg(short = 'g', long, default_value = "benchmark_e2e")]
    pub consumer_group: String,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ProbeArgs {
    #[arg(short = 'n', long, default_value = "127.0.0.1:9876")]
    pub namesrv: String,
    #[arg(short = 't', long, default_value = "BenchmarkProbe")]
    pub topic: String,
    /// Wall-clock start (ms since the epoch) to measure from, e.g. `date +%s%3N`.
    #[arg(long)]
    pub since_ms: Option<u64>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60.0)]
    pub timeout: f64,
    #[arg(long)]
    pub json: bool,
}

/// Runs a bench mode on a runtime of one worker thread (plus the blocking threads of
/// consumer listeners): on a small machine the broker under test gets the other cores. One
/// worker drives 64 sync senders at over 70k msg/s; two made the whole run slower on 2 cores.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        match args.mode {
            Mode::Produce(a) => produce(a, None).await,
            Mode::Consume(a) => consume(a).await,
            Mode::E2e(a) => {
                let group = a.consumer_group.clone();
                produce(a.produce, Some(group)).await
            }
            Mode::Probe(a) => probe(a).await,
        }
    })
}

fn topic_names(common: &Common) -> Vec<String> {
    if common.topics <= 1 {
        vec![common.topic.clone()]
    } else {
        (0..common.topics)
            .map(|i| format!("{}-{i}", common.topic))
            .collect()
    }
}

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A body of `size` bytes whose first 8 carry the send time in µs.
fn body(size: usize, filler: &Bytes) -> Bytes {
    if size < 8 {
        return filler.slice(..size);
    }
    let mut b = Vec::with_capacity(size);
    b.extend_from_slice(&now_us().to_be_bytes());
    b.extend_from_slice(&filler[8..size]);
    Bytes::from(b)
}

fn header(mode: &str, common: &Common, extra: &str) {
    eprintln!(
        "apogee bench {mode}: namesrv {} topic {}{} ({} queues each){extra}; broker flush: {}",
        common.namesrv,
        common.topic,
        if common.topics > 1 {
            format!(" x{}", common.topics)
        } else {
            String::new()
        },
        common.queues,
        if common.sync_flush {
            "SYNC_FLUSH (as labelled)"
        } else {
            "as configured on the broker"
        }
    );
}

async fn produce(args: ProduceArgs, e2e_group: Option<String>) -> anyhow::Result<()> {
    anyhow::ensure!(
        !(args.oneway && args.batch > 1),
        "--oneway sends one message at a time (no -b)"
    );
    let common = args.common.clone();
    let topics = topic_names(&common);
    let mode = if e2e_group.is_some() {
        "e2e"
    } else {
        "produce"
    };
    header(
        mode,
        &common,
        &format!(
            ", {} senders, {} B x {}{}{}{}{}",
            args.senders,
            args.size,
            args.batch,
            if args.asynchronous {
                format!(", async x{}", args.inflight)
            } else {
                String::new()
            },
            if args.oneway { ", oneway" } else { "" },
            args.rate.map_or(String::new(), |r| format!(", rate {r}/s")),
            args.transaction
                .map_or(String::new(), |t| format!(", in transactions ({t:?})")),
        ),
    );
    let mut pc = ProducerConfig::new(&args.group);
    pc.default_topic_queue_nums = common.queues;
    pc.enable_trace = common.trace;
    let (producer, transactional) = match args.transaction {
        Some(outcome) => {
            let t = TransactionProducer::start(
                ClientConfig::new(&common.namesrv),
                pc,
                FixedOutcome(outcome.state()),
            )
            .await
            .context("connecting to the name server")?;
            (t.producer().clone(), Some(t))
        }
        None => (
            Producer::start(ClientConfig::new(&common.namesrv), pc)
                .await
                .context("connecting to the name server")?,
            None,
        ),
    };
    if !common.no_create {
        admin::create_topics(producer.instance(), &topics, common.queues).await?;
    }
    let send_meter = Meter::new("send");
    let mut meters = vec![Arc::clone(&send_meter)];
    let mut consumer = None;
    if let Some(group) = &e2e_group {
        let store = Meter::new("store->consume");
        let born = Meter::with_second("consume", store);
        let mut cc = ConsumerConfig::new(group.clone());
        cc.consume_from_where = ConsumeFromWhere::LastOffset;
        cc.enable_trace = common.trace;
        let c = start_consumer(&common, cc, &topics, &born, now_us()).await?;
        meters.push(born);
        consumer = Some(c);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    // `-q` counts messages; a sender's quota counts its sends (of `-b` messages each).
    let per_sender = args
        .count
        .map(|c| c.div_ceil((args.senders * args.batch.max(1)) as u64));
    let filler = Bytes::from(vec![b'a'; args.size.max(8)]);
    let period = args
        .rate
        .map(|r| Duration::from_secs_f64(args.senders as f64 / r.max(1e-3)));
    let mut workers = Vec::new();
    for w in 0..args.senders {
        let (producer, meter, stop, sent) = (
            producer.clone(),
            Arc::clone(&send_meter),
            Arc::clone(&stop),
            Arc::clone(&sent),
        );
        let (topics, filler, args) = (topics.clone(), filler.clone(), args.clone());
        let transactional = transactional.clone();
        workers.push(tokio::spawn(async move {
            let recorder = meter.recorder();
            let started = tokio::time::Instant::now() + Duration::from_micros(w as u64 * 37);
            let mut k: u64 = 0;
            let mut inflight = FuturesUnordered::new();
            let make = |k: u64| -> Vec<Message> {
                let topic = &topics[(w + k as usize * args.senders) % topics.len()];
                (0..args.batch)
                    .map(|i| {
                        let mut m = Message::new(topic.as_str(), body(args.size, &filler));
                        if let Some(t) = &args.tags {
                            m = m.with_tags(t.as_str());
                        }
                        if args.keys {
                            m = m.with_keys([format!("k-{w}-{k}-{i}")]);
                        }
                        if let Some(l) = args.delay_level {
                            m = m.with_delay_level(l);
                        }
                        if let Some(d) = args.timer_delay_ms {
                            m = m.with_delay(Duration::from_millis(d));
                        }
                        m
                    })
                    .collect()
            };
            loop {
                if stop.load(Ordering::Relaxed) || per_sender.is_some_and(|q| k >= q) {
                    break;
                }
                if let Some(p) = period {
                    tokio::time::sleep_until(started + p * k as u32).await;
                }
                let msgs = make(k);
                k += 1;
                let n = msgs.len() as u64;
                let bytes = n * args.size as u64;
                let producer = producer.clone();
                let transactional = transactional.clone();
                let send = async move {
                    let t = Instant::now();
                    let mut msgs = msgs;
                    let r = match msgs.pop() {
                        Some(m) if transactional.is_some() => match &transactional {
                            Some(t) => t.send_in_transaction(m).await.map(drop),
                            None => Ok(()),
                        },
                        Some(m) if msgs.is_empty() && args.oneway => producer.send_oneway(m).await,
                        Some(m) if msgs.is_empty() => producer.send(m).await.map(drop),
                        Some(m) => {
                            msgs.push(m);
                            producer.send_batch(msgs).await.map(drop)
                        }
                        None => Ok(()),
                    };
                    (r, t.elapsed())
                };
                let outcome = if args.asynchronous {
                    inflight.push(send);
                    if inflight.len() < args.inflight {
                        continue;
                    }
                    match inflight.next().await {
                        Some(o) => o,
                        None => continue,
                    }
                } else {
                    send.await
                };
                account(&meter, &recorder, &sent, outcome, n, bytes, args.oneway);
            }
            while let Some(outcome) = inflight.next().await {
                let n = args.batch as u64;
                account(
                    &meter,
                    &recorder,
                    &sent,
                    outcome,
                    n,
                    n * args.size as u64,
                    false,
                );
            }
        }));
    }
    let summaries = report(&common, meters, &stop, || {
        workers.iter().all(|w| w.is_finished())
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(5), w).await;
    }
    let mut summaries = summaries;
    if let Some(c) = consumer {
        // Let the consumer drain what was sent, then summarise again.
        let total = sent.load(Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if c.1.messages.load(Ordering::Relaxed) >= total {
                break;
            }
        }
        c.0.shutdown().await;
        if summaries.len() > 1 {
            summaries[1].messages = summaries[1]
                .messages
                .max(c.1.messages.load(Ordering::Relaxed).min(total));
        }
    }
    producer.shutdown().await;
    print_summary(mode, &common, &summaries, Some(&args));
    Ok(())
}

fn account(
    meter: &Meter,
    recorder: &std::sync::Mutex<hdrhistogram::Histogram<u64>>,
    sent: &AtomicU64,
    outcome: (Result<(), crate::client::ClientError>, Duration),
    n: u64,
    bytes: u64,
    oneway: bool,
) {
    match outcome.0 {
        Ok(()) => {
            meter.done(n, bytes);
            sent.fetch_add(n, Ordering::Relaxed);
            if !oneway {
                let _ = crate::util::lock(recorder).record(outcome.1.as_micros().max(1) as u64);
            }
        }
        Err(e) => {
            let before = meter.failed.fetch_add(n, Ordering::Relaxed);
            if before < 5 {
                eprintln!("send failed: {e}");
            }
        }
    }
}

/// Starts a push consumer on `topics` that records into `born` (and its second meter).
async fn start_consumer(
    common: &Common,
    mut config: ConsumerConfig,
    topics: &[String],
    born: &Arc<Meter>,
    born_after_us: u64,
) -> anyhow::Result<(PushConsumer, Arc<Meter>)> {
    config.consume_threads = 4;
    let born_rec = born.recorder();
    let store_meter = born.second.clone().unwrap_or_else(|| Meter::new("store"));
    let store_rec = store_meter.recorder();
    let meter = Arc::clone(born);
    let mut builder = PushConsumer::builder(ClientConfig::new(&common.namesrv), config);
    for t in topics {
        builder = builder.subscribe(t, "*");
    }
    let consumer = builder
        .listen(move |msgs: &[MessageExt]| {
            let now = now_us();
            let (mut bytes, mut counted) = (0, 0);
            for m in msgs {
                let born = if m.body.len() >= 8 {
                    let mut ts = [0u8; 8];
                    ts.copy_from_slice(&m.body[..8]);
                    u64::from_be_bytes(ts)
                } else {
                    (m.born_timestamp.max(0) as u64) * 1000
                };
                // A timer is due its delay after it was sent: the latency is its lateness.
                let delay_ms = m
                    .property("TIMER_DELAY_MS")
                    .and_then(|d| d.parse::<u64>().ok());
                let born = born + delay_ms.unwrap_or(0) * 1000;
                // A backlog from before this run is not part of the measurement.
                if born < born_after_us {
                    continue;
                }
                counted += 1;
                bytes += m.body.len() as u64;
                if born <= now && now - born < 3_600_000_000 {
                    let _ = crate::util::lock(&born_rec).record((now - born).max(1));
                }
                let stored = (m.store_timestamp.max(0) as u64) * 1000;
                if stored > 0 && stored <= now {
                    let _ = crate::util::lock(&store_rec).record((now - stored).max(1));
                }
            }
            meter.done(counted, bytes);
            ConsumeStatus::Success
        })
        .start()
        .await
        .context("starting the consumer")?;
    // Wait until it owns queues, so that nothing sent is missed.
    let deadline = Instant::now() + Duration::from_secs(15);
    while consumer
        .assigned()
        .iter()
        .all(|q| q.topic.starts_with("%RETRY%"))
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the consumer got no queue in 15 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Queues are assigned before their start offsets are known; give it a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok((consumer, Arc::clone(born)))
}

async fn consume(args: ConsumeArgs) -> anyhow::Result<()> {
    let common = args.common.clone();
    let topics = topic_names(&common);
    header("consume", &common, &format!(", group {}", args.group));
    let store = Meter::new("store->consume");
    let born = Meter::with_second("consume", Arc::clone(&store));
    let mut cc = ConsumerConfig::new(&args.group);
    cc.enable_trace = common.trace;
    cc.consume_from_where = if args.from_first {
        ConsumeFromWhere::FirstOffset
    } else {
        ConsumeFromWhere::LastOffset
    };
    let (consumer, meter) = start_consumer(&common, cc, &topics, &born, 0).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let count = args.count;
    let summaries = report(&common, vec![Arc::clone(&born), store], &stop, || {
        count.is_some_and(|c| meter.messages.load(Ordering::Relaxed) >= c)
    })
    .await;
    consumer.shutdown().await;
    print_summary("consume", &common, &summaries, None);
    Ok(())
}

/// Prints the live line every second until the duration passes, `finished()` holds or
/// Ctrl-C; returns the summaries.
async fn report(
    common: &Common,
    meters: Vec<Arc<Meter>>,
    stop: &AtomicBool,
    finished: impl Fn() -> bool,
) -> Vec<Summary> {
    let mut reporter = Reporter::new(meters);
    let started = Instant::now();
    let mut warm = common.warmup <= 0.0;
    let limit = common
        .duration
        .map(|d| Duration::from_secs_f64(d + common.warmup.max(0.0)));
    let mut last = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut ctrl_c => break,
        }
        if finished() || limit.is_some_and(|l| started.elapsed() >= l) {
            break;
        }
        if !warm && started.elapsed().as_secs_f64() >= common.warmup {
            reporter.reset();
            warm = true;
            last = Instant::now();
            eprintln!("(warm-up over; measuring)");
        }
        if last.elapsed() >= Duration::from_secs(1) {
            let line = reporter.tick(last.elapsed());
            last = Instant::now();
            if stats::interactive() {
                eprint!("\r{line}\x1b[K");
            } else {
                eprintln!("{line}");
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    if stats::interactive() {
        eprintln!();
    }
    reporter.finish()
}

fn print_summary(mode: &str, common: &Common, s: &[Summary], produce: Option<&ProduceArgs>) {
    for (name, sum) in ["send", "consume (born)", "consume (store)"].iter().zip(s) {
        println!(
            "{mode} {name}: {} msgs in {:.1} s = {:.0} msg/s, {:.1} MB/s, failed {}, latency p50 {} p99 {} p999 {} max {}",
            sum.messages,
            sum.seconds,
            sum.tps,
            sum.mb_per_s,
            sum.failed,
            stats::ms(sum.p50_us),
            stats::ms(sum.p99_us),
            stats::ms(sum.p999_us),
            stats::ms(sum.max_us)
        );
    }
    if common.json {
        let first = &s[0];
        let mut out = json!({
            "mode": mode,
            "topics": common.topics,
            "queues": common.queues,
            "sync_flush_label": common.sync_flush,
            "seconds": first.seconds,
            "failed": first.failed,
            "messages": first.messages,
        });
        let tps_key = if mode == "consume" {
            "consume_tps"
        } else {
            "send_tps"
        };
        out[tps_key] = json!(first.tps);
        out["mb_per_s"] = json!(first.mb_per_s);
        out["p50_us"] = json!(first.p50_us);
        out["p99_us"] = json!(first.p99_us);
        out["p999_us"] = json!(first.p999_us);
        out["max_us"] = json!(first.max_us);
        if let Some(p) = produce {
            out["senders"] = json!(p.senders);
            out["size"] = json!(p.size);
            out["batch"] = json!(p.batch);
            out["async"] = json!(p.asynchronous);
            out["oneway"] = json!(p.oneway);
        }
        if mode == "e2e" {
            if let Some(c) = s.get(1) {
                out["consumed"] = json!(c.messages);
                out["e2e_p50_us"] = json!(c.p50_us);
                out["e2e_p99_us"] = json!(c.p99_us);
                out["e2e_p999_us"] = json!(c.p999_us);
                out["e2e_max_us"] = json!(c.max_us);
            }
            if let Some(c) = s.get(2) {
                out["store_to_consume_p99_us"] = json!(c.p99_us);
            }
        }
        if mode == "consume" {
            if let Some(c) = s.get(1) {
                out["store_to_consume_p99_us"] = json!(c.p99_us);
            }
        }
        println!("{out}");
    }
}

async fn probe(args: ProbeArgs) -> anyhow::Result<()> {
    let begin = Instant::now();
    let deadline = begin + Duration::from_secs_f64(args.timeout);
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let attempt = async {
            let mut pc = ProducerConfig::new("benchmark_probe");
            pc.send_timeout = Duration::from_millis(500);
            pc.retry_times = 0;
            let p = Producer::start(ClientConfig::new(&args.namesrv), pc).await?;
            let r = p.send(Message::new(args.topic.as_str(), "probe")).await;
            p.shutdown().await;
            r
        };
        match attempt.await {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline => {
                tracing::debug!(error = %e, "not yet");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Err(e) => anyhow::bail!("no send accepted in {} s: {e}", args.timeout),
        }
    }
    let now_ms = crate::util::now_ms();
    let since = args.since_ms.map(|s| (now_ms as u64).saturating_sub(s));
    println!(
        "accepting sends after {} attempts{}",
        attempts,
        since.map_or(String::new(), |ms| format!(", {ms} ms after start"))
    );
    if args.json {
        println!(
            "{}",
            json!({"mode": "probe", "attempts": attempts, "ms_since_start": since})
        );
    }
    Ok(())
}
