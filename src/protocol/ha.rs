//! RocketMQ's classic HA wire (DefaultHAService, 4.x and 5.x alike), pure.
//!
//! - slave → master: a *report*, 8 bytes, big-endian: the slave's max commit-log offset (on
//!   connect, after every batch it wrote, and every `haSendHeartbeatInterval` when idle).
//!   It is the acknowledgement SYNC_MASTER sends wait for.
//! - master → slave: a *transfer*, a 12-byte header — the commit-log offset of the first
//!   byte (i64) and the body's size (i32) — then that many bytes of the log, copied as they
//!   are; a chunk never crosses a file boundary. A header with size 0 is the master's
//!   heartbeat.
//!
//! The bytes may cut records anywhere. [`Stream`] turns them back into whole records to
//! append and ends of files (the blank record that closes each file, then the unused rest
//! of it, which the master sends as zeros).

use super::message::{BLANK_MAGIC, MAGIC, MIN_RECORD_LEN};

pub const REPORT_LEN: usize = 8;
pub const HEADER_LEN: usize = 12;

/// Largest body a slave accepts in one transfer (the Java slave's read buffer is 4 MiB).
pub const MAX_BODY: usize = 4 << 20;

pub fn encode_report(offset: u64) -> [u8; REPORT_LEN] {
    (offset as i64).to_be_bytes()
}

/// The offset a report carries (`None` for a negative one).
pub fn decode_report(buf: [u8; REPORT_LEN]) -> Option<u64> {
    u64::try_from(i64::from_be_bytes(buf)).ok()
}

/// A transfer's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// Commit-log offset of the body's first byte.
    pub offset: u64,
    pub size: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HaError {
    #[error("transfer header with a negative offset {0} or size {1}")]
    Negative(i64, i32),
    #[error("transfer of {0} bytes exceeds the {MAX_BODY}-byte limit")]
    TooLarge(usize),
    #[error("master sent offset {got}, the slave's log ends at {expected}")]
    OffsetMismatch { expected: u64, got: u64 },
    #[error("no record at offset {offset}: size {size}, magic {magic:#x}")]
    BadRecord { offset: u64, size: i32, magic: i32 },
    #[error("a record at {offset} of {size} bytes crosses the end of its file")]
    CrossesFile { offset: u64, size: usize },
    #[error("the first transfer starts at {0}, inside a file (expected a file start)")]
    Unaligned(u64),
}

impl Transfer {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..8].copy_from_slice(&(self.offset as i64).to_be_bytes());
        out[8..].copy_from_slice(&(self.size as i32).to_be_bytes());
        out
    }

    pub fn decode(buf: [u8; HEADER_LEN]) -> Result<Self, HaError> {
        let offset = i64::from_be_bytes(buf[..8].try_into().unwrap_or_default());
        let size = i32::from_be_bytes(buf[8..].try_into().unwrap_or_default());
        if offset < 0 || size < 0 {
            return Err(HaError::Negative(offset, size));
        }
        if size as usize > MAX_BODY {
            return Err(HaError::TooLarge(size as usize));
        }
        Ok(Self {
            offset: offset as u64,
            size: size as usize,
        })
    }
}

/// What the slave does with received bytes, in log order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Whole records to append at `at` (their offsets are already in them).
    Records { at: u64, bytes: Vec<u8> },
    /// The file holding `at` ends here: close it with a blank and roll to the next.
    EndOfFile { at: u64 },
}

/// The slave's view of the master's byte stream: where the next byte goes, the start of
/// a record cut by a transfer, the unused end of a file still to skip.
#[derive(Debug, Clone)]
pub struct Stream {
    file_size: u64,
    /// Offset of the next byte expected (the log's end plus what is held in `partial`).
    next: u64,
    /// Whether the log holds nothing yet (the first transfer chooses where it starts).
    empty: bool,
    partial: Vec<u8>,
    /// Bytes of a closed file's unused end still to come.
    skip: u64,
}

impl Stream {
    /// A stream for a log that ends at `log_end` (`empty` when it has no file yet).
    pub fn new(file_size: u64, log_end: u64, empty: bool) -> Self {
        Self {
            file_size,
            next: log_end,
            empty,
            partial: Vec::new(),
            skip: 0,
        }
    }

