//! The TCP side of a server: accepts connections, decodes frames, hands each request to a
//! [`Service`] and writes the responses back.
//!
//! Per connection there is one reader (this module's loop) and one writer task. Requests are
//! handled concurrently (a held long-poll must not block the next request on the same
//! connection); responses go through a bounded channel to the writer, which writes every
//! response it has in one flush. A frame that cannot be decoded closes only its own
//! connection. The server can also send requests to the peer ([`Connection::request`]):
//! their responses come back through the reader, matched by opaque. Runs on the current
//! thread (`spawn_local`), like the actors it talks to.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::codec::{FramedRead, FramedWrite};
use tracing::{debug, info, warn};

use crate::protocol::{RemotingCodec, RemotingCommand};
use crate::util::lock;

/// Responses a connection may have queued before handlers wait for the writer.
const OUTBOUND_CAPACITY: usize = 4096;

/// Identifies one accepted connection for the life of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Requests this server sent on a connection, by opaque, waiting for the peer's response.
type Pending = Arc<Mutex<HashMap<i32, oneshot::Sender<RemotingCommand>>>>;

/// What a service knows of the connection a request came on.
#[derive(Debug, Clone)]
pub struct Connection {
    pub id: ConnId,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    outbound: mpsc::Sender<RemotingCommand>,
    pending: Pending,
}

/// Why a request the server sent to a client got no response.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PeerRequestError {
    #[error("the connection closed or its queue is full")]
    Closed,
    #[error("no response within {0:?}")]
    Timeout(std::time::Duration),
}

impl Connection {
    /// Queues a command (e.g. a server-initiated oneway request) for this connection.
    /// Returns false when the connection is gone or its queue is full.
    pub fn try_send(&self, cmd: RemotingCommand) -> bool {
        self.outbound.try_send(cmd).is_ok()
    }

    /// Sends a request to the peer (a client: GET_CONSUMER_RUNNING_INFO and the like) with a
    /// fresh opaque and waits up to `timeout` for its response.
    pub async fn request(
        &self,
        request: RemotingCommand,
        timeout: std::time::Duration,
    ) -> Result<RemotingCommand, PeerRequestError> {
        let opaque = next_opaque();
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(opaque, tx);
        if !self.try_send(request.with_opaque(opaque)) {
            lock(&self.pending).remove(&opaque);
            return Err(PeerRequestError::Closed);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(_)) => Err(PeerRequestError::Closed),
            Err(_) => {
                lock(&self.pending).remove(&opaque);
                Err(PeerRequestError::Timeout(timeout))
            }
        }
    }
}

/// An opaque for a request the server sends, far from the small numbers clients count up
/// from (clients match responses to their own requests; ours only come back to us).
pub fn next_opaque() -> i32 {
    static OPAQUE: AtomicI32 = AtomicI32::new(1 << 30);
    OPAQUE.fetch_add(1, Ordering::Relaxed)
}

/// A boxed, thread-local future, as services return them.
pub type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// The request handling of a server.
pub trait Service: 'static {
    /// Handles one request. `None` means no response (the request was oneway, or the
    /// service answers later by other means). The server sets opaque, flags, version and
    /// serialize type of the response.
    fn call(
        &self,
        conn: &Connection,
        request: RemotingCommand,
    ) -> LocalFuture<Option<RemotingCommand>>;

    /// Called once when a connection closes, for whatever reason.
    fn disconnected(&self, _conn: &Connection) {}
}

/// Limits of a server.
#[derive(Debug, Clone, Copy)]
pub struct ServerConfig {
    pub max_frame: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_frame: crate::protocol::frame::DEFAULT_MAX_FRAME,
        }
    }
}

/// A running listener; dropping it does not stop it, [`ServerHandle::stop`] does.
pub struct ServerHandle {
    pub local_addr: SocketAddr,
    /// Connections open now.
    pub open: Arc<AtomicUsize>,
    accept: JoinHandle<()>,
}

impl ServerHandle {
    /// Stops accepting connections (open ones finish on their own).
    pub fn stop(&self) {
        self.accept.abort();
    }
}

/// Binds `addr` and serves `service` on the current thread's local task set.
pub async fn start<S: Service>(
    addr: SocketAddr,
    service: Rc<S>,
    config: ServerConfig,
) -> std::io::Result<ServerHandle> {
    serve(TcpListener::bind(addr).await?, service, config)
}

