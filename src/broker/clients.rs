//! Producer and consumer clients of a broker, as plain data: who is connected, which
//! consumer groups they belong to and what those groups subscribe to. Decisions come back
//! as [`ClientEffect`]s for the [`crate::actors::client_manager::ClientManager`] to deliver.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use crate::protocol::body::client::{ConsumerData, HeartbeatData, SubscriptionData};
use crate::remoting::ConnId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEffect {
    /// A group's membership changed: tell these members (client ids) to rebalance.
    NotifyIdsChanged { group: String, members: Vec<String> },
    /// A consumer group needs its `%RETRY%` topic.
    EnsureRetryTopic(String),
    /// Some group's subscriptions changed.
    SubscriptionsChanged,
}

/// Clients online by kind (see [`ClientTable::counts`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ClientCounts {
    pub consumers: BTreeMap<(String, String, i32, &'static str), usize>,
    pub producers: BTreeMap<(String, i32), usize>,
}

#[derive(Debug)]
struct Client {
    conn: ConnId,
    last_seen: Instant,
    consumer_groups: BTreeSet<String>,
    /// The language and version of its last HEART_BEAT.
    language: String,
    version: i32,
}

/// One client of a group, as the admin tools see it (a `Connection` but the address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    pub client_id: String,
    pub conn: ConnId,
    pub language: String,
    pub version: i32,
}

/// A consumer group's members and what they declared (GET_CONSUMER_CONNECTION_LIST).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    pub members: Vec<ClientInfo>,
    /// Of the first member, as the Java broker keeps the last heartbeat's.
    pub consume_type: String,
    pub message_model: String,
    pub consume_from_where: String,
    pub subscriptions: Vec<SubscriptionData>,
}

#[derive(Debug, Default)]
struct Group {
    members: BTreeMap<String, ConsumerData>,
    subscriptions: BTreeMap<String, SubscriptionData>,
}

impl Group {
    /// Takes each subscription that differs from the group's and is not older; true if any.
    fn take_newer(&mut self, subs: &[SubscriptionData]) -> bool {
        let mut changed = false;
        for sub in subs {
            let newer = self
                .subscriptions
                .get(&sub.topic)
                .is_none_or(|old| old != sub && old.sub_version <= sub.sub_version);
            if newer {
                self.subscriptions.insert(sub.topic.clone(), sub.clone());
                changed = true;
            }
        }
        changed
    }
}

#[derive(Debug, Default)]
pub struct ClientTable {
    clients: HashMap<String, Client>,
    groups: BTreeMap<String, Group>,
    /// Producer group → the clients that heartbeat as its producers.
    producers: BTreeMap<String, BTreeSet<String>>,
    /// Turns through a group's producers, one per question (transaction checks).
    next_producer: usize,
}

impl ClientTable {
    /// A HEART_BEAT from `conn`.
    /// `language` and `version` are the request's (shown by the admin tools).
    pub fn heartbeat(
        &mut self,
        conn: ConnId,
        data: HeartbeatData,
        now: Instant,
        language: &str,
        version: i32,
    ) -> Vec<ClientEffect> {
        let mut effects = Vec::new();
        let client = self
            .clients
            .entry(data.client_id.clone())
            .or_insert(Client {
                conn,
                last_seen: now,
                consumer_groups: BTreeSet::new(),
                language: String::new(),
                version: 0,
            });
        client.conn = conn;
        client.last_seen = now;
        client.language = language.to_owned();
        client.version = version;
        for producer in &data.producer_data_set {
            self.producers
                .entry(producer.group_name.clone())
                .or_default()
                .insert(data.client_id.clone());
        }
        let mut subscriptions_changed = false;
        for consumer in data.consumer_data_set {
            let name = consumer.group_name.clone();
            client.consumer_groups.insert(name.clone());
            let group = self.groups.entry(name.clone()).or_default();
            let joined = !group.members.contains_key(&data.client_id);
            // The published view carries the group's message model too.
            subscriptions_changed |= group
                .members
                .get(&data.client_id)
                .is_some_and(|old| old.message_model != consumer.message_model);
            if !data.without_sub {
                subscriptions_changed |= group.take_newer(&consumer.subscription_data_set);
            }
            group.members.insert(data.client_id.clone(), consumer);
            if joined {
                effects.push(ClientEffect::EnsureRetryTopic(name.clone()));
                effects.push(ClientEffect::NotifyIdsChanged {
                    members: group.members.keys().cloned().collect(),
                    group: name,
                });
            }
        }
        if subscriptions_changed {
            effects.push(ClientEffect::SubscriptionsChanged);
        }
        effects
    }

