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
use apogee::protocol::{RemotingCommand, RequestCode, ResponseCode};

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
    let client = connect(broker).await;
    let mut bodies = HashSet::new();
    for queue_id in 0..QUEUES {
        let max = client
            .invoke(
                RemotingCommand::request(RequestCode::GET_MAX_OFFSET).with_header(&TopicQueue {
                    topic: "Durable".into(),
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
                        topic: "Durable".into(),
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
                bodies.insert(String::from_utf8(record.body.to_vec()).unwrap());
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
