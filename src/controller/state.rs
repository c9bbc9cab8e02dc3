//! The controller's replicated state (RocketMQ 5's `ReplicasInfoManager`): per broker
//! group, its members (broker id → address), the master and its epoch, and the in-sync
//! replica set (SyncStateSet) with its own epoch. Pure: [`Event`]s applied in Raft log
//! order by every controller, and the election's choice ([`choose_master`]) made by the
//! leader from what it knows of the brokers' liveness.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// One broker of a group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Remoting address (`brokerIP1:listenPort`).
    pub address: String,
    /// `registerCheckCode` of its CONTROLLER_APPLY_BROKER_ID (`addr;millis`): the same
    /// broker applying again for its id is let through.
    #[serde(default)]
    pub check_code: String,
}

/// One broker group (`brokerName`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub cluster: String,
    pub members: BTreeMap<i64, Member>,
    pub master: Option<i64>,
    pub master_epoch: i32,
    pub sync_state_set: BTreeSet<i64>,
    pub sync_state_set_epoch: i32,
}

impl Group {
    pub fn next_broker_id(&self) -> i64 {
        self.members.keys().next_back().map_or(1, |id| id + 1)
    }

    pub fn master_address(&self) -> Option<&str> {
        self.master
            .and_then(|id| self.members.get(&id))
            .map(|m| m.address.as_str())
    }
}

/// The state every controller holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replicas {
    pub groups: BTreeMap<String, Group>,
}

/// A change, proposed by the leader and applied by all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A broker takes an id in its group (CONTROLLER_APPLY_BROKER_ID), or says where it is
    /// now (CONTROLLER_REGISTER_BROKER: the address may change across restarts).
    Member {
        cluster: String,
        group: String,
        id: i64,
        member: Member,
    },
    /// A new master (`None`: none could be elected; the group waits without one).
    Elected { group: String, master: Option<i64> },
    /// The master changed its in-sync set (CONTROLLER_ALTER_SYNC_STATE_SET).
    SyncStateSet {
        group: String,
        master: i64,
        master_epoch: i32,
        set_epoch: i32,
        set: BTreeSet<i64>,
    },
    /// CLEAN_BROKER_DATA: the group, or some of its members, forgotten.
    Clean {
        group: String,
        ids: Option<Vec<i64>>,
    },
}

/// Why an event was not applied (RocketMQ's controller response codes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    pub code: i32,
    pub remark: String,
}

/// RocketMQ 5's controller response codes.
pub mod codes {
    use crate::protocol::ResponseCode;

    pub const FENCED_MASTER_EPOCH: i32 = ResponseCode::CONTROLLER_FENCED_MASTER_EPOCH.wire();
    pub const FENCED_SYNC_STATE_SET_EPOCH: i32 =
        ResponseCode::CONTROLLER_FENCED_SYNC_STATE_SET_EPOCH.wire();
    pub const INVALID_MASTER: i32 = ResponseCode::CONTROLLER_INVALID_MASTER.wire();
    pub const INVALID_REPLICAS: i32 = ResponseCode::CONTROLLER_INVALID_REPLICAS.wire();
    pub const MASTER_NOT_AVAILABLE: i32 = ResponseCode::CONTROLLER_MASTER_NOT_AVAILABLE.wire();
    pub const INVALID_REQUEST: i32 = ResponseCode::CONTROLLER_INVALID_REQUEST.wire();
    pub const BROKER_NOT_ALIVE: i32 = ResponseCode::CONTROLLER_BROKER_NOT_ALIVE.wire();
    pub const NOT_LEADER: i32 = ResponseCode::CONTROLLER_NOT_LEADER.wire();
    pub const BROKER_METADATA_NOT_EXIST: i32 =
        ResponseCode::CONTROLLER_BROKER_METADATA_NOT_EXIST.wire();
    pub const INVALID_CLEAN_BROKER_METADATA: i32 =
        ResponseCode::CONTROLLER_INVALID_CLEAN_BROKER_METADATA.wire();
    pub const BROKER_NEED_TO_BE_REGISTERED: i32 =
        ResponseCode::CONTROLLER_BROKER_NEED_TO_BE_REGISTERED.wire();
    pub const MASTER_STILL_EXIST: i32 = ResponseCode::CONTROLLER_MASTER_STILL_EXIST.wire();
    pub const ELECT_MASTER_FAILED: i32 = ResponseCode::CONTROLLER_ELECT_MASTER_FAILED.wire();
    pub const ALTER_SYNC_STATE_SET_FAILED: i32 =
        ResponseCode::CONTROLLER_ALTER_SYNC_STATE_SET_FAILED.wire();
    pub const BROKER_ID_INVALID: i32 = ResponseCode::CONTROLLER_BROKER_ID_INVALID.wire();
}

fn refuse(code: i32, remark: impl Into<String>) -> Refused {
    Refused {
        code,
        remark: remark.into(),
    }
}

