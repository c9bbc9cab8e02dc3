//! The controllers' consensus on openraft: the durable Raft log, the state machine
//! ([`Replicas`] and its snapshots, both under `controllerStorePath`), and the network
//! (Raft RPCs carried as remoting requests, JSON bodies, on the peers' addresses).
//!
//! The log is one append-only file of length- and CRC-framed records (entries, vote,
//! commit point, truncation, purge), fsynced before openraft is told it is durable; a
//! torn or damaged tail is cut at start, and the file is rewritten compactly when it has
//! grown past 4 MiB. Snapshots are written to a temporary file, synced and renamed.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io::{Cursor, Read, Write};
use std::net::SocketAddr;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::storage::{LogFlushed, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, LogState, RaftLogReader, RaftSnapshotBuilder,
    SnapshotMeta, StorageError, StorageIOError, StoredMembership, Vote,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::state::{Event, Refused, Replicas};
use crate::protocol::{RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::RemotingClient;

pub type NodeId = u64;

openraft::declare_raft_types!(
    /// The controllers' Raft: events in, their outcome out.
    pub TypeConfig:
        D = Event,
        R = Result<(), Refused>,
);

pub type Raft = openraft::Raft<TypeConfig>;
type SError = StorageError<NodeId>;

/// Apogee's request codes for the Raft RPCs between controllers (not RocketMQ's).
pub const RAFT_APPEND: i32 = 12_001;
pub const RAFT_VOTE: i32 = 12_002;
pub const RAFT_SNAPSHOT: i32 = 12_003;

// ---------------------------------------------------------------------------------------
// The log.

#[derive(Serialize, Deserialize)]
enum Op {
    Entries(Vec<Entry<TypeConfig>>),
    Truncate(u64),
    Purge(LogId<NodeId>),
    Vote(Vote<NodeId>),
    Committed(Option<LogId<NodeId>>),
}

#[derive(Default)]
struct LogInner {
    log: BTreeMap<u64, Entry<TypeConfig>>,
    last_purged: Option<LogId<NodeId>>,
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
    file: Option<File>,
    path: PathBuf,
    written: u64,
}

const COMPACT_AT: u64 = 4 << 20;

impl LogInner {
    fn apply(&mut self, op: Op) {
        match op {
            Op::Entries(entries) => {
                for e in entries {
                    self.log.insert(e.log_id.index, e);
                }
            }
            Op::Truncate(index) => {
                self.log.split_off(&index);
            }
            Op::Purge(id) => {
                self.log = self.log.split_off(&(id.index + 1));
                self.last_purged = Some(id);
            }
            Op::Vote(v) => self.vote = Some(v),
            Op::Committed(c) => self.committed = c,
        }
    }

    /// Writes `op` durably, then applies it.
    fn write(&mut self, op: Op) -> std::io::Result<()> {
        let bytes = frame(&op)?;
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("log closed"))?;
        file.write_all(&bytes)?;
        file.sync_data()?;
        self.written += bytes.len() as u64;
        self.apply(op);
        if self.written > COMPACT_AT {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the file with what it holds now.
    fn compact(&mut self) -> std::io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        let mut out = File::create(&tmp)?;
        let mut written = 0;
        let mut ops = Vec::new();
        if let Some(v) = self.vote {
            ops.push(Op::Vote(v));
        }
        if let Some(p) = self.last_purged {
            ops.push(Op::Purge(p));
        }
        ops.push(Op::Committed(self.committed));
        ops.push(Op::Entries(self.log.values().cloned().collect()));
        for op in &ops {
            let bytes = frame(op)?;
            out.write_all(&bytes)?;
            written += bytes.len() as u64;
        }
        out.sync_all()?;
        fs::rename(&tmp, &self.path)?;
        sync_dir(&self.path);
        self.file = Some(OpenOptions::new().append(true).open(&self.path)?);
        self.written = written;
        Ok(())
    }
}

fn frame(op: &Op) -> std::io::Result<Vec<u8>> {
    let body = serde_json::to_vec(op).map_err(std::io::Error::other)?;
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
    }
}

/// The durable Raft log (`controllerStorePath/raft-log`).
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<LogInner>>,
}