    /// UNREGISTER_CLIENT (or a departure): removes the client from `only_group`, or from
    /// every group when `None`.
    pub fn unregister(&mut self, client_id: &str, only_group: Option<&str>) -> Vec<ClientEffect> {
        let Some(client) = self.clients.get_mut(client_id) else {
            return Vec::new();
        };
        let groups: Vec<String> = match only_group {
            Some(group) => client.consumer_groups.take(group).into_iter().collect(),
            None => std::mem::take(&mut client.consumer_groups)
                .into_iter()
                .collect(),
        };
        if only_group.is_none() {
            self.clients.remove(client_id);
            self.producers.retain(|_, ids| {
                ids.remove(client_id);
                !ids.is_empty()
            });
        }
        let mut effects = Vec::new();
        for name in groups {
            let Some(group) = self.groups.get_mut(&name) else {
                continue;
            };
            if group.members.remove(client_id).is_some() {
                if group.members.is_empty() {
                    self.groups.remove(&name);
                    effects.push(ClientEffect::SubscriptionsChanged);
                } else {
                    effects.push(ClientEffect::NotifyIdsChanged {
                        members: group.members.keys().cloned().collect(),
                        group: name,
                    });
                }
            }
        }
        effects
    }

    /// A connection closed: its clients are gone.
    pub fn disconnected(&mut self, conn: ConnId) -> Vec<ClientEffect> {
        let gone: Vec<String> = self
            .clients
            .iter()
            .filter(|(_, c)| c.conn == conn)
            .map(|(id, _)| id.clone())
            .collect();
        gone.iter()
            .flat_map(|id| self.unregister(id, None))
            .collect()
    }

