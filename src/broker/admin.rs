//! The broker's admin requests: topics (UPDATE_AND_CREATE_TOPIC, DELETE_TOPIC_IN_BROKER,
//! GET_ALL_TOPIC_CONFIG), subscription groups (GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
//! UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, DELETE_SUBSCRIPTIONGROUP) and
//! GET_BROKER_RUNTIME_INFO. Changes go through the actors that own the tables.

use super::service::{ok, BrokerService};
use crate::actors::{subscription_groups, topic_config};
use crate::protocol::body::register::{TopicConfig, TopicFilterType};
use crate::protocol::body::{KvTable, TopicConfigWrapper};
use crate::protocol::header::broker::*;
use crate::protocol::{fastjson, HeaderError, RemotingCommand, ResponseCode};
use crate::remoting::reply::{error, json, Reply};
use crate::store::config::SubscriptionGroup;

impl BrokerService {
    /// Java's `TopicValidator.isSystemTopic`, with the system topics this broker adds for
    /// its cluster (`<cluster>_REPLY_TOPIC`).
    fn is_system_topic(&self, topic: &str) -> bool {
        let config = self.parts().config.load();
        topic_config::is_system_topic(topic)
            || topic == topic_config::reply_topic(&config.cluster_name)
            || (config.trace_topic_enable && topic == config.msg_trace_topic_name)
    }

    pub(super) async fn create_topic(&self, req: &RemotingCommand) -> Reply {
        let header: CreateTopicRequest = req.header()?;
        if let Some(why) = topic_config::invalid_topic_name(&header.topic) {
            return error(ResponseCode::INVALID_PARAMETER, why);
        }
        if self.is_system_topic(&header.topic) {
            return error(
                ResponseCode::INVALID_PARAMETER,
                format!("The topic[{}] is conflict with system topic.", header.topic),
            );
        }
        if header.read_queue_nums < 1
            || header.write_queue_nums < 1
            || header.read_queue_nums > 1024
            || header.write_queue_nums > 1024
        {
            return error(
                ResponseCode::INVALID_PARAMETER,
                "queue numbers must be between 1 and 1024",
            );
        }
        let mut config = TopicConfig::new(header.topic, header.write_queue_nums);
        config.read_queue_nums = header.read_queue_nums;
        config.perm = header.perm;
        config.order = header.order;
        config.topic_sys_flag = header.topic_sys_flag.unwrap_or(0);
        config.topic_filter_type = match header.topic_filter_type.as_deref() {
            Some("MULTI_TAG") => TopicFilterType::MultiTag,
            _ => TopicFilterType::SingleTag,
        };
        self.parts()
            .topic_actor
            .send(topic_config::Upsert(config))
            .await?;
        Ok(ok())
    }

    pub(super) async fn delete_topic(&self, req: &RemotingCommand) -> Reply {
        let header: TopicRequest = req.header()?;
        if self.is_system_topic(&header.topic) {
            return error(
                ResponseCode::INVALID_PARAMETER,
                format!("The topic[{}] is conflict with system topic.", header.topic),
            );
        }
        self.parts()
            .topic_actor
            .send(topic_config::Delete(header.topic))
            .await?;
        Ok(ok())
    }

    pub(super) fn all_topics(&self) -> Reply {
        let snapshot = self.parts().topics.borrow().clone();
        Ok(ok().with_body(json(&TopicConfigWrapper {
            data_version: snapshot.data_version.clone(),
            topic_config_table: snapshot.table.clone(),
        })))
    }

