//! TopicConfigs: the broker's topics (`topics.json`).
//!
//! **Owns** the topic table and its data version; writes `config/topics.json` after every
//! change (atomically, on a blocking thread, newest content wins).
//!
//! **Handles** [`Upsert`], [`Delete`] (admin requests via the broker service),
//! [`AutoCreate`] (a send to an unknown topic), [`EnsureRetryTopic`] (the client manager, on
//! a consumer heartbeat).
//!
//! **Sends** nothing; it *publishes* every new table as an immutable snapshot on a `watch`
//! channel ([`TopicView`]): the send and pull paths read topic configs from it without a
//! message hop, and the registrar re-registers when it changes.
//!
//! **Lifecycle**: supervised; (re)starts by loading the file, then adds the system topics.
//! Mailbox: 1024.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::watch;

use crate::protocol::body::register::{perm, TopicConfig};
use crate::protocol::body::{DataVersion, TopicConfigWrapper};
use crate::protocol::ResponseCode;
use crate::store::config as config_files;

/// The auto-create template topic.
pub const TBW102: &str = "TBW102";
pub const SELF_TEST_TOPIC: &str = "SELF_TEST_TOPIC";
pub const OFFSET_MOVED_EVENT: &str = "OFFSET_MOVED_EVENT";
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
pub const TRANS_HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
pub const TRANS_OP_HALF_TOPIC: &str = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
pub const TRANS_CHECK_MAX_TIME_TOPIC: &str = "TRANS_CHECK_MAX_TIME_TOPIC";
pub const RETRY_PREFIX: &str = "%RETRY%";
pub const DLQ_PREFIX: &str = "%DLQ%";

/// Topics admins may not create or delete (Java's `TopicValidator.isSystemTopic`): the
/// send-forbidden ones plus `TBW102`, `BenchmarkTest`, the trace and RocksDB checkpoint
/// topics, and anything starting with `rmq_sys_`.
pub fn is_system_topic(topic: &str) -> bool {
    is_not_allowed_send_topic(topic)
        || matches!(
            topic,
            TBW102 | "BenchmarkTest" | "RMQ_SYS_TRACE_TOPIC" | "CHECKPOINT_TOPIC"
        )
        || topic.starts_with("rmq_sys_")
}

/// The topic replies to requests go to in a cluster (`MixAll.getReplyTopic`).
pub fn reply_topic(cluster: &str) -> String {
    format!("{cluster}_REPLY_TOPIC")
}

/// Topics producers may not send to (Java's `TopicValidator.isNotAllowedSendTopic`).
pub fn is_not_allowed_send_topic(topic: &str) -> bool {
    matches!(
        topic,
        SCHEDULE_TOPIC
            | TRANS_HALF_TOPIC
            | TRANS_OP_HALF_TOPIC
            | TRANS_CHECK_MAX_TIME_TOPIC
            | SELF_TEST_TOPIC
            | OFFSET_MOVED_EVENT
    )
}

/// Why a topic name is refused, if it is (`^[%|a-zA-Z0-9_-]+$`, at most 127 bytes).
pub fn invalid_topic_name(topic: &str) -> Option<String> {
    if topic.is_empty() {
        return Some("The specified topic is blank.".into());
    }
    if topic.len() > 127 {
        return Some(format!(
            "The specified topic is longer than topic max length 127: {topic}"
        ));
    }
    if !topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'%' | b'|' | b'_' | b'-'))
    {
        return Some(format!(
            "The specified topic[{topic}] contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$"
        ));
    }
    None
}

/// A snapshot of the topic table.
#[derive(Debug, Clone, Default)]
pub struct Topics {
    pub data_version: DataVersion,
    pub table: BTreeMap<String, TopicConfig>,
}

/// Cheap handle to the latest snapshot.
pub type TopicView = watch::Receiver<Arc<Topics>>;

/// Broker settings the topic table depends on.
#[derive(Debug, Clone)]
pub struct TopicSettings {
    /// Writes `config/topics.json`.
    pub writer: super::ConfigWriter,
    pub cluster_name: String,
    pub broker_name: String,
    pub auto_create_topic_enable: bool,
    /// Queues of TBW102 and so the most an auto-created topic gets (`defaultTopicQueueNums`).
    pub default_topic_queue_nums: i32,
    /// `traceTopicEnable`: the trace topic made at start (1 queue), as RocketMQ.
    pub trace_topic: Option<String>,
    /// `timerWheelEnable`: the timer wheel's topic, with this many slot queues.
    pub timer_queues: Option<i32>,
}

