//! Automatic failover with processes: three controllers (`apogee controller`, a Raft group),
//! a name server and three brokers of one group in controller mode, each with its own data
//! directory. Sends under allAckInSyncStateSet; the master is killed (`kill -9`): the
//! controllers elect another member of the in-sync set, which takes sends within seconds
//! and holds every send answered SEND_OK; the old master comes back as a slave, cuts what
//! only it had, and catches up. A master stopped (SIGSTOP, as a partition would) is
//! replaced after the heartbeat timeout, while the controllers' own leader is killed; when
//! it resumes it takes no writes (its lease ran out) and rejoins as a slave.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apogee::protocol::body::controller::SyncStateSet;
use apogee::protocol::header::controller::{GetReplicaInfo, MasterInfo};
use apogee::protocol::{RemotingCommand, RequestCode, ResponseCode};

use super::broker::send_request;
use super::replication::{eventually, free_ports, missing_on, namesrv, senders, spawn, Proc};

type Acked = Arc<Mutex<Vec<String>>>;
use super::store::temp_dir;
use super::support::TIMEOUT;

fn controller(dir: &Path, peers: &str, me: usize) -> Proc {
    std::fs::create_dir_all(dir).unwrap();
    let conf = dir.join("controller.conf");
    std::fs::write(
        &conf,
        format!(
            "controllerDLegerGroup=failover\ncontrollerDLegerPeers={peers}\ncontrollerDLegerSelfId=n{me}\n\
             controllerStorePath={}\nscanNotActiveBrokerInterval=500\nenableElectUncleanMaster=false\n",
            dir.join("store").display()
        ),
    )
    .unwrap();
    spawn(
        &["controller", "-c", conf.to_str().unwrap()],
        "listening on ",
    )
}

fn broker(dir: &Path, namesrv: SocketAddr, controllers: &str, port: u16) -> Proc {
    let conf = broker_conf(dir, namesrv, controllers, port);
    spawn(&["broker", "-c", conf.to_str().unwrap()], " on ")
}

/// Writes `dir/broker.conf` for a controller-mode broker of the group.
fn broker_conf(
    dir: &Path,
    namesrv: SocketAddr,
    controllers: &str,
    port: u16,
) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let conf = dir.join("broker.conf");
    std::fs::write(
        &conf,
        format!(
            "brokerClusterName=FailCluster\nbrokerName=broker-f\nbrokerId=-1\nbrokerRole=SLAVE\n\
             listenPort={port}\nstorePathRootDir={}\nnamesrvAddr={namesrv}\nflushDiskType=ASYNC_FLUSH\n\
             mappedFileSizeCommitLog=1048576\nmaxMessageSize=65536\nslaveTimeout=2000\n\
             haSendHeartbeatInterval=500\nenableControllerMode=true\ncontrollerAddr={controllers}\n\
             allAckInSyncStateSet=true\ncontrollerHeartBeatTimeoutMills=3000\nbrokerHeartbeatInterval=300\n\
             syncBrokerMetadataPeriod=500\ncheckSyncStateSetPeriod=300\nhaMaxTimeSlaveNotCatchup=3000\n",
            dir.display()
        ),
    )
    .unwrap();
    conf
}

/// The group's master and in-sync set, as the controller leader answers.
async fn replica_info(controllers: &[SocketAddr]) -> Option<(Option<String>, i32, SyncStateSet)> {
    for addr in controllers {
        let Ok(client) = apogee::remoting::RemotingClient::connect(*addr).await else {
            continue;
        };
        let request = RemotingCommand::request(RequestCode::CONTROLLER_GET_REPLICA_INFO)
            .with_header(&GetReplicaInfo {
                broker_name: "broker-f".into(),
            });
        let Ok(answer) = client.invoke(request, TIMEOUT).await else {
            continue;
        };
        if answer.response_code() != ResponseCode::SUCCESS {
            continue;
        }
        let info: MasterInfo = answer.header().ok()?;
        let set: SyncStateSet = serde_json::from_slice(&answer.body).ok()?;
        return Some((info.master_address, info.master_epoch.unwrap_or(0), set));
    }
    None
}

async fn accepts_sends(addr: SocketAddr) -> bool {
    let Ok(client) = apogee::remoting::RemotingClient::connect(addr).await else {
        return false;
    };
    client
        .invoke(send_request("Failover", 0, "probe", "t"), TIMEOUT)
        .await
        .is_ok_and(|r| r.response_code() == ResponseCode::SUCCESS)
}

/// Three controllers, a name server and three controller-mode brokers of one group.
struct Cluster {
    dir: std::path::PathBuf,
    ports: Vec<u16>,
    controllers: Vec<Option<Proc>>,
    controller_addrs: Vec<SocketAddr>,
    controller_list: String,
    namesrv: Proc,
    brokers: Vec<Option<Proc>>,
}

