//! A remoting client connection: sends requests, matches responses by opaque.
//!
//! A writer task takes requests from a channel, writes whatever is queued and flushes once;
//! a reader task completes the waiting caller when the response with the same opaque
//! arrives (the table of pending requests is shared by the two under a short lock). Requests the server sends us (e.g. NOTIFY_CONSUMER_IDS_CHANGED) are
//! delivered on the optional inbound channel.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crate::util::lock;
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
    /// The answer to a request the server sent us: written with its own opaque.
    Response(RemotingCommand),
}

/// A cheap-to-clone handle to one connection.
#[derive(Clone, Debug)]
pub struct RemotingClient {
    outgoing: mpsc::Sender<Outgoing>,
    pub peer: SocketAddr,
    /// Our end of the connection.
    pub local: SocketAddr,
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
        let local = stream
            .local_addr()
            .map_err(|source| ClientError::Connect { addr, source })?;
        let (outgoing, requests) = mpsc::channel(1024);
        let (inbound_tx, inbound) = mpsc::channel(256);
        tokio::spawn(run(
            Framed::with_capacity(stream, RemotingCodec::default(), 64 * 1024),
            requests,
            inbound_tx,
        ));
        Ok((
            Self {
                outgoing,
                peer: addr,
                local,
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

    /// Answers a request the server sent us (its opaque is kept).
    pub async fn respond(&self, response: RemotingCommand) -> Result<(), ClientError> {
        self.outgoing
            .send(Outgoing::Response(response))
            .await
            .map_err(|_| ClientError::Closed)
    }

    /// Whether the connection task is still running.
    pub fn is_open(&self) -> bool {
        !self.outgoing.is_closed()
    }
}

async fn run(
    framed: Framed<TcpStream, RemotingCodec>,
    mut requests: mpsc::Receiver<Outgoing>,
    inbound: mpsc::Sender<RemotingCommand>,
) {
    type Pending = HashMap<i32, oneshot::Sender<RemotingCommand>>;
    let pending: Arc<Mutex<Pending>> = Arc::default();
    let (mut sink, mut stream) = framed.split();
    // The reader completes waiting callers; it ends when the socket does.
    let reader_pending = Arc::clone(&pending);
    let mut reader = tokio::spawn(async move {
        while let Some(frame) = stream.next().await {
            let cmd = match frame {
                Ok(cmd) => cmd,
                Err(e) => {
                    tracing::warn!(error = %e, "closing client connection: bad frame");
                    return;
                }
            };
            if cmd.is_response() {
                let waiting = lock(&reader_pending).remove(&cmd.opaque);
                if let Some(waiting) = waiting {
                    let _ = waiting.send(cmd);
                }
            } else {
                let _ = inbound.try_send(cmd);
            }
        }
    });
    // The writer: takes what is queued, writes it all, flushes once.
    let mut next_opaque: i32 = 1;
    loop {
        let first = tokio::select! {
            outgoing = requests.recv() => outgoing,
            _ = &mut reader => None,
        };
        let Some(mut outgoing) = first else { break };
        let mut batch = 0;
        loop {
            let cmd = match outgoing {
                Outgoing::Response(cmd) => cmd,
                Outgoing::Request(mut cmd, reply) => {
                    cmd.opaque = next_opaque;
                    let mut table = lock(&pending);
                    if table.len() >= 1024 && table.len().is_power_of_two() {
                        table.retain(|_, waiting| !waiting.is_closed());
                    }
                    table.insert(next_opaque, reply);
                    next_opaque = next_opaque.wrapping_add(1);
                    cmd
                }
                Outgoing::Oneway(mut cmd) => {
                    cmd.opaque = next_opaque;
                    next_opaque = next_opaque.wrapping_add(1);
                    cmd
                }
            };
            if sink.feed(cmd).await.is_err() {
                reader.abort();
                return;
            }
            batch += 1;
            match requests.try_recv() {
                Ok(more) if batch < 128 => outgoing = more,
                Ok(more) => {
                    if sink.flush().await.is_err() {
                        reader.abort();
                        return;
                    }
                    batch = 0;
                    outgoing = more;
                }
                Err(_) => break,
            }
        }
        if sink.flush().await.is_err() {
            break;
        }
    }
    reader.abort();
    // Callers still waiting learn that the connection is gone.
    lock(&pending).clear();
}
