//! Storage: the commit log, consume queues, index, flush, checkpoint, recovery and retention.
//! Owns files and mmaps; knows nothing of the network.
//!
//! - [`mmap`]: mapped files — the only `unsafe` of the store;
//! - [`commit_log`]: one append-only log of records for all topics;
//! - [`consume_queue`]: per topic-queue units pointing into the log;
//! - [`index`]: hash index by key and time;
//! - [`flush`]: async and sync (group commit) flushing, poisoning on failure;
//! - [`checkpoint`], [`recovery`]: where recovery may start, and the recovery itself;
//! - [`retention`]: deleting old files; [`config`] and [`config_file`]: JSON config stores.
//!
//! Writing a message: a [`QueueAppender`] (one per queue; it owns the queue's offsets)
//! encodes records, the [`CommitLog`] places them under one short lock, and
//! [`Store::dispatch`] later turns the new records into consume-queue units and index
//! entries. See docs/ARCHITECTURE.md.

pub mod checkpoint;
pub mod commit_log;
pub mod config;
pub mod config_file;
pub mod consume_queue;
mod dispatch;
pub mod epoch;
pub mod flush;
pub mod index;
pub mod mmap;
pub mod recovery;
pub mod retention;
mod truncate;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use thiserror::Error;

use crate::protocol::message::{NewMessage, Record, RecordError};
pub use commit_log::{CommitLog, Placed};
pub use consume_queue::{ConsumeQueue, Unit};
pub use dispatch::Arrival;
pub use flush::{FlushConfig, FlushMode};
pub use index::IndexShape;
pub use mmap::WarmUp;
pub use recovery::RecoveryReport;
pub use retention::RetentionConfig;
pub use truncate::Truncated;

use dispatch::Dispatcher;
use flush::FlushState;
use index::IndexService;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("store files are damaged: {0}")]
    Corrupt(String),
    #[error("message body of {size} bytes exceeds the limit of {max} bytes")]
    MessageTooLarge { size: usize, max: usize },
    #[error("record of {size} bytes cannot fit a commit-log file of {file_size} bytes")]
    RecordTooLarge { size: usize, file_size: usize },
    #[error("bad record: {0}")]
    Record(#[from] RecordError),
    #[error("the store refuses writes after a failed disk flush: {0}")]
    Poisoned(String),
    #[error("flush to disk did not complete in time")]
    FlushTimeout,
    #[error(
        "disk full: {used_percent}% used, {available_mib} MiB available (writes refused above \
         {limit_percent}% or below {margin_mib} MiB available)"
    )]
    DiskFull {
        used_percent: u32,
        limit_percent: u32,
        available_mib: u64,
        margin_mib: u64,
    },
    #[error("queue {0} already has a writer")]
    QueueBusy(QueueKey),
    #[error("message for {got} handed to the writer of {queue}")]
    WrongQueue { queue: QueueKey, got: QueueKey },
    #[error("another process holds the store lock at {0}")]
    Locked(PathBuf),
    #[error("store is closed")]
    Closed,
    /// A slave's store: only replication writes to it.
    #[error("message store is slave mode, so putMessage is forbidden")]
    ReadOnly,
    #[error("internal error: {0}")]
    Internal(String),
}

impl StoreError {
    pub(crate) fn internal(e: impl std::fmt::Display) -> Self {
        StoreError::Internal(e.to_string())
    }
}

/// A topic and queue id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueKey {
    pub topic: String,
    pub queue_id: i32,
}

impl QueueKey {
    pub fn new(topic: impl Into<String>, queue_id: i32) -> Self {
        Self {
            topic: topic.into(),
            queue_id,
        }
    }
}

impl std::fmt::Display for QueueKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.topic, self.queue_id)
    }
}

/// Settings of a store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `storePathRootDir`: holds `commitlog/`, `consumequeue/`, `index/`, `config/`,
    /// `checkpoint`, `abort`, `lock`.
    pub root: PathBuf,
    /// `mappedFileSizeCommitLog` (1 GiB).
    pub commit_log_file_size: usize,
    /// Units per consume-queue file (300 000).
    pub cq_units_per_file: usize,
    pub index: IndexShape,
    /// Build the key index at all (`messageIndexEnable`).
    pub index_enable: bool,
    pub flush: FlushConfig,
    pub warm: WarmUp,
    /// How records get into commit-log files; `None`: by flush mode (`pwrite` under
    /// SYNC_FLUSH, stores into the map under ASYNC_FLUSH, see [`mmap`]'s notes).
    pub log_writes: Option<mmap::Writes>,
    /// Largest message body accepted (`maxMessageSize`, 4 MiB).
    pub max_message_size: usize,
    pub retention: RetentionConfig,
    /// Delay of each level, level 1 first (`messageDelayLevel`).
    pub delay_levels: Vec<Duration>,
}

