//! The commit log: one append-only sequence of message records for all topics, in files of
//! a fixed size named by their start offset.
//!
//! Appending: records arrive already encoded (by a queue's writer, which owns the queue
//! offsets, see [`super::QueueAppender`]). Under one short lock (the tail) the log assigns
//! each record its physical offset and patches that offset and the store timestamp into
//! the record. A record never spans files: when one does not fit, the rest of the file gets
//! a blank record and the log rolls to the next file (prepared in advance by the committer
//! or the flusher thread when possible). Then the bytes go in, one of two ways (see
//! [`super::mmap`]'s notes for why):
//! - stored into the map ([`Writes::MapBulk`], ASYNC_FLUSH): copied under the tail lock,
//!   published, `written` advanced, before the lock is released. The *committer* thread
//!   ([`run_committer`]) keeps [`PREFAULT_AHEAD`] bytes past the tail faulted in
//!   (`MADV_POPULATE_WRITE`: in the page cache, mapped writable), so the copy finds its
//!   pages present instead of faulting each new one in (the kernel zero-filling it, then
//!   ext4's `page_mkwrite`) on the appending thread.
//!   The appender wakes it once per [`PREFAULT_STEP`] appended while it is less than half
//!   that far ahead;
//! - written with `pwrite` ([`Writes::Syscall`]: SYNC_FLUSH, and ASYNC_FLUSH with
//!   RocketMQ's `transientStorePoolEnable`): copied into the tail's pending buffer under
//!   the lock; the append path makes no syscall. Pending bytes are *drained* — written in
//!   one `pwrite` per file, published, `written` advanced, [`CommitLog::drains`] told — by
//!   every flush before it syncs, so a group commit writes everything appended before it
//!   with one syscall and syncs it, and by the committer: once [`COMMIT_AT`] bytes are
//!   pending the appender wakes it, and it drains them while the flusher is busy syncing
//!   the previous group and starts their writeback at once (`sync_file_range`, whole
//!   pages): the copy into the page cache and the disk's writes overlap the previous sync
//!   instead of following it, and the next sync mostly waits for writes under way
//!   (RocketMQ splits commit and flush between two services the same way). The first
//!   append after a drain asks the flusher for a flush under SYNC_FLUSH, the committer
//!   under ASYNC_FLUSH, so nothing waits for a timer. Records become readable when drained,
//!   before they are durable, as in RocketMQ. An appender that leaves [`DRAIN_AT`] bytes
//!   pending waits for the drain under way and drains itself: the buffer stays bounded and
//!   writers faster than the disk are held back.
//!
//! Everything below `written` is final and readable; `flushed` trails it (see
//! [`super::flush`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;

use super::mmap::{FileWriter, MappedFile, WarmUp, Writes};
use super::StoreError;
use crate::protocol::message::{self, Head, Record, BLANK_MAGIC, PHYSICAL_OFFSET_POS};

mod replica;

/// Space a file keeps free for the end-of-file blank record.
const END_BLANK_MIN: usize = 8;

/// An appender that leaves this many bytes pending waits for the drain under way and drains
/// itself (bounds the pending buffer when the committer falls behind).
pub const DRAIN_AT: usize = 256 << 10;

/// [`Writes::Syscall`]: the committer is woken once this many bytes are pending.
pub const COMMIT_AT: usize = 64 << 10;

/// ASYNC_FLUSH with the transient pool: how often a busy committer looks for pending bytes
/// (at most this long before an appended record is readable), and after how long without
/// any it goes back to waiting for a wake-up.
const COMMIT_POLL: Duration = Duration::from_micros(500);
const COMMIT_IDLE: Duration = Duration::from_millis(20);

/// [`Writes::MapBulk`]: the committer keeps this much of the log ahead of the tail faulted in.
const PREFAULT_AHEAD: u64 = 32 << 20;
const PREFAULT_STEP: u64 = 2 << 20;

/// Buckets of the flush latency histogram, in seconds (100 µs to 1 s).
const FLUSH_BUCKETS: [f64; 10] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.1, 1.0,
];

