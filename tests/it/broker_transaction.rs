//! Transactional messages on a live broker: a half is invisible until END_TRANSACTION
//! commits it (once, however often the decision comes), a rollback never shows, an
//! undecided half is checked back on a producer's connection and committed from the check,
//! a half nobody answers is discarded into TRANS_CHECK_MAX_TIME_TOPIC after
//! `transactionCheckMax` checks, bad decisions get the Java broker's answers, and a half
//! left undecided across a restart is still checked.

use std::time::Duration;

use apogee::protocol::body::client::{HeartbeatData, ProducerData};
use apogee::protocol::header::broker::{
    CheckTransactionStateRequest, EndTransactionRequest, TopicQueue,
};
use apogee::protocol::message::{sys_flag, Record};
use apogee::protocol::{properties, RemotingCommand, RequestCode, ResponseCode};
use apogee::remoting::RemotingClient;
use apogee::store::FlushMode;

use super::broker::{send_request, start_with};
use super::store::temp_dir;
use super::support::TIMEOUT;

const GROUP: &str = "txp";

fn tune(c: &mut apogee::broker::BrokerConfig) {
    c.transaction_timeout_ms = 300;
    c.transaction_check_interval_ms = 300;
    c.transaction_check_max = 2;
}

/// A half for `Txn` queue 0, as the Java client sends it.
pub(super) fn half(body: &str) -> RemotingCommand {
    let mut cmd = send_request("Txn", 0, body, "t");
    let props = format!(
        "{}{}",
        cmd.ext("i").unwrap(),
        properties::encode([
            (properties::TRANSACTION_PREPARED, "true"),
            (properties::PRODUCER_GROUP, GROUP),
        ])
    );
    let ext = cmd.ext_fields.as_mut().unwrap();
    ext.insert("i", &props);
    ext.insert("f", &sys_flag::TRANSACTION_PREPARED_TYPE.to_string());
    cmd
}

/// (half queue offset, commit-log offset) of a half's send result.
pub(super) fn offsets(sent: &RemotingCommand) -> (i64, i64) {
    let id = sent.ext("msgId").unwrap();
    let physical = i64::from_str_radix(&id[id.len() - 16..], 16).unwrap();
    (sent.ext("queueOffset").unwrap().parse().unwrap(), physical)
}

pub(super) fn end(
    group: &str,
    (queue_offset, physical): (i64, i64),
    state: i32,
    from_check: bool,
) -> RemotingCommand {
    RemotingCommand::request(RequestCode::END_TRANSACTION).with_header(&EndTransactionRequest {
        producer_group: group.into(),
        tran_state_table_offset: queue_offset,
        commit_log_offset: physical,
        commit_or_rollback: state,
        from_transaction_check: from_check,
        msg_id: "m".into(),
        transaction_id: None,
    })
}

pub(super) async fn max_offset(client: &RemotingClient, topic: &str) -> i64 {
    let r = client
        .invoke(
            RemotingCommand::request(RequestCode::GET_MAX_OFFSET).with_header(&TopicQueue {
                topic: topic.into(),
                queue_id: 0,
            }),
            TIMEOUT,
        )
        .await
        .unwrap();
    r.ext("offset").unwrap().parse().unwrap()
}

/// A request answered.
pub(super) async fn ask(client: &RemotingClient, request: RemotingCommand) -> RemotingCommand {
    client.invoke(request, TIMEOUT).await.unwrap()
}

