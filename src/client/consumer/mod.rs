//! What push and lite pull consumers share: settings, subscriptions, pulling one batch,
//! offsets, queue allocation, the per-queue cache ([`process_queue::ProcessQueue`]).

pub mod lite_pull;
mod offsets;
mod process_queue;
mod pull;
pub mod push;
mod rebalance;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::error::ClientError;
use crate::protocol::body::client::SubscriptionData;
use crate::protocol::message::java_hash;
use crate::rebalance::{AllocateStrategy, Averagely};

/// Who tracks the group's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageModel {
    /// Queues are shared out among the group; offsets live on the broker.
    Clustering,
    /// Every consumer gets every message; offsets live in a local file.
    Broadcasting,
}

impl MessageModel {
    fn wire(self) -> &'static str {
        match self {
            Self::Clustering => "CLUSTERING",
            Self::Broadcasting => "BROADCASTING",
        }
    }
}

/// Where a queue with no committed offset starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeFromWhere {
    LastOffset,
    FirstOffset,
    /// Milliseconds since the epoch.
    Timestamp(i64),
}

impl ConsumeFromWhere {
    fn wire(self) -> &'static str {
        match self {
            Self::LastOffset => "CONSUME_FROM_LAST_OFFSET",
            Self::FirstOffset => "CONSUME_FROM_FIRST_OFFSET",
            Self::Timestamp(_) => "CONSUME_FROM_TIMESTAMP",
        }
    }
}

/// The answer of a concurrent listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeStatus {
    Success,
    /// Redeliver later (the broker's retry topic, with growing delays).
    ReconsumeLater,
}

/// The answer of an orderly listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderlyStatus {
    Success,
    /// Stop this queue for a moment and deliver the same messages again.
    SuspendCurrentQueueAMoment,
}

/// Consumer settings (names as RocketMQ's `DefaultMQPushConsumer` /
/// `DefaultLitePullConsumer`).
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub group: String,
    pub message_model: MessageModel,
    pub consume_from_where: ConsumeFromWhere,
    /// Queue allocation among the group (`AllocateMessageQueueAveragely` by default).
    pub allocate: Arc<dyn AllocateStrategy>,
    /// Listener calls running at once (`consumeThreadMax`, 20).
    pub consume_threads: usize,
    /// Messages per pull (push 32, lite pull 10).
    pub pull_batch_size: i32,
    /// Messages per listener call (`consumeMessageBatchMaxSize`, 1).
    pub consume_batch_size: usize,
    /// Stop pulling a queue with more cached messages than this (1000) or bytes (100 MiB).
    pub pull_threshold_for_queue: usize,
    pub pull_threshold_size_for_queue: usize,
    /// Redeliveries before the dead-letter queue (16; orderly: unlimited).
    pub max_reconsume_times: Option<i32>,
    /// Offsets are committed this often (5 s) and at shutdown.
    pub persist_interval: Duration,
    /// Periodic rebalance (20 s); NOTIFY_CONSUMER_IDS_CHANGED rebalances at once.
    pub rebalance_interval: Duration,
    /// How long the broker may hold a pull with nothing new (15 s; lite pull 20 s).
    pub broker_suspend: Duration,
    /// Orderly: pause after SUSPEND_CURRENT_QUEUE_A_MOMENT (1 s).
    pub suspend_current_queue: Duration,
    /// Broadcasting offsets: `<dir>/<group>/offsets.json` (`~/.rocketmq_offsets`).
    pub offset_store_dir: PathBuf,
    /// Lite pull: commit consumed offsets in the background (every `persist_interval`).
    pub auto_commit: bool,
    /// `enableMsgTrace` (push consumers): record each message consumed in `trace_topic`
    /// (see [`crate::client::trace`]).
    pub enable_trace: bool,
    /// `customizedTraceTopic` (`RMQ_SYS_TRACE_TOPIC`).
    pub trace_topic: String,
}

