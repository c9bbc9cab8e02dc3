//! ClientManager: the producers and consumers connected to this broker.
//!
//! **Owns** a [`ClientTable`] (clients, consumer groups, members, subscriptions) and the
//! connection handle of each client.
//!
//! **Handles** [`Heartbeat`], [`Unregister`], [`ConnectionClosed`], [`ConsumerIds`],
//! [`MembersOn`], [`Subscribed`], [`ConnectionOf`] from the broker service and
//! [`ProducerConnection`] from the transaction checker; [`GroupMembers`], [`ProducerMembers`]
//! and [`TopicGroups`] from the admin handlers; [`ConnectionCounts`] from the metrics
//! scrape; its own 10 s tick for expiry
//! (120 s without heartbeat).
//!
//! **Sends** NOTIFY_CONSUMER_IDS_CHANGED (oneway, fresh opaque) to every member of a group
//! whose membership changed; [`EnsureRetryTopic`] to [`TopicConfigs`] for new groups; and
//! publishes the groups' subscriptions as a snapshot ([`SubscriptionView`]) that the pull
//! path reads without a hop.
//!
//! **Lifecycle**: supervised; a restart forgets clients, which re-register with their next
//! heartbeat (30 s). Mailbox: 65536.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::watch;
use tokio::time::Instant;

use super::topic_config::{EnsureRetryTopic, TopicConfigs};
use crate::broker::clients::{ClientEffect, ClientInfo, ClientTable, GroupInfo};
use crate::broker::pull::SubscriptionFilter;
use crate::protocol::body::client::{HeartbeatData, SubscriptionData};
use crate::protocol::header::broker::ConsumerGroupRequest;
use crate::protocol::{LanguageCode, RemotingCommand, RequestCode};
use crate::remoting::{ConnId, Connection};

/// A group's subscription to a topic, with its expression compiled once.
pub struct Subscription {
    pub data: SubscriptionData,
    /// The group consumes in BROADCASTING mode (its members say so in their heartbeats).
    pub broadcasting: bool,
    /// The compiled filter, or the parser's message when the expression is bad.
    pub filter: Result<Arc<SubscriptionFilter>, String>,
}

/// Subscriptions by (group, topic).
pub type Subscriptions = HashMap<(String, String), Arc<Subscription>>;
pub type SubscriptionView = watch::Receiver<Arc<Subscriptions>>;

const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

pub struct ClientManager {
    table: ClientTable,
    conns: HashMap<ConnId, Connection>,
    topics: Addr<TopicConfigs>,
    publish: watch::Sender<Arc<Subscriptions>>,
}

impl ClientManager {
    pub fn new(topics: Addr<TopicConfigs>) -> (Self, SubscriptionView) {
        let (publish, view) = watch::channel(Arc::new(Subscriptions::new()));
        (
            Self {
                table: ClientTable::default(),
                conns: HashMap::new(),
                topics,
                publish,
            },
            view,
        )
    }

    fn apply(&mut self, effects: Vec<ClientEffect>) {
        for effect in effects {
            match effect {
                ClientEffect::NotifyIdsChanged { group, members } => {
                    for member in members {
                        let conn = self.table.conn_of(&member).and_then(|c| self.conns.get(&c));
                        if let Some(conn) = conn {
                            conn.try_send(notify_ids_changed(&group));
                        }
                    }
                }
                ClientEffect::EnsureRetryTopic(group) => {
                    self.topics.do_send(EnsureRetryTopic(group))
                }
                ClientEffect::SubscriptionsChanged => {
                    let compiled = self
                        .table
                        .subscriptions()
                        .into_iter()
                        .map(|(key, data)| {
                            let filter = SubscriptionFilter::compile(
                                data.expression_type.as_deref(),
                                &data.sub_string,
                            )
                            .map(Arc::new)
                            .map_err(|e| e.to_string());
                            let broadcasting = self.table.broadcasting(&key.0);
                            (
                                key,
                                Arc::new(Subscription {
                                    data,
                                    filter,
                                    broadcasting,
                                }),
                            )
                        })
                        .collect();
                    self.publish.send_replace(Arc::new(compiled));
                }
            }
        }
    }
}

