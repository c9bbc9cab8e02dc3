//! Registry: the name server's table of brokers.
//!
//! **Owns** a [`BrokerTable`]: brokers by cluster / name / id, with address, HA address, last
//! heartbeat, data version and the connection they registered on.
//!
//! **Handles** (all from the name server's request service, [`crate::namesrv::service`]):
//! [`Register`], [`Unregister`], [`Heartbeat`], [`QueryDataVersion`], [`ConnectionClosed`],
//! [`BrokerDatas`], [`ClusterBrokers`], [`GetClusterInfo`]; and [`ScanExpired`] from its own
//! interval timer (tests send it directly after moving the clock).
//!
//! **Sends** [`ApplyRouteEffects`] to the [`RouteTable`] whenever a broker change alters
//! routes; it is sent before the reply, so the next route query already sees it.
//!
//! **Lifecycle**: started under a `Supervisor`. A restarted registry starts empty, which is
//! what RocketMQ's name server does after a restart: brokers re-register within their 30 s
//! period. Mailbox: 4096.

use std::collections::BTreeSet;
use std::time::Duration;

use actix::prelude::*;
use tokio::time::Instant;
use tracing::info;

use super::route_table::{ApplyRouteEffects, RouteTable};
use crate::namesrv::brokers::{BrokerTable, RegisterError, Registered, RouteEffect};
use crate::protocol::body::{BrokerData, ClusterInfo, DataVersion, TopicConfig};
use crate::protocol::header::namesrv::{BrokerIdentity, RegisterBrokerRequest};
use crate::remoting::ConnId;

pub struct Registry {
    table: BrokerTable,
    broker_timeout: Duration,
    scan_interval: Duration,
    routes: Addr<RouteTable>,
}

impl Registry {
    pub fn new(
        broker_timeout: Duration,
        scan_interval: Duration,
        routes: Addr<RouteTable>,
    ) -> Self {
        Self {
            table: BrokerTable::new(broker_timeout),
            broker_timeout,
            scan_interval,
            routes,
        }
    }

    fn publish(&self, effects: Vec<RouteEffect>) {
        if !effects.is_empty() {
            self.routes.do_send(ApplyRouteEffects(effects));
        }
    }

    fn scan(&mut self, now: Instant) -> Vec<String> {
        let (gone, effects) = self.table.expire(now);
        if !gone.is_empty() {
            info!(brokers = ?gone, "brokers expired without heartbeat");
        }
        self.publish(effects);
        gone
    }
}

/// The capacity of the actor's mailbox, given to it when it is made ([`super::supervise`]).
pub const MAILBOX: usize = 4_096;

impl Actor for Registry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.scan_interval, |registry, _| {
            registry.scan(Instant::now());
        });
    }
}

impl Supervised for Registry {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.table = BrokerTable::new(self.broker_timeout);
    }
}

/// REGISTER_BROKER, decoded.
#[derive(Message)]
#[rtype(result = "Result<Registered, RegisterError>")]
pub struct Register {
    pub header: RegisterBrokerRequest,
    pub data_version: DataVersion,
    pub topics: Vec<TopicConfig>,
    pub conn: Option<ConnId>,
}

impl Handler<Register> for Registry {
    type Result = Result<Registered, RegisterError>;

    fn handle(&mut self, msg: Register, _: &mut Context<Self>) -> Self::Result {
        let registered = self.table.register(
            &msg.header,
            msg.data_version,
            msg.topics,
            msg.conn,
            Instant::now(),
        )?;
        self.publish(registered.effects.clone());
        Ok(registered)
    }
}

/// UNREGISTER_BROKER.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unregister(pub BrokerIdentity);

impl Handler<Unregister> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Unregister, _: &mut Context<Self>) {
        info!(broker = %msg.0.broker_addr, name = %msg.0.broker_name, "broker unregistered");
        let effects = self.table.unregister(&msg.0);
        self.publish(effects);
    }
}

/// BROKER_HEARTBEAT: refresh the broker's last-seen time.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Heartbeat {
    pub cluster: String,
    pub addr: String,
}

impl Handler<Heartbeat> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Heartbeat, _: &mut Context<Self>) {
        self.table
            .heartbeat(&msg.cluster, &msg.addr, Instant::now());
    }
}

/// QUERY_DATA_VERSION → (changed, stored version).
#[derive(Message)]
#[rtype(result = "(bool, Option<DataVersion>)")]
pub struct QueryDataVersion {
    pub broker: BrokerIdentity,
    pub version: DataVersion,
}

impl Handler<QueryDataVersion> for Registry {
    type Result = MessageResult<QueryDataVersion>;

    fn handle(&mut self, msg: QueryDataVersion, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.table
                .query_data_version(&msg.broker, &msg.version, Instant::now()),
        )
    }
}

/// A connection closed: brokers registered over it are gone at once.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ConnectionClosed(pub ConnId);

impl Handler<ConnectionClosed> for Registry {
    type Result = ();

    fn handle(&mut self, msg: ConnectionClosed, _: &mut Context<Self>) {
        let (gone, effects) = self.table.disconnected(msg.0);
        if !gone.is_empty() {
            info!(brokers = ?gone, "broker connection closed");
        }
        self.publish(effects);
    }
}

/// Drop brokers whose heartbeat is overdue; returns their addresses.
#[derive(Message)]
#[rtype(result = "Vec<String>")]
pub struct ScanExpired;

impl Handler<ScanExpired> for Registry {
    type Result = MessageResult<ScanExpired>;

    fn handle(&mut self, _: ScanExpired, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.scan(Instant::now()))
    }
}

/// The broker groups of these names (those that exist).
#[derive(Message)]
#[rtype(result = "Vec<BrokerData>")]
pub struct BrokerDatas(pub Vec<String>);

impl Handler<BrokerDatas> for Registry {
    type Result = MessageResult<BrokerDatas>;

    fn handle(&mut self, msg: BrokerDatas, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.table.broker_datas(msg.0.iter().map(String::as_str)))
    }
}

/// The broker names of a cluster.
#[derive(Message)]
#[rtype(result = "BTreeSet<String>")]
pub struct ClusterBrokers(pub String);

impl Handler<ClusterBrokers> for Registry {
    type Result = MessageResult<ClusterBrokers>;

    fn handle(&mut self, msg: ClusterBrokers, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.table.cluster_brokers(&msg.0))
    }
}

/// GET_BROKER_CLUSTER_INFO.
#[derive(Message)]
#[rtype(result = "ClusterInfo")]
pub struct GetClusterInfo;

impl Handler<GetClusterInfo> for Registry {
    type Result = MessageResult<GetClusterInfo>;

    fn handle(&mut self, _: GetClusterInfo, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.table.cluster_info())
    }
}