pub struct TopicConfigs {
    settings: TopicSettings,
    topics: Topics,
    publish: watch::Sender<Arc<Topics>>,
}

impl TopicConfigs {
    /// The actor and the view of its snapshots.
    pub fn new(settings: TopicSettings) -> (Self, TopicView) {
        let (publish, view) = watch::channel(Arc::new(Topics::default()));
        let actor = Self {
            settings,
            topics: Topics::default(),
            publish,
        };
        (actor, view)
    }

    fn load(&mut self) {
        self.topics = match config_files::load::<TopicConfigWrapper>(self.settings.writer.path()) {
            Ok(Some(wrapper)) => Topics {
                data_version: wrapper.data_version,
                table: wrapper.topic_config_table,
            },
            Ok(None) => Topics::default(),
            Err(e) => {
                tracing::error!(error = %e, "topics.json unreadable: starting from the system topics only");
                Topics::default()
            }
        };
        let s = self.settings.clone();
        let mut system = vec![
            TopicConfig::new(SELF_TEST_TOPIC, 1),
            TopicConfig::new(OFFSET_MOVED_EVENT, 1),
            TopicConfig::new(SCHEDULE_TOPIC, 18),
            TopicConfig::new(TRANS_HALF_TOPIC, 1),
            TopicConfig::new(TRANS_OP_HALF_TOPIC, 1),
        ];
        // Where consumers send their replies to requests (Java: `<cluster>_REPLY_TOPIC`).
        system.push(TopicConfig::new(reply_topic(&s.cluster_name), 1));
        let mut cluster = TopicConfig::new(s.cluster_name.clone(), 16);
        cluster.perm = perm::INHERIT;
        let mut broker = TopicConfig::new(s.broker_name.clone(), 1);
        broker.perm = perm::INHERIT | perm::READ | perm::WRITE;
        system.push(cluster);
        system.push(broker);
        if s.auto_create_topic_enable {
            let mut template = TopicConfig::new(TBW102, s.default_topic_queue_nums);
            template.perm = perm::INHERIT | perm::READ | perm::WRITE;
            system.push(template);
        }
        if let Some(trace) = &s.trace_topic {
            system.push(TopicConfig::new(trace.clone(), 1));
        }
        if let Some(queues) = s.timer_queues {
            system.push(TopicConfig::new(crate::store::TIMER_TOPIC, queues));
        }
        for config in system {
            self.topics
                .table
                .entry(config.topic_name.clone())
                .or_insert(config);
        }
        self.changed();
    }

    fn changed(&mut self) {
        self.topics.data_version.counter += 1;
        self.topics.data_version.timestamp = crate::util::now_ms();
        self.publish.send_replace(Arc::new(self.topics.clone()));
        let wrapper = TopicConfigWrapper {
            data_version: self.topics.data_version.clone(),
            topic_config_table: self.topics.table.clone(),
        };
        self.settings
            .writer
            .send(config_files::to_json_pretty(&wrapper));
    }

    fn upsert(&mut self, config: TopicConfig) {
        if self.topics.table.get(&config.topic_name) != Some(&config) {
            self.topics.table.insert(config.topic_name.clone(), config);
            self.changed();
        }
    }
}

/// The capacity of the actor's mailbox, given to it when it is made ([`super::supervise`]).
pub const MAILBOX: usize = 1_024;

impl Actor for TopicConfigs {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        self.settings.writer.start();
        self.load();
    }
}

impl Supervised for TopicConfigs {}

impl Handler<super::Poison> for TopicConfigs {
    type Result = ();
    fn handle(&mut self, _: super::Poison, ctx: &mut Context<Self>) {
        super::guard(self, ctx, |_, _| panic!("poisoned on purpose"));
    }
}

/// Create or replace a topic (UPDATE_AND_CREATE_TOPIC).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Upsert(pub TopicConfig);

impl Handler<Upsert> for TopicConfigs {
    type Result = ();
    fn handle(&mut self, msg: Upsert, ctx: &mut Context<Self>) {
        super::guard(self, ctx, |this, _| {
            this.upsert(msg.0);
        });
    }
}

/// DELETE_TOPIC_IN_BROKER.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Delete(pub String);

impl Handler<Delete> for TopicConfigs {
    type Result = ();
    fn handle(&mut self, msg: Delete, ctx: &mut Context<Self>) {
        super::guard(self, ctx, |this, _| {
            if this.topics.table.remove(&msg.0).is_some() {
                this.changed();
            }
        });
    }
}

