//! SYNC_MASTER sends waiting for a slave: one watcher per serving thread, as for
//! SYNC_FLUSH (`sync_waits`).
//!
//! As RocketMQ 4.x's classic HA: a send is answered once a slave has acknowledged its
//! record (any one slave: the highest acknowledged offset is what counts), FLUSH_SLAVE_TIMEOUT
//! after `slaveTimeout`, SLAVE_NOT_AVAILABLE at once when no slave is connected or the best
//! one is `haMaxGapNotInSync` or more behind. The record is stored in every case.
//! (RocketMQ 5 waits only with `inSyncReplicas` ≥ 2; Apogee's SYNC_MASTER always waits.)

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

use crate::actors::ha_service::Acks;
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replicated {
    Yes,
    SlaveNotAvailable,
    Timeout,
}

pub struct ReplicaWaits {
    acks: watch::Receiver<Acks>,
    store: Arc<Store>,
    timeout: Duration,
    max_gap: u64,
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    waiting: Vec<(u64, oneshot::Sender<()>)>,
    watching: bool,
}

impl ReplicaWaits {
    pub fn new(
        acks: watch::Receiver<Acks>,
        store: Arc<Store>,
        timeout: Duration,
        max_gap: u64,
    ) -> Rc<Self> {
        Rc::new(Self {
            acks,
            store,
            timeout,
            max_gap,
            state: RefCell::default(),
        })
    }

    /// Waits until a slave has everything below `end`. Must run on a `LocalSet`.
    pub async fn replicated(self: &Rc<Self>, end: u64) -> Replicated {
        let acks = *self.acks.borrow();
        let put_where = self.store.commit_log().appended();
        // In controller mode a member of the in-sync set that is missing or behind is waited
        // for (the master takes it out of the set through the controller).
        if !acks.all_of
            && (acks.slaves == 0 || put_where.saturating_sub(acks.max_acked) >= self.max_gap)
        {
            return Replicated::SlaveNotAvailable;
        }
        if acks.max_acked >= end {
            return Replicated::Yes;
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
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(())) => Replicated::Yes,
            Ok(Err(_)) | Err(_) => {
                tracing::warn!(offset = end, "transfer message to slave timeout");
                Replicated::Timeout
            }
        }
    }

    async fn watch(self: Rc<Self>) {
        let mut acks = self.acks.clone();
        loop {
            let acked = acks.borrow_and_update().max_acked;
            {
                let mut state = self.state.borrow_mut();
                let mut i = 0;
                while i < state.waiting.len() {
                    let (end, tx) = &state.waiting[i];
                    if *end <= acked || tx.is_closed() {
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
            if acks.changed().await.is_err() {
                let mut state = self.state.borrow_mut();
                state.waiting.clear();
                state.watching = false;
                return;
            }
        }
    }
}