/// Serves `service` on an already bound listener.
pub fn serve<S: Service>(
    listener: TcpListener,
    service: Rc<S>,
    config: ServerConfig,
) -> std::io::Result<ServerHandle> {
    let local_addr = listener.local_addr()?;
    let open = Arc::new(AtomicUsize::new(0));
    let accept = tokio::task::spawn_local(accept_loop(listener, service, config, open.clone()));
    Ok(ServerHandle {
        local_addr,
        open,
        accept,
    })
}

async fn accept_loop<S: Service>(
    listener: TcpListener,
    service: Rc<S>,
    config: ServerConfig,
    open: Arc<AtomicUsize>,
) {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let id = ConnId(NEXT_ID.fetch_add(1, Ordering::Relaxed));
                open.fetch_add(1, Ordering::Relaxed);
                let open = open.clone();
                let served = serve_connection(stream, peer, id, service.clone(), config);
                tokio::task::spawn_local(async move {
                    served.await;
                    open.fetch_sub(1, Ordering::Relaxed);
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_connection<S: Service>(
    stream: TcpStream,
    peer: SocketAddr,
    id: ConnId,
    service: Rc<S>,
    config: ServerConfig,
) {
    let _ = stream.set_nodelay(true);
    let local = match stream.local_addr() {
        Ok(addr) => addr,
        Err(_) => return,
    };
    let (read_half, write_half) = stream.into_split();
    let (outbound, queued) = mpsc::channel(OUTBOUND_CAPACITY);
    let conn = Connection {
        id,
        peer,
        local,
        outbound,
        pending: Pending::default(),
    };
    debug!(%peer, conn = id.0, "connection opened");
    let writer = tokio::task::spawn_local(write_loop(
        FramedWrite::new(write_half, RemotingCodec::new(config.max_frame)),
        queued,
    ));
    let mut frames =
        FramedRead::with_capacity(read_half, RemotingCodec::new(config.max_frame), 64 * 1024);
    while let Some(next) = frames.next().await {
        let request = match next {
            Ok(cmd) => cmd,
            // The peer reset the connection, or closed it in the middle of a frame: an end,
            // not bad input.
            Err(crate::protocol::WireError::Io(e)) => {
                debug!(%peer, conn = id.0, error = %e, "connection ended by the peer");
                break;
            }
            Err(e) => {
                warn!(%peer, error = %e, "closing connection: bad frame");
                break;
            }
        };
        if request.is_response() {
            match lock(&conn.pending).remove(&request.opaque) {
                Some(waiting) => {
                    let _ = waiting.send(request);
                }
                None => {
                    debug!(%peer, opaque = request.opaque, "ignoring a response to no request of ours")
                }
            }
            continue;
        }
        let service = service.clone();
        let conn = conn.clone();
        tokio::task::spawn_local(async move {
            let oneway = request.is_oneway();
            let (opaque, serialize_type, code) =
                (request.opaque, request.serialize_type, request.code);
            let response = service.call(&conn, request).await;
            if let Some(r) = response.as_ref().filter(|r| is_failure(r.code)) {
                debug!(peer = %conn.peer, request = code, response = r.code, remark = ?r.remark, "request refused");
            }
            if let (Some(response), false) = (response, oneway) {
                let mut response = response.answering_ids(opaque, serialize_type);
                response.flag &= !crate::protocol::FLAG_ONEWAY;
                let _ = conn.outbound.send(response).await;
            }
        });
    }
    // Requests the peer can no longer answer fail now, not at their timeout.
    lock(&conn.pending).clear();
    service.disconnected(&conn);
    drop(conn);
    writer.abort();
    debug!(%peer, conn = id.0, "connection closed");
}

async fn write_loop(
    mut sink: FramedWrite<tokio::net::tcp::OwnedWriteHalf, RemotingCodec>,
    mut queued: mpsc::Receiver<RemotingCommand>,
) {
    while let Some(first) = queued.recv().await {
        if sink.feed(first).await.is_err() {
            return;
        }
        while let Ok(more) = queued.try_recv() {
            if sink.feed(more).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}

/// Response codes that mean the request failed (not the normal "nothing yet" answers).
fn is_failure(code: i32) -> bool {
    use crate::protocol::ResponseCode as C;
    !matches!(
        C::from_wire(code),
        C::SUCCESS
            | C::PULL_NOT_FOUND
            | C::PULL_RETRY_IMMEDIATELY
            | C::PULL_OFFSET_MOVED
            | C::QUERY_NOT_FOUND
    )
}

/// Logs where a server listens.
pub fn announce(role: &str, addr: SocketAddr) {
    info!(%addr, "{role} listening");
}