impl Cluster {
    fn start(name: &str) -> Self {
        let dir = temp_dir(name);
        let ports = free_ports(6);
        let peers: String = (0..3)
            .map(|i| format!("n{i}-127.0.0.1:{};", ports[i]))
            .collect();
        let controller_addrs: Vec<SocketAddr> = (0..3)
            .map(|i| SocketAddr::from(([127, 0, 0, 1], ports[i])))
            .collect();
        let controller_list = controller_addrs
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(";");
        let controllers = (0..3)
            .map(|i| Some(controller(&dir.join(format!("c{i}")), &peers, i)))
            .collect();
        let namesrv = namesrv();
        let mut cluster = Self {
            dir,
            ports,
            controllers,
            controller_addrs,
            controller_list,
            namesrv,
            brokers: Vec::new(),
        };
        cluster.brokers = (0..3).map(|i| Some(cluster.broker(i))).collect();
        cluster
    }

    fn broker(&self, i: usize) -> Proc {
        broker(
            &self.dir.join(format!("b{i}")),
            self.namesrv.addr,
            &self.controller_list,
            self.ports[3 + i],
        )
    }

    fn broker_addr(&self, i: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports[3 + i]))
    }

    /// The controllers still running.
    fn live_controllers(&self) -> Vec<SocketAddr> {
        (0..3)
            .filter(|i| self.controllers[*i].is_some())
            .map(|i| self.controller_addrs[i])
            .collect()
    }

    /// Waits for a master with all three in sync, taking sends: its index and epoch.
    async fn in_sync(&self, what: &str) -> (usize, i32) {
        let mut found = (0, 0);
        let live = self.live_controllers();
        eventually(
            Duration::from_secs(40),
            what,
            async || match replica_info(&live).await {
                Some((Some(m), e, set)) if set.sync_state_set.len() == 3 => {
                    found = (
                        (0..3)
                            .find(|i| self.broker_addr(*i).to_string() == m)
                            .unwrap(),
                        e,
                    );
                    true
                }
                _ => false,
            },
        )
        .await;
        let addr = self.broker_addr(found.0);
        eventually(
            Duration::from_secs(10),
            "the master takes sends",
            async || accepts_sends(addr).await,
        )
        .await;
        found
    }

    /// Waits for a master other than `old` with an epoch past `epoch`, taking sends.
    async fn new_master(&self, old: usize, epoch: i32, what: &str) -> usize {
        let mut found = old;
        let live = self.live_controllers();
        let old_addr = self.broker_addr(old).to_string();
        eventually(
            Duration::from_secs(20),
            what,
            async || match replica_info(&live).await {
                Some((Some(m), e, _)) if m != old_addr && e > epoch => {
                    found = (0..3)
                        .find(|i| self.broker_addr(*i).to_string() == m)
                        .unwrap();
                    true
                }
                _ => false,
            },
        )
        .await;
        let addr = self.broker_addr(found);
        eventually(
            Duration::from_secs(15),
            "the new master takes sends",
            async || accepts_sends(addr).await,
        )
        .await;
        found
    }

    /// Waits for `old` back in the in-sync set under master `new`, holding all of `acked`,
    /// and refusing sends (a slave).
    async fn rejoined(&self, old: usize, new: usize, acked: &[String]) {
        assert_eq!(
            self.in_sync("the old master back in the in-sync set")
                .await
                .0,
            new
        );
        let old_addr = self.broker_addr(old);
        eventually(
            Duration::from_secs(20),
            "the old master holds every acknowledged send",
            async || missing_on(old_addr, acked).await == 0,
        )
        .await;
        assert!(
            !accepts_sends(old_addr).await,
            "the old master takes sends as a slave"
        );
    }

    fn signal(&self, i: usize, signal: &str) {
        let pid = self.brokers[i].as_ref().unwrap().child.id().to_string();
        std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap();
    }

    fn kill(&mut self, i: usize) {
        let mut proc = self.brokers[i].take().unwrap();
        proc.child.kill().unwrap();
        proc.child.wait().unwrap();
    }
}

/// Senders to `addr` (see `replication::senders`) and what they got acknowledged.
fn sending(
    addr: SocketAddr,
    tag: &'static str,
    acked: &Acked,
) -> (
    Arc<std::sync::atomic::AtomicBool>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let refused: Arc<Mutex<Vec<ResponseCode>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tasks = senders(addr, tag, acked, &refused, &stop);
    (stop, tasks)
}

