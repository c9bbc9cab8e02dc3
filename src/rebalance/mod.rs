//! Client-side queue allocation: which of a topic's queues each consumer of a group takes.
//!
//! Matches RocketMQ's `AllocateMessageQueueStrategy` family
//! (`org.apache.rocketmq.client.consumer.rebalance`) together with the input preparation
//! of `RebalanceImpl.rebalanceByTopic` and the `check` of
//! `AbstractAllocateMessageQueueStrategy`. Every strategy is a pure function of
//! (group, own client id, queues, client ids): each consumer of a group runs it on its own
//! and they agree because they see the same sorted inputs.
//!
//! - [`Averagely`] (`AVG`, the default): contiguous blocks, earlier clients take one more;
//! - [`AveragelyByCircle`] (`AVG_BY_CIRCLE`): deal the queues round-robin;
//! - [`ByConfig`] (`CONFIG`): a fixed list;
//! - [`ByMachineRoom`] (`MACHINE_ROOM`): only brokers named `room@name` in the client's rooms;
//! - [`ConsistentHash`] (`CONSISTENT_HASH`): an MD5 ring with virtual nodes per client.

mod averagely;
mod circle;
mod config;
mod consistent_hash;
mod machine_room;
#[cfg(test)]
mod properties;

pub use averagely::Averagely;
pub use circle::AveragelyByCircle;
pub use config::ByConfig;
pub use consistent_hash::ConsistentHash;
pub use machine_room::ByMachineRoom;

use crate::protocol::body::client::MessageQueue;
use std::cmp::Ordering;

/// A queue allocation strategy, as RocketMQ's `AllocateMessageQueueStrategy`.
pub trait AllocateStrategy: Send + Sync + std::fmt::Debug {
    /// RocketMQ's name of the strategy, e.g. "AVG", "AVG_BY_CIRCLE", "CONFIG",
    /// "MACHINE_ROOM", "CONSISTENT_HASH".
    fn name(&self) -> &'static str;

    /// The queues `current_cid` should consume.
    ///
    /// Inputs may come in any order and may contain duplicates; they are sorted and
    /// deduplicated as RocketMQ's `RebalanceImpl` does before calling the strategy (queues
    /// by (topic, broker_name, queue_id), client ids as strings, both in Java's UTF-16
    /// order). Empty if `current_cid` is not in `cid_all` or either list is empty — except
    /// for [`ByConfig`], which like Java returns its list whatever the inputs.
    fn allocate(
        &self,
        consumer_group: &str,
        current_cid: &str,
        mq_all: &[MessageQueue],
        cid_all: &[String],
    ) -> Vec<MessageQueue>;
}

/// The strategy RocketMQ names `name`, for those that need no configuration:
/// "AVG", "AVG_BY_CIRCLE" and "CONSISTENT_HASH" (10 virtual nodes).
pub fn by_name(name: &str) -> Option<Box<dyn AllocateStrategy>> {
    match name {
        "AVG" => Some(Box::new(Averagely)),
        "AVG_BY_CIRCLE" => Some(Box::new(AveragelyByCircle)),
        "CONSISTENT_HASH" => Some(Box::new(ConsistentHash::default())),
        _ => None,
    }
}

/// The inputs a strategy works on, prepared as `RebalanceImpl` prepares them and checked
/// as `AbstractAllocateMessageQueueStrategy.check` checks them.
#[derive(Debug)]
struct Prepared<'a> {
    /// Distinct queues in `MessageQueue.compareTo` order.
    queues: Vec<&'a MessageQueue>,
    /// Distinct client ids in `String.compareTo` order.
    clients: Vec<&'a str>,
    /// Position of the current client in `clients`.
    index: usize,
}

impl<'a> Prepared<'a> {
    /// `None` when Java would return nothing: an empty list (Java throws, and the caller
    /// logs and keeps its old assignment) or a client id not in the list.
    fn new(current_cid: &str, mq_all: &'a [MessageQueue], cid_all: &'a [String]) -> Option<Self> {
        if current_cid.is_empty() || mq_all.is_empty() || cid_all.is_empty() {
            return None;
        }
        let mut clients: Vec<&str> = cid_all.iter().map(String::as_str).collect();
        clients.sort_unstable_by(|a, b| java_str_cmp(a, b));
        clients.dedup();
        let index = clients.iter().position(|cid| *cid == current_cid)?;

        let mut queues: Vec<&MessageQueue> = mq_all.iter().collect();
        queues.sort_unstable_by(|a, b| java_queue_cmp(a, b));
        queues.dedup();
        Some(Prepared {
            queues,
            clients,
            index,
        })
    }
}

