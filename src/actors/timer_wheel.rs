//! TimerWheel: delivers timer messages (RocketMQ 5's `TIMER_DELIVER_MS`, `TIMER_DELAY_SEC`,
//! `TIMER_DELAY_MS`) at their time, from the hierarchical wheel of
//! [`crate::broker::timer`], whose slots are the queues of `rmq_sys_wheel_timer`.
//!
//! **Owns** the next offset of each slot queue, and the wheel's *cursor*: the time up to
//! which every slot has been taken, published for the send path (`config/timerWheel.json`,
//! with the commit-log position of that moment).
//!
//! **Handles** its own 100 ms tick: takes the slot queues in the wheel's order (level 0,
//! whose timers are delivered, then minutes, hours and the day queue, whose slots come due
//! a unit early) and, in each, every unit whose tag code (the slot's due time) has passed:
//! the timer is delivered to its `REAL_TOPIC` / `REAL_QID` (with `TIMER_DEQUEUE_MS`), or
//! written one level down, through the queue writers, runs of the same destination in one
//! append. Moving down is limited per tick ([`MOVES_PER_TICK`]; the rest waits for the next
//! tick) so that a big slot does not hold up the deliveries. A failed append stops that
//! queue until the next tick: nothing is skipped, order is kept.
//!
//! **Exactly once across a crash**: every copy it writes carries its source
//! (`APOGEE_TIMER_SRC=<queue>:<offset>`). At start it reads the commit log from the
//! position saved with its offsets and moves each offset past the sources found there, so
//! what it wrote before a `kill -9` is neither lost (the log has it) nor written again.
//!
//! [`Recall`] from the broker service (RECALL_MESSAGE): the timer is dropped instead of
//! delivered (kept in the state file until then).
//!
//! **Sends** appends to [`Writers`]; its state to its [`ConfigWriter`] every second when it
//! moved, and at [`Persist`] or when stopping.
//!
//! **Lifecycle**: one per broker, on the network arbiter; supervised (a restart reloads the
//! file and reads the log again, as at start).

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use serde::{Deserialize, Serialize};

use super::{ConfigWriter, Persist};
use crate::actors::queue_writer::OwnedMessage;
use crate::broker::config::Clock;
use crate::broker::retry::Props;
use crate::broker::timer::{self, Place, Wheel, TIMER_TOPIC};
use crate::broker::writers::Writers;
use crate::protocol::properties;
use crate::store::config as config_files;
use crate::store::{QueueKey, Store, Unit};

/// The file of the wheel's state, in the store's config directory.
pub const STATE_FILE: &str = "timerWheel.json";

/// Units taken from one queue in one go.
const BATCH: usize = 512;

/// Timers moved down a level in one tick at most (deliveries are not limited).
pub const MOVES_PER_TICK: usize = 20_000;

/// The wheel's saved state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WheelState {
    /// Next offset of each slot queue.
    pub offsets: BTreeMap<i32, i64>,
    pub cursor: i64,
    /// The commit log's end when this state was current: a restart reads from here.
    pub log_offset: u64,
    /// Recalled timers (`topic+msgId`) not delivered yet, with their time.
    #[serde(default)]
    pub recalled: BTreeMap<String, i64>,
}

/// The cursor, shared with the send path.
pub type Cursor = Arc<AtomicI64>;

pub struct TimerWheel {
    store: Arc<Store>,
    writers: Rc<Writers>,
    file: ConfigWriter,
    wheel: Wheel,
    clock: Clock,
    cursor: Cursor,
    state: WheelState,
    running: bool,
    dirty: bool,
}

