//! The broker table of a name server, as plain data and decisions (the
//! [`crate::actors::registry::Registry`] actor is its shell).
//!
//! Brokers are grouped by cluster and by broker name (a master, id 0, and its slaves); each
//! registered address has a live entry (last heartbeat, expiry, data version, the connection
//! it registered on). Methods take the current time and return what the route table must do
//! ([`RouteEffect`]); they never do I/O.
//!
//! Semantics follow RocketMQ 5.x's `RouteInfoManager`, with two deliberate differences: a
//! refused registration leaves no empty group behind, and a broker id re-registered from a
//! new address drops the old address's live entry instead of leaving it to linger.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use crate::protocol::body::{BrokerData, ClusterInfo, DataVersion, TopicConfig};
use crate::protocol::header::namesrv::{
    BrokerIdentity, RegisterBrokerRequest, RegisterBrokerResponse,
};
use crate::remoting::ConnId;

/// A change the route table must apply after a broker-table change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum RouteEffect {
    /// Write the broker's queue data for these topics. With `force` every topic is
    /// rewritten; otherwise only topics that have no queue data for the broker yet.
    ApplyTopics {
        broker_name: String,
        topics: Vec<TopicConfig>,
        force: bool,
    },
    /// The broker name has no address left: drop its queue data everywhere.
    BrokerNameGone { broker_name: String },
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// RocketMQ's rule: a broker id not yet known that registers a table of exactly one
    /// topic is refused (a single-topic update must follow a full registration).
    #[error("register broker failed")]
    SingleTopicFromUnknownBroker,
}

/// The outcome of a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub response: RegisterBrokerResponse,
    pub effects: Vec<RouteEffect>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct LiveKey {
    cluster: String,
    addr: String,
}

#[derive(Debug, Clone)]
struct Live {
    last_update: Instant,
    timeout: Duration,
    data_version: DataVersion,
    conn: Option<ConnId>,
    ha_server_addr: String,
    broker_name: String,
}

/// Brokers by cluster, name and id, with their liveness.
#[derive(Debug, Default)]
pub struct BrokerTable {
    clusters: BTreeMap<String, BTreeSet<String>>,
    groups: BTreeMap<String, BrokerData>,
    live: HashMap<LiveKey, Live>,
    default_timeout: Duration,
}

impl BrokerTable {
    /// An empty table whose brokers expire after `default_timeout` without a heartbeat
    /// (unless a broker asks for its own timeout).
    pub fn new(default_timeout: Duration) -> Self {
        Self {
            default_timeout,
            ..Self::default()
        }
    }

    /// Registers (or refreshes) a broker.
    pub fn register(
        &mut self,
        req: &RegisterBrokerRequest,
        data_version: DataVersion,
        topics: Vec<TopicConfig>,
        conn: Option<ConnId>,
        now: Instant,
    ) -> Result<Registered, RegisterError> {
        let known_id = self
            .groups
            .get(&req.broker_name)
            .is_some_and(|g| g.broker_addrs.contains_key(&req.broker_id));
        if !known_id && topics.len() == 1 {
            return Err(RegisterError::SingleTopicFromUnknownBroker);
        }
        let key = LiveKey {
            cluster: req.cluster_name.clone(),
            addr: req.broker_addr.clone(),
        };
        // The same id from a new address loses to a live old address with a newer state.
        let stale = self
            .groups
            .get(&req.broker_name)
            .and_then(|g| g.broker_addrs.get(&req.broker_id))
            .filter(|old| *old != &req.broker_addr)
            .and_then(|old| {
                self.live.get(&LiveKey {
                    cluster: req.cluster_name.clone(),
                    addr: old.clone(),
                })
            })
            .is_some_and(|old| old.data_version.state_version > data_version.state_version);
        if stale {
            self.live.remove(&key);
            return Ok(Registered {
                response: RegisterBrokerResponse::default(),
                effects: Vec::new(),
            });
        }
        let old_version_broker = req.enable_acting_master.is_none();
        self.clusters
            .entry(req.cluster_name.clone())
            .or_default()
            .insert(req.broker_name.clone());
        let mut first = !self.groups.contains_key(&req.broker_name);
        let group = self
            .groups
            .entry(req.broker_name.clone())
            .or_insert_with(|| BrokerData {
                broker_name: req.broker_name.clone(),
                cluster: req.cluster_name.clone(),
                ..BrokerData::default()
            });
        group.enable_acting_master = !old_version_broker && req.enable_acting_master == Some(true);
        // One address holds one id: a slave promoted to master drops its old id.
        group
            .broker_addrs
            .retain(|&id, addr| !(addr == &req.broker_addr && id != req.broker_id));
        let replaced = group
            .broker_addrs
            .insert(req.broker_id, req.broker_addr.clone());
        first |= replaced.is_none();
        if let Some(old_addr) = replaced.filter(|old| old != &req.broker_addr) {
            self.live.remove(&LiveKey {
                cluster: req.cluster_name.clone(),
                addr: old_addr,
            });
        }
        let is_master = req.broker_id == crate::protocol::body::route::MASTER_ID;
        let min_id = group.broker_addrs.keys().next().copied();
        let prime_slave = !old_version_broker && !is_master && min_id == Some(req.broker_id);
        let acting_master = group.enable_acting_master;
        let master_addr = group.master_addr().map(str::to_owned);

        let mut effects = Vec::new();
        if is_master || prime_slave {
            let version_changed = self
                .live
                .get(&key)
                .is_none_or(|live| live.data_version != data_version);
            let topics = topics
                .into_iter()
                .map(|mut topic| {
                    if prime_slave && acting_master {
                        topic.perm &= !crate::protocol::body::perm::WRITE;
                    }
                    topic
                })
                .collect();
            effects.push(RouteEffect::ApplyTopics {
                broker_name: req.broker_name.clone(),
                topics,
                force: first || version_changed,
            });
        }
        self.live.insert(
            key,
            Live {
                last_update: now,
                timeout: req
                    .heartbeat_timeout_millis
                    .and_then(|ms| u64::try_from(ms).ok())
                    .map_or(self.default_timeout, Duration::from_millis),
                data_version,
                conn,
                ha_server_addr: req.ha_server_addr.clone(),
                broker_name: req.broker_name.clone(),
            },
        );
        let mut response = RegisterBrokerResponse::default();
        if !is_master {
            if let Some(master_addr) = master_addr {
                let master = self.live.get(&LiveKey {
                    cluster: req.cluster_name.clone(),
                    addr: master_addr.clone(),
                });
                if let Some(master) = master {
                    response.ha_server_addr = Some(master.ha_server_addr.clone());
                    response.master_addr = Some(master_addr);
                }
            }
        }
        Ok(Registered { response, effects })
    }

