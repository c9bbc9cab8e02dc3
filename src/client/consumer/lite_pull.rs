//! The lite pull consumer: the application calls [`LitePullConsumer::poll`]; background
//! tasks keep pulling the owned queues (long polling) into a bounded buffer.
//!
//! Queues are either assigned by the application ([`LitePullConsumer::assign`]) or shared
//! out among the group by rebalance ([`LitePullConsumer::subscribe`]). A poll marks what it
//! returns as consumed; offsets are committed by [`LitePullConsumer::commit`] and, with
//! `auto_commit`, every `persist_interval`. [`LitePullConsumer::seek`] moves a queue and
//! discards what was pulled before.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use super::offsets::OffsetStore;
use super::process_queue::{open, reconcile, ProcessQueue, QueueTable};
use super::pull::{step, Step};
use super::rebalance::{allocate, subscribe_queues};
use super::{ConsumerConfig, Subscription};
use crate::client::error::ClientError;
use crate::client::instance::Instance;
use crate::client::{ClientConfig, MessageExt};
use crate::protocol::body::client::{ConsumerData, MessageQueue};
use crate::util::lock;

struct Batch {
    pq: Arc<ProcessQueue>,
    generation: u64,
    msgs: Vec<MessageExt>,
}

/// A running lite pull consumer.
pub struct LitePullConsumer {
    inner: Arc<Inner>,
}

struct Inner {
    instance: Arc<Instance>,
    config: ConsumerConfig,
    subs: Mutex<Vec<Subscription>>,
    queues: QueueTable,
    offsets: OffsetStore,
    buffer_tx: mpsc::Sender<Batch>,
    buffer_rx: tokio::sync::Mutex<mpsc::Receiver<Batch>>,
    waker: Mutex<Option<Arc<Notify>>>,
    rebalancing: AtomicBool,
    stop: CancellationToken,
}

impl LitePullConsumer {
    /// Starts a consumer with nothing to pull yet: call `subscribe` or `assign`.
    pub async fn start(client: ClientConfig, config: ConsumerConfig) -> Result<Self, ClientError> {
        let instance = Instance::start(client).await?;
        let (buffer_tx, buffer_rx) = mpsc::channel(1024);
        let inner = Arc::new(Inner {
            offsets: OffsetStore::new(
                Arc::clone(&instance),
                &config.group,
                config.message_model,
                &config.offset_store_dir,
            ),
            instance,
            config,
            subs: Mutex::default(),
            queues: Mutex::default(),
            buffer_tx,
            buffer_rx: tokio::sync::Mutex::new(buffer_rx),
            waker: Mutex::default(),
            rebalancing: AtomicBool::new(false),
            stop: CancellationToken::new(),
        });
        if inner.config.auto_commit {
            tokio::spawn(Arc::clone(&inner).commit_loop());
        }
        Ok(Self { inner })
    }

    pub fn client_id(&self) -> &str {
        &self.inner.instance.client_id
    }

    /// Subscribes to a topic (tag expression); the group's consumers share its queues.
    pub async fn subscribe(&self, topic: &str, expression: &str) -> Result<(), ClientError> {
        self.add_subscription(Subscription::tag(topic, expression))
            .await
    }

    /// Subscribes with an SQL92 selector.
    pub async fn subscribe_sql92(&self, topic: &str, expression: &str) -> Result<(), ClientError> {
        self.add_subscription(Subscription::sql92(topic, expression)?)
            .await
    }

    async fn add_subscription(&self, sub: Subscription) -> Result<(), ClientError> {
        let inner = &self.inner;
        inner.instance.update_route(sub.topic()).await?;
        let data = {
            let mut subs = lock(&inner.subs);
            subs.retain(|s| s.topic() != sub.topic());
            subs.push(sub);
            ConsumerData {
                group_name: inner.config.group.clone(),
                consume_type: "CONSUME_ACTIVELY".into(),
                message_model: inner.config.message_model.wire().into(),
                consume_from_where: inner.config.consume_from_where.wire().into(),
                subscription_data_set: subs.iter().map(|s| s.data.clone()).collect(),
                unit_mode: false,
            }
        };
        let waker = inner.instance.set_consumer(data);
        *lock(&inner.waker) = Some(Arc::clone(&waker));
        inner.instance.heartbeat_all().await;
        if !inner.rebalancing.swap(true, Ordering::AcqRel) {
            tokio::spawn(Arc::clone(inner).rebalance_loop(waker));
        } else {
            waker.notify_one();
        }
        Ok(())
    }

    /// The queues of a topic (to choose from for `assign`).
    pub async fn fetch_queues(&self, topic: &str) -> Result<Vec<MessageQueue>, ClientError> {
        subscribe_queues(&self.inner.instance, topic).await
    }

    /// Pulls exactly these queues (no rebalance); tag expression `*`.
    pub async fn assign(&self, queues: Vec<MessageQueue>) -> Result<(), ClientError> {
        let inner = &self.inner;
        let topics: BTreeSet<String> = queues.iter().map(|q| q.topic.clone()).collect();
        for t in &topics {
            inner.instance.update_route(t).await?;
            let mut subs = lock(&inner.subs);
            if !subs.iter().any(|s| s.topic() == t) {
                subs.push(Subscription::tag(t, "*"));
            }
        }
        let wanted: BTreeSet<MessageQueue> = queues.into_iter().collect();
        inner.apply(None, wanted).await;
        Ok(())
    }

