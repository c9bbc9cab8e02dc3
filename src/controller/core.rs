//! The controller's request handling (RocketMQ 5's `ReplicasInfoManager` on the leader):
//! each request that changes the state is decided on the leader from the applied state and
//! the brokers' liveness, one at a time, and proposed to Raft as an [`Event`]; every
//! controller applies it. Elections after a broker went silent or its connection closed come
//! from [`BrokerLiveness`] through [`elect_on_inactive`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use tokio::sync::{mpsc, watch, Mutex};

use super::config::ControllerConfig;
use super::raft::{NodeId, Raft};
use super::state::{choose_master, Event, Group, Liveness, Member, Refused, Replicas};
use crate::actors::broker_liveness::{AliveIn, BrokerLiveness, Inactive};
use crate::protocol::body::controller::{
    BrokerMemberGroup, BrokerReplicasInfo, ElectMasterBody, ReplicaIdentity, ReplicasInfo,
    SyncStateSet,
};
use crate::protocol::header::controller::{
    AlterSyncStateSet, AlterSyncStateSetResponse, ApplyBrokerId, CleanBrokerData,
    ControllerMetadata, ElectMaster, GetReplicaInfo, MasterInfo, NextBrokerId,
    RegisterToController,
};
use crate::protocol::{RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::RemotingClient;

pub struct Core {
    pub raft: Raft,
    pub replicas: watch::Receiver<Replicas>,
    pub liveness: Addr<BrokerLiveness>,
    pub config: ControllerConfig,
    /// One state-changing decision at a time.
    decide: Mutex<()>,
}

fn ok() -> RemotingCommand {
    RemotingCommand::response(ResponseCode::SUCCESS)
}

fn fail(code: ResponseCode, remark: impl Into<String>) -> RemotingCommand {
    RemotingCommand::error(code, remark)
}

fn refused(r: Refused) -> RemotingCommand {
    fail(ResponseCode::from_wire(r.code), r.remark)
}

fn body<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

fn sync_state_set(g: &Group) -> SyncStateSet {
    SyncStateSet {
        sync_state_set: g.sync_state_set.clone(),
        sync_state_set_epoch: g.sync_state_set_epoch,
    }
}

fn master_info(name: &str, g: &Group) -> MasterInfo {
    MasterInfo {
        cluster_name: Some(g.cluster.clone()),
        broker_name: Some(name.to_owned()),
        master_broker_id: g.master,
        master_address: g.master_address().map(str::to_owned),
        master_epoch: Some(g.master_epoch),
        sync_state_set_epoch: Some(g.sync_state_set_epoch),
    }
}

impl Core {
    pub fn new(
        raft: Raft,
        replicas: watch::Receiver<Replicas>,
        liveness: Addr<BrokerLiveness>,
        config: ControllerConfig,
    ) -> Self {
        Self {
            raft,
            replicas,
            liveness,
            config,
            decide: Mutex::new(()),
        }
    }

    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().current_leader == Some(self.config.self_id)
    }

    fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    fn group(&self, name: &str) -> Option<Group> {
        self.replicas.borrow().groups.get(name).cloned()
    }

    /// On the leader, with the applied state caught up with everything committed before.
    async fn lead(&self) -> Result<(), RemotingCommand> {
        if !self.is_leader() {
            return Err(fail(
                ResponseCode::CONTROLLER_NOT_LEADER,
                "The controller is not in leader state",
            ));
        }
        self.raft
            .ensure_linearizable()
            .await
            .map(|_| ())
            .map_err(|e| {
                fail(
                    ResponseCode::CONTROLLER_NOT_LEADER,
                    format!("The controller is not in leader state: {e}"),
                )
            })
    }

    async fn propose(&self, event: Event) -> Result<(), RemotingCommand> {
        match self.raft.client_write(event).await {
            Ok(written) => written.data.map_err(refused),
            Err(e) => Err(fail(
                ResponseCode::CONTROLLER_NOT_LEADER,
                format!("not written: {e}"),
            )),
        }
    }

    async fn alive(&self, group: &str) -> BTreeMap<i64, Liveness> {
        self.liveness
            .send(AliveIn(group.to_owned()))
            .await
            .unwrap_or_default()
    }

    pub fn metadata(&self) -> RemotingCommand {
        let leader = self.leader();
        let peers: String = self
            .config
            .peers
            .values()
            .map(|(name, addr)| format!("{name}:{addr};"))
            .collect();
        let header = ControllerMetadata {
            group: Some(self.config.group.clone()),
            controller_leader_id: leader.map(|id| self.config.peers[&id].0.clone()),
            controller_leader_address: leader.map(|id| self.config.peers[&id].1.to_string()),
            is_leader: leader == Some(self.config.self_id),
            peers: Some(peers),
        };
        ok().with_header(&header)
    }

    pub async fn next_broker_id(&self, req: NextBrokerId) -> RemotingCommand {
        if let Err(r) = self.lead().await {
            return r;
        }
        let next = self
            .group(&req.broker_name)
            .map_or(1, |g| g.next_broker_id());
        ok().with_header(&NextBrokerId {
            next_broker_id: Some(next),
            ..req
        })
    }

    pub async fn apply_broker_id(&self, req: ApplyBrokerId) -> RemotingCommand {
        let _one = self.decide.lock().await;
        if let Err(r) = self.lead().await {
            return r;
        }
        let address = req
            .register_check_code
            .split(';')
            .next()
            .unwrap_or_default()
            .to_owned();
        let taken = match self.group(&req.broker_name) {
            None => req.applied_broker_id != 1,
            Some(g) => g
                .members
                .get(&req.applied_broker_id)
                .is_some_and(|m| m.check_code != req.register_check_code),
        };
        if taken {
            return fail(
                ResponseCode::CONTROLLER_BROKER_ID_INVALID,
                format!(
                    "broker id {} of {} is taken or not the next one",
                    req.applied_broker_id, req.broker_name
                ),
            );
        }
        let event = Event::Member {
            cluster: req.cluster_name.clone(),
            group: req.broker_name.clone(),
            id: req.applied_broker_id,
            member: Member {
                address,
                check_code: req.register_check_code.clone(),
            },
        };
        match self.propose(event).await {
            Ok(()) => ok().with_header(&NextBrokerId {
                cluster_name: req.cluster_name,
                broker_name: req.broker_name,
                next_broker_id: None,
            }),
            Err(r) => r,
        }
    }

    pub async fn register(&self, req: RegisterToController) -> RemotingCommand {
        let _one = self.decide.lock().await;
        if let Err(r) = self.lead().await {
            return r;
        }
        let Some(g) = self
            .group(&req.broker_name)
            .filter(|g| g.members.contains_key(&req.broker_id))
        else {
            return fail(
                ResponseCode::CONTROLLER_BROKER_NEED_TO_BE_REGISTERED,
                format!(
                    "broker {} of {} has no id from this controller",
                    req.broker_id, req.broker_name
                ),
            );
        };
        let member = &g.members[&req.broker_id];
        if member.address != req.broker_address {
            let event = Event::Member {
                cluster: req.cluster_name.clone(),
                group: req.broker_name.clone(),
                id: req.broker_id,
                member: Member {
                    address: req.broker_address.clone(),
                    check_code: member.check_code.clone(),
                },
            };
            if let Err(r) = self.propose(event).await {
                return r;
            }
        }
        let g = self.group(&req.broker_name).unwrap_or(g);
        let alive = self.alive(&req.broker_name).await;
        let mut info = master_info(&req.broker_name, &g);
        if !g
            .master
            .is_some_and(|m| alive.contains_key(&m) || m == req.broker_id)
        {
            info.master_broker_id = None;
            info.master_address = None;
        }
        ok().with_header(&info).with_body(body(&sync_state_set(&g)))
    }

    pub fn replica_info(&self, req: GetReplicaInfo) -> RemotingCommand {
        let Some(g) = self.group(&req.broker_name) else {
            return fail(
                ResponseCode::CONTROLLER_BROKER_METADATA_NOT_EXIST,
                format!("no broker group {}", req.broker_name),
            );
        };
        let info = MasterInfo {
            cluster_name: None,
            broker_name: None,
            sync_state_set_epoch: None,
            ..master_info(&req.broker_name, &g)
        };
        ok().with_header(&info).with_body(body(&sync_state_set(&g)))
    }

    pub async fn sync_state_data(&self, names: Vec<String>) -> RemotingCommand {
        let mut table = BTreeMap::new();
        for name in names {
            let Some(g) = self.group(&name) else { continue };
            let alive = self.alive(&name).await;
            let identity = |id: &i64, m: &Member| ReplicaIdentity {
                broker_name: name.clone(),
                broker_id: *id,
                broker_address: m.address.clone(),
                alive: alive.contains_key(id),
            };
            let (ins, outs): (Vec<_>, Vec<_>) = g
                .members
                .iter()
                .partition(|(id, _)| g.sync_state_set.contains(id));
            table.insert(
                name.clone(),
                ReplicasInfo {
                    master_broker_id: g.master,
                    master_address: g.master_address().map(str::to_owned),
                    master_epoch: g.master_epoch,
                    sync_state_set_epoch: g.sync_state_set_epoch,
                    in_sync_replicas: ins.into_iter().map(|(id, m)| identity(id, m)).collect(),
                    not_in_sync_replicas: outs.into_iter().map(|(id, m)| identity(id, m)).collect(),
                },
            );
        }
        ok().with_body(body(&BrokerReplicasInfo {
            replicas_info_table: table,
        }))
    }

    pub async fn alter_sync_state_set(
        &self,
        req: AlterSyncStateSet,
        set: SyncStateSet,
    ) -> RemotingCommand {
        let _one = self.decide.lock().await;
        if let Err(r) = self.lead().await {
            return r;
        }
        let Some(g) = self.group(&req.broker_name) else {
            return fail(
                ResponseCode::CONTROLLER_ALTER_SYNC_STATE_SET_FAILED,
                format!("no broker group {}", req.broker_name),
            );
        };
        if g.sync_state_set == set.sync_state_set {
            return fail(
                ResponseCode::CONTROLLER_ALTER_SYNC_STATE_SET_FAILED,
                "the sync state set is unchanged",
            );
        }
        let alive = self.alive(&req.broker_name).await;
        if let Some(dead) = set
            .sync_state_set
            .iter()
            .find(|id| !alive.contains_key(id) && **id != req.master_broker_id)
        {
            return fail(
                ResponseCode::CONTROLLER_BROKER_NOT_ALIVE,
                format!("broker {dead} is not alive"),
            );
        }
        let event = Event::SyncStateSet {
            group: req.broker_name.clone(),
            master: req.master_broker_id,
            master_epoch: req.master_epoch,
            set_epoch: set.sync_state_set_epoch,
            set: set.sync_state_set.clone(),
        };
        if let Err(r) = self.propose(event).await {
            return r;
        }
        let g = self.group(&req.broker_name).unwrap_or(g);
        tracing::info!(group = %req.broker_name, set = ?g.sync_state_set, epoch = g.sync_state_set_epoch, "sync state set changed");
        ok().with_header(&AlterSyncStateSetResponse {
            new_sync_state_set_epoch: g.sync_state_set_epoch,
        })
        .with_body(body(&sync_state_set(&g)))
    }

    /// An election (ELECT_MASTER from a broker or an admin, or the controller's own).
    pub async fn elect(&self, req: ElectMaster) -> RemotingCommand {
        let _one = self.decide.lock().await;
        if let Err(r) = self.lead().await {
            return r;
        }
        let name = req.broker_name.clone();
        let Some(g) = self.group(&name) else {
            return fail(
                ResponseCode::CONTROLLER_BROKER_NEED_TO_BE_REGISTERED,
                format!("no broker group {name}"),
            );
        };
        let requested = (req.broker_id > 0).then_some(req.broker_id);
        let alive = self.alive(&name).await;
        let new = match requested {
            Some(id) if g.master_epoch == 0 && g.members.contains_key(&id) => Some(id),
            _ => choose_master(
                &g,
                &alive,
                requested.filter(|_| req.designate_elect),
                self.config.enable_elect_unclean_master,
            ),
        };
        if new.is_some() && new == g.master {
            let info = master_info(&name, &g);
            return fail(
                ResponseCode::CONTROLLER_MASTER_STILL_EXIST,
                "the old master is still alive",
            )
            .with_header(&info)
            .with_body(body(&ElectMasterBody {
                broker_member_group: None,
                sync_state_set: g.sync_state_set.clone(),
            }));
        }
        let Some(new) = new else {
            if requested.is_none() && g.master.is_some() {
                if let Err(r) = self
                    .propose(Event::Elected {
                        group: name.clone(),
                        master: None,
                    })
                    .await
                {
                    return r;
                }
                tracing::error!(group = %name, "master lost and no in-sync replica alive: the group waits without a master");
                return fail(
                    ResponseCode::CONTROLLER_MASTER_NOT_AVAILABLE,
                    "no in-sync replica is alive",
                );
            }
            return fail(
                ResponseCode::CONTROLLER_ELECT_MASTER_FAILED,
                "no broker can be elected now",
            );
        };
        if let Err(r) = self
            .propose(Event::Elected {
                group: name.clone(),
                master: Some(new),
            })
            .await
        {
            return r;
        }
        let g = self.group(&name).unwrap_or(g);
        tracing::info!(group = %name, master = new, epoch = g.master_epoch, "master elected");
        if self.config.notify_broker_role_changed {
            notify_role_changed(&name, &g, &alive);
        }
        let members = BrokerMemberGroup {
            cluster: g.cluster.clone(),
            broker_name: name.clone(),
            broker_addrs: g
                .members
                .iter()
                .map(|(id, m)| (*id, m.address.clone()))
                .collect(),
        };
        ok().with_header(&master_info(&name, &g))
            .with_body(body(&ElectMasterBody {
                broker_member_group: Some(members),
                sync_state_set: g.sync_state_set.clone(),
            }))
    }

    pub async fn clean(&self, req: CleanBrokerData) -> RemotingCommand {
        let _one = self.decide.lock().await;
        if let Err(r) = self.lead().await {
            return r;
        }
        let ids: Option<Vec<i64>> = req
            .broker_controller_ids_to_clean
            .as_deref()
            .map(|s| {
                s.split(';')
                    .filter_map(|id| id.trim().parse().ok())
                    .collect()
            })
            .filter(|v: &Vec<i64>| !v.is_empty());
        let alive = self.alive(&req.broker_name).await;
        if !req.is_clean_living_broker {
            let living = match &ids {
                Some(ids) => ids.iter().any(|id| alive.contains_key(id)),
                None => self
                    .group(&req.broker_name)
                    .is_some_and(|g| g.master.is_some()),
            };
            if living {
                return fail(
                    ResponseCode::CONTROLLER_INVALID_CLEAN_BROKER_METADATA,
                    "living brokers are not cleaned without isCleanLivingBroker",
                );
            }
        }
        match self
            .propose(Event::Clean {
                group: req.broker_name,
                ids,
            })
            .await
        {
            Ok(()) => ok(),
            Err(r) => r,
        }
    }
}

