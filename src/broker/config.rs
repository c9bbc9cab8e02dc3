//! Broker settings, read from RocketMQ's `broker.conf` (Java properties: `key=value`,
//! `#` comments). A key the Java broker knows and Apogee does not implement is accepted with
//! one warning (`rocketmq_keys.txt` lists the Java broker's keys: the setters of its
//! BrokerConfig, MessageStoreConfig, NettyServerConfig, NettyClientConfig and AuthConfig,
//! 4.9.8 and 5.x). A key neither knows, and an invalid value, are refused with the file,
//! the line and, for a misspelt key, the nearest known one.
//!
//! At run time UPDATE_BROKER_CONFIG changes the keys of [`RUNTIME_KEYS`]
//! ([`BrokerConfig::update_at_runtime`]); the others need a restart.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use crate::store::mmap::Writes;
use crate::store::{FlushMode, StoreConfig};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{file}:{line}: unknown key `{key}`{}", did_you_mean(suggestion))]
    UnknownKey {
        file: String,
        line: usize,
        key: String,
        /// The nearest key Apogee or RocketMQ knows, if one is near.
        suggestion: Option<String>,
    },
    #[error("{file}:{line}: invalid value {value:?} for `{key}`: {why}")]
    BadValue {
        file: String,
        line: usize,
        key: String,
        value: String,
        why: String,
    },
    #[error("{file}:{line}: expected `key=value`")]
    BadLine { file: String, line: usize },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(key) => format!(" (did you mean `{key}`?)"),
        None => String::new(),
    }
}

/// Java properties text (`key=value` or `key: value` lines, `#` and `!` comments) as pairs,
/// as `MixAll.string2Properties` reads an UPDATE_BROKER_CONFIG body; lines without a
/// separator are skipped (`apply_conf` refuses them instead).
pub fn parse_properties(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| l.split_once(['=', ':']))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// The keys of the Java broker's configuration classes (one per line).
const ROCKETMQ_KEYS: &str = include_str!("rocketmq_keys.txt");

/// Whether the Java broker knows `key`.
pub fn rocketmq_knows(key: &str) -> bool {
    ROCKETMQ_KEYS.lines().any(|k| k == key)
}

/// The keys Apogee applies (besides RocketMQ's that it accepts without effect).
pub const APOGEE_KEYS: &[&str] = &[
    "brokerClusterName",
    "brokerName",
    "brokerId",
    "listenPort",
    "brokerIP1",
    "namesrvAddr",
    "storePathRootDir",
    "flushDiskType",
    "brokerRole",
    "deleteWhen",
    "fileReservedTime",
    "diskMaxUsedSpaceRatio",
    "autoCreateTopicEnable",
    "autoCreateSubscriptionGroup",
    "enablePropertyFilter",
    "storeReplyMessageEnable",
    "transactionTimeOut",
    "transactionCheckInterval",
    "transactionCheckMax",
    "rejectTransactionMessage",
    "defaultTopicQueueNums",
    "mappedFileSizeCommitLog",
    "mappedFileSizeConsumeQueue",
    "maxMessageSize",
    "flushIntervalCommitLog",
    "syncFlushTimeout",
    "messageIndexEnable",
    "warmMapedFileEnable",
    "transientStorePoolEnable",
    "regionId",
    "dedicatedStoreThreads",
    "sendThreadPoolQueueCapacity",
    "messageDelayLevel",
    "traceTopicEnable",
    "msgTraceTopicName",
    "consoleListen",
    "timerWheelEnable",
    "timerMaxDelaySec",
    "timerPrecisionMs",
    "recallMessageEnable",
    "haListenPort",
    "haMasterAddress",
    "slaveReadEnable",
    "slaveTimeout",
    "haMaxGapNotInSync",
    "haSendHeartbeatInterval",
    "haHousekeepingInterval",
    "haTransferBatchSize",
];

/// The keys UPDATE_BROKER_CONFIG changes while the broker runs.
pub const RUNTIME_KEYS: &[&str] = &[
    "autoCreateTopicEnable",
    "autoCreateSubscriptionGroup",
    "enablePropertyFilter",
    "storeReplyMessageEnable",
    "rejectTransactionMessage",
    "defaultTopicQueueNums",
    "transactionTimeOut",
    "transactionCheckInterval",
    "transactionCheckMax",
    "slaveReadEnable",
];

