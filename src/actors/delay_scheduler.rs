//! DelayScheduler: puts delayed messages back into their real queues when they are due.
//!
//! **Owns** the next offset of each delay level's queue in `SCHEDULE_TOPIC_XXXX`
//! (`config/delayOffset.json`).
//!
//! **Handles** its own 100 ms tick: for each level it reads units from its offset while
//! their tag code (the due time, set by the dispatcher) has passed, rebuilds each message
//! for its `REAL_TOPIC` / `REAL_QID` without `DELAY`, appends it through the queue writers,
//! and moves the offset on. A failed append stops that level until the next tick, so
//! nothing is skipped. Levels are independent; within a level order is kept.
//!
//! **Sends** appends to [`Writers`] (queue writers on the store arbiter); offsets to their
//! [`ConfigWriter`] every 5 s when they moved, and at [`Persist`] or when stopping if they
//! moved since.
//!
//! **Lifecycle**: one per broker, on the network arbiter; supervised; (re)starts from the
//! file, so a crash redelivers at most the messages of the last 5 s (at-least-once).

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::{ConfigWriter, Persist};
use crate::actors::queue_writer::OwnedMessage;
use crate::broker::retry;
use crate::broker::writers::Writers;
use crate::store::config::{self as config_files, DelayOffsets};
use crate::store::{QueueKey, Store, Unit, SCHEDULE_TOPIC};

pub struct DelayScheduler {
    store: Arc<Store>,
    writers: Rc<Writers>,
    file: ConfigWriter,
    offsets: BTreeMap<i32, i64>,
    running: bool,
    dirty: bool,
}

impl DelayScheduler {
    /// A scheduler keeping its offsets in `file`'s file.
    pub fn new(store: Arc<Store>, writers: Rc<Writers>, file: ConfigWriter) -> Self {
        Self {
            store,
            writers,
            file,
            offsets: BTreeMap::new(),
            running: false,
            dirty: false,
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.running {
            return;
        }
        self.running = true;
        let (store, writers, offsets) = (
            Arc::clone(&self.store),
            Rc::clone(&self.writers),
            self.offsets.clone(),
        );
        let levels = self.store.config().delay_levels.len() as i32;
        let work = async move { deliver_due(&store, &writers, offsets, levels).await };
        ctx.spawn(work.into_actor(self).map(|offsets, scheduler, _| {
            if offsets != scheduler.offsets {
                scheduler.offsets = offsets;
                scheduler.dirty = true;
            }
            scheduler.running = false;
        }));
    }

    fn flush(&mut self) {
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        let table = DelayOffsets {
            offset_table: self.offsets.clone(),
            ..DelayOffsets::default()
        };
        self.file.send(config_files::to_json_pretty(&table));
    }
}

/// Delivers every due message of every level; returns the new offsets.
async fn deliver_due(
    store: &Store,
    writers: &Writers,
    mut offsets: BTreeMap<i32, i64>,
    levels: i32,
) -> BTreeMap<i32, i64> {
    let now = crate::util::now_ms();
    for level in 1..=levels {
        let key = QueueKey::new(SCHEDULE_TOPIC, level - 1);
        let Some(cq) = store.consume_queue(&key) else {
            continue;
        };
        let offset = offsets.entry(level).or_insert(0);
        *offset = (*offset).max(cq.min_offset() as i64);
        while let Some(unit) = cq.unit(*offset as u64) {
            if unit != Unit::BLANK && unit.tags_code > now {
                break;
            }
            if unit != Unit::BLANK && !deliver(store, writers, unit).await {
                break;
            }
            *offset += 1;
        }
    }
    offsets
}

/// Puts one due message back; false if it must be tried again later.
async fn deliver(store: &Store, writers: &Writers, unit: Unit) -> bool {
    let rebuilt = store.with_record(unit.physical_offset, |r| {
        retry::unschedule(r.properties).map(|(topic, queue_id, properties)| {
            (
                QueueKey::new(topic, queue_id),
                OwnedMessage {
                    flag: r.flag,
                    body: bytes::Bytes::copy_from_slice(r.body),
                    properties,
                    sys_flag: r.sys_flag,
                    born_timestamp: r.born_timestamp,
                    born_host: r.born_host,
                    store_host: r.store_host,
                    reconsume_times: r.reconsume_times,
                    prepared_transaction_offset: r.prepared_transaction_offset,
                },
            )
        })
    });
    match rebuilt {
        // Unreadable (deleted) or without a real topic: nothing to deliver, move on.
        None | Some(None) => {
            tracing::warn!(
                offset = unit.physical_offset,
                "delayed message without a real queue dropped"
            );
            true
        }
        Some(Some((key, message))) => match writers.append(key, vec![message], false).await {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(error = ?e, "delayed delivery postponed");
                false
            }
        },
    }
}

/// The capacity of the actor's mailbox, given to it when it is made ([`super::supervise`]).
pub const MAILBOX: usize = 64;

impl Actor for DelayScheduler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.offsets = match config_files::load::<DelayOffsets>(self.file.path()) {
            Ok(table) => table.unwrap_or_default().offset_table,
            Err(e) => {
                tracing::error!(error = %e, "delay offsets unreadable: delivering from the start of each level");
                BTreeMap::new()
            }
        };
        self.dirty = false;
        self.file.start();
        ctx.run_interval(Duration::from_millis(100), |scheduler, ctx| {
            scheduler.tick(ctx)
        });
        ctx.run_interval(Duration::from_secs(5), |scheduler, _| scheduler.flush());
    }

    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        self.flush();
        Running::Stop
    }
}

impl Supervised for DelayScheduler {}

impl Handler<Persist> for DelayScheduler {
    type Result = ();
    fn handle(&mut self, _: Persist, _: &mut Context<Self>) {
        self.flush();
    }
}