    pub(super) fn runtime_info(&self) -> Reply {
        let p = self.parts();
        let store = &p.store;
        let log = store.commit_log();
        let now = crate::util::now_ms();
        let mut table: std::collections::BTreeMap<String, String> = p
            .stats
            .runtime_info(now)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let mut put = |k: &str, v: String| {
            table.insert(k.to_owned(), v);
        };
        put("brokerVersion", crate::protocol::APOGEE_VERSION.to_string());
        // As the Java broker names its version (mqadmin prints it in clusterList); what
        // the broker is shows in `brokerVersionName`.
        put("brokerVersionDesc", "V5_3_3".into());
        put(
            "brokerVersionName",
            format!("Apogee {}", env!("CARGO_PKG_VERSION")),
        );
        put("brokerActive", "true".into());
        put("commitLogMinOffset", log.min_offset().to_string());
        put("commitLogMaxOffset", log.written().to_string());
        let behind = log.written().saturating_sub(store.dispatched());
        put("dispatchBehindBytes", behind.to_string());
        put(
            "remainHowManyDataToFlush",
            human_bytes(log.written().saturating_sub(log.flushed())),
        );
        let ratio = crate::store::retention::disk_used_ratio(&store.config().root).unwrap_or(-1.0);
        put("commitLogDiskRatio", format!("{ratio}"));
        put(
            &format!(
                "commitLogDiskRatio_{}",
                store.config().root.join("commitlog").display()
            ),
            format!("{ratio}"),
        );
        put("consumeQueueDiskRatio", format!("{ratio}"));
        // The store time of the oldest message in the log.
        let earliest = store
            .with_record(log.min_offset(), |r| r.store_timestamp)
            .unwrap_or(0);
        put("earliestMessageTimeStamp", earliest.to_string());
        put("startAcceptSendRequestTimeStamp", "0".into());
        put("pageCacheLockTimeMills", "0".into());
        for pool in ["send", "pull", "litePull", "query", "ack"] {
            put(&format!("{pool}ThreadPoolQueueSize"), "0".into());
            put(
                &format!("{pool}ThreadPoolQueueHeadWaitTimeMills"),
                "0".into(),
            );
        }
        let capacity = p.config.load().send_queue_capacity.to_string();
        put("sendThreadPoolQueueCapacity", capacity);
        put("EndTransactionQueueSize", "0".into());
        // No thread pools here: their queues are always empty (`send`'s capacity is the
        // queue writers' bound).
        for pool in ["pull", "litePull", "query", "ack", "EndTransaction"] {
            let key = if pool == "EndTransaction" {
                "EndTransactionThreadPoolQueueCapacity".to_owned()
            } else {
                format!("{pool}ThreadPoolQueueCapacity")
            };
            put(&key, "0".into());
        }
        put("dispatchMaxBuffer", "0".into());
        if let Ok((total, free)) = crate::store::mmap::disk_space(&store.config().root) {
            put(
                "commitLogDirCapacity",
                format!(
                    "Total : {}, Free : {}.",
                    human_bytes(total),
                    human_bytes(free)
                ),
            );
        }
        for key in ["timerReadBehind", "timerOffsetBehind", "timerCongestNum"] {
            put(key, "0".into());
        }
        put("timerEnqueueTps", "0.0".into());
        put("timerDequeueTps", "0.0".into());
        Ok(ok().with_body(json(&KvTable { table })))
    }

    /// GET_ALL_SUBSCRIPTIONGROUP_CONFIG: the table as the Java broker's
    /// `SubscriptionGroupWrapper` (`subscriptionGroupTable`, `forbiddenTable`, `dataVersion`).
    pub(super) fn all_subscription_groups(&self) -> Reply {
        let groups = self.parts().subscription_group_view.borrow().clone();
        Ok(ok().with_body(json(&*groups)))
    }

    /// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: the body is a `SubscriptionGroupConfig`; fields
    /// it leaves out take RocketMQ's defaults.
    pub(super) async fn update_subscription_group(&self, req: &RemotingCommand) -> Reply {
        let group: SubscriptionGroup = fastjson::from_slice(&req.body)
            .map_err(|e| HeaderError::Body(format!("subscription group config: {e}")))?;
        if let Some(why) = invalid_group_name(&group.group_name) {
            return error(ResponseCode::INVALID_PARAMETER, why);
        }
        self.parts()
            .subscription_groups
            .send(subscription_groups::Upsert(group))
            .await?;
        Ok(ok())
    }

    /// DELETE_SUBSCRIPTIONGROUP (`groupName`; 5.x `cleanOffset`, whose offsets are kept
    /// here: see the issue notes).
    pub(super) async fn delete_subscription_group(&self, req: &RemotingCommand) -> Reply {
        let header: DeleteSubscriptionGroupRequest = req.header()?;
        self.parts()
            .subscription_groups
            .send(subscription_groups::Delete(header.group_name))
            .await?;
        Ok(ok())
    }
}

