//! The commit log: one append-only sequence of message records for all topics, in files of
//! a fixed size named by their start offset.
//!
//! Appending: records arrive already encoded (by a queue's writer, which owns the queue
//! offsets, see [`super::QueueAppender`]). Under one short lock the log assigns each record
//! its physical offset, patches that offset and the store timestamp into the record, copies
//! the batch into the mapped file (one copy per file touched), publishes it, and advances
//! `written`. A record never spans files: when one does not fit, the rest of the file gets
//! a blank record and the log rolls to the next file (prepared in advance by the allocator
//! thread when possible).
//!
//! Everything below `written` is final and readable; `flushed` trails it (see
//! [`super::flush`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;

use super::mmap::{FileWriter, MappedFile, WarmUp};
use super::StoreError;
use crate::protocol::message::{self, Head, Record, BLANK_MAGIC, PHYSICAL_OFFSET_POS};

/// Space a file keeps free for the end-of-file blank record.
const END_BLANK_MIN: usize = 8;

pub struct CommitLog {
    dir: PathBuf,
    file_size: usize,
    warm: WarmUp,
    files: RwLock<Vec<Arc<MappedFile>>>,
    appender: Mutex<Option<FileWriter>>,
    /// A file made ahead of time for the next roll.
    prepared: Mutex<Option<MappedFile>>,
    written: AtomicU64,
    flushed: AtomicU64,
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
        files: Vec<Arc<MappedFile>>,
        end: u64,
    ) -> Self {
        let log = Self {
            dir: dir.to_path_buf(),
            file_size,
            warm,
            files: RwLock::new(files),
            appender: Mutex::new(None),
            prepared: Mutex::new(None),
            written: AtomicU64::new(end),
            flushed: AtomicU64::new(end),
        };
        let last = log.files_snapshot().last().cloned();
        if let Some(last) = last {
            *log.appender.lock().unwrap_or_else(|e| e.into_inner()) = last.take_writer();
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

    /// Everything below this is on disk.
    pub fn flushed(&self) -> u64 {
        self.flushed.load(Ordering::Acquire)
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

    /// Appends encoded records (concatenated, each starting with its size). Patches each
    /// record's physical offset and store timestamp, and reports where each landed.
    pub fn append(
        &self,
        records: &mut [u8],
        store_timestamp: i64,
        placed: &mut Vec<Placed>,
    ) -> Result<u64, StoreError> {
        let mut guard = self.appender.lock().unwrap_or_else(|e| e.into_inner());
        let mut global = self.written();
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
            let writer =
                self.writer_with_room(&mut guard, global, size, &records[chunk_start..pos])?;
            if writer.is_none() {
                // The file was rolled: the chunk so far went into the old file.
                chunk_start = pos;
                global = self.written();
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
        self.copy_chunk(&mut guard, &records[chunk_start..pos])?;
        Ok(self.written())
    }

    /// Ensures the current file has room for `chunk` plus a record of `size`. Returns
    /// `Some(())` if so, or `None` after flushing `chunk`, writing the blank and rolling.
    fn writer_with_room(
        &self,
        guard: &mut Option<FileWriter>,
        global: u64,
        size: usize,
        chunk: &[u8],
    ) -> Result<Option<()>, StoreError> {
        if let Some(writer) = guard.as_ref() {
            let file = writer.file();
            let in_file = (global - file.start()) as usize;
            if in_file + size + END_BLANK_MIN <= file.len() {
                return Ok(Some(()));
            }
        }
        self.copy_chunk(guard, chunk)?;
        self.roll(guard)?;
        Ok(None)
    }

    fn copy_chunk(&self, guard: &mut Option<FileWriter>, chunk: &[u8]) -> Result<(), StoreError> {
        if chunk.is_empty() {
            return Ok(());
        }
        let writer = guard.as_mut().ok_or(StoreError::Closed)?;
        let start = writer.file().start();
        let at = (self.written() - start) as usize;
        writer.write(at, chunk).map_err(StoreError::internal)?;
        writer.publish(at + chunk.len());
        self.written
            .store(start + (at + chunk.len()) as u64, Ordering::Release);
        Ok(())
    }

    /// Closes the current file with a blank record and opens the next one.
    fn roll(&self, guard: &mut Option<FileWriter>) -> Result<(), StoreError> {
        let next_start = match guard.as_mut() {
            Some(writer) => {
                let file_start = writer.file().start();
                let file_len = writer.file().len();
                let at = (self.written() - file_start) as usize;
                let remaining = file_len - at;
                let mut blank = [0u8; 8];
                blank[..4].copy_from_slice(&(remaining as i32).to_be_bytes());
                blank[4..].copy_from_slice(&BLANK_MAGIC.to_be_bytes());
                writer
                    .write(at, &blank[..remaining.min(8)])
                    .map_err(StoreError::internal)?;
                writer.publish(file_len);
                file_start + file_len as u64
            }
            None => self.written(),
        };
        let prepared = self
            .prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .filter(|f| f.start() == next_start);
        let file = match prepared {
            Some(file) => file,
            None => MappedFile::create_reserved(&self.dir, next_start, self.file_size, self.warm)?,
        };
        let file = Arc::new(file);
        let writer = file.take_writer().ok_or(StoreError::Closed)?;
        self.files
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::clone(&file));
        *guard = Some(writer);
        self.written.store(next_start, Ordering::Release);
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
        *prepared = Some(MappedFile::create_reserved(
            &self.dir,
            next_start,
            self.file_size,
            self.warm,
        )?);
        Ok(())
    }

    /// How full the current file is (0.0–1.0).
    pub fn current_file_fill(&self) -> f64 {
        let files = self.files.read().unwrap_or_else(|e| e.into_inner());
        files.last().map_or(1.0, |f| {
            (self.written().saturating_sub(f.start())) as f64 / f.len() as f64
        })
    }

    /// Writes to disk everything written so far; returns the new flushed offset.
    pub fn flush(&self) -> std::io::Result<u64> {
        let target = self.written();
        let from = self.flushed();
        if target <= from {
            return Ok(from);
        }
        for file in self.files_snapshot() {
            let (start, end) = (file.start(), file.start() + file.len() as u64);
            if end <= from || start >= target {
                continue;
            }
            let lo = from.max(start) - start;
            let hi = target.min(end) - start;
            file.flush(lo as usize, hi as usize)?;
        }
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
