//! Opening a store: crash recovery that reads only what the checkpoint cannot vouch for.
//!
//! 1. The commit log is scanned from the checkpoint's flushed offset (not from the oldest
//!    file): each record's magic, size, body CRC and physical offset are checked. The first
//!    record that fails ends the log; the file is cut there (truncated and re-extended, so
//!    the torn bytes become zeros) and later files are deleted.
//! 2. Each consume queue finds the end of its units by binary search and drops units that
//!    point past the log's end.
//! 3. Records from the checkpoint's dispatched offset on are dispatched again (units already
//!    present are kept; index entries already present are skipped).
//!
//! An `abort` file exists while a store is open; finding it at open means the last run
//! crashed. A `lock` file (flock) keeps two processes off one store.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::checkpoint::Checkpoint;
use super::commit_log::CommitLog;
use super::consume_queue::ConsumeQueue;
use super::dispatch::Dispatcher;
use super::flush::{self, FlushState};
use super::index::IndexService;
use super::mmap::{self, MappedFile};
use super::{QueueKey, Store, StoreConfig, StoreError};
use crate::protocol::message::{self, Head, Record};

/// What recovery found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The last run did not shut down cleanly.
    pub crashed: bool,
    pub checkpoint: Option<Checkpoint>,
    /// Where the commit-log scan started, and how much it read.
    pub scan_from: u64,
    pub scanned_bytes: u64,
    /// End of the last valid record.
    pub log_end: u64,
    /// Non-zero bytes found past the end and cut away.
    pub cut_bytes: u64,
    /// Commit-log files deleted because they started past the end.
    pub deleted_files: usize,
    /// Consume-queue units dropped because they pointed past the end.
    pub dropped_units: u64,
    /// Bytes of log dispatched again into queues and index.
    pub redispatched_bytes: u64,
    pub elapsed: Duration,
}

/// How far past the end of the valid log torn bytes are looked for (one batch at most).
const CUT_WINDOW: usize = 16 * 1024 * 1024;

impl Store {
    /// Opens (creating if needed) the store at `config.root`, recovering after a crash, and
    /// starts its flusher and retention threads.
    pub fn open(config: StoreConfig) -> Result<(Arc<Store>, RecoveryReport), StoreError> {
        let started = Instant::now();
        if config.commit_log_file_size < config.max_message_size + 64 * 1024 {
            return Err(StoreError::Internal(format!(
                "commit-log file size {} must exceed the max message size {} by 64 KiB",
                config.commit_log_file_size, config.max_message_size
            )));
        }
        std::fs::create_dir_all(&config.root)?;
        let lock = lock_store(&config.root)?;
        let abort = config.root.join("abort");
        let mut report = RecoveryReport {
            crashed: abort.exists(),
            checkpoint: Checkpoint::load(&config.root.join("checkpoint"))?,
            ..RecoveryReport::default()
        };
        std::fs::write(&abort, b"")?;

        let log_dir = config.commit_log_dir();
        let files = recover_log(&log_dir, &config, &mut report)?;
        let log_end = report.log_end;
        let commit_log = CommitLog::from_recovered(
            &log_dir,
            config.commit_log_file_size,
            config.warm,
            config.log_writes(),
            config.flush.mode == super::FlushMode::Sync,
            files,
            log_end,
        );
        let queues = recover_queues(&config, log_end, &mut report)?;
        let index = IndexService::open(&config.root.join("index"), config.index)?;
        let dispatch_from = report
            .checkpoint
            .map_or(0, |c| c.dispatched_offset)
            .min(log_end)
            .max(commit_log.min_offset());
        let dispatcher = Dispatcher::new(dispatch_from, index.end_phy_offset());
        let store = Arc::new(Store {
            flush_state: Arc::new(FlushState::new(log_end)),
            commit_log,
            queues: RwLock::new(queues),
            index,
            dispatcher: Mutex::new(dispatcher),
            queue_offsets: Mutex::new(HashMap::new()),
            disk_full: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            read_only: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
            lock,
            config,
        });
        store.dispatch()?;
        report.redispatched_bytes = log_end - dispatch_from;
        report.elapsed = started.elapsed();
        if report.crashed || report.cut_bytes > 0 || report.deleted_files > 0 {
            tracing::warn!(
                crashed = report.crashed,
                log_end = report.log_end,
                scanned_bytes = report.scanned_bytes,
                cut_bytes = report.cut_bytes,
                deleted_files = report.deleted_files,
                dropped_units = report.dropped_units,
                elapsed_ms = report.elapsed.as_millis() as u64,
                "store recovered: cut {} bytes of torn log tail",
                report.cut_bytes
            );
        } else {
            tracing::info!(
                log_end,
                elapsed_ms = report.elapsed.as_millis() as u64,
                "store opened"
            );
        }
        store.spawn_threads()?;
        Ok((store, report))
    }

    fn spawn_threads(self: &Arc<Self>) -> Result<(), StoreError> {
        let weak = Arc::downgrade(self);
        let flush_config = self.config.flush;
        let state = Arc::clone(&self.flush_state);
        let flusher = std::thread::Builder::new()
            .name("apogee-flush".into())
            .spawn(move || flush::run(state, weak, flush_config))?;
        let weak = Arc::downgrade(self);
        let retention = std::thread::Builder::new()
            .name("apogee-retention".into())
            .spawn(move || super::retention::run_periodically(weak))?;
        let mut threads = self.threads.lock().unwrap_or_else(|e| e.into_inner());
        threads.push(flusher);
        threads.push(retention);
        let (signal, weak) = (self.commit_log.commit_signal(), Arc::downgrade(self));
        threads.push(
            std::thread::Builder::new()
                .name("apogee-commit".into())
                .spawn(move || super::commit_log::run_committer(signal, weak))?,
        );
        Ok(())
    }
}

