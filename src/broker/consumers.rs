//! The broker's consumer-side requests (request family "offsets and membership"): consumer
//! offsets (QUERY_CONSUMER_OFFSET, UPDATE_CONSUMER_OFFSET), heartbeats and group membership
//! (HEART_BEAT, UNREGISTER_CLIENT, GET_CONSUMER_LIST_BY_GROUP), queue locks for orderly
//! consumers (LOCK_BATCH_MQ, UNLOCK_BATCH_MQ) and CHECK_CLIENT_CONFIG.

use super::pull::SubscriptionFilter;
use super::service::{ok, parse_failed, BrokerService};
use crate::actors::{client_manager, consumer_offsets, queue_locks, subscription_groups};
use crate::protocol::body::client::{
    ConsumerList, HeartbeatData, LockBatchRequest, LockBatchResponse,
};
use crate::protocol::header::broker::*;
use crate::protocol::{fastjson, HeaderError, RemotingCommand, ResponseCode};
use crate::remoting::reply::{error, json, Reply};
use crate::remoting::Connection;
use crate::store::QueueKey;

impl BrokerService {
    pub(super) async fn query_offset(&self, req: &RemotingCommand) -> Reply {
        let header: QueryConsumerOffsetRequest = req.header()?;
        let stored = self
            .parts()
            .offsets
            .send(consumer_offsets::Query {
                group: header.consumer_group.clone(),
                topic: header.topic.clone(),
                queue_id: header.queue_id,
            })
            .await?;
        let offset = match stored {
            Some(offset) if offset >= 0 => Some(offset),
            _ if header.set_zero_if_not_found == Some(false) => None,
            _ => {
                // As RocketMQ: a queue whose first message is still here starts at 0.
                let key = QueueKey::new(header.topic.clone(), header.queue_id);
                (self.parts().store.min_offset(&key) == 0).then_some(0)
            }
        };
        match offset {
            Some(offset) => Ok(ok().with_header(&OffsetResponse { offset })),
            None => error(
                ResponseCode::QUERY_NOT_FOUND,
                "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first",
            ),
        }
    }

    pub(super) fn update_offset(&self, req: &RemotingCommand) -> Reply {
        let header: UpdateConsumerOffsetRequest = req.header()?;
        self.parts().offsets.do_send(consumer_offsets::Commit {
            group: header.consumer_group,
            topic: header.topic,
            queue_id: header.queue_id,
            offset: header.commit_offset,
        });
        Ok(ok())
    }

    /// HEART_BEAT: answered once the client manager has applied it, as the Java broker
    /// does, so that the client's next pull already sees its subscription.
    pub(super) async fn heartbeat(&self, conn: &Connection, req: &RemotingCommand) -> Reply {
        let data: HeartbeatData = fastjson::from_slice(&req.body)
            .map_err(|e| HeaderError::Body(format!("heartbeat: {e}")))?;
        if self.parts().config.load().auto_create_subscription_group
            && !data.consumer_data_set.is_empty()
        {
            let groups = data.consumer_data_set.iter().map(|c| c.group_name.clone());
            self.parts()
                .subscription_groups
                .do_send(subscription_groups::Ensure(groups.collect()));
        }
        self.parts()
            .clients
            .send(client_manager::Heartbeat {
                conn: conn.clone(),
                data,
                language: req.language,
                version: req.version,
            })
            .await?;
        Ok(ok())
    }

    pub(super) fn unregister_client(&self, req: &RemotingCommand) -> Reply {
        let header: UnregisterClientRequest = req.header()?;
        self.parts().clients.do_send(client_manager::Unregister {
            client_id: header.client_id,
            producer_group: header.producer_group,
            consumer_group: header.consumer_group,
        });
        Ok(ok())
    }

    pub(super) async fn consumer_list(&self, req: &RemotingCommand) -> Reply {
        let header: ConsumerGroupRequest = req.header()?;
        let ids = self
            .parts()
            .clients
            .send(client_manager::ConsumerIds(header.consumer_group.clone()))
            .await?;
        if ids.is_empty() {
            return error(
                ResponseCode::SYSTEM_ERROR,
                format!("no consumer for this group, {}", header.consumer_group),
            );
        }
        Ok(ok().with_body(json(&ConsumerList {
            consumer_id_list: ids,
        })))
    }

    pub(super) async fn lock_batch(&self, req: &RemotingCommand) -> Reply {
        let body: LockBatchRequest = fastjson::from_slice(&req.body)
            .map_err(|e| HeaderError::Body(format!("lock batch: {e}")))?;
        let held = self
            .parts()
            .locks
            .send(queue_locks::Lock {
                group: body.consumer_group,
                client: body.client_id,
                queues: body.mq_set,
            })
            .await?;
        Ok(ok().with_body(json(&LockBatchResponse {
            lock_o_k_m_q_set: held,
        })))
    }

    pub(super) fn unlock_batch(&self, req: &RemotingCommand) -> Reply {
        let body: LockBatchRequest = fastjson::from_slice(&req.body)
            .map_err(|e| HeaderError::Body(format!("unlock batch: {e}")))?;
        self.parts().locks.do_send(queue_locks::Unlock {
            group: body.consumer_group,
            client: body.client_id,
            queues: body.mq_set,
        });
        Ok(ok())
    }

    pub(super) fn check_client_config(&self, req: &RemotingCommand) -> Reply {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Check {
            #[serde(default)]
            subscription_data: Option<crate::protocol::body::client::SubscriptionData>,
        }
        let check: Check = fastjson::from_slice(&req.body)
            .map_err(|e| HeaderError::Body(format!("check client config: {e}")))?;
        let Some(sub) = check.subscription_data else {
            return Ok(ok());
        };
        match SubscriptionFilter::compile(sub.expression_type.as_deref(), &sub.sub_string) {
            Err(e) => Ok(parse_failed(&e.to_string())),
            Ok(filter) if filter.is_sql() && !self.parts().config.load().enable_property_filter => {
                Ok(self.sql_refused())
            }
            Ok(_) => Ok(ok()),
        }
    }
}