/// NOTIFY_CONSUMER_IDS_CHANGED, oneway, with a fresh opaque.
fn notify_ids_changed(group: &str) -> RemotingCommand {
    let mut cmd = RemotingCommand::request(RequestCode::NOTIFY_CONSUMER_IDS_CHANGED)
        .with_header(&ConsumerGroupRequest {
            consumer_group: group.to_owned(),
        })
        .with_opaque(crate::remoting::server::next_opaque())
        .oneway();
    cmd.language = LanguageCode::JAVA;
    cmd
}

/// The capacity of the actor's mailbox, given to it when it is made ([`super::supervise`]).
pub const MAILBOX: usize = 65_536;

impl Actor for ClientManager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(Duration::from_secs(10), |manager, _| {
            let effects = manager.table.expire(Instant::now(), CLIENT_TIMEOUT);
            manager.apply(effects);
        });
    }
}

impl Supervised for ClientManager {
    fn restarting(&mut self, _: &mut Context<Self>) {
        // Clients re-register with their next heartbeat (every 30 s).
        self.table = ClientTable::default();
        self.conns.clear();
    }
}

/// HEART_BEAT from a connection.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Heartbeat {
    pub conn: Connection,
    pub data: HeartbeatData,
    /// The request's `language` and `version` (shown by the admin tools).
    pub language: LanguageCode,
    pub version: i32,
}

impl Handler<Heartbeat> for ClientManager {
    type Result = ();
    fn handle(&mut self, msg: Heartbeat, ctx: &mut Context<Self>) {
        super::guard(self, ctx, |this, _| {
            this.conns.insert(msg.conn.id, msg.conn.clone());
            let effects = this.table.heartbeat(
                msg.conn.id,
                msg.data,
                Instant::now(),
                msg.language.name(),
                msg.version,
            );
            this.apply(effects);
        });
    }
}

/// UNREGISTER_CLIENT.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unregister {
    pub client_id: String,
    pub producer_group: Option<String>,
    pub consumer_group: Option<String>,
}

impl Handler<Unregister> for ClientManager {
    type Result = ();
    fn handle(&mut self, msg: Unregister, ctx: &mut Context<Self>) {
        super::guard(self, ctx, |this, _| {
            // As the Java broker: each group named is left; naming none leaves them all.
            if let Some(group) = &msg.producer_group {
                this.table.unregister_producer(&msg.client_id, group);
            }
            if msg.producer_group.is_some() && msg.consumer_group.is_none() {
                return;
            }
            let effects = this
                .table
                .unregister(&msg.client_id, msg.consumer_group.as_deref());
            this.apply(effects);
        });
    }
}

/// A connection closed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ConnectionClosed(pub ConnId);

impl Handler<ConnectionClosed> for ClientManager {
    type Result = ();
    fn handle(&mut self, msg: ConnectionClosed, ctx: &mut Context<Self>) {
        super::guard(self, ctx, |this, _| {
            this.conns.remove(&msg.0);
            let effects = this.table.disconnected(msg.0);
            this.apply(effects);
        });
    }
}

/// The members of a group that heartbeat on a connection (the pull path asks, to know whom
/// to ask for the group's current subscriptions).
#[derive(Message)]
#[rtype(result = "Vec<String>")]
pub struct MembersOn {
    pub conn: ConnId,
    pub group: String,
}

impl Handler<MembersOn> for ClientManager {
    type Result = MessageResult<MembersOn>;
    fn handle(&mut self, msg: MembersOn, ctx: &mut Context<Self>) -> Self::Result {
        super::guard(self, ctx, |this, _| {
            MessageResult(this.table.members_on(msg.conn, &msg.group))
        })
        .unwrap_or_else(|| MessageResult(Vec::new()))
    }
}

/// A member's subscriptions, from its answer to GET_CONSUMER_RUNNING_INFO: taken where
/// newer, as a heartbeat's; the published view is updated before the reply.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribed {
    pub client_id: String,
    pub group: String,
    pub subscriptions: Vec<SubscriptionData>,
}

impl Handler<Subscribed> for ClientManager {
    type Result = ();
    fn handle(&mut self, msg: Subscribed, ctx: &mut Context<Self>) {
        super::guard(self, ctx, |this, _| {
            let effects = this
                .table
                .subscribed(&msg.client_id, &msg.group, &msg.subscriptions);
            this.apply(effects);
        });
    }
}

