//! The push consumer: the client pulls (long polling) each queue it owns and hands the
//! messages to a listener.
//!
//! Tasks: one rebalance loop (at start, every 20 s, at once on NOTIFY_CONSUMER_IDS_CHANGED),
//! one pull loop per owned queue, one offset-commit loop (every 5 s), and for orderly
//! consumers a lock-renewal loop (every 20 s). Listener calls run on blocking threads,
//! at most `consume_threads` at once; a queue with more than `pull_threshold_for_queue`
//! cached messages is not pulled until the listener catches up.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use super::offsets::OffsetStore;
use super::process_queue::{open, reconcile, ProcessQueue, QueueTable};
use super::pull::{master, step, Step};
use super::rebalance::{allocate, lock_queues};
use super::{
    retry_topic, ConsumeStatus, ConsumerConfig, MessageModel, OrderlyStatus, Subscription,
};
use crate::client::error::ClientError;
use crate::client::instance::{check, Instance};
use crate::client::{ClientConfig, MessageExt};
use crate::protocol::body::client::{ConsumerData, MessageQueue};
use crate::protocol::{properties, RemotingCommand, RequestCode};
use crate::util::lock;

type ConcurrentFn = dyn Fn(&[MessageExt]) -> ConsumeStatus + Send + Sync;
type OrderlyFn = dyn Fn(&[MessageExt]) -> OrderlyStatus + Send + Sync;

#[derive(Clone)]
enum Listener {
    Concurrent(Arc<ConcurrentFn>),
    Orderly(Arc<OrderlyFn>),
}

/// Collects subscriptions and the listener, then starts the consumer.
pub struct PushConsumerBuilder {
    client: ClientConfig,
    config: ConsumerConfig,
    subs: Vec<Subscription>,
    listener: Option<Listener>,
}

impl PushConsumerBuilder {
    /// Subscribes to `topic` with a tag expression (`*`, `TagA || TagB`).
    pub fn subscribe(mut self, topic: &str, expression: &str) -> Self {
        self.subs.push(Subscription::tag(topic, expression));
        self
    }

    /// Subscribes with an SQL92 selector over message properties.
    pub fn subscribe_sql92(mut self, topic: &str, expression: &str) -> Result<Self, ClientError> {
        self.subs.push(Subscription::sql92(topic, expression)?);
        Ok(self)
    }

    /// Messages are consumed concurrently, in batches of `consume_batch_size`.
    pub fn listen<F>(mut self, f: F) -> Self
    where
        F: Fn(&[MessageExt]) -> ConsumeStatus + Send + Sync + 'static,
    {
        self.listener = Some(Listener::Concurrent(Arc::new(f)));
        self
    }

    /// Messages of each queue are consumed one batch at a time, in queue order, by the
    /// one consumer holding the queue's broker lock.
    pub fn listen_orderly<F>(mut self, f: F) -> Self
    where
        F: Fn(&[MessageExt]) -> OrderlyStatus + Send + Sync + 'static,
    {
        self.listener = Some(Listener::Orderly(Arc::new(f)));
        self
    }

