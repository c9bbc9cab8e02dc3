//! Broker registration: `RegisterBrokerBody`, its `TopicConfigSerializeWrapper`,
//! `TopicConfig` and `DataVersion`, as JSON or in the deflated binary form.
//!
//! Deflated form (zlib stream, `compressed=true`):
//! ```text
//! i32 len + DataVersion JSON | i32 topic count | per topic: i32 len + TopicConfig text
//! | i32 len + filter-server list JSON | (broker version ≥ 413) i32 count + per entry i32 len + mapping JSON
//! ```
//! where the TopicConfig text is `name read write perm filterType[ attributesJSON]`.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use super::super::cursor::Cursor;
use super::super::error::HeaderError;
use super::super::fastjson;

/// Broker version (MQVersion ordinal of V5_0_0) from which the deflated body carries the
/// topic-queue-mapping section.
pub const VERSION_WITH_MAPPINGS: i32 = 413;

/// Permission bits of a topic.
pub mod perm {
    pub const PRIORITY: i32 = 8;
    pub const READ: i32 = 4;
    pub const WRITE: i32 = 2;
    pub const INHERIT: i32 = 1;

    pub fn readable(perm: i32) -> bool {
        perm & READ == READ
    }

    pub fn writeable(perm: i32) -> bool {
        perm & WRITE == WRITE
    }
}

/// A version stamp of a broker's topic table; registrations with an unchanged version do not
/// rewrite the routes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataVersion {
    #[serde(default)]
    pub counter: i64,
    #[serde(default)]
    pub state_version: i64,
    #[serde(default)]
    pub timestamp: i64,
}

/// `TopicFilterType`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TopicFilterType {
    #[default]
    SingleTag,
    MultiTag,
}

fn default_queue_nums() -> i32 {
    16
}

fn default_perm() -> i32 {
    perm::READ | perm::WRITE
}

/// One topic's configuration on a broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicConfig {
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub order: bool,
    #[serde(default = "default_perm")]
    pub perm: i32,
    #[serde(default = "default_queue_nums")]
    pub read_queue_nums: i32,
    #[serde(default)]
    pub topic_filter_type: TopicFilterType,
    pub topic_name: String,
    #[serde(default)]
    pub topic_sys_flag: i32,
    #[serde(default = "default_queue_nums")]
    pub write_queue_nums: i32,
}

impl TopicConfig {
    /// A topic with `queues` read and write queues and read+write permission.
    pub fn new(name: impl Into<String>, queues: i32) -> Self {
        Self {
            attributes: BTreeMap::new(),
            order: false,
            perm: default_perm(),
            read_queue_nums: queues,
            topic_filter_type: TopicFilterType::SingleTag,
            topic_name: name.into(),
            topic_sys_flag: 0,
            write_queue_nums: queues,
        }
    }

    /// The space-separated text of the deflated registration body.
    pub fn encode_text(&self) -> String {
        let filter = match self.topic_filter_type {
            TopicFilterType::SingleTag => "SINGLE_TAG",
            TopicFilterType::MultiTag => "MULTI_TAG",
        };
        let attributes = serde_json::to_string(&self.attributes).unwrap_or_default();
        format!(
            "{} {} {} {} {} {}",
            self.topic_name,
            self.read_queue_nums,
            self.write_queue_nums,
            self.perm,
            filter,
            attributes
        )
    }

    /// Parses that text (4.9 brokers write no attributes).
    pub fn decode_text(text: &str) -> Result<Self, HeaderError> {
        let bad = || HeaderError::Body(format!("bad topic config entry {text:?}"));
        let mut parts = text.splitn(6, ' ');
        let mut next = || parts.next().ok_or_else(bad);
        let topic_name = next()?.to_owned();
        let read_queue_nums = next()?.parse().map_err(|_| bad())?;
        let write_queue_nums = next()?.parse().map_err(|_| bad())?;
        let perm = next()?.parse().map_err(|_| bad())?;
        let topic_filter_type = match next()? {
            "SINGLE_TAG" => TopicFilterType::SingleTag,
            "MULTI_TAG" => TopicFilterType::MultiTag,
            _ => return Err(bad()),
        };
        // Java ignores attributes it cannot parse; so do we.
        let attributes = parts
            .next()
            .and_then(|json| fastjson::from_slice(json.as_bytes()).ok())
            .unwrap_or_default();
        Ok(Self {
            attributes,
            order: false,
            perm,
            read_queue_nums,
            topic_filter_type,
            topic_name,
            topic_sys_flag: 0,
            write_queue_nums,
        })
    }
}

