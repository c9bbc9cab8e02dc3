//! Cutting the store back to an earlier end of the commit log: a slave whose log runs past
//! its master's (the master was replaced by one that had not received everything) drops
//! what the master does not have, and copies the master's log from there.

use super::{Store, StoreError};

/// What [`Store::truncate_to`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Truncated {
    /// Where the log ended before.
    pub from: u64,
    /// Commit-log bytes cut.
    pub log_bytes: u64,
    /// Consume-queue units dropped (over all queues).
    pub units: u64,
}

impl Store {
    /// Cuts the commit log at `at` and drops the consume-queue units of the records past
    /// it; the dispatcher resumes from `at` (index entries of cut records stay behind: key
    /// queries check every hit against the record it points at). The flushed offset and the
    /// checkpoint go back to `at`. Nothing happens if the log ends at or before `at`.
    /// Meant for a slave's store, whose only writer is the replication link that calls it.
    pub fn truncate_to(&self, at: u64) -> Result<Truncated, StoreError> {
        let from = self.commit_log.appended();
        if at >= from {
            return Ok(Truncated {
                from,
                ..Truncated::default()
            });
        }
        let units = {
            let mut dispatcher = self.dispatcher.lock().unwrap_or_else(|e| e.into_inner());
            let log_bytes = self.commit_log.truncate_to(at)?;
            let mut units = 0;
            for cq in self.queues_snapshot() {
                units += cq.truncate_to(at)?;
            }
            dispatcher.rewind_to(at);
            self.flush_state.reset_to(at);
            // Writers not checked out read their next offset from the queue again.
            self.queue_offsets
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|_, next| next.is_none());
            debug_assert!(log_bytes == from - at);
            units
        };
        self.write_checkpoint()?;
        Ok(Truncated {
            from,
            log_bytes: from - at,
            units,
        })
    }
}