/// The known key nearest to `key` (Apogee's first, then RocketMQ's), if it is near enough
/// to be a misspelling.
pub fn nearest_key(key: &str) -> Option<String> {
    let lower = key.to_ascii_lowercase();
    APOGEE_KEYS
        .iter()
        .copied()
        .chain(ROCKETMQ_KEYS.lines())
        .map(|k| (strsim::levenshtein(&lower, &k.to_ascii_lowercase()), k))
        .filter(|(d, k)| *d <= 3.max(k.len() / 5))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerRole {
    AsyncMaster,
    SyncMaster,
    Slave,
}

/// Settings of one broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub cluster_name: String,
    pub broker_name: String,
    pub broker_id: i64,
    /// Where to listen (`listenPort`, on `brokerIP1` or loopback).
    pub listen: SocketAddr,
    /// The IP advertised to name servers and in message ids (`brokerIP1`); default: the
    /// listen address's IP.
    pub broker_ip: Option<IpAddr>,
    pub namesrv_addrs: Vec<SocketAddr>,
    pub role: BrokerRole,
    pub auto_create_topic_enable: bool,
    pub auto_create_subscription_group: bool,
    pub enable_property_filter: bool,
    /// A reply to a request (SEND_REPLY_MESSAGE) is also stored in its reply topic, besides
    /// being pushed to the requester (`storeReplyMessageEnable`).
    pub store_reply_message_enable: bool,
    pub default_topic_queue_nums: i32,
    pub region_id: String,
    /// Transactional messages: the first check-back of an undecided half comes this long
    /// after it was stored (`transactionTimeOut`, ms), later ones every
    /// `transactionCheckInterval` (ms); after `transactionCheckMax` checks the half is
    /// discarded into `TRANS_CHECK_MAX_TIME_TOPIC`. `rejectTransactionMessage` refuses
    /// half messages.
    pub transaction_timeout_ms: i64,
    pub transaction_check_interval_ms: i64,
    pub transaction_check_max: u32,
    pub reject_transaction_message: bool,
    /// Queue writers on a thread of their own (`true`), or on the thread that serves
    /// requests (`false`, the default). Inline saves two thread hops per send: on a 2-core
    /// machine shared with clients, 64 sync senders go from ~58k to ~70k msg/s
    /// (docs/perf.md). A dedicated thread keeps a slow disk from stalling the server (full
    /// writer mailboxes are then answered SYSTEM_BUSY at once). `dedicatedStoreThreads`.
    /// The reput dispatcher always has its own thread.
    pub dedicated_store_threads: bool,
    /// How many sends one queue's writer holds waiting (`sendThreadPoolQueueCapacity`, as
    /// the queue of RocketMQ's send threads); a send that finds them full is answered
    /// SYSTEM_BUSY at once.
    pub send_queue_capacity: usize,
    /// `traceTopicEnable`: create `msgTraceTopicName` (1 queue) at start, as RocketMQ.
    pub trace_topic_enable: bool,
    pub msg_trace_topic_name: String,
    /// `consoleListen` (Apogee's): where the web console and `/metrics` listen.
    pub console_listen: ConsoleListen,
    /// Timer messages (RocketMQ 5's `timerWheelEnable`, on by default).
    pub timer_wheel_enable: bool,
    /// The furthest a timer may be set (`timerMaxDelaySec`, 3 days).
    pub timer_max_delay_sec: i64,
    /// The wheel's step (`timerPrecisionMs`: 100, 200, 500 or 1000).
    pub timer_precision_ms: i64,
    /// `recallMessageEnable` (off by default, as RocketMQ): RECALL_MESSAGE cancels timers.
    pub recall_message_enable: bool,
    /// The timers' clock: the system's, or one a test moves.
    pub clock: Clock,
    /// Replication (RocketMQ's classic HA); see [`HaConfig`].
    pub ha: HaConfig,
    /// Controller mode (`enableControllerMode`, …): automatic failover.
    pub controller: super::controller_mode::ControllerMode,
    /// The role a controller assigned (set by `broker::controlled`, not from the file).
    pub assigned: Option<super::controller_mode::Assignment>,
    pub store: StoreConfig,
}