/// `TopicConfigSerializeWrapper` (also the body of GET_ALL_TOPIC_CONFIG and `topics.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicConfigWrapper {
    #[serde(default)]
    pub data_version: DataVersion,
    #[serde(default)]
    pub topic_config_table: BTreeMap<String, TopicConfig>,
}

/// The body of REGISTER_BROKER.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterBrokerBody {
    #[serde(default)]
    pub filter_server_list: Vec<String>,
    #[serde(default)]
    pub topic_config_serialize_wrapper: TopicConfigWrapper,
}

impl RegisterBrokerBody {
    /// Decodes a body. 5.3+ brokers deflate without setting `compressed`, so a body that
    /// starts with a zlib header (0x78) is inflated whatever the flag says.
    pub fn decode(
        bytes: &[u8],
        compressed: bool,
        broker_version: i32,
    ) -> Result<Self, HeaderError> {
        if compressed || bytes.first() == Some(&0x78) {
            Self::decode_deflated(bytes, broker_version)
        } else if bytes.is_empty() {
            Ok(Self::default())
        } else {
            fastjson::from_slice(bytes)
                .map_err(|e| HeaderError::Body(format!("register broker body: {e}")))
        }
    }

    /// Encodes as JSON (`compressed=false`).
    pub fn encode_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Encodes in the deflated form, as a broker of `broker_version` would.
    pub fn encode_deflated(&self, broker_version: i32) -> Vec<u8> {
        let mut raw = Vec::new();
        let mut put = |bytes: &[u8]| {
            raw.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
            raw.extend_from_slice(bytes);
        };
        let wrapper = &self.topic_config_serialize_wrapper;
        put(&serde_json::to_vec(&wrapper.data_version).unwrap_or_default());
        raw.extend_from_slice(&(wrapper.topic_config_table.len() as i32).to_be_bytes());
        for config in wrapper.topic_config_table.values() {
            let text = config.encode_text();
            raw.extend_from_slice(&(text.len() as i32).to_be_bytes());
            raw.extend_from_slice(text.as_bytes());
        }
        let filters = serde_json::to_vec(&self.filter_server_list).unwrap_or_default();
        raw.extend_from_slice(&(filters.len() as i32).to_be_bytes());
        raw.extend_from_slice(&filters);
        if broker_version >= VERSION_WITH_MAPPINGS {
            raw.extend_from_slice(&0i32.to_be_bytes());
        }
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        // Writing into a Vec cannot fail.
        let _ = encoder.write_all(&raw);
        encoder.finish().unwrap_or_default()
    }

    fn decode_deflated(bytes: &[u8], broker_version: i32) -> Result<Self, HeaderError> {
        let bad = |what: String| HeaderError::Body(format!("deflated register body: {what}"));
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(bytes)
            .take(64 * 1024 * 1024)
            .read_to_end(&mut raw)
            .map_err(|e| bad(e.to_string()))?;
        let mut cur = Cursor::new(&raw);
        let chunk = |cur: &mut Cursor<'_>, what: &'static str| -> Result<Vec<u8>, HeaderError> {
            let len = cur.len_i32(what).map_err(|e| bad(e.to_string()))?;
            Ok(cur
                .bytes(len, what)
                .map_err(|e| bad(e.to_string()))?
                .to_vec())
        };
        let data_version: DataVersion = fastjson::from_slice(&chunk(&mut cur, "data version")?)
            .map_err(|e| bad(e.to_string()))?;
        let count = cur.len_i32("topic count").map_err(|e| bad(e.to_string()))?;
        let mut table = BTreeMap::new();
        for _ in 0..count {
            let entry = chunk(&mut cur, "topic config")?;
            let text = std::str::from_utf8(&entry).map_err(|e| bad(e.to_string()))?;
            let config = TopicConfig::decode_text(text)?;
            table.insert(config.topic_name.clone(), config);
        }
        let filters = chunk(&mut cur, "filter server list")?;
        // Java logs and ignores a filter list it cannot parse.
        let filter_server_list = fastjson::from_slice(&filters).unwrap_or_default();
        if broker_version >= VERSION_WITH_MAPPINGS && cur.remaining() > 0 {
            // Static-topic mappings are not supported; the section is read past.
            let mappings = cur
                .len_i32("mapping count")
                .map_err(|e| bad(e.to_string()))?;
            for _ in 0..mappings {
                chunk(&mut cur, "topic queue mapping")?;
            }
        }
        Ok(Self {
            filter_server_list,
            topic_config_serialize_wrapper: TopicConfigWrapper {
                data_version,
                topic_config_table: table,
            },
        })
    }
}
