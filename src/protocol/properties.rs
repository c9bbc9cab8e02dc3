//! Message properties: `name 0x01 value 0x02` repeated, and the well-known names.
//!
//! Parsing follows Java's `string2messageProperties`: split on 0x02; a pair needs at least
//! three characters and a 0x01 that is neither first nor last; a later duplicate overwrites
//! an earlier one. Reading never allocates.

pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
pub const PROPERTY_SEPARATOR: char = '\u{2}';

pub const KEYS: &str = "KEYS";
pub const TAGS: &str = "TAGS";
pub const UNIQ_KEY: &str = "UNIQ_KEY";
pub const WAIT_STORE_MSG_OK: &str = "WAIT";
pub const DELAY: &str = "DELAY";
pub const REAL_TOPIC: &str = "REAL_TOPIC";
pub const REAL_QUEUE_ID: &str = "REAL_QID";
/// RocketMQ 5's timer messages: the absolute time (ms), or a delay in ms or seconds.
pub const TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
pub const TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
pub const TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
/// Set by the broker: the timer's slot time (the deliver time floored to the precision).
pub const TIMER_OUT_MS: &str = "TIMER_OUT_MS";
/// Set at delivery: when the timer entered the wheel, and when it left it.
pub const TIMER_ENQUEUE_MS: &str = "TIMER_ENQUEUE_MS";
pub const TIMER_DEQUEUE_MS: &str = "TIMER_DEQUEUE_MS";
pub const TRANSACTION_PREPARED: &str = "TRAN_MSG";
pub const PRODUCER_GROUP: &str = "PGROUP";
pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
pub const MIN_OFFSET: &str = "MIN_OFFSET";
pub const MAX_OFFSET: &str = "MAX_OFFSET";
pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
pub const MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
pub const MSG_REGION: &str = "MSG_REGION";
pub const TRACE_ON: &str = "TRACE_ON";
pub const CLUSTER: &str = "CLUSTER";
pub const REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
pub const CORRELATION_ID: &str = "CORRELATION_ID";
pub const PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";
pub const CHECK_IMMUNITY_TIME_IN_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";
/// The transaction id a half carries (`TransactionalMessageUtil.TRANSACTION_ID`).
pub const TRANSACTION_ID: &str = "__transactionId__";

/// Iterates the (name, value) pairs of a properties string, in order, duplicates included.
pub fn iter(properties: &str) -> impl Iterator<Item = (&str, &str)> {
    properties.split(PROPERTY_SEPARATOR).filter_map(|pair| {
        if pair.len() < 3 {
            return None;
        }
        let at = pair.find(NAME_VALUE_SEPARATOR)?;
        (at != 0 && at != pair.len() - 1).then(|| (&pair[..at], &pair[at + 1..]))
    })
}

/// The value of one property (the last occurrence wins, as in Java's map).
pub fn get<'a>(properties: &'a str, name: &str) -> Option<&'a str> {
    iter(properties)
        .filter(|(n, _)| *n == name)
        .last()
        .map(|(_, v)| v)
}

/// Appends `name 0x01 value 0x02` to `out`.
pub fn push(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push(NAME_VALUE_SEPARATOR);
    out.push_str(value);
    out.push(PROPERTY_SEPARATOR);
}

/// Whether `name` is one of the properties (not part of another name or a value).
fn has(properties: &str, name: &str) -> bool {
    properties.match_indices(name).any(|(at, _)| {
        (at == 0 || properties[..at].ends_with(PROPERTY_SEPARATOR))
            && properties[at + name.len()..].starts_with(NAME_VALUE_SEPARATOR)
    })
}

/// `properties` with `name` set to `value`, as Java's `putProperty` and re-encoding leave
/// it: appended when absent (the common case: one copy, no parse), kept when already so,
/// replaced when different.
pub fn with(properties: &str, name: &str, value: &str) -> String {
    let present = has(properties, name);
    let mut out = String::with_capacity(properties.len() + name.len() + value.len() + 3);
    if !present {
        out.push_str(properties);
        if !out.is_empty() && !out.ends_with(PROPERTY_SEPARATOR) {
            out.push(PROPERTY_SEPARATOR);
        }
    } else if get(properties, name) == Some(value) {
        out.push_str(properties);
        return out;
    } else {
        for (n, v) in iter(properties).filter(|(n, _)| *n != name) {
            push(&mut out, n, v);
        }
    }
    push(&mut out, name, value);
    out
}

