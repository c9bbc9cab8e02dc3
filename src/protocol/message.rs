//! The stored message record: RocketMQ's commit-log layout, which is also the body of PULL,
//! QUERY_MESSAGE and VIEW_MESSAGE_BY_ID responses, so a pull can copy it straight from the
//! file.
//!
//! ```text
//!  0 TOTALSIZE i32 | 4 MAGICCODE i32 | 8 BODYCRC i32 | 12 QUEUEID i32 | 16 FLAG i32
//! 20 QUEUEOFFSET i64 | 28 PHYSICALOFFSET i64 | 36 SYSFLAG i32 | 40 BORNTIMESTAMP i64
//! 48 BORNHOST (4+4 or 16+4) | STORETIMESTAMP i64 | STOREHOST (4+4 or 16+4)
//!    RECONSUMETIMES i32 | PREPARED_TRANSACTION_OFFSET i64 | BODY i32 len + bytes
//!    TOPIC u8 len + bytes | PROPERTIES i16 len + bytes
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use thiserror::Error;

/// Magic of a message record (V1, one-byte topic length).
pub const MAGIC: i32 = 0xDAA3_20A7_u32 as i32;
/// Magic of the blank record that fills the end of a commit-log file.
pub const BLANK_MAGIC: i32 = 0xCBD4_3194_u32 as i32;

/// Where PHYSICALOFFSET sits in every record.
pub const PHYSICAL_OFFSET_POS: usize = 28;
/// Where QUEUEOFFSET sits in every record.
pub const QUEUE_OFFSET_POS: usize = 20;
/// Longest topic a V1 record holds.
pub const MAX_TOPIC_LEN: usize = 127;
/// Longest properties string a record holds.
pub const MAX_PROPERTIES_LEN: usize = i16::MAX as usize;

/// `MessageSysFlag` bits.
pub mod sys_flag {
    pub const COMPRESSED: i32 = 0x1;
    pub const MULTI_TAGS: i32 = 0x2;
    pub const TRANSACTION_MASK: i32 = 0xC;
    pub const TRANSACTION_NOT_TYPE: i32 = 0x0;
    pub const TRANSACTION_PREPARED_TYPE: i32 = 0x4;
    pub const TRANSACTION_COMMIT_TYPE: i32 = 0x8;
    pub const TRANSACTION_ROLLBACK_TYPE: i32 = 0xC;
    pub const BORNHOST_V6: i32 = 0x10;
    pub const STOREHOST_V6: i32 = 0x20;

    pub fn transaction_type(flag: i32) -> i32 {
        flag & TRANSACTION_MASK
    }
}

/// Where STORETIMESTAMP sits, which depends on the born host's address family.
pub fn store_timestamp_pos(sys_flag: i32) -> usize {
    48 + host_len(sys_flag & sys_flag::BORNHOST_V6 != 0)
}

fn host_len(v6: bool) -> usize {
    if v6 {
        20
    } else {
        8
    }
}

/// A message as a writer hands it to the store.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub topic: &'a str,
    pub queue_id: i32,
    pub flag: i32,
    pub body: &'a [u8],
    /// Encoded properties string (see [`super::properties`]).
    pub properties: &'a str,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RecordError {
    #[error("topic of {0} bytes is longer than {MAX_TOPIC_LEN}")]
    TopicTooLong(usize),
    #[error("properties of {0} bytes are longer than {MAX_PROPERTIES_LEN}")]
    PropertiesTooLong(usize),
    #[error("record truncated: need {need} bytes, have {have}")]
    Truncated { need: usize, have: usize },
    #[error("bad magic {0:#010x}")]
    BadMagic(i32),
    #[error("record size {size} is impossible here ({have} bytes available)")]
    BadSize { size: i64, have: usize },
    #[error("body CRC {stored:#x} does not match {computed:#x}")]
    BadCrc { stored: i32, computed: i32 },
    #[error("record fields do not add up to its size ({fields} vs {size})")]
    Inconsistent { fields: usize, size: usize },
    #[error("topic or properties are not UTF-8")]
    InvalidUtf8,
}

