//! HaService: a master's view of its slaves (RocketMQ's classic HA, master side).
//!
//! **Owns** the table of connected slaves — address, the offset each last reported
//! (acknowledged), where its transfer started and has reached — and the [`Acks`] it
//! publishes: the highest offset any slave acknowledged and how many are connected, which
//! SYNC_MASTER sends wait on (`broker::ha_waits`).
//!
//! **Handles** [`Joined`], [`Acked`], [`Sent`], [`Left`] from the slave links
//! (`broker::ha`, one task pair per slave connection on the HA arbiter), and [`Status`]
//! from the broker service (GET_BROKER_HA_STATUS, runtime info).
//!
//! **Sends** nothing: the links do the I/O.
//!
//! **Lifecycle**: one per master; supervised (a restart forgets the slaves until their
//! next report, within `haSendHeartbeatInterval`). Mailbox: 65 536 (one ack per transfer).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use actix::prelude::*;
use tokio::sync::watch;

pub const MAILBOX: usize = 65_536;

/// What SYNC_MASTER sends wait for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Acks {
    /// Highest offset a connected slave has acknowledged (RocketMQ's push2SlaveMaxOffset);
    /// in controller mode with `allAckInSyncStateSet`, the lowest any member of the in-sync
    /// set acknowledged (`u64::MAX` when the set is the master alone).
    pub max_acked: u64,
    /// Slaves connected now (in controller mode: members of the set connected).
    pub slaves: usize,
    /// Controller mode: every member of the in-sync set must have a record.
    pub all_of: bool,
}

#[derive(Debug, Clone)]
pub struct SlaveState {
    pub addr: SocketAddr,
    /// Controller mode: the slave's broker id (from its handshake).
    pub broker_id: Option<i64>,
    /// When it last had everything the master had written (ms; 0: never).
    pub caught_up_ms: i64,
    pub acked: u64,
    /// Where the transfer to it started, and the offset it has reached.
    pub transfer_from: u64,
    pub sent_to: u64,
    pub connected_ms: i64,
}

pub struct HaService {
    slaves: BTreeMap<u64, SlaveState>,
    acks: watch::Sender<Acks>,
    /// Controller mode: this master's id and the in-sync set sends wait for.
    required: Option<(i64, BTreeSet<i64>)>,
}

impl HaService {
    pub fn new() -> (Self, watch::Receiver<Acks>) {
        let (acks, rx) = watch::channel(Acks::default());
        (
            Self {
                slaves: BTreeMap::new(),
                acks,
                required: None,
            },
            rx,
        )
    }

    fn publish(&self) {
        let acks = match &self.required {
            None => Acks {
                max_acked: self.slaves.values().map(|s| s.acked).max().unwrap_or(0),
                slaves: self.slaves.len(),
                all_of: false,
            },
            Some((me, set)) => {
                let mut acked = u64::MAX;
                let mut connected = 0;
                for id in set.iter().filter(|id| *id != me) {
                    let best = self
                        .slaves
                        .values()
                        .filter(|s| s.broker_id == Some(*id))
                        .map(|s| s.acked)
                        .max();
                    connected += usize::from(best.is_some());
                    acked = acked.min(best.unwrap_or(0));
                }
                Acks {
                    max_acked: acked,
                    slaves: connected,
                    all_of: true,
                }
            }
        };
        self.acks.send_if_modified(|old| {
            let changed = *old != acks;
            *old = acks;
            changed
        });
    }
}

impl Actor for HaService {
    type Context = Context<Self>;
}

impl Supervised for HaService {}

/// A slave connected (link `id`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Joined {
    pub id: u64,
    pub addr: SocketAddr,
    pub broker_id: Option<i64>,
}

/// A slave reported its max offset (`caught_up`: all the master had written then).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Acked {
    pub id: u64,
    pub offset: u64,
    pub caught_up: bool,
}

/// Controller mode: sends wait for every member of `set` but `me` (the master).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetRequired {
    pub me: i64,
    pub set: BTreeSet<i64>,
}

/// The link sent the log up to `to` (`from`: where it started).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Sent {
    pub id: u64,
    pub from: u64,
    pub to: u64,
}

/// A slave's connection closed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Left {
    pub id: u64,
}

/// The slaves, as they stand.
#[derive(Message)]
#[rtype(result = "Vec<SlaveState>")]
pub struct Status;

