//! Where delayed, retried and dead messages go, as plain functions over topics and
//! properties (RocketMQ's rules):
//! - a message with `DELAY` = level > 0 is stored in `SCHEDULE_TOPIC_XXXX` queue `level − 1`
//!   (level clamped to the highest), remembering `REAL_TOPIC` and `REAL_QID`; when due it
//!   is put back into its real queue without `DELAY`;
//! - CONSUMER_SEND_MSG_BACK sends a failed message to `%RETRY%<group>` with delay level
//!   `3 + reconsumeTimes` (unless the consumer asked for another), or to `%DLQ%<group>`
//!   once it was reconsumed `maxReconsumeTimes` (16) times or the level is negative.

use crate::protocol::properties;

pub const RETRY_PREFIX: &str = "%RETRY%";
pub const DLQ_PREFIX: &str = "%DLQ%";
/// Default `maxReconsumeTimes` / `retryMaxTimes`.
pub const MAX_RECONSUME_TIMES: i32 = 16;

/// Properties as an ordered list of pairs, for editing.
pub struct Props(Vec<(String, String)>);

impl Props {
    pub fn parse(text: &str) -> Self {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (k, v) in properties::iter(text) {
            match pairs.iter_mut().find(|(name, _)| name == k) {
                Some(pair) => pair.1 = v.to_owned(),
                None => pairs.push((k.to_owned(), v.to_owned())),
            }
        }
        Self(pairs)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| k == name) {
            Some(pair) => pair.1 = value,
            None => self.0.push((name.to_owned(), value)),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(k, _)| k != name);
    }

    pub fn encode(&self) -> String {
        properties::encode(self.0.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

/// The delay level a message asks for (0 = none).
pub fn delay_level(properties: &str) -> i32 {
    properties::get(properties, properties::DELAY)
        .and_then(|d| d.trim().parse().ok())
        .unwrap_or(0)
}

/// A delayed message's schedule queue and properties: `(queue id, properties)`.
pub fn schedule(
    topic: &str,
    queue_id: i32,
    properties: &str,
    max_level: i32,
) -> Option<(i32, String)> {
    let level = delay_level(properties);
    if level <= 0 {
        return None;
    }
    let level = level.min(max_level);
    let mut props = Props::parse(properties);
    props.set(properties::DELAY, level.to_string());
    props.set(properties::REAL_TOPIC, topic);
    props.set(properties::REAL_QUEUE_ID, queue_id.to_string());
    Some((level - 1, props.encode()))
}

/// A due message's real topic, queue and properties (without `DELAY`).
pub fn unschedule(properties: &str) -> Option<(String, i32, String)> {
    let mut props = Props::parse(properties);
    let topic = props.get(properties::REAL_TOPIC)?.to_owned();
    let queue_id = props.get(properties::REAL_QUEUE_ID)?.parse().ok()?;
    props.remove(properties::DELAY);
    Some((topic, queue_id, props.encode()))
}

/// Where a sent-back message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendBack {
    /// To `%RETRY%group`, with this delay level.
    Retry { topic: String, delay_level: i32 },
    /// To `%DLQ%group`.
    Dead { topic: String },
}

/// The decision for a message consumed `reconsume_times` times so far.
pub fn send_back(
    group: &str,
    reconsume_times: i32,
    requested_level: i32,
    max_reconsume_times: i32,
) -> SendBack {
    if reconsume_times >= max_reconsume_times || requested_level < 0 {
        return SendBack::Dead {
            topic: format!("{DLQ_PREFIX}{group}"),
        };
    }
    SendBack::Retry {
        topic: format!("{RETRY_PREFIX}{group}"),
        delay_level: if requested_level == 0 {
            3 + reconsume_times
        } else {
            requested_level
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delayed_messages_round_trip_through_the_schedule_queue() {
        let props = properties::encode([("TAGS", "a"), ("DELAY", "30")]);
        let (queue, scheduled) = schedule("T", 3, &props, 18).unwrap();
        assert_eq!(queue, 17, "level clamped to 18");
        assert_eq!(properties::get(&scheduled, "REAL_TOPIC"), Some("T"));
        let (topic, queue_id, back) = unschedule(&scheduled).unwrap();
        assert_eq!((topic.as_str(), queue_id), ("T", 3));
        assert_eq!(properties::get(&back, "DELAY"), None);
        assert_eq!(properties::get(&back, "TAGS"), Some("a"));
        assert_eq!(schedule("T", 0, "TAGS\u{1}a\u{2}", 18), None);
    }

    #[test]
    fn send_back_retries_then_buries() {
        assert_eq!(
            send_back("g", 0, 0, 16),
            SendBack::Retry {
                topic: "%RETRY%g".into(),
                delay_level: 3
            }
        );
        assert_eq!(
            send_back("g", 5, 2, 16),
            SendBack::Retry {
                topic: "%RETRY%g".into(),
                delay_level: 2
            }
        );
        assert_eq!(
            send_back("g", 16, 0, 16),
            SendBack::Dead {
                topic: "%DLQ%g".into()
            }
        );
        assert_eq!(
            send_back("g", 0, -1, 16),
            SendBack::Dead {
                topic: "%DLQ%g".into()
            }
        );
    }
}
