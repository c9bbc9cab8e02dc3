//! QueueLocks: which client of an orderly consumer group holds which queue.
//!
//! **Owns** a [`LockTable`].
//!
//! **Handles** [`Lock`] (LOCK_BATCH_MQ) and [`Unlock`] (UNLOCK_BATCH_MQ) from the broker
//! service.
//!
//! **Sends** nothing.
//!
//! **Lifecycle**: supervised; a restart drops the locks, which orderly consumers re-take
//! within their 20 s renewal. Mailbox: 4096.

use std::collections::BTreeSet;

use actix::prelude::*;
use tokio::time::Instant;

use crate::broker::locks::LockTable;
use crate::protocol::body::client::MessageQueue;

#[derive(Default)]
pub struct QueueLocks {
    table: LockTable,
}

/// The capacity of the actor's mailbox, given to it when it is made ([`super::supervise`]).
pub const MAILBOX: usize = 4_096;

impl Actor for QueueLocks {
    type Context = Context<Self>;
}

impl Supervised for QueueLocks {}

/// Lock (or renew) queues for a client; answers the queues it now holds.
#[derive(Message)]
#[rtype(result = "BTreeSet<MessageQueue>")]
pub struct Lock {
    pub group: String,
    pub client: String,
    pub queues: BTreeSet<MessageQueue>,
}

impl Handler<Lock> for QueueLocks {
    type Result = MessageResult<Lock>;
    fn handle(&mut self, msg: Lock, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.table
                .lock(&msg.group, &msg.client, &msg.queues, Instant::now()),
        )
    }
}

/// Release a client's locks.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unlock {
    pub group: String,
    pub client: String,
    pub queues: BTreeSet<MessageQueue>,
}

impl Handler<Unlock> for QueueLocks {
    type Result = ();
    fn handle(&mut self, msg: Unlock, _: &mut Context<Self>) {
        self.table.unlock(&msg.group, &msg.client, &msg.queues);
    }
}
