//! The controller (RocketMQ 5's controller mode): a Raft group on openraft that keeps, for
//! every broker group, its members, its master and the master's epoch, and its in-sync
//! replica set, and elects a new master when the master's heartbeats stop.
//!
//! - [`config`]: `controller.conf` (RocketMQ's keys);
//! - [`state`]: the replicated state and the election's choice, pure;
//! - [`raft`]: openraft's storage (durable log, snapshots) and network;
//! - [`core`]: requests decided on the leader and proposed to Raft;
//! - [`service`]: the remoting service on the controller's peer address.
//!
//! Liveness is the [`BrokerLiveness`](crate::actors::broker_liveness) actor's.

pub mod config;
pub mod core;
pub mod raft;
pub mod service;
pub mod state;

use std::collections::BTreeMap;
use std::sync::Arc;

use openraft::BasicNode;

use crate::actors::{self, broker_liveness};
use crate::remoting::server::{self, ServerConfig, ServerHandle};
pub use config::ControllerConfig;

/// A running controller.
pub struct Controller {
    pub core: Arc<core::Core>,
    pub server: ServerHandle,
}

impl Controller {
    /// Stops serving and Raft.
    pub async fn shutdown(self) {
        self.server.stop();
        let _ = self.core.raft.shutdown().await;
    }
}

/// Starts a controller on the current arbiter: Raft (initialised with the configured peers
/// when its log is empty), the liveness actor, and the service on this member's peer
/// address.
pub async fn start(config: ControllerConfig) -> anyhow::Result<Controller> {
    let dir = config.store_path.clone();
    let log = raft::LogStore::open(&dir)
        .map_err(|e| anyhow::anyhow!("controller store {}: {e}", dir.display()))?;
    let sm = raft::StateMachine::open(&dir)
        .map_err(|e| anyhow::anyhow!("controller snapshot in {}: {e}", dir.display()))?;
    let view = sm.watch();
    let raft_config = openraft::Config {
        cluster_name: config.group.clone(),
        heartbeat_interval: config.raft_heartbeat_ms,
        election_timeout_min: config.raft_election_timeout_ms.0,
        election_timeout_max: config.raft_election_timeout_ms.1,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(1000),
        max_in_snapshot_log_to_keep: 100,
        ..Default::default()
    };
    let raft_config = Arc::new(raft_config.validate()?);
    let raft = raft::Raft::new(config.self_id, raft_config, raft::Network, log, sm).await?;
    let members: BTreeMap<raft::NodeId, BasicNode> = config
        .peers
        .iter()
        .map(|(id, (_, addr))| (*id, BasicNode::new(addr.to_string())))
        .collect();
    if !raft.is_initialized().await? {
        // Every member proposes the same first membership; the first to win an election
        // makes it the log's start (openraft allows this on all members).
        if let Err(e) = raft.initialize(members).await {
            tracing::debug!(error = %e, "controller group already initialised");
        }
    }
    let (inactive_tx, inactive_rx) = tokio::sync::mpsc::unbounded_channel();
    let liveness = actors::supervise(
        broker_liveness::MAILBOX,
        broker_liveness::BrokerLiveness::new(
            view.clone(),
            inactive_tx,
            config.scan_not_active_broker_interval,
            crate::util::now_ms,
        ),
    );
    let addr = config.self_addr();
    let core = Arc::new(core::Core::new(raft, view, liveness.clone(), config));
    actix_rt::spawn(core::elect_on_inactive(Arc::clone(&core), inactive_rx));
    let service = service::shared(service::ControllerService {
        core: Arc::clone(&core),
        liveness,
    });
    let server = server::start(addr, service, ServerConfig::default())
        .await
        .map_err(|e| anyhow::anyhow!("controller: cannot listen on {addr}: {e}"))?;
    tracing::info!(listen = %addr, id = core.config.self_id, "controller started");
    Ok(Controller { core, server })
}
