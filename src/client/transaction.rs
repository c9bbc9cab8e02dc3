//! The transactional producer (RocketMQ's `TransactionMQProducer`): a message is sent as a
//! half, the local transaction runs, and its outcome commits or rolls the message back
//! (END_TRANSACTION, oneway). A broker that got no outcome asks again later
//! (CHECK_TRANSACTION_STATE on any connection of this client instance): the listener's
//! `check_local` answers, and the answer goes back as END_TRANSACTION from the check.

use std::sync::Arc;

use super::error::ClientError;
use super::instance::{Instance, TransactionChecker};
use super::message::{Message, MessageExt};
use super::producer::{Producer, ProducerConfig, SendResult, SendStatus};
use super::ClientConfig;
use crate::protocol::header::broker::{CheckTransactionStateRequest, EndTransactionRequest};
use crate::protocol::message::sys_flag;
use crate::protocol::{properties, RemotingCommand, RequestCode};
use crate::remoting::RemotingClient;

/// The outcome of a local transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalTransactionState {
    Commit,
    Rollback,
    /// Not known yet: the broker will ask (`check_local`).
    Unknown,
}

impl LocalTransactionState {
    fn wire(self) -> i32 {
        match self {
            Self::Commit => sys_flag::TRANSACTION_COMMIT_TYPE,
            Self::Rollback => sys_flag::TRANSACTION_ROLLBACK_TYPE,
            Self::Unknown => sys_flag::TRANSACTION_NOT_TYPE,
        }
    }
}

/// The application's side of a transaction.
pub trait TransactionListener: Send + Sync + 'static {
    /// Runs the local transaction of a half that was stored.
    fn execute_local(&self, message: &Message, sent: &SendResult) -> LocalTransactionState;
    /// Tells a broker that asks how the local transaction of `message` ended.
    fn check_local(&self, message: &MessageExt) -> LocalTransactionState;
}

/// What a transactional send did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionSendResult {
    pub send: SendResult,
    /// What the local transaction answered, and the broker was told.
    pub state: LocalTransactionState,
}

/// A cloneable handle; clones share the producer and the listener.
#[derive(Clone)]
pub struct TransactionProducer {
    producer: Producer,
    listener: Arc<dyn TransactionListener>,
}

impl std::fmt::Debug for TransactionProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionProducer")
            .field("producer", &self.producer)
            .finish_non_exhaustive()
    }
}

impl TransactionProducer {
    /// Starts a producer of `config.group` whose check-backs `listener` answers.
    pub async fn start(
        client: ClientConfig,
        config: ProducerConfig,
        listener: impl TransactionListener,
    ) -> Result<Self, ClientError> {
        let group = config.group.clone();
        let producer = Producer::start(client, config).await?;
        let listener: Arc<dyn TransactionListener> = Arc::new(listener);
        let checker = Arc::clone(&listener);
        let answer_group = group.clone();
        producer.instance().set_transaction_checker(
            &group,
            TransactionChecker(Arc::new(move |broker, check, message| {
                // The application's check may block: off the connection's task.
                let (checker, group) = (Arc::clone(&checker), answer_group.clone());
                tokio::spawn(async move {
                    let asked = message.clone();
                    let answer =
                        tokio::task::spawn_blocking(move || checker.check_local(&asked)).await;
                    match answer {
                        Ok(state) => end_from_check(broker, group, check, message, state).await,
                        Err(e) => tracing::warn!(error = %e, "transaction check failed"),
                    }
                });
            })),
        );
        Ok(Self { producer, listener })
    }

    /// Sends `message` as a half, runs the local transaction, and tells the broker its
    /// outcome. A half the broker refused is not executed; its state is `Rollback`.
    pub async fn send_in_transaction(
        &self,
        mut message: Message,
    ) -> Result<TransactionSendResult, ClientError> {
        // A delay does not apply to a transactional message (as RocketMQ's client).
        message.remove_property(properties::DELAY);
        message.set_property(properties::TRANSACTION_PREPARED, "true");
        message.set_property(properties::PRODUCER_GROUP, self.producer.group());
        let send = self.producer.send_half(message.clone()).await?;
        let state = if send.status == SendStatus::SendOk {
            self.listener.execute_local(&message, &send)
        } else {
            LocalTransactionState::Rollback
        };
        self.end(&send, state).await?;
        Ok(TransactionSendResult { send, state })
    }

    async fn end(
        &self,
        send: &SendResult,
        state: LocalTransactionState,
    ) -> Result<(), ClientError> {
        let instance: &Arc<Instance> = self.producer.instance();
        let addr = instance
            .master_addr(&send.queue.broker_name)
            .ok_or_else(|| ClientError::NoRoute(send.queue.topic.clone()))?;
        let commit_log_offset = commit_log_offset(&send.offset_msg_id).ok_or_else(|| {
            ClientError::InvalidMessage(format!("bad offset message id {}", send.offset_msg_id))
        })?;
        let header = EndTransactionRequest {
            producer_group: self.producer.group().to_owned(),
            tran_state_table_offset: send.queue_offset,
            commit_log_offset,
            commit_or_rollback: state.wire(),
            from_transaction_check: false,
            msg_id: send.msg_id.clone(),
            transaction_id: Some(send.msg_id.clone()),
        };
        let request = RemotingCommand::request(RequestCode::END_TRANSACTION).with_header(&header);
        Ok(instance.broker(&addr).await?.invoke_oneway(request).await?)
    }

    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    pub async fn shutdown(&self) {
        self.producer.shutdown().await;
    }
}

/// The commit-log offset in an offset message id (its last 16 hex digits).
fn commit_log_offset(offset_msg_id: &str) -> Option<i64> {
    let hex = offset_msg_id.get(offset_msg_id.len().checked_sub(16)?..)?;
    i64::from_str_radix(hex, 16).ok()
}

/// Answers a check-back on the connection it came on.
async fn end_from_check(
    broker: RemotingClient,
    group: String,
    check: CheckTransactionStateRequest,
    message: MessageExt,
    state: LocalTransactionState,
) {
    let header = EndTransactionRequest {
        producer_group: group,
        tran_state_table_offset: check.tran_state_table_offset,
        commit_log_offset: check.commit_log_offset,
        commit_or_rollback: state.wire(),
        from_transaction_check: true,
        msg_id: check.msg_id.unwrap_or_else(|| message.msg_id.clone()),
        transaction_id: check.transaction_id,
    };
    let request = RemotingCommand::request(RequestCode::END_TRANSACTION).with_header(&header);
    if let Err(e) = broker.invoke_oneway(request).await {
        tracing::warn!(error = %e, "transaction check answer not sent");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commit_log_offset_is_the_tail_of_the_offset_id() {
        assert_eq!(
            commit_log_offset("7F00000100002A9F0000000000001A2B"),
            Some(0x1A2B)
        );
        assert_eq!(commit_log_offset("12"), None);
        assert_eq!(LocalTransactionState::Commit.wire(), 8);
        assert_eq!(LocalTransactionState::Rollback.wire(), 12);
        assert_eq!(LocalTransactionState::Unknown.wire(), 0);
    }
}