/// A send to an unknown topic: create it from its default (template) topic, as RocketMQ's
/// `createTopicInSendMessageMethod` does.
#[derive(Message)]
#[rtype(result = "Result<TopicConfig, (ResponseCode, String)>")]
pub struct AutoCreate {
    pub topic: String,
    pub default_topic: String,
    pub queue_nums: i32,
    pub topic_sys_flag: i32,
}

impl Handler<AutoCreate> for TopicConfigs {
    type Result = Result<TopicConfig, (ResponseCode, String)>;
    fn handle(&mut self, msg: AutoCreate, ctx: &mut Context<Self>) -> Self::Result {
        super::guard(self, ctx, |this, _| {
        if let Some(existing) = this.topics.table.get(&msg.topic) {
            return Ok(existing.clone());
        }
        let template = this
            .topics
            .table
            .get(&msg.default_topic)
            .filter(|t| t.perm & perm::INHERIT != 0)
            .cloned();
        let Some(template) = template else {
            return Err((
                ResponseCode::TOPIC_NOT_EXIST,
                format!(
                    "topic[{}] not exist, apply first please! See https://rocketmq.apache.org/docs/bestPractice/06FAQ for further details.",
                    msg.topic
                ),
            ));
        };
        let queues = msg.queue_nums.min(template.write_queue_nums).max(1);
        let mut config = TopicConfig::new(msg.topic, queues);
        config.perm = template.perm & !perm::INHERIT;
        config.topic_sys_flag = msg.topic_sys_flag;
        tracing::info!(topic = %config.topic_name, queues, "auto-created topic");
        this.upsert(config.clone());
        Ok(config)
        })
        .unwrap_or_else(|| Err((ResponseCode::SYSTEM_ERROR, "topic table restarting, retry".to_owned())))
    }
}

/// Makes sure a topic exists (created with this config when it does not).
#[derive(Message)]
#[rtype(result = "()")]
pub struct EnsureTopic(pub TopicConfig);

impl Handler<EnsureTopic> for TopicConfigs {
    type Result = ();
    fn handle(&mut self, msg: EnsureTopic, ctx: &mut Context<Self>) {
        super::guard(self, ctx, |this, _| {
            if !this.topics.table.contains_key(&msg.0.topic_name) {
                this.upsert(msg.0);
            }
        });
    }
}

/// Makes sure `%RETRY%<group>` exists (one queue, read + write).
#[derive(Message)]
#[rtype(result = "()")]
pub struct EnsureRetryTopic(pub String);

impl Handler<EnsureRetryTopic> for TopicConfigs {
    type Result = ();
    fn handle(&mut self, msg: EnsureRetryTopic, ctx: &mut Context<Self>) {
        super::guard(self, ctx, |this, _| {
            let topic = format!("{RETRY_PREFIX}{}", msg.0);
            if !this.topics.table.contains_key(&topic) {
                this.upsert(TopicConfig::new(topic, 1));
            }
        });
    }
}

/// A slave's metadata sync: the master's table, as it is (its data version kept).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Replace(pub Topics);

impl Handler<Replace> for TopicConfigs {
    type Result = ();
    fn handle(&mut self, msg: Replace, ctx: &mut Context<Self>) {
        super::guard(self, ctx, |this, _| {
            if this.topics.data_version == msg.0.data_version && this.topics.table == msg.0.table {
                return;
            }
            this.topics = msg.0;
            this.publish.send_replace(Arc::new(this.topics.clone()));
            let wrapper = TopicConfigWrapper {
                data_version: this.topics.data_version.clone(),
                topic_config_table: this.topics.table.clone(),
            };
            this.settings
                .writer
                .send(config_files::to_json_pretty(&wrapper));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        assert_eq!(invalid_topic_name("TopicTest_1-%RETRY%|x"), None);
        assert!(invalid_topic_name("").is_some());
        assert!(invalid_topic_name("a b").is_some());
        assert!(invalid_topic_name(&"t".repeat(128)).is_some());
        assert!(is_system_topic(SCHEDULE_TOPIC));
        assert!(!is_system_topic("TopicTest"));
        // Admins may not create these; producers may still send to them.
        for t in [
            "BenchmarkTest",
            "TBW102",
            "rmq_sys_x",
            "RMQ_SYS_TRACE_TOPIC",
        ] {
            assert!(is_system_topic(t), "{t}");
            assert!(!is_not_allowed_send_topic(t), "{t}");
        }
        assert!(is_not_allowed_send_topic(SCHEDULE_TOPIC));
    }
}
