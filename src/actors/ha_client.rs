//! HaClient: a slave's link to its master (RocketMQ's classic HA, slave side).
//!
//! **Owns** which master to follow — `haMasterAddress` when configured, else the HA
//! address the name servers name in their registration answer — and the link's state as
//! last reported (connected, bytes received, when it last read and wrote).
//!
//! **Handles** [`MasterLearned`] from the registrar (each registration answer),
//! [`LinkState`] from the link task (`broker::ha::follow`), and [`Status`] from the broker
//! service (GET_BROKER_HA_STATUS).
//!
//! **Sends** the master's address to the link task (a watch); the link reconnects when it
//! changes.
//!
//! **Lifecycle**: one per slave; supervised (a restart keeps the watch, so the link goes
//! on). Mailbox: 1 024.

use std::net::SocketAddr;

use actix::prelude::*;
use tokio::sync::watch;

pub const MAILBOX: usize = 1_024;

/// What the link last said about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Link {
    pub connected: bool,
    /// The slave's log end as last reported to the master.
    pub reported: u64,
    pub received_bytes: u64,
    /// Bytes cut from the log when this link began: the master's log ended before ours.
    pub truncated_bytes: u64,
    pub last_read_ms: i64,
    pub last_write_ms: i64,
}

pub struct HaClient {
    /// `haMasterAddress`: wins over what the name servers say.
    configured: Option<SocketAddr>,
    target: watch::Sender<Option<SocketAddr>>,
    /// The master's remoting address, as the name servers name it (the metadata sync asks
    /// it for topics, offsets and groups).
    master_broker: Option<String>,
    /// Controller mode: the master's remoting address as the controller names it.
    expected: Option<String>,
    link: Link,
}

/// What [`Status`] answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Following {
    /// The master's HA address the link follows.
    pub ha: Option<SocketAddr>,
    pub master_broker: Option<String>,
    pub link: Link,
}

impl HaClient {
    /// A client following `configured` (or, without it, the master the name servers name);
    /// the receiver is the link task's.
    pub fn new(configured: Option<SocketAddr>) -> (Self, watch::Receiver<Option<SocketAddr>>) {
        let (target, rx) = watch::channel(configured);
        (
            Self {
                configured,
                target,
                master_broker: None,
                expected: None,
                link: Link::default(),
            },
            rx,
        )
    }

    /// Controller mode: follow only the master at remoting address `master`.
    pub fn expecting(mut self, master: Option<String>) -> Self {
        self.master_broker.clone_from(&master);
        self.expected = master;
        self
    }
}

impl Actor for HaClient {
    type Context = Context<Self>;
}

impl Supervised for HaClient {}

/// A registration answer named the master's HA and remoting addresses (or none: no
/// master registered).
#[derive(Message)]
#[rtype(result = "()")]
pub struct MasterLearned {
    pub ha: Option<String>,
    pub broker: Option<String>,
}

/// The link's state changed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct LinkState(pub Link);

/// The master followed and the link's state.
#[derive(Message)]
#[rtype(result = "Following")]
pub struct Status;

impl Handler<MasterLearned> for HaClient {
    type Result = ();
    fn handle(&mut self, msg: MasterLearned, _: &mut Context<Self>) {
        // Controller mode: only the master the controller named (a name server may still
        // list the old one for a while).
        if self.expected.is_some() && msg.broker != self.expected {
            return;
        }
        if msg.broker.is_some() {
            self.master_broker = msg.broker;
        }
        if self.configured.is_some() {
            return;
        }
        let learned = msg.ha.as_deref().and_then(|a| a.parse::<SocketAddr>().ok());
        // No master registered right now: keep following the last one (it may come back).
        let Some(learned) = learned else { return };
        self.target.send_if_modified(|current| {
            let changed = *current != Some(learned);
            if changed {
                tracing::info!(master = %learned, "following master");
                *current = Some(learned);
            }
            changed
        });
    }
}

impl Handler<LinkState> for HaClient {
    type Result = ();
    fn handle(&mut self, msg: LinkState, _: &mut Context<Self>) {
        self.link = msg.0;
    }
}

impl Handler<Status> for HaClient {
    type Result = MessageResult<Status>;
    fn handle(&mut self, _: Status, _: &mut Context<Self>) -> Self::Result {
        MessageResult(Following {
            ha: *self.target.borrow(),
            master_broker: self.master_broker.clone(),
            link: self.link.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn follows_the_configured_master_or_the_learned_one() {
        let (actor, rx) = HaClient::new(None);
        let client = actor.start();
        client
            .send(MasterLearned {
                ha: None,
                broker: None,
            })
            .await
            .unwrap();
        assert_eq!(*rx.borrow(), None);
        client
            .send(MasterLearned {
                ha: Some("127.0.0.1:10912".into()),
                broker: Some("127.0.0.1:10911".into()),
            })
            .await
            .unwrap();
        assert_eq!(*rx.borrow(), Some("127.0.0.1:10912".parse().unwrap()));
        // The master unregistered: keep the last one.
        client
            .send(MasterLearned {
                ha: None,
                broker: None,
            })
            .await
            .unwrap();
        assert_eq!(*rx.borrow(), Some("127.0.0.1:10912".parse().unwrap()));

        let fixed: SocketAddr = "127.0.0.1:20912".parse().unwrap();
        let (actor, rx) = HaClient::new(Some(fixed));
        let client = actor.start();
        client
            .send(MasterLearned {
                ha: Some("127.0.0.1:10912".into()),
                broker: Some("127.0.0.1:10911".into()),
            })
            .await
            .unwrap();
        assert_eq!(*rx.borrow(), Some(fixed));
    }
}
