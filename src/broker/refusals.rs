//! How the send paths turn failures into the Java broker's answers: append failures and
//! store errors, and which requests a slave refuses.

use super::writers::AppendFailure;
use crate::protocol::{RemotingCommand, RequestCode, ResponseCode};
use crate::store::StoreError;

pub(super) fn append_failure(failure: AppendFailure) -> RemotingCommand {
    match failure {
        AppendFailure::Busy => RemotingCommand::error(
            ResponseCode::SYSTEM_BUSY,
            // RocketMQ's answer when its send queue is full (a rejected execution).
            "[OVERLOAD]system busy, start flow control for a while",
        ),
        AppendFailure::Stopped => {
            RemotingCommand::error(ResponseCode::SYSTEM_BUSY, "queue writer restarting, retry")
        }
        AppendFailure::Store(e) => store_error(e),
    }
}

pub(super) fn store_error(e: StoreError) -> RemotingCommand {
    match e {
        StoreError::MessageTooLarge { .. }
        | StoreError::Record(_)
        | StoreError::RecordTooLarge { .. } => {
            RemotingCommand::error(ResponseCode::MESSAGE_ILLEGAL, e.to_string())
        }
        // The Java broker's words for a put on a slave (PutMessageStatus.SERVICE_NOT_AVAILABLE).
        StoreError::ReadOnly => RemotingCommand::error(
            ResponseCode::SERVICE_NOT_AVAILABLE,
            "service not available now. It may be caused by one of the following reasons: \
             the broker's disk is full, messages are put to the slave, message store has been \
             shut down, etc.",
        ),
        StoreError::DiskFull { .. } | StoreError::Poisoned(_) => RemotingCommand::error(
            ResponseCode::SERVICE_NOT_AVAILABLE,
            format!("service not available now: {e}"),
        ),
        other => RemotingCommand::error(ResponseCode::SYSTEM_ERROR, other.to_string()),
    }
}

/// Requests a slave refuses (it takes messages only from its master).
pub(super) fn writes_messages(code: RequestCode) -> bool {
    matches!(
        code,
        RequestCode::SEND_MESSAGE
            | RequestCode::SEND_MESSAGE_V2
            | RequestCode::SEND_BATCH_MESSAGE
            | RequestCode::CONSUMER_SEND_MSG_BACK
            | RequestCode::SEND_REPLY_MESSAGE
            | RequestCode::SEND_REPLY_MESSAGE_V2
    )
}
