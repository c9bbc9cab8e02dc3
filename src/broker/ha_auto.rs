//! The HA links of controller mode (RocketMQ 5's AutoSwitch HA wire, `protocol::ha_auto`).
//!
//! Master: [`serve`] takes a slave's handshake (its broker id: acks count for the in-sync
//! set), answers with its log's end and its epochs, then streams the log from the offset
//! the slave's first ack asks (its whole log for an empty slave), each transfer within one
//! epoch and one file, carrying the epoch and the confirm offset.
//!
//! Slave: [`follow`] sends its handshake, finds from the master's epochs how much of its own
//! log the master's shares (`store::epoch::consistent_point`), cuts the rest
//! (`Store::truncate_to`, a WARN line), asks from there, and appends what arrives,
//! recording each new epoch the transfers carry in its epoch file.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::Addr;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::config::HaConfig;
use super::ha::{chunk, first_report, receive, LINK_IDS};
use crate::actors::ha_client::{self, HaClient, Link};
use crate::actors::ha_service::{Acked, Acks, HaService, Joined, Left, Sent};
use crate::actors::reput::{self, Reput};
use crate::protocol::ha::Stream;
use crate::protocol::ha_auto::{
    self as wire, AutoTransfer, MasterHandshake, MasterHeader, SlaveHandshake,
};
use crate::store::epoch::{consistent_point, EpochFile};
use crate::store::Store;

/// What a master's links share.
#[derive(Clone)]
pub struct MasterSide {
    pub store: Arc<Store>,
    pub ha: Addr<HaService>,
    pub acks: watch::Receiver<Acks>,
    pub epochs: Arc<Mutex<EpochFile>>,
    pub cfg: HaConfig,
}

fn other(why: impl Into<String>) -> std::io::Error {
    std::io::Error::other(why.into())
}

async fn read_int<R: AsyncRead + Unpin>(rd: &mut R, within: Duration) -> std::io::Result<i32> {
    let mut buf = [0u8; 4];
    tokio::time::timeout(within, rd.read_exact(&mut buf))
        .await
        .map_err(|_| other("peer silent past the housekeeping interval"))??;
    Ok(i32::from_be_bytes(buf))
}