    pub async fn start(self) -> Result<PushConsumer, ClientError> {
        let listener = self.listener.ok_or_else(|| {
            ClientError::InvalidMessage("a push consumer needs a listener".into())
        })?;
        if self.subs.is_empty() {
            return Err(ClientError::InvalidMessage(
                "a push consumer needs a subscription".into(),
            ));
        }
        let config = self.config;
        let mut subs = self.subs;
        if config.message_model == MessageModel::Clustering {
            subs.push(Subscription::tag(&retry_topic(&config.group), "*"));
        }
        let tracer = match config.enable_trace {
            true => Some(
                crate::client::trace::Tracer::start(
                    &self.client,
                    &config.group,
                    "CONSUME",
                    &config.trace_topic,
                )
                .await?,
            ),
            false => None,
        };
        let instance = Instance::start(self.client).await?;
        for s in &subs {
            if let Err(e) = instance.update_route(s.topic()).await {
                tracing::debug!(topic = s.topic(), error = %e, "no route yet");
            }
        }
        let waker = instance.set_consumer(ConsumerData {
            group_name: config.group.clone(),
            consume_type: "CONSUME_PASSIVELY".into(),
            message_model: config.message_model.wire().into(),
            consume_from_where: config.consume_from_where.wire().into(),
            subscription_data_set: subs.iter().map(|s| s.data.clone()).collect(),
            unit_mode: false,
        });
        instance.heartbeat_all().await;
        let inner = Arc::new(Inner {
            offsets: OffsetStore::new(
                Arc::clone(&instance),
                &config.group,
                config.message_model,
                &config.offset_store_dir,
            ),
            workers: Arc::new(Semaphore::new(config.consume_threads.max(1))),
            instance,
            subs,
            listener,
            queues: Mutex::default(),
            waker,
            stop: CancellationToken::new(),
            tracer,
            config,
        });
        let hooks: Arc<dyn crate::client::instance::ConsumerHooks> =
            Arc::new(Hooks(Arc::downgrade(&inner)));
        inner
            .instance
            .set_consumer_hooks(&inner.config.group, Arc::downgrade(&hooks));
        tokio::spawn(Arc::clone(&inner).rebalance_loop());
        tokio::spawn(Arc::clone(&inner).persist_loop());
        if inner.orderly() && inner.config.message_model == MessageModel::Clustering {
            tokio::spawn(Arc::clone(&inner).lock_loop());
        }
        Ok(PushConsumer {
            inner,
            _hooks: hooks,
        })
    }
}

/// The push consumer's answers to brokers (offset resets, running info).
struct Hooks(std::sync::Weak<Inner>);

impl crate::client::instance::ConsumerHooks for Hooks {
    fn reset_offsets(&self, topic: &str, offsets: Vec<(MessageQueue, i64)>) {
        let Some(inner) = self.0.upgrade() else {
            return;
        };
        let topic = topic.to_owned();
        tokio::spawn(async move { inner.reset(&topic, offsets).await });
    }

    fn running_info(&self) -> serde_json::Value {
        let Some(inner) = self.0.upgrade() else {
            return serde_json::Value::Null;
        };
        inner.running_info()
    }

    fn consume_directly(&self, message: MessageExt) -> serde_json::Value {
        let Some(inner) = self.0.upgrade() else {
            return serde_json::Value::Null;
        };
        let started = std::time::Instant::now();
        let msgs = std::slice::from_ref(&message);
        let (order, result) = match &inner.listener {
            Listener::Concurrent(f) => (
                false,
                match f(msgs) {
                    ConsumeStatus::Success => "CR_SUCCESS",
                    ConsumeStatus::ReconsumeLater => "CR_LATER",
                },
            ),
            Listener::Orderly(f) => (
                true,
                match f(msgs) {
                    OrderlyStatus::Success => "CR_SUCCESS",
                    OrderlyStatus::SuspendCurrentQueueAMoment => "CR_LATER",
                },
            ),
        };
        serde_json::json!({
            "order": order,
            "autoCommit": true,
            "consumeResult": result,
            "spentTimeMills": started.elapsed().as_millis() as u64,
        })
    }
}

/// A running push consumer.
pub struct PushConsumer {
    inner: Arc<Inner>,
    /// Held here: the instance keeps only a weak reference.
    _hooks: Arc<dyn crate::client::instance::ConsumerHooks>,
}

struct Inner {
    instance: Arc<Instance>,
    config: ConsumerConfig,
    subs: Vec<Subscription>,
    listener: Listener,
    queues: QueueTable,
    offsets: OffsetStore,
    workers: Arc<Semaphore>,
    waker: Arc<Notify>,
    stop: CancellationToken,
    tracer: Option<crate::client::trace::Tracer>,
}

/// CONSUMER_SEND_MSG_BACK request.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SendBackHeader {
    offset: i64,
    group: String,
    delay_level: i32,
    origin_msg_id: String,
    origin_topic: String,
    unit_mode: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_reconsume_times: Option<i32>,
}

