//! One pull of one queue (PULL_MESSAGE), and the offset look-ups around it.

use std::sync::Arc;
use std::time::Duration;

use super::Subscription;
use crate::client::error::ClientError;
use crate::client::instance::{check, Instance};
use crate::client::MessageExt;
use crate::protocol::body::client::MessageQueue;
use crate::protocol::header::broker::{pull_flag, PullRequest, SearchOffsetRequest, TopicQueue};
use crate::protocol::{HeaderError, RemotingCommand, RequestCode, ResponseCode};

/// What a pull found.
#[derive(Debug)]
pub(crate) enum Found {
    /// Messages (already filtered by the subscription's tags; may be empty).
    Messages(Vec<MessageExt>),
    NoNewMessage,
    NoMatchedMessage,
    /// The offset is outside the queue; continue at `next_begin`.
    OffsetIllegal,
}

#[derive(Debug)]
pub(crate) struct PullOutcome {
    pub found: Found,
    pub next_begin: i64,
}

pub(crate) struct PullArgs<'a> {
    pub group: &'a str,
    pub queue: &'a MessageQueue,
    pub subscription: &'a Subscription,
    pub offset: i64,
    pub max_nums: i32,
    /// Clustering: the offset to commit along with the pull.
    pub commit_offset: Option<i64>,
    /// How long the broker may hold the pull (long polling); `None` = answer at once.
    pub suspend: Option<Duration>,
}

pub(crate) async fn pull(
    instance: &Arc<Instance>,
    args: PullArgs<'_>,
) -> Result<PullOutcome, ClientError> {
    let addr = master(instance, args.queue).await?;
    let mut sys_flag = pull_flag::SUBSCRIPTION;
    if args.commit_offset.is_some_and(|o| o > 0) {
        sys_flag |= pull_flag::COMMIT_OFFSET;
    }
    if args.suspend.is_some() {
        sys_flag |= pull_flag::SUSPEND;
    }
    let suspend = args.suspend.unwrap_or_default();
    let header = PullRequest {
        consumer_group: args.group.to_owned(),
        topic: args.queue.topic.clone(),
        queue_id: args.queue.queue_id,
        queue_offset: args.offset,
        max_msg_nums: args.max_nums,
        sys_flag,
        commit_offset: args.commit_offset.unwrap_or(0).max(0),
        suspend_timeout_millis: suspend.as_millis() as i64,
        subscription: Some(args.subscription.data.sub_string.clone()),
        sub_version: args.subscription.data.sub_version,
        expression_type: Some(args.subscription.expression_type().to_owned()),
        max_msg_bytes: None,
    };
    let request = RemotingCommand::request(RequestCode::PULL_MESSAGE).with_header(&header);
    // The client waits longer than the broker may hold the request.
    let timeout = suspend + Duration::from_secs(15);
    let response = instance.invoke(&addr, request, timeout).await?;
    let code = response.response_code();
    let next_begin = match code {
        ResponseCode::SUCCESS
        | ResponseCode::PULL_NOT_FOUND
        | ResponseCode::PULL_RETRY_IMMEDIATELY
        | ResponseCode::PULL_OFFSET_MOVED => response
            .ext("nextBeginOffset")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .ok_or_else(|| ClientError::BadResponse {
                addr: addr.clone(),
                source: HeaderError::Field("pull response without nextBeginOffset".into()),
            })?,
        _ => {
            return Err(ClientError::Response {
                addr,
                code,
                remark: response.remark.unwrap_or_default(),
            })
        }
    };
    let found = match code {
        ResponseCode::SUCCESS => {
            let mut msgs = MessageExt::decode_all(&response.body, &args.queue.broker_name)
                .map_err(|e| ClientError::BadResponse {
                    addr: addr.clone(),
                    source: HeaderError::Body(format!("pulled messages: {e}")),
                })?;
            msgs.retain(|m| args.subscription.accepts(m.tags()));
            Found::Messages(msgs)
        }
        ResponseCode::PULL_NOT_FOUND => Found::NoNewMessage,
        ResponseCode::PULL_RETRY_IMMEDIATELY => Found::NoMatchedMessage,
        _ => Found::OffsetIllegal,
    };
    Ok(PullOutcome { found, next_begin })
}

/// The master address of a queue's broker.
pub(crate) async fn master(
    instance: &Arc<Instance>,
    queue: &MessageQueue,
) -> Result<String, ClientError> {
    if let Some(a) = instance.master_addr(&queue.broker_name) {
        return Ok(a);
    }
    instance.update_route(&queue.topic).await?;
    instance
        .master_addr(&queue.broker_name)
        .ok_or_else(|| ClientError::NoBroker(queue.broker_name.clone()))
}