/// Accepts slaves until the listener fails (the broker's shutdown stops the arbiter).
pub async fn serve(listener: TcpListener, side: MasterSide) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let side = side.clone();
                actix_rt::spawn(async move {
                    let id = LINK_IDS.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = feed(stream, peer, id, &side).await {
                        tracing::warn!(slave = %peer, error = %e, "slave link closed");
                    }
                    side.ha.do_send(Left { id });
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept a slave");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn feed(
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    side: &MasterSide,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (mut rd, mut wr) = stream.into_split();
    let housekeeping = Duration::from_millis(side.cfg.housekeeping_ms);
    if read_int(&mut rd, housekeeping).await? != wire::HANDSHAKE {
        return Err(other("the slave did not open with a handshake"));
    }
    let mut rest = [0u8; wire::SLAVE_HANDSHAKE_REST];
    rd.read_exact(&mut rest).await?;
    let hello = SlaveHandshake::decode_rest(rest);
    let log = side.store.commit_log();
    let epochs = crate::util::lock(&side.epochs).entries().to_vec();
    let handshake = MasterHandshake {
        max_offset: log.written(),
        epochs: epochs.clone(),
    };
    wr.write_all(&handshake.encode()).await?;
    side.ha.do_send(Joined {
        id,
        addr: peer,
        broker_id: Some(hello.broker_id),
    });
    tracing::info!(slave = %peer, broker_id = hello.broker_id, "slave handshake");
    let (first_tx, mut first_rx) = watch::channel(None::<u64>);
    let reports = async {
        loop {
            match read_int(&mut rd, housekeeping).await? {
                wire::TRANSFER => {
                    let mut rest = [0u8; wire::SLAVE_ACK_REST];
                    rd.read_exact(&mut rest).await?;
                    let offset = wire::decode_ack_rest(rest)
                        .ok_or_else(|| other("negative offset acknowledged"))?;
                    first_tx.send_if_modified(|first| {
                        first.is_none() && first.replace(offset).is_none()
                    });
                    let written = log.written();
                    if offset <= written {
                        side.ha.do_send(Acked {
                            id,
                            offset,
                            caught_up: offset == written,
                        });
                    }
                }
                wire::HANDSHAKE => {
                    let mut rest = [0u8; wire::SLAVE_HANDSHAKE_REST];
                    rd.read_exact(&mut rest).await?;
                }
                state => return Err(other(format!("slave frame in unknown state {state}"))),
            }
        }
    };
    let transfers = async {
        let Some(requested) = first_report(&mut first_rx).await else {
            return Ok(());
        };
        let written = log.written();
        let from = if requested == 0 {
            if hello.sync_from_last_file {
                written - written % log.file_size() as u64
            } else {
                log.min_offset()
            }
        } else if requested > written {
            return Err(other(format!(
                "the slave asks from {requested}, past this master's end {written} (it should have cut its log)"
            )));
        } else {
            requested
        };
        tracing::info!(
            from,
            requested,
            broker_id = hello.broker_id,
            "streaming the log to a slave"
        );
        let mut next = from;
        let mut progress = log.progress();
        let heartbeat = Duration::from_millis(side.cfg.heartbeat_ms);
        let mut last_write = tokio::time::Instant::now();
        let header = |next: u64, size: usize| {
            // The term holding `next`, and where the next one starts (a transfer stops there).
            let at = epochs.iter().rposition(|e| e.start_offset as u64 <= next);
            let (epoch, start) =
                at.map_or((0, 0), |i| (epochs[i].epoch, epochs[i].start_offset as u64));
            let stop = at
                .and_then(|i| epochs.get(i + 1))
                .map_or(u64::MAX, |e| e.start_offset as u64);
            let acks = *side.acks.borrow();
            let written = log.written();
            let confirm = if acks.max_acked == u64::MAX {
                written
            } else {
                acks.max_acked.min(written)
            };
            (
                AutoTransfer {
                    size,
                    offset: next,
                    epoch,
                    epoch_start: start,
                    confirm_offset: confirm,
                },
                stop,
            )
        };
        loop {
            progress.borrow_and_update();
            let written = log.written();
            if next < written {
                let (_, stop) = header(next, 0);
                let limit = written
                    .min(next + side.cfg.transfer_batch as u64)
                    .min(stop.max(next + 1));
                let (body, end) = chunk(log, next, limit)?;
                let (t, _) = header(next, body.len());
                wr.write_all(&t.encode()).await?;
                wr.write_all(&body).await?;
                next = end;
                last_write = tokio::time::Instant::now();
                side.ha.do_send(Sent { id, from, to: next });
                continue;
            }
            let idle = heartbeat.saturating_sub(last_write.elapsed());
            match tokio::time::timeout(idle, progress.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Ok(()),
                Err(_) => {
                    let (beat, _) = header(next, 0);
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

/// What a slave's link needs.
#[derive(Clone)]
pub struct SlaveSide {
    pub store: Arc<Store>,
    pub reput: Addr<Reput>,
    pub client: Addr<HaClient>,
    pub epochs: Arc<Mutex<EpochFile>>,
    pub cfg: HaConfig,
    /// This broker's controller id.
    pub broker_id: i64,
}

/// Follows the master `target` names, forever (reconnecting every second while it cannot).
pub async fn follow(mut target: watch::Receiver<Option<SocketAddr>>, side: SlaveSide) {
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
            r = copy(master, &side, &mut link) => r,
            _ = target.changed() => Ok(()),
        };
        link.connected = false;
        side.client.do_send(ha_client::LinkState(link));
        if let Err(e) = result {
            tracing::warn!(master = %master, error = %e, "link to master closed; reconnecting");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn copy(master: SocketAddr, side: &SlaveSide, link: &mut Link) -> std::io::Result<()> {
    let stream = TcpStream::connect(master).await?;
    stream.set_nodelay(true)?;
    let (mut rd, mut wr) = stream.into_split();
    let store = &side.store;
    let log = store.commit_log();
    let housekeeping = Duration::from_millis(side.cfg.housekeeping_ms);
    let hello = SlaveHandshake {
        sync_from_last_file: false,
        async_learner: false,
        broker_id: side.broker_id,
    };
    wr.write_all(&hello.encode()).await?;
    // The master's handshake: its end and its epochs.
    let state = read_int(&mut rd, housekeeping).await?;
    let rest_len = wire::master_rest_len(state)
        .ok_or_else(|| other(format!("master frame in state {state}")))?;
    let mut rest = vec![0u8; rest_len];
    rd.read_exact(&mut rest).await?;
    let MasterHeader::Handshake {
        body, max_offset, ..
    } = wire::decode_master(state, &rest).map_err(other)?
    else {
        return Err(other("the master did not answer with a handshake"));
    };
    let mut epochs_body = vec![0u8; body];
    rd.read_exact(&mut epochs_body).await?;
    let theirs = wire::decode_epochs(&epochs_body).map_err(other)?;
    let end = log.appended();
    let keep = {
        let mine = crate::util::lock(&side.epochs).entries().to_vec();
        if !log.has_files() || end == 0 {
            0
        } else {
            consistent_point(&mine, end, &theirs, max_offset)
        }
    };
    if keep < end {
        let cut = store.truncate_to(keep).map_err(other_store)?;
        tracing::warn!(
            master = %master,
            from = cut.from,
            to = keep,
            bytes = cut.log_bytes,
            queue_units = cut.units,
            "records no master term of the new master holds: cut back to where the logs agree"
        );
        link.truncated_bytes += cut.log_bytes;
        side.reput.do_send(reput::Wake);
    }
    crate::util::lock(&side.epochs)
        .cut_at(keep)
        .map_err(other_store)?;
    let mut stream_state = Stream::new(log.file_size() as u64, log.appended(), !log.has_files());
    let mut reported = stream_state.log_end();
    wr.write_all(&wire::encode_ack(reported)).await?;
    tracing::info!(master = %master, from = reported, kept = keep, "connected to master");
    *link = Link {
        connected: true,
        reported,
        last_write_ms: crate::util::now_ms(),
        truncated_bytes: link.truncated_bytes,
        ..Link::default()
    };
    side.client.do_send(ha_client::LinkState(link.clone()));
    let heartbeat = Duration::from_millis(side.cfg.heartbeat_ms);
    let mut last_report = tokio::time::Instant::now();
    let mut pieces = Vec::new();
    let mut body = Vec::new();
    loop {
        let wait = heartbeat.saturating_sub(last_report.elapsed());
        let state =
            match tokio::time::timeout(wait.min(housekeeping), read_int(&mut rd, housekeeping))
                .await
            {
                Err(_) => {
                    wr.write_all(&wire::encode_ack(stream_state.log_end()))
                        .await?;
                    last_report = tokio::time::Instant::now();
                    link.last_write_ms = crate::util::now_ms();
                    continue;
                }
                Ok(r) => r?,
            };
        let rest_len = wire::master_rest_len(state)
            .ok_or_else(|| other(format!("master frame in state {state}")))?;
        let mut rest = vec![0u8; rest_len];
        rd.read_exact(&mut rest).await?;
        let transfer = match wire::decode_master(state, &rest).map_err(other)? {
            MasterHeader::Transfer(t) => t,
            MasterHeader::Handshake { body, .. } => {
                // A repeated handshake: its epochs are read and dropped.
                body_skip(&mut rd, body).await?;
                continue;
            }
        };
        {
            let mut epochs = crate::util::lock(&side.epochs);
            if transfer.epoch > epochs.last_epoch() {
                epochs
                    .begin(transfer.epoch, transfer.epoch_start)
                    .map_err(other_store)?;
            }
        }
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
            side.reput.do_send(reput::Wake);
            wr.write_all(&wire::encode_ack(end)).await?;
            reported = end;
            last_report = tokio::time::Instant::now();
            link.reported = end;
            link.last_write_ms = crate::util::now_ms();
            side.client.do_send(ha_client::LinkState(link.clone()));
        }
    }
}

fn other_store(e: crate::store::StoreError) -> std::io::Error {
    other(e.to_string())
}

async fn body_skip<R: AsyncRead + Unpin>(rd: &mut R, len: usize) -> std::io::Result<()> {
    let mut skip = vec![0u8; len];
    rd.read_exact(&mut skip).await.map(|_| ())
}