/// NOTIFY_BROKER_ROLE_CHANGED, oneway, to every live member of the group.
fn notify_role_changed(name: &str, g: &Group, alive: &BTreeMap<i64, Liveness>) {
    let header = MasterInfo {
        cluster_name: None,
        broker_name: None,
        ..master_info(name, g)
    };
    let set = body(&sync_state_set(g));
    for (id, m) in &g.members {
        if !alive.contains_key(id) {
            continue;
        }
        let Ok(addr) = m.address.parse::<SocketAddr>() else {
            continue;
        };
        let request = RemotingCommand::request(RequestCode::NOTIFY_BROKER_ROLE_CHANGED)
            .with_header(&header)
            .with_body(set.clone());
        actix_rt::spawn(async move {
            let sent = async {
                let client = RemotingClient::connect(addr).await.ok()?;
                client.invoke(request, Duration::from_secs(3)).await.ok()
            };
            if tokio::time::timeout(Duration::from_secs(3), sent)
                .await
                .ok()
                .flatten()
                .is_none()
            {
                tracing::debug!(broker = %addr, "role change notice not delivered (the broker polls)");
            }
        });
    }
}

/// Elections for masters that went silent: one at a time, retried up to
/// `electMasterMaxRetryCount` times 1 s apart while no one can be elected.
pub async fn elect_on_inactive(core: Arc<Core>, mut inactive: mpsc::UnboundedReceiver<Inactive>) {
    while let Some(Inactive { group, id }) = inactive.recv().await {
        if !core.is_leader() {
            continue;
        }
        let Some(g) = core.group(&group) else {
            continue;
        };
        // Only the master's loss (or a group without one) calls for an election.
        if g.master.is_some() && id.is_some() && g.master != id {
            continue;
        }
        for attempt in 0..core.config.elect_master_max_retry_count.max(1) {
            let answer = core
                .elect(ElectMaster {
                    cluster_name: g.cluster.clone(),
                    broker_name: group.clone(),
                    broker_id: -1,
                    designate_elect: false,
                    invoke_time: None,
                })
                .await;
            let code = ResponseCode::from_wire(answer.code);
            if code == ResponseCode::SUCCESS || code == ResponseCode::CONTROLLER_MASTER_STILL_EXIST
            {
                break;
            }
            tracing::debug!(group = %group, attempt, code = answer.code, remark = ?answer.remark, "election not done");
            if code == ResponseCode::CONTROLLER_NOT_LEADER {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// The ids of a sync state set body (`{"syncStateSet":[…],"syncStateSetEpoch":n}`).
pub fn parse_set(bytes: &[u8]) -> Option<SyncStateSet> {
    serde_json::from_slice(bytes).ok()
}
