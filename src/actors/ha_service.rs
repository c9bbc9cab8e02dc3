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

use std::collections::BTreeMap;
use std::net::SocketAddr;

use actix::prelude::*;
use tokio::sync::watch;

pub const MAILBOX: usize = 65_536;

/// What SYNC_MASTER sends wait for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Acks {
    /// Highest offset a connected slave has acknowledged (RocketMQ's push2SlaveMaxOffset).
    pub max_acked: u64,
    /// Slaves connected now.
    pub slaves: usize,
}

#[derive(Debug, Clone)]
pub struct SlaveState {
    pub addr: SocketAddr,
    pub acked: u64,
    /// Where the transfer to it started, and the offset it has reached.
    pub transfer_from: u64,
    pub sent_to: u64,
    pub connected_ms: i64,
}

pub struct HaService {
    slaves: BTreeMap<u64, SlaveState>,
    acks: watch::Sender<Acks>,
}

impl HaService {
    pub fn new() -> (Self, watch::Receiver<Acks>) {
        let (acks, rx) = watch::channel(Acks::default());
        (
            Self {
                slaves: BTreeMap::new(),
                acks,
            },
            rx,
        )
    }

    fn publish(&self) {
        let acks = Acks {
            max_acked: self.slaves.values().map(|s| s.acked).max().unwrap_or(0),
            slaves: self.slaves.len(),
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
}

/// A slave reported its max offset.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Acked {
    pub id: u64,
    pub offset: u64,
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

impl Handler<Status> for HaService {
    type Result = MessageResult<Status>;
    fn handle(&mut self, _: Status, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.slaves.values().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn acks_are_the_best_connected_slave() {
        let (actor, acks) = HaService::new();
        let ha = actor.start();
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        ha.send(Joined { id: 1, addr: a }).await.unwrap();
        ha.send(Joined { id: 2, addr: a }).await.unwrap();
        ha.send(Acked { id: 1, offset: 100 }).await.unwrap();
        ha.send(Acked { id: 2, offset: 70 }).await.unwrap();
        assert_eq!(
            *acks.borrow(),
            Acks {
                max_acked: 100,
                slaves: 2
            }
        );
        ha.send(Left { id: 1 }).await.unwrap();
        assert_eq!(
            *acks.borrow(),
            Acks {
                max_acked: 70,
                slaves: 1
            }
        );
        // A report from a link already gone changes nothing.
        ha.send(Acked { id: 1, offset: 500 }).await.unwrap();
        assert_eq!(acks.borrow().max_acked, 70);
        assert_eq!(ha.send(Status).await.unwrap().len(), 1);
    }
}
