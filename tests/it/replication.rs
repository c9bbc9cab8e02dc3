//! Master/slave replication with processes: a name server, a SYNC_MASTER and a slave
//! (`apogee broker`), each with its own data directory. Sends answered SEND_OK survive the
//! master's `kill -9` on the slave; the slave serves them, refuses sends, catches up after
//! its own `kill -9` and after being stopped (SIGSTOP), and follows a restarted master.

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

struct Proc {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `apogee args…` and reads the address after `marker` in its first stdout line.
fn spawn(args: &[&str], marker: &str) -> Proc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_apogee"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
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
const SLAVE: &str = "brokerId=1\nbrokerRole=SLAVE\n";

/// Polls `f` until it is true, up to `limit`.
async fn eventually(limit: Duration, what: &str, mut f: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !f().await {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
fn senders(
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

async fn missing_on(slave: SocketAddr, acked: &[String]) -> usize {
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
    let namesrv = spawn(
        &["namesrv", "--listen", "127.0.0.1:0", "--no-kv-file"],
        "listening on ",
    );
    let ports = free_ports(2);
    let mut master = broker(&dir.join("master"), namesrv.addr, MASTER, ports[0]);
    let mut slave = broker(&dir.join("slave"), namesrv.addr, SLAVE, ports[1]);
    eventually(Duration::from_secs(15), "the slave connects", async || {
        slaves_of(master.addr).await == 1
    })
    .await;

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
    let slave_addr = slave.addr;
    eventually(
        Duration::from_secs(20),
        "the slave serves the topic",
        async || missing_on(slave_addr, &first).await == 0,
    )
    .await;
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
    eventually(
        Duration::from_secs(15),
        "the slave reconnects",
        async || slaves_of(master.addr).await == 1,
    )
    .await;
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
    let slave_addr = slave.addr;
    eventually(
        Duration::from_secs(20),
        "the slave catches up",
        async || missing_on(slave_addr, &all).await == 0,
    )
    .await;
    eprintln!(
        "{} acknowledged sends in all on the slave; {} answered SLAVE_NOT_AVAILABLE or FLUSH_SLAVE_TIMEOUT while it was down or stopped",
        all.len(),
        codes.len()
    );
    drop((master, slave, namesrv));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Free loopback ports (the brokers' HA ports are the next ones up; the VIP channel two down).
fn free_ports(n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    let mut port = 20_000 + (std::process::id() % 20_000) as u16;
    while out.len() < n {
        port += 7;
        let free =
            (port - 2..=port + 1).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
        if free {
            out.push(port);
        }
    }
    out
}
