//! The client's errors.

use thiserror::Error;

use crate::protocol::{HeaderError, ResponseCode};
use crate::remoting::client::ClientError as ConnectionError;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("no name server address given")]
    NoNameServer,
    #[error("no route for topic {0} (not on any broker)")]
    NoRoute(String),
    #[error("broker {0} has no known master address")]
    NoBroker(String),
    #[error("bad address {0:?}")]
    BadAddress(String),
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// The server answered with an error code.
    #[error("{addr} answered {code}: {remark}")]
    Response {
        addr: String,
        code: ResponseCode,
        remark: String,
    },
    #[error("bad response from {addr}: {source}")]
    BadResponse { addr: String, source: HeaderError },
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    #[error("send failed after {attempts} attempt(s): {last}")]
    SendFailed {
        attempts: u32,
        last: Box<ClientError>,
    },
    #[error("{0} is not started or already shut down")]
    NotRunning(&'static str),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl ClientError {
    /// The server's response code, if this is a server answer.
    pub fn code(&self) -> Option<ResponseCode> {
        match self {
            Self::Response { code, .. } => Some(*code),
            Self::SendFailed { last, .. } => last.code(),
            _ => None,
        }
    }
}
