//! Flushing the commit log to disk, and the checkpoint.
//!
//! One flusher thread per store. ASYNC_FLUSH: it flushes every `interval` (500 ms), or as
//! soon as more than `threshold_bytes` are dirty. SYNC_FLUSH is a group commit: a writer
//! waiting for its record to be on disk either finds a flush running and waits for it, or
//! runs one itself for everything written so far (leader-based: no hand-off to another
//! thread on the hot path); async waiters (the broker's tasks) ask the flusher thread
//! instead. Either way one `msync` serves every writer that arrived before it. A writer that
//! waits longer than `sync_timeout` gets FLUSH_DISK_TIMEOUT (its message is stored, only its
//! durability is unconfirmed).
//!
//! A failed flush poisons the store: the error is kept, every waiter gets it, and appends
//! are refused from then on — the page cache may have dropped the data, so pretending would
//! lie to clients.
//!
//! Every `checkpoint_interval` the flusher also flushes consume queues and index files and
//! writes the checkpoint (see [`super::checkpoint`]).

use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{Store, StoreError};

/// When the commit log is forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    /// Flushed in the background; a send is answered once written to the page cache.
    Async,
    /// A send is answered once its record is on disk (group commit).
    Sync,
}

#[derive(Debug, Clone, Copy)]
pub struct FlushConfig {
    pub mode: FlushMode,
    /// ASYNC: flush at least this often.
    pub interval: Duration,
    /// ASYNC: flush early once this many bytes are dirty.
    pub threshold_bytes: u64,
    /// SYNC: how long a writer waits before FLUSH_DISK_TIMEOUT.
    pub sync_timeout: Duration,
    pub checkpoint_interval: Duration,
}

impl Default for FlushConfig {
    fn default() -> Self {
        Self {
            mode: FlushMode::Async,
            interval: Duration::from_millis(500),
            threshold_bytes: 64 * 1024 * 1024,
            sync_timeout: Duration::from_secs(5),
            checkpoint_interval: Duration::from_secs(1),
        }
    }
}

struct Progress {
    flushed: u64,
    /// A flush is running (by the flusher thread or a leading writer).
    flushing: bool,
    requested: bool,
    stopping: bool,
    poisoned: Option<String>,
}

/// Shared between writers (who wait) and the flusher thread (who flushes).
pub struct FlushState {
    progress: Mutex<Progress>,
    /// Writers wait here for `flushed` to pass their record.
    done: Condvar,
    /// The flusher waits here for requests.
    wake: Condvar,
    watch: watch::Sender<u64>,
}