pub struct CommitLog {
    dir: PathBuf,
    file_size: usize,
    warm: WarmUp,
    writes: Writes,
    files: RwLock<Vec<Arc<MappedFile>>>,
    tail: Mutex<Tail>,
    /// End of the records placed so far (the tail's `end`, readable without its lock).
    appended: AtomicU64,
    /// SYNC_FLUSH: the first pending append asks for a flush (ASYNC_FLUSH: for a commit).
    sync_flush: bool,
    /// Told `written` whenever a drain advances it (appends do not).
    drained: tokio::sync::watch::Sender<u64>,
    /// Told `written` whenever it advances, while someone watches (the HA master's
    /// senders, [`CommitLog::progress`]).
    progress: tokio::sync::watch::Sender<u64>,
    /// Held while writing pending bytes out ([`Writes::Syscall`]); the buffer is the spare
    /// swapped with the tail's.
    draining: Mutex<Vec<u8>>,
    /// Wakes the committer thread (drains under [`Writes::Syscall`], faults pages in ahead
    /// under [`Writes::MapBulk`]).
    committer: Arc<CommitSignal>,
    /// Bytes the committer thread has written.
    committed: AtomicU64,
    /// [`Writes::MapBulk`]: end of the log's pages the committer has faulted in.
    prefaulted: AtomicU64,
    /// Faulting pages in failed once (an old kernel): not tried again.
    prefault_off: AtomicBool,
    /// A file made ahead of time for the next roll.
    prepared: Mutex<Option<Arc<MappedFile>>>,
    written: AtomicU64,
    flushed: AtomicU64,
    /// How long each flush that wrote something took (seconds; exported as a metric).
    flush_latency: prometheus_client::metrics::histogram::Histogram,
}

impl std::fmt::Debug for CommitLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitLog")
            .field("dir", &self.dir)
            .field("written", &self.written())
            .field("flushed", &self.flushed())
            .finish()
    }
}

/// The end of the log, where appends go.
struct Tail {
    writer: Option<FileWriter>,
    /// End of the records placed so far (`written` once they are drained).
    end: u64,
    /// [`Writes::Syscall`]: bytes placed but not written yet, and where they go.
    pending: Vec<u8>,
    segments: Vec<Segment>,
}

/// `len` pending bytes for `file` at `pos`, contiguous in the file and in the buffer;
/// once written, the file is published up to `publish_to` (the end of the bytes, or the
/// end of the file after its closing blank).
struct Segment {
    file: Arc<MappedFile>,
    pos: usize,
    len: usize,
    publish_to: usize,
}

/// What an append did.
#[derive(Debug, Clone, Copy)]
pub struct LogAppend {
    /// End of the last record: durable once `flushed` passes it.
    pub end: u64,
    /// SYNC_FLUSH: the records wait for a flush to be written (nothing was pending before
    /// them): ask the flusher for one.
    pub wants_flush: bool,
}

/// Wakes the committer: appenders request, [`Store::shutdown`](super::Store::shutdown)
/// stops.
#[derive(Default)]
pub(super) struct CommitSignal {
    /// A request is pending (checked without the lock on the append path).
    requested: AtomicBool,
    /// The committer looks for pending bytes on its own every [`COMMIT_POLL`] (ASYNC_FLUSH
    /// with the transient pool, while appends keep coming): no need to wake it for them.
    polling: AtomicBool,
    stopping: Mutex<bool>,
    wake: Condvar,
}

impl CommitSignal {
    fn request(&self) {
        if !self.requested.swap(true, Ordering::AcqRel) {
            let _guard = self.stopping.lock().unwrap_or_else(|e| e.into_inner());
            self.wake.notify_one();
        }
    }

    /// Wakes the committer unless it is polling.
    fn nudge(&self) {
        if !self.polling.load(Ordering::SeqCst) {
            self.request();
        }
    }

    pub(super) fn stop(&self) {
        *self.stopping.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_one();
    }

    /// Waits up to `timeout` for a request: `Some(true)` if one came, `None` once stopping.
    fn wait(&self, timeout: Duration) -> Option<bool> {
        let stopping = self.stopping.lock().unwrap_or_else(|e| e.into_inner());
        let (stopping, _) = self
            .wake
            .wait_timeout_while(stopping, timeout, |stopping| {
                !*stopping && !self.requested.load(Ordering::Acquire)
            })
            .unwrap_or_else(|e| e.into_inner());
        (!*stopping).then(|| self.requested.swap(false, Ordering::AcqRel))
    }
}

