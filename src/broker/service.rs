//! The broker's request service: decodes each request, consults the snapshots (topics,
//! subscriptions) or asks the actors, and builds the response. Holds no state of its own
//! but the routing table of queue writers.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use bytes::Bytes;

use super::metrics::MessageType;
use super::pull::{MessageFilter, SubscriptionFilter};
use super::refusals::{append_failure, store_error, writes_messages};
use super::retry;
use super::transaction;
use super::writers::Writers;
use super::BrokerConfig;
use crate::actors::client_manager::{self, ClientManager, SubscriptionView};
use crate::actors::consumer_offsets::ConsumerOffsets;
use crate::actors::long_poll::LongPoll;
use crate::actors::queue_locks::QueueLocks;
use crate::actors::queue_writer::OwnedMessage;
use crate::actors::subscription_groups::SubscriptionGroupConfigs;
use crate::actors::topic_config::{self, TopicConfigs, TopicView};
use crate::protocol::body::register::{perm, TopicConfig};
use crate::protocol::header::broker::*;
use crate::protocol::message::{self, offset_msg_id};
use crate::protocol::{properties, HeaderError, RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::reply::{error, respond, Failure, Reply};
use crate::remoting::{Connection, LocalFuture, Service};
use crate::store::{QueueKey, Store, StoreError};

/// Longest a pull may be held, whatever the client asks (its own timeout is 30 s).
pub(super) const MAX_SUSPEND: Duration = Duration::from_secs(25);

pub(super) fn ok() -> RemotingCommand {
    RemotingCommand::response(ResponseCode::SUCCESS)
}

/// Everything the service talks to.
pub struct Parts {
    /// The settings; UPDATE_BROKER_CONFIG swaps in changed ones.
    pub config: Arc<arc_swap::ArcSwap<BrokerConfig>>,
    /// Messages put and got (GET_BROKER_RUNTIME_INFO).
    pub stats: Arc<super::stats::BrokerStats>,
    /// The Prometheus metrics (the console's `/metrics`).
    pub metrics: Arc<super::metrics::Metrics>,
    /// Timer messages: the settings, and the wheel's cursor (published by its actor).
    pub timer: super::timer::TimerSettings,
    pub timer_cursor: crate::actors::timer_wheel::Cursor,
    /// The timer wheel (RECALL_MESSAGE), when timers are on.
    pub timers: Option<Addr<crate::actors::timer_wheel::TimerWheel>>,
    /// Counts the updates of `config` (GET_BROKER_CONFIG's data version).
    pub config_version: std::sync::atomic::AtomicU64,
    pub store: Arc<Store>,
    pub store_host: SocketAddr,
    pub topics: TopicView,
    pub topic_actor: Addr<TopicConfigs>,
    pub subscription_groups: Addr<SubscriptionGroupConfigs>,
    /// The subscription groups' settings, as last published.
    pub subscription_group_view: crate::actors::subscription_groups::SubscriptionGroupView,
    /// Decides halves once; checks back the undecided.
    pub txn_checker: Addr<crate::actors::txn_checker::TxnChecker>,
    pub subscriptions: SubscriptionView,
    pub clients: Addr<ClientManager>,
    pub offsets: Addr<ConsumerOffsets>,
    pub long_poll: Addr<LongPoll>,
    pub locks: Addr<QueueLocks>,
    pub writers: Rc<Writers>,
    /// SYNC_FLUSH sends waiting for their group commit.
    pub sync_waits: Rc<super::sync_waits::SyncWaits>,
    /// SYNC_MASTER sends waiting for a slave (`None` unless SYNC_MASTER).
    pub replica_waits: Option<Rc<super::ha_waits::ReplicaWaits>>,
    /// A master's slaves (GET_BROKER_HA_STATUS).
    pub ha_service: Option<Addr<crate::actors::ha_service::HaService>>,
    /// A slave's link to its master.
    pub ha_client: Option<Addr<crate::actors::ha_client::HaClient>>,
    /// Controller mode: the master terms of the log (GET_BROKER_EPOCH_CACHE, HA links).
    pub epochs: Option<Arc<std::sync::Mutex<crate::store::epoch::EpochFile>>>,
    /// Questions to consumers whose pulls are ahead of their heartbeats.
    pub refresh: super::refresh::SubscriptionRefresh,
    /// Compiled expressions of pull headers, by (type, expression).
    pub filter_cache:
        std::cell::RefCell<std::collections::HashMap<(String, String), Arc<SubscriptionFilter>>>,
}

/// The broker's [`Service`]: cheap to clone (one `Rc`).
#[derive(Clone)]
pub struct BrokerService {
    parts: Rc<Parts>,
}

impl BrokerService {
    pub fn new(parts: Parts) -> Self {
        Self {
            parts: Rc::new(parts),
        }
    }

    pub fn parts(&self) -> &Parts {
        &self.parts
    }

    /// Handles one request (the server fills opaque, flags and version).
    pub async fn handle(&self, conn: &Connection, req: RemotingCommand) -> RemotingCommand {
        let (started, code, oneway) = (std::time::Instant::now(), req.code, req.is_oneway());
        let (response, held) = super::metrics::watch_hold(self.dispatch(conn, req)).await;
        self.parts
            .metrics
            .rpc(code, response.code, held, oneway, started.elapsed());
        response
    }

    async fn dispatch(&self, conn: &Connection, req: RemotingCommand) -> RemotingCommand {
        let fenced = || {
            self.parts
                .config
                .load()
                .assigned
                .as_ref()
                .is_some_and(|a| !a.may_write())
        };
        if writes_messages(req.request_code()) && (self.parts.store.is_read_only() || fenced()) {
            // A slave refuses writes before reading them, as RocketMQ 5's broker does.
            return RemotingCommand::error(
                ResponseCode::SYSTEM_BUSY,
                "[REJECTREQUEST]system busy, start flow control for a while",
            );
        }
        let result = match req.request_code() {
            RequestCode::SEND_MESSAGE
            | RequestCode::SEND_MESSAGE_V2
            | RequestCode::SEND_BATCH_MESSAGE => self.send(conn, &req).await,
            RequestCode::SEND_REPLY_MESSAGE | RequestCode::SEND_REPLY_MESSAGE_V2 => {
                self.send_reply(conn, &req).await
            }
            RequestCode::PULL_MESSAGE | RequestCode::LITE_PULL_MESSAGE => {
                self.pull(conn, &req).await
            }
            RequestCode::QUERY_CONSUMER_OFFSET => self.query_offset(&req).await,
            RequestCode::UPDATE_CONSUMER_OFFSET => self.update_offset(&req),
            RequestCode::HEART_BEAT => self.heartbeat(conn, &req).await,
            RequestCode::UNREGISTER_CLIENT => self.unregister_client(&req),
            RequestCode::GET_CONSUMER_LIST_BY_GROUP => self.consumer_list(&req).await,
            RequestCode::GET_MAX_OFFSET => self.max_offset(&req),
            RequestCode::GET_MIN_OFFSET => self.min_offset(&req),
            RequestCode::GET_EARLIEST_MSG_STORETIME => self.earliest_time(&req),
            RequestCode::SEARCH_OFFSET_BY_TIMESTAMP => self.search_offset(&req),
            RequestCode::QUERY_MESSAGE => self.query_message(&req),
            RequestCode::VIEW_MESSAGE_BY_ID => self.view_message(&req),
            RequestCode::UPDATE_AND_CREATE_TOPIC => self.create_topic(&req).await,
            RequestCode::DELETE_TOPIC_IN_BROKER => self.delete_topic(&req).await,
            RequestCode::GET_ALL_TOPIC_CONFIG => self.all_topics(),
            RequestCode::GET_ALL_CONSUMER_OFFSET => self.all_consumer_offsets().await,
            RequestCode::GET_ALL_DELAY_OFFSET => self.all_delay_offsets(),
            RequestCode::GET_BROKER_HA_STATUS => self.ha_status().await,
            RequestCode::GET_BROKER_EPOCH_CACHE => self.epoch_cache(),
            RequestCode::NOTIFY_BROKER_ROLE_CHANGED => self.role_changed(&req),
            RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG => self.all_subscription_groups(),
            RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP => {
                self.update_subscription_group(&req).await
            }
            RequestCode::DELETE_SUBSCRIPTIONGROUP => self.delete_subscription_group(&req).await,
            RequestCode::GET_BROKER_RUNTIME_INFO => self.runtime_info(),
            RequestCode::CHECK_CLIENT_CONFIG => self.check_client_config(&req),
            RequestCode::CONSUMER_SEND_MSG_BACK => self.send_back(&req).await,
            RequestCode::LOCK_BATCH_MQ => self.lock_batch(&req).await,
            RequestCode::END_TRANSACTION => self.end_transaction(&req).await,
            RequestCode::UNLOCK_BATCH_MQ => self.unlock_batch(&req),
            RequestCode::GET_TOPIC_STATS_INFO => self.topic_stats(&req),
            RequestCode::GET_TOPIC_CONFIG => self.topic_config(&req),
            RequestCode::GET_CONSUME_STATS => self.consume_stats(&req).await,
            RequestCode::GET_BROKER_CONSUME_STATS => self.broker_consume_stats(&req).await,
            RequestCode::QUERY_CONSUME_TIME_SPAN => self.consume_time_span(&req).await,
            RequestCode::GET_CONSUMER_CONNECTION_LIST => self.consumer_connections(&req).await,
            RequestCode::GET_PRODUCER_CONNECTION_LIST => self.producer_connections(&req).await,
            RequestCode::QUERY_TOPIC_CONSUME_BY_WHO => self.consume_by_who(&req).await,
            RequestCode::QUERY_TOPICS_BY_CONSUMER => self.topics_by_consumer(&req).await,
            RequestCode::INVOKE_BROKER_TO_RESET_OFFSET => self.reset_offset(&req).await,
            RequestCode::CLONE_GROUP_OFFSET => self.clone_offsets(&req).await,
            RequestCode::GET_CONSUMER_RUNNING_INFO | RequestCode::CONSUME_MESSAGE_DIRECTLY => {
                self.relay_to_consumer(&req).await
            }
            RequestCode::GET_BROKER_CONFIG => self.broker_config(),
            RequestCode::UPDATE_BROKER_CONFIG => self.update_broker_config(&req),
            RequestCode::GET_SYSTEM_TOPIC_LIST_FROM_BROKER => self.system_topics(),
            RequestCode::RECALL_MESSAGE => self.recall(&req).await,
            _ => error(
                ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
                format!(" request type {} not supported", req.code),
            ),
        };
        respond(result)
    }

    pub(super) fn topic(&self, name: &str) -> Option<TopicConfig> {
        self.parts.topics.borrow().table.get(name).cloned()
    }

    /// The checks of a send (SEND_MESSAGE and SEND_REPLY_MESSAGE alike, Java's `msgCheck`):
    /// topic name, permission, properties length, the topic (auto-created where allowed),
    /// the queue id. The queue to write, or the response that refuses the send.
    pub(super) async fn send_target(
        &self,
        header: &SendRequest,
    ) -> Result<Result<i32, RemotingCommand>, Failure> {
        fn refuse(
            code: ResponseCode,
            remark: impl Into<String>,
        ) -> Result<Result<i32, RemotingCommand>, Failure> {
            Ok(Err(RemotingCommand::error(code, remark)))
        }
        let p = &self.parts;
        if let Some(why) = topic_config::invalid_topic_name(&header.topic) {
            return refuse(ResponseCode::INVALID_PARAMETER, why);
        }
        if topic_config::is_not_allowed_send_topic(&header.topic) {
            return refuse(
                ResponseCode::NO_PERMISSION,
                format!("Sending message to topic[{}] is forbidden.", header.topic),
            );
        }
        if header.properties.len() > message::MAX_PROPERTIES_LEN {
            return refuse(
                ResponseCode::MESSAGE_ILLEGAL,
                "message properties are longer than 32767 bytes",
            );
        }
        let topic = match self.topic(&header.topic) {
            Some(topic) => topic,
            None if p.config.load().auto_create_topic_enable
                || header.topic.starts_with(topic_config::RETRY_PREFIX) =>
            {
                let created = p
                    .topic_actor
                    .send(topic_config::AutoCreate {
                        topic: header.topic.clone(),
                        default_topic: header.default_topic.clone(),
                        queue_nums: header.default_topic_queue_nums,
                        topic_sys_flag: 0,
                    })
                    .await?;
                match created {
                    Ok(topic) => topic,
                    Err((code, remark)) => return refuse(code, remark),
                }
            }
            None => {
                return refuse(
                    ResponseCode::TOPIC_NOT_EXIST,
                    format!("topic[{}] not exist, apply first please!", header.topic),
                )
            }
        };
        if !perm::writeable(topic.perm) {
            return refuse(
                ResponseCode::NO_PERMISSION,
                format!("the topic[{}] sending message is forbidden", header.topic),
            );
        }
        let valid = topic.write_queue_nums.max(topic.read_queue_nums);
        if header.queue_id >= valid {
            return refuse(
                ResponseCode::INVALID_PARAMETER,
                format!(
                    "request queueId[{}] is illegal, topic {} has {valid} queues",
                    header.queue_id, header.topic
                ),
            );
        }
        let queue_id = if header.queue_id < 0 {
            (rand_u32() % topic.write_queue_nums.max(1) as u32) as i32
        } else {
            header.queue_id
        };
        Ok(Ok(queue_id))
    }

    async fn send(&self, conn: &Connection, req: &RemotingCommand) -> Reply {
        let ext = req
            .ext_fields
            .as_ref()
            .ok_or(HeaderError::NoExtFields("topic"))?;
        let header = SendRequest::from_ext(ext)?;
        let p = &self.parts;
        let queue_id = match self.send_target(&header).await? {
            Ok(queue_id) => queue_id,
            Err(refused) => return Ok(refused),
        };
        let max = p.store.config().max_message_size;
        // Every message carries its broker's cluster (`CLUSTER`), as the Java broker stamps
        // it: a consumer's reply to a request goes to `<cluster>_REPLY_TOPIC`.
        let config = p.config.load_full();
        let cluster = config.cluster_name.as_str();
        // And, as the Java broker stamps them, its region and trace switch (consumers take
        // their trace records' region from it).
        let stamps = [
            (properties::CLUSTER, cluster),
            (properties::MSG_REGION, config.region_id.as_str()),
            (properties::TRACE_ON, "true"),
        ];
        let base = OwnedMessage {
            flag: header.flag,
            body: Bytes::new(),
            properties: String::new(),
            sys_flag: header.sys_flag,
            born_timestamp: header.born_timestamp,
            born_host: conn.peer,
            store_host: self.parts.store_host,
            reconsume_times: header.reconsume_times,
            prepared_transaction_offset: 0,
        };
        let messages: Vec<OwnedMessage> = if header.batch {
            let items = match message::decode_batch(&req.body) {
                Ok(items) if !items.is_empty() => items,
                Ok(_) => return error(ResponseCode::MESSAGE_ILLEGAL, "empty batch"),
                Err(e) => {
                    return error(
                        ResponseCode::MESSAGE_ILLEGAL,
                        format!("bad batch body: {e}"),
                    )
                }
            };
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                if item.body.len() > max {
                    return error(
                        ResponseCode::MESSAGE_ILLEGAL,
                        format!("the message body size over max value, MAX: {max}"),
                    );
                }
                out.push(OwnedMessage {
                    flag: item.flag,
                    body: req.body.slice_ref(item.body),
                    properties: properties::with_all(item.properties, &stamps),
                    ..base.clone()
                });
            }
            out
        } else {
            if req.body.len() > max {
                return error(
                    ResponseCode::MESSAGE_ILLEGAL,
                    format!("the message body size over max value, MAX: {max}"),
                );
            }
            vec![OwnedMessage {
                body: req.body.clone(),
                properties: properties::with_all(&header.properties, &stamps),
                ..base
            }]
        };
        let transaction_ids: Vec<String> = messages
            .iter()
            .filter_map(|m| properties::get(&m.properties, properties::UNIQ_KEY).map(str::to_owned))
            .collect();
        let wait_store =
            properties::get(&header.properties, properties::WAIT_STORE_MSG_OK) != Some("false");
        let mut messages = messages;
        let (mut topic_name, mut queue_id) = (header.topic.clone(), queue_id);
        // A retry that used up its reconsume times goes to the dead-letter queue.
        if let Some(group) = header.topic.strip_prefix(retry::RETRY_PREFIX) {
            let max = header
                .max_reconsume_times
                .unwrap_or_else(|| self.retry_max_times(group));
            if header.reconsume_times >= max {
                topic_name = self.ensure_dlq(group);
                queue_id = 0;
                let origin = properties::get(&header.properties, properties::RETRY_TOPIC);
                p.metrics
                    .sent_to_dlq(group, origin.unwrap_or(&header.topic));
                for m in &mut messages {
                    let mut props = retry::Props::parse(&m.properties);
                    props.remove(properties::DELAY);
                    m.properties = props.encode();
                }
            }
        }
        // The queue the answer names (a half's is its real one).
        let answered_queue_id = queue_id;
        let mut recall_handle = None;
        // A transactional message waits as a half until END_TRANSACTION decides.
        let half = !header.batch
            && transaction::is_half(&messages[0].properties)
            && !(header.reconsume_times > 0
                && properties::get(&messages[0].properties, properties::DELAY).is_some());
        if half {
            if config.reject_transaction_message {
                return error(
                    ResponseCode::NO_PERMISSION,
                    format!(
                        "the broker[{}] sending transaction message is forbidden",
                        p.store_host.ip()
                    ),
                );
            }
            transaction::into_half(&mut messages[0], &topic_name, queue_id);
            let half_queue = transaction::half_queue();
            topic_name = half_queue.topic;
            queue_id = half_queue.queue_id;
        } else if !header.batch && message::sys_flag::transaction_type(header.sys_flag) == 0 {
            // A delayed message waits in the schedule topic.
            let max_level = p.store.config().delay_levels.len() as i32;
            if let Some((level_queue, props)) =
                retry::schedule(&topic_name, queue_id, &messages[0].properties, max_level)
            {
                // A delay level wins over timer properties, which go (as in RocketMQ).
                let mut props = retry::Props::parse(&props);
                for name in [
                    properties::TIMER_DELIVER_MS,
                    properties::TIMER_DELAY_MS,
                    properties::TIMER_DELAY_SEC,
                ] {
                    props.remove(name);
                }
                messages[0].properties = props.encode();
                topic_name = crate::store::SCHEDULE_TOPIC.to_owned();
                queue_id = level_queue;
            } else {
                let now = config.clock.now_ms();
                let cursor = p.timer_cursor.load(std::sync::atomic::Ordering::Acquire);
                match super::timer::enqueue(
                    &messages[0].properties,
                    &topic_name,
                    queue_id,
                    now,
                    p.timer,
                    cursor,
                ) {
                    Ok(None) => {}
                    Ok(Some((slot, props))) => {
                        // The send answer carries the handle that cancels it (5.3.2+).
                        let out = properties::get(&props, properties::TIMER_OUT_MS);
                        let id = properties::get(&props, properties::UNIQ_KEY);
                        if let (Some(out), Some(id), false) = (
                            out.and_then(|o| o.parse().ok()),
                            id,
                            topic_name.starts_with(retry::RETRY_PREFIX),
                        ) {
                            recall_handle = Some(super::timer::recall_handle(
                                &topic_name,
                                &config.broker_name,
                                out,
                                id,
                            ));
                        }
                        messages[0].properties = props;
                        topic_name = crate::store::TIMER_TOPIC.to_owned();
                        queue_id = slot;
                    }
                    Err(refused) => return error(refused.code, refused.remark),
                }
            }
        }
        let body_bytes: usize = messages.iter().map(|m| m.body.len()).sum();
        let sizes: Vec<usize> = messages.iter().map(|m| m.body.len()).collect();
        let kind = if half {
            MessageType::Transaction
        } else if topic_name == crate::store::SCHEDULE_TOPIC
            || topic_name == crate::store::TIMER_TOPIC
        {
            MessageType::Delay
        } else if properties::get(&header.properties, "__SHARDINGKEY").is_some() {
            MessageType::Fifo
        } else {
            MessageType::Normal
        };
        let put_started = std::time::Instant::now();
        let appended = match p
            .writers
            .append(
                QueueKey::new(topic_name, queue_id),
                messages,
                req.is_oneway(),
            )
            .await
        {
            Ok(appended) => appended,
            Err(failure) => {
                p.stats.put_failed();
                return Ok(append_failure(failure));
            }
        };
        p.stats.put(appended.placed.len(), body_bytes);
        p.metrics.message_in(&header.topic, kind, sizes.into_iter());
        let mut code = ResponseCode::SUCCESS;
        if wait_store {
            // The disk and the slave at once; the slave's status wins when both fail (Java).
            let replica = async {
                match &p.replica_waits {
                    Some(waits) => waits.replicated(appended.end).await,
                    None => super::ha_waits::Replicated::Yes,
                }
            };
            let (durable, replicated) = tokio::join!(p.sync_waits.durable(appended.end), replica);
            match durable {
                Ok(()) => {}
                Err(StoreError::FlushTimeout) => code = ResponseCode::FLUSH_DISK_TIMEOUT,
                Err(e) => return Ok(store_error(e)),
            }
            match replicated {
                super::ha_waits::Replicated::Yes => {}
                super::ha_waits::Replicated::Timeout => code = ResponseCode::FLUSH_SLAVE_TIMEOUT,
                super::ha_waits::Replicated::SlaveNotAvailable => {
                    code = ResponseCode::SLAVE_NOT_AVAILABLE
                }
            }
        }
        p.stats.put_took(put_started.elapsed());
        let msg_id = appended
            .placed
            .iter()
            .map(|placed| offset_msg_id(p.store_host, placed.physical_offset as i64))
            .collect::<Vec<_>>()
            .join(",");
        // SendMessageResponseHeader, written field by field (the hot path: no serde), in
        // the sorted order fastjson writes.
        let mut ext = crate::protocol::ExtFields::new();
        ext.append("MSG_REGION", &config.region_id);
        ext.append("TRACE_ON", "true");
        ext.append("msgId", &msg_id);
        ext.append(
            "queueId",
            // The queue asked for, also for a half, a delayed or a timer message (as Java).
            &answered_queue_id.to_string(),
        );
        ext.append("queueOffset", &appended.first_queue_offset.to_string());
        if let Some(handle) = &recall_handle {
            ext.append("recallHandle", handle);
        }
        if !transaction_ids.is_empty() {
            ext.append("transactionId", &transaction_ids.join(","));
        }
        let mut response = RemotingCommand::response(code);
        response.ext_fields = Some(ext);
        Ok(response)
    }

    /// The filter of a pull: the header's expression when it carries one, else the group's
    /// subscription from its heartbeats (compiled when it changed).
    pub(super) fn pull_filter(
        &self,
        header: &PullRequest,
    ) -> Result<Arc<dyn MessageFilter + Send + Sync>, Box<RemotingCommand>> {
        let filter: Arc<SubscriptionFilter> = if header.sys_flag & pull_flag::SUBSCRIPTION != 0 {
            self.header_filter(
                header.expression_type.as_deref(),
                header.subscription.as_deref().unwrap_or("*"),
            )
            .map_err(|e| Box::new(parse_failed(&e)))?
        } else {
            let subscriptions = self.parts.subscriptions.borrow();
            let key = (header.consumer_group.clone(), header.topic.clone());
            let Some(sub) = subscriptions.get(&key) else {
                return Err(Box::new(RemotingCommand::error(
                    ResponseCode::SUBSCRIPTION_NOT_EXIST,
                    format!(
                        "the consumer's subscription not exist, group: {} topic: {}",
                        header.consumer_group, header.topic
                    ),
                )));
            };
            if sub.data.sub_version < header.sub_version {
                return Err(Box::new(RemotingCommand::error(
                    ResponseCode::SUBSCRIPTION_NOT_LATEST,
                    "the consumer's subscription not latest",
                )));
            }
            sub.filter.clone().map_err(|e| Box::new(parse_failed(&e)))?
        };
        if filter.is_sql() && !self.parts.config.load().enable_property_filter {
            return Err(Box::new(self.sql_refused()));
        }
        Ok(filter)
    }

    /// Compiles an expression that came in a request header, caching it: lite-pull
    /// consumers send the same expression with every pull.
    fn header_filter(
        &self,
        kind: Option<&str>,
        expression: &str,
    ) -> Result<Arc<SubscriptionFilter>, String> {
        let key = (kind.unwrap_or("").to_owned(), expression.to_owned());
        if let Some(filter) = self.parts.filter_cache.borrow().get(&key) {
            return Ok(Arc::clone(filter));
        }
        let filter =
            Arc::new(SubscriptionFilter::compile(kind, expression).map_err(|e| e.to_string())?);
        let mut cache = self.parts.filter_cache.borrow_mut();
        if cache.len() >= 1024 {
            cache.clear();
        }
        cache.insert(key, Arc::clone(&filter));
        Ok(filter)
    }

    pub(super) fn sql_refused(&self) -> RemotingCommand {
        RemotingCommand::error(
            ResponseCode::SYSTEM_ERROR,
            "The broker does not support consumer to filter message by SQL92",
        )
    }

    /// How often a group's messages are redelivered before the dead-letter queue when the
    /// client does not say (its subscription group's `retryMaxTimes`, 16 by default).
    fn retry_max_times(&self, group: &str) -> i32 {
        self.parts
            .subscription_group_view
            .borrow()
            .subscription_group_table
            .get(group)
            .map_or(retry::MAX_RECONSUME_TIMES, |g| g.retry_max_times)
    }

    /// The subscription group's part of a pull (Java's `PullMessageProcessor`): a group the
    /// broker does not know is refused unless `autoCreateSubscriptionGroup` (then it is
    /// created), one whose `consumeEnable` is off may not consume, and one whose
    /// `consumeBroadcastEnable` is off may not consume in BROADCASTING mode.
    pub(super) fn group_check(&self, group: &str, topic: &str) -> Option<RemotingCommand> {
        let p = &self.parts;
        let groups = p.subscription_group_view.borrow();
        let broadcasting = || {
            p.subscriptions
                .borrow()
                .get(&(group.to_owned(), topic.to_owned()))
                .is_some_and(|s| s.broadcasting)
        };
        match groups.subscription_group_table.get(group) {
            Some(settings) if !settings.consume_enable => Some(RemotingCommand::error(
                ResponseCode::NO_PERMISSION,
                format!("subscription group no permission, {group}"),
            )),
            Some(settings) if !settings.consume_broadcast_enable && broadcasting() => {
                Some(RemotingCommand::error(
                    ResponseCode::NO_PERMISSION,
                    format!("the consumer group[{group}] can not consume by broadcast way"),
                ))
            }
            Some(_) => None,
            None if p.config.load().auto_create_subscription_group => {
                drop(groups);
                p.subscription_groups
                    .do_send(crate::actors::subscription_groups::Ensure(vec![group.to_owned()]));
                None
            }
            None => Some(RemotingCommand::error(
                ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
                format!(
                    "subscription group [{group}] does not exist, \nSee https://rocketmq.apache.org/docs/bestPractice/06FAQ for further details."
                ),
            )),
        }
    }

    /// Creates `%DLQ%group` if needed; returns its name.
    fn ensure_dlq(&self, group: &str) -> String {
        let topic = format!("{}{group}", retry::DLQ_PREFIX);
        if self.topic(&topic).is_none() {
            self.parts
                .topic_actor
                .do_send(topic_config::EnsureTopic(TopicConfig::new(
                    topic.clone(),
                    1,
                )));
        }
        topic
    }

    /// CONSUMER_SEND_MSG_BACK: a consumer failed a message; retry it later or bury it.
    async fn send_back(&self, req: &RemotingCommand) -> Reply {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Header {
            offset: i64,
            group: String,
            #[serde(default)]
            delay_level: i32,
            #[serde(default)]
            origin_msg_id: Option<String>,
            #[serde(default)]
            max_reconsume_times: Option<i32>,
        }
        let header: Header = req.header()?;
        let p = &self.parts;
        let phy = u64::try_from(header.offset).unwrap_or(u64::MAX);
        let original = p.store.with_record(phy, |r| {
            let mut props = retry::Props::parse(r.properties);
            if props.get(properties::RETRY_TOPIC).is_none() {
                props.set(properties::RETRY_TOPIC, r.topic);
            }
            if props.get(properties::ORIGIN_MESSAGE_ID).is_none() {
                let id = props
                    .get(properties::UNIQ_KEY)
                    .map(str::to_owned)
                    .or(header.origin_msg_id.clone())
                    .unwrap_or_else(|| offset_msg_id(r.store_host, r.physical_offset));
                props.set(properties::ORIGIN_MESSAGE_ID, id);
            }
            let message = OwnedMessage {
                flag: r.flag,
                body: Bytes::copy_from_slice(r.body),
                properties: String::new(),
                sys_flag: r.sys_flag,
                born_timestamp: r.born_timestamp,
                born_host: r.born_host,
                store_host: p.store_host,
                reconsume_times: r.reconsume_times + 1,
                prepared_transaction_offset: 0,
            };
            (props, message, r.reconsume_times)
        });
        let Some((mut props, mut message, reconsumed)) = original else {
            return error(
                ResponseCode::SYSTEM_ERROR,
                format!("look message by offset failed, {}", header.offset),
            );
        };
        let max = header
            .max_reconsume_times
            .unwrap_or_else(|| self.retry_max_times(&header.group));
        props.remove(properties::DELAY);
        let key = match retry::send_back(&header.group, reconsumed, header.delay_level, max) {
            retry::SendBack::Dead { .. } => {
                let topic = props.get(properties::RETRY_TOPIC).unwrap_or_default();
                p.metrics.sent_to_dlq(&header.group, topic);
                QueueKey::new(self.ensure_dlq(&header.group), 0)
            }
            retry::SendBack::Retry { topic, delay_level } => {
                p.topic_actor
                    .do_send(topic_config::EnsureRetryTopic(header.group.clone()));
                props.set(properties::DELAY, delay_level.to_string());
                let max_level = p.store.config().delay_levels.len() as i32;
                match retry::schedule(&topic, 0, &props.encode(), max_level) {
                    Some((queue, scheduled)) => {
                        props = retry::Props::parse(&scheduled);
                        QueueKey::new(crate::store::SCHEDULE_TOPIC, queue)
                    }
                    None => QueueKey::new(topic, 0),
                }
            }
        };
        message.properties = props.encode();
        match p.writers.append(key, vec![message], false).await {
            Ok(_) => Ok(ok()),
            Err(failure) => Ok(append_failure(failure)),
        }
    }
}

pub(super) fn parse_failed(message: &str) -> RemotingCommand {
    RemotingCommand::error(
        ResponseCode::SUBSCRIPTION_PARSE_FAILED,
        format!("parse the consumer's subscription failed: {message}"),
    )
}

impl Service for BrokerService {
    fn call(
        &self,
        conn: &Connection,
        request: RemotingCommand,
    ) -> LocalFuture<Option<RemotingCommand>> {
        let service = self.clone();
        let conn = conn.clone();
        Box::pin(async move { Some(service.handle(&conn, request).await) })
    }

    fn disconnected(&self, conn: &Connection) {
        self.parts
            .clients
            .do_send(client_manager::ConnectionClosed(conn.id));
    }
}

/// A random number for queue selection (no need for quality).
fn rand_u32() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static STATE: AtomicU32 = AtomicU32::new(0x9E37_79B9);
    let mut x = STATE.load(Ordering::Relaxed) ^ (crate::util::now_ms() as u32);
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    STATE.store(x, Ordering::Relaxed);
    x
}
