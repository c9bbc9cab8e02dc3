//! TxnChecker: the transaction checker — asks producers about halves left undecided.
//!
//! **Owns** a [`TxnTable`] (the halves waiting, when each is due, the half and op floors,
//! the check counts) and `config/transactionCheck.json` (its [`TxnState`]).
//!
//! **Handles** [`Decide`], [`Confirm`] and [`Undo`] from the broker service
//! (END_TRANSACTION: every decision goes through this actor, so a half is decided once);
//! its own 100 ms tick, which reads up to [`SCAN_BATCH`] new halves from the half queue
//! and carries out up to [`CHECKS_PER_TICK`] due effects; [`Persist`] at shutdown.
//!
//! **Sends** CHECK_TRANSACTION_STATE (oneway) to one live producer of the half's group,
//! found through the [`ClientManager`] (their producers in turn); halves checked
//! `transactionCheckMax` times go to `TRANS_CHECK_MAX_TIME_TOPIC` through the queue
//! writers, with an op record. Its state to its [`ConfigWriter`] every 5 s when changed.
//!
//! **Lifecycle**: one per broker, on the network arbiter (it appends through the
//! [`Writers`]); supervised; (re)starts from its file: replays the op queue from the op
//! floor, then scans the half queue again from the half floor, paced, so a restart or a
//! `kill -9` resumes where it was (a check may be asked again). Mailbox: [`MAILBOX`].
//!
//! [`UpdateLimits`] from the broker service (UPDATE_BROKER_CONFIG) changes the timeout,
//! the interval and the check limit.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::client_manager::{ClientManager, ProducerConnection};
use super::topic_config::{EnsureTopic, TopicConfigs, TRANS_CHECK_MAX_TIME_TOPIC};
use super::{ConfigWriter, Persist};
use crate::broker::transaction::{self, half_queue, op_queue};
use crate::broker::txn::{self, Half, TxnEffect, TxnState, TxnTable, Verdict};
use crate::broker::writers::Writers;
use crate::protocol::body::register::TopicConfig;
use crate::protocol::properties;
use crate::store::config as config_files;
use crate::store::{QueueKey, Store, Unit};

/// Halves read from the half queue per tick.
pub const SCAN_BATCH: usize = 1_000;
/// Checks (and discards) carried out per tick: 2 000 a second at most, however large the
/// backlog.
pub const CHECKS_PER_TICK: usize = 200;
/// The capacity of the actor's mailbox, given to it when it is made ([`super::supervise`]).
pub const MAILBOX: usize = 10_000;
/// Its file in the config directory.
pub const STATE_FILE: &str = "transactionCheck.json";

/// What the checker needs of the broker.
#[derive(Clone)]
pub struct CheckerSettings {
    pub timeout_ms: i64,
    pub check_interval_ms: i64,
    pub check_max: u32,
    pub broker_name: String,
    pub store_host: SocketAddr,
}

pub struct TxnChecker {
    store: Arc<Store>,
    writers: Rc<Writers>,
    clients: Addr<ClientManager>,
    topics: Addr<TopicConfigs>,
    file: ConfigWriter,
    settings: CheckerSettings,
    table: TxnTable,
    /// Effects being carried out (the tick waits for them).
    busy: bool,
    dirty: bool,
}

impl TxnChecker {
    pub fn new(
        store: Arc<Store>,
        writers: Rc<Writers>,
        clients: Addr<ClientManager>,
        topics: Addr<TopicConfigs>,
        file: ConfigWriter,
        settings: CheckerSettings,
    ) -> Self {
        let table = TxnTable::new(
            TxnState::default(),
            settings.check_max,
            settings.check_interval_ms,
        );
        Self {
            store,
            writers,
            clients,
            topics,
            file,
            settings,
            table,
            busy: false,
            dirty: false,
        }
    }