/// The committer thread's loop: whenever an appender asks, drains the pending bytes
/// ([`Writes::Syscall`]: the flusher then mostly finds them written and only syncs) or
/// faults pages in ahead of the tail ([`Writes::MapBulk`]). Reaches the store through a
/// weak reference, like the flusher; a failed write poisons the store.
pub(super) fn run_committer(signal: Arc<CommitSignal>, store: std::sync::Weak<super::Store>) {
    while let Some(requested) = signal.wait(Duration::from_secs(1)) {
        // A store dropped without a shutdown ends the thread at the next timeout.
        let Some(store) = store.upgrade() else { return };
        if !requested {
            continue;
        }
        if let Err(e) = commit_while_busy(&signal, &store.commit_log) {
            store.poison_after("commit-log write", &e);
            return;
        }
    }
}

/// Commits; then, under ASYNC_FLUSH with the transient pool, keeps looking for pending bytes
/// every [`COMMIT_POLL`] until none came for [`COMMIT_IDLE`], so that a steady stream of
/// appends costs no wake-up each (only the first append after the committer went idle
/// wakes it).
fn commit_while_busy(signal: &CommitSignal, log: &CommitLog) -> Result<(), StoreError> {
    let mut committed = log.commit()?;
    if log.writes != Writes::Syscall || log.sync_flush {
        return Ok(());
    }
    signal.polling.store(true, Ordering::SeqCst);
    let mut idle_since = std::time::Instant::now();
    while idle_since.elapsed() < COMMIT_IDLE && signal.wait(COMMIT_POLL).is_some() {
        if committed > 0 {
            idle_since = std::time::Instant::now();
        }
        committed = log.commit()?;
    }
    signal.polling.store(false, Ordering::SeqCst);
    // An append that saw `polling` after the last look did not wake us: look once more.
    log.commit()?;
    Ok(())
}

/// Where one appended record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub physical_offset: u64,
    pub size: usize,
}

