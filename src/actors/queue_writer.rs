//! QueueWriter: the single writer of one topic-queue.
//!
//! **Owns** the queue's [`QueueAppender`], and with it the queue's next offset: messages of
//! one queue are numbered and appended in the order they arrive here.
//!
//! **Handles** [`Append`] from the broker service (a send or a batch send to this queue).
//!
//! **Sends** [`Wake`] to the [`Reput`] dispatcher after each append, so the new records
//! reach the consume queue and waiting pulls.
//!
//! **Lifecycle**: one per queue, started on first use on the store arbiter (appends copy
//! into mapped files and may page-fault: they stay off the network thread). Supervised: a
//! restarted writer takes the appender back from the store, which kept the next offset.
//! Mailbox: `sendThreadPoolQueueCapacity` (10 000), from the moment the writer's address
//! exists — a full mailbox is answered SYSTEM_BUSY (oneway sends wait for room).

use std::net::SocketAddr;
use std::sync::Arc;

use actix::prelude::*;
use bytes::Bytes;
use tokio::sync::oneshot;

use super::reput::{Reput, Wake};
use crate::protocol::message::NewMessage;
use crate::store::{Appended, QueueAppender, QueueKey, Store, StoreError};

/// A message to store, owning its data (the body is a zero-copy slice of the request frame).
#[derive(Debug, Clone)]
pub struct OwnedMessage {
    pub flag: i32,
    pub body: Bytes,
    pub properties: String,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
}

pub struct QueueWriter {
    store: Arc<Store>,
    key: QueueKey,
    appender: Option<QueueAppender>,
    reput: Addr<Reput>,
}

impl QueueWriter {
    pub fn new(store: Arc<Store>, key: QueueKey, reput: Addr<Reput>) -> Self {
        Self {
            store,
            key,
            appender: None,
            reput,
        }
    }
}

impl Actor for QueueWriter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        match self.store.queue_appender(self.key.clone()) {
            Ok(appender) => self.appender = Some(appender),
            Err(e) => {
                tracing::error!(queue = %self.key, error = %e, "queue writer cannot take its appender");
                ctx.stop();
            }
        }
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        // Dropping the appender hands the next offset back to the store.
        self.appender = None;
    }
}

impl Supervised for QueueWriter {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.appender = None;
    }
}

/// Append messages of this queue, in order; the result comes back on `reply`. Senders use
/// `try_send`, so a full mailbox is known at once (and answered SYSTEM_BUSY).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Append {
    pub messages: Vec<OwnedMessage>,
    pub reply: oneshot::Sender<Result<Appended, StoreError>>,
}

impl Handler<Append> for QueueWriter {
    type Result = ();

    fn handle(&mut self, msg: Append, ctx: &mut Context<Self>) {
        super::guard(self, ctx, |this, _| {
            let _ = msg.reply.send(this.append(&msg.messages));
        });
    }
}

impl QueueWriter {
    fn append(&mut self, messages: &[OwnedMessage]) -> Result<Appended, StoreError> {
        let appender = self.appender.as_mut().ok_or(StoreError::Closed)?;
        let views: Vec<NewMessage<'_>> = messages
            .iter()
            .map(|m| NewMessage {
                topic: &self.key.topic,
                queue_id: self.key.queue_id,
                flag: m.flag,
                body: &m.body,
                properties: &m.properties,
                sys_flag: m.sys_flag,
                born_timestamp: m.born_timestamp,
                born_host: m.born_host,
                store_host: m.store_host,
                reconsume_times: m.reconsume_times,
                prepared_transaction_offset: m.prepared_transaction_offset,
            })
            .collect();
        let appended = appender.append(&views)?;
        self.reput.do_send(Wake);
        Ok(appended)
    }
}
