//! The broker's admin requests about queues, groups and clients (request family "inspect"):
//! GET_TOPIC_STATS_INFO, GET_TOPIC_CONFIG, GET_CONSUME_STATS, GET_CONSUMER_CONNECTION_LIST,
//! GET_PRODUCER_CONNECTION_LIST, QUERY_TOPIC_CONSUME_BY_WHO, QUERY_TOPICS_BY_CONSUMER,
//! offsets reset by time (INVOKE_BROKER_TO_RESET_OFFSET, which tells each consumer with
//! RESET_CONSUMER_CLIENT_OFFSET) and cloned (CLONE_GROUP_OFFSET), and the questions relayed
//! to a consumer (GET_CONSUMER_RUNNING_INFO, CONSUME_MESSAGE_DIRECTLY); a broker's consume
//! stats (GET_BROKER_CONSUME_STATS) and consume time spans (QUERY_CONSUME_TIME_SPAN). Answers follow the
//! Java broker's `AdminBrokerProcessor` and `Broker2Client`: the same bodies, codes and
//! remarks.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::pull;
use super::service::{ok, BrokerService};
use crate::actors::client_manager::{self, Member};
use crate::actors::consumer_offsets;
use crate::protocol::body::admin::*;
use crate::protocol::body::client::SubscriptionData;
use crate::protocol::body::TopicList;
use crate::protocol::fastjson::{queue_key, to_vec_object_keys};
use crate::protocol::header::admin::*;
use crate::protocol::header::broker::{ConsumerRunningInfoRequest, TopicRequest};
use crate::protocol::message::decode_offset_msg_id;
use crate::protocol::{LanguageCode, RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::reply::{error, json, Reply};
use crate::store::QueueKey;

/// How long a relayed question waits for the consumer (Java's `callConsumer`: 10 s).
const RELAY_TIMEOUT: Duration = Duration::from_secs(10);

fn connection(member: &Member) -> Connection {
    Connection {
        client_id: member.info.client_id.clone(),
        client_addr: member
            .conn
            .as_ref()
            .map(|c| c.peer.to_string())
            .unwrap_or_default(),
        language: member.info.language.clone(),
        version: member.info.version,
    }
}

impl BrokerService {
    fn broker_name(&self) -> String {
        self.parts().config.load().broker_name.clone()
    }

    /// GET_TOPIC_STATS_INFO: every queue's min and max offsets and the store time of its
    /// last message.
    pub(super) fn topic_stats(&self, req: &RemotingCommand) -> Reply {
        let header: TopicRequest = req.header()?;
        let Some(topic) = self.topic(&header.topic) else {
            return error(
                ResponseCode::TOPIC_NOT_EXIST,
                format!("topic[{}] not exist", header.topic),
            );
        };
        let store = &self.parts().store;
        let broker = self.broker_name();
        let mut table = TopicStatsTable::default();
        for queue_id in 0..topic.write_queue_nums.max(topic.read_queue_nums) {
            let key = QueueKey::new(header.topic.clone(), queue_id);
            let max = store.max_offset(&key);
            let last_update_timestamp = match max {
                0 => 0,
                max => pull::store_time_at(store, &key, max - 1).unwrap_or(0),
            };
            table.offset_table.insert(
                queue_key(&broker, queue_id, &header.topic),
                TopicOffset {
                    min_offset: store.min_offset(&key) as i64,
                    max_offset: max as i64,
                    last_update_timestamp,
                },
            );
        }
        Ok(ok().with_body(to_vec_object_keys(&table)))
    }

    /// GET_TOPIC_CONFIG (5.x): the topic's config (`TopicConfigAndQueueMapping`, without a
    /// mapping: Apogee has no static topics).
    pub(super) fn topic_config(&self, req: &RemotingCommand) -> Reply {
        let header: TopicRequest = req.header()?;
        match self.topic(&header.topic) {
            Some(config) => Ok(ok().with_body(json(&config))),
            None => error(
                ResponseCode::TOPIC_NOT_EXIST,
                format!("No topic in this broker. topic: {}", header.topic),
            ),
        }
    }

    /// GET_CONSUME_STATS: for each topic of the group, each readable queue's max offset,
    /// the group's committed offset and the store time of the last message consumed.
    pub(super) async fn consume_stats(&self, req: &RemotingCommand) -> Reply {
        let header: ConsumeStatsRequest = req.header()?;
        let group = &header.consumer_group;
        let committed = self
            .parts()
            .offsets
            .send(consumer_offsets::OffsetsOf(group.clone()))
            .await?;
        let listed: Vec<String> = header
            .topic_list
            .as_deref()
            .unwrap_or_default()
            .split([';', ','])
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        let topics: BTreeSet<String> = if !listed.is_empty() {
            listed.into_iter().collect()
        } else {
            let wanted: BTreeSet<String> = match header.topic.as_deref().filter(|t| !t.is_empty()) {
                Some(topic) => BTreeSet::from([topic.to_owned()]),
                None => committed.keys().cloned().collect(),
            };
            // As the Java broker: with an online group, only the topics it subscribes to.
            let subscribed = self.subscribed_topics(group).await?;
            wanted
                .into_iter()
                .filter(|t| subscribed.is_empty() || subscribed.contains(t))
                .collect()
        };
        let mut stats = ConsumeStats::default();
        for topic in topics {
            let Some(config) = self.topic(&topic) else {
                continue;
            };
            self.queue_offsets(
                &mut stats,
                &topic,
                config.read_queue_nums,
                committed.get(&topic),
            );
        }
        Ok(ok().with_body(to_vec_object_keys(&stats)))
    }

    /// Each queue's max offset, the group's committed offset (`offsets`) and the store time
    /// of the last message consumed, into `stats`.
    fn queue_offsets(
        &self,
        stats: &mut ConsumeStats,
        topic: &str,
        queues: i32,
        offsets: Option<&BTreeMap<i32, i64>>,
    ) {
        let store = &self.parts().store;
        let broker = self.broker_name();
        for queue_id in 0..queues {
            let key = QueueKey::new(topic.to_owned(), queue_id);
            let consumer_offset = offsets
                .and_then(|o| o.get(&queue_id))
                .copied()
                .unwrap_or(0)
                .max(0);
            let last_timestamp = match consumer_offset {
                0 => 0,
                c => pull::store_time_at(store, &key, (c - 1) as u64).unwrap_or(0),
            };
            stats.offset_table.insert(
                queue_key(&broker, queue_id, topic),
                OffsetWrapper {
                    broker_offset: store.max_offset(&key) as i64,
                    consumer_offset,
                    pull_offset: consumer_offset,
                    last_timestamp,
                },
            );
        }
    }

    /// The subscription groups' names, as last published.
    pub(super) fn group_names(&self) -> Vec<String> {
        self.parts()
            .subscription_group_view
            .borrow()
            .subscription_group_table
            .keys()
            .cloned()
            .collect()
    }

    /// GET_BROKER_CONSUME_STATS (mqadmin brokerConsumeStats): every subscription group's
    /// consume stats, one per topic it committed offsets of (only ordered topics with
    /// `isOrder`), and the total lag.
    pub(super) async fn broker_consume_stats(&self, req: &RemotingCommand) -> Reply {
        let only_ordered = req.ext("isOrder") == Some("true");
        let groups = self.group_names();
        let mut list = Vec::new();
        let mut total_diff = 0;
        for group in groups {
            let committed = self
                .parts()
                .offsets
                .send(consumer_offsets::OffsetsOf(group.clone()))
                .await?;
            let subscribed = self.subscribed_topics(&group).await?;
            let mut per_topic = Vec::new();
            for (topic, offsets) in &committed {
                let Some(config) = self.topic(topic) else {
                    continue;
                };
                if (only_ordered && !config.order)
                    || (!subscribed.is_empty() && !subscribed.contains(topic))
                {
                    continue;
                }
                let mut stats = ConsumeStats::default();
                self.queue_offsets(&mut stats, topic, config.write_queue_nums, Some(offsets));
                total_diff += stats.total_diff();
                per_topic.push(stats);
            }
            list.push(BTreeMap::from([(group, per_topic)]));
        }
        let body = ConsumeStatsList {
            broker_addr: self.parts().store_host.to_string(),
            consume_stats_list: list,
            total_diff,
            total_inflight_diff: 0,
        };
        Ok(ok().with_body(to_vec_object_keys(&body)))
    }

    /// QUERY_CONSUME_TIME_SPAN: per queue, the store times of the first and last messages
    /// and of the last one the group consumed, and how long the next one has waited.
    pub(super) async fn consume_time_span(&self, req: &RemotingCommand) -> Reply {
        let ConsumeTimeSpanRequest { topic, group } = req.header()?;
        let Some(config) = self.topic(&topic) else {
            return error(
                ResponseCode::TOPIC_NOT_EXIST,
                format!("topic[{topic}] not exist"),
            );
        };
        let committed = self
            .parts()
            .offsets
            .send(consumer_offsets::OffsetsOf(group))
            .await?
            .remove(&topic)
            .unwrap_or_default();
        let store = &self.parts().store;
        let broker = self.broker_name();
        let now = crate::util::now_ms();
        let spans: Vec<serde_json::Value> = (0..config.write_queue_nums)
            .map(|queue_id| {
                let key = QueueKey::new(topic.clone(), queue_id);
                let (min, max) = (store.min_offset(&key), store.max_offset(&key));
                let time_at = |o: u64| pull::store_time_at(store, &key, o).unwrap_or(0);
                let min_time = time_at(min);
                let max_time = if max > 0 { time_at(max - 1) } else { 0 };
                let consumer = committed.get(&queue_id).copied().unwrap_or(0).max(0) as u64;
                let consumed_time = if consumer > 0 {
                    time_at(consumer - 1)
                } else {
                    min_time
                };
                let delay = if consumer < max {
                    now - time_at(consumer)
                } else {
                    0
                };
                serde_json::json!({
                    "messageQueue": {"brokerName": broker, "queueId": queue_id, "topic": topic},
                    "minTimeStamp": min_time, "maxTimeStamp": max_time,
                    "consumeTimeStamp": consumed_time, "delayTime": delay,
                })
            })
            .collect();
        Ok(ok().with_body(json(&serde_json::json!({ "consumeTimeSpanSet": spans }))))
    }

    /// The topics an online group subscribes to (empty when no member is online).
    async fn subscribed_topics(
        &self,
        group: &str,
    ) -> Result<BTreeSet<String>, actix::MailboxError> {
        let members = self
            .parts()
            .clients
            .send(client_manager::GroupMembers(group.to_owned()))
            .await?;
        Ok(members
            .map(|(info, _)| info.subscriptions.into_iter().map(|s| s.topic).collect())
            .unwrap_or_default())
    }

    /// GET_CONSUMER_CONNECTION_LIST.
    pub(super) async fn consumer_connections(&self, req: &RemotingCommand) -> Reply {
        let group = req
            .ext("consumerGroup")
            .ok_or(crate::protocol::HeaderError::NoExtFields("consumerGroup"))?
            .to_owned();
        let Some((info, members)) = self
            .parts()
            .clients
            .send(client_manager::GroupMembers(group.clone()))
            .await?
        else {
            return error(
                ResponseCode::CONSUMER_NOT_ONLINE,
                format!("the consumer group[{group}] not online"),
            );
        };
        let body = ConsumerConnection {
            connection_set: members.iter().map(connection).collect(),
            subscription_table: info
                .subscriptions
                .into_iter()
                .map(|s: SubscriptionData| (s.topic.clone(), s))
                .collect(),
            consume_type: info.consume_type,
            message_model: info.message_model,
            consume_from_where: info.consume_from_where,
        };
        Ok(ok().with_body(json(&body)))
    }

    /// GET_PRODUCER_CONNECTION_LIST.
    pub(super) async fn producer_connections(&self, req: &RemotingCommand) -> Reply {
        let header: ProducerGroupRequest = req.header()?;
        let Some(members) = self
            .parts()
            .clients
            .send(client_manager::ProducerMembers(
                header.producer_group.clone(),
            ))
            .await?
        else {
            return error(
                ResponseCode::SYSTEM_ERROR,
                format!("the producer group[{}] not exist", header.producer_group),
            );
        };
        let body = ProducerConnection {
            connection_set: members.iter().map(connection).collect(),
        };
        Ok(ok().with_body(json(&body)))
    }

    /// QUERY_TOPIC_CONSUME_BY_WHO: the groups online that subscribe to the topic and the
    /// groups that committed offsets of it.
    pub(super) async fn consume_by_who(&self, req: &RemotingCommand) -> Reply {
        let header: TopicRequest = req.header()?;
        let p = self.parts();
        let mut groups = p
            .clients
            .send(client_manager::TopicGroups(header.topic.clone()))
            .await?;
        groups.extend(
            p.offsets
                .send(consumer_offsets::GroupsOf(header.topic))
                .await?,
        );
        Ok(ok().with_body(json(&GroupList { group_list: groups })))
    }

    /// QUERY_TOPICS_BY_CONSUMER: the topics the group committed offsets of.
    pub(super) async fn topics_by_consumer(&self, req: &RemotingCommand) -> Reply {
        let header: GroupRequest = req.header()?;
        let committed = self
            .parts()
            .offsets
            .send(consumer_offsets::OffsetsOf(header.group))
            .await?;
        let body = TopicList {
            broker_addr: Some(self.parts().store_host.to_string()),
            topic_list: committed.into_keys().collect(),
        };
        Ok(ok().with_body(json(&body)))
    }

    /// INVOKE_BROKER_TO_RESET_OFFSET, as the 5.x Java broker does it by default
    /// (`useServerSideResetOffset`): each queue's offset at the time (the end of the queue
    /// for a negative time; with a queue id, that queue only, at `offset` if given) is
    /// committed for the group here, whether its consumers are online or not, and answered
    /// as a `ResetOffsetBody`. Online members are also told with RESET_CONSUMER_CLIENT_OFFSET,
    /// as the 4.x broker does (its consumers drop what they hold and go on from there), so
    /// that they do not commit their old offsets over the new ones.
    pub(super) async fn reset_offset(&self, req: &RemotingCommand) -> Reply {
        let header: ResetOffsetRequest = req.header()?;
        let p = self.parts();
        if p.config.load().role == super::config::BrokerRole::Slave {
            return error(
                ResponseCode::SYSTEM_ERROR,
                "Can not reset offset in slave broker",
            );
        }
        let Some(topic) = self.topic(&header.topic) else {
            return error(
                ResponseCode::TOPIC_NOT_EXIST,
                format!("Topic {} does not exist", header.topic),
            );
        };
        let known = p
            .subscription_group_view
            .borrow()
            .subscription_group_table
            .contains_key(&header.group);
        if !known {
            return error(
                ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
                format!("Group {} does not exist", header.group),
            );
        }
        let queue_offset = |queue_id: i32| -> i64 {
            let key = QueueKey::new(header.topic.clone(), queue_id);
            if header.timestamp < 0 {
                p.store.max_offset(&key) as i64
            } else {
                pull::search_by_time(&p.store, &key, header.timestamp, false).max(0)
            }
        };
        let mut offsets = BTreeMap::new();
        match header.queue_id.filter(|q| *q >= 0) {
            Some(queue_id) => {
                let offset = match header.offset.filter(|o| *o != -1) {
                    Some(offset) => {
                        let key = QueueKey::new(header.topic.clone(), queue_id);
                        let (min, max) = (
                            p.store.min_offset(&key) as i64,
                            p.store.max_offset(&key) as i64,
                        );
                        if offset < min || offset > max + 1 {
                            return error(
                                ResponseCode::SYSTEM_ERROR,
                                format!("Target offset {offset} not in consume queue range [{min}-{max}]"),
                            );
                        }
                        offset
                    }
                    None => queue_offset(queue_id),
                };
                offsets.insert(queue_id, offset);
            }
            None => {
                for queue_id in 0..topic.read_queue_nums {
                    offsets.insert(queue_id, queue_offset(queue_id));
                }
            }
        }
        if offsets.is_empty() {
            return error(ResponseCode::SYSTEM_ERROR, "No queues to reset.");
        }
        let broker = self.broker_name();
        let body = ResetOffsetBody {
            offset_table: offsets
                .iter()
                .map(|(q, o)| (queue_key(&broker, *q, &header.topic), *o))
                .collect(),
        };
        p.offsets
            .send(consumer_offsets::Reset {
                group: header.group.clone(),
                topic: header.topic.clone(),
                offsets,
            })
            .await?;
        let encoded = to_vec_object_keys(&body);
        let members = p
            .clients
            .send(client_manager::GroupMembers(header.group.clone()))
            .await?
            .map(|(_, members)| members)
            .unwrap_or_default();
        let notice = ResetOffsetRequest {
            topic: header.topic.clone(),
            group: header.group.clone(),
            timestamp: header.timestamp,
            is_force: header.is_force,
            queue_id: None,
            offset: None,
        };
        for member in &members {
            let Some(conn) = &member.conn else { continue };
            let mut request = RemotingCommand::request(RequestCode::RESET_CONSUMER_CLIENT_OFFSET)
                .with_header(&notice)
                .with_body(encoded.clone())
                .with_opaque(crate::remoting::server::next_opaque())
                .oneway();
            request.language = LanguageCode::JAVA;
            conn.try_send(request);
        }
        tracing::info!(topic = %header.topic, group = %header.group, consumers = members.len(), "[reset-offset] offsets reset");
        Ok(ok().with_body(encoded))
    }

    /// CLONE_GROUP_OFFSET: the source group's offsets (of one topic, or all it has) become
    /// the destination group's. Online, topics the source does not subscribe to are left.
    pub(super) async fn clone_offsets(&self, req: &RemotingCommand) -> Reply {
        let header: CloneGroupOffsetRequest = req.header()?;
        let p = self.parts();
        let committed = p
            .offsets
            .send(consumer_offsets::OffsetsOf(header.src_group.clone()))
            .await?;
        let subscribed = if header.offline {
            BTreeSet::new()
        } else {
            self.subscribed_topics(&header.src_group).await?
        };
        for (topic, offsets) in committed {
            if header
                .topic
                .as_deref()
                .is_some_and(|t| !t.is_empty() && t != topic)
                || self.topic(&topic).is_none()
                || (!subscribed.is_empty() && !subscribed.contains(&topic))
            {
                continue;
            }
            p.offsets
                .send(consumer_offsets::Reset {
                    group: header.dest_group.clone(),
                    topic,
                    offsets,
                })
                .await?;
        }
        Ok(ok())
    }

    /// GET_CONSUMER_RUNNING_INFO and CONSUME_MESSAGE_DIRECTLY, relayed to the consumer
    /// named by `consumerGroup` and `clientId`; its answer is the answer.
    pub(super) async fn relay_to_consumer(&self, req: &RemotingCommand) -> Reply {
        let code = req.request_code();
        let (group, client_id) = if code == RequestCode::CONSUME_MESSAGE_DIRECTLY {
            let h: ConsumeMessageDirectlyRequest = req.header()?;
            (h.consumer_group, h.client_id)
        } else {
            let h: ConsumerRunningInfoRequest = req.header()?;
            (h.consumer_group, h.client_id)
        };
        let member = self
            .parts()
            .clients
            .send(client_manager::GroupMembers(group.clone()))
            .await?
            .and_then(|(_, members)| members.into_iter().find(|m| m.info.client_id == client_id))
            .and_then(|m| m.conn);
        let Some(conn) = member else {
            return error(
                ResponseCode::SYSTEM_ERROR,
                format!("The Consumer <{group}> <{client_id}> not online"),
            );
        };
        let mut relayed = RemotingCommand::request(code);
        relayed.ext_fields = req.ext_fields.clone();
        relayed.language = LanguageCode::JAVA;
        relayed.body = req.body.clone();
        if code == RequestCode::CONSUME_MESSAGE_DIRECTLY {
            let fields = relayed.ext_fields.get_or_insert_with(Default::default);
            fields.insert("brokerName", &self.broker_name());
            let msg_id = req.ext("msgId").unwrap_or_default();
            let store = &self.parts().store;
            let message = decode_offset_msg_id(msg_id).and_then(|(_, phy)| {
                store
                    .with_record(phy, |r| r.size)
                    .and_then(|size| store.read(phy, size))
            });
            match message {
                Some(bytes) => relayed.body = bytes,
                None => {
                    return error(
                        ResponseCode::SYSTEM_ERROR,
                        format!("can not find message by the id, {msg_id}"),
                    )
                }
            }
        }
        match conn.request(relayed, RELAY_TIMEOUT).await {
            Ok(response) => Ok(response),
            Err(crate::remoting::server::PeerRequestError::Timeout(_)) => error(
                ResponseCode::CONSUME_MSG_TIMEOUT,
                format!(
                    "consumer <{group}> <{client_id}> Timeout: no answer within {RELAY_TIMEOUT:?}"
                ),
            ),
            Err(e) => error(
                ResponseCode::SYSTEM_ERROR,
                format!("invoke consumer <{group}> <{client_id}> Exception: {e}"),
            ),
        }
    }
}