/// Topic of delayed messages: queue `level − 1` per delay level.
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
/// The timer wheel's slot queues (RocketMQ's `TimerMessageStore.TIMER_TOPIC`); each
/// unit's tag code is its record's [`TIMER_AT_PROPERTY`] (see `broker::timer`).
pub const TIMER_TOPIC: &str = "rmq_sys_wheel_timer";
pub const TIMER_AT_PROPERTY: &str = "APOGEE_TIMER_AT";

/// RocketMQ's `messageDelayLevel` default.
pub const DEFAULT_DELAY_LEVELS: &str = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";

/// Parses `messageDelayLevel` (`1s 5s 1m 2h 1d`).
pub fn parse_delay_levels(text: &str) -> Option<Vec<Duration>> {
    text.split_whitespace()
        .map(|level| {
            let (number, unit) = level.split_at(level.len().checked_sub(1)?);
            let n: u64 = number.parse().ok()?;
            let secs = match unit {
                "s" => n,
                "m" => n * 60,
                "h" => n * 3600,
                "d" => n * 86_400,
                _ => return None,
            };
            Some(Duration::from_secs(secs))
        })
        .collect::<Option<Vec<_>>>()
        .filter(|levels| !levels.is_empty())
}

/// One level as `messageDelayLevel` writes it (`30s`, `2m`, `1h`, `1d`).
pub fn format_delay_level(level: Duration) -> String {
    let secs = level.as_secs();
    match secs {
        s if s > 0 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

impl StoreConfig {
    /// RocketMQ's defaults under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            commit_log_file_size: 1 << 30,
            cq_units_per_file: consume_queue::DEFAULT_UNITS_PER_FILE,
            index: IndexShape::default(),
            index_enable: true,
            flush: FlushConfig::default(),
            warm: WarmUp::default(),
            log_writes: None,
            max_message_size: 4 * 1024 * 1024,
            retention: RetentionConfig::default(),
            delay_levels: parse_delay_levels(DEFAULT_DELAY_LEVELS).unwrap_or_default(),
        }
    }

    /// How records get into commit-log files.
    pub fn log_writes(&self) -> mmap::Writes {
        self.log_writes.unwrap_or(match self.flush.mode {
            FlushMode::Sync => mmap::Writes::Syscall,
            FlushMode::Async => mmap::Writes::MapBulk,
        })
    }

    fn commit_log_dir(&self) -> PathBuf {
        self.root.join("commitlog")
    }

    fn consume_queue_dir(&self) -> PathBuf {
        self.root.join("consumequeue")
    }

    fn queue_dir(&self, key: &QueueKey) -> PathBuf {
        self.consume_queue_dir()
            .join(&key.topic)
            .join(key.queue_id.to_string())
    }

    pub fn config_dir(&self) -> PathBuf {
        self.root.join("config")
    }
}

/// A store: open it once per directory, share it (`Arc`), shut it down at the end.
pub struct Store {
    config: StoreConfig,
    pub(crate) commit_log: CommitLog,
    queues: RwLock<HashMap<QueueKey, Arc<ConsumeQueue>>>,
    index: IndexService,
    flush_state: Arc<FlushState>,
    dispatcher: Mutex<Dispatcher>,
    /// Next queue offset of each queue whose writer is not checked out (`None` while it is).
    queue_offsets: Mutex<HashMap<QueueKey, Option<u64>>>,
    disk_full: AtomicBool,
    /// Set by `shutdown`: appends are refused from then on.
    closed: AtomicBool,
    /// A slave's store: appends other than replicated ones are refused.
    read_only: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// flock on `root/lock` against a second process.
    lock: std::fs::File,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("root", &self.config.root)
            .field("commit_log", &self.commit_log)
            .finish()
    }
}

/// What one append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Queue offset of the first message; the others follow.
    pub first_queue_offset: u64,
    /// Where each record landed.
    pub placed: Vec<Placed>,
    /// End of the last record: durable once the flushed offset passes it.
    pub end: u64,
    pub store_timestamp: i64,
}