    /// Reloads the state file and replays the op queue from the op floor.
    fn restore(&mut self) {
        let state = match config_files::load::<TxnState>(self.file.path()) {
            Ok(state) => state.unwrap_or_default(),
            Err(e) => {
                tracing::error!(error = %e, "transaction check state unreadable: checking every half from the start");
                TxnState::default()
            }
        };
        self.table = TxnTable::new(
            state,
            self.settings.check_max,
            self.settings.check_interval_ms,
        );
        if let Some(cq) = self.store.consume_queue(&op_queue()) {
            let mut offset = self.table.op_next().max(cq.min_offset());
            while let Some(unit) = cq.unit(offset) {
                if unit != Unit::BLANK {
                    let halves = self.store.with_record(unit.physical_offset, |r| {
                        let tag = properties::get(r.properties, properties::TAGS);
                        if tag == Some(txn::REMOVE_TAG) {
                            txn::op_halves(r.body)
                        } else {
                            Vec::new()
                        }
                    });
                    self.table.on_op(offset, &halves.unwrap_or_default());
                }
                offset += 1;
            }
        }
        self.dirty = false;
    }

    /// Reads the halves stored since the last scan (up to [`SCAN_BATCH`]).
    fn scan(&mut self) {
        let Some(cq) = self.store.consume_queue(&half_queue()) else {
            return;
        };
        let start = self.table.scanned();
        if start < cq.min_offset() {
            // Removed by retention before they were decided: nothing left to check.
            for offset in start..cq.min_offset() {
                self.table.on_half(offset, None);
            }
        }
        for _ in 0..SCAN_BATCH {
            let offset = self.table.scanned();
            let Some(unit) = cq.unit(offset) else { break };
            let timeout = self.settings.timeout_ms;
            let half = (unit != Unit::BLANK)
                .then(|| {
                    self.store.with_record(unit.physical_offset, |r| {
                        transaction::half_of(&r, offset, timeout)
                    })
                })
                .flatten()
                .flatten();
            self.table.on_half(offset, half);
            self.dirty = true;
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        self.scan();
        let effects = self.table.due(crate::util::now_ms(), CHECKS_PER_TICK);
        if effects.is_empty() {
            return;
        }
        self.dirty = true;
        self.busy = true;
        let (store, writers, clients, topics, settings) = (
            Arc::clone(&self.store),
            Rc::clone(&self.writers),
            self.clients.clone(),
            self.topics.clone(),
            self.settings.clone(),
        );
        let work = async move {
            let mut settled = Vec::new();
            for effect in effects {
                match effect {
                    TxnEffect::Check(half) => check(&store, &clients, &settings, &half).await,
                    TxnEffect::Discard(half) => settled.push((
                        half.offset,
                        discard(&store, &writers, &topics, &settings, &half).await,
                    )),
                }
            }
            settled
        };
        ctx.spawn(work.into_actor(self).map(|settled, checker, _| {
            for (offset, op_offset) in settled {
                match op_offset {
                    Some(op_offset) => checker.table.confirm(offset, op_offset),
                    None => checker.table.undo(offset),
                }
            }
            checker.busy = false;
        }));
    }

    fn flush(&mut self) {
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        self.file
            .send(config_files::to_json_pretty(&self.table.state()));
    }
}

/// Sends one check-back, if a producer of the group is connected.
async fn check(
    store: &Store,
    clients: &Addr<ClientManager>,
    settings: &CheckerSettings,
    half: &Half,
) {
    let Ok(Some(conn)) = clients.send(ProducerConnection(half.group.clone())).await else {
        tracing::warn!(group = %half.group, offset = half.offset, "Check transaction failed, channel is null.");
        return;
    };
    let request = store
        .with_record(half.physical_offset, |r| {
            transaction::check_request(&r, settings.store_host, &settings.broker_name)
        })
        .flatten();
    match request {
        Some(request) => {
            tracing::debug!(group = %half.group, offset = half.offset, checks = half.checks, peer = %conn.peer, "transaction check");
            if !conn.try_send(request) {
                tracing::warn!(group = %half.group, offset = half.offset, "transaction check not sent: connection closed or full");
            }
        }
        None => tracing::warn!(offset = half.offset, "half unreadable: not checked"),
    }
}

/// Moves a half checked too often into `TRANS_CHECK_MAX_TIME_TOPIC` and settles it; the op
/// record's offset, or `None` if it must wait.
async fn discard(
    store: &Store,
    writers: &Writers,
    topics: &Addr<TopicConfigs>,
    settings: &CheckerSettings,
    half: &Half,
) -> Option<u64> {
    tracing::warn!(group = %half.group, offset = half.offset, checks = half.checks, "half checked too often: discarded into {TRANS_CHECK_MAX_TIME_TOPIC}");
    let message = store.with_record(half.physical_offset, |r| {
        transaction::message_of(&r, r.sys_flag, r.prepared_transaction_offset)
    });
    if let Some(message) = message {
        let _ = topics
            .send(EnsureTopic(TopicConfig::new(TRANS_CHECK_MAX_TIME_TOPIC, 1)))
            .await;
        let key = QueueKey::new(TRANS_CHECK_MAX_TIME_TOPIC, 0);
        if let Err(e) = writers.append(key, vec![message], false).await {
            tracing::warn!(error = ?e, "discarded half not stored: tried again later");
            return None;
        }
    }
    let op = transaction::op_message(half.offset, settings.store_host);
    match writers.append(op_queue(), vec![op], false).await {
        Ok(appended) => Some(appended.first_queue_offset),
        Err(e) => {
            tracing::warn!(error = ?e, "op record of a discarded half not written");
            None
        }
    }
}

impl Actor for TxnChecker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.restore();
        self.file.start();
        ctx.run_interval(Duration::from_millis(100), |checker, ctx| checker.tick(ctx));
        ctx.run_interval(Duration::from_secs(5), |checker, _| checker.flush());
    }

    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        self.flush();
        Running::Stop
    }
}

