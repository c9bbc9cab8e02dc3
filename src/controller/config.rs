//! Controller settings, read from RocketMQ 5's `controller.conf` (Java properties).
//!
//! The Raft group is `controllerDLegerPeers` (`n0-127.0.0.1:9878;n1-…`), this member
//! `controllerDLegerSelfId`; each member serves brokers, admin tools and its peers on its
//! own peer address, as RocketMQ's DLedger controller does. A key RocketMQ's
//! ControllerConfig knows and Apogee does not use is accepted with a warning; any other
//! key, a peer list without this member and a bad value are refused.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::raft::NodeId;

#[derive(Debug, Clone)]
pub struct ControllerConfig {
    pub group: String,
    /// Members by Raft node id, with their names (`n0`) and addresses.
    pub peers: BTreeMap<NodeId, (String, SocketAddr)>,
    pub self_id: NodeId,
    pub store_path: PathBuf,
    pub scan_not_active_broker_interval: Duration,
    pub enable_elect_unclean_master: bool,
    pub notify_broker_role_changed: bool,
    pub elect_master_max_retry_count: u32,
    /// Apogee: Raft timing (ms): leader heartbeat, and the election timeout's range.
    pub raft_heartbeat_ms: u64,
    pub raft_election_timeout_ms: (u64, u64),
}

/// Keys of RocketMQ's ControllerConfig Apogee accepts without using.
const ROCKETMQ_ONLY: &[&str] = &[
    "controllerType",
    "controllerThreadPoolNums",
    "controllerRequestThreadPoolQueueCapacity",
    "mappedFileSize",
    "processReadEvent",
    "scanInactiveMasterInterval",
    "configStorePath",
    "configBlackList",
    "rocketmqHome",
    "metricsExporterType",
    "metricsGrpcExporterTarget",
    "metricsGrpcExporterHeader",
    "metricGrpcExporterTimeOutInMills",
    "metricGrpcExporterIntervalInMills",
    "metricLoggingExporterIntervalInMills",
    "metricsPromExporterPort",
    "metricsPromExporterHost",
    "metricsLabel",
    "metricsInDelta",
    "jRaftElectionTimeoutMs",
    "jRaftScanWaitTimeoutMs",
    "jRaftSnapshotIntervalSecs",
    "jRaftGroupId",
    "jRaftServerId",
    "jRaftInitConf",
    "jRaftControllerRPCAddr",
];

impl ControllerConfig {
    /// Reads `text` (the file `file`); `home` is where `controllerStorePath` defaults to
    /// (`~/DLedgerController` in RocketMQ).
    pub fn parse(file: &str, text: &str, home: PathBuf) -> Result<Self, String> {
        let mut group = None;
        let mut peers_text = None;
        let mut self_name = None;
        let mut store_path = None;
        let mut cfg = ControllerConfig {
            group: String::new(),
            peers: BTreeMap::new(),
            self_id: 0,
            store_path: home,
            scan_not_active_broker_interval: Duration::from_millis(5000),
            enable_elect_unclean_master: false,
            notify_broker_role_changed: true,
            elect_master_max_retry_count: 3,
            raft_heartbeat_ms: 300,
            raft_election_timeout_ms: (1200, 2400),
        };
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let at = |why: String| format!("{file}:{}: {why}", n + 1);
            let (key, value) = line
                .split_once(['=', ':'])
                .map(|(k, v)| (k.trim(), v.trim()))
                .ok_or_else(|| at("expected `key=value`".into()))?;
            let num = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| at(format!("invalid value {v:?} for `{key}`: not a number")))
            };
            let flag = |v: &str| match v {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(at(format!(
                    "invalid value {v:?} for `{key}`: true or false"
                ))),
            };
            match key {
                "controllerDLegerGroup" => group = Some(value.to_owned()),
                "controllerDLegerPeers" => peers_text = Some(value.to_owned()),
                "controllerDLegerSelfId" => self_name = Some(value.to_owned()),
                "controllerStorePath" => store_path = Some(PathBuf::from(value)),
                "scanNotActiveBrokerInterval" => {
                    cfg.scan_not_active_broker_interval =
                        Duration::from_millis(num(value)?.max(100))
                }
                "enableElectUncleanMaster" => cfg.enable_elect_unclean_master = flag(value)?,
                "notifyBrokerRoleChanged" => cfg.notify_broker_role_changed = flag(value)?,
                "electMasterMaxRetryCount" => cfg.elect_master_max_retry_count = num(value)? as u32,
                "raftHeartbeatIntervalMs" => cfg.raft_heartbeat_ms = num(value)?.max(10),
                "raftElectionTimeoutMs" => {
                    let min = num(value)?.max(3 * cfg.raft_heartbeat_ms);
                    cfg.raft_election_timeout_ms = (min, 2 * min);
                }
                k if ROCKETMQ_ONLY.contains(&k) => {
                    tracing::warn!(
                        file,
                        line = n + 1,
                        key = k,
                        "RocketMQ controller key accepted without effect"
                    );
                }
                other => return Err(at(format!("unknown key `{other}`"))),
            }
        }
        cfg.group = group.ok_or_else(|| format!("{file}: controllerDLegerGroup is required"))?;
        let peers_text =
            peers_text.ok_or_else(|| format!("{file}: controllerDLegerPeers is required"))?;
        let self_name =
            self_name.ok_or_else(|| format!("{file}: controllerDLegerSelfId is required"))?;
        cfg.peers = parse_peers(&peers_text)
            .map_err(|why| format!("{file}: controllerDLegerPeers: {why}"))?;
        cfg.self_id = cfg
            .peers
            .iter()
            .find(|(_, (name, _))| *name == self_name)
            .map(|(id, _)| *id)
            .ok_or_else(|| format!("{file}: controllerDLegerSelfId `{self_name}` is not one of controllerDLegerPeers"))?;
        if let Some(path) = store_path.filter(|p| !p.as_os_str().is_empty()) {
            cfg.store_path = path;
        }
        Ok(cfg)
    }

    pub fn self_addr(&self) -> SocketAddr {
        self.peers[&self.self_id].1
    }
}