impl PushConsumer {
    pub fn builder(client: ClientConfig, config: ConsumerConfig) -> PushConsumerBuilder {
        PushConsumerBuilder {
            client,
            config,
            subs: Vec::new(),
            listener: None,
        }
    }

    pub fn client_id(&self) -> &str {
        &self.inner.instance.client_id
    }

    /// The queues this consumer owns now.
    pub fn assigned(&self) -> BTreeSet<MessageQueue> {
        lock(&self.inner.queues).keys().cloned().collect()
    }

    /// Rebalances now (as NOTIFY_CONSUMER_IDS_CHANGED does).
    pub fn rebalance_now(&self) {
        self.inner.waker.notify_one();
    }

    /// Stops pulling, waits briefly for running listener calls, commits offsets,
    /// releases queue locks and unregisters from the brokers.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        inner.stop.cancel();
        let all: Vec<(MessageQueue, Arc<ProcessQueue>)> = lock(&inner.queues).drain().collect();
        for (_, pq) in &all {
            pq.drop_queue();
        }
        let threads = inner.config.consume_threads.max(1) as u32;
        let _ =
            tokio::time::timeout(Duration::from_secs(3), inner.workers.acquire_many(threads)).await;
        let queues: Vec<MessageQueue> = all.into_iter().map(|(q, _)| q).collect();
        if let Err(e) = inner.offsets.persist(Some(&queues)).await {
            tracing::warn!(error = %e, "offset commit at shutdown failed");
        }
        if inner.orderly() {
            lock_queues(&inner.instance, &inner.config.group, &queues, true).await;
        }
        if let Some(tracer) = &inner.tracer {
            tracer.flush().await;
        }
        inner.instance.shutdown().await;
    }
}

/// A consume being traced: its request id and when it began.
struct Traced {
    request_id: String,
    begin: Instant,
}

impl Inner {
    /// Records `SubBefore` of each message (not those the broker marked `TRACE_ON=false`).
    fn trace_before(&self, msgs: &[MessageExt]) -> Option<Traced> {
        use crate::protocol::trace::{TraceRecord, TraceType};
        let tracer = self.tracer.as_ref()?;
        let request_id = self.instance.ids.next();
        let now = crate::util::now_ms();
        let records = traced(msgs)
            .map(|m| TraceRecord {
                kind: TraceType::SubBefore,
                timestamp: now,
                region_id: m
                    .property(properties::MSG_REGION)
                    .unwrap_or_default()
                    .to_owned(),
                group: tracer.group.clone(),
                request_id: request_id.clone(),
                msg_id: m.msg_id.clone(),
                retry_times: m.reconsume_times,
                keys: m.keys().unwrap_or_default().to_owned(),
                ..TraceRecord::default()
            })
            .collect();
        tracer.record(records);
        Some(Traced {
            request_id,
            begin: Instant::now(),
        })
    }

    /// Records `SubAfter` of each message: the listener's time shared among them, and
    /// whether it succeeded (context code 0, else 4: failed).
    fn trace_after(&self, traced_call: Option<Traced>, msgs: &[MessageExt], success: bool) {
        use crate::protocol::trace::{TraceRecord, TraceType};
        let (Some(tracer), Some(call)) = (self.tracer.as_ref(), traced_call) else {
            return;
        };
        let n = msgs.len().max(1) as i64;
        let cost = call.begin.elapsed().as_millis() as i64 / n;
        let now = crate::util::now_ms();
        let records = traced(msgs)
            .map(|m| TraceRecord {
                kind: TraceType::SubAfter,
                timestamp: now,
                group: tracer.group.clone(),
                request_id: call.request_id.clone(),
                msg_id: m.msg_id.clone(),
                cost_time: cost,
                success,
                context_code: if success { 0 } else { 4 },
                keys: m.keys().unwrap_or_default().to_owned(),
                ..TraceRecord::default()
            })
            .collect();
        tracer.record(records);
    }

    fn orderly(&self) -> bool {
        matches!(self.listener, Listener::Orderly(_))
    }

    fn clustering(&self) -> bool {
        self.config.message_model == MessageModel::Clustering
    }

