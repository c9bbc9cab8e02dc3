//! Reput: tails the commit log and dispatches new records into consume queues and the index.
//!
//! **Owns** the decision of when to dispatch (the dispatch position itself lives in the
//! store, see [`Store::dispatch`]).
//!
//! **Handles** [`Wake`] from queue writers after each append (many wakes coalesce into one
//! dispatch run), the same wake whenever a drain writes pending commit-log bytes (under
//! SYNC_FLUSH, and ASYNC_FLUSH with the transient pool, records become readable when the
//! committer or a group commit writes them, not when appended), and a 100 ms timer as a
//! safety net.
//!
//! **Sends** [`Arrived`] to the [`LongPoll`] service: the queues that grew, so held pulls
//! wake at once.
//!
//! **Lifecycle**: one per broker, on its own arbiter so that dispatch runs beside the
//! writers. Supervised: restarting loses nothing (the store keeps the reput offset).
//! Mailbox: 65536 (wakes are tiny and coalesced).

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::long_poll::{Arrived, LongPoll};
use crate::store::Store;

pub struct Reput {
    store: Arc<Store>,
    long_poll: Addr<LongPoll>,
    scheduled: bool,
}

impl Reput {
    pub fn new(store: Arc<Store>, long_poll: Addr<LongPoll>) -> Self {
        Self {
            store,
            long_poll,
            scheduled: false,
        }
    }

    fn run(&mut self) {
        self.scheduled = false;
        match self.store.dispatch() {
            Ok(arrivals) if !arrivals.is_empty() => self.long_poll.do_send(Arrived(arrivals)),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "dispatch failed"),
        }
    }
}

/// The capacity of the actor's mailbox, given to it when it is made ([`super::supervise`]).
pub const MAILBOX: usize = 65_536;

impl Actor for Reput {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(Duration::from_millis(100), |reput, _| reput.run());
        // A context future: it ends with this incarnation of the actor (no second watcher
        // after a supervised restart).
        let mut drains = self.store.drains();
        let me = ctx.address();
        ctx.spawn(actix::fut::wrap_future(async move {
            while drains.changed().await.is_ok() {
                me.do_send(Wake);
            }
        }));
    }
}

impl Supervised for Reput {}

/// New records were appended.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Wake;

#[derive(Message)]
#[rtype(result = "()")]
struct RunDispatch;

impl Handler<Wake> for Reput {
    type Result = ();
    fn handle(&mut self, _: Wake, ctx: &mut Context<Self>) {
        if !self.scheduled {
            self.scheduled = true;
            ctx.notify(RunDispatch);
        }
    }
}

impl Handler<RunDispatch> for Reput {
    type Result = ();
    fn handle(&mut self, _: RunDispatch, _: &mut Context<Self>) {
        self.run();
    }
}