/// Java's `String.compareTo`: UTF-16 code unit order. It differs from Rust's byte order
/// only when one string has a character above U+FFFF where the other has one in
/// U+E000..=U+FFFF.
fn java_str_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// `MessageQueue.compareTo`: topic, then broker name, then queue id.
fn java_queue_cmp(a: &MessageQueue, b: &MessageQueue) -> Ordering {
    java_str_cmp(&a.topic, &b.topic)
        .then_with(|| java_str_cmp(&a.broker_name, &b.broker_name))
        .then_with(|| a.queue_id.cmp(&b.queue_id))
}

#[cfg(test)]
mod test_util {
    use crate::protocol::body::client::MessageQueue;

    pub fn mq(topic: &str, broker_name: &str, queue_id: i32) -> MessageQueue {
        MessageQueue {
            broker_name: broker_name.to_owned(),
            queue_id,
            topic: topic.to_owned(),
        }
    }

    /// Queues 0..n of topic "T" on "broker-a".
    pub fn queues(n: i32) -> Vec<MessageQueue> {
        (0..n).map(|q| mq("T", "broker-a", q)).collect()
    }

    pub fn cids(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| (*s).to_owned()).collect()
    }

    /// The queue ids in an allocation.
    pub fn ids(queues: &[MessageQueue]) -> Vec<i32> {
        queues.iter().map(|q| q.queue_id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::{cids, ids, mq, queues};
    use super::*;

    #[test]
    fn by_name_knows_the_strategies_without_config() {
        for name in ["AVG", "AVG_BY_CIRCLE", "CONSISTENT_HASH"] {
            assert_eq!(by_name(name).map(|s| s.name()), Some(name));
        }
        assert!(by_name("CONFIG").is_none());
        assert!(by_name("MACHINE_ROOM").is_none());
        assert!(by_name("avg").is_none());
    }

    #[test]
    fn queues_sort_by_topic_then_broker_then_id() {
        // The derived `Ord` of MessageQueue compares broker_name first; Java compares topic.
        let shuffled = vec![
            mq("B", "broker-a", 0),
            mq("A", "broker-b", 0),
            mq("A", "broker-a", 10),
            mq("A", "broker-a", 2),
        ];
        let members = cids(&["c"]);
        let p = Prepared::new("c", &shuffled, &members).expect("c is a member");
        let order: Vec<(&str, &str, i32)> = p
            .queues
            .iter()
            .map(|q| (q.topic.as_str(), q.broker_name.as_str(), q.queue_id))
            .collect();
        assert_eq!(
            order,
            [
                ("A", "broker-a", 2),
                ("A", "broker-a", 10),
                ("A", "broker-b", 0),
                ("B", "broker-a", 0),
            ]
        );
    }

    #[test]
    fn client_ids_sort_in_utf16_order() {
        // U+FF61 is 0xEF.. in UTF-8 but 0xFF61 in UTF-16; U+10000 is 0xF0.. in UTF-8 but
        // 0xD800 0xDC00 in UTF-16. Java puts U+10000 first, byte order would not.
        let high = "\u{10000}".to_owned();
        let bmp = "\u{FF61}".to_owned();
        let all = vec![bmp.clone(), high.clone()];
        assert_eq!(ids(&Averagely.allocate("g", &high, &queues(2), &all)), [0]);
        assert_eq!(ids(&Averagely.allocate("g", &bmp, &queues(2), &all)), [1]);
    }

    #[test]
    fn empty_inputs_and_strangers_get_nothing() {
        let all = cids(&["a", "b"]);
        assert!(Averagely.allocate("g", "a", &[], &all).is_empty());
        assert!(Averagely.allocate("g", "a", &queues(4), &[]).is_empty());
        assert!(Averagely.allocate("g", "", &queues(4), &all).is_empty());
        assert!(Averagely.allocate("g", "c", &queues(4), &all).is_empty());
        assert_eq!(ids(&Averagely.allocate("g", "a", &queues(4), &all)), [0, 1]);
    }
}
