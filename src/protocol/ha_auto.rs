//! RocketMQ 5's HA wire of controller mode (`AutoSwitchHAClient` / `AutoSwitchHAConnection`),
//! pure. Every frame opens with the sender's state as an int (HANDSHAKE = 1, TRANSFER = 2);
//! all big-endian.
//!
//! - slave → master, handshake (16 B): state, `isSyncFromLastFile` (short), `isAsyncLearner`
//!   (short), the slave's broker id (long); then acks (12 B): state, max offset (long).
//! - master → slave, handshake: 20-byte header — state, body size, the master's max offset
//!   (long), its last epoch (int) — and the epoch entries, 12 bytes each (epoch int, start
//!   offset long); then transfers: 36-byte header — state, body size, offset (long), the
//!   epoch of the bytes (int) and where it starts (long), the master's confirm offset
//!   (long) — and the log bytes. A transfer never crosses an epoch's start (nor a file's);
//!   an empty one is the master's heartbeat.

use serde::{Deserialize, Serialize};

/// One master term's start (RocketMQ's `EpochEntry`; `endOffset` is filled in answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
    #[serde(default = "end_unknown")]
    pub end_offset: i64,
}

fn end_unknown() -> i64 {
    i64::MAX
}

impl EpochEntry {
    pub fn new(epoch: i32, start_offset: u64) -> Self {
        Self {
            epoch,
            start_offset: start_offset as i64,
            end_offset: i64::MAX,
        }
    }
}

pub const HANDSHAKE: i32 = 1;
pub const TRANSFER: i32 = 2;

/// After the state int: the rest of a slave's handshake and of its ack.
pub const SLAVE_HANDSHAKE_REST: usize = 12;
pub const SLAVE_ACK_REST: usize = 8;
/// After the state int: the rest of a master's handshake and transfer headers.
pub const MASTER_HANDSHAKE_REST: usize = 16;
pub const MASTER_TRANSFER_REST: usize = 32;
/// Most epoch entries a handshake carries (the Java master's buffer holds 1 000).
pub const MAX_EPOCHS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaveHandshake {
    pub sync_from_last_file: bool,
    pub async_learner: bool,
    pub broker_id: i64,
}

impl SlaveHandshake {
    pub fn encode(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..4].copy_from_slice(&HANDSHAKE.to_be_bytes());
        out[4..6].copy_from_slice(&i16::from(self.sync_from_last_file).to_be_bytes());
        out[6..8].copy_from_slice(&i16::from(self.async_learner).to_be_bytes());
        out[8..].copy_from_slice(&self.broker_id.to_be_bytes());
        out
    }

    pub fn decode_rest(rest: [u8; SLAVE_HANDSHAKE_REST]) -> Self {
        Self {
            sync_from_last_file: i16::from_be_bytes([rest[0], rest[1]]) != 0,
            async_learner: i16::from_be_bytes([rest[2], rest[3]]) != 0,
            broker_id: i64::from_be_bytes(rest[4..].try_into().unwrap_or_default()),
        }
    }
}

pub fn encode_ack(offset: u64) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[..4].copy_from_slice(&TRANSFER.to_be_bytes());
    out[4..].copy_from_slice(&(offset as i64).to_be_bytes());
    out
}

/// The offset of an ack (`None`: negative).
pub fn decode_ack_rest(rest: [u8; SLAVE_ACK_REST]) -> Option<u64> {
    u64::try_from(i64::from_be_bytes(rest)).ok()
}

/// The master's handshake: its log's end and its epochs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterHandshake {
    pub max_offset: u64,
    pub epochs: Vec<EpochEntry>,
}

impl MasterHandshake {
    pub fn encode(&self) -> Vec<u8> {
        let epochs = &self.epochs[self.epochs.len().saturating_sub(MAX_EPOCHS)..];
        let mut out = Vec::with_capacity(20 + 12 * epochs.len());
        out.extend_from_slice(&HANDSHAKE.to_be_bytes());
        out.extend_from_slice(&((12 * epochs.len()) as i32).to_be_bytes());
        out.extend_from_slice(&(self.max_offset as i64).to_be_bytes());
        out.extend_from_slice(&epochs.last().map_or(-1, |e| e.epoch).to_be_bytes());
        for e in epochs {
            out.extend_from_slice(&e.epoch.to_be_bytes());
            out.extend_from_slice(&e.start_offset.to_be_bytes());
        }
        out
    }
}

/// A master frame's header (after its state int), before the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterHeader {
    Handshake {
        body: usize,
        max_offset: u64,
        last_epoch: i32,
    },
    Transfer(AutoTransfer),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoTransfer {
    pub size: usize,
    pub offset: u64,
    pub epoch: i32,
    pub epoch_start: u64,
    pub confirm_offset: u64,
}