impl FlushState {
    pub fn new(flushed: u64) -> Self {
        Self {
            progress: Mutex::new(Progress {
                flushed,
                flushing: false,
                requested: false,
                stopping: false,
                poisoned: None,
            }),
            done: Condvar::new(),
            wake: Condvar::new(),
            watch: watch::channel(flushed).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Watches the flushed offset (changes after every flush).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.watch.subscribe()
    }

    /// Asks the flusher to flush now.
    /// A request already pending is enough: the flusher takes it when it next looks, so a
    /// burst of waiters costs one wake-up, not one per waiter.
    pub fn request(&self) {
        if std::mem::replace(&mut self.lock().requested, true) {
            return;
        }
        self.wake.notify_one();
    }

    pub fn poisoned(&self) -> Option<String> {
        self.lock().poisoned.clone()
    }

    /// Blocks until everything below `end` is on disk. Leader-based group commit: a waiter
    /// that finds no flush running runs `flush` itself for everyone written so far; the
    /// others wait for it.
    pub fn wait(
        &self,
        end: u64,
        timeout: Duration,
        flush: impl Fn() -> std::io::Result<u64>,
    ) -> Result<(), StoreError> {
        let deadline = Instant::now() + timeout;
        let mut progress = self.lock();
        loop {
            if let Some(error) = &progress.poisoned {
                return Err(StoreError::Poisoned(error.clone()));
            }
            if progress.flushed >= end {
                return Ok(());
            }
            if !progress.flushing {
                progress.flushing = true;
                drop(progress);
                let result = flush();
                self.finish_flush(result);
                progress = self.lock();
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StoreError::FlushTimeout);
            }
            progress = self
                .done
                .wait_timeout(progress, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The log was cut at `at` ([`super::Store::truncate_to`]): the flushed offset goes back
    /// there (it never does otherwise), so that a record appended later past `at` waits for
    /// its own flush.
    pub(super) fn reset_to(&self, at: u64) {
        let mut progress = self.lock();
        progress.flushed = progress.flushed.min(at);
        let flushed = progress.flushed;
        drop(progress);
        self.watch.send_replace(flushed);
    }

    /// Claims the right to flush; false if a flush is already running.
    fn begin_flush(&self) -> bool {
        let mut progress = self.lock();
        !std::mem::replace(&mut progress.flushing, true)
    }

    /// Ends a flush: publishes its result (or poisons) and wakes every waiter.
    fn finish_flush(&self, result: std::io::Result<u64>) {
        let mut progress = self.lock();
        progress.flushing = false;
        match result {
            Ok(flushed) => {
                progress.flushed = progress.flushed.max(flushed);
                let flushed = progress.flushed;
                drop(progress);
                self.watch.send_replace(flushed);
            }
            Err(e) => {
                tracing::error!(error = %e, "commit log flush failed: store poisoned, writes refused");
                progress.poisoned = Some(format!("commit log flush failed: {e}"));
                drop(progress);
                self.watch.send_modify(|_| {});
            }
        }
        self.done.notify_all();
    }

    pub(super) fn poison(&self, error: String) {
        self.lock().poisoned = Some(error);
        self.done.notify_all();
        // Wake async waiters so that they see the poison.
        self.watch.send_modify(|_| {});
    }

    pub(super) fn is_stopping(&self) -> bool {
        self.lock().stopping
    }

    pub(super) fn stop(&self) {
        self.lock().stopping = true;
        self.wake.notify_one();
    }
}

/// Enough for one group commit: no gathering beyond this (writers keep many records in
/// flight; waiting would only delay the sync they all wait for).
const GATHERED: u64 = 256 << 10;

/// Group commit's gathering window: waits while appends keep arriving (a pause of 20 µs
/// ends it) for at most 200 µs, so that writers woken by the previous flush land in this
/// one instead of trickling into alternating small and large flushes. Bounded in
/// microseconds, far below a disk sync.
fn gather(log: &super::CommitLog) {
    if log.appended() - log.flushed() >= GATHERED {
        return;
    }
    let start = Instant::now();
    let mut last = log.appended();
    let mut quiet_since = Instant::now();
    while start.elapsed() < Duration::from_micros(200) {
        std::thread::yield_now();
        let now = log.appended();
        if now != last {
            last = now;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() >= Duration::from_micros(20) {
            break;
        }
    }
}

/// The flusher thread's loop. Waits on the shared state without holding the store, which
/// it reaches through a weak reference: the loop ends when asked, or when the store is gone.
pub(super) fn run(state: Arc<FlushState>, store: Weak<Store>, config: FlushConfig) {
    let mut last_flush = Instant::now();
    let mut last_checkpoint = Instant::now();
    loop {
        let (requested, stopping) = {
            let mut progress = state.lock();
            let wait = match config.mode {
                FlushMode::Sync => config.checkpoint_interval,
                FlushMode::Async => config.interval.min(config.checkpoint_interval),
            };
            if !progress.requested && !progress.stopping {
                progress = state
                    .wake
                    .wait_timeout(progress, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            if progress.poisoned.is_some() {
                return;
            }
            (std::mem::take(&mut progress.requested), progress.stopping)
        };
        let Some(store) = store.upgrade() else { return };
        let dirty = store.commit_log.appended() - store.commit_log.flushed();
        let due = match config.mode {
            FlushMode::Sync => requested || dirty > 0,
            FlushMode::Async => {
                dirty >= config.threshold_bytes || last_flush.elapsed() >= config.interval
            }
        };
        if (due || stopping) && state.begin_flush() {
            if config.mode == FlushMode::Sync && !stopping {
                gather(&store.commit_log);
            }
            state.finish_flush(store.commit_log.flush());
            if state.poisoned().is_some() {
                return;
            }
            last_flush = Instant::now();
        }
        if stopping || last_checkpoint.elapsed() >= config.checkpoint_interval {
            if let Err(e) = store.write_checkpoint() {
                tracing::error!(error = %e, "checkpoint failed: store poisoned, writes refused");
                state.poison(format!("checkpoint failed: {e}"));
                return;
            }
            last_checkpoint = Instant::now();
        }
        if store.commit_log.current_file_fill() > 0.5 {
            if let Err(e) = store.commit_log.prepare_next_file() {
                tracing::warn!(error = %e, "cannot prepare the next commit-log file");
            }
        }
        if stopping {
            return;
        }
    }
}