    /// Where the log ends once the pieces handed out so far are applied (what the slave
    /// reports: bytes held back for a cut record are not in the log yet).
    pub fn log_end(&self) -> u64 {
        self.next - self.partial.len() as u64
    }

    /// Takes one transfer; appends what it completes to `out`.
    pub fn accept(
        &mut self,
        offset: u64,
        body: &[u8],
        out: &mut Vec<Piece>,
    ) -> Result<(), HaError> {
        if self.empty && self.partial.is_empty() && self.skip == 0 {
            if !offset.is_multiple_of(self.file_size) {
                return Err(HaError::Unaligned(offset));
            }
            self.next = offset;
        }
        if offset != self.next {
            return Err(HaError::OffsetMismatch {
                expected: self.next,
                got: offset,
            });
        }
        if body.is_empty() {
            return Ok(());
        }
        self.empty = false;
        self.next += body.len() as u64;
        let mut data = body;
        let held;
        if !self.partial.is_empty() {
            self.partial.extend_from_slice(body);
            held = std::mem::take(&mut self.partial);
            data = &held;
        }
        // Offset of data[0].
        let mut at = self.next - data.len() as u64;
        let mut pos = 0usize;
        let mut run_start: Option<(u64, usize)> = None;
        let flush_run = |run: &mut Option<(u64, usize)>, pos: usize, out: &mut Vec<Piece>| {
            if let Some((run_at, from)) = run.take() {
                if pos > from {
                    out.push(Piece::Records {
                        at: run_at,
                        bytes: data[from..pos].to_vec(),
                    });
                }
            }
        };
        while pos < data.len() {
            if self.skip > 0 {
                let n = self.skip.min((data.len() - pos) as u64);
                self.skip -= n;
                pos += n as usize;
                at += n;
                continue;
            }
            let file_end = at - at % self.file_size + self.file_size;
            let left_in_file = file_end - at;
            let rest = &data[pos..];
            if left_in_file < 8 {
                // Too little room for even a blank: the file ends here.
                flush_run(&mut run_start, pos, out);
                out.push(Piece::EndOfFile { at });
                self.skip = left_in_file;
                continue;
            }
            if rest.len() < 8 {
                break;
            }
            let size = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
            let magic = i32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
            match magic {
                BLANK_MAGIC => {
                    flush_run(&mut run_start, pos, out);
                    out.push(Piece::EndOfFile { at });
                    self.skip = left_in_file;
                    continue;
                }
                MAGIC if size as usize >= MIN_RECORD_LEN && size > 0 => {
                    let size = size as usize;
                    if size as u64 + 8 > left_in_file && size as u64 != left_in_file {
                        return Err(HaError::CrossesFile { offset: at, size });
                    }
                    if rest.len() < size {
                        break;
                    }
                    if run_start.is_none() {
                        run_start = Some((at, pos));
                    }
                    pos += size;
                    at += size as u64;
                }
                _ => {
                    return Err(HaError::BadRecord {
                        offset: at,
                        size,
                        magic,
                    })
                }
            }
        }
        flush_run(&mut run_start, pos, out);
        if pos < data.len() {
            self.partial = data[pos..].to_vec();
        }
        Ok(())
    }

