//! `kill -9` of `apogee standalone` under SYNC_FLUSH while a client sends: every message
//! answered SEND_OK is there after the restart. Several cycles on the same data directory.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apogee::protocol::header::broker::{pull_flag, PullRequest, TopicQueue};
use apogee::protocol::message::Record;
use apogee::protocol::{properties, RemotingCommand, RequestCode, ResponseCode};

use super::broker::send_request;
use super::store::temp_dir;
use super::support::{connect, TIMEOUT};

const QUEUES: i32 = 4;

struct Standalone {
    child: Child,
    broker: SocketAddr,
}

fn start(dir: &Path) -> Standalone {
    start_with_conf(dir, "")
}

/// `apogee standalone` under SYNC_FLUSH with these extra broker.conf lines.
fn start_with_conf(dir: &Path, extra: &str) -> Standalone {
    let conf = dir.join("broker.conf");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        &conf,
        format!("flushDiskType=SYNC_FLUSH\nmappedFileSizeCommitLog=8388608\n{extra}"),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_apogee"))
        .args([
            "standalone",
            "--namesrv-listen",
            "127.0.0.1:0",
            "--broker-listen",
            "127.0.0.1:0",
            "-c",
        ])
        .arg(&conf)
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    // "apogee standalone: name server on A, broker on B (data in …)"
    let broker = line
        .split("broker on ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    Standalone { child, broker }
}

/// Every message body of every queue of topic `Durable`.
async fn stored_bodies(broker: SocketAddr) -> HashSet<String> {
    stored_list(broker, "Durable").await.into_iter().collect()
}

/// Every message body of every queue of `topic`, repeats included.
pub(crate) async fn stored_list(broker: SocketAddr, topic: &str) -> Vec<String> {
    let client = connect(broker).await;
    let mut bodies = Vec::new();
    for queue_id in 0..QUEUES {
        let max = client
            .invoke(
                RemotingCommand::request(RequestCode::GET_MAX_OFFSET).with_header(&TopicQueue {
                    topic: topic.into(),
                    queue_id,
                }),
                TIMEOUT,
            )
            .await
            .unwrap();
        let max: i64 = max.ext("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
        let mut offset = 0;
        while offset < max {
            let pulled = client
                .invoke(
                    RemotingCommand::request(RequestCode::PULL_MESSAGE).with_header(&PullRequest {
                        consumer_group: "verifier".into(),
                        topic: topic.into(),
                        queue_id,
                        queue_offset: offset,
                        max_msg_nums: 32,
                        sys_flag: pull_flag::SUBSCRIPTION,
                        commit_offset: 0,
                        suspend_timeout_millis: 0,
                        subscription: Some("*".into()),
                        sub_version: 0,
                        expression_type: None,
                        max_msg_bytes: None,
                    }),
                    TIMEOUT,
                )
                .await
                .unwrap();
            assert_eq!(
                pulled.response_code(),
                ResponseCode::SUCCESS,
                "queue {queue_id} at {offset}"
            );
            let mut buf = &pulled.body[..];
            while !buf.is_empty() {
                let record = Record::decode(buf, true).unwrap();
                bodies.push(String::from_utf8(record.body.to_vec()).unwrap());
                buf = &buf[record.size..];
            }
            offset = pulled.ext("nextBeginOffset").unwrap().parse().unwrap();
        }
    }
    bodies
}

#[tokio::test]
async fn sync_flush_broker_survives_kill_9_without_losing_acknowledged_sends() {
    let dir = temp_dir("broker-kill");
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for cycle in 0..5u32 {
        let mut standalone = start(&dir);
        let broker = standalone.broker;
        let senders: Vec<_> = (0..QUEUES)
            .map(|queue_id| {
                let acked = Arc::clone(&acked);
                tokio::spawn(async move {
                    let client = connect(broker).await;
                    for i in 0u64.. {
                        let body = format!("c{cycle}-q{queue_id}-{i}");
                        match client
                            .invoke(send_request("Durable", queue_id, &body, "t"), TIMEOUT)
                            .await
                        {
                            Ok(r) if r.response_code() == ResponseCode::SUCCESS => {
                                acked.lock().unwrap().push(body)
                            }
                            Ok(r) => panic!("send refused: {:?} {:?}", r.response_code(), r.remark),
                            Err(_) => return, // the broker died
                        }
                    }
                })
            })
            .collect();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(300 + seed % 500)).await;
        standalone.child.kill().unwrap(); // SIGKILL
        standalone.child.wait().unwrap();
        for sender in senders {
            sender.await.unwrap();
        }
        let mut restarted = start(&dir);
        let stored = stored_bodies(restarted.broker).await;
        let acked = acked.lock().unwrap().clone();
        let lost: Vec<&String> = acked.iter().filter(|b| !stored.contains(*b)).collect();
        assert!(
            lost.is_empty(),
            "cycle {cycle}: {} of {} acknowledged sends lost, e.g. {:?}",
            lost.len(),
            acked.len(),
            &lost[..lost.len().min(5)]
        );
        assert!(
            acked.len() > (cycle as usize + 1) * 10,
            "too few sends to mean anything: {}",
            acked.len()
        );
        restarted.child.kill().unwrap();
        restarted.child.wait().unwrap();
    }
    eprintln!(
        "{} acknowledged sends survived 5 kill -9 cycles",
        acked.lock().unwrap().len()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn timers_survive_kill_9_and_are_delivered_once() {
    let dir = temp_dir("timer-kill");
    let mut standalone = start(&dir);
    let client = connect(standalone.broker).await;
    // 2 000 timers due over 3 s, from 2.5 s from now; the broker is killed while it
    // delivers them: just after it delivered the timers of a second (it delivers at
    // second boundaries), likely before it saved its state (every second).
    let due = apogee::util::now_ms() + 2500;
    let mut sent = HashSet::new();
    for i in 0..2000i64 {
        let body = format!("timer-{i}");
        let mut request = send_request("Timed", (i % QUEUES as i64) as i32, &body, "t");
        let ext = request.ext_fields.as_mut().unwrap();
        let props = properties::with(
            ext.get("i").unwrap(),
            properties::TIMER_DELIVER_MS,
            &(due + (i % 30) * 100).to_string(),
        );
        ext.insert("i", &props);
        let r = client.invoke(request, TIMEOUT).await.unwrap();
        assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
        sent.insert(body);
    }
    let kill_at = (due / 1000 + 2) * 1000 + 250;
    let wait = (kill_at - apogee::util::now_ms()).max(0) as u64;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let before = stored_list(standalone.broker, "Timed").await.len();
    standalone.child.kill().unwrap(); // SIGKILL, mid-delivery
    standalone.child.wait().unwrap();
    let mut restarted = start(&dir);
    for _ in 0..100 {
        if stored_list(restarted.broker, "Timed").await.len() >= sent.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Long enough for a repeat to show.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stored = stored_list(restarted.broker, "Timed").await;
    let unique: HashSet<String> = stored.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        sent.len(),
        "timers lost: {}",
        sent.len() - unique.len()
    );
    assert_eq!(
        stored.len(),
        sent.len(),
        "timers delivered twice: {}",
        stored.len() - unique.len()
    );
    eprintln!(
        "{before} of {} timers delivered before the kill -9",
        sent.len()
    );
    restarted.child.kill().unwrap();
    restarted.child.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn transaction_decisions_survive_kill_9() {
    use super::broker_transaction::{
        end, half, max_offset, next_check, offsets, producer, wait_for,
    };
    use apogee::protocol::header::broker::CheckTransactionStateRequest;
    use apogee::protocol::message::sys_flag::{TRANSACTION_COMMIT_TYPE, TRANSACTION_ROLLBACK_TYPE};
    const CONF: &str = "transactionTimeOut=300\ntransactionCheckInterval=300\n";
    let dir = temp_dir("broker-txn-kill");
    let mut standalone = start_with_conf(&dir, CONF);
    let (client, inbound) = producer(standalone.broker, "p1@1").await;
    let r = client
        .invoke(send_request("Txn", 0, "plain", "t"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    let mut halves = Vec::new();
    for i in 0..10 {
        let sent = client
            .invoke(half(&format!("h{i}")), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(sent.response_code(), ResponseCode::SUCCESS);
        halves.push(offsets(&sent));
    }
    // 0-4 committed, 5-7 rolled back (answered: durable under SYNC_FLUSH), 8 and 9 open.
    for (i, h) in halves.iter().enumerate().take(8) {
        let state = if i < 5 {
            TRANSACTION_COMMIT_TYPE
        } else {
            TRANSACTION_ROLLBACK_TYPE
        };
        let r = client
            .invoke(end("txp", *h, state, false), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    }
    standalone.child.kill().unwrap(); // SIGKILL, before the checker's state file is written
    standalone.child.wait().unwrap();
    drop((client, inbound));

    let mut restarted = start_with_conf(&dir, CONF);
    let (client, mut inbound) = producer(restarted.broker, "p2@1").await;
    // Only the open halves are asked about; the decided ones were replayed from the op queue.
    let mut asked = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < deadline {
        let Ok(check) =
            tokio::time::timeout(Duration::from_millis(500), next_check(&mut inbound)).await
        else {
            continue;
        };
        let header: CheckTransactionStateRequest = check.header().unwrap();
        asked.insert((header.tran_state_table_offset, header.commit_log_offset));
    }
    assert_eq!(asked, [halves[8], halves[9]].into_iter().collect());
    for h in [halves[8], halves[9], halves[0]] {
        let r = client
            .invoke(end("txp", h, TRANSACTION_COMMIT_TYPE, true), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    }
    // 1 plain + 5 committed before the crash + 2 from the checks; h0's second commit ignored.
    wait_for(&client, "Txn", 8).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(max_offset(&client, "Txn").await, 8);
    restarted.child.kill().unwrap();
    restarted.child.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