impl NewMessage<'_> {
    fn sys_flag_with_hosts(&self) -> i32 {
        let mut flag = self.sys_flag & !(sys_flag::BORNHOST_V6 | sys_flag::STOREHOST_V6);
        if self.born_host.is_ipv6() {
            flag |= sys_flag::BORNHOST_V6;
        }
        if self.store_host.is_ipv6() {
            flag |= sys_flag::STOREHOST_V6;
        }
        flag
    }

    /// Size of the encoded record.
    pub fn encoded_len(&self) -> usize {
        4 + 4
            + 4
            + 4
            + 4
            + 8
            + 8
            + 4
            + 8
            + host_len(self.born_host.is_ipv6())
            + 8
            + host_len(self.store_host.is_ipv6())
            + 4
            + 8
            + 4
            + self.body.len()
            + 1
            + self.topic.len()
            + 2
            + self.properties.len()
    }

    /// Appends the record to `out` with the given queue offset; the physical offset and
    /// store timestamp are written as 0, for the appender to patch in place.
    pub fn encode(&self, queue_offset: i64, out: &mut Vec<u8>) -> Result<(), RecordError> {
        if self.topic.len() > MAX_TOPIC_LEN {
            return Err(RecordError::TopicTooLong(self.topic.len()));
        }
        if self.properties.len() > MAX_PROPERTIES_LEN {
            return Err(RecordError::PropertiesTooLong(self.properties.len()));
        }
        let size = self.encoded_len();
        out.reserve(size);
        out.extend_from_slice(&(size as i32).to_be_bytes());
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.extend_from_slice(&body_crc(self.body).to_be_bytes());
        out.extend_from_slice(&self.queue_id.to_be_bytes());
        out.extend_from_slice(&self.flag.to_be_bytes());
        out.extend_from_slice(&queue_offset.to_be_bytes());
        out.extend_from_slice(&0i64.to_be_bytes());
        out.extend_from_slice(&self.sys_flag_with_hosts().to_be_bytes());
        out.extend_from_slice(&self.born_timestamp.to_be_bytes());
        put_host(out, self.born_host);
        out.extend_from_slice(&0i64.to_be_bytes());
        put_host(out, self.store_host);
        out.extend_from_slice(&self.reconsume_times.to_be_bytes());
        out.extend_from_slice(&self.prepared_transaction_offset.to_be_bytes());
        out.extend_from_slice(&(self.body.len() as i32).to_be_bytes());
        out.extend_from_slice(self.body);
        out.push(self.topic.len() as u8);
        out.extend_from_slice(self.topic.as_bytes());
        out.extend_from_slice(&(self.properties.len() as i16).to_be_bytes());
        out.extend_from_slice(self.properties.as_bytes());
        Ok(())
    }
}

fn put_host(out: &mut Vec<u8>, host: SocketAddr) {
    match host.ip() {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
    out.extend_from_slice(&i32::from(host.port()).to_be_bytes());
}

/// CRC32 of a body as RocketMQ stores it (masked to 31 bits).
pub fn body_crc(body: &[u8]) -> i32 {
    (crc32fast::hash(body) & 0x7FFF_FFFF) as i32
}

/// Java's `String.hashCode` over UTF-16 code units (tag codes, index key hashes).
pub fn java_hash(s: &str) -> i32 {
    let mut h: i32 = 0;
    for unit in s.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    h
}

/// What the head of a file position holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// A message record of this many bytes.
    Message(usize),
    /// The end-of-file filler: the rest of the file is unused.
    Blank,
    /// Zeros: nothing was ever written here.
    Empty,
}

/// Reads the size and magic at the start of `buf`.
pub fn head(buf: &[u8]) -> Result<Head, RecordError> {
    if buf.len() < 8 {
        return Err(RecordError::Truncated {
            need: 8,
            have: buf.len(),
        });
    }
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let magic = i32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    match magic {
        MAGIC if size >= MIN_RECORD_LEN as i32 && size as usize <= buf.len() => {
            Ok(Head::Message(size as usize))
        }
        MAGIC => Err(RecordError::BadSize {
            size: size.into(),
            have: buf.len(),
        }),
        BLANK_MAGIC => Ok(Head::Blank),
        0 if size == 0 => Ok(Head::Empty),
        other => Err(RecordError::BadMagic(other)),
    }
}

