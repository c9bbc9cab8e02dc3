//! A slave's appends: records copied from the master's log, at the offsets the master gave
//! them (nothing is patched), and the ends of files where the master closed them.

use std::sync::atomic::Ordering;

use std::sync::Arc;

use super::{CommitLog, LogAppend, Writes, DRAIN_AT};
use crate::store::mmap::MappedFile;
use crate::store::StoreError;

impl CommitLog {
    /// Appends whole records received from the master; `at` must be the end of the log
    /// (for a log without files, the start of a file: the log then begins there).
    pub fn append_replicated(&self, at: u64, bytes: &[u8]) -> Result<LogAppend, StoreError> {
        let (end, first_pending, pending) = {
            let mut tail = self.tail();
            self.open_at(&mut tail, at)?;
            if at != tail.end {
                return Err(StoreError::internal(format!(
                    "replicated records at {at}, but the log ends at {}",
                    tail.end
                )));
            }
            let writer = tail.writer.as_ref().ok_or(StoreError::Closed)?;
            let in_file = (at - writer.file().start()) as usize;
            if in_file + bytes.len() > writer.file().len() {
                return Err(StoreError::internal(format!(
                    "replicated records at {at} ({} bytes) cross the end of the file at {}",
                    bytes.len(),
                    writer.file().start() + writer.file().len() as u64
                )));
            }
            let first_pending = tail.segments.is_empty();
            self.put(&mut tail, bytes)?;
            self.appended.store(tail.end, Ordering::Release);
            (tail.end, first_pending, tail.pending.len())
        };
        if self.writes == Writes::Syscall {
            if pending >= DRAIN_AT {
                self.drain(true)?;
            } else {
                // Readable (and dispatched) soon, not at the next flush.
                self.committer.request();
            }
        }
        Ok(LogAppend {
            end,
            wants_flush: self.writes == Writes::Syscall && self.sync_flush && first_pending,
        })
    }

    /// The master closed the file holding `at` there (a blank record fills the rest): does
    /// the same and rolls to the next file.
    pub fn end_file_replicated(&self, at: u64) -> Result<(), StoreError> {
        let mut tail = self.tail();
        self.open_at(&mut tail, at)?;
        if at != tail.end {
            return Err(StoreError::internal(format!(
                "the master closed a file at {at}, but the log ends at {}",
                tail.end
            )));
        }
        self.roll(&mut tail)
    }

    /// Cuts the log at `at` (a slave ahead of its master's log, after a master
    /// replacement): files past it are deleted, the one holding it is replaced by a copy
    /// of its bytes before `at` (see [`MappedFile::replace_with_prefix`]), and appends go
    /// on from `at`. Returns the bytes cut (0 if the log ends at or before `at`). An `at`
    /// before the first file leaves a log without files, which begins again at the next
    /// replicated file start. The caller holds the dispatcher back and cuts the queues.
    pub(in crate::store) fn truncate_to(&self, at: u64) -> Result<u64, StoreError> {
        if self.writes == Writes::Syscall {
            self.drain(true)?;
        }
        let mut tail = self.tail();
        let end = tail.end;
        if at >= end {
            return Ok(0);
        }
        if !tail.segments.is_empty() {
            return Err(StoreError::internal(
                "records appended while the log was being cut",
            ));
        }
        tail.writer = None;
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        let keep = files
            .iter()
            .position(|f| at < f.start() + f.len() as u64)
            .unwrap_or(files.len());
        let mut removed: Vec<Arc<MappedFile>> = files.drain(keep..).collect();
        let cut_file = removed.first().filter(|f| f.start() < at).cloned();
        if let Some(file) = cut_file {
            removed.remove(0);
            let keep_bytes = (at - file.start()) as usize;
            let replacement = Arc::new(file.replace_with_prefix(keep_bytes, self.writes, true)?);
            tail.writer = replacement.take_writer();
            files.push(replacement);
        }
        for file in removed {
            std::fs::remove_file(file.path())?;
        }
        let next_start = files.last().map(|f| f.start() + f.len() as u64);
        drop(files);
        {
            let mut prepared = self.prepared.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(file) = prepared.take() {
                if Some(file.start()) == next_start {
                    *prepared = Some(file);
                } else {
                    std::fs::remove_file(file.path())?;
                }
            }
        }
        tail.end = at;
        self.appended.store(at, Ordering::Release);
        self.written.store(at, Ordering::Release);
        self.flushed.store(at, Ordering::Release);
        self.prefaulted.store(at, Ordering::Relaxed);
        drop(tail);
        self.drained.send_replace(at);
        self.progressed(at);
        Ok(end - at)
    }

    /// A log without files begins with a file at `at` (a file start).
    fn open_at(&self, tail: &mut super::Tail, at: u64) -> Result<(), StoreError> {
        if tail.writer.is_some() {
            return Ok(());
        }
        if !at.is_multiple_of(self.file_size as u64) {
            return Err(StoreError::internal(format!(
                "an empty log cannot begin at {at}: not a file start"
            )));
        }
        tail.end = at;
        self.roll(tail)?;
        self.written.store(at, Ordering::Release);
        Ok(())
    }
}