fn lock_store(root: &Path) -> Result<std::fs::File, StoreError> {
    let path = root.join("lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked(path)),
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

fn list_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    std::fs::create_dir_all(dir)?;
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((mmap::parse_file_name(e.file_name().to_str()?)?, e.path())))
        .collect();
    files.sort();
    Ok(files)
}

/// Scans the log from the checkpoint, cuts the torn tail, returns the files to keep.
fn recover_log(
    dir: &Path,
    config: &StoreConfig,
    report: &mut RecoveryReport,
) -> Result<Vec<Arc<MappedFile>>, StoreError> {
    let names = list_files(dir)?;
    let mut files = Vec::with_capacity(names.len());
    for (start, path) in &names {
        if mmap::remove_if_empty(path)? {
            continue;
        }
        let file = MappedFile::open(path, *start, config.log_writes())?;
        if file.len() != config.commit_log_file_size {
            return Err(StoreError::Corrupt(format!(
                "commit-log file {} has {} bytes, but the configured file size is {}",
                path.display(),
                file.len(),
                config.commit_log_file_size
            )));
        }
        if let Some(prev) = files.last() {
            let prev: &MappedFile = prev;
            if prev.start() + prev.len() as u64 != *start {
                return Err(StoreError::Corrupt(format!(
                    "commit-log files are not contiguous before {}",
                    path.display()
                )));
            }
        }
        files.push(file);
    }
    let Some(first) = files.first() else {
        report.log_end = 0;
        return Ok(Vec::new());
    };
    let log_start = first.start();
    let from = report
        .checkpoint
        .map_or(log_start, |c| c.flushed_offset)
        .max(log_start);
    report.scan_from = from;
    // Scan forward from `from`.
    let mut idx = files
        .iter()
        .position(|f| from < f.start() + f.len() as u64)
        .unwrap_or(files.len() - 1);
    let mut pos = from.saturating_sub(files[idx].start()) as usize;
    let end = loop {
        let file = &files[idx];
        let buf = file.read_from(pos);
        let step = if buf.is_empty() {
            Err(())
        } else {
            match message::head(buf) {
                Ok(Head::Message(size)) => match Record::decode(&buf[..size], true) {
                    Ok(r) if r.physical_offset as u64 == file.start() + pos as u64 => Ok(size),
                    _ => Err(()),
                },
                Ok(Head::Blank) if idx + 1 < files.len() => {
                    report.scanned_bytes += (file.len() - pos) as u64;
                    idx += 1;
                    pos = 0;
                    continue;
                }
                Ok(Head::Blank) => Ok(file.len() - pos),
                _ => Err(()),
            }
        };
        match step {
            Ok(size) => {
                report.scanned_bytes += size as u64;
                pos += size;
                if pos >= file.len() {
                    if idx + 1 < files.len() {
                        idx += 1;
                        pos = 0;
                        continue;
                    }
                    break file.start() + file.len() as u64;
                }
            }
            Err(()) => break file.start() + pos as u64,
        }
    };
    report.log_end = end;
    // Cut: zero everything past `end` in its file, delete files after it.
    let keep = files
        .iter()
        .position(|f| end < f.start() + f.len() as u64)
        .map_or(files.len(), |i| i + 1);
    for file in files.drain(keep..) {
        let path = file.path().to_path_buf();
        report.cut_bytes += nonzero_extent(file.read_from(0), 0) as u64;
        drop(file);
        std::fs::remove_file(&path)?;
        report.deleted_files += 1;
    }
    if let Some(last) = files.pop() {
        let at = (end - last.start()) as usize;
        let cut = nonzero_extent(last.read_from(0), at);
        let (path, start, len) = (last.path().to_path_buf(), last.start(), last.len());
        if cut > 0 {
            drop(last);
            let f = OpenOptions::new().write(true).open(&path)?;
            f.set_len(at as u64)?;
            f.set_len(len as u64)?;
            mmap::reserve(&f, len)?; // the cut left a hole: back it again
            f.sync_all()?;
            report.cut_bytes += cut as u64;
            let mut reopened = MappedFile::open(&path, start, config.log_writes())?;
            reopened.set_published(at);
            files.push(reopened);
        } else {
            let mut last = last;
            last.set_published(at);
            files.push(last);
        }
    }
    Ok(files.into_iter().map(Arc::new).collect())
}

/// Bytes from `from` up to the last non-zero byte within the cut window.
fn nonzero_extent(buf: &[u8], from: usize) -> usize {
    let window = &buf[from.min(buf.len())..(from + CUT_WINDOW).min(buf.len())];
    window.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1)
}

fn recover_queues(
    config: &StoreConfig,
    log_end: u64,
    report: &mut RecoveryReport,
) -> Result<HashMap<QueueKey, Arc<ConsumeQueue>>, StoreError> {
    let root = config.consume_queue_dir();
    std::fs::create_dir_all(&root)?;
    let mut queues = HashMap::new();
    for topic in std::fs::read_dir(&root)?.filter_map(|e| e.ok()) {
        let Some(topic_name) = topic.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !topic.path().is_dir() {
            continue;
        }
        for queue in std::fs::read_dir(topic.path())?.filter_map(|e| e.ok()) {
            let Some(queue_id) = queue
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            let (cq, dropped) =
                ConsumeQueue::recover(&queue.path(), config.cq_units_per_file, log_end)?;
            report.dropped_units += dropped;
            queues.insert(QueueKey::new(topic_name.clone(), queue_id), Arc::new(cq));
        }
    }
    Ok(queues)
}