    /// Drops clients silent for longer than `timeout`.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> Vec<ClientEffect> {
        let gone: Vec<String> = self
            .clients
            .iter()
            .filter(|(_, c)| now.saturating_duration_since(c.last_seen) > timeout)
            .map(|(id, _)| id.clone())
            .collect();
        gone.iter()
            .flat_map(|id| self.unregister(id, None))
            .collect()
    }

    /// UNREGISTER_CLIENT of a producer group.
    pub fn unregister_producer(&mut self, client_id: &str, group: &str) {
        if let Some(ids) = self.producers.get_mut(group) {
            ids.remove(client_id);
            if ids.is_empty() {
                self.producers.remove(group);
            }
        }
    }

    /// The connection of one live producer of `group`, taking its producers in turn (Java's
    /// `ProducerManager.getAvailableChannel`).
    pub fn producer_conn(&mut self, group: &str) -> Option<ConnId> {
        let ids = self.producers.get(group)?;
        let live: Vec<ConnId> = ids
            .iter()
            .filter_map(|id| self.clients.get(id).map(|c| c.conn))
            .collect();
        if live.is_empty() {
            return None;
        }
        self.next_producer = self.next_producer.wrapping_add(1);
        Some(live[self.next_producer % live.len()])
    }

    /// Client ids of a consumer group, sorted.
    pub fn consumer_ids(&self, group: &str) -> Vec<String> {
        self.groups
            .get(group)
            .map(|g| g.members.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Subscriptions a member of `group` reported outside a heartbeat (its answer to
    /// GET_CONSUMER_RUNNING_INFO), taken as a heartbeat's are: where newer. Ignored unless
    /// `client_id` is a member of `group`.
    pub fn subscribed(
        &mut self,
        client_id: &str,
        group: &str,
        subs: &[SubscriptionData],
    ) -> Vec<ClientEffect> {
        let Some(g) = self.groups.get_mut(group) else {
            return Vec::new();
        };
        if g.members.contains_key(client_id) && g.take_newer(subs) {
            vec![ClientEffect::SubscriptionsChanged]
        } else {
            Vec::new()
        }
    }

    /// The members of `group` that heartbeat on `conn`.
    pub fn members_on(&self, conn: ConnId, group: &str) -> Vec<String> {
        self.groups
            .get(group)
            .map(|g| {
                g.members
                    .keys()
                    .filter(|id| self.conn_of(id) == Some(conn))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    fn info(&self, client_id: &str) -> Option<ClientInfo> {
        self.clients.get(client_id).map(|c| ClientInfo {
            client_id: client_id.to_owned(),
            conn: c.conn,
            language: c.language.clone(),
            version: c.version,
        })
    }

    /// A consumer group's members and declarations; `None` when no member is online.
    pub fn group_info(&self, group: &str) -> Option<GroupInfo> {
        let g = self.groups.get(group)?;
        let first = g.members.values().next()?;
        Some(GroupInfo {
            members: g.members.keys().filter_map(|id| self.info(id)).collect(),
            consume_type: first.consume_type.clone(),
            message_model: first.message_model.clone(),
            consume_from_where: first.consume_from_where.clone(),
            subscriptions: g.subscriptions.values().cloned().collect(),
        })
    }

    /// Clients online, counted as RocketMQ's metrics count them: consumers by (group,
    /// language, version, consume mode `push` / `pull`), producers by (language, version).
    pub fn counts(&self) -> ClientCounts {
        let mut counts = ClientCounts::default();
        for (name, group) in &self.groups {
            for (client_id, data) in &group.members {
                let Some(client) = self.clients.get(client_id) else {
                    continue;
                };
                let mode = match data.consume_type.as_str() {
                    "CONSUME_ACTIVELY" => "pull",
                    _ => "push",
                };
                *counts
                    .consumers
                    .entry((name.clone(), client.language.clone(), client.version, mode))
                    .or_default() += 1;
            }
        }
        let producers: BTreeSet<&String> = self.producers.values().flatten().collect();
        for client_id in producers {
            if let Some(client) = self.clients.get(client_id) {
                *counts
                    .producers
                    .entry((client.language.clone(), client.version))
                    .or_default() += 1;
            }
        }
        counts
    }

    /// A producer group's clients; `None` when none is online.
    pub fn producer_info(&self, group: &str) -> Option<Vec<ClientInfo>> {
        let ids = self.producers.get(group)?;
        Some(ids.iter().filter_map(|id| self.info(id)).collect())
    }

    /// The consumer groups online that subscribe to `topic`.
    pub fn groups_of_topic(&self, topic: &str) -> BTreeSet<String> {
        self.groups
            .iter()
            .filter(|(_, g)| g.subscriptions.contains_key(topic))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Whether a group's members consume in BROADCASTING mode.
    pub fn broadcasting(&self, group: &str) -> bool {
        self.groups
            .get(group)
            .and_then(|g| g.members.values().next())
            .is_some_and(|m| m.message_model == "BROADCASTING")
    }

    /// The connection of a client.
    pub fn conn_of(&self, client_id: &str) -> Option<ConnId> {
        self.clients.get(client_id).map(|c| c.conn)
    }

    /// Every group's subscriptions, keyed by (group, topic).
    pub fn subscriptions(&self) -> HashMap<(String, String), SubscriptionData> {
        self.groups
            .iter()
            .flat_map(|(group, g)| {
                g.subscriptions
                    .iter()
                    .map(move |(topic, sub)| ((group.clone(), topic.clone()), sub.clone()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heartbeat(client: &str, group: &str, topic: &str, version: i64) -> HeartbeatData {
        HeartbeatData {
            client_id: client.into(),
            consumer_data_set: vec![ConsumerData {
                group_name: group.into(),
                consume_type: "CONSUME_PASSIVELY".into(),
                message_model: "CLUSTERING".into(),
                subscription_data_set: vec![SubscriptionData {
                    topic: topic.into(),
                    sub_string: "*".into(),
                    sub_version: version,
                    ..SubscriptionData::default()
                }],
                ..ConsumerData::default()
            }],
            ..HeartbeatData::default()
        }
    }

    #[test]
    fn reported_subscriptions_are_taken_from_members_when_newer() {
        let now = Instant::now();
        let mut table = ClientTable::default();
        table.heartbeat(ConnId(1), heartbeat("c1", "g", "T", 5), now, "JAVA", 0);
        table.heartbeat(ConnId(2), heartbeat("c2", "g", "T", 5), now, "JAVA", 0);
        assert_eq!(table.members_on(ConnId(1), "g"), vec!["c1"]);
        assert!(table.members_on(ConnId(1), "other").is_empty());
        let sub = |version| {
            heartbeat("c1", "g", "T", version).consumer_data_set[0]
                .subscription_data_set
                .clone()
        };
        // Older, or not a member: ignored.
        assert!(table.subscribed("c1", "g", &sub(4)).is_empty());
        assert!(table.subscribed("stranger", "g", &sub(9)).is_empty());
        assert_eq!(
            table.subscriptions()[&("g".into(), "T".into())].sub_version,
            5
        );
        // Newer: taken, as from a heartbeat.
        assert_eq!(
            table.subscribed("c1", "g", &sub(9)),
            vec![ClientEffect::SubscriptionsChanged]
        );
        assert_eq!(
            table.subscriptions()[&("g".into(), "T".into())].sub_version,
            9
        );
        assert!(table.subscribed("c1", "g", &sub(9)).is_empty());
    }

    #[test]
    fn group_and_producer_views_show_who_is_online() {
        let now = Instant::now();
        let mut table = ClientTable::default();
        assert_eq!(table.group_info("g"), None);
        let mut data = heartbeat("c1", "g", "T", 1);
        data.producer_data_set
            .push(crate::protocol::body::client::ProducerData {
                group_name: "pg".into(),
            });
        table.heartbeat(ConnId(7), data, now, "GO", 317);
        let info = table.group_info("g").unwrap();
        assert_eq!(
            info.members,
            vec![ClientInfo {
                client_id: "c1".into(),
                conn: ConnId(7),
                language: "GO".into(),
                version: 317
            }]
        );
        assert_eq!(info.message_model, "CLUSTERING");
        assert_eq!(info.subscriptions[0].topic, "T");
        assert_eq!(table.producer_info("pg").unwrap()[0].client_id, "c1");
        assert_eq!(table.producer_info("other"), None);
        assert_eq!(
            table.groups_of_topic("T"),
            BTreeSet::from(["g".to_string()])
        );
        assert!(table.groups_of_topic("U").is_empty());
        table.disconnected(ConnId(7));
        assert_eq!(table.group_info("g"), None);
        assert_eq!(table.producer_info("pg"), None);
    }

    #[test]
    fn membership_changes_notify_members_and_heartbeats_do_not() {
        let now = Instant::now();
        let mut table = ClientTable::default();
        let first = table.heartbeat(ConnId(1), heartbeat("c1", "g", "T", 1), now, "JAVA", 0);
        assert!(first.contains(&ClientEffect::EnsureRetryTopic("g".into())));
        assert!(first.contains(&ClientEffect::SubscriptionsChanged));
        assert!(table
            .heartbeat(ConnId(1), heartbeat("c1", "g", "T", 1), now, "JAVA", 0)
            .is_empty());
        let second = table.heartbeat(ConnId(2), heartbeat("c2", "g", "T", 1), now, "JAVA", 0);
        assert!(second.contains(&ClientEffect::NotifyIdsChanged {
            group: "g".into(),
            members: vec!["c1".into(), "c2".into()]
        }));
        assert_eq!(table.consumer_ids("g"), vec!["c1", "c2"]);
        let closed = table.disconnected(ConnId(1));
        assert_eq!(
            closed,
            vec![ClientEffect::NotifyIdsChanged {
                group: "g".into(),
                members: vec!["c2".into()]
            }]
        );
        let expired = table.expire(now + Duration::from_secs(121), Duration::from_secs(120));
        assert_eq!(expired, vec![ClientEffect::SubscriptionsChanged]);
        assert!(table.consumer_ids("g").is_empty());
    }
}
