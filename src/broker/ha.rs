//! The HA links' I/O (RocketMQ's classic HA wire, `protocol::ha`).
//!
//! Master: [`serve`] accepts slaves on `haListenPort`; per slave one task reads its reports
//! (acknowledgements, to [`HaService`]) and one streams the log from where the first report
//! asks — from the start of the last file for an empty slave, as RocketMQ does — in chunks
//! of at most `haTransferBatchSize` that never cross a file, with an empty heartbeat after
//! `haSendHeartbeatInterval` of silence.
//!
//! Slave: [`follow`] connects to the master [`HaClient`] names, reports the log's end, and
//! appends what arrives (`protocol::ha::Stream` puts records cut by a transfer back
//! together), waking the reput dispatcher, which builds consume queues and index from the
//! copied records as it does for its own. It reports after every transfer that moved the
//! log and every `haSendHeartbeatInterval`; a link silent for `haHousekeepingInterval`,
//! or sent bytes that do not follow the log, is closed and made again.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::config::HaConfig;
use crate::actors::ha_client::{self, HaClient, Link};
use crate::actors::ha_service::{Acked, HaService, Joined, Left, Sent};
use crate::actors::reput::{self, Reput};
use crate::protocol::ha::{self, Piece, Stream, Transfer};
use crate::store::Store;

pub(super) static LINK_IDS: AtomicU64 = AtomicU64::new(1);

