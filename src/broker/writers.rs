//! Routing of appends to the per-queue writers: one [`QueueWriter`] per queue, started on
//! the store arbiter on first use. Shared (thread-locally) by the broker service and the
//! delay scheduler; `try_send` so that a full writer mailbox is known at once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use actix::{Addr, ArbiterHandle};
use tokio::sync::oneshot;

use crate::actors;
use crate::actors::queue_writer::{Append, OwnedMessage, QueueWriter};
use crate::actors::reput::Reput;
use crate::store::{Appended, QueueKey, Store, StoreError};

/// Why an append did not happen.
#[derive(Debug)]
pub enum AppendFailure {
    /// The writer's mailbox is full (SYSTEM_BUSY).
    Busy,
    /// The writer stopped (restarting); try again.
    Stopped,
    Store(StoreError),
}

pub struct Writers {
    map: RefCell<HashMap<QueueKey, Addr<QueueWriter>>>,
    store: Arc<Store>,
    reput: Addr<Reput>,
    arbiter: ArbiterHandle,
    /// Each writer's mailbox (`sendThreadPoolQueueCapacity`).
    capacity: usize,
}

impl Writers {
    pub fn new(
        store: Arc<Store>,
        reput: Addr<Reput>,
        arbiter: ArbiterHandle,
        capacity: usize,
    ) -> Self {
        Self {
            map: RefCell::new(HashMap::new()),
            store,
            reput,
            arbiter,
            capacity,
        }
    }

    /// Sends through the one stored `Addr` of the queue's writer. (Each clone of an actix
    /// `Addr` carries its own guaranteed mailbox slot: sending through fresh clones would
    /// make the mailbox unbounded.)
    fn try_send(&self, key: &QueueKey, msg: Append) -> Result<(), actix::dev::SendError<Append>> {
        if let Some(addr) = self.map.borrow().get(key).filter(|a| a.connected()) {
            return addr.try_send(msg);
        }
        let (store, reput, k) = (Arc::clone(&self.store), self.reput.clone(), key.clone());
        // The mailbox has its capacity before the writer first runs: a burst to a new queue
        // is sent before then.
        let addr = actors::supervise_in(&self.arbiter, self.capacity, move || {
            QueueWriter::new(store, k, reput)
        });
        let sent = addr.try_send(msg);
        self.map.borrow_mut().insert(key.clone(), addr);
        sent
    }

    /// Appends `messages` to `key`'s queue, in order. A full mailbox is `Busy` at once,
    /// unless `wait_if_full`: a oneway sender cannot be told it was refused, so its message
    /// waits for room instead of being dropped.
    pub async fn append(
        &self,
        key: QueueKey,
        messages: Vec<OwnedMessage>,
        wait_if_full: bool,
    ) -> Result<Appended, AppendFailure> {
        let (reply, appended) = oneshot::channel();
        match self.try_send(&key, Append { messages, reply }) {
            Ok(()) => {}
            Err(actix::dev::SendError::Full(msg)) if wait_if_full => {
                let addr = self.map.borrow().get(&key).cloned();
                match addr {
                    Some(addr) => addr.send(msg).await.map_err(|_| AppendFailure::Stopped)?,
                    None => return Err(AppendFailure::Stopped),
                }
            }
            Err(actix::dev::SendError::Full(_)) => return Err(AppendFailure::Busy),
            Err(actix::dev::SendError::Closed(_)) => {
                self.map.borrow_mut().remove(&key);
                return Err(AppendFailure::Stopped);
            }
        }
        match appended.await {
            Ok(Ok(appended)) => Ok(appended),
            Ok(Err(e)) => Err(AppendFailure::Store(e)),
            Err(_) => Err(AppendFailure::Stopped),
        }
    }
}