/// Waits until `topic` queue 0 holds `want` messages (the dispatcher runs after the write).
pub(super) async fn wait_for(client: &RemotingClient, topic: &str, want: i64) {
    for _ in 0..250 {
        if max_offset(client, topic).await >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(max_offset(client, topic).await, want, "{topic}");
}

pub(super) async fn producer(
    broker: std::net::SocketAddr,
    id: &str,
) -> (RemotingClient, tokio::sync::mpsc::Receiver<RemotingCommand>) {
    let (client, inbound) = RemotingClient::connect_with_inbound(broker).await.unwrap();
    let hb = HeartbeatData {
        client_id: id.into(),
        producer_data_set: vec![ProducerData {
            group_name: GROUP.into(),
        }],
        ..HeartbeatData::default()
    };
    let r = client
        .invoke(
            RemotingCommand::request(RequestCode::HEART_BEAT)
                .with_body(serde_json::to_vec(&hb).unwrap()),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    (client, inbound)
}

/// The next check-back on a producer's connection.
pub(super) async fn next_check(
    inbound: &mut tokio::sync::mpsc::Receiver<RemotingCommand>,
) -> RemotingCommand {
    loop {
        let request = tokio::time::timeout(Duration::from_secs(10), inbound.recv())
            .await
            .expect("no check-back within 10 s")
            .unwrap();
        if request.code == RequestCode::CHECK_TRANSACTION_STATE.wire() {
            return request;
        }
    }
}

#[actix_rt::test]
async fn halves_are_decided_once_checked_back_and_discarded() {
    let dir = temp_dir("broker-txn");
    let (_namesrv, broker) = start_with(&dir, FlushMode::Sync, tune).await;
    let (client, mut inbound) = producer(broker.local_addr(), "p1@1").await;
    // The topic exists (a plain message), so max offsets can be read.
    let r = client
        .invoke(send_request("Txn", 0, "plain", "t"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    wait_for(&client, "Txn", 1).await;

    // Commit: invisible until decided, then visible once, however often decided.
    let sent = ask(&client, half("h1")).await;
    assert_eq!(
        sent.response_code(),
        ResponseCode::SUCCESS,
        "{:?}",
        sent.remark
    );
    assert_eq!(sent.ext("queueId"), Some("0"));
    let h1 = offsets(&sent);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        max_offset(&client, "Txn").await,
        1,
        "a half is not on its topic"
    );
    let r = ask(
        &client,
        end(GROUP, h1, sys_flag::TRANSACTION_COMMIT_TYPE, false),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    wait_for(&client, "Txn", 2).await;
    let r = ask(
        &client,
        end(GROUP, h1, sys_flag::TRANSACTION_COMMIT_TYPE, true),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    let r = ask(
        &client,
        end(GROUP, h1, sys_flag::TRANSACTION_ROLLBACK_TYPE, false),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(max_offset(&client, "Txn").await, 2, "decided once");
    // The committed message: its properties kept (TRAN_MSG, REAL_TOPIC…), the commit flag,
    // the half's commit-log offset.
    let committed = broker
        .store
        .consume_queue(&apogee::store::QueueKey::new("Txn", 0))
        .unwrap()
        .unit(1)
        .unwrap();
    let (flags, prepared, props) = broker
        .store
        .with_record(committed.physical_offset, |r| {
            (
                r.sys_flag,
                r.prepared_transaction_offset,
                r.properties.to_owned(),
            )
        })
        .unwrap();
    assert_eq!(
        flags & sys_flag::TRANSACTION_MASK,
        sys_flag::TRANSACTION_COMMIT_TYPE
    );
    assert_eq!(prepared, h1.1);
    assert_eq!(
        properties::get(&props, properties::TRANSACTION_PREPARED),
        Some("true")
    );
    assert_eq!(properties::get(&props, properties::REAL_TOPIC), Some("Txn"));

    // Rollback: never visible.
    let sent = ask(&client, half("h2")).await;
    let h2 = offsets(&sent);
    let r = ask(
        &client,
        end(GROUP, h2, sys_flag::TRANSACTION_ROLLBACK_TYPE, false),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);

    // Bad decisions: the Java broker's answers, nothing changed.
    let r = ask(
        &client,
        end("other", h2, sys_flag::TRANSACTION_COMMIT_TYPE, false),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SYSTEM_ERROR);
    let sent = ask(&client, half("h3")).await;
    let h3 = offsets(&sent);
    let r = ask(
        &client,
        end("other", h3, sys_flag::TRANSACTION_COMMIT_TYPE, false),
    )
    .await;
    assert_eq!(r.remark.as_deref(), Some("The producer group wrong"));
    let r = ask(
        &client,
        end(
            GROUP,
            (h3.0 + 7, h3.1),
            sys_flag::TRANSACTION_COMMIT_TYPE,
            false,
        ),
    )
    .await;
    assert_eq!(
        r.remark.as_deref(),
        Some("The transaction state table offset wrong")
    );
    let r = ask(
        &client,
        end(
            GROUP,
            (h3.0, 1 << 40),
            sys_flag::TRANSACTION_COMMIT_TYPE,
            false,
        ),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SYSTEM_ERROR);
    assert_eq!(
        r.remark.as_deref(),
        Some("Find prepared transaction message failed")
    );

    // A header that does not parse: SYSTEM_ERROR, and the connection serves on.
    let mut malformed = end(GROUP, h3, sys_flag::TRANSACTION_COMMIT_TYPE, false);
    malformed
        .ext_fields
        .as_mut()
        .unwrap()
        .insert("commitLogOffset", "twelve");
    let r = ask(&client, malformed).await;
    assert_eq!(r.response_code(), ResponseCode::SYSTEM_ERROR);
    assert!(r.remark.unwrap_or_default().contains("commitLogOffset"));
    let r = ask(
        &client,
        RemotingCommand::request(RequestCode::END_TRANSACTION),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SYSTEM_ERROR);

    // h3 is undecided: checked back on the producer's connection, committed from the check.
    let check = next_check(&mut inbound).await;
    let header: CheckTransactionStateRequest = check.header().unwrap();
    assert_eq!(
        (header.tran_state_table_offset, header.commit_log_offset),
        h3
    );
    assert_eq!(header.topic.as_deref(), Some("Txn"));
    let record = Record::decode(&check.body, false).unwrap();
    assert_eq!((record.topic, record.queue_id), ("Txn", 0));
    assert_eq!(record.body, b"h3");
    assert_eq!(record.physical_offset, h3.1);
    let r = ask(
        &client,
        end(GROUP, h3, sys_flag::TRANSACTION_COMMIT_TYPE, true),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    wait_for(&client, "Txn", 3).await;

    // h4 is never answered: two checks, then into TRANS_CHECK_MAX_TIME_TOPIC.
    let sent = ask(&client, half("h4")).await;
    let h4 = offsets(&sent);
    for _ in 0..2 {
        let check = next_check(&mut inbound).await;
        let header: CheckTransactionStateRequest = check.header().unwrap();
        assert_eq!(header.tran_state_table_offset, h4.0);
    }
    wait_for(&client, "TRANS_CHECK_MAX_TIME_TOPIC", 1).await;
    let r = ask(
        &client,
        end(GROUP, h4, sys_flag::TRANSACTION_COMMIT_TYPE, true),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        max_offset(&client, "Txn").await,
        3,
        "a discarded half is not committed"
    );

    // h5 is left undecided across a restart: the restarted broker checks it.
    let sent = ask(&client, half("h5")).await;
    let h5 = offsets(&sent);
    drop((client, inbound));
    broker.shutdown().await.unwrap();
    let (_namesrv, broker) = start_with(&dir, FlushMode::Sync, tune).await;
    let (client, mut inbound) = producer(broker.local_addr(), "p2@1").await;
    let check = next_check(&mut inbound).await;
    let header: CheckTransactionStateRequest = check.header().unwrap();
    assert_eq!(
        (header.tran_state_table_offset, header.commit_log_offset),
        h5
    );
    let r = ask(
        &client,
        end(GROUP, h5, sys_flag::TRANSACTION_COMMIT_TYPE, true),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    wait_for(&client, "Txn", 4).await;
    // Settled before the restart: not decided again.
    let r = ask(
        &client,
        end(GROUP, h2, sys_flag::TRANSACTION_COMMIT_TYPE, true),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(max_offset(&client, "Txn").await, 4);

    broker.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// With the transient pool a record is readable only once the committer wrote it: a
/// decision sent right after its half was answered must still find the half (it was lost
/// until the check-back, and the check-back may say otherwise: 2 of 60 Java commits in CI).
#[actix_rt::test]
async fn decisions_right_after_the_half_find_it_with_the_transient_pool() {
    let dir = temp_dir("broker-txn-pool");
    let (_namesrv, broker) = start_with(&dir, FlushMode::Async, |c| {
        tune(c);
        c.transaction_timeout_ms = 60_000; // no check-back during the test
        c.store.log_writes = Some(apogee::store::mmap::Writes::Syscall);
    })
    .await;
    let (client, _inbound) = producer(broker.local_addr(), "p1@1").await;
    let r = ask(&client, send_request("Txn", 0, "plain", "t")).await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    for i in 0..200 {
        let sent = ask(&client, half(&format!("fast{i}"))).await;
        assert_eq!(sent.response_code(), ResponseCode::SUCCESS);
        let r = ask(
            &client,
            end(
                GROUP,
                offsets(&sent),
                sys_flag::TRANSACTION_COMMIT_TYPE,
                false,
            ),
        )
        .await;
        assert_eq!(
            r.response_code(),
            ResponseCode::SUCCESS,
            "commit {i}: {:?}",
            r.remark
        );
    }
    wait_for(&client, "Txn", 201).await;
    broker.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