    /// Removes one broker address (UNREGISTER_BROKER, expiry, closed connection).
    pub fn unregister(&mut self, who: &BrokerIdentity) -> Vec<RouteEffect> {
        self.remove_addr(&who.cluster_name, &who.broker_name, &who.broker_addr)
    }

    fn remove_addr(&mut self, cluster: &str, broker_name: &str, addr: &str) -> Vec<RouteEffect> {
        self.live.remove(&LiveKey {
            cluster: cluster.to_owned(),
            addr: addr.to_owned(),
        });
        let Some(group) = self.groups.get_mut(broker_name) else {
            return Vec::new();
        };
        group.broker_addrs.retain(|_, a| a != addr);
        if !group.broker_addrs.is_empty() {
            return Vec::new();
        }
        self.groups.remove(broker_name);
        if let Some(names) = self.clusters.get_mut(cluster) {
            names.remove(broker_name);
            if names.is_empty() {
                self.clusters.remove(cluster);
            }
        }
        vec![RouteEffect::BrokerNameGone {
            broker_name: broker_name.to_owned(),
        }]
    }

    /// Removes every broker whose last heartbeat is older than its timeout. Returns the
    /// removed addresses and the route effects.
    pub fn expire(&mut self, now: Instant) -> (Vec<String>, Vec<RouteEffect>) {
        let expired: Vec<(LiveKey, String)> = self
            .live
            .iter()
            .filter(|(_, live)| now.saturating_duration_since(live.last_update) > live.timeout)
            .map(|(key, live)| (key.clone(), live.broker_name.clone()))
            .collect();
        self.remove_all(expired)
    }

    /// Removes every broker that registered over `conn`, which has closed.
    pub fn disconnected(&mut self, conn: ConnId) -> (Vec<String>, Vec<RouteEffect>) {
        let gone: Vec<(LiveKey, String)> = self
            .live
            .iter()
            .filter(|(_, live)| live.conn == Some(conn))
            .map(|(key, live)| (key.clone(), live.broker_name.clone()))
            .collect();
        self.remove_all(gone)
    }

    fn remove_all(&mut self, keys: Vec<(LiveKey, String)>) -> (Vec<String>, Vec<RouteEffect>) {
        let mut addrs = Vec::new();
        let mut effects = Vec::new();
        for (key, broker_name) in keys {
            effects.extend(self.remove_addr(&key.cluster, &broker_name, &key.addr));
            addrs.push(key.addr);
        }
        addrs.sort();
        (addrs, effects)
    }

    /// QUERY_DATA_VERSION: whether `version` differs from the stored one (also a heartbeat).
    pub fn query_data_version(
        &mut self,
        who: &BrokerIdentity,
        version: &DataVersion,
        now: Instant,
    ) -> (bool, Option<DataVersion>) {
        let key = LiveKey {
            cluster: who.cluster_name.clone(),
            addr: who.broker_addr.clone(),
        };
        match self.live.get_mut(&key) {
            Some(live) => {
                live.last_update = now;
                (
                    &live.data_version != version,
                    Some(live.data_version.clone()),
                )
            }
            None => (true, None),
        }
    }

    /// BROKER_HEARTBEAT: refreshes a live broker's timestamp.
    pub fn heartbeat(&mut self, cluster: &str, addr: &str, now: Instant) {
        let key = LiveKey {
            cluster: cluster.to_owned(),
            addr: addr.to_owned(),
        };
        if let Some(live) = self.live.get_mut(&key) {
            live.last_update = now;
        }
    }

    /// The groups of the given broker names that exist.
    pub fn broker_datas<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Vec<BrokerData> {
        names
            .into_iter()
            .filter_map(|name| self.groups.get(name).cloned())
            .collect()
    }

    /// The broker names of a cluster (empty for an unknown cluster).
    pub fn cluster_brokers(&self, cluster: &str) -> BTreeSet<String> {
        self.clusters.get(cluster).cloned().unwrap_or_default()
    }

    /// GET_BROKER_CLUSTER_INFO.
    pub fn cluster_info(&self) -> ClusterInfo {
        ClusterInfo {
            broker_addr_table: self.groups.clone(),
            cluster_addr_table: self.clusters.clone(),
        }
    }
}