impl Handler<Joined> for HaService {
    type Result = ();
    fn handle(&mut self, msg: Joined, _: &mut Context<Self>) {
        tracing::info!(slave = %msg.addr, "slave connected");
        self.slaves.insert(
            msg.id,
            SlaveState {
                addr: msg.addr,
                broker_id: msg.broker_id,
                caught_up_ms: 0,
                acked: 0,
                transfer_from: 0,
                sent_to: 0,
                connected_ms: crate::util::now_ms(),
            },
        );
        self.publish();
    }
}

impl Handler<Acked> for HaService {
    type Result = ();
    fn handle(&mut self, msg: Acked, _: &mut Context<Self>) {
        if let Some(slave) = self.slaves.get_mut(&msg.id) {
            slave.acked = msg.offset;
            if msg.caught_up {
                slave.caught_up_ms = crate::util::now_ms();
            }
            self.publish();
        }
    }
}

impl Handler<Sent> for HaService {
    type Result = ();
    fn handle(&mut self, msg: Sent, _: &mut Context<Self>) {
        if let Some(slave) = self.slaves.get_mut(&msg.id) {
            slave.transfer_from = msg.from;
            slave.sent_to = msg.to;
        }
    }
}

impl Handler<Left> for HaService {
    type Result = ();
    fn handle(&mut self, msg: Left, _: &mut Context<Self>) {
        if let Some(slave) = self.slaves.remove(&msg.id) {
            tracing::warn!(slave = %slave.addr, acked = slave.acked, "slave disconnected");
        }
        self.publish();
    }
}

impl Handler<SetRequired> for HaService {
    type Result = ();
    fn handle(&mut self, msg: SetRequired, _: &mut Context<Self>) {
        self.required = Some((msg.me, msg.set));
        self.publish();
    }
}

impl Handler<Status> for HaService {
    type Result = MessageResult<Status>;
    fn handle(&mut self, _: Status, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.slaves.values().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(id: u64, broker_id: Option<i64>) -> Joined {
        Joined {
            id,
            addr: "127.0.0.1:1".parse().unwrap(),
            broker_id,
        }
    }

    fn acked(id: u64, offset: u64) -> Acked {
        Acked {
            id,
            offset,
            caught_up: false,
        }
    }

    #[actix_rt::test]
    async fn acks_are_the_best_connected_slave() {
        let (actor, acks) = HaService::new();
        let ha = actor.start();
        ha.send(joined(1, None)).await.unwrap();
        ha.send(joined(2, None)).await.unwrap();
        ha.send(acked(1, 100)).await.unwrap();
        ha.send(acked(2, 70)).await.unwrap();
        let best = |max_acked, slaves| Acks {
            max_acked,
            slaves,
            all_of: false,
        };
        assert_eq!(*acks.borrow(), best(100, 2));
        ha.send(Left { id: 1 }).await.unwrap();
        assert_eq!(*acks.borrow(), best(70, 1));
        // A report from a link already gone changes nothing.
        ha.send(acked(1, 500)).await.unwrap();
        assert_eq!(acks.borrow().max_acked, 70);
        assert_eq!(ha.send(Status).await.unwrap().len(), 1);
    }

    #[actix_rt::test]
    async fn in_controller_mode_acks_are_the_least_of_the_in_sync_set() {
        let (actor, acks) = HaService::new();
        let ha = actor.start();
        ha.send(joined(1, Some(2))).await.unwrap();
        ha.send(joined(2, Some(3))).await.unwrap();
        ha.send(acked(1, 100)).await.unwrap();
        ha.send(acked(2, 70)).await.unwrap();
        // The set is the master (1) alone: nothing to wait for.
        ha.send(SetRequired {
            me: 1,
            set: BTreeSet::from([1]),
        })
        .await
        .unwrap();
        assert_eq!(acks.borrow().max_acked, u64::MAX);
        ha.send(SetRequired {
            me: 1,
            set: BTreeSet::from([1, 2, 3]),
        })
        .await
        .unwrap();
        assert_eq!(
            *acks.borrow(),
            Acks {
                max_acked: 70,
                slaves: 2,
                all_of: true
            }
        );
        // A member without a link holds every send.
        ha.send(Left { id: 2 }).await.unwrap();
        assert_eq!(
            *acks.borrow(),
            Acks {
                max_acked: 0,
                slaves: 1,
                all_of: true
            }
        );
        ha.send(SetRequired {
            me: 1,
            set: BTreeSet::from([1, 2]),
        })
        .await
        .unwrap();
        assert_eq!(acks.borrow().max_acked, 100);
    }
}