    /// The queues being pulled now.
    pub fn assignment(&self) -> BTreeSet<MessageQueue> {
        lock(&self.inner.queues).keys().cloned().collect()
    }

    /// Up to a buffer's worth of messages, waiting at most `timeout` for the first.
    pub async fn poll(&self, timeout: Duration) -> Vec<MessageExt> {
        let inner = &self.inner;
        let deadline = Instant::now() + timeout;
        let mut rx = inner.buffer_rx.lock().await;
        loop {
            let batch = match tokio::time::timeout_at(deadline.into(), rx.recv()).await {
                Ok(Some(b)) => b,
                _ => return Vec::new(),
            };
            if batch.pq.dropped() || batch.pq.generation.load(Ordering::Acquire) != batch.generation
            {
                continue;
            }
            if let Some(o) = batch.pq.remove(batch.msgs.iter().map(|m| m.queue_offset)) {
                inner.offsets.update(&batch.pq.queue, o, true);
            }
            return batch.msgs;
        }
    }

    /// Commits the consumed offsets of every owned queue now.
    pub async fn commit(&self) -> Result<(), ClientError> {
        let queues: Vec<MessageQueue> = lock(&self.inner.queues).keys().cloned().collect();
        self.inner.offsets.persist(Some(&queues)).await
    }

    /// The committed offset of a queue (broker or local file).
    pub async fn committed(&self, queue: &MessageQueue) -> Result<Option<i64>, ClientError> {
        self.inner.offsets.committed(queue).await
    }

    /// Continues `queue` at `offset`; what was pulled before is discarded.
    pub fn seek(&self, queue: &MessageQueue, offset: i64) -> Result<(), ClientError> {
        let pq = lock(&self.inner.queues)
            .get(queue)
            .cloned()
            .ok_or_else(|| ClientError::InvalidMessage(format!("{queue:?} is not assigned")))?;
        pq.generation.fetch_add(1, Ordering::AcqRel);
        pq.clear();
        pq.next_offset.store(offset, Ordering::Release);
        self.inner.offsets.update(queue, offset, false);
        Ok(())
    }

    /// Stops pulling, commits (with `auto_commit`) and unregisters.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        inner.stop.cancel();
        let all: Vec<(MessageQueue, Arc<ProcessQueue>)> = lock(&inner.queues).drain().collect();
        for (_, pq) in &all {
            pq.drop_queue();
        }
        if inner.config.auto_commit {
            let queues: Vec<MessageQueue> = all.into_iter().map(|(q, _)| q).collect();
            if let Err(e) = inner.offsets.persist(Some(&queues)).await {
                tracing::warn!(error = %e, "offset commit at shutdown failed");
            }
        }
        inner.instance.shutdown().await;
    }
}

impl Inner {
    async fn rebalance_loop(self: Arc<Self>, waker: Arc<Notify>) {
        loop {
            let subs: Vec<Subscription> = lock(&self.subs).clone();
            for sub in &subs {
                match allocate(
                    &self.instance,
                    &self.config.group,
                    self.config.message_model,
                    self.config.allocate.as_ref(),
                    sub.topic(),
                )
                .await
                {
                    Ok(a) => self.apply(Some(sub.topic()), a.into_iter().collect()).await,
                    Err(e) => tracing::debug!(topic = sub.topic(), error = %e, "rebalance skipped"),
                }
            }
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = waker.notified() => {}
                _ = tokio::time::sleep(self.config.rebalance_interval) => {}
            }
        }
    }

    /// Makes the owned queues (of `topic`, or all when `None`) equal to `wanted`.
    async fn apply(self: &Arc<Self>, topic: Option<&str>, wanted: BTreeSet<MessageQueue>) {
        let (removed, added) =
            reconcile(&self.queues, |q| topic.is_none_or(|t| q.topic == t), wanted);
        for (queue, _) in removed {
            self.offsets.release(&queue).await;
        }
        for queue in added {
            let Some(sub) = lock(&self.subs)
                .iter()
                .find(|s| s.topic() == queue.topic)
                .cloned()
            else {
                continue;
            };
            let Some(pq) = open(&self.offsets, &queue, self.config.consume_from_where).await else {
                continue;
            };
            lock(&self.queues).insert(queue, Arc::clone(&pq));
            tokio::spawn(Arc::clone(self).pull_loop(pq, sub));
        }
    }

    async fn pull_loop(self: Arc<Self>, pq: Arc<ProcessQueue>, sub: Subscription) {
        loop {
            let generation = pq.generation.load(Ordering::Acquire);
            match step(
                &self.instance,
                &self.config,
                &self.offsets,
                &pq,
                &sub,
                &self.stop,
                false,
            )
            .await
            {
                Step::Messages(msgs) => {
                    pq.put(&msgs);
                    let batch = Batch {
                        pq: Arc::clone(&pq),
                        generation,
                        msgs,
                    };
                    if self.buffer_tx.send(batch).await.is_err() {
                        return;
                    }
                }
                Step::Nothing => {}
                Step::Stop => return,
            }
        }
    }

    async fn commit_loop(self: Arc<Self>) {
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = tokio::time::sleep(self.config.persist_interval) => {}
            }
            let queues: Vec<MessageQueue> = lock(&self.queues).keys().cloned().collect();
            if let Err(e) = self.offsets.persist(Some(&queues)).await {
                tracing::debug!(error = %e, "offset commit failed");
            }
        }
    }
}
