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
        topic_config::is_system_topic(topic)
            || topic == topic_config::reply_topic(&self.parts().config.cluster_name)
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
        let store = &self.parts().store;
        let log = store.commit_log();
        let mut table = std::collections::BTreeMap::new();
        table.insert(
            "brokerVersion".into(),
            crate::protocol::APOGEE_VERSION.to_string(),
        );
        table.insert(
            "brokerVersionDesc".into(),
            format!("Apogee {}", env!("CARGO_PKG_VERSION")),
        );
        table.insert("commitLogMinOffset".into(), log.min_offset().to_string());
        table.insert("commitLogMaxOffset".into(), log.written().to_string());
        table.insert(
            "dispatchBehindBytes".into(),
            log.written().saturating_sub(store.dispatched()).to_string(),
        );
        table.insert("msgPutTotalTodayNow".into(), "0".into());
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