/// GET_CONSUMER_LIST_BY_GROUP.
#[derive(Message)]
#[rtype(result = "Vec<String>")]
pub struct ConsumerIds(pub String);

impl Handler<ConsumerIds> for ClientManager {
    type Result = MessageResult<ConsumerIds>;
    fn handle(&mut self, msg: ConsumerIds, ctx: &mut Context<Self>) -> Self::Result {
        super::guard(self, ctx, |this, _| {
            MessageResult(this.table.consumer_ids(&msg.0))
        })
        .unwrap_or_else(|| MessageResult(Vec::new()))
    }
}

/// The connection of a client, by its id (where a reply to its request is pushed).
#[derive(Message)]
#[rtype(result = "Option<Connection>")]
pub struct ConnectionOf(pub String);

impl Handler<ConnectionOf> for ClientManager {
    type Result = MessageResult<ConnectionOf>;
    fn handle(&mut self, msg: ConnectionOf, _: &mut Context<Self>) -> Self::Result {
        let conn = self.table.conn_of(&msg.0);
        MessageResult(conn.and_then(|id| self.conns.get(&id).cloned()))
    }
}

/// The connection of one live producer of a group (where a transaction check goes).
#[derive(Message)]
#[rtype(result = "Option<Connection>")]
pub struct ProducerConnection(pub String);

impl Handler<ProducerConnection> for ClientManager {
    type Result = MessageResult<ProducerConnection>;
    fn handle(&mut self, msg: ProducerConnection, _: &mut Context<Self>) -> Self::Result {
        let conn = self.table.producer_conn(&msg.0);
        MessageResult(conn.and_then(|id| self.conns.get(&id).cloned()))
    }
}

/// A client of a group with its connection (the admin answers show its address; requests
/// relayed to it go there).
#[derive(Clone)]
pub struct Member {
    pub info: ClientInfo,
    pub conn: Option<Connection>,
}

impl ClientManager {
    fn member(&self, info: ClientInfo) -> Member {
        let conn = self.conns.get(&info.conn).cloned();
        Member { info, conn }
    }
}

/// A consumer group's members and declarations (GET_CONSUMER_CONNECTION_LIST, resets and
/// questions relayed to consumers); `None` when no member is online.
#[derive(Message)]
#[rtype(result = "Option<(GroupInfo, Vec<Member>)>")]
pub struct GroupMembers(pub String);

impl Handler<GroupMembers> for ClientManager {
    type Result = MessageResult<GroupMembers>;
    fn handle(&mut self, msg: GroupMembers, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.table.group_info(&msg.0).map(|info| {
            let members = info
                .members
                .iter()
                .map(|m| self.member(m.clone()))
                .collect();
            (info, members)
        }))
    }
}

/// A producer group's clients (GET_PRODUCER_CONNECTION_LIST); `None` when none is online.
#[derive(Message)]
#[rtype(result = "Option<Vec<Member>>")]
pub struct ProducerMembers(pub String);

impl Handler<ProducerMembers> for ClientManager {
    type Result = MessageResult<ProducerMembers>;
    fn handle(&mut self, msg: ProducerMembers, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.table
                .producer_info(&msg.0)
                .map(|infos| infos.into_iter().map(|i| self.member(i)).collect()),
        )
    }
}

/// Clients online by kind (the metrics).
#[derive(Message)]
#[rtype(result = "crate::broker::clients::ClientCounts")]
pub struct ConnectionCounts;

impl Handler<ConnectionCounts> for ClientManager {
    type Result = MessageResult<ConnectionCounts>;
    fn handle(&mut self, _: ConnectionCounts, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.table.counts())
    }
}

/// The consumer groups online that subscribe to a topic (QUERY_TOPIC_CONSUME_BY_WHO).
#[derive(Message)]
#[rtype(result = "std::collections::BTreeSet<String>")]
pub struct TopicGroups(pub String);

impl Handler<TopicGroups> for ClientManager {
    type Result = MessageResult<TopicGroups>;
    fn handle(&mut self, msg: TopicGroups, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.table.groups_of_topic(&msg.0))
    }
}