/// `n0-127.0.0.1:9878;n1-127.0.0.1:9868`: ids from the digits of the names (else the order).
pub fn parse_peers(text: &str) -> Result<BTreeMap<NodeId, (String, SocketAddr)>, String> {
    let mut peers = BTreeMap::new();
    let entries: Vec<&str> = text
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    for (i, entry) in entries.iter().enumerate() {
        let (name, addr) = entry
            .split_once('-')
            .ok_or_else(|| format!("`{entry}` is not `id-host:port`"))?;
        let addr: SocketAddr = addr
            .parse()
            .map_err(|_| format!("`{addr}` is not a host:port"))?;
        let id = name
            .trim_start_matches(|c: char| !c.is_ascii_digit())
            .parse::<NodeId>()
            .unwrap_or(i as NodeId);
        if peers.insert(id, (name.to_owned(), addr)).is_some() {
            return Err(format!("two peers with id {id}"));
        }
    }
    if peers.is_empty() {
        return Err("no peers".into());
    }
    Ok(peers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ControllerConfig, String> {
        ControllerConfig::parse("controller.conf", text, PathBuf::from("/tmp/c"))
    }

    #[test]
    fn reads_rocketmqs_keys_and_refuses_what_cannot_work() {
        let cfg = parse(
            "controllerDLegerGroup = group1\ncontrollerDLegerPeers = n0-127.0.0.1:9878;n1-127.0.0.1:9868;n2-127.0.0.1:9858\n\
             controllerDLegerSelfId = n1\ncontrollerStorePath = /tmp/ctl\nenableElectUncleanMaster = false\n\
             notifyBrokerRoleChanged = true\ncontrollerType=DLedger\nscanNotActiveBrokerInterval=1000\n",
        )
        .unwrap();
        assert_eq!(cfg.self_id, 1);
        assert_eq!(cfg.self_addr().port(), 9868);
        assert_eq!(cfg.peers.len(), 3);
        assert_eq!(cfg.store_path, PathBuf::from("/tmp/ctl"));
        assert_eq!(cfg.scan_not_active_broker_interval, Duration::from_secs(1));
        let base = "controllerDLegerGroup=g\ncontrollerDLegerPeers=n0-127.0.0.1:9878\n";
        assert_eq!(
            parse(&format!("{base}controllerDLegerSelfId=n5\n")).unwrap_err(),
            "controller.conf: controllerDLegerSelfId `n5` is not one of controllerDLegerPeers"
        );
        assert_eq!(
            parse(&format!(
                "{base}controllerDLegerSelfId=n0\nelectionColour=red\n"
            ))
            .unwrap_err(),
            "controller.conf:4: unknown key `electionColour`"
        );
        assert!(parse("controllerDLegerGroup=g\ncontrollerDLegerPeers=n0-nowhere\ncontrollerDLegerSelfId=n0\n")
            .unwrap_err()
            .contains("not a host:port"));
        assert!(parse(&format!(
            "{base}controllerDLegerSelfId=n0\nscanNotActiveBrokerInterval=soon\n"
        ))
        .unwrap_err()
        .contains("not a number"));
    }
}