impl AutoTransfer {
    pub fn encode(&self) -> [u8; 36] {
        let mut out = [0u8; 36];
        out[..4].copy_from_slice(&TRANSFER.to_be_bytes());
        out[4..8].copy_from_slice(&(self.size as i32).to_be_bytes());
        out[8..16].copy_from_slice(&(self.offset as i64).to_be_bytes());
        out[16..20].copy_from_slice(&self.epoch.to_be_bytes());
        out[20..28].copy_from_slice(&(self.epoch_start as i64).to_be_bytes());
        out[28..].copy_from_slice(&(self.confirm_offset as i64).to_be_bytes());
        out
    }
}

fn long(b: &[u8]) -> i64 {
    i64::from_be_bytes(b.try_into().unwrap_or_default())
}

fn int(b: &[u8]) -> i32 {
    i32::from_be_bytes(b.try_into().unwrap_or_default())
}

/// What a master frame's first int says is left of its header.
pub fn master_rest_len(state: i32) -> Option<usize> {
    match state {
        HANDSHAKE => Some(MASTER_HANDSHAKE_REST),
        TRANSFER => Some(MASTER_TRANSFER_REST),
        _ => None,
    }
}

/// Decodes the rest of a master header (`rest` as long as [`master_rest_len`] said).
pub fn decode_master(state: i32, rest: &[u8]) -> Result<MasterHeader, String> {
    let size = int(&rest[..4]);
    if size < 0 || size as usize > super::ha::MAX_BODY {
        return Err(format!("HA frame body of {size} bytes"));
    }
    let neg = |v: i64, what: &str| u64::try_from(v).map_err(|_| format!("negative {what} {v}"));
    match state {
        HANDSHAKE if rest.len() == MASTER_HANDSHAKE_REST => Ok(MasterHeader::Handshake {
            body: size as usize,
            max_offset: neg(long(&rest[4..12]), "max offset")?,
            last_epoch: int(&rest[12..16]),
        }),
        TRANSFER if rest.len() == MASTER_TRANSFER_REST => {
            Ok(MasterHeader::Transfer(AutoTransfer {
                size: size as usize,
                offset: neg(long(&rest[4..12]), "offset")?,
                epoch: int(&rest[12..16]),
                epoch_start: neg(long(&rest[16..24]), "epoch start")?,
                confirm_offset: long(&rest[24..32]).max(0) as u64,
            }))
        }
        _ => Err(format!(
            "HA frame in state {state} with a {}-byte header",
            rest.len() + 4
        )),
    }
}

/// The epoch entries of a master handshake's body.
pub fn decode_epochs(body: &[u8]) -> Result<Vec<EpochEntry>, String> {
    if !body.len().is_multiple_of(12) {
        return Err(format!("epoch list of {} bytes", body.len()));
    }
    body.chunks_exact(12)
        .map(|c| {
            let start = long(&c[4..]);
            u64::try_from(start)
                .map(|s| EpochEntry::new(int(&c[..4]), s))
                .map_err(|_| format!("epoch starting at {start}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_at_rocketmqs_sizes() {
        let hs = SlaveHandshake {
            sync_from_last_file: true,
            async_learner: false,
            broker_id: 3,
        };
        let bytes = hs.encode();
        assert_eq!(int(&bytes[..4]), HANDSHAKE);
        assert_eq!(
            SlaveHandshake::decode_rest(bytes[4..].try_into().unwrap()),
            hs
        );
        let ack = encode_ack(4096);
        assert_eq!(decode_ack_rest(ack[4..].try_into().unwrap()), Some(4096));

        let master = MasterHandshake {
            max_offset: 9000,
            epochs: vec![EpochEntry::new(1, 0), EpochEntry::new(3, 5000)],
        };
        let bytes = master.encode();
        assert_eq!(bytes.len(), 20 + 24);
        let state = int(&bytes[..4]);
        let rest = master_rest_len(state).unwrap();
        assert_eq!(
            decode_master(state, &bytes[4..4 + rest]).unwrap(),
            MasterHeader::Handshake {
                body: 24,
                max_offset: 9000,
                last_epoch: 3
            }
        );
        assert_eq!(decode_epochs(&bytes[20..]).unwrap(), master.epochs);

        let t = AutoTransfer {
            size: 100,
            offset: 5000,
            epoch: 3,
            epoch_start: 5000,
            confirm_offset: 4900,
        };
        let bytes = t.encode();
        assert_eq!(
            decode_master(TRANSFER, &bytes[4..]).unwrap(),
            MasterHeader::Transfer(t)
        );
        assert!(decode_master(7, &bytes[4..]).is_err());
        assert!(decode_epochs(&[0; 13]).is_err());
    }
}
