//! Reading a pull from the store: RocketMQ's `getMessage` status table, as a plain function.
//!
//! | situation | next begin offset | response |
//! |---|---|---|
//! | no such queue, or an empty one | 0 | PULL_OFFSET_MOVED if the offset ≠ 0, else PULL_NOT_FOUND |
//! | offset < min | min | PULL_OFFSET_MOVED |
//! | offset == max | offset | PULL_NOT_FOUND (held when the client allows suspension) |
//! | offset > max | max | PULL_OFFSET_MOVED |
//! | messages found | last returned + 1 | SUCCESS, body = the records |
//! | only non-matching messages scanned | after the last scanned | PULL_RETRY_IMMEDIATELY |
//! | units point into deleted log files | after them | PULL_RETRY_IMMEDIATELY |

use bytes::{BufMut, Bytes, BytesMut};

use crate::filter;
use crate::protocol::ResponseCode;
use crate::store::{QueueKey, Store, Unit};

/// Most messages / bytes one pull returns (RocketMQ: 32 messages / 256 KiB from memory).
pub const MAX_TRANSFER_MSGS: usize = 32;
pub const MAX_TRANSFER_BYTES: usize = 256 * 1024;
/// Most consume-queue units one pull looks at (RocketMQ: 16 000 bytes of queue).
const MAX_SCAN_UNITS: usize = 800;

/// Which messages a consumer wants, judged from the consume-queue unit and, if needed, the
/// record itself.
pub trait MessageFilter {
    /// Broker-side check on the tag hash in the unit.
    fn matches_unit(&self, unit: &Unit) -> bool;
    /// Check on the record's properties (SQL92); `true` when the unit check is enough.
    fn matches_properties(&self, _properties: &str) -> bool {
        true
    }
    /// Whether [`Self::matches_properties`] must be consulted.
    fn needs_properties(&self) -> bool {
        false
    }
}

/// Every message matches.
pub struct All;

impl MessageFilter for All {
    fn matches_unit(&self, _: &Unit) -> bool {
        true
    }
}

/// The outcome of a pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    pub code: ResponseCode,
    pub next_begin_offset: i64,
    pub min_offset: i64,
    pub max_offset: i64,
    pub body: Bytes,
    pub messages: usize,
    /// Commit-log offset of the last message read (0: none): how far behind the log's
    /// end this consumer is decides whether it is sent to a slave.
    pub last_physical: u64,
}

/// Reads up to `max_msgs` matching messages of `key` from `offset` on.
pub fn read(
    store: &Store,
    key: &QueueKey,
    offset: i64,
    max_msgs: usize,
    filter: &dyn MessageFilter,
) -> Pulled {
    let empty = |code, next: i64, min: i64, max: i64| Pulled {
        code,
        next_begin_offset: next,
        min_offset: min,
        max_offset: max,
        body: Bytes::new(),
        messages: 0,
        last_physical: 0,
    };
    let moved_or_not_found = |offset: i64| {
        if offset != 0 {
            ResponseCode::PULL_OFFSET_MOVED
        } else {
            ResponseCode::PULL_NOT_FOUND
        }
    };
    let Some(cq) = store.consume_queue(key) else {
        return empty(moved_or_not_found(offset), 0, 0, 0);
    };
    let (min, max) = (cq.min_offset() as i64, cq.max_offset() as i64);
    if max == 0 {
        return empty(moved_or_not_found(offset), 0, min, max);
    }
    if offset < min {
        return empty(ResponseCode::PULL_OFFSET_MOVED, min, min, max);
    }
    if offset == max {
        return empty(ResponseCode::PULL_NOT_FOUND, offset, min, max);
    }
    if offset > max {
        return empty(ResponseCode::PULL_OFFSET_MOVED, max, min, max);
    }
    let max_msgs = max_msgs.clamp(1, MAX_TRANSFER_MSGS);
    let log_min = store.commit_log().min_offset();
    let mut body = BytesMut::new();
    let mut messages = 0;
    let mut next = offset;
    let mut last_physical = 0;
    for (queue_offset, unit) in cq.units(offset as u64, MAX_SCAN_UNITS.max(max_msgs)) {
        if messages >= max_msgs
            || (messages > 0 && body.len() + unit.size as usize > MAX_TRANSFER_BYTES)
        {
            break;
        }
        next = queue_offset as i64 + 1;
        if unit == Unit::BLANK || unit.physical_offset < log_min || !filter.matches_unit(&unit) {
            continue;
        }
        let Some(record) = store.read(unit.physical_offset, unit.size as usize) else {
            continue;
        };
        if filter.needs_properties() {
            let matches = store
                .with_record(unit.physical_offset, |r| {
                    filter.matches_properties(r.properties)
                })
                .unwrap_or(false);
            if !matches {
                continue;
            }
        }
        body.put_slice(&record);
        messages += 1;
        last_physical = unit.physical_offset;
    }
    Pulled {
        code: if messages > 0 {
            ResponseCode::SUCCESS
        } else {
            ResponseCode::PULL_RETRY_IMMEDIATELY
        },
        next_begin_offset: next,
        min_offset: min,
        max_offset: max,
        body: body.freeze(),
        messages,
        last_physical,
    }
}

