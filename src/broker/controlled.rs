//! A broker in controller mode (RocketMQ 5's `ReplicasManager`): it takes its id from the
//! controllers (kept in `brokerIdentity`), registers, heartbeats to every controller, and
//! runs with the role the controller assigns — master (registered with the name servers as
//! brokerId 0, its epoch begun in the epoch file) or slave of the named master.
//!
//! A change of role restarts the broker's serving parts in this process on the same store
//! (listeners, actors and services are made again for the new role; clients reconnect).
//! A master keeps taking writes only while the controller leader answers its heartbeats:
//! past 60 % of `controllerHeartBeatTimeoutMills` without, it refuses writes (the leader
//! waits the whole timeout before it elects another), so two masters never take writes
//! for one group. With `allAckInSyncStateSet` the master keeps the in-sync set with the
//! controller: a member that lost its link or stayed behind for `haMaxTimeSlaveNotCatchup`
//! is taken out (controller first, then the sends stop waiting for it); a caught-up slave
//! is counted at once, then proposed.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::config::BrokerRole;
use super::controller_mode::{Assignment, RoleNotice};
use super::{Broker, BrokerConfig};
use crate::actors::ha_service::{SetRequired, Status};
use crate::controller::service::HeartbeatAnswer;
use crate::protocol::body::controller::{ElectMasterBody, SyncStateSet};
use crate::protocol::header::controller::{
    AlterSyncStateSet, AlterSyncStateSetResponse, ApplyBrokerId, BrokerHeartbeat,
    ControllerMetadata, ElectMaster, GetReplicaInfo, MasterInfo, NextBrokerId,
    RegisterToController,
};
use crate::protocol::{RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::RemotingClient;

const TIMEOUT: Duration = Duration::from_secs(3);

/// The controllers, and which of them leads.
#[derive(Clone)]
struct Controllers {
    addrs: Vec<SocketAddr>,
    clients: Arc<Mutex<HashMap<SocketAddr, RemotingClient>>>,
    leader: Arc<Mutex<Option<SocketAddr>>>,
}

impl Controllers {
    fn new(addrs: Vec<SocketAddr>) -> Self {
        Self {
            addrs,
            clients: Default::default(),
            leader: Default::default(),
        }
    }

    async fn client(&self, addr: SocketAddr) -> Option<RemotingClient> {
        let cached = crate::util::lock(&self.clients)
            .get(&addr)
            .filter(|c| c.is_open())
            .cloned();
        if cached.is_some() {
            return cached;
        }
        let client = tokio::time::timeout(TIMEOUT, RemotingClient::connect(addr))
            .await
            .ok()?
            .ok()?;
        crate::util::lock(&self.clients).insert(addr, client.clone());
        Some(client)
    }

    async fn call(&self, addr: SocketAddr, request: RemotingCommand) -> Option<RemotingCommand> {
        let client = self.client(addr).await?;
        match client.invoke(request, TIMEOUT).await {
            Ok(r) => Some(r),
            Err(_) => {
                crate::util::lock(&self.clients).remove(&addr);
                None
            }
        }
    }

    /// Asks the controllers who leads (CONTROLLER_GET_METADATA_INFO).
    async fn find_leader(&self) -> Option<SocketAddr> {
        for addr in &self.addrs {
            let request = RemotingCommand::request(RequestCode::CONTROLLER_GET_METADATA_INFO);
            let Some(answer) = self.call(*addr, request).await else {
                continue;
            };
            let Ok(meta) = answer.header::<ControllerMetadata>() else {
                continue;
            };
            let leader = if meta.is_leader {
                Some(*addr)
            } else {
                meta.controller_leader_address.and_then(|a| a.parse().ok())
            };
            if leader.is_some() {
                *crate::util::lock(&self.leader) = leader;
                return leader;
            }
        }
        None
    }

    /// Sends `request` to the leader, finding it again when it moved.
    async fn invoke(&self, request: RemotingCommand) -> Option<RemotingCommand> {
        for _ in 0..5 {
            let leader = *crate::util::lock(&self.leader);
            let leader = match leader {
                Some(l) => l,
                None => match self.find_leader().await {
                    Some(l) => l,
                    None => {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        continue;
                    }
                },
            };
            match self.call(leader, request.clone()).await {
                Some(answer) if answer.code != ResponseCode::CONTROLLER_NOT_LEADER.wire() => {
                    return Some(answer)
                }
                _ => {
                    *crate::util::lock(&self.leader) = None;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        None
    }
}

/// `brokerIdentity`: `cluster#name#id`, as RocketMQ writes it.
fn load_identity(root: &Path, cluster: &str, name: &str) -> anyhow::Result<Option<i64>> {
    let path = root.join("brokerIdentity");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let parts: Vec<&str> = text.trim().split('#').collect();
    match parts.as_slice() {
        [c, n, id] if *c == cluster && *n == name => Ok(Some(id.parse()?)),
        [c, n, _] => anyhow::bail!(
            "{}: this store belongs to broker {n} of cluster {c}, not {name} of {cluster}",
            path.display()
        ),
        _ => anyhow::bail!("{}: not `cluster#name#id`", path.display()),
    }
}

fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The broker's id in its group, from the file or the controllers.
async fn broker_id(
    controllers: &Controllers,
    config: &BrokerConfig,
    address: &str,
) -> anyhow::Result<i64> {
    let root = &config.store.root;
    if let Some(id) = load_identity(root, &config.cluster_name, &config.broker_name)? {
        return Ok(id);
    }
    loop {
        let ask = RemotingCommand::request(RequestCode::CONTROLLER_GET_NEXT_BROKER_ID).with_header(
            &NextBrokerId {
                cluster_name: config.cluster_name.clone(),
                broker_name: config.broker_name.clone(),
                next_broker_id: None,
            },
        );
        let next = controllers
            .invoke(ask)
            .await
            .filter(|a| a.code == 0)
            .and_then(|a| a.header::<NextBrokerId>().ok())
            .and_then(|h| h.next_broker_id);
        let Some(next) = next else {
            tracing::warn!(
                "no controller leader answers yet (CONTROLLER_GET_NEXT_BROKER_ID); retrying"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let code = format!("{address};{}", crate::util::now_ms());
        write_file(
            &root.join("brokerIdentity-temp"),
            &format!(
                "{}#{}#{next}#{code}",
                config.cluster_name, config.broker_name
            ),
        )?;
        let apply = RemotingCommand::request(RequestCode::CONTROLLER_APPLY_BROKER_ID).with_header(
            &ApplyBrokerId {
                cluster_name: config.cluster_name.clone(),
                broker_name: config.broker_name.clone(),
                applied_broker_id: next,
                register_check_code: code,
            },
        );
        match controllers.invoke(apply).await {
            Some(a) if a.code == 0 => {
                write_file(
                    &root.join("brokerIdentity"),
                    &format!("{}#{}#{next}", config.cluster_name, config.broker_name),
                )?;
                let _ = std::fs::remove_file(root.join("brokerIdentity-temp"));
                tracing::info!(id = next, "broker id applied");
                return Ok(next);
            }
            other => {
                tracing::warn!(id = next, answer = ?other.map(|a| a.remark), "broker id not applied; retrying");
                let _ = std::fs::remove_file(root.join("brokerIdentity-temp"));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// What the controllers say of the group's master.
#[derive(Debug, Clone, PartialEq, Eq)]
struct View {
    master_id: Option<i64>,
    master_address: Option<String>,
    master_epoch: i32,
    set: BTreeSet<i64>,
    set_epoch: i32,
}

impl View {
    fn from(info: &MasterInfo, set: BTreeSet<i64>, set_epoch: i32) -> Self {
        Self {
            master_id: info.master_broker_id,
            master_address: info.master_address.clone(),
            master_epoch: info.master_epoch.unwrap_or(0),
            set,
            set_epoch: info.sync_state_set_epoch.unwrap_or(set_epoch),
        }
    }
}

fn parse_set(body: &[u8]) -> SyncStateSet {
    serde_json::from_slice(body).unwrap_or_default()
}

async fn register(
    controllers: &Controllers,
    config: &BrokerConfig,
    id: i64,
    address: &str,
) -> Option<View> {
    let request = RemotingCommand::request(RequestCode::CONTROLLER_REGISTER_BROKER).with_header(
        &RegisterToController {
            cluster_name: config.cluster_name.clone(),
            broker_name: config.broker_name.clone(),
            broker_id: id,
            broker_address: address.to_owned(),
            invoke_time: crate::util::now_ms(),
        },
    );
    let answer = controllers.invoke(request).await.filter(|a| a.code == 0)?;
    let info = answer.header::<MasterInfo>().ok()?;
    let set = parse_set(&answer.body);
    Some(View::from(
        &info,
        set.sync_state_set,
        set.sync_state_set_epoch,
    ))
}

async fn replica_info(controllers: &Controllers, config: &BrokerConfig) -> Option<View> {
    let request = RemotingCommand::request(RequestCode::CONTROLLER_GET_REPLICA_INFO).with_header(
        &GetReplicaInfo {
            broker_name: config.broker_name.clone(),
        },
    );
    let answer = controllers.invoke(request).await.filter(|a| a.code == 0)?;
    let info = answer.header::<MasterInfo>().ok()?;
    let set = parse_set(&answer.body);
    Some(
        View::from(&info, set.sync_state_set.clone(), set.sync_state_set_epoch)
            .with_set_epoch(set.sync_state_set_epoch),
    )
}

impl View {
    fn with_set_epoch(mut self, epoch: i32) -> Self {
        self.set_epoch = epoch;
        self
    }
}

async fn elect(controllers: &Controllers, config: &BrokerConfig, id: i64) -> Option<View> {
    let request =
        RemotingCommand::request(RequestCode::CONTROLLER_ELECT_MASTER).with_header(&ElectMaster {
            cluster_name: config.cluster_name.clone(),
            broker_name: config.broker_name.clone(),
            broker_id: id,
            designate_elect: false,
            invoke_time: Some(crate::util::now_ms()),
        });
    let answer = controllers.invoke(request).await?;
    if answer.code != 0 && answer.code != ResponseCode::CONTROLLER_MASTER_STILL_EXIST.wire() {
        return None;
    }
    let info = answer.header::<MasterInfo>().ok()?;
    let body: ElectMasterBody = serde_json::from_slice(&answer.body).unwrap_or_default();
    Some(View::from(&info, body.sync_state_set, 0))
}

/// What the heartbeats carry and what their answers tell.
#[derive(Default)]
struct Beat {
    store: Mutex<Option<Arc<crate::store::Store>>>,
    epoch: AtomicI64,
    /// When the controller leader last answered (ms).
    leader_ack_ms: Arc<AtomicI64>,
}

async fn heartbeats(
    controllers: Controllers,
    config: BrokerConfig,
    id: i64,
    address: String,
    beat: Arc<Beat>,
) {
    let every = Duration::from_millis(config.controller.heartbeat_interval_ms);
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let sent_at = crate::util::now_ms();
        let max_offset = crate::util::lock(&beat.store)
            .as_ref()
            .map(|s| s.commit_log().appended() as i64);
        let header = BrokerHeartbeat {
            cluster_name: config.cluster_name.clone(),
            broker_addr: address.clone(),
            broker_name: config.broker_name.clone(),
            broker_id: Some(id),
            epoch: Some(beat.epoch.load(Ordering::Relaxed) as i32),
            max_offset,
            confirm_offset: max_offset,
            heartbeat_timeout_mills: Some(config.controller.heartbeat_timeout_ms as i64),
            election_priority: Some(config.controller.election_priority),
        };
        for addr in controllers.addrs.clone() {
            let (controllers, beat, header) =
                (controllers.clone(), Arc::clone(&beat), header.clone());
            actix_rt::spawn(async move {
                let request =
                    RemotingCommand::request(RequestCode::BROKER_HEARTBEAT).with_header(&header);
                let Some(answer) = tokio::time::timeout(
                    every.max(Duration::from_millis(500)),
                    controllers.call(addr, request),
                )
                .await
                .ok()
                .flatten() else {
                    return;
                };
                if answer
                    .header::<HeartbeatAnswer>()
                    .is_ok_and(|a| a.is_leader)
                {
                    beat.leader_ack_ms.fetch_max(sent_at, Ordering::Relaxed);
                }
            });
        }
    }
}

/// Runs a controller-mode broker until `shutdown` completes.
pub async fn run(config: BrokerConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    if config.controller.controller_addrs.is_empty() {
        anyhow::bail!(
            "enableControllerMode=true needs controllerAddr (the controllers, `;`-separated)"
        );
    }
    let controllers = Controllers::new(config.controller.controller_addrs.clone());
    let address = config.advertised(config.listen).to_string();
    let id = broker_id(&controllers, &config, &address).await?;
    let beat = Arc::new(Beat::default());
    actix_rt::spawn(heartbeats(
        controllers.clone(),
        config.clone(),
        id,
        address.clone(),
        Arc::clone(&beat),
    ));
    let (notices_tx, mut notices) = mpsc::unbounded_channel::<RoleNotice>();
    tokio::pin!(shutdown);
    // The first role: the registration's answer, or an election when there is no master.
    let mut view = loop {
        let registered = register(&controllers, &config, id, &address).await;
        let view = match registered {
            Some(v) if v.master_id.is_some() => Some(v),
            Some(_) => elect(&controllers, &config, id)
                .await
                .filter(|v| v.master_id.is_some()),
            None => None,
        };
        if let Some(v) = view {
            break v;
        }
        tracing::warn!(id, "no master for the group yet (controller unreachable or no in-sync replica alive); retrying");
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    };
    let lease_ms = (config.controller.heartbeat_timeout_ms as i64) * 6 / 10;
    loop {
        let master = view.master_id == Some(id);
        let assignment = Assignment {
            my_id: id,
            master,
            master_epoch: view.master_epoch,
            master_address: view.master_address.clone(),
            set: view.set.clone(),
            set_epoch: view.set_epoch,
            notices: notices_tx.clone(),
            leader_ack_ms: Arc::clone(&beat.leader_ack_ms),
            lease_ms,
        };
        let mut run_config = config.clone();
        run_config.broker_id = if master { 0 } else { id };
        run_config.role = match (master, config.controller.all_ack_in_sync_state_set) {
            (false, _) => BrokerRole::Slave,
            (true, true) => BrokerRole::SyncMaster,
            (true, false) => BrokerRole::AsyncMaster,
        };
        run_config.assigned = Some(assignment);
        tracing::info!(id, master, epoch = view.master_epoch, master_address = ?view.master_address, set = ?view.set, "taking the role the controller assigned");
        beat.epoch
            .store(i64::from(view.master_epoch), Ordering::Relaxed);
        beat.leader_ack_ms
            .store(crate::util::now_ms(), Ordering::Relaxed);
        let broker = super::start(run_config).await?;
        // One line per role (scripts read the first; a closed pipe is no error).
        {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stdout(),
                "apogee broker {id} is {} of epoch {} on {}",
                if master { "master" } else { "slave" },
                view.master_epoch,
                broker.local_addr()
            );
        }
        *crate::util::lock(&beat.store) = Some(Arc::clone(&broker.store));
        let next = serve_role(
            &controllers,
            &config,
            id,
            &broker,
            &mut view,
            &beat,
            lease_ms,
            &mut notices,
            &mut shutdown,
        )
        .await;
        *crate::util::lock(&beat.store) = None;
        broker.shutdown().await?;
        match next {
            Some(v) => view = v,
            None => return Ok(()),
        }
    }
}

/// Serves one role until the controller assigns another (`Some`) or shutdown (`None`).
#[allow(clippy::too_many_arguments)]
async fn serve_role(
    controllers: &Controllers,
    config: &BrokerConfig,
    id: i64,
    broker: &Broker,
    view: &mut View,
    beat: &Beat,
    lease_ms: i64,
    notices: &mut mpsc::UnboundedReceiver<RoleNotice>,
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Option<View> {
    let master = view.master_id == Some(id);
    let mut poll = tokio::time::interval(Duration::from_millis(
        config.controller.sync_broker_metadata_ms,
    ));
    let mut check = tokio::time::interval(Duration::from_millis(
        config.controller.check_sync_state_set_ms,
    ));
    let mut lease = tokio::time::interval(Duration::from_millis(100));
    let mut fenced = false;
    let changed = |v: &View, current: &View| {
        v.master_epoch > current.master_epoch
            || (v.master_id.is_none() && current.master_id == Some(id))
    };
    loop {
        tokio::select! {
            _ = shutdown.as_mut() => return None,
            Some(n) = notices.recv() => {
                let v = View {
                    master_id: n.master_id,
                    master_address: n.master_address,
                    master_epoch: n.master_epoch,
                    set: n.set,
                    set_epoch: n.set_epoch,
                };
                if v.master_id.is_some() && v.master_epoch > view.master_epoch {
                    return Some(v);
                }
            }
            _ = poll.tick() => {
                let Some(v) = replica_info(controllers, config).await else { continue };
                if v.master_id.is_none() && !master {
                    // The group lost its master and no one was electable then: offer this one.
                    if let Some(e) = elect(controllers, config, id).await.filter(|e| e.master_id.is_some()) {
                        return Some(e);
                    }
                    continue;
                }
                if changed(&v, view) {
                    if v.master_id.is_none() {
                        tracing::warn!(id, "the controller has no master for the group: stepping down");
                        broker.store.set_read_only(true);
                        fenced = true;
                        continue;
                    }
                    return Some(v);
                }
                if master && fenced && v.master_id == Some(id) && v.master_epoch == view.master_epoch
                    && crate::util::now_ms() - beat.leader_ack_ms.load(Ordering::Relaxed) < lease_ms
                {
                    tracing::info!(id, "the controller leader answers again: taking writes");
                    broker.store.set_read_only(false);
                    fenced = false;
                }
            }
            _ = lease.tick(), if master => {
                let silent = crate::util::now_ms() - beat.leader_ack_ms.load(Ordering::Relaxed);
                if silent > lease_ms && !fenced {
                    tracing::warn!(id, silent_ms = silent, "no word from the controller leader: refusing writes until it answers");
                    broker.store.set_read_only(true);
                    fenced = true;
                } else if fenced && silent <= lease_ms {
                    poll.reset_immediately();
                }
            }
            _ = check.tick(), if master && config.controller.all_ack_in_sync_state_set => {
                check_sync_state_set(controllers, config, id, broker, view).await;
            }
        }
    }
}

/// A master's in-sync set kept with the controller (see the module's doc).
async fn check_sync_state_set(
    controllers: &Controllers,
    config: &BrokerConfig,
    id: i64,
    broker: &Broker,
    view: &mut View,
) {
    let Some(ha) = &broker.service.parts().ha_service else {
        return;
    };
    let Ok(slaves) = ha.send(Status).await else {
        return;
    };
    let now = crate::util::now_ms();
    let max_behind = config.controller.max_time_slave_not_catchup_ms as i64;
    let written = broker.store.commit_log().written();
    let mut keep: BTreeSet<i64> = BTreeSet::from([id]);
    for member in view.set.iter().filter(|m| **m != id) {
        let fresh = slaves.iter().any(|s| {
            s.broker_id == Some(*member) && now - s.caught_up_ms.max(s.connected_ms) <= max_behind
        });
        if fresh {
            keep.insert(*member);
        }
    }
    // Slaves that have everything written now join (counted at once, then proposed).
    let joining: Vec<i64> = slaves
        .iter()
        .filter_map(|s| {
            s.broker_id.filter(|b| {
                !view.set.contains(b) && s.acked >= written && now - s.caught_up_ms <= max_behind
            })
        })
        .collect();
    let mut proposed = keep.clone();
    proposed.extend(joining.iter().copied());
    if proposed == view.set {
        return;
    }
    if !joining.is_empty() {
        let mut counting = view.set.clone();
        counting.extend(joining.iter().copied());
        ha.do_send(SetRequired {
            me: id,
            set: counting,
        });
    }
    let request = RemotingCommand::request(RequestCode::CONTROLLER_ALTER_SYNC_STATE_SET)
        .with_header(&AlterSyncStateSet {
            broker_name: config.broker_name.clone(),
            master_broker_id: id,
            master_epoch: view.master_epoch,
            invoke_time: now,
        })
        .with_body(
            serde_json::to_vec(&SyncStateSet {
                sync_state_set: proposed.clone(),
                sync_state_set_epoch: view.set_epoch,
            })
            .unwrap_or_default(),
        );
    match controllers.invoke(request).await {
        Some(a) if a.code == 0 => {
            let epoch = a
                .header::<AlterSyncStateSetResponse>()
                .map(|h| h.new_sync_state_set_epoch)
                .unwrap_or(view.set_epoch + 1);
            tracing::info!(from = ?view.set, to = ?proposed, epoch, "in-sync set changed");
            view.set = proposed;
            view.set_epoch = epoch;
        }
        other => {
            tracing::warn!(proposed = ?proposed, answer = ?other.map(|a| (a.code, a.remark)), "in-sync set not changed");
        }
    }
    ha.do_send(SetRequired {
        me: id,
        set: view.set.clone(),
    });
}
