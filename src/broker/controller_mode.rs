//! Controller mode's broker settings (RocketMQ 5's `enableControllerMode` keys) and the
//! role a controller assigned, which the broker is started with (`broker::controlled`).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

/// `broker.conf` keys of controller mode (RocketMQ's names and defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerMode {
    /// `enableControllerMode`.
    pub enabled: bool,
    /// `controllerAddr`: the controllers, `;`-separated.
    pub controller_addrs: Vec<SocketAddr>,
    /// `controllerHeartBeatTimeoutMills`: a broker silent this long is dead to the
    /// controller (a master stops taking writes well before: see `broker::controlled`).
    pub heartbeat_timeout_ms: u64,
    /// `brokerHeartbeatInterval`.
    pub heartbeat_interval_ms: u64,
    /// `syncBrokerMetadataPeriod`: how often the role is asked (GET_REPLICA_INFO).
    pub sync_broker_metadata_ms: u64,
    /// `checkSyncStateSetPeriod`: how often a master checks its in-sync set.
    pub check_sync_state_set_ms: u64,
    /// `allAckInSyncStateSet`: a send is answered once every member of the set has it.
    pub all_ack_in_sync_state_set: bool,
    /// `haMaxTimeSlaveNotCatchup`: a slave behind for longer leaves the set.
    pub max_time_slave_not_catchup_ms: u64,
    /// `brokerElectionPriority` (lower is preferred).
    pub election_priority: i32,
}

impl Default for ControllerMode {
    fn default() -> Self {
        Self {
            enabled: false,
            controller_addrs: Vec::new(),
            heartbeat_timeout_ms: 10_000,
            heartbeat_interval_ms: 1_000,
            sync_broker_metadata_ms: 5_000,
            check_sync_state_set_ms: 5_000,
            all_ack_in_sync_state_set: false,
            max_time_slave_not_catchup_ms: 15_000,
            election_priority: i32::MAX,
        }
    }
}

pub const KEYS: &[&str] = &[
    "enableControllerMode",
    "controllerAddr",
    "controllerHeartBeatTimeoutMills",
    "brokerHeartbeatInterval",
    "syncBrokerMetadataPeriod",
    "checkSyncStateSetPeriod",
    "allAckInSyncStateSet",
    "haMaxTimeSlaveNotCatchup",
    "brokerElectionPriority",
];

impl ControllerMode {
    /// One key of [`KEYS`]; `Err` with why a value is bad.
    pub fn apply(&mut self, key: &str, value: &str) -> Result<(), String> {
        fn num<T: std::str::FromStr>(value: &str) -> Result<T, String> {
            value
                .parse()
                .map_err(|_| "not a valid number or flag".to_string())
        }
        match key {
            "enableControllerMode" => self.enabled = num(value)?,
            "controllerAddr" => {
                self.controller_addrs = value
                    .split(';')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(|a| a.parse().map_err(|_| format!("`{a}` is not ip:port")))
                    .collect::<Result<_, _>>()?
            }
            "controllerHeartBeatTimeoutMills" => {
                self.heartbeat_timeout_ms = num::<u64>(value)?.max(500)
            }
            "brokerHeartbeatInterval" => self.heartbeat_interval_ms = num::<u64>(value)?.max(50),
            "syncBrokerMetadataPeriod" => {
                self.sync_broker_metadata_ms = num::<u64>(value)?.max(100)
            }
            "checkSyncStateSetPeriod" => self.check_sync_state_set_ms = num::<u64>(value)?.max(100),
            "allAckInSyncStateSet" => self.all_ack_in_sync_state_set = num(value)?,
            "haMaxTimeSlaveNotCatchup" => self.max_time_slave_not_catchup_ms = num(value)?,
            "brokerElectionPriority" => self.election_priority = num(value)?,
            _ => return Err(format!("not a controller-mode key: {key}")),
        }
        Ok(())
    }
}

/// A change the controller pushed (NOTIFY_BROKER_ROLE_CHANGED), for the controlled runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleNotice {
    pub master_id: Option<i64>,
    pub master_address: Option<String>,
    pub master_epoch: i32,
    pub set: BTreeSet<i64>,
    pub set_epoch: i32,
}

/// The role the controller gave this broker, which it runs with.
#[derive(Debug, Clone)]
pub struct Assignment {
    /// This broker's id from the controller (≥ 1; a master registers as 0).
    pub my_id: i64,
    pub master: bool,
    pub master_epoch: i32,
    /// The master's remoting address (a slave follows only it).
    pub master_address: Option<String>,
    pub set: BTreeSet<i64>,
    pub set_epoch: i32,
    /// Where NOTIFY_BROKER_ROLE_CHANGED is handed.
    pub notices: mpsc::UnboundedSender<RoleNotice>,
    /// A master's lease: when the controller leader last answered its heartbeat (ms), and
    /// how long that answer lets it take writes.
    pub leader_ack_ms: Arc<AtomicI64>,
    pub lease_ms: i64,
}

impl Assignment {
    /// Whether a master may take writes now (its lease runs).
    pub fn may_write(&self) -> bool {
        !self.master
            || crate::util::now_ms() - self.leader_ack_ms.load(Ordering::Relaxed) <= self.lease_ms
    }
}
