//! Waiting for SYNC_FLUSH durability on the serving thread: one wake per flush.
//!
//! A send under SYNC_FLUSH is answered once its record is on disk. When every send task
//! awaited the store's flush watch itself, the flusher thread woke the tasks one by one;
//! the serving thread started on the first while the rest were still being woken, and a
//! group commit's responses left in many small writes (strace during P3: ~2.4 responses
//! per `writev`, ~0.1 eventfd wake per send). Here one task per serving thread awaits the
//! watch — one cross-thread wake per flush — and completes every waiter the flush covered
//! in one go, so their responses are queued in the same tick and leave together.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::store::{FlushMode, Store, StoreError};

/// The serving thread's SYNC_FLUSH waiters (not `Send`: one per thread).
pub struct SyncWaits {
    store: Arc<Store>,
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    /// (end of the record, who waits for `flushed` to pass it)
    waiting: Vec<(u64, oneshot::Sender<()>)>,
    /// The watching task runs.
    watching: bool,
}

impl SyncWaits {
    pub fn new(store: Arc<Store>) -> Rc<Self> {
        Rc::new(Self {
            store,
            state: RefCell::default(),
        })
    }

    /// Waits until everything below `end` is on disk (at once under ASYNC_FLUSH); after
    /// the store's `sync_timeout` the answer is FLUSH_DISK_TIMEOUT (the record is stored,
    /// its durability unconfirmed). Must run on a `LocalSet` (the serving thread).
    pub async fn durable(self: &Rc<Self>, end: u64) -> Result<(), StoreError> {
        let store = &self.store;
        if store.config().flush.mode == FlushMode::Async {
            return Ok(());
        }
        if let Some(error) = store.poisoned() {
            return Err(StoreError::Poisoned(error));
        }
        if store.commit_log().flushed() >= end {
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        let start_watching = {
            let mut state = self.state.borrow_mut();
            state.waiting.push((end, tx));
            !std::mem::replace(&mut state.watching, true)
        };
        if start_watching {
            tokio::task::spawn_local(Rc::clone(self).watch());
        }
        store.request_flush();
        let waited = tokio::time::timeout(store.config().flush.sync_timeout, rx).await;
        if let Some(error) = store.poisoned() {
            return Err(StoreError::Poisoned(error));
        }
        match waited {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(StoreError::Closed),
            Err(_) => Err(StoreError::FlushTimeout),
        }
    }

    /// Completes waiters after each flush until none is left.
    async fn watch(self: Rc<Self>) {
        // Subscribed before the first look: a flush that ends after it wakes us.
        let mut flushes = self.store.flushes();
        loop {
            let flushed = self.store.commit_log().flushed();
            let poisoned = self.store.poisoned().is_some();
            {
                let mut state = self.state.borrow_mut();
                let mut i = 0;
                while i < state.waiting.len() {
                    let (end, tx) = &state.waiting[i];
                    if poisoned || *end <= flushed || tx.is_closed() {
                        let (_, tx) = state.waiting.swap_remove(i);
                        let _ = tx.send(());
                    } else {
                        i += 1;
                    }
                }
                if state.waiting.is_empty() {
                    state.watching = false;
                    return;
                }
            }
            if flushes.changed().await.is_err() {
                // The store is gone: the waiters' senders drop with the list (Closed).
                let mut state = self.state.borrow_mut();
                state.waiting.clear();
                state.watching = false;
                return;
            }
        }
    }
}