impl CommitLog {
    /// A log over recovered files (sorted by start; the last one published up to `end`).
    pub(super) fn from_recovered(
        dir: &Path,
        file_size: usize,
        warm: WarmUp,
        writes: Writes,
        sync_flush: bool,
        files: Vec<Arc<MappedFile>>,
        end: u64,
    ) -> Self {
        let log = Self {
            dir: dir.to_path_buf(),
            file_size,
            warm,
            writes,
            files: RwLock::new(files),
            tail: Mutex::new(Tail {
                writer: None,
                end,
                pending: Vec::new(),
                segments: Vec::new(),
            }),
            draining: Mutex::new(Vec::new()),
            committer: Arc::new(CommitSignal::default()),
            committed: AtomicU64::new(0),
            prefaulted: AtomicU64::new(end),
            prefault_off: AtomicBool::new(false),
            appended: AtomicU64::new(end),
            sync_flush,
            drained: tokio::sync::watch::channel(end).0,
            progress: tokio::sync::watch::channel(end).0,
            prepared: Mutex::new(None),
            written: AtomicU64::new(end),
            flushed: AtomicU64::new(end),
            flush_latency: prometheus_client::metrics::histogram::Histogram::new(FLUSH_BUCKETS),
        };
        let last = log.files_snapshot().last().cloned();
        if let Some(last) = last {
            log.tail().writer = last.take_writer();
        }
        log
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn file_size(&self) -> usize {
        self.file_size
    }

    /// End of the last complete record: everything below is readable.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// End of everything appended, drained or not (≥ [`CommitLog::written`]).
    pub fn appended(&self) -> u64 {
        self.appended.load(Ordering::Acquire)
    }

    /// Everything below this is on disk.
    pub fn flushed(&self) -> u64 {
        self.flushed.load(Ordering::Acquire)
    }

    /// Whether the log has any file (a new slave's has none until the master's first
    /// transfer says where it begins).
    pub fn has_files(&self) -> bool {
        !self
            .files
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// First offset still in the log (start of the oldest file).
    pub fn min_offset(&self) -> u64 {
        self.files_snapshot()
            .first()
            .map_or_else(|| self.written(), |f| f.start())
    }

    pub(super) fn files_snapshot(&self) -> Vec<Arc<MappedFile>> {
        self.files.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The file holding `offset`.
    pub fn file_for(&self, offset: u64) -> Option<Arc<MappedFile>> {
        let files = self.files.read().unwrap_or_else(|e| e.into_inner());
        let idx = files
            .partition_point(|f| f.start() <= offset)
            .checked_sub(1)?;
        let file = &files[idx];
        (offset < file.start() + file.len() as u64).then(|| Arc::clone(file))
    }

    fn tail(&self) -> std::sync::MutexGuard<'_, Tail> {
        self.tail.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends encoded records (concatenated, each starting with its size). Patches each
    /// record's physical offset and store timestamp, and reports where each landed.
    pub fn append(
        &self,
        records: &mut [u8],
        store_timestamp: i64,
        placed: &mut Vec<Placed>,
    ) -> Result<LogAppend, StoreError> {
        let (begin, end, first_pending, pending) = {
            let mut tail = self.tail();
            let begin = tail.end;
            let first_pending = tail.segments.is_empty();
            let mut global = tail.end;
            let mut chunk_start = 0usize;
            let mut pos = 0usize;
            while pos < records.len() {
                let size = record_size(&records[pos..])?;
                if size + END_BLANK_MIN > self.file_size {
                    return Err(StoreError::RecordTooLarge {
                        size,
                        file_size: self.file_size,
                    });
                }
                if !self.has_room(&tail, global, size) {
                    // The chunk so far goes into the old file, then the log rolls.
                    self.put(&mut tail, &records[chunk_start..pos])?;
                    self.roll(&mut tail)?;
                    chunk_start = pos;
                    global = tail.end;
                    continue;
                }
                let sys_flag =
                    i32::from_be_bytes(records[pos + 36..pos + 40].try_into().unwrap_or_default());
                let ts_pos = pos + message::store_timestamp_pos(sys_flag);
                let phy_pos = pos + PHYSICAL_OFFSET_POS;
                records[phy_pos..phy_pos + 8].copy_from_slice(&(global as i64).to_be_bytes());
                records[ts_pos..ts_pos + 8].copy_from_slice(&store_timestamp.to_be_bytes());
                placed.push(Placed {
                    physical_offset: global,
                    size,
                });
                global += size as u64;
                pos += size;
            }
            self.put(&mut tail, &records[chunk_start..pos])?;
            self.appended.store(tail.end, Ordering::Release);
            (begin, tail.end, first_pending, tail.pending.len())
        };
        if self.writes == Writes::Syscall {
            if pending >= DRAIN_AT {
                // The committer is behind: wait for it, and bound the pending bytes.
                self.drain(true)?;
            } else if pending >= COMMIT_AT {
                self.committer.request();
            } else if first_pending && !self.sync_flush {
                self.committer.nudge();
            }
        } else if self.writes == Writes::MapBulk {
            // Once per PREFAULT_STEP appended (or when the committer is behind the tail),
            // while less than half of PREFAULT_AHEAD is faulted in.
            let prefaulted = self.prefaulted.load(Ordering::Relaxed);
            let crossed = begin / PREFAULT_STEP != end / PREFAULT_STEP;
            if prefaulted <= begin || (crossed && end + PREFAULT_AHEAD / 2 > prefaulted) {
                self.committer.request();
            }
        }
        Ok(LogAppend {
            end,
            wants_flush: self.writes == Writes::Syscall && self.sync_flush && first_pending,
        })
    }

    /// Whether the current file has room for a record of `size` at `global`.
    fn has_room(&self, tail: &Tail, global: u64, size: usize) -> bool {
        tail.writer.as_ref().is_some_and(|writer| {
            let file = writer.file();
            let in_file = (global - file.start()) as usize;
            in_file + size + END_BLANK_MIN <= file.len()
        })
    }

    /// Puts `chunk` at the tail of the current file: into the map, or into the pending
    /// buffer. `publish_to` is where the file's published mark goes once it is in (the end
    /// of the chunk, or the end of the file for the closing blank).
    fn put(&self, tail: &mut Tail, chunk: &[u8]) -> Result<(), StoreError> {
        self.put_publishing(tail, chunk, None)
    }

    fn put_publishing(
        &self,
        tail: &mut Tail,
        chunk: &[u8],
        publish_to: Option<usize>,
    ) -> Result<(), StoreError> {
        if chunk.is_empty() {
            return Ok(());
        }
        let writer = tail.writer.as_mut().ok_or(StoreError::Closed)?;
        let start = writer.file().start();
        let at = (tail.end - start) as usize;
        let publish_to = publish_to.unwrap_or(at + chunk.len());
        if self.writes == Writes::Syscall {
            let file = Arc::clone(writer.file());
            tail.pending.extend_from_slice(chunk);
            match tail.segments.last_mut() {
                Some(last) if Arc::ptr_eq(&last.file, &file) && last.publish_to == at => {
                    last.len += chunk.len();
                    last.publish_to = publish_to;
                }
                _ => tail.segments.push(Segment {
                    file,
                    pos: at,
                    len: chunk.len(),
                    publish_to,
                }),
            }
            tail.end = start + publish_to as u64;
            return Ok(());
        }
        writer.write(at, chunk).map_err(StoreError::internal)?;
        writer.publish(publish_to);
        tail.end = start + publish_to as u64;
        self.written.store(tail.end, Ordering::Release);
        self.progressed(tail.end);
        Ok(())
    }

    /// Writes out the pending bytes ([`Writes::Syscall`]): one `pwrite` per file, then
    /// publishes them and advances `written`. `wait`: block for the drain lock (a flush,
    /// which must cover everything appended before it); otherwise return at once when
    /// another thread is draining (it loops until nothing is pending).
    pub(super) fn drain(&self, wait: bool) -> Result<usize, StoreError> {
        let mut bytes = 0;
        loop {
            let mut spare = match self.draining.try_lock() {
                Ok(guard) => guard,
                Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) if wait => {
                    self.draining.lock().unwrap_or_else(|e| e.into_inner())
                }
                Err(std::sync::TryLockError::WouldBlock) => return Ok(bytes),
            };
            loop {
                let (segments, end) = {
                    let mut tail = self.tail();
                    if tail.segments.is_empty() {
                        break;
                    }
                    spare.clear();
                    std::mem::swap(&mut tail.pending, &mut spare);
                    (std::mem::take(&mut tail.segments), tail.end)
                };
                let mut from = 0;
                for segment in &segments {
                    let bytes = &spare[from..from + segment.len];
                    segment
                        .file
                        .pwrite(segment.pos, bytes)
                        .map_err(StoreError::internal)?;
                    if !wait {
                        // Not a flush's own drain (which syncs next): get the disk going.
                        segment
                            .file
                            .start_writeback(segment.pos, segment.pos + segment.len)
                            .map_err(StoreError::internal)?;
                    }
                    segment.file.publish_written(segment.publish_to);
                    from += segment.len;
                }
                bytes += from;
                self.written.store(end, Ordering::Release);
                self.drained.send_replace(end);
                self.progressed(end);
            }
            drop(spare);
            // An appender that found the lock taken after our last look is ours to serve.
            if self.tail().segments.is_empty() {
                return Ok(bytes);
            }
        }
    }

    /// The committer's work: fault pages in ahead ([`Writes::MapBulk`]), or drain everything
    /// pending, counted in [`Self::committed_by_committer`]; returns the bytes drained.
    fn commit(&self) -> Result<usize, StoreError> {
        if self.writes == Writes::MapBulk {
            self.prefault_ahead();
            return Ok(0);
        }
        let bytes = self.drain(false)?;
        self.committed.fetch_add(bytes as u64, Ordering::Relaxed);
        Ok(bytes)
    }

    /// Watches `written` as it advances (appends and drains alike).
    pub fn progress(&self) -> tokio::sync::watch::Receiver<u64> {
        self.progress.subscribe()
    }

    fn progressed(&self, written: u64) {
        if self.progress.receiver_count() > 0 {
            self.progress.send_replace(written);
        }
    }

    /// Watches `written` as drains advance it ([`Writes::Syscall`]: records become
    /// readable then, not when appended).
    pub fn drains(&self) -> tokio::sync::watch::Receiver<u64> {
        self.drained.subscribe()
    }

    /// [`Writes::MapBulk`]: faults in the log's pages up to [`PREFAULT_AHEAD`] past the
    /// tail, [`PREFAULT_STEP`] at a time: the current file, then the next one, which it
    /// prepares if nobody has yet (off the append path, as RocketMQ's allocation service
    /// does). A kernel without `MADV_POPULATE_WRITE` (before 5.14) turns this off with a
    /// warning: appends then fault pages in themselves, as without it.
    fn prefault_ahead(&self) {
        if self.prefault_off.load(Ordering::Relaxed) {
            return;
        }
        let mut prepared_here = false;
        loop {
            let tail = self.appended.load(Ordering::Acquire);
            let from = self.prefaulted.load(Ordering::Relaxed).max(tail);
            if from >= tail + PREFAULT_AHEAD {
                return;
            }
            let holds =
                |f: &Arc<MappedFile>| f.start() <= from && from < f.start() + f.len() as u64;
            let file = self
                .files_snapshot()
                .into_iter()
                .rev()
                .find(holds)
                .or_else(|| {
                    let prepared = self.prepared.lock().unwrap_or_else(|e| e.into_inner());
                    prepared.as_ref().filter(|f| holds(f)).cloned()
                });
            let Some(file) = file else {
                // Past the last file: prepare the next one, once per round.
                if prepared_here {
                    return;
                }
                prepared_here = true;
                if let Err(e) = self.prepare_next_file() {
                    tracing::warn!(error = %e, "cannot prepare the next commit-log file");
                    return;
                }
                continue;
            };
            let to = (from + PREFAULT_STEP).min(file.start() + file.len() as u64);
            let range = (from - file.start()) as usize..(to - file.start()) as usize;
            if let Err(e) = file.prefault(range.start, range.end) {
                tracing::warn!(error = %e, "cannot fault commit-log pages in ahead of appends; not trying again");
                self.prefault_off.store(true, Ordering::Relaxed);
                return;
            }
            self.prefaulted.store(to, Ordering::Relaxed);
        }
    }

    /// Bytes the committer thread has written since the log was opened (the rest were
    /// written by flushes and by appenders over [`DRAIN_AT`]).
    pub fn committed_by_committer(&self) -> u64 {
        self.committed.load(Ordering::Relaxed)
    }

    /// [`Writes::MapBulk`]: the end of the pages the committer has faulted in ahead of the
    /// tail.
    pub fn prefaulted(&self) -> u64 {
        self.prefaulted.load(Ordering::Relaxed)
    }

    /// The committer's wake-up signal (see [`run_committer`]).
    pub(super) fn commit_signal(&self) -> Arc<CommitSignal> {
        Arc::clone(&self.committer)
    }

    /// Closes the current file with a blank record and opens the next one.
    fn roll(&self, tail: &mut Tail) -> Result<(), StoreError> {
        let next_start = match tail.writer.as_ref() {
            Some(writer) => {
                let file_start = writer.file().start();
                let file_len = writer.file().len();
                let at = (tail.end - file_start) as usize;
                let remaining = file_len - at;
                let mut blank = [0u8; 8];
                blank[..4].copy_from_slice(&(remaining as i32).to_be_bytes());
                blank[4..].copy_from_slice(&BLANK_MAGIC.to_be_bytes());
                self.put_publishing(tail, &blank[..remaining.min(8)], Some(file_len))?;
                file_start + file_len as u64
            }
            None => tail.end,
        };
        let prepared = self
            .prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .filter(|f| f.start() == next_start);
        let file = match prepared {
            Some(file) => file,
            None => Arc::new(MappedFile::create_reserved(
                &self.dir,
                next_start,
                self.file_size,
                self.warm,
                self.writes,
            )?),
        };
        let writer = file.take_writer().ok_or(StoreError::Closed)?;
        self.files
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::clone(&file));
        tail.writer = Some(writer);
        tail.end = next_start;
        self.appended.store(next_start, Ordering::Release);
        if self.writes != Writes::Syscall {
            self.written.store(next_start, Ordering::Release);
            self.progressed(next_start);
        }
        Ok(())
    }

    /// Makes the file after the current one ahead of time (called off the append path).
    pub fn prepare_next_file(&self) -> Result<(), StoreError> {
        let next_start = {
            let files = self.files.read().unwrap_or_else(|e| e.into_inner());
            match files.last() {
                Some(last) => last.start() + last.len() as u64,
                None => return Ok(()),
            }
        };
        let mut prepared = self.prepared.lock().unwrap_or_else(|e| e.into_inner());
        if prepared.as_ref().is_some_and(|f| f.start() == next_start) {
            return Ok(());
        }
        *prepared = Some(Arc::new(MappedFile::create_reserved(
            &self.dir,
            next_start,
            self.file_size,
            self.warm,
            self.writes,
        )?));
        Ok(())
    }

    /// How full the current file is (0.0–1.0).
    pub fn current_file_fill(&self) -> f64 {
        let files = self.files.read().unwrap_or_else(|e| e.into_inner());
        files.last().map_or(1.0, |f| {
            (self.written().saturating_sub(f.start())) as f64 / f.len() as f64
        })
    }

    /// The latencies of flushes (a handle sharing the buckets).
    pub fn flush_latency(&self) -> prometheus_client::metrics::histogram::Histogram {
        self.flush_latency.clone()
    }

    /// Writes to disk everything appended so far; returns the new flushed offset.
    pub fn flush(&self) -> std::io::Result<u64> {
        if self.writes == Writes::Syscall {
            self.drain(true).map_err(std::io::Error::other)?;
        }
        let target = self.written();
        let from = self.flushed();
        if target <= from {
            return Ok(from);
        }
        let started = std::time::Instant::now();
        for file in self.files_snapshot() {
            let (start, end) = (file.start(), file.start() + file.len() as u64);
            if end <= from || start >= target {
                continue;
            }
            let lo = from.max(start) - start;
            let hi = target.min(end) - start;
            file.flush(lo as usize, hi as usize)?;
        }
        self.flush_latency.observe(started.elapsed().as_secs_f64());
        // Two flushes may overlap (a leading writer and the flusher thread): never go back.
        Ok(self.flushed.fetch_max(target, Ordering::AcqRel).max(target))
    }

    /// The bytes of `[offset, offset + size)` as a zero-copy slice of the mapping.
    pub fn read(&self, offset: u64, size: usize) -> Option<Bytes> {
        if offset + size as u64 > self.written() {
            return None;
        }
        let file = self.file_for(offset)?;
        file.bytes((offset - file.start()) as usize, size)
    }

    /// Decodes the record at `offset` and hands it to `f`.
    pub fn with_record<T>(&self, offset: u64, f: impl FnOnce(Record<'_>) -> T) -> Option<T> {
        let file = self.file_for(offset)?;
        let buf = file.read_from((offset - file.start()) as usize);
        let limit = (self.written().saturating_sub(offset) as usize).min(buf.len());
        Record::decode(&buf[..limit], false).ok().map(f)
    }

    /// Removes files that end at or before `offset` (never the current file). Returns the
    /// paths deleted.
    pub(super) fn delete_files_before(&self, keep: impl Fn(&MappedFile) -> bool) -> Vec<PathBuf> {
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        let mut deleted = Vec::new();
        while files.len() > 1 && !keep(&files[0]) {
            let file = files.remove(0);
            if std::fs::remove_file(file.path()).is_ok() {
                deleted.push(file.path().to_path_buf());
            }
        }
        deleted
    }
}

/// The size of the record starting `buf`, as its head says.
fn record_size(buf: &[u8]) -> Result<usize, StoreError> {
    match message::head(buf) {
        Ok(Head::Message(size)) => Ok(size),
        Ok(other) => Err(StoreError::internal(format!("not a record: {other:?}"))),
        Err(e) => Err(StoreError::internal(e)),
    }
}
