//! Master/slave replication with processes: a name server, a SYNC_MASTER and a slave
//! (`apogee broker`), each with its own data directory. Sends answered SEND_OK survive the
//! master's `kill -9` on the slave; the slave serves them, refuses sends, catches up after
//! its own `kill -9` and after being stopped (SIGSTOP), and follows a restarted master. A
//! slave whose log runs past a replacement master's cuts it back and follows.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apogee::protocol::{RemotingCommand, RequestCode, ResponseCode};

use super::broker::send_request;
use super::broker_crash::stored_list;
use super::store::temp_dir;
use super::support::{connect, TIMEOUT};

pub(super) struct Proc {
    pub(super) child: Child,
    pub(super) addr: SocketAddr,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `apogee args…` and reads the address after `marker` in its first stdout line.
pub(super) fn spawn(args: &[&str], marker: &str) -> Proc {
    // APOGEE_IT_LOGS=<dir>: each process's log (RUST_LOG=info) to a file there.
    static SPAWNED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let (level, stderr) = match std::env::var_os("APOGEE_IT_LOGS") {
        Some(dir) => {
            let n = SPAWNED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let name = format!("{n:02}-{}.log", args[0]);
            let file = std::fs::File::create(Path::new(&dir).join(name)).unwrap();
            ("info", Stdio::from(file))
        }
        None => ("warn", Stdio::null()),
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_apogee"))
        .args(args)
        .env("RUST_LOG", level)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split(marker)
        .nth(1)
        .and_then(|rest| rest.split([' ', ',']).next())
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    Proc { child, addr }
}

fn broker(dir: &Path, namesrv: SocketAddr, role_lines: &str, port: u16) -> Proc {
    std::fs::create_dir_all(dir).unwrap();
    let conf: PathBuf = dir.join("broker.conf");
    std::fs::write(
        &conf,
        format!(
            "brokerClusterName=HaCluster\nbrokerName=broker-ha\nlistenPort={port}\n\
             storePathRootDir={}\nnamesrvAddr={namesrv}\nflushDiskType=ASYNC_FLUSH\n\
             mappedFileSizeCommitLog=1048576\nmaxMessageSize=65536\nslaveTimeout=1000\n\
             haSendHeartbeatInterval=1000\n{role_lines}",
            dir.display()
        ),
    )
    .unwrap();
    spawn(&["broker", "-c", conf.to_str().unwrap()], "listening on ")
}

const MASTER: &str = "brokerId=0\nbrokerRole=SYNC_MASTER\n";
const ASYNC_MASTER: &str = "brokerId=0\nbrokerRole=ASYNC_MASTER\n";
const SLAVE: &str = "brokerId=1\nbrokerRole=SLAVE\n";

/// Polls `f` until it is true, up to `limit`.
pub(super) async fn eventually(limit: Duration, what: &str, mut f: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !f().await {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(super) fn namesrv() -> Proc {
    spawn(
        &["namesrv", "--listen", "127.0.0.1:0", "--no-kv-file"],
        "listening on ",
    )
}

/// Waits until `master` lists `n` slaves.
async fn until_slaves(master: SocketAddr, n: usize, what: &str) {
    eventually(Duration::from_secs(15), what, async || {
        slaves_of(master).await == n
    })
    .await;
}

/// Waits until `slave` holds every message of `acked`.
async fn until_holds(slave: SocketAddr, acked: &[String], what: &str) {
    eventually(Duration::from_secs(20), what, async || {
        missing_on(slave, acked).await == 0
    })
    .await;
}

/// Slaves the master's HA status lists.
async fn slaves_of(master: SocketAddr) -> usize {
    let Ok(client) = apogee::remoting::RemotingClient::connect(master).await else {
        return 0;
    };
    let Ok(r) = client
        .invoke(
            RemotingCommand::request(RequestCode::GET_BROKER_HA_STATUS),
            TIMEOUT,
        )
        .await
    else {
        return 0;
    };
    let info: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
    info["haConnectionInfo"].as_array().map_or(0, Vec::len)
}

/// Sends from 4 tasks until `stop`; what was answered SUCCESS goes to `acked`, other codes
/// are counted in `refused`.
pub(super) fn senders(
    master: SocketAddr,
    tag: &'static str,
    acked: &Arc<Mutex<Vec<String>>>,
    refused: &Arc<Mutex<Vec<ResponseCode>>>,
    stop: &Arc<std::sync::atomic::AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..4)
        .map(|queue_id| {
            let (acked, refused, stop) = (acked.clone(), refused.clone(), stop.clone());
            tokio::spawn(async move {
                let Ok(client) = apogee::remoting::RemotingClient::connect(master).await else {
                    return;
                };
                let pad = "x".repeat(900);
                for i in 0u64.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        return;
                    }
                    let body = format!("{tag}-q{queue_id}-{i}-{pad}");
                    match client
                        .invoke(send_request("Replicated", queue_id, &body, "t"), TIMEOUT)
                        .await
                    {
                        Ok(r) if r.response_code() == ResponseCode::SUCCESS => {
                            acked.lock().unwrap().push(body)
                        }
                        Ok(r) => refused.lock().unwrap().push(r.response_code()),
                        Err(_) => return,
                    }
                }
            })
        })
        .collect()
}

pub(super) async fn missing_on(slave: SocketAddr, acked: &[String]) -> usize {
    // Until the metadata sync brings the topic, the slave answers TOPIC_NOT_EXIST.
    let client = connect(slave).await;
    let topics = client
        .invoke(
            RemotingCommand::request(RequestCode::GET_ALL_TOPIC_CONFIG),
            TIMEOUT,
        )
        .await
        .unwrap();
    if !String::from_utf8_lossy(&topics.body).contains("\"Replicated\"") {
        return usize::MAX;
    }
    let stored: HashSet<String> = stored_list(slave, "Replicated").await.into_iter().collect();
    acked.iter().filter(|b| !stored.contains(*b)).count()
}

#[tokio::test]
async fn a_slave_keeps_every_acknowledged_send_through_kills_and_stops() {
    let dir = temp_dir("replication");
    let namesrv = namesrv();
    let ports = free_ports(2);
    let mut master = broker(&dir.join("master"), namesrv.addr, MASTER, ports[0]);
    let mut slave = broker(&dir.join("slave"), namesrv.addr, SLAVE, ports[1]);
    until_slaves(master.addr, 1, "the slave connects").await;

    // Sends under SYNC_MASTER, the master killed in the middle.
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let refused: Arc<Mutex<Vec<ResponseCode>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tasks = senders(master.addr, "a", &acked, &refused, &stop);
    // The slave learns the topic with the master's metadata (every 10 s), as in RocketMQ.
    let slave_addr = slave.addr;
    eventually(
        Duration::from_secs(15),
        "the slave syncs the topic",
        async || {
            let client = connect(slave_addr).await;
            let topics = client
                .invoke(
                    RemotingCommand::request(RequestCode::GET_ALL_TOPIC_CONFIG),
                    TIMEOUT,
                )
                .await
                .unwrap();
            String::from_utf8_lossy(&topics.body).contains("\"Replicated\"")
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    master.child.kill().unwrap();
    master.child.wait().unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let first = acked.lock().unwrap().clone();
    assert!(
        first.len() > 500,
        "too few sends to mean anything: {}",
        first.len()
    );
    assert!(
        refused.lock().unwrap().is_empty(),
        "sends refused with a slave in sync: {:?}",
        refused.lock().unwrap()
    );
    // The slave has the topic from the master's metadata (synced every 10 s) and every
    // acknowledged message (the log spans several 1 MiB files).
    until_holds(slave.addr, &first, "the slave serves the topic").await;
    eprintln!(
        "{} acknowledged sends, all on the slave after the master's kill -9",
        first.len()
    );
    // The slave refuses sends.
    let client = connect(slave.addr).await;
    let r = client
        .invoke(send_request("Replicated", 0, "to-the-slave", "t"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(r.response_code(), ResponseCode::SYSTEM_BUSY);

    // The master comes back; the slave follows it again and gets what is sent next.
    master = broker(&dir.join("master"), namesrv.addr, MASTER, ports[0]);
    until_slaves(master.addr, 1, "the slave reconnects").await;
    stop.store(false, std::sync::atomic::Ordering::Relaxed);
    let tasks = senders(master.addr, "b", &acked, &refused, &stop);
    tokio::time::sleep(Duration::from_millis(800)).await;
    // The slave killed and restarted while sends go on (SLAVE_NOT_AVAILABLE meanwhile).
    slave.child.kill().unwrap();
    slave.child.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    slave = broker(&dir.join("slave"), namesrv.addr, SLAVE, ports[1]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Stopped (as a partition would), then let go.
    let pid = slave.child.id().to_string();
    Command::new("kill").args(["-STOP", &pid]).status().unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    Command::new("kill").args(["-CONT", &pid]).status().unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let codes = refused.lock().unwrap().clone();
    assert!(
        codes
            .iter()
            .all(|c| *c == ResponseCode::SLAVE_NOT_AVAILABLE
                || *c == ResponseCode::FLUSH_SLAVE_TIMEOUT),
        "unexpected refusals: {codes:?}"
    );
    assert!(
        codes.contains(&ResponseCode::SLAVE_NOT_AVAILABLE)
            || codes.contains(&ResponseCode::FLUSH_SLAVE_TIMEOUT),
        "the slave was down, yet every send was answered SEND_OK"
    );
    let all = acked.lock().unwrap().clone();
    until_holds(slave.addr, &all, "the slave catches up").await;
    eprintln!(
        "{} acknowledged sends in all on the slave; {} answered SLAVE_NOT_AVAILABLE or FLUSH_SLAVE_TIMEOUT while it was down or stopped",
        all.len(),
        codes.len()
    );
    drop((master, slave, namesrv));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Free loopback ports (the brokers' HA ports are the next ones up; the VIP channel two down).
pub(super) fn free_ports(n: usize) -> Vec<u16> {
    use std::sync::atomic::{AtomicU16, Ordering};
    // Tests run side by side: each call takes ports no earlier call took.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let mut out = Vec::new();
    while out.len() < n {
        let step = NEXT.fetch_add(7, Ordering::Relaxed);
        let port = 20_000 + (std::process::id() % 20_000) as u16 + step;
        let free =
            (port - 2..=port + 1).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
        if free {
            out.push(port);
        }
    }
    out
}

/// Sends from the 4 tasks of [`senders`] for `secs`; returns what was acknowledged.
async fn send_for(master: SocketAddr, tag: &'static str, secs: f64) -> Vec<String> {
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let refused: Arc<Mutex<Vec<ResponseCode>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tasks = senders(master, tag, &acked, &refused, &stop);
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(refused.lock().unwrap().len(), 0, "{tag}: refusals");
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 100, "{tag}: too few sends: {}", acked.len());
    acked
}

#[tokio::test]
async fn a_slave_ahead_of_a_replacement_master_cuts_its_log_back_and_follows() {
    let dir = temp_dir("replication-cut");
    let namesrv = namesrv();
    let ports = free_ports(2);
    let (dir_a, dir_b) = (dir.join("a"), dir.join("b"));
    let master = broker(&dir_a, namesrv.addr, ASYNC_MASTER, ports[0]);
    let slave = broker(&dir_b, namesrv.addr, SLAVE, ports[1]);
    until_slaves(master.addr, 1, "the slave connects").await;
    let first = send_for(master.addr, "a", 1.0).await;
    until_holds(slave.addr, &first, "the slave has the first sends").await;
    // The slave dies; the (async) master takes more sends, then dies too.
    drop(slave);
    let lost = send_for(master.addr, "b", 0.5).await;
    drop(master);

    // B, which never got the second sends, becomes the master; A follows it as a slave.
    let master = broker(&dir_b, namesrv.addr, ASYNC_MASTER, ports[1]);
    let follow = format!("{SLAVE}haMasterAddress=127.0.0.1:{}\n", ports[1] + 1);
    let slave = broker(&dir_a, namesrv.addr, &follow, ports[0]);
    until_slaves(master.addr, 1, "A follows B").await;
    let third = send_for(master.addr, "c", 1.0).await;
    until_holds(slave.addr, &third, "A has what B holds").await;
    let on_a: HashSet<String> = stored_list(slave.addr, "Replicated")
        .await
        .into_iter()
        .collect();
    let on_b: HashSet<String> = stored_list(master.addr, "Replicated")
        .await
        .into_iter()
        .collect();
    assert_eq!(on_a, on_b, "the slave holds exactly the master's messages");
    assert!(first.iter().all(|m| on_a.contains(m)));
    assert!(
        lost.iter().all(|m| !on_a.contains(m)),
        "what only the old master had is cut from the slave"
    );
    // Both logs end at the same offset.
    let (a, b) = (slave.addr, master.addr);
    eventually(Duration::from_secs(10), "the logs end alike", async || {
        log_end(a).await == log_end(b).await
    })
    .await;
    eprintln!(
        "{} + {} messages on both; {} sent only to the old master were cut from it",
        first.len(),
        third.len(),
        lost.len()
    );
    drop((master, slave, namesrv));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `commitLogMaxOffset` of the broker's runtime info.
async fn log_end(addr: SocketAddr) -> String {
    let client = connect(addr).await;
    let r = client
        .invoke(
            RemotingCommand::request(RequestCode::GET_BROKER_RUNTIME_INFO),
            TIMEOUT,
        )
        .await
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    info["table"]["commitLogMaxOffset"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_group_of_two_slaves_both_follow_and_one_is_enough_for_sync_sends() {
    let dir = temp_dir("replication-two");
    let namesrv = namesrv();
    let ports = free_ports(3);
    let master = broker(&dir.join("m"), namesrv.addr, MASTER, ports[0]);
    let one = broker(&dir.join("s1"), namesrv.addr, SLAVE, ports[1]);
    let two = broker(
        &dir.join("s2"),
        namesrv.addr,
        "brokerId=2\nbrokerRole=SLAVE\n",
        ports[2],
    );
    until_slaves(master.addr, 2, "both slaves connect").await;
    // The name server's cluster info lists the three.
    let client = connect(namesrv.addr).await;
    let info = client
        .invoke(
            RemotingCommand::request(RequestCode::GET_BROKER_CLUSTER_INFO),
            TIMEOUT,
        )
        .await
        .unwrap();
    let info: serde_json::Value =
        apogee::protocol::fastjson::from_slice(&info.body).unwrap_or_default();
    let ids: Vec<String> = info["brokerAddrTable"]["broker-ha"]["brokerAddrs"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    assert_eq!(ids, ["0", "1", "2"], "cluster info: {info}");

    let first = send_for(master.addr, "a", 1.0).await;
    // One slave gone: SYNC_MASTER sends still succeed on the other's acknowledgement.
    drop(one);
    let second = send_for(master.addr, "b", 1.0).await;
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    until_holds(two.addr, &all, "the remaining slave has everything").await;
    // The first slave comes back and catches up from its own end.
    let one = broker(&dir.join("s1"), namesrv.addr, SLAVE, ports[1]);
    until_holds(one.addr, &all, "the restarted slave catches up").await;
    eprintln!(
        "{} sends with two slaves, {} with one: all on both",
        first.len(),
        second.len()
    );
    drop((master, one, two, namesrv));
    let _ = std::fs::remove_dir_all(&dir);
}