impl Supervised for TxnChecker {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.busy = false;
    }
}

/// A decision for the half at this offset of the half queue: is it this decision's?
#[derive(Message)]
#[rtype(result = "Verdict")]
pub struct Decide(pub u64);

impl Handler<Decide> for TxnChecker {
    type Result = MessageResult<Decide>;
    fn handle(&mut self, msg: Decide, _: &mut Context<Self>) -> Self::Result {
        self.dirty = true;
        MessageResult(self.table.decide(msg.0))
    }
}

/// The decision taken for a half is written; its op record is at `op_offset`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Confirm {
    pub offset: u64,
    pub op_offset: u64,
}

impl Handler<Confirm> for TxnChecker {
    type Result = ();
    fn handle(&mut self, msg: Confirm, _: &mut Context<Self>) {
        self.table.confirm(msg.offset, msg.op_offset);
        self.dirty = true;
    }
}

/// The decision taken for a half could not be written.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Undo(pub u64);

impl Handler<Undo> for TxnChecker {
    type Result = ();
    fn handle(&mut self, msg: Undo, _: &mut Context<Self>) {
        self.table.undo(msg.0);
    }
}

/// `transactionTimeOut`, `transactionCheckInterval`, `transactionCheckMax` changed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UpdateLimits {
    pub timeout_ms: i64,
    pub check_interval_ms: i64,
    pub check_max: u32,
}

impl Handler<UpdateLimits> for TxnChecker {
    type Result = ();
    fn handle(&mut self, msg: UpdateLimits, _: &mut Context<Self>) {
        self.settings.timeout_ms = msg.timeout_ms;
        self.settings.check_interval_ms = msg.check_interval_ms;
        self.settings.check_max = msg.check_max;
        self.table.set_limits(msg.check_max, msg.check_interval_ms);
    }
}

impl Handler<Persist> for TxnChecker {
    type Result = ();
    fn handle(&mut self, _: Persist, _: &mut Context<Self>) {
        self.flush();
    }
}