/// Why a group name is refused (Java's `TopicValidator.validateGroup`): blank, longer than
/// 255, or outside `^[%|a-zA-Z0-9_-]+$`.
pub fn invalid_group_name(group: &str) -> Option<String> {
    if group.trim().is_empty() {
        return Some("the specified group is blank".into());
    }
    if group.len() > 255 {
        return Some("the specified group is longer than group max length 255.".into());
    }
    if !group
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'%' | b'|' | b'_' | b'-'))
    {
        return Some(format!(
            "the specified group[{group}] contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$"
        ));
    }
    None
}

/// Bytes as Java's `humanReadableByteCount` writes them (`12 B`, `1.5 MiB`).
fn human_bytes(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let exp = ((bytes as f64).ln() / 1024f64.ln()) as i32;
    let unit = ["K", "M", "G", "T", "P", "E"][(exp - 1).clamp(0, 5) as usize];
    format!("{:.1} {unit}iB", bytes as f64 / 1024f64.powi(exp))
}

/// Keys the Java broker never updates at run time (`configBlackList`'s default).
const CONFIG_BLACK_LIST: &[&str] = &["configBlackList", "brokerConfigPath", "rocketmqHome"];

impl BrokerService {
    /// GET_BROKER_CONFIG: the settings as `key=value` lines, and the configuration's data
    /// version in the header.
    pub(super) fn broker_config(&self) -> Reply {
        let config = self.parts().config.load();
        let body: String = config
            .properties()
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect();
        let version = serde_json::json!({
            "counter": self.parts().config_version.load(std::sync::atomic::Ordering::Relaxed),
            "timestamp": crate::util::now_ms(),
        })
        .to_string();
        Ok(ok()
            .with_header(&crate::protocol::header::admin::BrokerConfigResponse { version })
            .with_body(body.into_bytes()))
    }

    /// UPDATE_BROKER_CONFIG: the body's `key=value` lines, all applied or none. Keys that
    /// can change at run time (`config::RUNTIME_KEYS`) take effect at once; any other is
    /// refused with the reason (the Java broker accepts them all and most wait for a
    /// restart). The configuration's black list is NO_PERMISSION, as in Java.
    pub(super) fn update_broker_config(&self, req: &RemotingCommand) -> Reply {
        let text = String::from_utf8_lossy(&req.body);
        let changes = super::config::parse_properties(&text);
        if changes
            .iter()
            .any(|(k, _)| CONFIG_BLACK_LIST.contains(&k.as_str()))
        {
            return error(
                ResponseCode::NO_PERMISSION,
                "Can not update config in black list.",
            );
        }
        let p = self.parts();
        let mut next = (**p.config.load()).clone();
        for (key, value) in &changes {
            if let Err(why) = next.update_at_runtime(key, value) {
                return error(ResponseCode::INVALID_PARAMETER, why);
            }
        }
        let txn_changed = changes.iter().any(|(k, _)| k.starts_with("transaction"));
        if txn_changed {
            p.txn_checker
                .do_send(crate::actors::txn_checker::UpdateLimits {
                    timeout_ms: next.transaction_timeout_ms,
                    check_interval_ms: next.transaction_check_interval_ms,
                    check_max: next.transaction_check_max,
                });
        }
        tracing::info!(?changes, "broker config updated");
        p.config.store(std::sync::Arc::new(next));
        p.config_version
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(ok())
    }

    /// GET_SYSTEM_TOPIC_LIST_FROM_BROKER: the system topics this broker has.
    pub(super) fn system_topics(&self) -> Reply {
        let topics = self.parts().topics.borrow().clone();
        let topic_list = topics
            .table
            .keys()
            .filter(|t| self.is_system_topic(t))
            .cloned()
            .collect();
        Ok(ok().with_body(json(&crate::protocol::body::TopicList {
            broker_addr: None,
            topic_list,
        })))
    }
}
