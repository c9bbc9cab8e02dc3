//! ConsumerOffsets: committed offsets per consumer group, topic and queue.
//!
//! **Owns** the offset table (`config/consumerOffset.json`, key `topic@group`).
//!
//! **Handles** [`Commit`] (UPDATE_CONSUMER_OFFSET, and PULL with the commit flag) and
//! [`Query`] (QUERY_CONSUMER_OFFSET) from the broker service; [`OffsetsOf`], [`GroupsOf`] and
//! [`Reset`] from the admin handlers (stats, resets, clones); [`Persist`] from the broker's
//! shutdown.
//!
//! **Sends** the table to its [`ConfigWriter`] every 5 s when it changed (atomic file write
//! off the actor thread), as RocketMQ persists offsets periodically; at [`Persist`] and when
//! stopping, if it changed since.
//!
//! **Lifecycle**: supervised; (re)starts by loading the file, so a restart loses at most the
//! commits of the last 5 s (clients re-commit every 5 s). Mailbox: 65536.

use std::time::Duration;

use actix::prelude::*;

use super::{ConfigWriter, Persist};
use crate::store::config::{self as config_files, ConsumerOffsets as OffsetTable};

pub struct ConsumerOffsets {
    writer: ConfigWriter,
    table: OffsetTable,
    dirty: bool,
}

impl ConsumerOffsets {
    /// Offsets kept in the writer's file.
    pub fn new(writer: ConfigWriter) -> Self {
        Self {
            writer,
            table: OffsetTable::default(),
            dirty: false,
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
        self.writer.send(config_files::to_json_pretty(&self.table));
    }
}

/// The capacity of the actor's mailbox, given to it when it is made ([`super::supervise`]).
pub const MAILBOX: usize = 65_536;

impl Actor for ConsumerOffsets {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.table = match config_files::load(self.writer.path()) {
            Ok(table) => table.unwrap_or_default(),
            Err(e) => {
                tracing::error!(error = %e, "consumer offsets unreadable: starting empty");
                OffsetTable::default()
            }
        };
        self.dirty = false;
        self.writer.start();
        ctx.run_interval(Duration::from_secs(5), |offsets, _| offsets.flush());
    }

    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        self.flush();
        Running::Stop
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

impl Handler<Persist> for ConsumerOffsets {
    type Result = ();
    fn handle(&mut self, _: Persist, _: &mut Context<Self>) {
        self.flush();
    }
}

/// Offsets by topic then queue.
pub type GroupTable = std::collections::BTreeMap<String, std::collections::BTreeMap<i32, i64>>;

/// A group's committed offsets, by topic (GET_CONSUME_STATS, CLONE_GROUP_OFFSET, the
/// topics a group consumed).
#[derive(Message)]
#[rtype(result = "GroupTable")]
pub struct OffsetsOf(pub String);

impl Handler<OffsetsOf> for ConsumerOffsets {
    type Result = MessageResult<OffsetsOf>;
    fn handle(&mut self, msg: OffsetsOf, _: &mut Context<Self>) -> Self::Result {
        let suffix = format!("@{}", msg.0);
        MessageResult(
            self.table
                .offset_table
                .iter()
                .filter_map(|(key, queues)| {
                    let topic = key.strip_suffix(&suffix)?;
                    Some((topic.to_owned(), queues.clone()))
                })
                .collect(),
        )
    }
}

/// The groups that committed offsets of a topic (QUERY_TOPIC_CONSUME_BY_WHO).
#[derive(Message)]
#[rtype(result = "Vec<String>")]
pub struct GroupsOf(pub String);

impl Handler<GroupsOf> for ConsumerOffsets {
    type Result = MessageResult<GroupsOf>;
    fn handle(&mut self, msg: GroupsOf, _: &mut Context<Self>) -> Self::Result {
        let prefix = format!("{}@", msg.0);
        MessageResult(
            self.table
                .offset_table
                .keys()
                .filter_map(|key| key.strip_prefix(&prefix).map(str::to_owned))
                .collect(),
        )
    }
}

/// Sets a group's offsets of some queues of a topic (resets, clones), whatever they were.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reset {
    pub group: String,
    pub topic: String,
    pub offsets: std::collections::BTreeMap<i32, i64>,
}

impl Handler<Reset> for ConsumerOffsets {
    type Result = ();
    fn handle(&mut self, msg: Reset, _: &mut Context<Self>) {
        if msg.offsets.is_empty() {
            return;
        }
        let queues = self
            .table
            .offset_table
            .entry(Self::key(&msg.group, &msg.topic))
            .or_default();
        queues.extend(msg.offsets);
        self.dirty = true;
    }
}

/// The whole table (GET_ALL_CONSUMER_OFFSET: a slave's metadata sync).
#[derive(Message)]
#[rtype(result = "OffsetTable")]
pub struct All;

impl Handler<All> for ConsumerOffsets {
    type Result = MessageResult<All>;
    fn handle(&mut self, _: All, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.table.clone())
    }
}

/// A slave's metadata sync: the master's offsets replace ours queue by queue (offsets of
/// groups the master does not know stay, as RocketMQ's `putAll`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Merge(pub OffsetTable);

impl Handler<Merge> for ConsumerOffsets {
    type Result = ();
    fn handle(&mut self, msg: Merge, _: &mut Context<Self>) {
        for (key, queues) in msg.0.offset_table {
            let ours = self.table.offset_table.entry(key).or_default();
            if *ours != queues {
                *ours = queues;
                self.dirty = true;
            }
        }
    }
}
