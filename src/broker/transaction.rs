//! Transactional messages (request family "transactions"): a send whose properties say
//! `TRAN_MSG=true` is stored as a *half* in `RMQ_SYS_TRANS_HALF_TOPIC` queue 0, with its real
//! topic and queue in `REAL_TOPIC` / `REAL_QID`, invisible to consumers; END_TRANSACTION
//! (37) commits it (the message is stored again on its real queue) or rolls it back, and
//! either way writes an op record in `RMQ_SYS_TRANS_OP_HALF_TOPIC` so that the decision
//! survives a restart. The [`TxnChecker`](crate::actors::txn_checker::TxnChecker) asks
//! producers about halves left undecided. Codes and remarks are the Java broker's
//! (`EndTransactionProcessor`); a second decision for one half is ignored, where the Java
//! broker would store the message twice.

use std::net::SocketAddr;

use bytes::Bytes;

use super::service::BrokerService;
use super::txn::{self, Half, Verdict};
use super::BrokerConfig;
use crate::actors::queue_writer::OwnedMessage;
use crate::actors::topic_config::{TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC};
use crate::actors::txn_checker::{Confirm, Decide, Undo};
use crate::protocol::header::broker::{CheckTransactionStateRequest, EndTransactionRequest};
use crate::protocol::message::{self, offset_msg_id, sys_flag, NewMessage, Record};
use crate::protocol::{properties, LanguageCode, RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::reply::{error, Reply};
use crate::store::QueueKey;

/// The half's queue: all halves go to queue 0.
pub fn half_queue() -> QueueKey {
    QueueKey::new(TRANS_HALF_TOPIC, 0)
}

/// The op queue of half queue 0.
pub fn op_queue() -> QueueKey {
    QueueKey::new(TRANS_OP_HALF_TOPIC, 0)
}

/// Whether a send's properties make it a half (Java: `TRAN_MSG` parses as true).
pub fn is_half(properties: &str) -> bool {
    properties::get(properties, properties::TRANSACTION_PREPARED)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// A message for `topic` / `queue_id` as the half it is stored as
/// (`TransactionalMessageBridge.parseHalfMessageInner`).
pub fn into_half(message: &mut OwnedMessage, topic: &str, queue_id: i32) {
    let mut props = std::mem::take(&mut message.properties);
    if let Some(id) = properties::get(&props, properties::UNIQ_KEY).map(str::to_owned) {
        props = properties::with(&props, properties::TRANSACTION_ID, &id);
    }
    props = properties::with(&props, properties::REAL_TOPIC, topic);
    props = properties::with(&props, properties::REAL_QUEUE_ID, &queue_id.to_string());
    message.properties = props;
    message.sys_flag &= !sys_flag::TRANSACTION_MASK;
}

/// The half at `offset` of the half queue, as the checker tracks it.
pub fn half_of(record: &Record<'_>, offset: u64, timeout_ms: i64) -> Option<Half> {
    if record.topic != TRANS_HALF_TOPIC {
        return None;
    }
    let group = properties::get(record.properties, properties::PRODUCER_GROUP)?.to_owned();
    // TransactionalMessageUtil.getImmunityTime: the property, but never below the timeout.
    let immunity_ms = properties::get(
        record.properties,
        properties::CHECK_IMMUNITY_TIME_IN_SECONDS,
    )
    .and_then(|s| s.trim().parse::<i64>().ok())
    .map_or(timeout_ms, |secs| secs.saturating_mul(1000).max(timeout_ms));
    Some(Half {
        offset,
        physical_offset: u64::try_from(record.physical_offset).ok()?,
        store_timestamp: record.store_timestamp,
        group,
        immunity_ms,
        checks: 0,
    })
}

/// The op record settling the half at `half_offset` (body: its offset; tag `d`).
pub fn op_message(half_offset: u64, store_host: SocketAddr) -> OwnedMessage {
    OwnedMessage {
        flag: 0,
        body: Bytes::from(half_offset.to_string()),
        properties: properties::encode([
            (properties::TAGS, txn::REMOVE_TAG),
            (properties::WAIT_STORE_MSG_OK, "false"),
        ]),
        sys_flag: 0,
        born_timestamp: crate::util::now_ms(),
        born_host: store_host,
        store_host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

/// The half's record as a message again, for `topic` / `queue_id` (the commit, the
/// discard).
pub fn message_of(record: &Record<'_>, sys_flag: i32, prepared_offset: i64) -> OwnedMessage {
    OwnedMessage {
        flag: record.flag,
        body: Bytes::copy_from_slice(record.body),
        properties: record.properties.to_owned(),
        sys_flag,
        born_timestamp: record.born_timestamp,
        born_host: record.born_host,
        store_host: record.store_host,
        reconsume_times: record.reconsume_times,
        prepared_transaction_offset: prepared_offset,
    }
}

/// The real queue a half was sent to.
pub fn real_queue(record: &Record<'_>) -> Option<QueueKey> {
    let topic = properties::get(record.properties, properties::REAL_TOPIC)?;
    let queue_id = properties::get(record.properties, properties::REAL_QUEUE_ID)?
        .trim()
        .parse()
        .ok()?;
    Some(QueueKey::new(topic, queue_id))
}

/// CHECK_TRANSACTION_STATE for the half in `record` (oneway), as
/// `AbstractTransactionalMessageCheckListener.sendCheckMessage` builds it: the header names
/// the half, the body is the message as the producer sent it (its real topic and queue).
pub fn check_request(
    record: &Record<'_>,
    store_host: SocketAddr,
    broker_name: &str,
) -> Option<RemotingCommand> {
    let real = real_queue(record)?;
    let unique = properties::get(record.properties, properties::UNIQ_KEY).map(str::to_owned);
    let message = NewMessage {
        topic: &real.topic,
        queue_id: real.queue_id,
        flag: record.flag,
        body: record.body,
        properties: record.properties,
        sys_flag: record.sys_flag,
        born_timestamp: record.born_timestamp,
        born_host: record.born_host,
        store_host: record.store_host,
        reconsume_times: record.reconsume_times,
        prepared_transaction_offset: record.prepared_transaction_offset,
    };
    let mut body = Vec::new();
    message.encode(record.queue_offset, &mut body).ok()?;
    // The appender's fields: where the half is, and when it was stored.
    body[message::PHYSICAL_OFFSET_POS..message::PHYSICAL_OFFSET_POS + 8]
        .copy_from_slice(&record.physical_offset.to_be_bytes());
    let at = message::store_timestamp_pos(record.sys_flag);
    body[at..at + 8].copy_from_slice(&record.store_timestamp.to_be_bytes());
    let header = CheckTransactionStateRequest {
        topic: Some(real.topic.clone()),
        tran_state_table_offset: record.queue_offset,
        commit_log_offset: record.physical_offset,
        msg_id: unique.clone(),
        transaction_id: unique,
        offset_msg_id: Some(offset_msg_id(store_host, record.physical_offset)),
        broker_name: Some(broker_name.to_owned()),
    };
    let mut request = RemotingCommand::request(RequestCode::CHECK_TRANSACTION_STATE)
        .with_header(&header)
        .with_body(body)
        .with_opaque(crate::remoting::server::next_opaque())
        .oneway();
    // As for NOTIFY_CONSUMER_IDS_CHANGED: 4.x Java clients know no language RUST.
    request.language = LanguageCode::JAVA;
    Some(request)
}

/// What END_TRANSACTION found at the offset it names.
struct Found {
    queue_offset: i64,
    group: Option<String>,
    born_timestamp: i64,
    immunity: Option<String>,
    /// For a commit: the message for its real queue (`None` if the half names none).
    committed: Option<(QueueKey, OwnedMessage)>,
}

impl BrokerService {
    /// END_TRANSACTION.
    pub(super) async fn end_transaction(&self, req: &RemotingCommand) -> Reply {
        let header: EndTransactionRequest = req.header()?;
        let p = self.parts();
        if p.config.load().role == super::config::BrokerRole::Slave {
            tracing::warn!("Message store is slave mode, so end transaction is forbidden.");
            return error(ResponseCode::SLAVE_NOT_AVAILABLE, "");
        }
        let commit = match header.commit_or_rollback {
            sys_flag::TRANSACTION_COMMIT_TYPE => true,
            sys_flag::TRANSACTION_ROLLBACK_TYPE => {
                tracing::warn!(group = %header.producer_group, msg_id = %header.msg_id, from_check = header.from_transaction_check, remark = ?req.remark, "the producer rolls the message back");
                false
            }
            other => {
                // The Java broker answers nothing for an unknown state: the half waits for
                // its check-back.
                tracing::warn!(group = %header.producer_group, msg_id = %header.msg_id, state = other, from_check = header.from_transaction_check, remark = ?req.remark, "end transaction in a pending state");
                return Ok(RemotingCommand::response(ResponseCode::SUCCESS));
            }
        };
        let Ok(physical) = u64::try_from(header.commit_log_offset) else {
            return error(
                ResponseCode::SYSTEM_ERROR,
                "Find prepared transaction message failed",
            );
        };
        // A producer decides right after its half was answered; with the transient pool
        // the half may not be readable yet (the Java broker has that race).
        p.store
            .readable(physical, std::time::Duration::from_secs(1))
            .await;
        // One read of the half: what the checks need and, for a commit, the message.
        let found = p.store.with_record(physical, |r| {
            (r.topic == TRANS_HALF_TOPIC).then(|| Found {
                queue_offset: r.queue_offset,
                group: properties::get(r.properties, properties::PRODUCER_GROUP).map(str::to_owned),
                born_timestamp: r.born_timestamp,
                immunity: properties::get(r.properties, properties::CHECK_IMMUNITY_TIME_IN_SECONDS)
                    .map(str::to_owned),
                committed: commit
                    .then(|| {
                        let flags = (r.sys_flag & !sys_flag::TRANSACTION_MASK)
                            | sys_flag::TRANSACTION_COMMIT_TYPE;
                        real_queue(&r)
                            .map(|key| (key, message_of(&r, flags, header.commit_log_offset)))
                    })
                    .flatten(),
            })
        });
        let Some(Some(found)) = found else {
            return error(
                ResponseCode::SYSTEM_ERROR,
                "Find prepared transaction message failed",
            );
        };
        if let Some(refused) = check_prepared(&p.config.load(), &header, &found) {
            return Ok(refused);
        }
        let offset = found.queue_offset as u64;
        if p.txn_checker.send(Decide(offset)).await? == Verdict::AlreadySettled {
            tracing::warn!(group = %header.producer_group, msg_id = %header.msg_id, offset, commit, "the half is settled already: decision ignored");
            return Ok(RemotingCommand::response(ResponseCode::SUCCESS));
        }
        if commit {
            let Some((key, message)) = found.committed else {
                p.txn_checker.do_send(Undo(offset));
                return error(
                    ResponseCode::SYSTEM_ERROR,
                    "Find prepared transaction message failed",
                );
            };
            if let Err(failure) = p.writers.append(key, vec![message], false).await {
                p.txn_checker.do_send(Undo(offset));
                return Ok(super::refusals::append_failure(failure));
            }
        }
        match p
            .writers
            .append(op_queue(), vec![op_message(offset, p.store_host)], false)
            .await
        {
            Ok(appended) => {
                p.txn_checker.do_send(Confirm {
                    offset,
                    op_offset: appended.first_queue_offset,
                });
                // Under SYNC_FLUSH the answer means durable: the op record is written after
                // the committed message, so its flush covers both.
                if let Err(e) = p.sync_waits.durable(appended.end).await {
                    tracing::warn!(offset, error = %e, "decision written, not flushed in time");
                    return error(ResponseCode::FLUSH_DISK_TIMEOUT, "");
                }
            }
            Err(failure) => {
                // Committed but not recorded: the check-back will ask again, and a second
                // commit is then stored twice (at least once, as the Java broker).
                tracing::error!(offset, error = ?failure, "op record not written");
                p.txn_checker.do_send(Undo(offset));
            }
        }
        Ok(RemotingCommand::response(ResponseCode::SUCCESS))
    }
}

/// The Java broker's checks of a decision against its half (`checkPrepareMessage`,
/// `rejectCommitOrRollback`): the refusal, if any.
fn check_prepared(
    config: &BrokerConfig,
    header: &EndTransactionRequest,
    found: &Found,
) -> Option<RemotingCommand> {
    if !header.from_transaction_check {
        if let Some(secs) = &found.immunity {
            let immunity = secs
                .trim()
                .parse::<i64>()
                .unwrap_or(0)
                .saturating_mul(1000)
                .max(config.transaction_timeout_ms);
            if crate::util::now_ms() - found.born_timestamp > immunity {
                tracing::warn!(msg_id = %header.msg_id, offset = header.commit_log_offset, "decision after the check immunity time: wait for the check");
                return Some(RemotingCommand::response(ResponseCode::ILLEGAL_OPERATION));
            }
        }
    }
    if found.group.as_deref() != Some(header.producer_group.as_str()) {
        return Some(RemotingCommand::error(
            ResponseCode::SYSTEM_ERROR,
            "The producer group wrong",
        ));
    }
    if found.queue_offset != header.tran_state_table_offset {
        return Some(RemotingCommand::error(
            ResponseCode::SYSTEM_ERROR,
            "The transaction state table offset wrong",
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A half as the store holds it: at commit-log offset 4096, queue offset 7.
    fn stored_half(immunity: Option<&str>) -> Vec<u8> {
        let host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
        let mut message = OwnedMessage {
            flag: 3,
            body: Bytes::from_static(b"pay"),
            properties: properties::encode([
                (properties::UNIQ_KEY, "U1"),
                (properties::PRODUCER_GROUP, "pg"),
                (properties::TRANSACTION_PREPARED, "true"),
            ]),
            sys_flag: sys_flag::TRANSACTION_PREPARED_TYPE,
            born_timestamp: 1_000,
            born_host: host,
            store_host: host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
        };
        if let Some(secs) = immunity {
            message.properties = properties::with(
                &message.properties,
                properties::CHECK_IMMUNITY_TIME_IN_SECONDS,
                secs,
            );
        }
        into_half(&mut message, "Orders", 2);
        let new = NewMessage {
            topic: TRANS_HALF_TOPIC,
            queue_id: 0,
            flag: message.flag,
            body: &message.body,
            properties: &message.properties,
            sys_flag: message.sys_flag,
            born_timestamp: message.born_timestamp,
            born_host: message.born_host,
            store_host: message.store_host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
        };
        let mut out = Vec::new();
        new.encode(7, &mut out).unwrap();
        out[message::PHYSICAL_OFFSET_POS..message::PHYSICAL_OFFSET_POS + 8]
            .copy_from_slice(&4096i64.to_be_bytes());
        out
    }

    #[test]
    fn a_half_keeps_its_real_queue_and_its_immunity() {
        let bytes = stored_half(None);
        let record = Record::decode(&bytes, true).unwrap();
        assert_eq!(
            record.sys_flag & sys_flag::TRANSACTION_MASK,
            0,
            "stored as not-a-transaction"
        );
        assert_eq!(real_queue(&record), Some(QueueKey::new("Orders", 2)));
        assert_eq!(
            properties::get(record.properties, properties::TRANSACTION_ID),
            Some("U1")
        );
        let half = half_of(&record, 7, 6_000).unwrap();
        assert_eq!(
            (half.offset, half.physical_offset, half.immunity_ms),
            (7, 4096, 6_000)
        );
        assert_eq!(half.group, "pg");
        // CHECK_IMMUNITY_TIME_IN_SECONDS: honoured, never below transactionTimeOut.
        for (secs, want) in [("60", 60_000), ("2", 6_000), ("x", 6_000)] {
            let bytes = stored_half(Some(secs));
            let record = Record::decode(&bytes, true).unwrap();
            assert_eq!(
                half_of(&record, 7, 6_000).unwrap().immunity_ms,
                want,
                "{secs}"
            );
        }
    }

    #[test]
    fn a_check_carries_the_message_as_the_producer_sent_it() {
        let bytes = stored_half(None);
        let record = Record::decode(&bytes, true).unwrap();
        let host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
        let check = check_request(&record, host, "broker-a").unwrap();
        assert!(check.is_oneway());
        let header: CheckTransactionStateRequest = check.header().unwrap();
        assert_eq!(
            (header.tran_state_table_offset, header.commit_log_offset),
            (7, 4096)
        );
        assert_eq!(header.msg_id.as_deref(), Some("U1"));
        assert_eq!(header.topic.as_deref(), Some("Orders"));
        assert_eq!(header.broker_name.as_deref(), Some("broker-a"));
        let sent = Record::decode(&check.body, true).unwrap();
        assert_eq!(
            (sent.topic, sent.queue_id, sent.body),
            ("Orders", 2, &b"pay"[..])
        );
        assert_eq!(sent.physical_offset, 4096);
        assert_eq!(sent.queue_offset, 7);
    }
}