impl TimerWheel {
    pub fn new(
        store: Arc<Store>,
        writers: Rc<Writers>,
        file: ConfigWriter,
        wheel: Wheel,
        clock: Clock,
        cursor: Cursor,
    ) -> Self {
        Self {
            store,
            writers,
            file,
            wheel,
            clock,
            cursor,
            state: WheelState::default(),
            running: false,
            dirty: false,
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.running {
            return;
        }
        self.running = true;
        let (store, writers, wheel, clock) = (
            Arc::clone(&self.store),
            Rc::clone(&self.writers),
            self.wheel,
            self.clock.clone(),
        );
        let mut state = self.state.clone();
        let work = async move {
            let now = clock.now_ms();
            // The log's end before the pass: everything the pass writes lies after it.
            let log_offset = store.commit_log().written();
            let moved = take_due(&store, &writers, wheel, &mut state, now).await;
            (state, now, log_offset, moved)
        };
        ctx.spawn(
            work.into_actor(self)
                .map(|(mut state, now, log_offset, moved), this, _| {
                    this.running = false;
                    if moved || now > state.cursor {
                        // Saved with the log position from before the pass: a restart reads
                        // the pass's copies again and finds their sources.
                        state.cursor = now.max(state.cursor);
                        state.log_offset = if moved {
                            log_offset
                        } else {
                            state.log_offset.max(log_offset)
                        };
                        this.state = state;
                        this.cursor.store(this.state.cursor, Ordering::Release);
                        this.dirty = true;
                    }
                }),
        );
    }

    fn flush(&mut self) {
        if std::mem::take(&mut self.dirty) {
            self.file.send(config_files::to_json_pretty(&self.state));
        }
    }
}

/// Takes every due unit of every slot queue; true if any was taken.
async fn take_due(
    store: &Store,
    writers: &Writers,
    wheel: Wheel,
    state: &mut WheelState,
    now: i64,
) -> bool {
    // A recall is kept a day past its timer's time (the wheel may lag), then forgotten.
    state.recalled.retain(|_, at| *at + 86_400_000 > now);
    let (offsets, recalled) = (&mut state.offsets, &mut state.recalled);
    let mut moved = false;
    let mut moves = 0;
    for queue_id in wheel.scan_order() {
        if moves >= MOVES_PER_TICK && !wheel.delivers(queue_id) {
            break;
        }
        let key = QueueKey::new(TIMER_TOPIC, queue_id);
        let Some(cq) = store.consume_queue(&key) else {
            continue;
        };
        let offset = offsets.entry(queue_id).or_insert(0);
        *offset = (*offset).max(cq.min_offset() as i64);
        loop {
            let mut due = Vec::new();
            while due.len() < BATCH {
                match cq.unit(*offset as u64 + due.len() as u64) {
                    Some(unit) if unit == Unit::BLANK || unit.tags_code <= now => due.push(unit),
                    _ => break,
                }
            }
            if due.is_empty() {
                break;
            }
            let full = due.len() == BATCH;
            let taken = take(
                store,
                writers,
                wheel,
                (queue_id, *offset),
                &due,
                now,
                recalled,
            )
            .await;
            moved |= taken > 0;
            if !wheel.delivers(queue_id) {
                moves += taken;
            }
            *offset += taken as i64;
            if taken < due.len() || !full || (moves >= MOVES_PER_TICK && !wheel.delivers(queue_id))
            {
                break;
            }
        }
    }
    moved
}

/// Moves or delivers `units` (from `offset` of `queue_id`) in order; returns how many
/// were taken (fewer when an append failed).
async fn take(
    store: &Store,
    writers: &Writers,
    wheel: Wheel,
    (queue_id, offset): (i32, i64),
    units: &[Unit],
    now: i64,
    recalled: &mut BTreeMap<String, i64>,
) -> usize {
    // (destination, message) per unit; `None` for a unit with nothing to move.
    let mut planned: Vec<Option<(QueueKey, OwnedMessage)>> = Vec::with_capacity(units.len());
    for (i, unit) in units.iter().enumerate() {
        let source = format!("{queue_id}:{}", offset + i as i64);
        planned.push(if *unit == Unit::BLANK {
            None
        } else {
            plan(store, wheel, *unit, &source, now, recalled)
        });
    }
    let mut taken = 0;
    while taken < planned.len() {
        // A run of the same destination goes in one append.
        let Some((key, _)) = &planned[taken] else {
            taken += 1;
            continue;
        };
        let key = key.clone();
        let mut end = taken;
        let mut run = Vec::new();
        while let Some(Some((k, _))) = planned.get(end) {
            if *k != key {
                break;
            }
            if let Some((_, m)) = planned[end].take() {
                run.push(m);
            }
            end += 1;
        }
        if let Err(e) = writers.append(key, run, false).await {
            tracing::debug!(error = ?e, "timer move postponed");
            return taken;
        }
        taken = end;
    }
    taken
}

/// Where the timer of `unit` goes now, and the copy to write there.
fn plan(
    store: &Store,
    wheel: Wheel,
    unit: Unit,
    source: &str,
    now: i64,
    recalled: &mut BTreeMap<String, i64>,
) -> Option<(QueueKey, OwnedMessage)> {
    let mut cancelled = false;
    let planned = store.with_record(unit.physical_offset, |r| {
        let mut props = Props::parse(r.properties);
        let out_ms = props.get(properties::TIMER_OUT_MS)?.parse::<i64>().ok()?;
        // Delivered one step after its slot time: never early (as the Java broker).
        let deadline = out_ms + wheel.precision_ms();
        props.set(timer::PROP_SOURCE, source);
        let key = match wheel.place(deadline, now) {
            Place::Deliver => {
                props.remove(timer::PROP_AT);
                props.set(properties::TIMER_DEQUEUE_MS, now.to_string());
                let topic = props.get(properties::REAL_TOPIC)?.to_owned();
                let queue_id = props.get(properties::REAL_QUEUE_ID)?.parse().ok()?;
                let id = props.get(properties::UNIQ_KEY).unwrap_or_default();
                if recalled.remove(&timer::recall_key(&topic, id)).is_some() {
                    cancelled = true;
                    return None;
                }
                QueueKey::new(topic, queue_id)
            }
            Place::Slot { queue_id, at } => {
                props.set(timer::PROP_AT, at.to_string());
                QueueKey::new(TIMER_TOPIC, queue_id)
            }
        };
        Some((
            key,
            OwnedMessage {
                flag: r.flag,
                body: bytes::Bytes::copy_from_slice(r.body),
                properties: props.encode(),
                sys_flag: r.sys_flag,
                born_timestamp: r.born_timestamp,
                born_host: r.born_host,
                store_host: r.store_host,
                reconsume_times: r.reconsume_times,
                prepared_transaction_offset: r.prepared_transaction_offset,
            },
        ))
    });
    let planned = planned.flatten();
    if cancelled {
        tracing::debug!(offset = unit.physical_offset, "recalled timer dropped");
    } else if planned.is_none() {
        tracing::warn!(
            offset = unit.physical_offset,
            "timer message unreadable or without its real queue: dropped"
        );
    }
    planned
}

/// Moves `state`'s offsets past the sources of the copies written after its log
/// position (the wheel wrote them, then stopped before saving).
pub fn recover(store: &Store, state: &mut WheelState) {
    let log = store.commit_log();
    let end = log.written();
    let file_size = log.file_size() as u64;
    let mut offset = state.log_offset.max(log.min_offset());
    let mut found = 0;
    while offset < end {
        let read = store.with_record(offset, |r| {
            let source = properties::get(r.properties, timer::PROP_SOURCE).and_then(|s| {
                let (queue, at) = s.split_once(':')?;
                Some((queue.parse::<i32>().ok()?, at.parse::<i64>().ok()?))
            });
            (r.size as u64, source)
        });
        match read {
            Some((size, source)) => {
                if let Some((queue, at)) = source {
                    let next = state.offsets.entry(queue).or_insert(0);
                    *next = (*next).max(at + 1);
                    found += 1;
                }
                offset += size.max(1);
            }
            // The end of a file (its blank filler): the next file.
            None => offset = (offset / file_size + 1) * file_size,
        }
    }
    if found > 0 {
        tracing::info!(
            found,
            "timer wheel: copies written before the restart taken into account"
        );
    }
    state.log_offset = end;
}

/// The capacity of the actor's mailbox, given to it when it is made ([`super::supervise`]).
pub const MAILBOX: usize = 64;

impl Actor for TimerWheel {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.state = match config_files::load::<WheelState>(self.file.path()) {
            Ok(Some(state)) => state,
            // A new wheel: nothing in it, so every slot up to now is taken, and nothing it
            // wrote is in the log (a broker with a long log does not read it all).
            Ok(None) => WheelState {
                cursor: self.clock.now_ms(),
                log_offset: self.store.commit_log().written(),
                ..WheelState::default()
            },
            Err(e) => {
                tracing::error!(error = %e, "timer wheel state unreadable: taking every slot queue from its start");
                WheelState::default()
            }
        };
        recover(&self.store, &mut self.state);
        self.cursor.store(self.state.cursor, Ordering::Release);
        self.dirty = true;
        self.file.start();
        self.flush();
        ctx.run_interval(Duration::from_millis(100), |wheel, ctx| wheel.tick(ctx));
        ctx.run_interval(Duration::from_secs(1), |wheel, _| wheel.flush());
    }

    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        self.flush();
        Running::Stop
    }
}

impl Supervised for TimerWheel {}

/// Cancels a timer (RECALL_MESSAGE): `key` is `topic+msgId`, `at` its time.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Recall {
    pub key: String,
    pub at: i64,
}

impl Handler<Recall> for TimerWheel {
    type Result = ();
    fn handle(&mut self, msg: Recall, _: &mut Context<Self>) {
        self.state.recalled.insert(msg.key, msg.at);
        self.dirty = true;
        self.flush();
    }
}

impl Handler<Persist> for TimerWheel {
    type Result = ();
    fn handle(&mut self, _: Persist, _: &mut Context<Self>) {
        self.flush();
    }
}