impl Replicas {
    /// Applies one event; the state is unchanged when it is refused.
    pub fn apply(&mut self, event: &Event) -> Result<(), Refused> {
        match event {
            Event::Member {
                cluster,
                group,
                id,
                member,
            } => {
                if *id <= 0 {
                    return Err(refuse(
                        codes::BROKER_ID_INVALID,
                        format!("broker id {id} is not a replica id (1 or more)"),
                    ));
                }
                let g = self.groups.entry(group.clone()).or_default();
                if g.cluster.is_empty() {
                    g.cluster = cluster.clone();
                }
                g.members.insert(*id, member.clone());
                Ok(())
            }
            Event::Elected { group, master } => {
                let g = self.groups.get_mut(group).ok_or_else(|| {
                    refuse(
                        codes::BROKER_METADATA_NOT_EXIST,
                        format!("no broker group {group}"),
                    )
                })?;
                match master {
                    Some(id) => {
                        if !g.members.contains_key(id) {
                            return Err(refuse(
                                codes::INVALID_MASTER,
                                format!("broker {id} is not a member of {group}"),
                            ));
                        }
                        g.master = Some(*id);
                        g.master_epoch += 1;
                        g.sync_state_set = BTreeSet::from([*id]);
                        g.sync_state_set_epoch += 1;
                    }
                    None => g.master = None,
                }
                Ok(())
            }
            Event::SyncStateSet {
                group,
                master,
                master_epoch,
                set_epoch,
                set,
            } => {
                let g = self.groups.get_mut(group).ok_or_else(|| {
                    refuse(
                        codes::BROKER_METADATA_NOT_EXIST,
                        format!("no broker group {group}"),
                    )
                })?;
                if g.master != Some(*master) {
                    return Err(refuse(
                        codes::INVALID_MASTER,
                        format!("broker {master} is not the master of {group}"),
                    ));
                }
                if g.master_epoch != *master_epoch {
                    return Err(refuse(
                        codes::FENCED_MASTER_EPOCH,
                        format!(
                            "master epoch {master_epoch} is not the current {}",
                            g.master_epoch
                        ),
                    ));
                }
                if g.sync_state_set_epoch != *set_epoch {
                    return Err(refuse(
                        codes::FENCED_SYNC_STATE_SET_EPOCH,
                        format!(
                            "sync state set epoch {set_epoch} is not the current {}",
                            g.sync_state_set_epoch
                        ),
                    ));
                }
                if !set.contains(master) || set.iter().any(|id| !g.members.contains_key(id)) {
                    return Err(refuse(
                        codes::INVALID_REPLICAS,
                        "the set must hold the master and members only",
                    ));
                }
                g.sync_state_set = set.clone();
                g.sync_state_set_epoch += 1;
                Ok(())
            }
            Event::Clean { group, ids } => {
                match ids {
                    None => {
                        self.groups.remove(group);
                    }
                    Some(ids) => {
                        let g = self.groups.get_mut(group).ok_or_else(|| {
                            refuse(
                                codes::INVALID_CLEAN_BROKER_METADATA,
                                format!("no broker group {group}"),
                            )
                        })?;
                        if ids.iter().any(|id| g.master == Some(*id)) {
                            return Err(refuse(
                                codes::INVALID_CLEAN_BROKER_METADATA,
                                "the master cannot be cleaned",
                            ));
                        }
                        for id in ids {
                            g.members.remove(id);
                            g.sync_state_set.remove(id);
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

/// What the leader knows of a live broker (from its heartbeats).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    pub epoch: i32,
    pub max_offset: i64,
    pub election_priority: i32,
}

/// The election (RocketMQ's `DefaultElectPolicy`): the old master if it is alive and in the
/// set; else the `preferred` broker if it can be chosen; else the live member of the
/// in-sync set with the newest epoch, then the longest log, then the best (lowest) priority.
/// Out-of-sync members only with `unclean`. `None`: no one can be master now.
pub fn choose_master(
    group: &Group,
    alive: &BTreeMap<i64, Liveness>,
    preferred: Option<i64>,
    unclean: bool,
) -> Option<i64> {
    let eligible = |id: &i64| {
        alive.contains_key(id)
            && group.members.contains_key(id)
            && (unclean || group.sync_state_set.contains(id))
    };
    if let Some(master) = group.master.filter(|m| eligible(m)) {
        if preferred.is_none_or(|p| p == master) {
            return Some(master);
        }
    }
    if let Some(p) = preferred.filter(|p| eligible(p)) {
        return Some(p);
    }
    let in_set: Vec<i64> = group
        .sync_state_set
        .iter()
        .copied()
        .filter(|id| eligible(id))
        .collect();
    let pool: Vec<i64> = if in_set.is_empty() && unclean {
        group
            .members
            .keys()
            .copied()
            .filter(|id| eligible(id))
            .collect()
    } else {
        in_set
    };
    pool.into_iter().max_by(|a, b| {
        let (la, lb) = (alive[a], alive[b]);
        la.epoch
            .cmp(&lb.epoch)
            .then(la.max_offset.cmp(&lb.max_offset))
            .then(lb.election_priority.cmp(&la.election_priority))
            .then(b.cmp(a))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(port: u16) -> Member {
        Member {
            address: format!("127.0.0.1:{port}"),
            check_code: format!("127.0.0.1:{port};1"),
        }
    }

    fn group_of_three() -> Replicas {
        let mut r = Replicas::default();
        for id in 1..=3 {
            r.apply(&Event::Member {
                cluster: "c".into(),
                group: "b".into(),
                id,
                member: member(10_000 + id as u16 * 10),
            })
            .unwrap();
        }
        r
    }

    fn live(max_offset: i64) -> Liveness {
        Liveness {
            epoch: 1,
            max_offset,
            election_priority: 0,
        }
    }

    #[test]
    fn an_election_raises_the_epoch_and_resets_the_set() {
        let mut r = group_of_three();
        assert_eq!(r.groups["b"].next_broker_id(), 4);
        r.apply(&Event::Elected {
            group: "b".into(),
            master: Some(1),
        })
        .unwrap();
        let g = &r.groups["b"];
        assert_eq!(
            (g.master, g.master_epoch, g.sync_state_set_epoch),
            (Some(1), 1, 1)
        );
        assert_eq!(g.sync_state_set, BTreeSet::from([1]));
        assert_eq!(g.master_address(), Some("127.0.0.1:10010"));
    }

    #[test]
    fn a_stale_master_or_set_epoch_is_fenced() {
        let mut r = group_of_three();
        r.apply(&Event::Elected {
            group: "b".into(),
            master: Some(1),
        })
        .unwrap();
        let alter = |master, master_epoch, set_epoch| Event::SyncStateSet {
            group: "b".into(),
            master,
            master_epoch,
            set_epoch,
            set: BTreeSet::from([1, 2, 3]),
        };
        assert_eq!(r.apply(&alter(1, 1, 1)), Ok(()));
        assert_eq!(r.groups["b"].sync_state_set_epoch, 2);
        assert_eq!(
            r.apply(&alter(1, 1, 1)).unwrap_err().code,
            codes::FENCED_SYNC_STATE_SET_EPOCH
        );
        assert_eq!(
            r.apply(&alter(1, 0, 2)).unwrap_err().code,
            codes::FENCED_MASTER_EPOCH
        );
        assert_eq!(
            r.apply(&alter(2, 1, 2)).unwrap_err().code,
            codes::INVALID_MASTER
        );
        let before = r.clone();
        let no_master = Event::SyncStateSet {
            group: "b".into(),
            master: 1,
            master_epoch: 1,
            set_epoch: 2,
            set: BTreeSet::from([2]),
        };
        assert_eq!(
            r.apply(&no_master).unwrap_err().code,
            codes::INVALID_REPLICAS
        );
        assert_eq!(r, before);
    }

    #[test]
    fn the_election_takes_the_longest_live_log_of_the_set() {
        let mut r = group_of_three();
        r.apply(&Event::Elected {
            group: "b".into(),
            master: Some(1),
        })
        .unwrap();
        r.apply(&Event::SyncStateSet {
            group: "b".into(),
            master: 1,
            master_epoch: 1,
            set_epoch: 1,
            set: BTreeSet::from([1, 2]),
        })
        .unwrap();
        let g = &r.groups["b"];
        // The master alive: it stays.
        let all = BTreeMap::from([(1, live(900)), (2, live(800)), (3, live(1000))]);
        assert_eq!(choose_master(g, &all, None, false), Some(1));
        // The master dead: 2 (in the set) and not 3, though 3's log is longer.
        let without_1 = BTreeMap::from([(2, live(800)), (3, live(1000))]);
        assert_eq!(choose_master(g, &without_1, None, false), Some(2));
        assert_eq!(choose_master(g, &without_1, Some(3), false), Some(2));
        // Only 3 alive: no one, unless unclean elections are allowed.
        let only_3 = BTreeMap::from([(3, live(1000))]);
        assert_eq!(choose_master(g, &only_3, None, false), None);
        assert_eq!(choose_master(g, &only_3, None, true), Some(3));
        // A preferred broker in the set replaces a live master (mqadmin electMaster).
        assert_eq!(choose_master(g, &all, Some(2), false), Some(2));
    }

    #[test]
    fn cleaning_refuses_the_master_and_forgets_the_others() {
        let mut r = group_of_three();
        r.apply(&Event::Elected {
            group: "b".into(),
            master: Some(1),
        })
        .unwrap();
        let clean = |ids| Event::Clean {
            group: "b".into(),
            ids: Some(ids),
        };
        assert_eq!(
            r.apply(&clean(vec![1])).unwrap_err().code,
            codes::INVALID_CLEAN_BROKER_METADATA
        );
        r.apply(&clean(vec![3])).unwrap();
        assert_eq!(
            r.groups["b"].members.keys().copied().collect::<Vec<_>>(),
            vec![1, 2]
        );
        r.apply(&Event::Clean {
            group: "b".into(),
            ids: None,
        })
        .unwrap();
        assert!(r.groups.is_empty());
    }
}
