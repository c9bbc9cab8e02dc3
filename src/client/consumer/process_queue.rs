//! The client-side state of one assigned queue: messages pulled but not yet consumed
//! (ordered by queue offset), the next pull offset, and the orderly lock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::offsets::OffsetStore;
use super::ConsumeFromWhere;
use crate::client::MessageExt;
use crate::protocol::body::client::MessageQueue;
use crate::util::lock;

/// A broker lock is trusted for this long after it was (re)taken (RocketMQ's client lock
/// expiry; the broker keeps it 60 s, renewed every 20 s).
pub const LOCK_EXPIRY: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub(crate) struct ProcessQueue {
    pub queue: MessageQueue,
    dropped: AtomicBool,
    pub next_offset: AtomicI64,
    /// Bumped by `seek`: pulls started before it are discarded.
    pub generation: AtomicU64,
    cache: Mutex<Cache>,
    locked_at: Mutex<Option<Instant>>,
    /// Orderly: one consumer task at a time per queue.
    pub consume_lock: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct Cache {
    msgs: BTreeMap<i64, MessageExt>,
    /// Orderly: taken out for the listener, not yet committed.
    taken: BTreeMap<i64, MessageExt>,
    bytes: usize,
    max_offset: i64,
    /// Orderly: a consumer task is running for this queue.
    consuming: bool,
}

impl ProcessQueue {
    pub fn new(queue: MessageQueue, offset: i64) -> Self {
        Self {
            queue,
            dropped: AtomicBool::new(false),
            next_offset: AtomicI64::new(offset),
            generation: AtomicU64::new(0),
            cache: Mutex::default(),
            locked_at: Mutex::new(None),
            consume_lock: tokio::sync::Mutex::new(()),
        }
    }

    pub fn dropped(&self) -> bool {
        self.dropped.load(Ordering::Acquire)
    }

    pub fn drop_queue(&self) {
        self.dropped.store(true, Ordering::Release);
    }

    /// Caches pulled messages; returns true if an orderly consumer task should start.
    pub fn put(&self, msgs: &[MessageExt]) -> bool {
        let mut c = lock(&self.cache);
        for m in msgs {
            c.bytes += m.body.len();
            c.max_offset = c.max_offset.max(m.queue_offset);
            c.msgs.insert(m.queue_offset, m.clone());
        }
        if !c.consuming && !c.msgs.is_empty() {
            c.consuming = true;
            return true;
        }
        false
    }

    /// (messages, bytes) cached.
    pub fn cached(&self) -> (usize, usize) {
        let c = lock(&self.cache);
        (c.msgs.len() + c.taken.len(), c.bytes)
    }

    /// Concurrent: removes consumed messages; returns the offset that may be committed
    /// (the smallest still cached, or one past the largest seen).
    pub fn remove(&self, offsets: impl IntoIterator<Item = i64>) -> Option<i64> {
        let mut c = lock(&self.cache);
        if c.msgs.is_empty() {
            return None;
        }
        for o in offsets {
            if let Some(m) = c.msgs.remove(&o) {
                c.bytes -= m.body.len();
            }
        }
        Some(c.msgs.keys().next().copied().unwrap_or(c.max_offset + 1))
    }

    /// Orderly: takes the next `n` messages in offset order (ends the consumer task when
    /// there are none).
    pub fn take(&self, n: usize) -> Vec<MessageExt> {
        let mut c = lock(&self.cache);
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let Some((o, m)) = c.msgs.pop_first() else {
                break;
            };
            c.taken.insert(o, m.clone());
            out.push(m);
        }
        if out.is_empty() {
            c.consuming = false;
        }
        out
    }

    /// Orderly: the taken messages were consumed; returns the offset to commit.
    pub fn commit_taken(&self) -> Option<i64> {
        let mut c = lock(&self.cache);
        let last = c.taken.keys().next_back().copied()?;
        let bytes: usize = c.taken.values().map(|m| m.body.len()).sum();
        c.bytes -= bytes;
        c.taken.clear();
        Some(last + 1)
    }

    /// Orderly: puts the taken messages back for another attempt, counting it.
    pub fn restore_taken(&self) {
        let mut c = lock(&self.cache);
        let taken = std::mem::take(&mut c.taken);
        for (o, mut m) in taken {
            m.reconsume_times += 1;
            c.msgs.insert(o, m);
        }
    }

    /// Orderly: stop the consumer task flag (e.g. when the lock is lost).
    pub fn stop_consuming(&self) {
        lock(&self.cache).consuming = false;
    }

    /// Drops everything cached (seek).
    pub fn clear(&self) {
        let mut c = lock(&self.cache);
        c.msgs.clear();
        c.taken.clear();
        c.bytes = 0;
    }

    pub fn set_locked(&self, locked: bool) {
        *lock(&self.locked_at) = locked.then(Instant::now);
    }

    pub fn locked(&self) -> bool {
        lock(&self.locked_at).is_some_and(|t| t.elapsed() < LOCK_EXPIRY)
    }
}

/// The queues a consumer pulls.
pub(crate) type QueueTable = Mutex<HashMap<MessageQueue, Arc<ProcessQueue>>>;

/// Makes the table's queues that are `in_scope` equal to `wanted`: takes out the ones no
/// longer wanted (marked dropped, so their pull loops and listeners stop) and returns them,
/// with the wanted queues the table does not have yet.
pub(crate) fn reconcile(
    table: &QueueTable,
    in_scope: impl Fn(&MessageQueue) -> bool,
    wanted: BTreeSet<MessageQueue>,
) -> (Vec<(MessageQueue, Arc<ProcessQueue>)>, Vec<MessageQueue>) {
    let mut table = lock(table);
    let gone: Vec<MessageQueue> = table
        .keys()
        .filter(|q| in_scope(q) && !wanted.contains(*q))
        .cloned()
        .collect();
    let removed: Vec<(MessageQueue, Arc<ProcessQueue>)> = gone
        .into_iter()
        .filter_map(|q| table.remove(&q).map(|pq| (q, pq)))
        .collect();
    for (_, pq) in &removed {
        pq.drop_queue();
    }
    let added = wanted
        .into_iter()
        .filter(|q| !table.contains_key(q))
        .collect();
    (removed, added)
}

/// A cache for a newly owned queue, starting where the group left off (or where
/// `from` says); `None` (logged) when the start offset cannot be had yet.
pub(crate) async fn open(
    offsets: &OffsetStore,
    queue: &MessageQueue,
    from: ConsumeFromWhere,
) -> Option<Arc<ProcessQueue>> {
    match offsets.start_offset(queue, from).await {
        Ok(offset) => {
            tracing::debug!(?queue, offset, "queue assigned");
            Some(Arc::new(ProcessQueue::new(queue.clone(), offset)))
        }
        Err(e) => {
            tracing::debug!(?queue, error = %e, "no start offset yet");
            None
        }
    }
}
