//! Message trace, as the Java client's `AsyncTraceDispatcher` writes it: a producer with
//! `enable_trace` records a `Pub` per message sent; a push consumer with it records a
//! `SubBefore` and a `SubAfter` per message consumed. Records are batched (up to 10
//! contexts, or what came within 500 ms) and sent by an inner producer of their own
//! (group `_INNER_TRACE_PRODUCER-<group>-<PRODUCE|CONSUME>`) to the trace topic, with
//! the traced message ids and keys as the trace message's keys — the format of
//! [`crate::protocol::trace`], readable by mqadmin's `queryMsgTraceById` and the Java
//! client. A full buffer (2048 contexts) drops records rather than slow the sends.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::error::ClientError;
use super::message::Message;
use super::producer::{Producer, ProducerConfig};
use super::ClientConfig;
use crate::protocol::trace::{self, TraceRecord};

/// Contexts sent together in one trace message (Java: `traceMsgBatchNum`).
const BATCH: usize = 10;
/// How long the first context of a batch waits for others.
const LINGER: Duration = Duration::from_millis(500);
/// A trace message body's limit (Java: 128000 bytes).
const MAX_BODY: usize = 128_000;
const BUFFER: usize = 2048;

/// Hands trace records to the dispatcher task (cheap to clone).
#[derive(Debug, Clone)]
pub struct Tracer {
    records: mpsc::Sender<Queued>,
    pub(crate) group: String,
}

#[derive(Debug)]
enum Queued {
    /// One context's records.
    Context(Vec<TraceRecord>),
    /// Send what is queued now, then answer.
    Flush(oneshot::Sender<()>),
}

impl Tracer {
    /// Starts the inner producer and the dispatcher task of `group`'s traces.
    pub(crate) async fn start(
        client: &ClientConfig,
        group: &str,
        kind: &str,
        topic: &str,
    ) -> Result<Self, ClientError> {
        let mut config = ProducerConfig::new(format!("_INNER_TRACE_PRODUCER-{group}-{kind}"));
        config.send_timeout = Duration::from_secs(5);
        config.max_message_size = MAX_BODY;
        config.enable_trace = false;
        let producer = Producer::start_untraced(client.clone(), config, None).await?;
        let (records, queued) = mpsc::channel(BUFFER);
        tokio::spawn(dispatch(queued, producer, topic.to_owned()));
        Ok(Self {
            records,
            group: group.to_owned(),
        })
    }

    /// Queues one context's records (dropped when the buffer is full).
    pub(crate) fn record(&self, records: Vec<TraceRecord>) {
        if records.is_empty() {
            return;
        }
        if self.records.try_send(Queued::Context(records)).is_err() {
            tracing::debug!("trace buffer full: records dropped");
        }
    }

    /// Sends every record queued so far (a client's shutdown calls it), waiting at most
    /// the trace producer's send timeout.
    pub(crate) async fn flush(&self) {
        let (done, sent) = oneshot::channel();
        if self.records.send(Queued::Flush(done)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), sent).await;
        }
    }
}

async fn dispatch(mut queued: mpsc::Receiver<Queued>, producer: Producer, topic: String) {
    let mut batch: Vec<Vec<TraceRecord>> = Vec::new();
    let mut deadline = tokio::time::Instant::now();
    loop {
        let next = if batch.is_empty() {
            queued.recv().await
        } else {
            match tokio::time::timeout_at(deadline, queued.recv()).await {
                Ok(next) => next,
                // The first context has waited long enough.
                Err(_) => {
                    send(&producer, &topic, std::mem::take(&mut batch)).await;
                    continue;
                }
            }
        };
        match next {
            Some(Queued::Context(context)) => {
                if batch.is_empty() {
                    deadline = tokio::time::Instant::now() + LINGER;
                }
                batch.push(context);
                if batch.len() >= BATCH {
                    send(&producer, &topic, std::mem::take(&mut batch)).await;
                }
            }
            Some(Queued::Flush(done)) => {
                send(&producer, &topic, std::mem::take(&mut batch)).await;
                let _ = done.send(());
            }
            None => {
                send(&producer, &topic, std::mem::take(&mut batch)).await;
                break;
            }
        }
    }
    producer.shutdown().await;
}

/// Sends `records` as one or more trace messages (each body under [`MAX_BODY`]).
async fn send(producer: &Producer, topic: &str, contexts: Vec<Vec<TraceRecord>>) {
    let records = contexts.into_iter().flatten();
    let mut chunks: Vec<Vec<TraceRecord>> = vec![Vec::new()];
    let mut size = 0;
    for record in records {
        let len = trace::encode(std::slice::from_ref(&record)).len();
        if size + len > MAX_BODY && !chunks.last().is_some_and(Vec::is_empty) {
            chunks.push(Vec::new());
            size = 0;
        }
        size += len;
        chunks
            .last_mut()
            .unwrap_or_else(|| unreachable!())
            .push(record);
    }
    for chunk in chunks.into_iter().filter(|c| !c.is_empty()) {
        let body = trace::encode(&chunk);
        let message = Message::new(topic, body.into_bytes()).with_keys(trace::keys_of(&chunk));
        if let Err(e) = producer.send(message).await {
            tracing::debug!(topic, error = %e, "send trace data failed");
        }
    }
}
