//! BrokerLiveness: a controller's view of which brokers are alive (RocketMQ 5's
//! `DefaultBrokerHeartbeatManager`). Every controller keeps its own (brokers heartbeat to
//! all of them), so a newly elected controller leader knows at once.
//!
//! **Owns** the table of brokers by (group, id): address, connection, last heartbeat, the
//! timeout it asked for, its epoch, max offset and election priority.
//!
//! **Handles** [`Heartbeat`] and [`Closed`] (a connection ended) from the controller's
//! remoting service, [`AliveIn`] from the controller core before an election or a change of
//! in-sync set, and its own scan every `scanNotActiveBrokerInterval`.
//!
//! **Sends** [`Inactive`] to the controller core (a channel) when a broker's heartbeats stop
//! or its connection closes, and, on each scan, for every group whose master is not alive
//! (or which has no master) while another member is.
//!
//! **Lifecycle**: one per controller; supervised (a restart forgets the table: brokers are
//! taken as alive for one timeout after it, until their next heartbeat). Mailbox: 4 096.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::{mpsc, watch};

use crate::controller::state::{Liveness, Replicas};
use crate::remoting::server::ConnId;

pub const MAILBOX: usize = 4096;

/// RocketMQ's default broker heartbeat timeout (`controllerHeartBeatTimeoutMills`).
pub const DEFAULT_TIMEOUT_MS: i64 = 10_000;

#[derive(Debug, Clone)]
struct Live {
    address: String,
    conn: Option<ConnId>,
    last_ms: i64,
    timeout_ms: i64,
    liveness: Liveness,
}

/// A broker that stopped being alive, for the controller core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inactive {
    pub group: String,
    pub id: Option<i64>,
}

pub struct BrokerLiveness {
    table: HashMap<(String, i64), Live>,
    /// Brokers seen and then lost (not given the start's grace).
    gone: HashSet<(String, i64)>,
    replicas: watch::Receiver<Replicas>,
    inactive: mpsc::UnboundedSender<Inactive>,
    scan_every: Duration,
    started_ms: i64,
    clock: fn() -> i64,
}

impl BrokerLiveness {
    pub fn new(
        replicas: watch::Receiver<Replicas>,
        inactive: mpsc::UnboundedSender<Inactive>,
        scan_every: Duration,
        clock: fn() -> i64,
    ) -> Self {
        Self {
            table: HashMap::new(),
            gone: HashSet::new(),
            replicas,
            inactive,
            scan_every,
            started_ms: clock(),
            clock,
        }
    }

    fn alive(&self, group: &str, id: i64, now: i64) -> bool {
        match self.table.get(&(group.to_owned(), id)) {
            Some(live) => live.last_ms + live.timeout_ms >= now,
            // Not heard of since this table started: alive until one timeout has passed.
            None => {
                !self.gone.contains(&(group.to_owned(), id))
                    && now - self.started_ms < DEFAULT_TIMEOUT_MS
            }
        }
    }

    fn scan(&mut self) {
        let now = (self.clock)();
        let expired: Vec<(String, i64)> = self
            .table
            .iter()
            .filter(|(_, l)| l.last_ms + l.timeout_ms < now)
            .map(|(k, _)| k.clone())
            .collect();
        for (group, id) in expired {
            if let Some(live) = self.table.remove(&(group.clone(), id)) {
                tracing::warn!(group = %group, id, address = %live.address, "broker heartbeat expired");
            }
            self.gone.insert((group.clone(), id));
            let _ = self.inactive.send(Inactive {
                group,
                id: Some(id),
            });
        }
        let replicas = self.replicas.borrow().clone();
        for (name, g) in &replicas.groups {
            let someone_alive = g.members.keys().any(|id| self.alive(name, *id, now));
            let master_alive = g.master.is_some_and(|m| self.alive(name, m, now));
            if someone_alive && !master_alive {
                let _ = self.inactive.send(Inactive {
                    group: name.clone(),
                    id: g.master,
                });
            }
        }
    }
}

impl Actor for BrokerLiveness {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.scan_every, |me, _| me.scan());
    }
}

impl Supervised for BrokerLiveness {}

/// BROKER_HEARTBEAT from a broker.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Heartbeat {
    pub group: String,
    pub id: i64,
    pub address: String,
    pub conn: Option<ConnId>,
    pub timeout_ms: Option<i64>,
    pub liveness: Liveness,
}

/// A connection closed: the brokers that heartbeat on it are taken as gone.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Closed(pub ConnId);

/// The live members of a group, with what they last said.
#[derive(Message)]
#[rtype(result = "BTreeMap<i64, Liveness>")]
pub struct AliveIn(pub String);