async fn offset_request(
    instance: &Arc<Instance>,
    queue: &MessageQueue,
    request: RemotingCommand,
) -> Result<i64, ClientError> {
    let addr = master(instance, queue).await?;
    let response = instance
        .invoke(&addr, request, instance.config.request_timeout)
        .await?;
    let response = check(&addr, response)?;
    response
        .ext("offset")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| ClientError::BadResponse {
            addr,
            source: HeaderError::Field("offset response without offset".into()),
        })
}

fn topic_queue(queue: &MessageQueue) -> TopicQueue {
    TopicQueue {
        topic: queue.topic.clone(),
        queue_id: queue.queue_id,
    }
}

/// GET_MAX_OFFSET: the offset the next message of the queue will get.
pub(crate) async fn max_offset(
    instance: &Arc<Instance>,
    queue: &MessageQueue,
) -> Result<i64, ClientError> {
    let request =
        RemotingCommand::request(RequestCode::GET_MAX_OFFSET).with_header(&topic_queue(queue));
    offset_request(instance, queue, request).await
}

/// GET_MIN_OFFSET.
pub(crate) async fn min_offset(
    instance: &Arc<Instance>,
    queue: &MessageQueue,
) -> Result<i64, ClientError> {
    let request =
        RemotingCommand::request(RequestCode::GET_MIN_OFFSET).with_header(&topic_queue(queue));
    offset_request(instance, queue, request).await
}

/// SEARCH_OFFSET_BY_TIMESTAMP.
pub(crate) async fn offset_by_time(
    instance: &Arc<Instance>,
    queue: &MessageQueue,
    timestamp: i64,
) -> Result<i64, ClientError> {
    let request = RemotingCommand::request(RequestCode::SEARCH_OFFSET_BY_TIMESTAMP).with_header(
        &SearchOffsetRequest {
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            timestamp,
            boundary_type: None,
        },
    );
    offset_request(instance, queue, request).await
}

/// What one turn of a queue's pull loop produced.
pub(crate) enum Step {
    /// Messages to hand on (the next pull offset has moved past them).
    Messages(Vec<MessageExt>),
    /// Nothing this turn (flow control, no new message, an error after its back-off).
    Nothing,
    /// The queue was dropped, the consumer stopped, or a seek made the pull stale.
    Stop,
}

/// One turn of a queue's pull loop, shared by push and lite pull consumers: flow
/// control, a long-polling pull from the queue's next offset, and the offset
/// bookkeeping of what came back.
pub(crate) async fn step(
    instance: &Arc<Instance>,
    config: &super::ConsumerConfig,
    offsets: &super::offsets::OffsetStore,
    pq: &super::process_queue::ProcessQueue,
    sub: &Subscription,
    stop: &tokio_util::sync::CancellationToken,
    commit: bool,
) -> Step {
    use std::sync::atomic::Ordering;
    if pq.dropped() || stop.is_cancelled() {
        return Step::Stop;
    }
    let (count, bytes) = pq.cached();
    if count > config.pull_threshold_for_queue || bytes > config.pull_threshold_size_for_queue {
        tokio::time::sleep(Duration::from_millis(50)).await;
        return Step::Nothing;
    }
    let generation = pq.generation.load(Ordering::Acquire);
    let offset = pq.next_offset.load(Ordering::Acquire);
    let args = PullArgs {
        group: &config.group,
        queue: &pq.queue,
        subscription: sub,
        offset,
        max_nums: config.pull_batch_size,
        commit_offset: if commit {
            offsets.in_memory(&pq.queue)
        } else {
            None
        },
        suspend: Some(config.broker_suspend),
    };
    let outcome = tokio::select! {
        _ = stop.cancelled() => return Step::Stop,
        r = pull(instance, args) => r,
    };
    if pq.dropped() {
        return Step::Stop;
    }
    if pq.generation.load(Ordering::Acquire) != generation {
        // A seek moved the queue while this pull was out: forget what it brought.
        return Step::Nothing;
    }
    match outcome {
        Ok(PullOutcome { found, next_begin }) => {
            pq.next_offset.store(next_begin, Ordering::Release);
            match found {
                Found::Messages(msgs) if !msgs.is_empty() => return Step::Messages(msgs),
                Found::OffsetIllegal => {
                    tracing::warn!(queue = ?pq.queue, offset, next_begin, "pull offset illegal; moving");
                    offsets.update(&pq.queue, next_begin, false);
                    let _ = offsets.persist(Some(std::slice::from_ref(&pq.queue))).await;
                }
                _ => {
                    if pq.cached().0 == 0 {
                        offsets.update(&pq.queue, next_begin, true);
                    }
                }
            }
        }
        Err(e) => {
            tracing::debug!(queue = ?pq.queue, error = %e, "pull failed");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    Step::Nothing
}