/// Master/slave replication settings (RocketMQ's keys and defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaConfig {
    /// `haListenPort`: where a master serves its slaves (`None`: listenPort + 1).
    pub listen_port: Option<u16>,
    /// `haMasterAddress`: the master a slave follows (`None`: the one the name servers
    /// name in the registration answer).
    pub master_address: Option<String>,
    /// `slaveReadEnable`: a master sends lagging consumers to a slave.
    pub slave_read_enable: bool,
    /// `slaveTimeout`: how long a SYNC_MASTER send waits for a slave (FLUSH_SLAVE_TIMEOUT).
    pub slave_timeout_ms: u64,
    /// `haMaxGapNotInSync`: a slave further behind is not in sync (SLAVE_NOT_AVAILABLE).
    pub max_gap_not_in_sync: u64,
    /// `haSendHeartbeatInterval`: idle reports and heartbeats.
    pub heartbeat_ms: u64,
    /// `haHousekeepingInterval`: a link silent for longer is closed.
    pub housekeeping_ms: u64,
    /// `haTransferBatchSize`: most bytes per transfer.
    pub transfer_batch: usize,
}

impl Default for HaConfig {
    fn default() -> Self {
        Self {
            listen_port: None,
            master_address: None,
            slave_read_enable: false,
            slave_timeout_ms: 3_000,
            max_gap_not_in_sync: 256 << 20,
            heartbeat_ms: 5_000,
            housekeeping_ms: 20_000,
            transfer_batch: 32 << 10,
        }
    }
}

/// The clock timers are due by: the system clock plus an offset a test can move (days
/// pass in a moment).
#[derive(Debug, Clone, Default)]
pub struct Clock(std::sync::Arc<std::sync::atomic::AtomicI64>);

impl Clock {
    pub fn now_ms(&self) -> i64 {
        crate::util::now_ms() + self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Moves this clock (and every clone of it) forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Where the console listens (`consoleListen`): `host:port`, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleListen {
    /// Not set: `apogee standalone` listens on 127.0.0.1:8080, `apogee broker` does not.
    Default,
    Off,
    At(SocketAddr),
}

impl ConsoleListen {
    pub fn parse(value: &str) -> Result<Self, String> {
        match value.trim() {
            "" => Ok(Self::Default),
            "off" | "false" => Ok(Self::Off),
            addr => addr
                .parse()
                .map(Self::At)
                .map_err(|_| format!("not host:port or off: {addr}")),
        }
    }

    fn text(self) -> String {
        match self {
            Self::Default => String::new(),
            Self::Off => "off".into(),
            Self::At(addr) => addr.to_string(),
        }
    }
}

impl BrokerConfig {
    /// RocketMQ's defaults, storing under `store_root`.
    pub fn new(store_root: impl Into<PathBuf>) -> Self {
        Self {
            cluster_name: "DefaultCluster".into(),
            broker_name: "broker-a".into(),
            broker_id: 0,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 10911)),
            broker_ip: None,
            namesrv_addrs: Vec::new(),
            role: BrokerRole::AsyncMaster,
            auto_create_topic_enable: true,
            auto_create_subscription_group: true,
            enable_property_filter: false,
            store_reply_message_enable: true,
            default_topic_queue_nums: 8,
            region_id: "DefaultRegion".into(),
            transaction_timeout_ms: 6_000,
            transaction_check_interval_ms: 30_000,
            transaction_check_max: 15,
            reject_transaction_message: false,
            dedicated_store_threads: false,
            send_queue_capacity: 10_000,
            trace_topic_enable: false,
            msg_trace_topic_name: "RMQ_SYS_TRACE_TOPIC".into(),
            console_listen: ConsoleListen::Default,
            timer_wheel_enable: true,
            timer_max_delay_sec: 259_200,
            timer_precision_ms: 1000,
            recall_message_enable: false,
            clock: Clock::default(),
            ha: HaConfig::default(),
            controller: Default::default(),
            assigned: None,
            store: StoreConfig::new(store_root),
        }
    }