/// A compiled subscription (tag expression or SQL92 selector) as the pull path uses it:
/// tags on the consume-queue hash, SQL92 on the record's properties read in place.
#[derive(Debug)]
pub struct SubscriptionFilter(pub filter::Filter);

impl SubscriptionFilter {
    /// Compiles `expression` of the given `expressionType` (absent / `TAG` / `SQL92`).
    pub fn compile(
        expression_type: Option<&str>,
        expression: &str,
    ) -> Result<Self, filter::FilterError> {
        let kind = filter::ExpressionType::from_header(expression_type)?;
        filter::compile(kind, expression).map(Self)
    }

    pub fn is_sql(&self) -> bool {
        matches!(self.0, filter::Filter::Sql(_))
    }
}

/// A record's properties string, read without copying.
struct RecordProperties<'a>(&'a str);

impl filter::Properties for RecordProperties<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        crate::protocol::properties::get(self.0, name)
    }
}

impl MessageFilter for SubscriptionFilter {
    fn matches_unit(&self, unit: &Unit) -> bool {
        match &self.0 {
            filter::Filter::Tag(tags) => tags.matches_code(unit.tags_code),
            filter::Filter::Sql(_) => true,
        }
    }

    fn needs_properties(&self) -> bool {
        self.is_sql()
    }

    fn matches_properties(&self, properties: &str) -> bool {
        match &self.0 {
            filter::Filter::Tag(_) => true,
            filter::Filter::Sql(sql) => sql.evaluate(&RecordProperties(properties)),
        }
    }
}

/// Store timestamp of the message at `queue_offset`.
pub fn store_time_at(store: &Store, key: &QueueKey, queue_offset: u64) -> Option<i64> {
    let unit = store.consume_queue(key)?.unit(queue_offset)?;
    store.with_record(unit.physical_offset, |r| r.store_timestamp)
}

/// SEARCH_OFFSET_BY_TIMESTAMP: the first offset stored at or after `timestamp` (the max
/// offset if none), or with `upper` the last offset stored at or before it.
pub fn search_by_time(store: &Store, key: &QueueKey, timestamp: i64, upper: bool) -> i64 {
    let Some(cq) = store.consume_queue(key) else {
        return 0;
    };
    let (min, max) = (cq.min_offset(), cq.max_offset());
    // Store timestamps grow with the log: binary search for the first time > or >= ts.
    let (mut lo, mut hi) = (min, max);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let time = store_time_at(store, key, mid).unwrap_or(i64::MAX);
        let before = if upper {
            time <= timestamp
        } else {
            time < timestamp
        };
        if before {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if upper {
        lo.saturating_sub(1).max(min) as i64
    } else {
        lo as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(tag: &str) -> Unit {
        Unit {
            physical_offset: 0,
            size: 100,
            tags_code: i64::from(crate::protocol::message::java_hash(tag)),
        }
    }

    #[test]
    fn subscription_filters_match_tags_by_hash_and_sql_by_properties() {
        let tags = SubscriptionFilter::compile(None, " TagA || TagB ").unwrap();
        assert!(tags.matches_unit(&unit("TagA")) && tags.matches_unit(&unit("TagB")));
        assert!(!tags.matches_unit(&unit("TagC")));
        assert!(SubscriptionFilter::compile(Some("TAG"), "*")
            .unwrap()
            .matches_unit(&unit("x")));
        let sql = SubscriptionFilter::compile(Some("SQL92"), "a BETWEEN 3 AND 5").unwrap();
        assert!(sql.needs_properties() && sql.matches_unit(&unit("anything")));
        assert!(sql.matches_properties("a\u{1}4\u{2}"));
        assert!(!sql.matches_properties("a\u{1}6\u{2}"));
        assert!(
            !sql.matches_properties("b\u{1}4\u{2}"),
            "missing property: unknown, not true"
        );
        assert!(SubscriptionFilter::compile(Some("SQL92"), "a >").is_err());
        assert!(SubscriptionFilter::compile(Some("XML"), "a").is_err());
    }
}
