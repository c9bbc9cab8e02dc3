//! The name server: the registry brokers register with and clients ask for routes.
//!
//! [`start`] wires the actors ([`Registry`], [`RouteTable`], [`KvConfig`]) under supervisors
//! and serves [`service::NamesrvService`] on a TCP listener. Several name servers may run
//! side by side; they share nothing (every broker registers with each of them).

pub mod brokers;
pub mod kv;
pub mod service;
pub mod topics;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use actix::Addr;

use crate::actors;
use crate::actors::kv_config::{self, KvConfig};
use crate::actors::registry::{self, Registry};
use crate::actors::route_table::{self, RouteTable};
use crate::remoting::server::{self, ServerConfig, ServerHandle};
use service::NamesrvService;

/// Default name server port.
pub const DEFAULT_PORT: u16 = 9876;

/// Settings of one name server.
#[derive(Debug, Clone)]
pub struct NamesrvConfig {
    pub listen: SocketAddr,
    /// A broker without heartbeat for this long is dropped (RocketMQ: 120 s).
    pub broker_timeout: Duration,
    /// How often expiry is checked (RocketMQ 4.9: 10 s).
    pub scan_interval: Duration,
    /// Where the KV config is kept; `None` keeps it in memory only.
    pub kv_config_path: Option<PathBuf>,
    /// Put `orderTopicConf` from the KV namespace ORDER_TOPIC_CONFIG into routes.
    pub order_message_enable: bool,
    pub max_frame: usize,
}

impl Default for NamesrvConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            broker_timeout: Duration::from_secs(120),
            scan_interval: Duration::from_secs(10),
            kv_config_path: None,
            order_message_enable: false,
            max_frame: crate::protocol::frame::DEFAULT_MAX_FRAME,
        }
    }
}

/// A running name server.
pub struct NameServer {
    pub service: NamesrvService,
    pub server: ServerHandle,
}

impl NameServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr
    }
}

/// Starts the actors (on the current arbiter) without a listener: the service alone, for
/// in-process use and tests.
pub fn start_service(config: &NamesrvConfig) -> NamesrvService {
    let routes: Addr<RouteTable> = actors::supervise(route_table::MAILBOX, RouteTable::default());
    let registry_routes = routes.clone();
    let (timeout, scan) = (config.broker_timeout, config.scan_interval);
    let registry = actors::supervise(
        registry::MAILBOX,
        Registry::new(timeout, scan, registry_routes),
    );
    let kv_path = config.kv_config_path.clone();
    let kv = actors::supervise(kv_config::MAILBOX, KvConfig::new(kv_path));
    NamesrvService::new(config, registry, routes, kv)
}

/// Starts a name server: actors plus a TCP listener on `config.listen`.
pub async fn start(config: NamesrvConfig) -> std::io::Result<NameServer> {
    let service = start_service(&config);
    let server = server::start(
        config.listen,
        Rc::new(service.clone()),
        ServerConfig {
            max_frame: config.max_frame,
        },
    )
    .await?;
    Ok(NameServer { service, server })
}