/// Accepts slaves until the listener fails (the broker's shutdown stops the arbiter).
pub async fn serve(listener: TcpListener, store: Arc<Store>, ha: Addr<HaService>, cfg: HaConfig) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let (store, ha, cfg) = (Arc::clone(&store), ha.clone(), cfg.clone());
                actix_rt::spawn(async move {
                    let id = LINK_IDS.fetch_add(1, Ordering::Relaxed);
                    ha.do_send(Joined {
                        id,
                        addr: peer,
                        broker_id: None,
                    });
                    if let Err(e) = feed(stream, id, &store, &ha, &cfg).await {
                        tracing::warn!(slave = %peer, error = %e, "slave link closed");
                    }
                    ha.do_send(Left { id });
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept a slave");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The log's bytes from `next` up to `limit` or the end of the file holding `next`,
/// whichever comes first, and where they end.
pub(super) fn chunk(
    log: &crate::store::CommitLog,
    next: u64,
    limit: u64,
) -> std::io::Result<(bytes::Bytes, u64)> {
    let Some(file) = log.file_for(next) else {
        return Err(std::io::Error::other(format!(
            "the slave asks for offset {next}, no longer in the log (it starts at {})",
            log.min_offset()
        )));
    };
    let end = limit.min(file.start() + file.len() as u64);
    let pos = (next - file.start()) as usize;
    let body = file
        .bytes(pos, (end - next) as usize)
        .ok_or_else(|| std::io::Error::other(format!("log bytes at {next} unreadable")))?;
    Ok((body, end))
}

/// A slave reads a transfer's body (`at`: its offset and size) and appends the records it
/// completes (`buffers`: the body's and the pieces' reused buffers).
pub(super) async fn receive<R: tokio::io::AsyncRead + Unpin>(
    rd: &mut R,
    at: (u64, usize),
    housekeeping: Duration,
    buffers: (&mut Vec<u8>, &mut Vec<Piece>),
    stream_state: &mut Stream,
    store: &Store,
    link: &mut Link,
) -> std::io::Result<()> {
    let (body, pieces) = buffers;
    body.resize(at.1, 0);
    tokio::time::timeout(housekeeping, rd.read_exact(body))
        .await
        .map_err(|_| std::io::Error::other("transfer body did not arrive"))??;
    link.last_read_ms = crate::util::now_ms();
    link.received_bytes += body.len() as u64;
    pieces.clear();
    stream_state
        .accept(at.0, body, pieces)
        .map_err(std::io::Error::other)?;
    let log = store.commit_log();
    let mut wants_flush = false;
    for piece in pieces.drain(..) {
        let applied = match piece {
            Piece::Records { at, bytes } => log.append_replicated(at, &bytes).map(|a| {
                wants_flush |= a.wants_flush;
            }),
            Piece::EndOfFile { at } => log.end_file_replicated(at),
        };
        applied.map_err(std::io::Error::other)?;
    }
    if wants_flush {
        store.request_flush();
    }
    Ok(())
}

/// The offset of a slave's first report (`None`: the link ended first).
pub(super) async fn first_report(first: &mut watch::Receiver<Option<u64>>) -> Option<u64> {
    loop {
        if let Some(offset) = *first.borrow_and_update() {
            return Some(offset);
        }
        first.changed().await.ok()?;
    }
}

/// One slave: reports in, the log out.
async fn feed(
    stream: TcpStream,
    id: u64,
    store: &Arc<Store>,
    ha: &Addr<HaService>,
    cfg: &HaConfig,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (mut rd, mut wr) = stream.into_split();
    let (first_tx, mut first_rx) = watch::channel(None::<u64>);
    let housekeeping = Duration::from_millis(cfg.housekeeping_ms);
    let reports = async {
        loop {
            let mut buf = [0u8; ha::REPORT_LEN];
            match tokio::time::timeout(housekeeping, rd.read_exact(&mut buf)).await {
                Err(_) => {
                    return Err(std::io::Error::other(
                        "no report within the housekeeping interval",
                    ))
                }
                Ok(Err(e)) => return Err(e),
                Ok(Ok(_)) => {}
            }
            let offset = ha::decode_report(buf)
                .ok_or_else(|| std::io::Error::other("negative offset reported"))?;
            first_tx.send_if_modified(|first| first.is_none() && first.replace(offset).is_none());
            // A slave whose log runs past ours holds other bytes there: no acknowledgement
            // until it has cut its log back to ours.
            let written = store.commit_log().written();
            if offset <= written {
                ha.do_send(Acked {
                    id,
                    offset,
                    caught_up: offset == written,
                });
            }
        }
    };
    let transfers = async {
        let Some(requested) = first_report(&mut first_rx).await else {
            return Ok(());
        };
        let log = store.commit_log();
        let file_size = log.file_size() as u64;
        let written = log.written();
        let from = if requested == 0 {
            written - written % file_size
        } else if requested > written {
            // The slave's log runs past ours (this master replaced one that had more):
            // tell it where ours ends. An Apogee slave cuts its log there and follows; a
            // Java slave (classic HA never cuts) closes the link on the unexpected offset.
            tracing::warn!(
                requested,
                end = written,
                "a slave reports a log past this master's end: telling it where the log ends"
            );
            let header = Transfer {
                offset: written,
                size: 0,
            };
            wr.write_all(&header.encode()).await?;
            written
        } else {
            requested
        };
        tracing::info!(from, requested, "streaming the log to a slave");
        let mut next = from;
        let mut progress = log.progress();
        let heartbeat = Duration::from_millis(cfg.heartbeat_ms);
        let mut last_write = tokio::time::Instant::now();
        loop {
            progress.borrow_and_update();
            let written = log.written();
            if next < written {
                let (body, end) = chunk(log, next, written.min(next + cfg.transfer_batch as u64))?;
                let header = Transfer {
                    offset: next,
                    size: body.len(),
                }
                .encode();
                wr.write_all(&header).await?;
                wr.write_all(&body).await?;
                next = end;
                last_write = tokio::time::Instant::now();
                ha.do_send(Sent { id, from, to: next });
                continue;
            }
            let idle = heartbeat.saturating_sub(last_write.elapsed());
            match tokio::time::timeout(idle, progress.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Ok(()),
                Err(_) => {
                    let beat = Transfer {
                        offset: next,
                        size: 0,
                    };
                    wr.write_all(&beat.encode()).await?;
                    last_write = tokio::time::Instant::now();
                }
            }
        }
    };
    tokio::select! {
        r = reports => r,
        r = transfers => r,
    }
}

/// The slave's side: follows the master `target` names, forever (reconnecting every
/// second while it cannot).
pub async fn follow(
    mut target: watch::Receiver<Option<SocketAddr>>,
    store: Arc<Store>,
    reput: Addr<Reput>,
    client: Addr<HaClient>,
    cfg: HaConfig,
) {
    loop {
        let master = *target.borrow_and_update();
        let Some(master) = master else {
            if target.changed().await.is_err() {
                return;
            }
            continue;
        };
        let mut link = Link::default();
        let result = tokio::select! {
            r = copy(master, &store, &reput, &client, &cfg, &mut link) => r,
            _ = target.changed() => Ok(()),
        };
        link.connected = false;
        client.do_send(ha_client::LinkState(link));
        if let Err(e) = result {
            tracing::warn!(master = %master, error = %e, "link to master closed; reconnecting");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn copy(
    master: SocketAddr,
    store: &Arc<Store>,
    reput: &Addr<Reput>,
    client: &Addr<HaClient>,
    cfg: &HaConfig,
    link: &mut Link,
) -> std::io::Result<()> {
    let stream = TcpStream::connect(master).await?;
    stream.set_nodelay(true)?;
    let (mut rd, mut wr) = stream.into_split();
    let log = store.commit_log();
    let mut stream_state = Stream::new(log.file_size() as u64, log.appended(), !log.has_files());
    let mut reported = stream_state.log_end();
    wr.write_all(&ha::encode_report(reported)).await?;
    tracing::info!(master = %master, from = reported, "connected to master");
    *link = Link {
        connected: true,
        reported,
        last_write_ms: crate::util::now_ms(),
        ..Link::default()
    };
    client.do_send(ha_client::LinkState(link.clone()));
    let heartbeat = Duration::from_millis(cfg.heartbeat_ms);
    let housekeeping = Duration::from_millis(cfg.housekeeping_ms);
    let mut last_report = tokio::time::Instant::now();
    let mut pieces = Vec::new();
    let mut body = Vec::new();
    let mut first_transfer = true;
    loop {
        let mut header = [0u8; ha::HEADER_LEN];
        // Wake for the heartbeat report while waiting for the master.
        let wait = heartbeat.saturating_sub(last_report.elapsed());
        let read = tokio::time::timeout(wait.min(housekeeping), rd.read_exact(&mut header)).await;
        match read {
            Err(_) => {
                if crate::util::now_ms() - link.last_read_ms.max(link.last_write_ms)
                    > cfg.housekeeping_ms as i64
                    && link.last_read_ms > 0
                {
                    return Err(std::io::Error::other(
                        "master silent past the housekeeping interval",
                    ));
                }
                wr.write_all(&ha::encode_report(stream_state.log_end()))
                    .await?;
                last_report = tokio::time::Instant::now();
                link.last_write_ms = crate::util::now_ms();
                continue;
            }
            Ok(Err(e)) => return Err(e),
            Ok(Ok(_)) => {}
        }
        let transfer = Transfer::decode(header).map_err(std::io::Error::other)?;
        if first_transfer && transfer.offset < stream_state.log_end() && log.has_files() {
            // The master's log ends before ours (it replaced a master that had more):
            // what we hold past its end is not in its log. Cut there and follow.
            let cut = store
                .truncate_to(transfer.offset)
                .map_err(std::io::Error::other)?;
            tracing::warn!(
                master = %master,
                from = cut.from,
                to = transfer.offset,
                bytes = cut.log_bytes,
                queue_units = cut.units,
                "the log ran past the master's end: cut back to it"
            );
            stream_state = Stream::new(log.file_size() as u64, log.appended(), !log.has_files());
            link.truncated_bytes += cut.log_bytes;
            reput.do_send(reput::Wake);
        }
        first_transfer = false;
        receive(
            &mut rd,
            (transfer.offset, transfer.size),
            housekeeping,
            (&mut body, &mut pieces),
            &mut stream_state,
            store,
            link,
        )
        .await?;
        let end = stream_state.log_end();
        if end != reported || last_report.elapsed() >= heartbeat {
            reput.do_send(reput::Wake);
            wr.write_all(&ha::encode_report(end)).await?;
            reported = end;
            last_report = tokio::time::Instant::now();
            link.reported = end;
            link.last_write_ms = crate::util::now_ms();
            client.do_send(ha_client::LinkState(link.clone()));
        }
    }
}