impl ConsumerConfig {
    pub fn new(group: impl Into<String>) -> Self {
        let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
        Self {
            group: group.into(),
            message_model: MessageModel::Clustering,
            consume_from_where: ConsumeFromWhere::LastOffset,
            allocate: Arc::new(Averagely),
            consume_threads: 20,
            pull_batch_size: 32,
            consume_batch_size: 1,
            pull_threshold_for_queue: 1000,
            pull_threshold_size_for_queue: 100 << 20,
            max_reconsume_times: None,
            persist_interval: Duration::from_secs(5),
            rebalance_interval: Duration::from_secs(20),
            broker_suspend: Duration::from_secs(15),
            suspend_current_queue: Duration::from_secs(1),
            offset_store_dir: home.join(".rocketmq_offsets"),
            auto_commit: true,
            enable_trace: false,
            trace_topic: crate::protocol::trace::DEFAULT_TRACE_TOPIC.into(),
        }
    }
}

/// A topic subscription: a tag expression (`*`, `TagA || TagB`) or an SQL92 selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub data: SubscriptionData,
    /// Tags the client keeps (empty = all), checked against each message's TAGS.
    tags: BTreeSet<String>,
}

impl Subscription {
    /// A tag subscription.
    pub fn tag(topic: &str, expression: &str) -> Self {
        let expression = expression.trim();
        let tags: BTreeSet<String> = if expression.is_empty() || expression == "*" {
            BTreeSet::new()
        } else {
            expression
                .split("||")
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        };
        Self {
            data: SubscriptionData {
                class_filter_mode: false,
                topic: topic.to_owned(),
                sub_string: if tags.is_empty() {
                    "*".into()
                } else {
                    expression.to_owned()
                },
                code_set: tags.iter().map(|t| java_hash(t)).collect(),
                tags_set: tags.clone(),
                sub_version: crate::util::now_ms(),
                expression_type: Some("TAG".into()),
            },
            tags,
        }
    }

    /// An SQL92 subscription (the broker filters; needs `enablePropertyFilter`).
    pub fn sql92(topic: &str, expression: &str) -> Result<Self, ClientError> {
        crate::filter::SqlFilter::compile(expression)
            .map_err(|e| ClientError::InvalidMessage(format!("bad SQL92 expression: {e}")))?;
        Ok(Self {
            data: SubscriptionData {
                class_filter_mode: false,
                topic: topic.to_owned(),
                sub_string: expression.to_owned(),
                tags_set: BTreeSet::new(),
                code_set: BTreeSet::new(),
                sub_version: crate::util::now_ms(),
                expression_type: Some("SQL92".into()),
            },
            tags: BTreeSet::new(),
        })
    }

    pub fn topic(&self) -> &str {
        &self.data.topic
    }

    fn expression_type(&self) -> &str {
        self.data.expression_type.as_deref().unwrap_or("TAG")
    }

    /// Whether a message with these tags is wanted (the broker filters by hash code; the
    /// client checks the string, as RocketMQ clients do).
    fn accepts(&self, tags: Option<&str>) -> bool {
        self.tags.is_empty() || tags.is_some_and(|t| self.tags.contains(t))
    }
}

/// `%RETRY%<group>`, where redeliveries of a clustering group come from.
pub fn retry_topic(group: &str) -> String {
    format!("%RETRY%{group}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_subscriptions_trim_and_hash_trimmed_tags() {
        let s = Subscription::tag("T", "TagA || TagB");
        assert_eq!(s.data.tags_set.iter().collect::<Vec<_>>(), ["TagA", "TagB"]);
        assert!(s.data.code_set.contains(&java_hash("TagA")));
        assert!(!s.data.code_set.contains(&java_hash("TagA ")));
        assert!(s.accepts(Some("TagB")));
        assert!(!s.accepts(Some("TagC")));
        assert!(!s.accepts(None));
        let all = Subscription::tag("T", " * ");
        assert_eq!(all.data.sub_string, "*");
        assert!(all.accepts(None));
        assert!(Subscription::sql92("T", "a > ").is_err());
        assert!(Subscription::sql92("T", "a > 1").is_ok());
    }
}