impl LogStore {
    /// Opens (or creates) the log in `dir`, cutting a torn tail.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        fs::create_dir_all(dir)?;
        let path = dir.join("raft-log");
        let mut inner = LogInner {
            path: path.clone(),
            ..LogInner::default()
        };
        let mut bytes = Vec::new();
        if path.exists() {
            File::open(&path)?.read_to_end(&mut bytes)?;
        }
        let mut at = 0usize;
        while bytes.len() >= at + 8 {
            let len = u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
            let crc = u32::from_be_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
            let Some(body) = bytes.get(at + 8..at + 8 + len) else {
                break;
            };
            if crc32fast::hash(body) != crc {
                break;
            }
            let Ok(op) = serde_json::from_slice::<Op>(body) else {
                break;
            };
            inner.apply(op);
            at += 8 + len;
        }
        if at < bytes.len() {
            tracing::warn!(file = %path.display(), kept = at, dropped = bytes.len() - at, "controller log: torn or damaged tail cut");
            let file = OpenOptions::new().write(true).open(&path)?;
            file.set_len(at as u64)?;
            file.sync_all()?;
        }
        inner.file = Some(OpenOptions::new().create(true).append(true).open(&path)?);
        inner.written = at as u64;
        Ok(Self {
            inner: Arc::new(Mutex::new(inner)),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut LogInner) -> T) -> T {
        f(&mut crate::util::lock(&self.inner))
    }
}