    /// Applies the lines of a `broker.conf`.
    pub fn apply_conf(&mut self, file: &str, text: &str) -> Result<(), ConfigError> {
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
                continue;
            }
            let Some((key, value)) = trimmed.split_once(['=', ':']) else {
                return Err(ConfigError::BadLine {
                    file: file.into(),
                    line,
                });
            };
            let (key, value) = (key.trim(), value.trim());
            self.apply(key, value).map_err(|why| match why {
                None => ConfigError::UnknownKey {
                    file: file.into(),
                    line,
                    key: key.into(),
                    suggestion: nearest_key(key),
                },
                Some(why) => ConfigError::BadValue {
                    file: file.into(),
                    line,
                    key: key.into(),
                    value: value.into(),
                    why,
                },
            })?;
        }
        Ok(())
    }

    /// One key; `Err(None)` for an unknown key, `Err(Some(why))` for a bad value.
    fn apply(&mut self, key: &str, value: &str) -> Result<(), Option<String>> {
        fn parse<T: std::str::FromStr>(value: &str) -> Result<T, Option<String>> {
            value
                .parse()
                .map_err(|_| Some("not a valid number or flag".into()))
        }
        fn ratio(value: &str) -> Result<f64, Option<String>> {
            let percent: u32 = parse(value)?;
            if (10..=95).contains(&percent) {
                Ok(f64::from(percent) / 100.0)
            } else {
                Err(Some("must be between 10 and 95".into()))
            }
        }
        match key {
            "brokerClusterName" => self.cluster_name = value.into(),
            "brokerName" => self.broker_name = value.into(),
            "brokerId" => self.broker_id = parse(value)?,
            "listenPort" => self.listen.set_port(parse(value)?),
            "brokerIP1" => self.broker_ip = Some(parse(value)?),
            "namesrvAddr" => {
                self.namesrv_addrs = value
                    .split(';')
                    .filter(|a| !a.trim().is_empty())
                    .map(|a| {
                        a.trim()
                            .parse()
                            .map_err(|_| Some(format!("`{a}` is not ip:port")))
                    })
                    .collect::<Result<_, _>>()?
            }
            "storePathRootDir" => self.store.root = PathBuf::from(value),
            "flushDiskType" => {
                self.store.flush.mode = match value {
                    "ASYNC_FLUSH" => FlushMode::Async,
                    "SYNC_FLUSH" => FlushMode::Sync,
                    _ => return Err(Some("expected ASYNC_FLUSH or SYNC_FLUSH".into())),
                }
            }
            "brokerRole" => {
                self.role = match value {
                    "ASYNC_MASTER" => BrokerRole::AsyncMaster,
                    "SYNC_MASTER" => BrokerRole::SyncMaster,
                    "SLAVE" => BrokerRole::Slave,
                    _ => return Err(Some("expected ASYNC_MASTER, SYNC_MASTER or SLAVE".into())),
                }
            }
            "deleteWhen" => {
                self.store.retention.delete_when = value
                    .split(';')
                    .map(|h| h.trim().parse::<u8>().ok().filter(|h| *h < 24))
                    .collect::<Option<_>>()
                    .ok_or_else(|| Some("expected hours of the day like 04 or 04;16".to_string()))?
            }
            "fileReservedTime" => self.store.retention.file_reserved_hours = parse(value)?,
            "diskMaxUsedSpaceRatio" => self.store.retention.disk_max_used_ratio = ratio(value)?,
            "autoCreateTopicEnable" => self.auto_create_topic_enable = parse(value)?,
            "autoCreateSubscriptionGroup" => self.auto_create_subscription_group = parse(value)?,
            "enablePropertyFilter" => self.enable_property_filter = parse(value)?,
            "storeReplyMessageEnable" => self.store_reply_message_enable = parse(value)?,
            "transactionTimeOut" => self.transaction_timeout_ms = parse(value)?,
            "transactionCheckInterval" => self.transaction_check_interval_ms = parse(value)?,
            "transactionCheckMax" => self.transaction_check_max = parse(value)?,
            "rejectTransactionMessage" => self.reject_transaction_message = parse(value)?,
            "defaultTopicQueueNums" => self.default_topic_queue_nums = parse(value)?,
            "mapedFileSizeCommitLog" | "mappedFileSizeCommitLog" => {
                self.store.commit_log_file_size = parse(value)?
            }
            "mapedFileSizeConsumeQueue" | "mappedFileSizeConsumeQueue" => {
                let bytes: usize = parse(value)?;
                self.store.cq_units_per_file = (bytes / 20).max(1);
            }
            "maxMessageSize" => self.store.max_message_size = parse(value)?,
            "flushIntervalCommitLog" => {
                self.store.flush.interval = Duration::from_millis(parse(value)?)
            }
            "syncFlushTimeout" => {
                self.store.flush.sync_timeout = Duration::from_millis(parse(value)?)
            }
            "messageIndexEnable" => self.store.index_enable = parse(value)?,
            "warmMapedFileEnable" => self.store.warm.touch = parse(value)?,
            // RocketMQ's write buffer: under ASYNC_FLUSH, appends go to a buffer that the
            // committer thread writes with `pwrite` (SYNC_FLUSH always works that way).
            "transientStorePoolEnable" => {
                self.store.log_writes = parse::<bool>(value)?.then_some(Writes::Syscall)
            }
            "regionId" => self.region_id = value.into(),
            "dedicatedStoreThreads" => self.dedicated_store_threads = parse(value)?,
            "traceTopicEnable" => self.trace_topic_enable = parse(value)?,
            "msgTraceTopicName" => {
                if let Some(why) = crate::actors::topic_config::invalid_topic_name(value) {
                    return Err(Some(why));
                }
                self.msg_trace_topic_name = value.into()
            }
            "consoleListen" => self.console_listen = ConsoleListen::parse(value).map_err(Some)?,
            "timerWheelEnable" => self.timer_wheel_enable = parse(value)?,
            "recallMessageEnable" => self.recall_message_enable = parse(value)?,
            "timerMaxDelaySec" => self.timer_max_delay_sec = parse(value)?,
            "timerPrecisionMs" => {
                self.timer_precision_ms =
                    crate::broker::timer::Wheel::new(parse(value)?).precision_ms()
            }
            "haListenPort" => self.ha.listen_port = Some(parse(value)?).filter(|p| *p != 0),
            "haMasterAddress" => {
                // RocketMQ ignores values shorter than 6 characters (an empty key).
                self.ha.master_address = (value.len() >= 6).then(|| value.to_string())
            }
            "slaveReadEnable" => self.ha.slave_read_enable = parse(value)?,
            "slaveTimeout" => self.ha.slave_timeout_ms = parse(value)?,
            "haMaxGapNotInSync" | "haSlaveFallbehindMax" => {
                self.ha.max_gap_not_in_sync = parse(value)?
            }
            "haSendHeartbeatInterval" => self.ha.heartbeat_ms = parse::<u64>(value)?.max(100),
            "haHousekeepingInterval" => self.ha.housekeeping_ms = parse::<u64>(value)?.max(1000),
            "haTransferBatchSize" => {
                let batch: usize = parse(value)?;
                if !(1024..=crate::protocol::ha::MAX_BODY).contains(&batch) {
                    return Err(Some(format!(
                        "must be between 1024 and {}",
                        crate::protocol::ha::MAX_BODY
                    )));
                }
                self.ha.transfer_batch = batch
            }
            "sendThreadPoolQueueCapacity" => {
                self.send_queue_capacity = parse(value)?;
                if self.send_queue_capacity == 0 {
                    return Err(Some("must be at least 1".into()));
                }
            }
            "messageDelayLevel" => {
                self.store.delay_levels =
                    crate::store::parse_delay_levels(value).ok_or_else(|| {
                        Some("expected levels like `1s 5s 10s 30s 1m 2h 1d`".to_string())
                    })?
            }
            _ if super::controller_mode::KEYS.contains(&key) => {
                self.controller.apply(key, value).map_err(Some)?
            }
            _ if rocketmq_knows(key) => {
                tracing::warn!("broker.conf: `{key}` has no effect in Apogee (accepted, ignored)");
            }
            _ => return Err(None),
        }
        Ok(())
    }

    /// UPDATE_BROKER_CONFIG: one key of [`RUNTIME_KEYS`] changed while the broker runs.
    /// Other keys are refused with the reason (`Err`).
    pub fn update_at_runtime(&mut self, key: &str, value: &str) -> Result<(), String> {
        if !RUNTIME_KEYS.contains(&key) {
            return Err(if APOGEE_KEYS.contains(&key) {
                format!("`{key}` cannot change while the broker runs: set it in broker.conf and restart")
            } else if rocketmq_knows(key) {
                format!("`{key}` has no effect in Apogee")
            } else {
                format!("unknown key `{key}`{}", did_you_mean(&nearest_key(key)))
            });
        }
        self.apply(key, value.trim()).map_err(|why| {
            format!(
                "invalid value {value:?} for `{key}`: {}",
                why.unwrap_or_default()
            )
        })
    }

    /// The settings as `key=value` pairs, in [`APOGEE_KEYS`]' order (GET_BROKER_CONFIG).
    pub fn properties(&self) -> Vec<(&'static str, String)> {
        let flush = match self.store.flush.mode {
            FlushMode::Async => "ASYNC_FLUSH",
            FlushMode::Sync => "SYNC_FLUSH",
        };
        let role = match self.role {
            BrokerRole::AsyncMaster => "ASYNC_MASTER",
            BrokerRole::SyncMaster => "SYNC_MASTER",
            BrokerRole::Slave => "SLAVE",
        };
        let namesrv = self
            .namesrv_addrs
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(";");
        let delete_when = self
            .store
            .retention
            .delete_when
            .iter()
            .map(|h| format!("{h:02}"))
            .collect::<Vec<_>>()
            .join(";");
        let delay_levels = self
            .store
            .delay_levels
            .iter()
            .map(|d| crate::store::format_delay_level(*d))
            .collect::<Vec<_>>()
            .join(" ");
        let values: Vec<String> = vec![
            self.cluster_name.clone(),
            self.broker_name.clone(),
            self.broker_id.to_string(),
            self.listen.port().to_string(),
            self.broker_ip.unwrap_or(self.listen.ip()).to_string(),
            namesrv,
            self.store.root.display().to_string(),
            flush.into(),
            role.into(),
            delete_when,
            self.store.retention.file_reserved_hours.to_string(),
            format!(
                "{}",
                (self.store.retention.disk_max_used_ratio * 100.0).round()
            ),
            self.auto_create_topic_enable.to_string(),
            self.auto_create_subscription_group.to_string(),
            self.enable_property_filter.to_string(),
            self.store_reply_message_enable.to_string(),
            self.transaction_timeout_ms.to_string(),
            self.transaction_check_interval_ms.to_string(),
            self.transaction_check_max.to_string(),
            self.reject_transaction_message.to_string(),
            self.default_topic_queue_nums.to_string(),
            self.store.commit_log_file_size.to_string(),
            (self.store.cq_units_per_file * 20).to_string(),
            self.store.max_message_size.to_string(),
            self.store.flush.interval.as_millis().to_string(),
            self.store.flush.sync_timeout.as_millis().to_string(),
            self.store.index_enable.to_string(),
            self.store.warm.touch.to_string(),
            (self.store.log_writes == Some(Writes::Syscall)).to_string(),
            self.region_id.clone(),
            self.dedicated_store_threads.to_string(),
            self.send_queue_capacity.to_string(),
            delay_levels,
            self.trace_topic_enable.to_string(),
            self.msg_trace_topic_name.clone(),
            self.console_listen.text(),
            self.timer_wheel_enable.to_string(),
            self.timer_max_delay_sec.to_string(),
            self.timer_precision_ms.to_string(),
            self.recall_message_enable.to_string(),
            self.ha_listen(self.listen).port().to_string(),
            self.ha.master_address.clone().unwrap_or_default(),
            self.ha.slave_read_enable.to_string(),
            self.ha.slave_timeout_ms.to_string(),
            self.ha.max_gap_not_in_sync.to_string(),
            self.ha.heartbeat_ms.to_string(),
            self.ha.housekeeping_ms.to_string(),
            self.ha.transfer_batch.to_string(),
        ];
        APOGEE_KEYS.iter().copied().zip(values).collect()
    }

    /// Where the HA service listens, given the remoting address (`haListenPort`, else the
    /// remoting port + 1, as RocketMQ; any free port when the remoting port was 0).
    pub fn ha_listen(&self, remoting: SocketAddr) -> SocketAddr {
        let port = self.ha.listen_port.unwrap_or_else(|| {
            if self.listen.port() == 0 {
                0
            } else {
                remoting.port().wrapping_add(1)
            }
        });
        SocketAddr::new(remoting.ip(), port)
    }

    /// The address advertised to name servers and put in message ids.
    pub fn advertised(&self, actual: SocketAddr) -> SocketAddr {
        SocketAddr::new(self.broker_ip.unwrap_or(actual.ip()), actual.port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_rocketmq_broker_conf() {
        let mut config = BrokerConfig::new("/tmp/x");
        let conf = "# sample\nbrokerClusterName = C1\nbrokerName=broker-b\nbrokerId=0\ndeleteWhen=04\nfileReservedTime=48\nbrokerRole=ASYNC_MASTER\nflushDiskType=SYNC_FLUSH\nlistenPort=10921\nnamesrvAddr=127.0.0.1:9876;127.0.0.1:9877\nstorePathRootDir=/data/store\nautoCreateTopicEnable=false\nenablePropertyFilter=true\n";
        config.apply_conf("broker.conf", conf).unwrap();
        assert_eq!(config.cluster_name, "C1");
        assert_eq!(config.listen.port(), 10921);
        assert_eq!(config.namesrv_addrs.len(), 2);
        assert_eq!(config.store.flush.mode, FlushMode::Sync);
        assert_eq!(config.store.retention.file_reserved_hours, 48);
        assert!(!config.auto_create_topic_enable);
        assert!(config.enable_property_filter);
        assert_eq!(config.store.root, PathBuf::from("/data/store"));
    }

    #[test]
    fn transient_store_pool_writes_the_log_from_a_buffer() {
        let mut config = BrokerConfig::new("/tmp/x");
        assert_eq!(config.store.log_writes(), Writes::MapBulk);
        config
            .apply_conf("broker.conf", "transientStorePoolEnable=true")
            .unwrap();
        assert_eq!(config.store.log_writes(), Writes::Syscall);
        config
            .apply_conf("broker.conf", "transientStorePoolEnable=false")
            .unwrap();
        assert_eq!(config.store.log_writes(), Writes::MapBulk);
        assert!(config
            .apply_conf("broker.conf", "transientStorePoolEnable=maybe")
            .is_err());
    }

    /// The broker configurations shipped in Apache RocketMQ's distribution/conf
    /// (2m-2s-sync, controller quick-start, dledger, container), their keys together.
    #[test]
    fn starts_from_the_confs_rocketmq_ships() {
        let conf = "brokerClusterName = DefaultCluster\nbrokerName = broker-a\nbrokerId = 0\ndeleteWhen = 04\nfileReservedTime = 48\nbrokerRole = SYNC_MASTER\nflushDiskType = ASYNC_FLUSH\nnamesrvAddr=127.0.0.1:9876\nlistenPort=30911\nhaListenPort=30912\nstorePathRootDir=/tmp/rmqstore/node00\nstorePathCommitLog=/tmp/rmqstore/node00/commitlog\nenableControllerMode=true\ncontrollerAddr=127.0.0.1:9878\nallAckInSyncStateSet=true\nenableDLegerCommitLog=true\ndLegerGroup=RaftNode00\ndLegerPeers=n0-127.0.0.1:40911;n1-127.0.0.1:40912\ndLegerSelfId=n0\nsendMessageThreadPoolNums=16\nslaveReadEnable=true\nbrokerConfigPaths=a.conf:b.conf\ntotalReplicas=3\ninSyncReplicas=2\nminInSyncReplicas=1\nenableAutoInSyncReplicas=true\nenableSlaveActingMaster=true\nbrokerHeartbeatInterval=1000\nbrokerNotActiveTimeoutMillis=10000\nsendHeartbeatTimeoutMillis=1000\nfetchNamesrvAddrByAddressServer=false\n";
        let mut config = BrokerConfig::new("/tmp/x");
        config.apply_conf("broker.conf", conf).unwrap();
        assert_eq!(config.role, BrokerRole::SyncMaster);
        assert_eq!(config.listen.port(), 30911);
    }

    #[test]
    fn a_misspelt_key_is_refused_with_the_nearest_known_one() {
        let mut config = BrokerConfig::new("/tmp/x");
        let err = config
            .apply_conf("conf/broker.conf", "\n\nflushDiskTyp=SYNC_FLUSH")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "conf/broker.conf:3: unknown key `flushDiskTyp` (did you mean `flushDiskType`?)"
        );
        // Nearest among RocketMQ's keys too.
        let err = config
            .apply_conf("b.conf", "slaveReadEnabel=true")
            .unwrap_err();
        assert!(
            err.to_string()
                .ends_with("(did you mean `slaveReadEnable`?)"),
            "{err}"
        );
        // Nothing near: no suggestion.
        let err = config.apply_conf("b.conf", "colour=blue").unwrap_err();
        assert_eq!(err.to_string(), "b.conf:1: unknown key `colour`");
    }

    #[test]
    fn runtime_updates_change_only_runtime_keys() {
        let mut config = BrokerConfig::new("/tmp/x");
        config
            .update_at_runtime("autoCreateTopicEnable", "false")
            .unwrap();
        assert!(!config.auto_create_topic_enable);
        config
            .update_at_runtime("transactionCheckMax", "3")
            .unwrap();
        assert_eq!(config.transaction_check_max, 3);
        let err = config.update_at_runtime("listenPort", "1").unwrap_err();
        assert!(err.contains("restart"), "{err}");
        config.update_at_runtime("slaveReadEnable", "true").unwrap();
        assert!(config.ha.slave_read_enable);
        let err = config
            .update_at_runtime("diskFallRecorded", "true")
            .unwrap_err();
        assert!(err.contains("no effect in Apogee"), "{err}");
        let err = config
            .update_at_runtime("autoCreateTopicEnable", "perhaps")
            .unwrap_err();
        assert!(err.starts_with("invalid value"), "{err}");
        assert!(config
            .update_at_runtime("autoCreateTopicEnabled", "true")
            .unwrap_err()
            .contains("did you mean `autoCreateTopicEnable`"));
    }

    #[test]
    fn properties_read_back_as_the_same_settings() {
        let mut config = BrokerConfig::new("/tmp/x");
        config
            .apply_conf("b.conf", "brokerRole=SYNC_MASTER\ndeleteWhen=04;16\nmessageDelayLevel=1s 2m 1h 1d\nnamesrvAddr=127.0.0.1:1;127.0.0.1:2")
            .unwrap();
        let text: String = config
            .properties()
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect();
        let mut again = BrokerConfig::new("/elsewhere");
        again.apply_conf("properties", &text).unwrap();
        assert_eq!(again.properties(), config.properties());
        assert_eq!(config.properties().len(), APOGEE_KEYS.len());
    }

    #[test]
    fn refuses_unknown_keys_and_bad_values() {
        let mut config = BrokerConfig::new("/tmp/x");
        assert_eq!(
            config.apply_conf("b.conf", "brokerNme=x"),
            Err(ConfigError::UnknownKey {
                file: "b.conf".into(),
                line: 1,
                key: "brokerNme".into(),
                suggestion: Some("brokerName".into()),
            })
        );
        let bad = config
            .apply_conf("b.conf", "\nflushDiskType=SOMETIMES")
            .unwrap_err();
        assert_eq!(bad.to_string(), "b.conf:2: invalid value \"SOMETIMES\" for `flushDiskType`: expected ASYNC_FLUSH or SYNC_FLUSH");
        assert!(config.apply_conf("b.conf", "listenPort=99999").is_err());
        assert!(config.apply_conf("b.conf", "just words").is_err());
    }
}
