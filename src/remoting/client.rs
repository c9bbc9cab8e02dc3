//! A remoting client connection: sends requests, matches responses by opaque.
//!
//! One task owns the socket and the table of pending requests (no locks): it takes requests
//! from a channel, writes them, and completes the waiting caller when the response with the
//! same opaque arrives. Requests the server sends us (e.g. NOTIFY_CONSUMER_IDS_CHANGED) are
//! delivered on the optional inbound channel.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use thiserror::Error;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::Framed;

use crate::protocol::{RemotingCodec, RemotingCommand, WireError};

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("connection closed")]
    Closed,
    #[error("no response within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Wire(#[from] WireError),
}

enum Outgoing {
    Request(RemotingCommand, oneshot::Sender<RemotingCommand>),
    Oneway(RemotingCommand),
}

/// A cheap-to-clone handle to one connection.
#[derive(Clone, Debug)]
pub struct RemotingClient {
    outgoing: mpsc::Sender<Outgoing>,
    pub peer: SocketAddr,
}

impl RemotingClient {
    /// Connects; server-initiated requests are dropped.
    pub async fn connect(addr: SocketAddr) -> Result<Self, ClientError> {
        Ok(Self::connect_with_inbound(addr).await?.0)
    }

    /// Connects and returns also the channel of requests the server sends to us.
    pub async fn connect_with_inbound(
        addr: SocketAddr,
    ) -> Result<(Self, mpsc::Receiver<RemotingCommand>), ClientError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| ClientError::Connect { addr, source })?;
        let _ = stream.set_nodelay(true);
        let (outgoing, requests) = mpsc::channel(1024);
        let (inbound_tx, inbound) = mpsc::channel(256);
        tokio::spawn(run(
            Framed::new(stream, RemotingCodec::default()),
            requests,
            inbound_tx,
        ));
        Ok((
            Self {
                outgoing,
                peer: addr,
            },
            inbound,
        ))
    }

    /// Sends a request and waits for its response.
    pub async fn invoke(
        &self,
        request: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.outgoing
            .send(Outgoing::Request(request, tx))
            .await
            .map_err(|_| ClientError::Closed)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(_)) => Err(ClientError::Closed),
            Err(_) => Err(ClientError::Timeout(timeout)),
        }
    }

    /// Sends a oneway request (no response expected).
    pub async fn invoke_oneway(&self, request: RemotingCommand) -> Result<(), ClientError> {
        self.outgoing
            .send(Outgoing::Oneway(request.oneway()))
            .await
            .map_err(|_| ClientError::Closed)
    }

    /// Whether the connection task is still running.
    pub fn is_open(&self) -> bool {
        !self.outgoing.is_closed()
    }
}

async fn run(
    mut framed: Framed<TcpStream, RemotingCodec>,
    mut requests: mpsc::Receiver<Outgoing>,
    inbound: mpsc::Sender<RemotingCommand>,
) {
    let mut pending: HashMap<i32, oneshot::Sender<RemotingCommand>> = HashMap::new();
    let mut next_opaque: i32 = 1;
    loop {
        tokio::select! {
            outgoing = requests.recv() => {
                let Some(outgoing) = outgoing else { return };
                let mut cmd = match outgoing {
                    Outgoing::Request(cmd, reply) => {
                        if pending.len() >= 1024 {
                            pending.retain(|_, waiting| !waiting.is_closed());
                        }
                        pending.insert(next_opaque, reply);
                        cmd
                    }
                    Outgoing::Oneway(cmd) => cmd,
                };
                cmd.opaque = next_opaque;
                next_opaque = next_opaque.wrapping_add(1);
                if framed.send(cmd).await.is_err() {
                    return;
                }
            }
            frame = framed.next() => {
                let cmd = match frame {
                    Some(Ok(cmd)) => cmd,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "closing client connection: bad frame");
                        return;
                    }
                    None => return,
                };
                if cmd.is_response() {
                    if let Some(waiting) = pending.remove(&cmd.opaque) {
                        let _ = waiting.send(cmd);
                    }
                } else {
                    let _ = inbound.try_send(cmd);
                }
            }
        }
    }
}