async fn finish(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test]
async fn a_killed_master_is_replaced_by_an_in_sync_slave_and_no_acknowledged_send_is_lost() {
    let mut c = Cluster::start("failover");
    let (old, epoch) = c.in_sync("a master and an in-sync set of three").await;
    let old_addr = c.broker_addr(old);
    // Sends, the master killed in the middle of them.
    let acked: Acked = Arc::default();
    let (_, tasks) = sending(old_addr, "a", &acked);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    c.kill(old);
    let killed = Instant::now();
    finish(tasks).await;
    let first = acked.lock().unwrap().clone();
    assert!(
        first.len() > 200,
        "too few sends to mean anything: {}",
        first.len()
    );
    // Another member is elected, takes sends and holds every send answered SEND_OK.
    let new = c.new_master(old, epoch, "a new master").await;
    let failover = killed.elapsed();
    eprintln!("failover: the new master took a send {failover:?} after the old one's kill -9");
    assert!(
        failover < Duration::from_secs(10),
        "failover took {failover:?}"
    );
    let new_addr = c.broker_addr(new);
    let missing = missing_on(new_addr, &first).await;
    assert_eq!(
        missing,
        0,
        "of {} acknowledged sends, {missing} are not on the new master",
        first.len()
    );
    // More sends; the old master returns as a slave, cuts what only it had, catches up.
    let (stop, tasks) = sending(new_addr, "b", &acked);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    c.brokers[old] = Some(c.broker(old));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    finish(tasks).await;
    let all = acked.lock().unwrap().clone();
    c.rejoined(old, new, &all).await;
    eprintln!(
        "{} acknowledged sends in all; on the new master, and on the old one back as a slave",
        all.len()
    );
}

/// The group leader of the controllers, as they answer (its index in `controllers`).
async fn controller_leader(controllers: &[SocketAddr]) -> Option<usize> {
    for (i, addr) in controllers.iter().enumerate() {
        let Ok(client) = apogee::remoting::RemotingClient::connect(*addr).await else {
            continue;
        };
        let request = RemotingCommand::request(RequestCode::CONTROLLER_GET_METADATA_INFO);
        let Ok(answer) = client.invoke(request, TIMEOUT).await else {
            continue;
        };
        let meta: apogee::protocol::header::controller::ControllerMetadata =
            answer.header().ok()?;
        if meta.is_leader {
            return Some(i);
        }
    }
    None
}

#[tokio::test]
async fn a_stopped_master_is_fenced_and_replaced_while_the_controller_leader_dies() {
    let mut c = Cluster::start("failover-stop");
    let (old, epoch) = c.in_sync("a master and an in-sync set of three").await;
    let old_addr = c.broker_addr(old);
    let acked: Acked = Arc::default();
    let (_, tasks) = sending(old_addr, "a", &acked);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // The master stops; a moment later the controllers' leader is killed.
    c.signal(old, "-STOP");
    let stopped = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let leader = controller_leader(&c.controller_addrs)
        .await
        .expect("a controller leader");
    let mut dead = c.controllers[leader].take().unwrap();
    dead.child.kill().unwrap();
    dead.child.wait().unwrap();
    let new = c.new_master(old, epoch, "a new master").await;
    let failover = stopped.elapsed();
    eprintln!("failover: the new master took a send {failover:?} after the old one's SIGSTOP (heartbeat timeout 3 s; the controller leader killed meanwhile)");
    assert!(
        failover < Duration::from_secs(10),
        "failover took {failover:?}"
    );
    // The old master resumes: its lease ran out, it takes no write, and rejoins as a slave.
    c.signal(old, "-CONT");
    assert!(
        !accepts_sends(old_addr).await,
        "the resumed old master took a send"
    );
    finish(tasks).await;
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 100,
        "too few sends to mean anything: {}",
        acked.len()
    );
    let new_addr = c.broker_addr(new);
    eventually(
        Duration::from_secs(20),
        "every acknowledged send on the new master",
        async || missing_on(new_addr, &acked).await == 0,
    )
    .await;
    c.rejoined(old, new, &acked).await;
    eprintln!(
        "{} acknowledged sends; all on the new master and on the old one, back as a slave",
        acked.len()
    );
}