    /// Bytes held back (a record cut by the last transfer).
    pub fn held(&self) -> usize {
        self.partial.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record of `size` bytes as the log holds it (only size and magic matter here).
    fn record(size: usize, fill: u8) -> Vec<u8> {
        let mut r = vec![fill; size];
        r[..4].copy_from_slice(&(size as i32).to_be_bytes());
        r[4..8].copy_from_slice(&MAGIC.to_be_bytes());
        r
    }

    fn blank(rest: usize) -> Vec<u8> {
        let mut b = vec![0u8; rest];
        b[..4].copy_from_slice(&(rest as i32).to_be_bytes());
        b[4..8].copy_from_slice(&BLANK_MAGIC.to_be_bytes());
        b
    }

    #[test]
    fn report_and_header_layouts() {
        assert_eq!(encode_report(0x0102), [0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(decode_report([0, 0, 0, 0, 0, 0, 1, 2]), Some(0x0102));
        assert_eq!(decode_report([0xff; 8]), None);
        let t = Transfer {
            offset: 1 << 30,
            size: 32768,
        };
        assert_eq!(t.encode(), [0, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0x80, 0]);
        assert_eq!(Transfer::decode(t.encode()), Ok(t));
        let mut neg = t.encode();
        neg[8] = 0xff;
        assert!(matches!(Transfer::decode(neg), Err(HaError::Negative(..))));
        let big = Transfer {
            offset: 0,
            size: MAX_BODY + 1,
        };
        assert_eq!(
            Transfer::decode(big.encode()),
            Err(HaError::TooLarge(MAX_BODY + 1))
        );
    }

    #[test]
    fn records_cut_anywhere_come_out_whole() {
        let log: Vec<u8> = [record(100, 1), record(150, 2), record(120, 3)].concat();
        for cut in 1..log.len() {
            let mut s = Stream::new(4096, 0, false);
            let mut out = Vec::new();
            s.accept(0, &log[..cut], &mut out).unwrap();
            s.accept(cut as u64, &log[cut..], &mut out).unwrap();
            let joined: Vec<u8> = out
                .iter()
                .flat_map(|p| match p {
                    Piece::Records { bytes, .. } => bytes.clone(),
                    Piece::EndOfFile { .. } => panic!("no end of file here"),
                })
                .collect();
            assert_eq!(joined, log, "cut at {cut}");
            assert_eq!(s.log_end(), log.len() as u64);
            assert_eq!(s.held(), 0);
        }
    }

    #[test]
    fn a_cut_record_is_held_and_not_reported() {
        let mut s = Stream::new(4096, 1000, false);
        let mut out = Vec::new();
        let r = record(200, 7);
        s.accept(1000, &r[..50], &mut out).unwrap();
        assert!(out.is_empty());
        assert_eq!(s.log_end(), 1000);
        assert_eq!(s.held(), 50);
        // The next transfer continues at 1050.
        assert_eq!(
            s.accept(1000, &r[50..], &mut out),
            Err(HaError::OffsetMismatch {
                expected: 1050,
                got: 1000
            })
        );
    }

    #[test]
    fn the_blank_and_the_zeros_after_it_close_the_file() {
        let file = 1024u64;
        let mut log = record(1000, 1);
        log.extend(blank(24));
        log.extend(record(300, 2));
        let mut s = Stream::new(file, 0, false);
        let mut out = Vec::new();
        // The master sends file by file: the first file, then the second.
        s.accept(0, &log[..1024], &mut out).unwrap();
        s.accept(1024, &log[1024..], &mut out).unwrap();
        assert_eq!(
            out.iter()
                .map(|p| match p {
                    Piece::Records { at, bytes } => (*at, bytes.len()),
                    Piece::EndOfFile { at } => (*at, 0),
                })
                .collect::<Vec<_>>(),
            vec![(0, 1000), (1000, 0), (1024, 300)]
        );
        assert_eq!(s.log_end(), 1324);
    }

    #[test]
    fn an_empty_slave_starts_where_the_master_starts_a_file() {
        let mut s = Stream::new(1024, 0, true);
        let mut out = Vec::new();
        assert_eq!(
            s.accept(100, &record(100, 1), &mut out),
            Err(HaError::Unaligned(100))
        );
        s.accept(2048, &record(100, 1), &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(s.log_end(), 2148);
    }

    #[test]
    fn garbage_is_refused() {
        let mut s = Stream::new(4096, 0, false);
        let mut out = Vec::new();
        let err = s.accept(0, &[0xAB; 64], &mut out).unwrap_err();
        assert!(matches!(err, HaError::BadRecord { offset: 0, .. }));
        let mut s = Stream::new(1024, 0, false);
        assert!(matches!(
            s.accept(0, &record(1020, 1), &mut out),
            Err(HaError::CrossesFile { .. })
        ));
    }

    #[test]
    fn heartbeats_check_the_offset() {
        let mut s = Stream::new(4096, 500, false);
        let mut out = Vec::new();
        s.accept(500, &[], &mut out).unwrap();
        assert!(s.accept(400, &[], &mut out).is_err());
    }
}