impl Handler<Heartbeat> for BrokerLiveness {
    type Result = ();
    fn handle(&mut self, msg: Heartbeat, _: &mut Context<Self>) {
        let now = (self.clock)();
        let key = (msg.group.clone(), msg.id);
        self.gone.remove(&key);
        if !self.table.contains_key(&key) {
            tracing::info!(group = %msg.group, id = msg.id, address = %msg.address, "broker heartbeat");
        }
        self.table.insert(
            key,
            Live {
                address: msg.address,
                conn: msg.conn,
                last_ms: now,
                timeout_ms: msg
                    .timeout_ms
                    .filter(|t| *t > 0)
                    .unwrap_or(DEFAULT_TIMEOUT_MS),
                liveness: msg.liveness,
            },
        );
    }
}

impl Handler<Closed> for BrokerLiveness {
    type Result = ();
    fn handle(&mut self, msg: Closed, _: &mut Context<Self>) {
        let gone: Vec<(String, i64)> = self
            .table
            .iter()
            .filter(|(_, l)| l.conn == Some(msg.0))
            .map(|(k, _)| k.clone())
            .collect();
        for (group, id) in gone {
            if let Some(live) = self.table.remove(&(group.clone(), id)) {
                tracing::warn!(group = %group, id, address = %live.address, "broker connection closed");
            }
            self.gone.insert((group.clone(), id));
            let _ = self.inactive.send(Inactive {
                group,
                id: Some(id),
            });
        }
    }
}

impl Handler<AliveIn> for BrokerLiveness {
    type Result = MessageResult<AliveIn>;
    fn handle(&mut self, msg: AliveIn, _: &mut Context<Self>) -> Self::Result {
        let now = (self.clock)();
        let members: Vec<i64> = self
            .replicas
            .borrow()
            .groups
            .get(&msg.0)
            .map(|g| g.members.keys().copied().collect())
            .unwrap_or_default();
        let alive = members
            .into_iter()
            .filter(|id| self.alive(&msg.0, *id, now))
            .map(|id| {
                let liveness = self
                    .table
                    .get(&(msg.0.clone(), id))
                    .map(|l| l.liveness)
                    .unwrap_or(Liveness {
                        epoch: -1,
                        max_offset: -1,
                        election_priority: i32::MAX,
                    });
                (id, liveness)
            })
            .collect();
        MessageResult(alive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::state::{Event, Member};
    use std::sync::atomic::{AtomicI64, Ordering};

    static NOW: AtomicI64 = AtomicI64::new(1_000_000);
    fn clock() -> i64 {
        NOW.load(Ordering::SeqCst)
    }

    #[actix_rt::test]
    async fn a_silent_or_disconnected_master_is_reported_inactive() {
        let mut replicas = Replicas::default();
        for id in 1..=2 {
            replicas
                .apply(&Event::Member {
                    cluster: "c".into(),
                    group: "g".into(),
                    id,
                    member: Member {
                        address: format!("127.0.0.1:{id}"),
                        ..Member::default()
                    },
                })
                .unwrap();
        }
        replicas
            .apply(&Event::Elected {
                group: "g".into(),
                master: Some(1),
            })
            .unwrap();
        let (_keep, view) = watch::channel(replicas);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let actor = BrokerLiveness::new(view, tx, Duration::from_secs(3600), clock).start();
        let beat = |id, conn| Heartbeat {
            group: "g".into(),
            id,
            address: format!("127.0.0.1:{id}"),
            conn: Some(ConnId(conn)),
            timeout_ms: Some(3000),
            liveness: Liveness {
                epoch: 1,
                max_offset: 100 * id,
                election_priority: 0,
            },
        };
        actor.send(beat(1, 11)).await.unwrap();
        actor.send(beat(2, 12)).await.unwrap();
        assert_eq!(actor.send(AliveIn("g".into())).await.unwrap().len(), 2);
        // The master's connection closes: reported at once, no longer alive.
        actor.send(Closed(ConnId(11))).await.unwrap();
        assert_eq!(
            rx.recv().await,
            Some(Inactive {
                group: "g".into(),
                id: Some(1)
            })
        );
        // Lost: not alive, though the table started less than one timeout ago (a broker
        // never heard of would be taken as alive until then).
        let alive = actor.send(AliveIn("g".into())).await.unwrap();
        assert_eq!(alive.keys().copied().collect::<Vec<_>>(), vec![2]);
        NOW.fetch_add(DEFAULT_TIMEOUT_MS + 1, Ordering::SeqCst);
        let alive = actor.send(AliveIn("g".into())).await.unwrap();
        assert_eq!(alive.keys().copied().collect::<Vec<_>>(), Vec::<i64>::new());
    }
}
