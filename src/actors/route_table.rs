//! RouteTable: the name server's topics and where their queues are.
//!
//! **Owns** a [`TopicTable`]: topic → broker name → queue data (read / write queue counts,
//! perm, topic sys flag).
//!
//! **Handles** [`ApplyRouteEffects`] from the [`super::registry::Registry`] (registrations,
//! departures); [`QueueDatas`], [`TopicNames`], [`TopicsOn`] and [`DeleteTopic`] from the
//! name server's request service; [`SetWritePerm`] (WIPE / ADD_WRITE_PERM_OF_BROKER).
//!
//! **Sends** nothing.
//!
//! **Lifecycle**: supervised; a restarted table starts empty and refills as brokers
//! re-register (every 30 s). Mailbox: 4096.

use std::collections::BTreeSet;

use actix::prelude::*;

use crate::namesrv::brokers::RouteEffect;
use crate::namesrv::topics::TopicTable;
use crate::protocol::body::QueueData;

#[derive(Default)]
pub struct RouteTable {
    table: TopicTable,
}

/// The capacity of the actor's mailbox, given to it when it is made ([`super::supervise`]).
pub const MAILBOX: usize = 4_096;

impl Actor for RouteTable {
    type Context = Context<Self>;
}

impl Supervised for RouteTable {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.table = TopicTable::default();
    }
}

/// Route changes decided by the registry, applied in order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ApplyRouteEffects(pub Vec<RouteEffect>);

impl Handler<ApplyRouteEffects> for RouteTable {
    type Result = ();

    fn handle(&mut self, msg: ApplyRouteEffects, _: &mut Context<Self>) {
        for effect in msg.0 {
            self.table.apply(effect);
        }
    }
}

/// A topic's queue data; `None` for an unknown topic.
#[derive(Message)]
#[rtype(result = "Option<Vec<QueueData>>")]
pub struct QueueDatas(pub String);

impl Handler<QueueDatas> for RouteTable {
    type Result = MessageResult<QueueDatas>;

    fn handle(&mut self, msg: QueueDatas, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.table.queue_datas(&msg.0))
    }
}

/// All topic names.
#[derive(Message)]
#[rtype(result = "BTreeSet<String>")]
pub struct TopicNames;

impl Handler<TopicNames> for RouteTable {
    type Result = MessageResult<TopicNames>;

    fn handle(&mut self, _: TopicNames, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.table.topic_names())
    }
}

/// Topics with queues on any of these broker names.
#[derive(Message)]
#[rtype(result = "BTreeSet<String>")]
pub struct TopicsOn(pub BTreeSet<String>);

impl Handler<TopicsOn> for RouteTable {
    type Result = MessageResult<TopicsOn>;

    fn handle(&mut self, msg: TopicsOn, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.table.topics_on(&msg.0))
    }
}

/// DELETE_TOPIC_IN_NAMESRV: everywhere, or only on the given broker names.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DeleteTopic {
    pub topic: String,
    pub only_on: Option<BTreeSet<String>>,
}

impl Handler<DeleteTopic> for RouteTable {
    type Result = ();

    fn handle(&mut self, msg: DeleteTopic, _: &mut Context<Self>) {
        self.table.delete(&msg.topic, msg.only_on.as_ref());
    }
}

/// WIPE_WRITE_PERM_OF_BROKER (`allow` false) and ADD_WRITE_PERM_OF_BROKER (true): how many
/// topics had queues on the broker.
#[derive(Message)]
#[rtype(result = "i32")]
pub struct SetWritePerm {
    pub broker_name: String,
    pub allow: bool,
}

impl Handler<SetWritePerm> for RouteTable {
    type Result = i32;

    fn handle(&mut self, msg: SetWritePerm, _: &mut Context<Self>) -> i32 {
        self.table.set_write_perm(&msg.broker_name, msg.allow)
    }
}