/// Sends one after another to whichever broker the controllers name master, until `stop`;
/// what was answered SEND_OK goes to the list returned.
fn following_sender(
    controllers: Vec<SocketAddr>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<Vec<String>> {
    tokio::spawn(async move {
        let mut acked = Vec::new();
        let mut current: Option<(SocketAddr, apogee::remoting::RemotingClient)> = None;
        let pad = "y".repeat(500);
        let mut i = 0u64;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let Some((_, client)) = &current else {
                if let Some((Some(m), _, _)) = replica_info(&controllers).await {
                    let addr: SocketAddr = m.parse().unwrap();
                    if let Ok(c) = apogee::remoting::RemotingClient::connect(addr).await {
                        current = Some((addr, c));
                        continue;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            i += 1;
            let body = format!("cycle-{i}-{pad}");
            match client
                .invoke(
                    send_request("Cycles", (i % 4) as i32, &body, "t"),
                    Duration::from_secs(3),
                )
                .await
            {
                Ok(r) if r.response_code() == ResponseCode::SUCCESS => acked.push(body),
                _ => {
                    current = None;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        acked
    })
}

/// APOGEE_FAILOVER_CYCLES (default 20) failovers in a row, kill -9 and SIGSTOP in turn,
/// with a producer following the master: every send answered SEND_OK is on every broker
/// at the end. (`scripts/chaos-failover.sh` runs 100.)
#[tokio::test]
async fn twenty_failovers_in_a_row_lose_no_acknowledged_send() {
    let cycles: usize = std::env::var("APOGEE_FAILOVER_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mut c = Cluster::start("failover-cycles");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut sender = None;
    let (mut kills, mut stops) = (Vec::new(), Vec::new());
    for cycle in 0..cycles {
        let (old, epoch) = c
            .in_sync(&format!("cycle {cycle}: a master and three in sync"))
            .await;
        if sender.is_none() {
            sender = Some(following_sender(c.controller_addrs.clone(), stop.clone()));
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
        let stopping = cycle % 2 == 1;
        if stopping {
            c.signal(old, "-STOP");
        } else {
            c.kill(old);
        }
        let at = Instant::now();
        c.new_master(old, epoch, &format!("cycle {cycle}: a new master"))
            .await;
        if stopping {
            stops.push(at.elapsed());
            c.signal(old, "-CONT");
            assert!(
                !accepts_sends(c.broker_addr(old)).await,
                "cycle {cycle}: the resumed old master took a send"
            );
        } else {
            kills.push(at.elapsed());
            c.brokers[old] = Some(c.broker(old));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acked = sender.unwrap().await.unwrap();
    assert!(acked.len() > cycles * 20, "too few sends: {}", acked.len());
    c.in_sync("three in sync at the end").await;
    for i in 0..3 {
        let addr = c.broker_addr(i);
        eventually(
            Duration::from_secs(30),
            &format!("broker {i} holds every acknowledged send"),
            async || cycles_missing_on(addr, &acked).await == 0,
        )
        .await;
    }
    let summary = |mut t: Vec<Duration>| {
        t.sort();
        t.last().map_or("-".to_string(), |max| {
            format!("median {:?}, max {max:?}", t[t.len() / 2])
        })
    };
    eprintln!(
        "{cycles} failovers: {} acknowledged sends, all on all three brokers; time to a new master \
         taking sends after kill -9: {}; after SIGSTOP (heartbeat timeout 3 s): {}",
        acked.len(),
        summary(kills),
        summary(stops)
    );
}

async fn cycles_missing_on(addr: SocketAddr, acked: &[String]) -> usize {
    let stored: std::collections::HashSet<String> =
        super::broker_crash::stored_list(addr, "Cycles")
            .await
            .into_iter()
            .collect();
    acked.iter().filter(|b| !stored.contains(*b)).count()
}

/// Without a majority of controllers there is no leader: a broker waits (serving nothing,
/// not a master on its own), and takes its role once the majority is up.
#[tokio::test]
async fn a_broker_waits_for_a_controller_majority() {
    let dir = temp_dir("failover-majority");
    let ports = free_ports(4);
    let peers: String = (0..3)
        .map(|i| format!("n{i}-127.0.0.1:{};", ports[i]))
        .collect();
    let list = (0..3)
        .map(|i| format!("127.0.0.1:{}", ports[i]))
        .collect::<Vec<_>>()
        .join(";");
    let _first = controller(&dir.join("c0"), &peers, 0);
    let namesrv = namesrv();
    let conf_dir = dir.join("b0");
    // Started without reading its first line (it prints one only once it has a role).
    let _ = broker_conf(&conf_dir, namesrv.addr, &list, ports[3]);
    let mut waiting = std::process::Command::new(env!("CARGO_BIN_EXE_apogee"))
        .args([
            "broker",
            "-c",
            conf_dir.join("broker.conf").to_str().unwrap(),
        ])
        .env("RUST_LOG", "off")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let addr = SocketAddr::from(([127, 0, 0, 1], ports[3]));
    assert!(waiting.try_wait().unwrap().is_none(), "the broker gave up");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the broker serves without a controller leader"
    );
    let _others: Vec<Proc> = (1..3)
        .map(|i| controller(&dir.join(format!("c{i}")), &peers, i))
        .collect();
    eventually(
        Duration::from_secs(30),
        "the broker a master once the majority is up",
        async || accepts_sends(addr).await,
    )
    .await;
    let _ = waiting.kill();
    let _ = waiting.wait();
}