impl Store {
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Free bytes below which appends are refused: the next commit-log file, an index
    /// file and 64 MiB for consume queues and config files (all sparse but the log).
    pub(crate) fn space_margin(&self) -> u64 {
        (self.config.commit_log_file_size + self.config.index.file_len() + (64 << 20)) as u64
    }

    pub fn root(&self) -> &Path {
        &self.config.root
    }

    /// The writer of one queue. At most one exists per queue: it owns the queue's offsets.
    pub fn queue_appender(self: &Arc<Self>, key: QueueKey) -> Result<QueueAppender, StoreError> {
        let mut offsets = self.queue_offsets.lock().unwrap_or_else(|e| e.into_inner());
        let next = match offsets.get(&key) {
            Some(Some(next)) => *next,
            Some(None) => return Err(StoreError::QueueBusy(key)),
            None => self.consume_queue(&key).map_or(0, |cq| cq.max_offset()),
        };
        offsets.insert(key.clone(), None);
        Ok(QueueAppender {
            store: Arc::clone(self),
            key,
            next,
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    /// The consume queue of `key`, if it has ever had a message.
    pub fn consume_queue(&self, key: &QueueKey) -> Option<Arc<ConsumeQueue>> {
        self.queues
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    fn consume_queue_or_create(&self, key: &QueueKey) -> Arc<ConsumeQueue> {
        if let Some(cq) = self.consume_queue(key) {
            return cq;
        }
        let mut queues = self.queues.write().unwrap_or_else(|e| e.into_inner());
        Arc::clone(queues.entry(key.clone()).or_insert_with(|| {
            Arc::new(ConsumeQueue::new(
                &self.config.queue_dir(key),
                self.config.cq_units_per_file,
            ))
        }))
    }

    /// Every consume queue, taken without holding the table's lock afterwards (dispatch
    /// adds queues meanwhile).
    pub(crate) fn queues_snapshot(&self) -> Vec<Arc<ConsumeQueue>> {
        self.queues
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// All queues that exist.
    pub fn queue_keys(&self) -> Vec<QueueKey> {
        let mut keys: Vec<_> = self
            .queues
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    /// Next queue offset to be dispatched (0 for an unknown queue).
    pub fn max_offset(&self, key: &QueueKey) -> u64 {
        self.consume_queue(key).map_or(0, |cq| cq.max_offset())
    }

    /// First readable queue offset (0 for an unknown queue).
    pub fn min_offset(&self, key: &QueueKey) -> u64 {
        self.consume_queue(key).map_or(0, |cq| cq.min_offset())
    }

    pub fn commit_log(&self) -> &CommitLog {
        &self.commit_log
    }

    /// A record's bytes, zero-copy from the mapped log.
    pub fn read(&self, physical_offset: u64, size: usize) -> Option<Bytes> {
        self.commit_log.read(physical_offset, size)
    }

    /// Decodes the record at `physical_offset` and hands it to `f`.
    pub fn with_record<T>(
        &self,
        physical_offset: u64,
        f: impl FnOnce(Record<'_>) -> T,
    ) -> Option<T> {
        self.commit_log.with_record(physical_offset, f)
    }

    /// Builds consume-queue units and index entries for every record written since the last
    /// call. Returns, per queue that grew, its new max offset.
    pub fn dispatch(&self) -> Result<Vec<Arrival>, StoreError> {
        let mut dispatcher = self.dispatcher.lock().unwrap_or_else(|e| e.into_inner());
        dispatcher.run(self)
    }

    /// Offset up to which records are dispatched.
    pub fn dispatched(&self) -> u64 {
        self.dispatcher
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reput_offset()
    }

    /// Physical offsets of messages of `topic` with key (or unique key) `key`, stored within
    /// `[begin_ms, end_ms]`, newest first, at most `max`. Hash collisions are filtered out.
    pub fn query_by_key(
        &self,
        topic: &str,
        key: &str,
        begin_ms: i64,
        end_ms: i64,
        max: usize,
    ) -> Vec<u64> {
        use crate::protocol::properties;
        self.index
            .query(topic, key, begin_ms, end_ms, max.saturating_mul(2).max(max))
            .into_iter()
            .filter(|&phy| {
                self.with_record(phy, |r| {
                    r.topic == topic
                        && (properties::get(r.properties, properties::UNIQ_KEY) == Some(key)
                            || properties::get(r.properties, properties::KEYS)
                                .is_some_and(|keys| keys.split(' ').any(|k| k == key)))
                })
                .unwrap_or(false)
            })
            .take(max)
            .collect()
    }

    /// A slave's store refuses appends (replication goes on), a master's takes them.
    pub fn set_read_only(&self, read_only: bool) {
        self.read_only.store(read_only, Ordering::Release);
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only.load(Ordering::Acquire)
    }

    /// Why the store refuses writes after a failed flush or checkpoint, if it does.
    pub fn poisoned(&self) -> Option<String> {
        self.flush_state.poisoned()
    }

    /// Asks the flusher for a flush now: async SYNC_FLUSH waiters, which must not run the
    /// msync themselves, call this and watch [`Store::flushes`] (the broker's
    /// `broker::sync_waits`).
    pub fn request_flush(&self) {
        self.flush_state.request();
    }

    /// Changes after every flush of the commit log (the flushed offset).
    pub fn flushes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.flush_state.subscribe()
    }

    /// Changes whenever records become readable off the append path. When the log is
    /// written with `pwrite` (SYNC_FLUSH, or ASYNC_FLUSH with the transient pool) records
    /// become readable when the committer thread or a flush writes them (see
    /// [`commit_log`]), not when appended, so whoever tails the log (the reput) watches
    /// this as well as appends.
    pub fn drains(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commit_log.drains()
    }

    /// Waits, up to `limit`, until the record at `physical_offset` can be read, if it was
    /// appended: records written with `pwrite` (the transient pool) become readable only
    /// when the committer has written them ([`Store::drains`]). True if it is readable.
    pub async fn readable(&self, physical_offset: u64, limit: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        let mut drains = self.drains();
        loop {
            if self.with_record(physical_offset, |_| ()).is_some() {
                return true;
            }
            if physical_offset >= self.commit_log.appended()
                || tokio::time::Instant::now() >= deadline
            {
                return false;
            }
            // A drain wakes us; the short timeout covers one that came before we looked.
            let _ =
                tokio::time::timeout(std::time::Duration::from_millis(10), drains.changed()).await;
        }
    }

    /// Blocks until everything below `end` is on disk (returns at once under ASYNC_FLUSH).
    pub fn wait_durable(&self, end: u64) -> Result<(), StoreError> {
        match self.config.flush.mode {
            FlushMode::Async => Ok(()),
            FlushMode::Sync => self
                .flush_state
                .wait(end, self.config.flush.sync_timeout, || {
                    self.commit_log.flush()
                }),
        }
    }

    /// Why writes are refused right now, if they are.
    fn refuse_writes(&self) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        if self.read_only.load(Ordering::Acquire) {
            return Err(StoreError::ReadOnly);
        }
        if let Some(error) = self.flush_state.poisoned() {
            return Err(StoreError::Poisoned(error));
        }
        if self.disk_full.load(Ordering::Acquire) {
            return Err(StoreError::DiskFull {
                used_percent: retention::disk_used_percent(&self.config.root).unwrap_or(100),
                limit_percent: (self.config.retention.disk_hard_ratio * 100.0) as u32,
                available_mib: mmap::disk_space_full(&self.config.root)
                    .map_or(0, |(_, _, available)| available >> 20),
                margin_mib: self.space_margin() >> 20,
            });
        }
        Ok(())
    }

    /// Flushes queues and index, then records how far log and queues are on disk.
    pub(crate) fn write_checkpoint(&self) -> Result<(), StoreError> {
        let dispatched = self.dispatched();
        // Flush without holding the table's lock: dispatch adds queues meanwhile.
        for cq in self.queues_snapshot() {
            cq.flush()?;
        }
        self.index.flush()?;
        let flushed = self.commit_log.flushed();
        let stamp = crate::util::now_ms();
        checkpoint::Checkpoint {
            physic_msg_timestamp: stamp,
            logics_msg_timestamp: stamp,
            index_msg_timestamp: stamp,
            flushed_offset: flushed,
            dispatched_offset: dispatched.min(flushed),
        }
        .store(&self.config.root.join("checkpoint"))?;
        Ok(())
    }

    /// Flushes everything, writes the checkpoint, stops the background threads and removes
    /// the abort marker (the next open is a clean one).
    pub fn shutdown(&self) -> Result<(), StoreError> {
        self.closed.store(true, Ordering::Release);
        self.dispatch()?;
        self.flush_state.stop();
        self.commit_log.commit_signal().stop();
        let threads: Vec<_> = self
            .threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for thread in threads {
            let _ = thread.join();
        }
        self.commit_log.flush()?;
        self.write_checkpoint()?;
        match std::fs::remove_file(self.config.root.join("abort")) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        // Others may still hold the (closed) store: let the next process in now.
        self.lock.unlock()?;
        Ok(())
    }

    /// Runs retention once (the retention thread calls this every 10 s).
    pub fn run_retention(
        &self,
        now_ms: i64,
        hour_of_day: u8,
    ) -> Result<retention::Outcome, StoreError> {
        retention::run(self, now_ms, hour_of_day)
    }
}

/// The writer of one queue: assigns queue offsets and appends its messages to the log.
/// Dropping it hands the queue's next offset back to the store.
pub struct QueueAppender {
    store: Arc<Store>,
    key: QueueKey,
    next: u64,
    buf: Vec<u8>,
}

impl QueueAppender {
    pub fn key(&self) -> &QueueKey {
        &self.key
    }

    /// Queue offset the next message will get.
    pub fn next_offset(&self) -> u64 {
        self.next
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Appends messages of this queue, in order. Under SYNC_FLUSH, wait for durability with
    /// [`Store::wait_durable`] / [`Store::durable`] on the returned `end`.
    pub fn append(&mut self, messages: &[NewMessage<'_>]) -> Result<Appended, StoreError> {
        self.store.refuse_writes()?;
        let max = self.store.config.max_message_size;
        self.buf.clear();
        for (i, msg) in messages.iter().enumerate() {
            if msg.topic != self.key.topic || msg.queue_id != self.key.queue_id {
                return Err(StoreError::WrongQueue {
                    queue: self.key.clone(),
                    got: QueueKey::new(msg.topic, msg.queue_id),
                });
            }
            if msg.body.len() > max {
                return Err(StoreError::MessageTooLarge {
                    size: msg.body.len(),
                    max,
                });
            }
            msg.encode((self.next + i as u64) as i64, &mut self.buf)?;
        }
        let store_timestamp = crate::util::now_ms();
        let mut placed = Vec::with_capacity(messages.len());
        let log = &self.store.commit_log;
        let end = match log.append(&mut self.buf, store_timestamp, &mut placed) {
            Ok(appended) => {
                if appended.wants_flush {
                    self.store.request_flush();
                }
                appended.end
            }
            Err(e) => {
                // Some records may be in the log already with these queue offsets: nothing
                // can be promised about this queue any more.
                self.store.poison_after("append", &e);
                return Err(e);
            }
        };
        let first_queue_offset = self.next;
        self.next += messages.len() as u64;
        // SYNC: whoever waits for durability triggers the flush (`wait_durable`,
        // `request_flush`).
        if self.store.config.flush.mode == FlushMode::Async
            && log.written() - log.flushed() >= self.store.config.flush.threshold_bytes
        {
            self.store.flush_state.request();
        }
        Ok(Appended {
            first_queue_offset,
            placed,
            end,
            store_timestamp,
        })
    }
}

impl Drop for QueueAppender {
    fn drop(&mut self) {
        self.store
            .queue_offsets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.key.clone(), Some(self.next));
    }
}

impl Store {
    fn threads_stopping(&self) -> bool {
        self.flush_state.is_stopping()
    }

    /// `what` (an append, the committer's write) failed midway: records after it cannot be
    /// promised, so the store refuses writes from now on.
    fn poison_after(&self, what: &str, e: &StoreError) {
        tracing::error!(error = %e, "{what} failed midway: store poisoned, writes refused");
        self.flush_state.poison(format!("{what} failed: {e}"));
    }
}

/// How often the retention thread runs.
pub(crate) const RETENTION_PERIOD: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_levels_parse_like_rocketmq() {
        let levels = parse_delay_levels(DEFAULT_DELAY_LEVELS).unwrap();
        assert_eq!(levels.len(), 18);
        assert_eq!(levels[2], Duration::from_secs(10));
        assert_eq!(levels[17], Duration::from_secs(7200));
        assert_eq!(parse_delay_levels("1d 500ms"), None);
        let written: Vec<_> = levels.iter().map(|l| format_delay_level(*l)).collect();
        assert_eq!(written.join(" "), DEFAULT_DELAY_LEVELS);
        assert_eq!(parse_delay_levels(""), None);
    }
}
