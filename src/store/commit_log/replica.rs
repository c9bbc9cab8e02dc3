//! A slave's appends: records copied from the master's log, at the offsets the master gave
//! them (nothing is patched), and the ends of files where the master closed them.

use std::sync::atomic::Ordering;

use super::{CommitLog, LogAppend, Writes, DRAIN_AT};
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
