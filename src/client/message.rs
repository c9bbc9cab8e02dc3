//! Messages as users build them ([`Message`]) and as consumers receive them
//! ([`MessageExt`]), the unique message id (`UNIQ_KEY`) and body compression.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};

use bytes::Bytes;

use crate::protocol::message::{hex_upper as hex, offset_msg_id, sys_flag, Record, RecordError};
use crate::protocol::properties;

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub body: Bytes,
    /// The user flag (opaque to the broker).
    pub flag: i32,
    /// User and system properties, in insertion order; a name appears once.
    properties: Vec<(String, String)>,
}

impl Message {
    /// A message with `WAIT=true`, as RocketMQ's `Message` constructor sets it.
    pub fn new(topic: impl Into<String>, body: impl Into<Bytes>) -> Self {
        let mut m = Self {
            topic: topic.into(),
            body: body.into(),
            flag: 0,
            properties: Vec::new(),
        };
        m.set_property(properties::WAIT_STORE_MSG_OK, "true");
        m
    }

    pub fn with_tags(mut self, tags: impl Into<String>) -> Self {
        self.set_property(properties::TAGS, tags);
        self
    }

    /// Keys for the broker's index, joined by spaces as RocketMQ does.
    pub fn with_keys<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let joined = keys
            .into_iter()
            .map(|k| k.as_ref().to_owned())
            .collect::<Vec<_>>()
            .join(" ");
        self.set_property(properties::KEYS, joined);
        self
    }

    /// Delivery at `epoch_ms` (RocketMQ 5's `TIMER_DELIVER_MS`, Java's `setDeliverTimeMs`):
    /// any time up to the broker's `timerMaxDelaySec` ahead.
    pub fn with_deliver_time_ms(mut self, epoch_ms: i64) -> Self {
        self.set_property(properties::TIMER_DELIVER_MS, epoch_ms.to_string());
        self
    }

    /// Delivery `delay` after the broker receives it (`TIMER_DELAY_MS`, Java's
    /// `setDelayTimeMs`).
    pub fn with_delay(mut self, delay: std::time::Duration) -> Self {
        self.set_property(properties::TIMER_DELAY_MS, delay.as_millis().to_string());
        self
    }

    /// Delivery after delay level `level` (1 = 1 s … 18 = 2 h with the default levels).
    pub fn with_delay_level(mut self, level: i32) -> Self {
        self.set_property(properties::DELAY, level.to_string());
        self
    }

    pub fn with_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set_property(name, value);
        self
    }

    /// Removes a property; its value, if it had one.
    pub fn remove_property(&mut self, name: &str) -> Option<String> {
        let at = self.properties.iter().position(|(n, _)| n == name)?;
        Some(self.properties.remove(at).1)
    }

    pub fn set_property(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let (name, value) = (name.into(), value.into());
        match self.properties.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.properties.push((name, value)),
        }
    }

    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn tags(&self) -> Option<&str> {
        self.property(properties::TAGS)
    }

    pub fn keys(&self) -> Option<&str> {
        self.property(properties::KEYS)
    }

    /// The properties string as sent (`name\x01value\x02…`).
    pub fn encode_properties(&self) -> String {
        properties::encode(
            self.properties
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str())),
        )
    }
}

/// A message as a consumer receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageExt {
    /// The topic; for a redelivered message the original topic, not `%RETRY%group`.
    pub topic: String,
    pub body: Bytes,
    pub flag: i32,
    /// The raw properties string.
    pub properties: String,
    /// `UNIQ_KEY` if the producer set one, else the offset id.
    pub msg_id: String,
    /// Store host + commit-log offset, as hex.
    pub offset_msg_id: String,
    pub broker_name: String,
    pub queue_id: i32,
    pub queue_offset: i64,
    pub commit_log_offset: i64,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_timestamp: i64,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
}

impl MessageExt {
    pub fn property(&self, name: &str) -> Option<&str> {
        properties::get(&self.properties, name)
    }

    pub fn tags(&self) -> Option<&str> {
        self.property(properties::TAGS)
    }

    pub fn keys(&self) -> Option<&str> {
        self.property(properties::KEYS)
    }

    /// Decodes the records of a pull response body (the broker copies them from its log).
    pub fn decode_all(body: &Bytes, broker_name: &str) -> Result<Vec<Self>, RecordError> {
        let mut out = Vec::new();
        let mut rest: &[u8] = body;
        while !rest.is_empty() {
            let record = Record::decode(rest, false)?;
            out.push(Self::from_record(&record, body, broker_name)?);
            rest = &rest[record.size..];
        }
        Ok(out)
    }

