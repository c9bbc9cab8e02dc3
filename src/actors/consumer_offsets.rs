//! ConsumerOffsets: committed offsets per consumer group, topic and queue.
//!
//! **Owns** the offset table (`config/consumerOffset.json`, key `topic@group`).
//!
//! **Handles** [`Commit`] (UPDATE_CONSUMER_OFFSET, and PULL with the commit flag) and
//! [`Query`] (QUERY_CONSUMER_OFFSET) from the broker service; [`Persist`] at shutdown.
//!
//! **Sends** the table to a writer task every 5 s when it changed (atomic file write off
//! the actor thread), as RocketMQ persists offsets periodically.
//!
//! **Lifecycle**: supervised; (re)starts by loading the file, so a restart loses at most the
//! commits of the last 5 s (clients re-commit every 5 s). Mailbox: 65536.

use std::path::PathBuf;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::watch;

use crate::store::config::{self as config_files, ConsumerOffsets as OffsetTable};

pub struct ConsumerOffsets {
    file: PathBuf,
    table: OffsetTable,
    dirty: bool,
    persist: Option<watch::Sender<Vec<u8>>>,
}

impl ConsumerOffsets {
    pub fn new(file: PathBuf) -> Self {
        Self {
            file,
            table: OffsetTable::default(),
            dirty: false,
            persist: None,
        }
    }

    fn key(group: &str, topic: &str) -> String {
        format!("{topic}@{group}")
    }

    fn flush(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        self.table.data_version.counter += 1;
        self.table.data_version.timestamp = crate::util::now_ms();
        if let Some(persist) = &self.persist {
            persist.send_replace(config_files::to_json_pretty(&self.table));
        }
    }
}

impl Actor for ConsumerOffsets {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(65536);
        self.table = match config_files::load(&self.file) {
            Ok(table) => table.unwrap_or_default(),
            Err(e) => {
                tracing::error!(error = %e, "consumer offsets unreadable: starting empty");
                OffsetTable::default()
            }
        };
        let (tx, rx) = watch::channel(Vec::new());
        actix::spawn(super::persist_latest(self.file.clone(), rx));
        self.persist = Some(tx);
        ctx.run_interval(Duration::from_secs(5), |offsets, _| offsets.flush());
    }

    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        self.persist_now();
        Running::Stop
    }
}

impl ConsumerOffsets {
    fn persist_now(&mut self) {
        self.dirty = true;
        self.flush();
        if let Err(e) = config_files::persist(&self.file, &self.table) {
            tracing::error!(error = %e, "cannot persist consumer offsets");
        }
    }
}

impl Supervised for ConsumerOffsets {}

/// Store a group's offset for one queue.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Commit {
    pub group: String,
    pub topic: String,
    pub queue_id: i32,
    pub offset: i64,
}

impl Handler<Commit> for ConsumerOffsets {
    type Result = ();
    fn handle(&mut self, msg: Commit, ctx: &mut Context<Self>) {
        super::guard(self, ctx, |this, _| {
            let queues = this
                .table
                .offset_table
                .entry(Self::key(&msg.group, &msg.topic))
                .or_default();
            if queues.insert(msg.queue_id, msg.offset) != Some(msg.offset) {
                this.dirty = true;
            }
        });
    }
}

/// A group's committed offset of one queue, if any.
#[derive(Message)]
#[rtype(result = "Option<i64>")]
pub struct Query {
    pub group: String,
    pub topic: String,
    pub queue_id: i32,
}

impl Handler<Query> for ConsumerOffsets {
    type Result = Option<i64>;
    fn handle(&mut self, msg: Query, ctx: &mut Context<Self>) -> Option<i64> {
        super::guard(self, ctx, |this, _| {
            this.table
                .offset_table
                .get(&Self::key(&msg.group, &msg.topic))?
                .get(&msg.queue_id)
                .copied()
        })
        .flatten()
    }
}

/// Write the table to disk now (shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Persist;

impl Handler<Persist> for ConsumerOffsets {
    type Result = ();
    fn handle(&mut self, _: Persist, _: &mut Context<Self>) {
        self.persist_now();
    }
}