/// The smallest possible record (IPv4 hosts, empty body, topic, properties).
pub const MIN_RECORD_LEN: usize = 91;

/// A decoded record, borrowing from the buffer it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub size: usize,
    pub body_crc: i32,
    pub queue_id: i32,
    pub flag: i32,
    pub queue_offset: i64,
    pub physical_offset: i64,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_timestamp: i64,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub body: &'a [u8],
    pub topic: &'a str,
    pub properties: &'a str,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or(RecordError::Truncated {
            need: self.pos.saturating_add(n),
            have: self.buf.len(),
        })?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn i32(&mut self) -> Result<i32, RecordError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> Result<i64, RecordError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
    fn host(&mut self, v6: bool) -> Result<SocketAddr, RecordError> {
        let ip: IpAddr = if v6 {
            let mut a = [0u8; 16];
            a.copy_from_slice(self.take(16)?);
            IpAddr::from(a)
        } else {
            let b = self.take(4)?;
            IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        };
        Ok(SocketAddr::new(ip, self.i32()? as u16))
    }
}

impl<'a> Record<'a> {
    /// Decodes the record at the start of `buf`, checking magic, sizes and (if asked) the
    /// body CRC.
    pub fn decode(buf: &'a [u8], check_crc: bool) -> Result<Self, RecordError> {
        let size = match head(buf)? {
            Head::Message(size) => size,
            Head::Blank | Head::Empty => return Err(RecordError::BadMagic(0)),
        };
        let mut r = Reader {
            buf: &buf[..size],
            pos: 8,
        };
        let body_crc = r.i32()?;
        let queue_id = r.i32()?;
        let flag = r.i32()?;
        let queue_offset = r.i64()?;
        let physical_offset = r.i64()?;
        let sys_flag = r.i32()?;
        let born_timestamp = r.i64()?;
        let born_host = r.host(sys_flag & sys_flag::BORNHOST_V6 != 0)?;
        let store_timestamp = r.i64()?;
        let store_host = r.host(sys_flag & sys_flag::STOREHOST_V6 != 0)?;
        let reconsume_times = r.i32()?;
        let prepared_transaction_offset = r.i64()?;
        let body_len = usize::try_from(r.i32()?).map_err(|_| RecordError::BadSize {
            size: size as i64,
            have: buf.len(),
        })?;
        let body = r.take(body_len)?;
        let topic_len = usize::from(r.take(1)?[0]);
        let topic =
            std::str::from_utf8(r.take(topic_len)?).map_err(|_| RecordError::InvalidUtf8)?;
        let b = r.take(2)?;
        let props_len = usize::try_from(i16::from_be_bytes([b[0], b[1]])).map_err(|_| {
            RecordError::BadSize {
                size: size as i64,
                have: buf.len(),
            }
        })?;
        let properties =
            std::str::from_utf8(r.take(props_len)?).map_err(|_| RecordError::InvalidUtf8)?;
        if r.pos != size {
            return Err(RecordError::Inconsistent {
                fields: r.pos,
                size,
            });
        }
        if check_crc {
            let computed = self::body_crc(body);
            if computed != body_crc {
                return Err(RecordError::BadCrc {
                    stored: body_crc,
                    computed,
                });
            }
        }
        Ok(Self {
            size,
            body_crc,
            queue_id,
            flag,
            queue_offset,
            physical_offset,
            sys_flag,
            born_timestamp,
            born_host,
            store_timestamp,
            store_host,
            reconsume_times,
            prepared_transaction_offset,
            body,
            topic,
            properties,
        })
    }

    /// The tags code a consume-queue unit stores: Java hash of TAGS, 0 without tags.
    pub fn tags_code(&self) -> i64 {
        super::properties::get(self.properties, super::properties::TAGS)
            .map_or(0, |tags| i64::from(java_hash(tags)))
    }
}

/// One message of a batch body (`MessageDecoder.encodeMessages`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchItem<'a> {
    pub flag: i32,
    pub body: &'a [u8],
    pub properties: &'a str,
}

