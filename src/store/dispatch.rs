//! The dispatcher's building block: turns records written to the commit log into
//! consume-queue units and index entries, in log order. Driven by whoever tails the log (the
//! broker's reput actor) and, synchronously, by recovery.

use std::collections::BTreeMap;

use super::consume_queue::Unit;
use super::{QueueKey, Store, StoreError};
use crate::protocol::message::{self, sys_flag, Head, Record};
use crate::protocol::properties;

/// A unit's tag code: the TAGS hash, or for a delayed message the time it is due (its
/// store time plus the delay of its level), which the delay scheduler reads; for a timer
/// the time its wheel slot comes due (`APOGEE_TIMER_AT`), which the timer wheel reads.
fn tags_code(store: &Store, record: &Record<'_>) -> i64 {
    if record.topic == super::SCHEDULE_TOPIC {
        let level = properties::get(record.properties, properties::DELAY)
            .and_then(|d| d.parse::<usize>().ok())
            .unwrap_or(record.queue_id as usize + 1);
        let levels = &store.config.delay_levels;
        let delay = levels
            .get(level.clamp(1, levels.len().max(1)) - 1)
            .map_or(0, |d| d.as_millis() as i64);
        return record.store_timestamp + delay;
    }
    if record.topic == super::TIMER_TOPIC {
        let due = properties::get(record.properties, super::TIMER_AT_PROPERTY);
        if let Some(due) = due.and_then(|v| v.parse().ok()) {
            return due;
        }
    }
    record.tags_code()
}

/// A queue that received messages: its new max offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    pub queue: QueueKey,
    pub max_offset: u64,
}

pub(super) struct Dispatcher {
    reput: u64,
    /// Records at or below this physical offset are already in the index.
    indexed_through: Option<u64>,
}

impl Dispatcher {
    pub(super) fn new(reput: u64, indexed_through: Option<u64>) -> Self {
        Self {
            reput,
            indexed_through,
        }
    }

    pub(super) fn reput_offset(&self) -> u64 {
        self.reput
    }

    /// The log was cut at `at`: what was dispatched past it goes again.
    pub(super) fn rewind_to(&mut self, at: u64) {
        self.reput = self.reput.min(at);
        self.indexed_through = self.indexed_through.and_then(|through| {
            if through < at {
                Some(through)
            } else {
                at.checked_sub(1)
            }
        });
    }

    /// Dispatches every record between the reput offset and the log's written offset.
    pub(super) fn run(&mut self, store: &Store) -> Result<Vec<Arrival>, StoreError> {
        let log = &store.commit_log;
        let end = log.written();
        let mut grown: BTreeMap<QueueKey, u64> = BTreeMap::new();
        if self.reput < log.min_offset() {
            // Files were deleted before being dispatched: skip to what remains.
            self.reput = log.min_offset();
        }
        while self.reput < end {
            let Some(file) = log.file_for(self.reput) else {
                break;
            };
            let pos = (self.reput - file.start()) as usize;
            let limit = (end - file.start()).min(file.len() as u64) as usize;
            let buf = &file.read_from(pos)[..limit.saturating_sub(pos)];
            if buf.is_empty() {
                break;
            }
            match message::head(buf) {
                Ok(Head::Message(size)) => {
                    let record = Record::decode(&buf[..size], false)?;
                    self.dispatch_record(store, &record, &mut grown)?;
                    self.reput += size as u64;
                }
                Ok(Head::Blank) => self.reput = file.start() + file.len() as u64,
                Ok(Head::Empty) => break,
                Err(e) => {
                    return Err(StoreError::Corrupt(format!(
                        "undecodable record at {} below the written offset {end}: {e}",
                        self.reput
                    )))
                }
            }
        }
        Ok(grown
            .into_iter()
            .map(|(queue, max_offset)| Arrival { queue, max_offset })
            .collect())
    }

    fn dispatch_record(
        &mut self,
        store: &Store,
        record: &Record<'_>,
        grown: &mut BTreeMap<QueueKey, u64>,
    ) -> Result<(), StoreError> {
        let phy = record.physical_offset as u64;
        let txn = sys_flag::transaction_type(record.sys_flag);
        if txn == sys_flag::TRANSACTION_NOT_TYPE || txn == sys_flag::TRANSACTION_COMMIT_TYPE {
            let key = QueueKey::new(record.topic, record.queue_id);
            let cq = store.consume_queue_or_create(&key);
            cq.put(
                record.queue_offset as u64,
                Unit {
                    physical_offset: phy,
                    size: record.size as u32,
                    tags_code: tags_code(store, record),
                },
            )?;
            grown.insert(key, cq.max_offset());
        }
        let already = self.indexed_through.is_some_and(|through| phy <= through);
        if store.config.index_enable && txn != sys_flag::TRANSACTION_ROLLBACK_TYPE && !already {
            if let Some(uniq) = properties::get(record.properties, properties::UNIQ_KEY) {
                store
                    .index
                    .put(record.topic, uniq, phy, record.store_timestamp)?;
            }
            if let Some(keys) = properties::get(record.properties, properties::KEYS) {
                for key in keys.split(' ').filter(|k| !k.is_empty()) {
                    store
                        .index
                        .put(record.topic, key, phy, record.store_timestamp)?;
                }
            }
        }
        Ok(())
    }
}