    /// RESET_CONSUMER_CLIENT_OFFSET: drop the queues named (what they hold is not consumed
    /// or committed), commit the new offsets, and take the queues again from there.
    async fn reset(self: &Arc<Self>, topic: &str, offsets: Vec<(MessageQueue, i64)>) {
        let queues: Vec<MessageQueue> = offsets.iter().map(|(q, _)| q.clone()).collect();
        {
            let mut table = lock(&self.queues);
            for queue in &queues {
                if let Some(pq) = table.remove(queue) {
                    pq.drop_queue();
                }
            }
        }
        for (queue, offset) in &offsets {
            self.offsets.update(queue, *offset, false);
        }
        if let Err(e) = self.offsets.persist(Some(&queues)).await {
            tracing::warn!(%topic, error = %e, "could not commit the reset offsets");
        }
        self.waker.notify_one();
    }

    /// RocketMQ's `ConsumerRunningInfo`: properties, subscriptions, queues held.
    fn running_info(&self) -> serde_json::Value {
        let queues = lock(&self.queues).clone();
        let mq_table: serde_json::Map<String, serde_json::Value> = queues
            .iter()
            .map(|(q, pq)| {
                (
                    crate::protocol::fastjson::queue_key(&q.broker_name, q.queue_id, &q.topic),
                    serde_json::json!({
                        "commitOffset": self.offsets.in_memory(q).unwrap_or(0),
                        "cachedMsgCount": pq.cached().0,
                        "droped": pq.dropped(),
                        "locked": pq.locked(),
                    }),
                )
            })
            .collect();
        let consume_type = if self.orderly() {
            "orderly"
        } else {
            "concurrently"
        };
        serde_json::json!({
            "properties": {
                "PROP_CONSUME_TYPE": "CONSUME_PASSIVELY",
                "PROP_CONSUMEORDERLY": self.orderly().to_string(),
                "PROP_CLIENT_VERSION": format!("Apogee {}", env!("CARGO_PKG_VERSION")),
                "PROP_THREADPOOL_CORE_SIZE": self.config.consume_threads.to_string(),
                "PROP_NAMESERVER_ADDR": self.instance.config.namesrv_addrs.join(";"),
                "messageModel": self.config.message_model.wire(),
                "consumeFromWhere": self.config.consume_from_where.wire(),
                "consumeMode": consume_type,
                "consumerGroup": self.config.group,
            },
            "subscriptionSet": self.subs.iter().map(|s| s.data.clone()).collect::<Vec<_>>(),
            "mqTable": mq_table,
            "statusTable": {},
            "jstack": "",
        })
    }