/// Splits a batch body: per message `TOTALSIZE i32 | MAGIC i32 | BODYCRC i32 | FLAG i32 |
/// BODYLEN i32 + BODY | PROPLEN i16 + PROPERTIES`.
pub fn decode_batch(mut buf: &[u8]) -> Result<Vec<BatchItem<'_>>, RecordError> {
    let mut items = Vec::new();
    while !buf.is_empty() {
        let mut r = Reader { buf, pos: 0 };
        let total = usize::try_from(r.i32()?).map_err(|_| RecordError::BadSize {
            size: -1,
            have: buf.len(),
        })?;
        if total < 22 || total > buf.len() {
            return Err(RecordError::BadSize {
                size: total as i64,
                have: buf.len(),
            });
        }
        r.buf = &buf[..total];
        r.i32()?; // magic
        r.i32()?; // body crc (computed by the broker)
        let flag = r.i32()?;
        let body_len = usize::try_from(r.i32()?).map_err(|_| RecordError::BadSize {
            size: total as i64,
            have: buf.len(),
        })?;
        let body = r.take(body_len)?;
        let b = r.take(2)?;
        let props_len = i16::from_be_bytes([b[0], b[1]]).max(0) as usize;
        let properties =
            std::str::from_utf8(r.take(props_len)?).map_err(|_| RecordError::InvalidUtf8)?;
        if r.pos != total {
            return Err(RecordError::Inconsistent {
                fields: r.pos,
                size: total,
            });
        }
        items.push(BatchItem {
            flag,
            body,
            properties,
        });
        buf = &buf[total..];
    }
    Ok(items)
}

/// Encodes messages as a batch body (what producers send).
pub fn encode_batch<'a>(items: impl IntoIterator<Item = BatchItem<'a>>) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        let total = 4 + 4 + 4 + 4 + 4 + item.body.len() + 2 + item.properties.len();
        out.extend_from_slice(&(total as i32).to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&item.flag.to_be_bytes());
        out.extend_from_slice(&(item.body.len() as i32).to_be_bytes());
        out.extend_from_slice(item.body);
        out.extend_from_slice(&(item.properties.len() as i16).to_be_bytes());
        out.extend_from_slice(item.properties.as_bytes());
    }
    out
}

/// The store host and commit-log offset an offset message id names (the inverse of
/// [`offset_msg_id`]; IPv4 ids are 32 hex digits, IPv6 ids 56). `None` for anything else,
/// a client's unique key included (its "port" is out of range).
pub fn decode_offset_msg_id(id: &str) -> Option<(SocketAddr, u64)> {
    let ip_len = match id.len() {
        32 => 4,
        56 => 16,
        _ => return None,
    };
    let bytes: Vec<u8> = (0..id.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(id.get(i..i + 2)?, 16).ok())
        .collect::<Option<_>>()?;
    let ip = match ip_len {
        4 => IpAddr::from(<[u8; 4]>::try_from(&bytes[..4]).ok()?),
        _ => IpAddr::from(<[u8; 16]>::try_from(&bytes[..16]).ok()?),
    };
    let port = i32::from_be_bytes(bytes[ip_len..ip_len + 4].try_into().ok()?);
    let offset = u64::from_be_bytes(bytes[ip_len + 4..].try_into().ok()?);
    Some((SocketAddr::new(ip, u16::try_from(port).ok()?), offset))
}

/// The offset message id: store host ip, port, commit-log offset, as uppercase hex.
pub fn offset_msg_id(store_host: SocketAddr, physical_offset: i64) -> String {
    let mut bytes = Vec::with_capacity(28);
    match store_host.ip() {
        IpAddr::V4(ip) => bytes.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => bytes.extend_from_slice(&ip.octets()),
    }
    bytes.extend_from_slice(&i32::from(store_host.port()).to_be_bytes());
    bytes.extend_from_slice(&physical_offset.to_be_bytes());
    hex_upper(&bytes)
}