    fn from_record(r: &Record<'_>, whole: &Bytes, broker_name: &str) -> Result<Self, RecordError> {
        let mut body = whole.slice_ref(r.body);
        if r.sys_flag & sys_flag::COMPRESSED != 0 {
            body = Bytes::from(inflate(&body).map_err(|_| RecordError::InvalidUtf8)?);
        }
        let offset_id = offset_msg_id(r.store_host, r.physical_offset);
        let uniq = properties::get(r.properties, properties::UNIQ_KEY);
        // A redelivery comes from %RETRY%group; the user sees the original topic.
        let topic = properties::get(r.properties, properties::RETRY_TOPIC).unwrap_or(r.topic);
        Ok(Self {
            topic: topic.to_owned(),
            body,
            flag: r.flag,
            properties: r.properties.to_owned(),
            msg_id: uniq.map_or_else(|| offset_id.clone(), str::to_owned),
            offset_msg_id: offset_id,
            broker_name: broker_name.to_owned(),
            queue_id: r.queue_id,
            queue_offset: r.queue_offset,
            commit_log_offset: r.physical_offset,
            sys_flag: r.sys_flag,
            born_timestamp: r.born_timestamp,
            born_host: r.born_host,
            store_timestamp: r.store_timestamp,
            store_host: r.store_host,
            reconsume_times: r.reconsume_times,
        })
    }
}

/// zlib at level 5, as RocketMQ clients compress bodies over the threshold.
pub(crate) fn deflate(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(5));
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(body);
    enc.finish().unwrap_or_default()
}

fn inflate(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len() * 4);
    flate2::read::ZlibDecoder::new(body).read_to_end(&mut out)?;
    Ok(out)
}

/// RocketMQ's client message id (`MessageClientIDSetter`): `ip | pid (i16) | random (i32)`
/// fixed per client, then `ms since the start of this month (i32) | counter (i16)`, all as
/// uppercase hex: 32 characters for IPv4.
#[derive(Debug)]
pub(crate) struct UniqueIds {
    prefix: String,
    month_start_ms: i64,
    counter: AtomicU16,
}

impl UniqueIds {
    pub fn new(ip: IpAddr) -> Self {
        let mut fixed = Vec::with_capacity(22);
        match ip {
            IpAddr::V4(v4) => fixed.extend_from_slice(&v4.octets()),
            IpAddr::V6(v6) => fixed.extend_from_slice(&v6.octets()),
        }
        fixed.extend_from_slice(&(std::process::id() as u16).to_be_bytes());
        let random = (crate::util::now_ms() as u32) ^ std::process::id().rotate_left(16);
        fixed.extend_from_slice(&random.to_be_bytes());
        Self {
            prefix: hex(&fixed),
            month_start_ms: month_start_ms(crate::util::now_ms()),
            counter: AtomicU16::new(0),
        }
    }

    pub fn next(&self) -> String {
        let now = crate::util::now_ms();
        let since = (now - self.month_start_ms) as i32;
        let count = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut tail = [0u8; 6];
        tail[..4].copy_from_slice(&since.to_be_bytes());
        tail[4..].copy_from_slice(&count.to_be_bytes());
        let mut id = String::with_capacity(self.prefix.len() + 12);
        id.push_str(&self.prefix);
        id.push_str(&hex(&tail));
        id
    }
}

/// Midnight UTC of the first day of `now_ms`'s month.
fn month_start_ms(now_ms: i64) -> i64 {
    let days = now_ms.div_euclid(86_400_000);
    let (_, _, day_of_month) = crate::util::civil_from_days(days);
    (days - i64::from(day_of_month - 1)) * 86_400_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_ids_have_rocketmq_shape() {
        let ids = UniqueIds::new("10.1.2.3".parse().unwrap());
        let (a, b) = (ids.next(), ids.next());
        assert_eq!(a.len(), 32);
        assert!(a.starts_with("0A010203"));
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
    }

    #[test]
    fn month_start() {
        // 2026-11-21T08:00:00Z → 2026-11-01T00:00:00Z
        assert_eq!(month_start_ms(1_795_248_000_000), 1_793_491_200_000);
        // 2024-03-01T00:00:00Z is its own month start (after a leap February).
        assert_eq!(month_start_ms(1_709_251_200_000), 1_709_251_200_000);
    }

    #[test]
    fn compression_round_trips() {
        let body = vec![b'x'; 10_000];
        let packed = deflate(&body);
        assert!(packed.len() < 200);
        assert_eq!(inflate(&packed).unwrap(), body);
    }

    #[test]
    fn properties_are_set_once() {
        let m = Message::new("T", "b")
            .with_tags("A")
            .with_tags("B")
            .with_keys(["k1", "k2"]);
        assert_eq!(m.tags(), Some("B"));
        assert_eq!(m.keys(), Some("k1 k2"));
        assert_eq!(
            m.encode_properties(),
            "WAIT\u{1}true\u{2}TAGS\u{1}B\u{2}KEYS\u{1}k1 k2\u{2}"
        );
    }
}
