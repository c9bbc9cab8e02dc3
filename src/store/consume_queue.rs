//! A consume queue: the index of one topic-queue into the commit log. Unit `n` (20 bytes at
//! `n × 20`: commit-log offset i64, size i32, tags code i64) describes the message with
//! queue offset `n`. Files of `units_per_file` units live in `consumequeue/<topic>/<queueId>/`
//! named by their start byte offset.
//!
//! Written by the dispatcher only, in queue-offset order; read by anyone. The max offset
//! (number of units) is published after the unit is written, so a reader never sees a
//! half-written unit.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::mmap::{self, FileWriter, MappedFile, WarmUp};
use super::StoreError;

pub const UNIT_SIZE: usize = 20;
/// RocketMQ's units per file: 300 000 (6 000 000 bytes).
pub const DEFAULT_UNITS_PER_FILE: usize = 300_000;

/// One unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unit {
    pub physical_offset: u64,
    pub size: u32,
    pub tags_code: i64,
}

impl Unit {
    /// The filler RocketMQ writes where a queue has no message.
    pub const BLANK: Unit = Unit {
        physical_offset: 0,
        size: i32::MAX as u32,
        tags_code: 0,
    };

    fn encode(&self) -> [u8; UNIT_SIZE] {
        let mut out = [0u8; UNIT_SIZE];
        out[..8].copy_from_slice(&(self.physical_offset as i64).to_be_bytes());
        out[8..12].copy_from_slice(&(self.size as i32).to_be_bytes());
        out[12..].copy_from_slice(&self.tags_code.to_be_bytes());
        out
    }

    fn decode(b: &[u8]) -> Unit {
        let mut phy = [0u8; 8];
        phy.copy_from_slice(&b[..8]);
        let mut tags = [0u8; 8];
        tags.copy_from_slice(&b[12..20]);
        Unit {
            physical_offset: i64::from_be_bytes(phy) as u64,
            size: i32::from_be_bytes([b[8], b[9], b[10], b[11]]) as u32,
            tags_code: i64::from_be_bytes(tags),
        }
    }

    fn is_empty(b: &[u8]) -> bool {
        b[8..12] == [0, 0, 0, 0]
    }
}

pub struct ConsumeQueue {
    dir: PathBuf,
    units_per_file: usize,
    files: RwLock<Vec<Arc<MappedFile>>>,
    writer: Mutex<Option<FileWriter>>,
    max_offset: AtomicU64,
    min_offset: AtomicU64,
    /// `max_offset` at the last flush: an unchanged queue is not flushed again (a flush is
    /// an fsync, and a broker may hold thousands of idle queues).
    flushed_max: AtomicU64,
}

impl ConsumeQueue {
    fn file_bytes(&self) -> usize {
        self.units_per_file * UNIT_SIZE
    }

    /// An empty queue.
    pub fn new(dir: &Path, units_per_file: usize) -> Self {
        Self {
            dir: dir.to_path_buf(),
            units_per_file,
            files: RwLock::new(Vec::new()),
            writer: Mutex::new(None),
            max_offset: AtomicU64::new(0),
            flushed_max: AtomicU64::new(u64::MAX),
            min_offset: AtomicU64::new(0),
        }
    }

