//! Which queues of a topic this consumer should own now (RocketMQ's
//! `RebalanceImpl.rebalanceByTopic`), and the broker queue locks of orderly consumers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::MessageModel;
use crate::client::error::ClientError;
use crate::client::instance::{check, Instance};
use crate::protocol::body::client::{LockBatchRequest, LockBatchResponse, MessageQueue};
use crate::protocol::body::perm;
use crate::protocol::{fastjson, HeaderError, RemotingCommand, RequestCode};
use crate::rebalance::AllocateStrategy;

/// The readable queues of `topic`, from its route.
pub(crate) async fn subscribe_queues(
    instance: &Arc<Instance>,
    topic: &str,
) -> Result<Vec<MessageQueue>, ClientError> {
    let route = match instance.route(topic).await {
        Ok(r) => r,
        Err(_) => instance.update_route(topic).await?,
    };
    let mut out = Vec::new();
    for q in route.queue_datas.iter().filter(|q| perm::readable(q.perm)) {
        for id in 0..q.read_queue_nums {
            out.push(MessageQueue {
                broker_name: q.broker_name.clone(),
                queue_id: id,
                topic: topic.to_owned(),
            });
        }
    }
    out.sort();
    Ok(out)
}

/// The queues this client should own: all of them when broadcasting, its share by
/// `strategy` among the group's consumers when clustering.
pub(crate) async fn allocate(
    instance: &Arc<Instance>,
    group: &str,
    model: MessageModel,
    strategy: &dyn AllocateStrategy,
    topic: &str,
) -> Result<Vec<MessageQueue>, ClientError> {
    let all = subscribe_queues(instance, topic).await?;
    if model == MessageModel::Broadcasting || all.is_empty() {
        return Ok(all);
    }
    // Any broker of the topic knows the group's consumers (they heartbeat to all).
    let brokers: BTreeSet<&str> = all.iter().map(|q| q.broker_name.as_str()).collect();
    let mut last = ClientError::NoRoute(topic.to_owned());
    for broker in brokers {
        let Some(addr) = instance.master_addr(broker) else {
            continue;
        };
        match instance.consumer_ids(&addr, group).await {
            // No consumer list yet (our heartbeat has not arrived): keep what we have,
            // as RocketMQ does when the list is empty.
            Ok(ids) if ids.is_empty() => {
                last = ClientError::InvalidMessage(format!("no consumer of {group} listed yet"));
            }
            Ok(ids) => {
                return Ok(strategy.allocate(group, &instance.client_id, &all, &ids));
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// LOCK_BATCH_MQ (or UNLOCK_BATCH_MQ) for `queues`, per broker; returns the queues now
/// locked by us.
pub(crate) async fn lock_queues(
    instance: &Arc<Instance>,
    group: &str,
    queues: &[MessageQueue],
    unlock: bool,
) -> BTreeSet<MessageQueue> {
    let mut by_broker: BTreeMap<&str, BTreeSet<MessageQueue>> = BTreeMap::new();
    for q in queues {
        by_broker
            .entry(q.broker_name.as_str())
            .or_default()
            .insert(q.clone());
    }
    let mut locked = BTreeSet::new();
    for (broker, mq_set) in by_broker {
        let Some(addr) = instance.master_addr(broker) else {
            continue;
        };
        let body = LockBatchRequest {
            consumer_group: group.to_owned(),
            client_id: instance.client_id.clone(),
            only_this_broker: false,
            mq_set,
        };
        let code = if unlock {
            RequestCode::UNLOCK_BATCH_MQ
        } else {
            RequestCode::LOCK_BATCH_MQ
        };
        let request =
            RemotingCommand::request(code).with_body(serde_json::to_vec(&body).unwrap_or_default());
        let result = async {
            let response = instance
                .invoke(&addr, request, instance.config.request_timeout)
                .await?;
            let response = check(&addr, response)?;
            if unlock {
                return Ok(BTreeSet::new());
            }
            fastjson::from_slice::<LockBatchResponse>(&response.body)
                .map(|r| r.lock_o_k_m_q_set)
                .map_err(|e| ClientError::BadResponse {
                    addr: addr.clone(),
                    source: HeaderError::Body(e.to_string()),
                })
        }
        .await;
        match result {
            Ok(set) => locked.extend(set),
            Err(e) => tracing::debug!(%broker, error = %e, unlock, "queue lock request failed"),
        }
    }
    locked
}
