//! LongPoll: pulls that found nothing, held until a message arrives or they time out.
//!
//! **Owns** a [`HoldTable`] of waiting pulls (queue, offset, filter, deadline, reply).
//!
//! **Handles** [`Hold`] from the broker service (a PULL answered PULL_NOT_FOUND with the
//! suspend flag); [`Arrived`] from the [`super::reput::Reput`] dispatcher (queues that
//! grew); [`HeldCount`] from the metrics scrape; its own 100 ms tick for deadlines.
//!
//! **Sends** each held pull's result through its oneshot reply: re-run at arrival (answered
//! when it finds messages or its offset moved; a scan that found only non-matching messages
//! advances the offset and keeps holding) or at its deadline (answered whatever it finds).
//!
//! **Lifecycle**: one per broker, on the network arbiter. Supervised: a restart drops the
//! held pulls, whose clients time out and pull again. Mailbox: 65536.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::broker::hold::HoldTable;
use crate::broker::pull::{self, MessageFilter, Pulled};
use crate::protocol::ResponseCode;
use crate::store::{Arrival, QueueKey, Store};

/// A held pull.
pub struct PullTask {
    pub key: QueueKey,
    pub offset: i64,
    pub max_msgs: usize,
    pub filter: Arc<dyn MessageFilter + Send + Sync>,
    pub reply: oneshot::Sender<Pulled>,
}

impl PullTask {
    fn read(&self, store: &Store) -> Pulled {
        pull::read(
            store,
            &self.key,
            self.offset,
            self.max_msgs,
            self.filter.as_ref(),
        )
    }
}

pub struct LongPoll {
    store: Arc<Store>,
    table: HoldTable<PullTask>,
}

impl LongPoll {
    pub fn new(store: Arc<Store>) -> Self {
        Self {
            store,
            table: HoldTable::default(),
        }
    }

    /// Re-runs a held pull after an arrival: answers it, or holds it on.
    fn recheck(&mut self, deadline: Instant, mut task: PullTask) {
        if task.reply.is_closed() {
            return;
        }
        let pulled = task.read(&self.store);
        match pulled.code {
            ResponseCode::PULL_NOT_FOUND => self.table.hold(task.key.clone(), deadline, task),
            ResponseCode::PULL_RETRY_IMMEDIATELY => {
                // Only non-matching messages arrived: skip them and keep waiting.
                task.offset = pulled.next_begin_offset;
                self.table.hold(task.key.clone(), deadline, task);
            }
            _ => {
                let _ = task.reply.send(pulled);
            }
        }
    }
}

/// The capacity of the actor's mailbox, given to it when it is made ([`super::supervise`]).
pub const MAILBOX: usize = 65_536;

impl Actor for LongPoll {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(Duration::from_millis(100), |poll, _| {
            for (_, task) in poll.table.take_expired(Instant::now()) {
                let pulled = task.read(&poll.store);
                let _ = task.reply.send(pulled);
            }
        });
    }
}

impl Supervised for LongPoll {
    fn restarting(&mut self, _: &mut Context<Self>) {
        // Dropping the held pulls answers them with what they found (nothing).
        self.table = HoldTable::default();
    }
}

/// Hold a pull until `deadline`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Hold {
    pub task: PullTask,
    pub deadline: Instant,
}

impl Handler<Hold> for LongPoll {
    type Result = ();
    fn handle(&mut self, msg: Hold, ctx: &mut Context<Self>) {
        super::guard(self, ctx, |this, _| {
            // A message may have arrived between the service's read and now: check once more.
            this.recheck(msg.deadline, msg.task);
        });
    }
}

/// Queues that received messages.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Arrived(pub Vec<Arrival>);

impl Handler<Arrived> for LongPoll {
    type Result = ();
    fn handle(&mut self, msg: Arrived, ctx: &mut Context<Self>) {
        super::guard(self, ctx, |this, _| {
            for arrival in msg.0 {
                for (deadline, task) in this.table.take_queue(&arrival.queue) {
                    this.recheck(deadline, task);
                }
            }
        });
    }
}

/// How many pulls are held (tests, runtime info, metrics).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct HeldCount;

impl Handler<HeldCount> for LongPoll {
    type Result = usize;
    fn handle(&mut self, _: HeldCount, _: &mut Context<Self>) -> usize {
        self.table.len()
    }
}
