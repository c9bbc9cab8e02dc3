//! How a request service's failures become responses, shared by the name server and the
//! broker: a bad header or body is SYSTEM_ERROR with the reason as remark (the connection
//! stays open), a full actor mailbox is SYSTEM_BUSY, a restarting actor SYSTEM_ERROR.

use actix::MailboxError;
use bytes::Bytes;
use serde::Serialize;

use crate::protocol::{HeaderError, RemotingCommand, ResponseCode};

/// Why a request failed, before it becomes a response code.
pub enum Failure {
    Header(HeaderError),
    Mailbox(MailboxError),
}

impl From<HeaderError> for Failure {
    fn from(e: HeaderError) -> Self {
        Failure::Header(e)
    }
}

impl From<MailboxError> for Failure {
    fn from(e: MailboxError) -> Self {
        Failure::Mailbox(e)
    }
}

/// What a request handler returns.
pub type Reply = Result<RemotingCommand, Failure>;

/// The response for a handler's result.
pub fn respond(result: Reply) -> RemotingCommand {
    match result {
        Ok(response) => response,
        Err(Failure::Header(e)) => {
            RemotingCommand::error(ResponseCode::SYSTEM_ERROR, e.to_string())
        }
        Err(Failure::Mailbox(MailboxError::Timeout)) => RemotingCommand::error(
            ResponseCode::SYSTEM_BUSY,
            "[OVERLOAD]system busy, start flow control for a while",
        ),
        Err(Failure::Mailbox(MailboxError::Closed)) => RemotingCommand::error(
            ResponseCode::SYSTEM_ERROR,
            "a server component is restarting, retry",
        ),
    }
}

/// An error response as a handler result.
pub fn error(code: ResponseCode, remark: impl Into<String>) -> Reply {
    Ok(RemotingCommand::error(code, remark))
}

/// A JSON response body (standard JSON, which every client reads).
pub fn json<T: Serialize>(value: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}