    /// Opens the queue's files, keeping only units that point below `log_end` (the recovered
    /// end of the commit log). Returns the queue and how many units were dropped.
    pub fn recover(
        dir: &Path,
        units_per_file: usize,
        log_end: u64,
    ) -> Result<(Self, u64), StoreError> {
        let mut names: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let start = mmap::parse_file_name(e.file_name().to_str()?)?;
                Some((start, e.path()))
            })
            .collect();
        names.sort();
        let file_bytes = units_per_file * UNIT_SIZE;
        let mut files = Vec::new();
        for (start, path) in &names {
            if mmap::remove_if_empty(path)? {
                continue;
            }
            let mut file = MappedFile::open(path, *start, mmap::Writes::Map)?;
            if file.len() != file_bytes || start % file_bytes as u64 != 0 {
                return Err(StoreError::Corrupt(format!(
                    "consume queue file {} has size {} (expected {file_bytes})",
                    path.display(),
                    file.len()
                )));
            }
            file.set_published(0);
            files.push(file);
        }
        // Units are written in order: find the end of the written prefix in each file.
        let mut end_unit = files.first().map_or(0, |f| f.start() / UNIT_SIZE as u64);
        let mut dropped = 0u64;
        let mut keep = 0usize;
        for file in files.iter_mut() {
            let bytes = file.bytes_mut();
            let units = units_per_file;
            // Binary search: the first empty unit.
            let (mut lo, mut hi) = (0usize, units);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if Unit::is_empty(&bytes[mid * UNIT_SIZE..]) {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            // Drop units past the log's end (their record was cut by recovery).
            let mut valid = lo;
            while valid > 0 {
                let unit = Unit::decode(&bytes[(valid - 1) * UNIT_SIZE..]);
                if unit == Unit::BLANK || unit.physical_offset + u64::from(unit.size) <= log_end {
                    break;
                }
                valid -= 1;
            }
            dropped += (lo - valid) as u64;
            bytes[valid * UNIT_SIZE..lo * UNIT_SIZE].fill(0);
            file.set_published(valid * UNIT_SIZE);
            end_unit = file.start() / UNIT_SIZE as u64 + valid as u64;
            keep += 1;
            if valid < units {
                break;
            }
        }
        // Files after the first partly filled one hold nothing valid.
        for file in files.drain(keep..) {
            std::fs::remove_file(file.path())?;
        }
        let queue = Self::new(dir, units_per_file);
        let min_unit = files.first().map_or(0, |f| f.start() / UNIT_SIZE as u64);
        queue.min_offset.store(min_unit, Ordering::Release);
        queue.max_offset.store(end_unit, Ordering::Release);
        let files: Vec<Arc<MappedFile>> = files.into_iter().map(Arc::new).collect();
        if let Some(last) = files.last() {
            *queue.writer.lock().unwrap_or_else(|e| e.into_inner()) = last.take_writer();
        }
        *queue.files.write().unwrap_or_else(|e| e.into_inner()) = files;
        Ok((queue, dropped))
    }

    /// Next queue offset (number of units).
    pub fn max_offset(&self) -> u64 {
        self.max_offset.load(Ordering::Acquire)
    }

    /// First queue offset still readable.
    pub fn min_offset(&self) -> u64 {
        self.min_offset.load(Ordering::Acquire)
    }

    /// Writes the unit for `queue_offset`. Units already written are left as they are (a
    /// re-dispatch after recovery); a gap is filled with blank units.
    pub fn put(&self, queue_offset: u64, unit: Unit) -> Result<(), StoreError> {
        let mut guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = self.max_offset();
        if queue_offset < next {
            return Ok(());
        }
        if next == 0 && queue_offset > 0 && self.files_len() == 0 {
            // A queue whose first unit is not 0 (e.g. its head was cleaned): start the files
            // at the file holding `queue_offset`.
            let first = queue_offset - queue_offset % self.units_per_file as u64;
            next = first;
            self.min_offset.store(first, Ordering::Release);
        }
        while next <= queue_offset {
            let value = if next == queue_offset {
                unit
            } else {
                tracing::error!(dir = %self.dir.display(), queue_offset, next, "consume queue gap filled with blanks");
                Unit::BLANK
            };
            self.write_unit(&mut guard, next, value)?;
            next += 1;
            self.max_offset.store(next, Ordering::Release);
        }
        Ok(())
    }

    fn files_len(&self) -> usize {
        self.files.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn write_unit(
        &self,
        guard: &mut Option<FileWriter>,
        offset: u64,
        unit: Unit,
    ) -> Result<(), StoreError> {
        let byte = offset * UNIT_SIZE as u64;
        let file_start = byte - byte % self.file_bytes() as u64;
        if guard
            .as_ref()
            .is_none_or(|w| w.file().start() != file_start)
        {
            let file = Arc::new(MappedFile::create(
                &self.dir,
                file_start,
                self.file_bytes(),
                WarmUp::default(),
            )?);
            *guard = Some(file.take_writer().ok_or(StoreError::Closed)?);
            self.files
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .push(file);
        }
        let writer = guard.as_mut().ok_or(StoreError::Closed)?;
        let at = (byte - file_start) as usize;
        writer
            .write(at, &unit.encode())
            .map_err(StoreError::internal)?;
        writer.publish(at + UNIT_SIZE);
        Ok(())
    }

    /// The unit at `queue_offset`, if written and not cleaned.
    pub fn unit(&self, queue_offset: u64) -> Option<Unit> {
        if queue_offset < self.min_offset() || queue_offset >= self.max_offset() {
            return None;
        }
        let byte = queue_offset * UNIT_SIZE as u64;
        let files = self.files.read().unwrap_or_else(|e| e.into_inner());
        let idx = files
            .partition_point(|f| f.start() <= byte)
            .checked_sub(1)?;
        let file = &files[idx];
        file.read((byte - file.start()) as usize, UNIT_SIZE)
            .map(Unit::decode)
    }

    /// Up to `max` units from `queue_offset` on, with their queue offsets.
    pub fn units(&self, queue_offset: u64, max: usize) -> Vec<(u64, Unit)> {
        (queue_offset..self.max_offset())
            .take(max)
            .map_while(|q| self.unit(q).map(|u| (q, u)))
            .collect()
    }

    /// Flushes every file to disk.
    pub fn flush(&self) -> std::io::Result<()> {
        let max = self.max_offset();
        if self.flushed_max.load(Ordering::Acquire) == max {
            return Ok(());
        }
        let files: Vec<Arc<MappedFile>> =
            self.files.read().unwrap_or_else(|e| e.into_inner()).clone();
        for file in &files {
            file.flush(0, file.published())?;
        }
        self.flushed_max.store(max, Ordering::Release);
        Ok(())
    }

    /// Drops the units that point at or past `log_end` (the commit log was cut there, see
    /// [`super::Store::truncate_to`]): files past the new end are deleted and the one
    /// holding it is replaced by a copy of its units before it. Returns how many were
    /// dropped. Called with the dispatcher held back, so nobody writes meanwhile.
    pub fn truncate_to(&self, log_end: u64) -> Result<u64, StoreError> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let max = self.max_offset();
        let mut new_max = max;
        while new_max > self.min_offset() {
            match self.unit(new_max - 1) {
                Some(u) if u != Unit::BLANK && u.physical_offset >= log_end => new_max -= 1,
                _ => break,
            }
        }
        if new_max == max {
            return Ok(0);
        }
        self.max_offset.store(new_max, Ordering::Release);
        *writer = None;
        let byte = new_max * UNIT_SIZE as u64;
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        let keep = files.partition_point(|f| f.start() < byte);
        let mut removed: Vec<Arc<MappedFile>> = files.drain(keep..).collect();
        // The last kept file holds the new end unless it ends exactly there.
        if let Some(last) = files.pop() {
            let keep_bytes = (byte - last.start()) as usize;
            if keep_bytes < last.len() {
                let replacement =
                    Arc::new(last.replace_with_prefix(keep_bytes, mmap::Writes::Map, false)?);
                *writer = replacement.take_writer();
                files.push(replacement);
            } else {
                files.push(last);
            }
        }
        if files.is_empty() {
            // Nothing left: the queue starts again where it was cut.
            self.min_offset.store(new_max, Ordering::Release);
        }
        for file in removed.drain(..) {
            std::fs::remove_file(file.path())?;
        }
        self.flushed_max.store(u64::MAX, Ordering::Release);
        Ok(max - new_max)
    }

    /// Moves the min offset past units that point below `log_min` and deletes files that
    /// hold only such units (never the last file). Returns the new min offset.
    pub fn clean_before(&self, log_min: u64) -> Result<u64, StoreError> {
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        while files.len() > 1 {
            let file = &files[0];
            let last = file
                .read(file.len() - UNIT_SIZE, UNIT_SIZE)
                .map(Unit::decode);
            match last {
                Some(unit) if unit.physical_offset < log_min => {
                    std::fs::remove_file(file.path())?;
                    files.remove(0);
                }
                _ => break,
            }
        }
        drop(files);
        let mut min = self.min_offset().max(
            self.files
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .first()
                .map_or(0, |f| f.start() / UNIT_SIZE as u64),
        );
        while let Some(unit) = self.unit(min) {
            if unit.physical_offset >= log_min && unit != Unit::BLANK {
                break;
            }
            min += 1;
        }
        self.min_offset.store(min, Ordering::Release);
        Ok(min)
    }
}