/// Uppercase hex, as RocketMQ writes message ids.
pub fn hex_upper(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_ids_name_their_host_and_offset() {
        assert_eq!(
            decode_offset_msg_id("7F00000100002A9F0000000000000C6A"),
            Some(("127.0.0.1:10911".parse().unwrap(), 0xC6A))
        );
        let v6: SocketAddr = "[::1]:10911".parse().unwrap();
        assert_eq!(decode_offset_msg_id(&offset_msg_id(v6, 77)), Some((v6, 77)));
        assert_eq!(decode_offset_msg_id("7F000001"), None);
        assert_eq!(decode_offset_msg_id("xyz"), None);
        assert_eq!(
            decode_offset_msg_id("7F00000100002A9F00000000000ZZC6A"),
            None
        );
        // A unique key (client ip, pid, class loader hash, time, counter) has a port field
        // out of range: not an offset id.
        assert_eq!(
            decode_offset_msg_id("7F0000011A2B18B4AAC2075A1F2A0000"),
            None
        );
    }

    fn sample<'a>(body: &'a [u8], props: &'a str) -> NewMessage<'a> {
        NewMessage {
            topic: "TopicTest",
            queue_id: 3,
            flag: 7,
            body,
            properties: props,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_000,
            born_host: "10.0.0.5:51000".parse().unwrap(),
            store_host: "[::1]:10911".parse().unwrap(),
            reconsume_times: 2,
            prepared_transaction_offset: 0,
        }
    }

    #[test]
    fn encodes_and_decodes_a_record() {
        let props = "TAGS\u{1}TagA\u{2}";
        let msg = sample(b"hello", props);
        let mut out = Vec::new();
        msg.encode(42, &mut out).unwrap();
        assert_eq!(out.len(), msg.encoded_len());
        assert_eq!(out.len(), MIN_RECORD_LEN + 12 + 5 + 9 + props.len());
        let record = Record::decode(&out, true).unwrap();
        assert_eq!(record.queue_offset, 42);
        assert_eq!(record.queue_id, 3);
        assert_eq!(record.body, b"hello");
        assert_eq!(record.topic, "TopicTest");
        assert_eq!(record.sys_flag, sys_flag::STOREHOST_V6);
        assert_eq!(record.store_host, msg.store_host);
        assert_eq!(record.born_host, msg.born_host);
        assert_eq!(record.reconsume_times, 2);
        assert_eq!(record.tags_code(), i64::from(java_hash("TagA")));
        assert_eq!(store_timestamp_pos(record.sys_flag), 56);
    }

    #[test]
    fn every_truncation_and_a_flipped_body_bit_are_errors() {
        let mut out = Vec::new();
        sample(b"body bytes", "").encode(1, &mut out).unwrap();
        for cut in 0..out.len() {
            assert!(Record::decode(&out[..cut], true).is_err(), "cut at {cut}");
        }
        let body_at = out.len() - 2 - 1 - "TopicTest".len() - 10;
        out[body_at] ^= 0x01;
        assert!(matches!(
            Record::decode(&out, true),
            Err(RecordError::BadCrc { .. })
        ));
        assert!(Record::decode(&out, false).is_ok());
    }

    #[test]
    fn java_hash_matches_java() {
        assert_eq!(java_hash(""), 0);
        assert_eq!(java_hash("TagA"), 2598919);
        // "é" is one UTF-16 unit (0xE9); "😀" is two surrogates (0xD83D, 0xDE00).
        assert_eq!(java_hash("é"), 0xE9);
        assert_eq!(java_hash("😀"), 0xD83D * 31 + 0xDE00);
    }

    #[test]
    fn batches_round_trip_and_truncations_fail() {
        let items = vec![
            BatchItem {
                flag: 1,
                body: b"one",
                properties: "KEYS\u{1}a\u{2}",
            },
            BatchItem {
                flag: 2,
                body: b"",
                properties: "",
            },
        ];
        let encoded = encode_batch(items.clone());
        assert_eq!(decode_batch(&encoded).unwrap(), items);
        let first_len = encode_batch(items[..1].to_vec()).len();
        for cut in 1..encoded.len() {
            match decode_batch(&encoded[..cut]) {
                Ok(fewer) => assert!(cut == first_len && fewer == items[..1], "cut at {cut}"),
                Err(_) => assert_ne!(cut, first_len),
            }
        }
    }

    #[test]
    fn offset_msg_id_is_java_format() {
        let id = offset_msg_id("127.0.0.1:10911".parse().unwrap(), 1024);
        assert_eq!(id, "7F00000100002A9F0000000000000400");
    }
}