/// `properties` with each of `pairs` set (as [`with`] one after another), in one
/// allocation when none of them is present yet (the send path's case).
pub fn with_all(properties: &str, pairs: &[(&str, &str)]) -> String {
    if pairs.iter().any(|(name, _)| has(properties, name)) {
        return pairs
            .iter()
            .fold(properties.to_owned(), |acc, (n, v)| with(&acc, n, v));
    }
    let extra: usize = pairs.iter().map(|(n, v)| n.len() + v.len() + 2).sum();
    let mut out = String::with_capacity(properties.len() + extra);
    out.push_str(properties);
    if !out.is_empty() && !out.ends_with(PROPERTY_SEPARATOR) {
        out.push(PROPERTY_SEPARATOR);
    }
    for (name, value) in pairs {
        push(&mut out, name, value);
    }
    out
}

/// Encodes pairs into a properties string.
pub fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (name, value) in pairs {
        push(&mut out, name, value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_all_sets_several_as_with_does() {
        let tagged = encode([(TAGS, "a")]);
        let pairs = [
            (CLUSTER, "c"),
            (MSG_REGION, "DefaultRegion"),
            (TRACE_ON, "true"),
        ];
        let one_by_one = |p: &str| {
            pairs
                .iter()
                .fold(p.to_owned(), |acc, (n, v)| with(&acc, n, v))
        };
        for start in [
            tagged.clone(),
            String::new(),
            "TAGS\u{1}a".into(),
            encode([(TAGS, "a"), (TRACE_ON, "false")]),
        ] {
            assert_eq!(with_all(&start, &pairs), one_by_one(&start), "{start:?}");
        }
        assert_eq!(
            with_all(&tagged, &pairs),
            encode([
                (TAGS, "a"),
                (CLUSTER, "c"),
                (MSG_REGION, "DefaultRegion"),
                (TRACE_ON, "true")
            ])
        );
    }

    #[test]
    fn with_sets_one_property() {
        let tagged = encode([(TAGS, "a"), (KEYS, "k")]);
        assert_eq!(
            with(&tagged, CLUSTER, "c"),
            encode([(TAGS, "a"), (KEYS, "k"), (CLUSTER, "c")])
        );
        assert_eq!(with("", CLUSTER, "c"), encode([(CLUSTER, "c")]));
        // Without the trailing separator, as some clients write.
        assert_eq!(
            with("TAGS\u{1}a", CLUSTER, "c"),
            encode([(TAGS, "a"), (CLUSTER, "c")])
        );
        let stamped = with(&tagged, CLUSTER, "c");
        assert_eq!(with(&stamped, CLUSTER, "c"), stamped);
        assert_eq!(
            with(&stamped, CLUSTER, "d"),
            encode([(TAGS, "a"), (KEYS, "k"), (CLUSTER, "d")])
        );
        // A name inside another name or value is not the property.
        let lookalike = encode([("XCLUSTER", "1"), (KEYS, "CLUSTER")]);
        assert_eq!(get(&with(&lookalike, CLUSTER, "c"), CLUSTER), Some("c"));
        assert_eq!(with(&lookalike, CLUSTER, "c").len(), lookalike.len() + 10);
    }

    #[test]
    fn parses_like_java() {
        let props =
            "TAGS\u{1}TagA\u{2}KEYS\u{1}k1 k2\u{2}\u{1}x\u{2}y\u{1}\u{2}ab\u{2}TAGS\u{1}TagB\u{2}";
        let pairs: Vec<_> = iter(props).collect();
        assert_eq!(
            pairs,
            vec![("TAGS", "TagA"), ("KEYS", "k1 k2"), ("TAGS", "TagB")]
        );
        assert_eq!(get(props, TAGS), Some("TagB"));
        assert_eq!(get(props, UNIQ_KEY), None);
        // Without the trailing separator (what some clients write).
        assert_eq!(get("WAIT\u{1}true", WAIT_STORE_MSG_OK), Some("true"));
        assert_eq!(encode([("A", "1"), ("B", "2")]), "A\u{1}1\u{2}B\u{1}2\u{2}");
    }
}