fn io_err(e: std::io::Error) -> SError {
    StorageIOError::write_logs(&e).into()
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, SError> {
        Ok(self.with(|l| l.log.range(range).map(|(_, e)| e.clone()).collect()))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, SError> {
        Ok(self.with(|l| {
            let last = l
                .log
                .values()
                .next_back()
                .map(|e| e.log_id)
                .or(l.last_purged);
            LogState {
                last_purged_log_id: l.last_purged,
                last_log_id: last,
            }
        }))
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), SError> {
        self.with(|l| l.write(Op::Vote(*vote)))
            .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, SError> {
        Ok(self.with(|l| l.vote))
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<(), SError> {
        self.with(|l| l.write(Op::Committed(committed)))
            .map_err(io_err)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, SError> {
        Ok(self.with(|l| l.committed))
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), SError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        let result = self.with(|l| l.write(Op::Entries(entries)));
        match result {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(io_err(e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), SError> {
        self.with(|l| l.write(Op::Truncate(log_id.index)))
            .map_err(io_err)
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), SError> {
        self.with(|l| l.write(Op::Purge(log_id))).map_err(io_err)
    }
}

// ---------------------------------------------------------------------------------------
// The state machine.

#[derive(Serialize, Deserialize, Clone, Default)]
struct SmData {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    replicas: Replicas,
}

#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    data: Vec<u8>,
}

struct SmInner {
    data: SmData,
    snapshot: Option<StoredSnapshot>,
    path: PathBuf,
    built: u64,
}

/// The replicated [`Replicas`]; every apply is published on [`StateMachine::watch`].
#[derive(Clone)]
pub struct StateMachine {
    inner: Arc<Mutex<SmInner>>,
    view: Arc<watch::Sender<Replicas>>,
}

impl StateMachine {
    /// Starts from the last snapshot in `dir` (the log replays what follows it).
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        let path = dir.join("snapshot.json");
        let snapshot: Option<StoredSnapshot> = match fs::read(&path) {
            Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(std::io::Error::other)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let data = match &snapshot {
            Some(s) => SmData {
                last_applied: s.meta.last_log_id,
                membership: s.meta.last_membership.clone(),
                replicas: serde_json::from_slice(&s.data).map_err(std::io::Error::other)?,
            },
            None => SmData::default(),
        };
        let view = Arc::new(watch::channel(data.replicas.clone()).0);
        Ok(Self {
            inner: Arc::new(Mutex::new(SmInner {
                data,
                snapshot,
                path,
                built: 0,
            })),
            view,
        })
    }

    /// The state as applied here (on a follower it may trail the leader's).
    pub fn watch(&self) -> watch::Receiver<Replicas> {
        self.view.subscribe()
    }

    fn with<T>(&self, f: impl FnOnce(&mut SmInner) -> T) -> T {
        f(&mut crate::util::lock(&self.inner))
    }

    fn persist(inner: &mut SmInner, snapshot: StoredSnapshot) -> std::io::Result<()> {
        let tmp = inner.path.with_extension("tmp");
        {
            let mut file = File::create(&tmp)?;
            file.write_all(&serde_json::to_vec(&snapshot).map_err(std::io::Error::other)?)?;
            file.sync_all()?;
        }
        fs::rename(&tmp, &inner.path)?;
        sync_dir(&inner.path);
        inner.snapshot = Some(snapshot);
        Ok(())
    }
}

#[allow(clippy::result_large_err)] // openraft's StorageError, as its API has it
impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, SError> {
        self.with(|inner| {
            inner.built += 1;
            let data = serde_json::to_vec(&inner.data.replicas)
                .map_err(|e| StorageIOError::read_state_machine(&e))?;
            let id = match inner.data.last_applied {
                Some(l) => format!("{}-{}-{}", l.leader_id, l.index, inner.built),
                None => format!("--{}", inner.built),
            };
            let meta = SnapshotMeta {
                last_log_id: inner.data.last_applied,
                last_membership: inner.data.membership.clone(),
                snapshot_id: id,
            };
            let stored = StoredSnapshot {
                meta: meta.clone(),
                data: data.clone(),
            };
            Self::persist(inner, stored)
                .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
            Ok(Snapshot {
                meta,
                snapshot: Box::new(Cursor::new(data)),
            })
        })
    }
}

#[allow(clippy::result_large_err)]
impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), SError> {
        Ok(self.with(|i| (i.data.last_applied, i.data.membership.clone())))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Result<(), Refused>>, SError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
    {
        let (out, replicas) = self.with(|inner| {
            let mut out = Vec::new();
            for entry in entries {
                inner.data.last_applied = Some(entry.log_id);
                match entry.payload {
                    EntryPayload::Blank => out.push(Ok(())),
                    EntryPayload::Normal(event) => {
                        let result = inner.data.replicas.apply(&event);
                        if let Err(why) = &result {
                            tracing::debug!(?event, remark = %why.remark, "controller event refused");
                        }
                        out.push(result);
                    }
                    EntryPayload::Membership(m) => {
                        inner.data.membership = StoredMembership::new(Some(entry.log_id), m);
                        out.push(Ok(()));
                    }
                }
            }
            (out, inner.data.replicas.clone())
        });
        self.view.send_if_modified(|old| {
            let changed = *old != replicas;
            *old = replicas;
            changed
        });
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, SError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), SError> {
        let data = snapshot.into_inner();
        let replicas: Replicas = serde_json::from_slice(&data)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        self.with(|inner| {
            inner.data = SmData {
                last_applied: meta.last_log_id,
                membership: meta.last_membership.clone(),
                replicas: replicas.clone(),
            };
            Self::persist(
                inner,
                StoredSnapshot {
                    meta: meta.clone(),
                    data,
                },
            )
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))
        })?;
        self.view.send_replace(replicas);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, SError> {
        Ok(self.with(|inner| {
            inner.snapshot.as_ref().map(|s| Snapshot {
                meta: s.meta.clone(),
                snapshot: Box::new(Cursor::new(s.data.clone())),
            })
        }))
    }
}

// ---------------------------------------------------------------------------------------
// The network.

/// Makes the links to the other controllers.
#[derive(Clone, Default)]
pub struct Network;

/// One link: a remoting connection to the peer, made again when it breaks.
pub struct Link {
    target: NodeId,
    addr: String,
    client: Option<RemotingClient>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Link;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Link {
        Link {
            target,
            addr: node.addr.clone(),
            client: None,
        }
    }
}

impl Link {
    async fn call<Req: Serialize, Resp: serde::de::DeserializeOwned, E>(
        &mut self,
        code: i32,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>
    where
        E: std::error::Error + serde::de::DeserializeOwned,
    {
        let client = match &self.client {
            Some(c) if c.is_open() => c.clone(),
            _ => {
                let addr: SocketAddr = self
                    .addr
                    .parse()
                    .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
                let c = tokio::time::timeout(timeout, RemotingClient::connect(addr))
                    .await
                    .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?
                    .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
                self.client = Some(c.clone());
                c
            }
        };
        let body = serde_json::to_vec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let request = RemotingCommand::request(RequestCode::from_wire(code)).with_body(body);
        let response = client.invoke(request, timeout).await.map_err(|e| {
            self.client = None;
            RPCError::Network(NetworkError::new(&e))
        })?;
        if response.code != ResponseCode::SUCCESS.wire() {
            return Err(RPCError::Network(NetworkError::new(
                &std::io::Error::other(format!(
                    "peer answered {}: {}",
                    response.code,
                    response.remark.as_deref().unwrap_or_default()
                )),
            )));
        }
        let answer: Result<Resp, RaftError<NodeId, E>> = serde_json::from_slice(&response.body)
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Link {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(RAFT_APPEND, &rpc, option.hard_ttl()).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call(RAFT_SNAPSHOT, &rpc, option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(RAFT_VOTE, &rpc, option.hard_ttl()).await
    }
}

/// Answers a Raft RPC a peer sent (`code` one of the `RAFT_*`), as a JSON body.
pub async fn serve_rpc(raft: &Raft, code: i32, body: &[u8]) -> Result<Vec<u8>, String> {
    fn json<T: Serialize>(v: &T) -> Result<Vec<u8>, String> {
        serde_json::to_vec(v).map_err(|e| e.to_string())
    }
    match code {
        RAFT_APPEND => {
            let req = serde_json::from_slice(body).map_err(|e| e.to_string())?;
            json(&raft.append_entries(req).await)
        }
        RAFT_VOTE => {
            let req = serde_json::from_slice(body).map_err(|e| e.to_string())?;
            json(&raft.vote(req).await)
        }
        RAFT_SNAPSHOT => {
            let req = serde_json::from_slice(body).map_err(|e| e.to_string())?;
            json(&raft.install_snapshot(req).await)
        }
        _ => Err(format!("not a Raft RPC: {code}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_survives_reopening_and_a_torn_tail_is_cut() {
        let dir = std::env::temp_dir().join(format!("apogee-raftlog-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = LogStore::open(&dir).unwrap();
        let vote = Vote::new(3, 1);
        store.with(|l| l.write(Op::Vote(vote))).unwrap();
        let entry = |index| Entry::<TypeConfig> {
            log_id: LogId::new(openraft::CommittedLeaderId::new(3, 1), index),
            payload: EntryPayload::Blank,
        };
        store
            .with(|l| l.write(Op::Entries(vec![entry(1), entry(2), entry(3)])))
            .unwrap();
        store.with(|l| l.write(Op::Truncate(3))).unwrap();
        drop(store);
        // A torn record at the end (a crash mid-write).
        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.join("raft-log"))
            .unwrap();
        file.write_all(&[0, 0, 0, 50, 1, 2, 3]).unwrap();
        drop(file);
        let store = LogStore::open(&dir).unwrap();
        store.with(|l| {
            assert_eq!(l.vote, Some(vote));
            assert_eq!(l.log.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
        });
        store.with(|l| l.compact()).unwrap();
        store.with(|l| l.write(Op::Purge(entry(1).log_id))).unwrap();
        drop(store);
        let store = LogStore::open(&dir).unwrap();
        store.with(|l| {
            assert_eq!(l.log.keys().copied().collect::<Vec<_>>(), vec![2]);
            assert_eq!(l.last_purged, Some(entry(1).log_id));
        });
        let _ = fs::remove_dir_all(&dir);
    }
}
