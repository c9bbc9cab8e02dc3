//! Registrar: keeps this broker registered with every configured name server.
//!
//! **Owns** the registration trigger; one link task per name server owns that server's
//! connection (kept open: a name server forgets a broker whose connection closes).
//!
//! **Handles** [`RegisterNow`] (the topic table changed, or at start) and [`Unregister`]
//! (shutdown) from the broker's wiring.
//!
//! **Sends** REGISTER_BROKER (topics and data version, JSON body with CRC) to each name
//! server every 30 s and on every trigger; UNREGISTER_BROKER at shutdown. A slave's
//! registrar tells its HA client the master each answer names ([`MasterLearned`]).
//!
//! **Lifecycle**: one per broker; supervised (links reconnect on their own). Mailbox: 64.

use std::net::SocketAddr;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::watch;

use super::ha_client::MasterLearned;
use super::topic_config::TopicView;
use crate::protocol::body::{RegisterBrokerBody, TopicConfigWrapper};
use crate::protocol::header::namesrv::{
    BrokerIdentity, RegisterBrokerRequest, RegisterBrokerResponse,
};
use crate::protocol::{RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::RemotingClient;

/// Who this broker is, as the name servers see it.
#[derive(Debug, Clone)]
pub struct Identity {
    pub cluster_name: String,
    pub broker_name: String,
    pub broker_id: i64,
    /// The address clients reach the broker at (`brokerIP1:listenPort`).
    pub broker_addr: String,
    pub ha_server_addr: String,
}

const PERIOD: Duration = Duration::from_secs(30);
const TIMEOUT: Duration = Duration::from_secs(6);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Signal {
    Register(u64),
    Unregister,
}

pub struct Registrar {
    identity: Identity,
    namesrvs: Vec<SocketAddr>,
    topics: TopicView,
    trigger: watch::Sender<Signal>,
    round: u64,
    /// A slave's HA client: told the master each registration answer names.
    follower: Option<Recipient<MasterLearned>>,
}

impl Registrar {
    pub fn new(identity: Identity, namesrvs: Vec<SocketAddr>, topics: TopicView) -> Self {
        Self {
            identity,
            namesrvs,
            topics,
            trigger: watch::channel(Signal::Register(0)).0,
            round: 0,
            follower: None,
        }
    }

    /// A slave's registrar tells `follower` the master the name servers name (and
    /// registers every 3 s until one does).
    pub fn with_follower(mut self, follower: Recipient<MasterLearned>) -> Self {
        self.follower = Some(follower);
        self
    }
}

/// The capacity of the actor's mailbox, given to it when it is made (`Registrar::create` in
/// [`crate::broker::start`]).
pub const MAILBOX: usize = 64;

impl Actor for Registrar {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        for addr in self.namesrvs.clone() {
            actix::spawn(link(
                addr,
                self.identity.clone(),
                self.topics.clone(),
                self.trigger.subscribe(),
                self.follower.clone(),
            ));
        }
        // Re-register whenever the topic table changes.
        let mut topics = self.topics.clone();
        let me = ctx.address();
        actix::spawn(async move {
            while topics.changed().await.is_ok() {
                me.do_send(RegisterNow);
            }
        });
    }
}

impl Supervised for Registrar {}

/// Register with every name server now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RegisterNow;

impl Handler<RegisterNow> for Registrar {
    type Result = ();
    fn handle(&mut self, _: RegisterNow, _: &mut Context<Self>) {
        self.round += 1;
        self.trigger.send_replace(Signal::Register(self.round));
    }
}

/// Unregister from every name server (shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unregister;

impl Handler<Unregister> for Registrar {
    type Result = ();
    fn handle(&mut self, _: Unregister, _: &mut Context<Self>) {
        self.trigger.send_replace(Signal::Unregister);
    }
}

fn register_request(identity: &Identity, topics: &TopicView) -> RemotingCommand {
    let snapshot = topics.borrow().clone();
    let body = RegisterBrokerBody {
        filter_server_list: Vec::new(),
        topic_config_serialize_wrapper: TopicConfigWrapper {
            data_version: snapshot.data_version.clone(),
            topic_config_table: snapshot.table.clone(),
        },
    }
    .encode_json();
    RemotingCommand::request(RequestCode::REGISTER_BROKER)
        .with_header(&RegisterBrokerRequest {
            broker_name: identity.broker_name.clone(),
            broker_addr: identity.broker_addr.clone(),
            cluster_name: identity.cluster_name.clone(),
            ha_server_addr: identity.ha_server_addr.clone(),
            broker_id: identity.broker_id,
            heartbeat_timeout_millis: None,
            enable_acting_master: Some(false),
            compressed: false,
            body_crc32: (crc32fast::hash(&body) & 0x7FFF_FFFF) as i32,
        })
        .with_body(body)
}

/// One name server: registers on every trigger and every 30 s, reconnecting as needed.
async fn link(
    addr: SocketAddr,
    identity: Identity,
    topics: TopicView,
    mut trigger: watch::Receiver<Signal>,
    follower: Option<Recipient<MasterLearned>>,
) {
    let mut client: Option<RemotingClient> = None;
    loop {
        let mut master_known = true;
        let signal = *trigger.borrow_and_update();
        if client.as_ref().is_none_or(|c| !c.is_open()) {
            client = RemotingClient::connect(addr).await.ok();
        }
        if let Some(c) = &client {
            let request = match signal {
                Signal::Register(_) => register_request(&identity, &topics),
                Signal::Unregister => RemotingCommand::request(RequestCode::UNREGISTER_BROKER)
                    .with_header(&BrokerIdentity {
                        broker_name: identity.broker_name.clone(),
                        broker_addr: identity.broker_addr.clone(),
                        cluster_name: identity.cluster_name.clone(),
                        broker_id: identity.broker_id,
                    }),
            };
            match c.invoke(request, TIMEOUT).await {
                Ok(r) if r.response_code() == ResponseCode::SUCCESS => {
                    tracing::debug!(namesrv = %addr, ?signal, "name server updated");
                    if let (Some(follower), Signal::Register(_)) = (&follower, signal) {
                        let answer: RegisterBrokerResponse = r.header().unwrap_or_default();
                        master_known = answer.ha_server_addr.is_some();
                        follower.do_send(MasterLearned {
                            ha: answer.ha_server_addr,
                            broker: answer.master_addr,
                        });
                    }
                }
                Ok(r) => {
                    tracing::warn!(namesrv = %addr, code = r.code, remark = ?r.remark, "name server refused the registration")
                }
                Err(e) => {
                    tracing::warn!(namesrv = %addr, error = %e, "cannot reach name server");
                    client = None;
                }
            }
        } else {
            tracing::warn!(namesrv = %addr, "cannot connect to name server; retrying");
        }
        if signal == Signal::Unregister {
            return;
        }
        let wait = if client.is_some() && master_known {
            PERIOD
        } else {
            Duration::from_secs(3)
        };
        let _ = tokio::time::timeout(wait, trigger.changed()).await;
    }
}
