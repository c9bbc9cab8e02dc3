//! The topic table of a name server: topic → broker name → queue data, as plain data (the
//! [`crate::actors::route_table::RouteTable`] actor is its shell).

use std::collections::{BTreeMap, BTreeSet};

use super::brokers::RouteEffect;
use crate::protocol::body::{QueueData, TopicConfig};

#[derive(Debug, Default)]
pub struct TopicTable {
    topics: BTreeMap<String, BTreeMap<String, QueueData>>,
}

impl TopicTable {
    /// Applies a change decided by the broker table.
    pub fn apply(&mut self, effect: RouteEffect) {
        match effect {
            RouteEffect::ApplyTopics {
                broker_name,
                topics,
                force,
            } => {
                for config in topics {
                    self.apply_topic(&broker_name, config, force);
                }
            }
            RouteEffect::BrokerNameGone { broker_name } => {
                self.topics.retain(|_, queues| {
                    queues.remove(&broker_name);
                    !queues.is_empty()
                });
            }
        }
    }

    fn apply_topic(&mut self, broker_name: &str, config: TopicConfig, force: bool) {
        let queues = self.topics.entry(config.topic_name).or_default();
        if force || !queues.contains_key(broker_name) {
            queues.insert(
                broker_name.to_owned(),
                QueueData {
                    broker_name: broker_name.to_owned(),
                    perm: config.perm,
                    read_queue_nums: config.read_queue_nums,
                    topic_sys_flag: config.topic_sys_flag,
                    write_queue_nums: config.write_queue_nums,
                },
            );
        }
    }

    /// A topic's queue data, by broker name; `None` for an unknown topic.
    pub fn queue_datas(&self, topic: &str) -> Option<Vec<QueueData>> {
        self.topics
            .get(topic)
            .map(|queues| queues.values().cloned().collect())
    }

    /// Every topic name.
    pub fn topic_names(&self) -> BTreeSet<String> {
        self.topics.keys().cloned().collect()
    }

    /// Topics with queue data on any of these brokers.
    pub fn topics_on(&self, broker_names: &BTreeSet<String>) -> BTreeSet<String> {
        self.topics
            .iter()
            .filter(|(_, queues)| queues.keys().any(|name| broker_names.contains(name)))
            .map(|(topic, _)| topic.clone())
            .collect()
    }

    /// WIPE_WRITE_PERM_OF_BROKER (`allow` false: the write bit cleared) and
    /// ADD_WRITE_PERM_OF_BROKER (true: read and write, as the Java name server sets it) of
    /// every topic's queues on `broker_name`; how many topics have queues there. It holds
    /// until the broker registers its topics again with `force`.
    pub fn set_write_perm(&mut self, broker_name: &str, allow: bool) -> i32 {
        use crate::protocol::body::perm::{READ, WRITE};
        let mut count = 0;
        for queues in self.topics.values_mut() {
            if let Some(queue) = queues.get_mut(broker_name) {
                queue.perm = if allow {
                    READ | WRITE
                } else {
                    queue.perm & !WRITE
                };
                count += 1;
            }
        }
        count
    }

    /// Deletes a topic everywhere, or (with `only_on`) only its queue data on those brokers;
    /// a topic left without queue data is deleted.
    pub fn delete(&mut self, topic: &str, only_on: Option<&BTreeSet<String>>) {
        match only_on {
            None => {
                self.topics.remove(topic);
            }
            Some(names) => {
                if let Some(queues) = self.topics.get_mut(topic) {
                    queues.retain(|name, _| !names.contains(name));
                    if queues.is_empty() {
                        self.topics.remove(topic);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_permission_is_wiped_and_added_per_broker() {
        let mut table = TopicTable::default();
        for broker in ["a", "b"] {
            table.apply(RouteEffect::ApplyTopics {
                broker_name: broker.into(),
                topics: vec![TopicConfig::new("T", 4), TopicConfig::new("U", 4)],
                force: true,
            });
        }
        assert_eq!(table.set_write_perm("a", false), 2);
        let perms = |t: &TopicTable| -> Vec<(String, i32)> {
            t.queue_datas("T")
                .unwrap()
                .into_iter()
                .map(|q| (q.broker_name, q.perm))
                .collect()
        };
        assert_eq!(perms(&table), vec![("a".into(), 4), ("b".into(), 6)]);
        assert_eq!(table.set_write_perm("nobody", false), 0);
        assert_eq!(table.set_write_perm("a", true), 2);
        assert_eq!(perms(&table), vec![("a".into(), 6), ("b".into(), 6)]);
    }
}