    async fn rebalance_loop(self: Arc<Self>) {
        loop {
            self.rebalance().await;
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = self.waker.notified() => {}
                _ = tokio::time::sleep(self.config.rebalance_interval) => {}
            }
        }
    }

    async fn rebalance(self: &Arc<Self>) {
        for sub in &self.subs {
            let topic = sub.topic();
            let allocated = match allocate(
                &self.instance,
                &self.config.group,
                self.config.message_model,
                self.config.allocate.as_ref(),
                topic,
            )
            .await
            {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!(%topic, error = %e, "rebalance skipped");
                    continue;
                }
            };
            self.apply(sub, allocated.into_iter().collect()).await;
        }
    }

    /// Drops queues no longer ours (committing their offsets) and starts pulling new ones.
    async fn apply(self: &Arc<Self>, sub: &Subscription, allocated: BTreeSet<MessageQueue>) {
        if self.stop.is_cancelled() {
            return;
        }
        let (removed, mut added) = reconcile(&self.queues, |q| q.topic == sub.topic(), allocated);
        for (queue, pq) in removed {
            if self.orderly() {
                // Let a running listener call finish before the lock is given up.
                let _running = pq.consume_lock.lock().await;
            }
            self.offsets.release(&queue).await;
            if self.orderly() && self.clustering() {
                lock_queues(
                    &self.instance,
                    &self.config.group,
                    std::slice::from_ref(&queue),
                    true,
                )
                .await;
            }
            tracing::debug!(?queue, "queue released");
        }
        if added.is_empty() {
            return;
        }
        let locked = if self.orderly() && self.clustering() {
            let locked = lock_queues(&self.instance, &self.config.group, &added, false).await;
            added.retain(|q| locked.contains(q));
            true
        } else {
            false
        };
        for queue in added {
            let Some(pq) = open(&self.offsets, &queue, self.config.consume_from_where).await else {
                continue;
            };
            pq.set_locked(locked);
            lock(&self.queues).insert(queue, Arc::clone(&pq));
            tokio::spawn(Arc::clone(self).pull_loop(pq, sub.clone()));
        }
    }

    async fn pull_loop(self: Arc<Self>, pq: Arc<ProcessQueue>, sub: Subscription) {
        loop {
            if self.orderly() && self.clustering() && !pq.locked() && !pq.dropped() {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            let clustering = self.clustering();
            match step(
                &self.instance,
                &self.config,
                &self.offsets,
                &pq,
                &sub,
                &self.stop,
                clustering,
            )
            .await
            {
                Step::Messages(msgs) => self.dispatch(&pq, msgs),
                Step::Nothing => {}
                Step::Stop => return,
            }
        }
    }

    fn dispatch(self: &Arc<Self>, pq: &Arc<ProcessQueue>, msgs: Vec<MessageExt>) {
        let start_orderly = pq.put(&msgs);
        match &self.listener {
            Listener::Concurrent(_) => {
                for chunk in msgs.chunks(self.config.consume_batch_size.max(1)) {
                    tokio::spawn(Arc::clone(self).consume(Arc::clone(pq), chunk.to_vec()));
                }
            }
            Listener::Orderly(_) => {
                if start_orderly {
                    tokio::spawn(Arc::clone(self).consume_orderly(Arc::clone(pq)));
                }
            }
        }
    }

    async fn consume(self: Arc<Self>, pq: Arc<ProcessQueue>, msgs: Vec<MessageExt>) {
        let Listener::Concurrent(listener) = self.listener.clone() else {
            return;
        };
        let Ok(permit) = Arc::clone(&self.workers).acquire_owned().await else {
            return;
        };
        if pq.dropped() {
            return;
        }
        let traced = self.trace_before(&msgs);
        let (status, msgs) = match tokio::task::spawn_blocking(move || {
            let status = listener(&msgs);
            (status, msgs)
        })
        .await
        {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!(error = %e, "listener panicked; messages will be redelivered");
                return;
            }
        };
        drop(permit);
        self.trace_after(traced, &msgs, status == ConsumeStatus::Success);
        if pq.dropped() {
            return;
        }
        let mut failed = Vec::new();
        if status == ConsumeStatus::ReconsumeLater && self.clustering() {
            for m in &msgs {
                if let Err(e) = self.send_back(m, 0).await {
                    tracing::debug!(msg_id = %m.msg_id, error = %e, "send back failed");
                    failed.push(m.clone());
                }
            }
        }
        let done = msgs
            .iter()
            .filter(|m| !failed.iter().any(|f| f.queue_offset == m.queue_offset))
            .map(|m| m.queue_offset);
        if let Some(offset) = pq.remove(done) {
            // A dropped queue (reassigned, or its offset reset) no longer moves the offset.
            if !pq.dropped() {
                self.offsets.update(&pq.queue, offset, true);
            }
        }
        if !failed.is_empty() {
            // Could not hand them to the broker's retry: consume them again here later.
            let this = Arc::clone(&self);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                for m in &mut failed {
                    m.reconsume_times += 1;
                }
                this.consume_later(pq, failed);
            });
        }
    }

    /// Breaks the async recursion of `consume` through a spawned task.
    fn consume_later(self: Arc<Self>, pq: Arc<ProcessQueue>, msgs: Vec<MessageExt>) {
        let fut: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
            Box::pin(self.consume(pq, msgs));
        tokio::spawn(fut);
    }

    async fn consume_orderly(self: Arc<Self>, pq: Arc<ProcessQueue>) {
        let Listener::Orderly(listener) = self.listener.clone() else {
            return;
        };
        let _running = pq.consume_lock.lock().await;
        let max_reconsume = self.config.max_reconsume_times.unwrap_or(i32::MAX);
        loop {
            if pq.dropped() || self.stop.is_cancelled() {
                pq.stop_consuming();
                return;
            }
            if self.clustering() && !pq.locked() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let msgs = pq.take(self.config.consume_batch_size.max(1));
            if msgs.is_empty() {
                return;
            }
            let Ok(permit) = Arc::clone(&self.workers).acquire_owned().await else {
                return;
            };
            let call = Arc::clone(&listener);
            let traced = self.trace_before(&msgs);
            let (status, msgs) =
                match tokio::task::spawn_blocking(move || (call(&msgs), msgs)).await {
                    Ok(done) => done,
                    Err(e) => {
                        tracing::warn!(error = %e, "orderly listener panicked; retrying");
                        pq.restore_taken();
                        drop(permit);
                        tokio::time::sleep(self.config.suspend_current_queue).await;
                        continue;
                    }
                };
            drop(permit);
            self.trace_after(traced, &msgs, status == OrderlyStatus::Success);
            if pq.dropped() {
                pq.stop_consuming();
                return;
            }
            match status {
                OrderlyStatus::Success => {
                    if let Some(o) = pq.commit_taken() {
                        self.offsets.update(&pq.queue, o, true);
                    }
                }
                OrderlyStatus::SuspendCurrentQueueAMoment
                    if msgs.iter().any(|m| m.reconsume_times >= max_reconsume) =>
                {
                    // Retried enough: to the dead-letter queue, and move on.
                    for m in &msgs {
                        if let Err(e) = self.send_back(m, -1).await {
                            tracing::warn!(msg_id = %m.msg_id, error = %e,
                                "could not move a message to the DLQ");
                        }
                    }
                    if let Some(o) = pq.commit_taken() {
                        self.offsets.update(&pq.queue, o, true);
                    }
                }
                OrderlyStatus::SuspendCurrentQueueAMoment => {
                    pq.restore_taken();
                    tokio::time::sleep(self.config.suspend_current_queue).await;
                }
            }
        }
    }

    /// CONSUMER_SEND_MSG_BACK: the broker redelivers the message later via
    /// `%RETRY%group` (delay level 0 = the broker's choice, −1 = straight to the DLQ).
    async fn send_back(&self, m: &MessageExt, delay_level: i32) -> Result<(), ClientError> {
        let queue = MessageQueue {
            broker_name: m.broker_name.clone(),
            queue_id: m.queue_id,
            topic: m.topic.clone(),
        };
        let addr = master(&self.instance, &queue).await?;
        let request = RemotingCommand::request(RequestCode::CONSUMER_SEND_MSG_BACK).with_header(
            &SendBackHeader {
                offset: m.commit_log_offset,
                group: self.config.group.clone(),
                delay_level,
                origin_msg_id: m.msg_id.clone(),
                origin_topic: m.topic.clone(),
                unit_mode: false,
                max_reconsume_times: self.config.max_reconsume_times,
            },
        );
        let response = self
            .instance
            .invoke(&addr, request, self.instance.config.request_timeout)
            .await?;
        check(&addr, response).map(drop)
    }

    async fn persist_loop(self: Arc<Self>) {
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

    async fn lock_loop(self: Arc<Self>) {
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(20)) => {}
            }
            let table: Vec<(MessageQueue, Arc<ProcessQueue>)> = lock(&self.queues)
                .iter()
                .map(|(q, pq)| (q.clone(), Arc::clone(pq)))
                .collect();
            let queues: Vec<MessageQueue> = table.iter().map(|(q, _)| q.clone()).collect();
            let locked = lock_queues(&self.instance, &self.config.group, &queues, false).await;
            for (q, pq) in table {
                pq.set_locked(locked.contains(&q));
            }
        }
    }
}

/// The messages a consumer traces (the broker may switch a message's trace off).
fn traced(msgs: &[MessageExt]) -> impl Iterator<Item = &MessageExt> {
    msgs.iter()
        .filter(|m| m.property(properties::TRACE_ON) != Some("false"))
}
