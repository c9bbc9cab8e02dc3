//! Reading the JSON that fastjson 1.x writes, the way fastjson reads it.
//!
//! fastjson writes map keys that are not strings without quotes: numbers
//! (`{"brokerAddrs":{0:"127.0.0.1:10911"}}`) and even whole objects
//! (`{{"topic":"T","brokerName":"b","queueId":0}:5}`). That is not JSON. And it reads
//! values of one JSON type into fields of another (`"codeSet":["2598919"]` into a set of
//! ints), which clients rely on. [`from_slice`] parses standard, well-typed JSON directly;
//! only when that fails does it read the input as a JSON value — first rewriting every
//! unquoted key into a JSON string (`"0"`, `"{\"topic\":\"T\",…}"`) if that is what
//! keeps it from parsing — and deserialize that value with fastjson's conversions
//! ([`super::lenient`]). Apogee writes standard JSON, which every client accepts, except
//! for maps keyed by message queues: [`to_vec_object_keys`] writes those as fastjson does
//! (the Java admin tools read `TopicStatsTable`, `ConsumeStats`, `ResetOffsetBody` with
//! fastjson, which reads a message queue only from an object key).

use serde::de::DeserializeOwned;

/// Parses JSON written by fastjson (or anyone else) into `T`, converting mistyped values
/// as fastjson would.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    let first = match serde_json::from_slice(bytes) {
        Ok(value) => return Ok(value),
        Err(first) => first,
    };
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(_) => match quote_keys(bytes) {
            Some(fixed) => serde_json::from_slice(&fixed)?,
            None => return Err(first),
        },
    };
    super::lenient::from_value(&value)
}

/// A map key that is a message queue, written as fastjson writes it: an object with its
/// fields in alphabetical order, unquoted (see [`to_vec_object_keys`]).
pub fn queue_key(broker_name: &str, queue_id: i32, topic: &str) -> String {
    serde_json::json!({"brokerName": broker_name, "queueId": queue_id, "topic": topic}).to_string()
}

/// Serializes `value` as JSON, except that object keys made by [`queue_key`] (keys that are
/// a JSON object's text) are written unquoted, as fastjson writes non-string keys.
pub fn to_vec_object_keys<T: serde::Serialize>(value: &T) -> Vec<u8> {
    fn write(value: &serde_json::Value, out: &mut String) {
        match value {
            serde_json::Value::Object(map) => {
                out.push('{');
                for (i, (key, member)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let raw = key.starts_with('{')
                        && serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(key)
                            .is_ok();
                    if raw {
                        out.push_str(key);
                    } else {
                        out.push_str(&serde_json::Value::String(key.clone()).to_string());
                    }
                    out.push(':');
                    write(member, out);
                }
                out.push('}');
            }
            serde_json::Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    let mut out = String::new();
    write(&value, &mut out);
    out.into_bytes()
}

#[derive(Clone, Copy, PartialEq)]
enum Frame {
    Object { expect_key: bool },
    Array,
}

/// Rewrites unquoted object keys as JSON strings. Returns `None` when nothing needed
/// rewriting (the input's problem is something else) or the input is malformed.
pub fn quote_keys(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() + 16);
    let mut stack: Vec<Frame> = Vec::new();
    let mut rewrote = false;
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b.is_ascii_whitespace() {
            out.push(b);
            i += 1;
            continue;
        }
        if let Some(Frame::Object { expect_key: true }) = stack.last() {
            if b != b'"' && b != b'}' {
                let end = key_end(input, i)?;
                let key = trim(&input[i..end]);
                out.push(b'"');
                for &k in key {
                    if k == b'"' || k == b'\\' {
                        out.push(b'\\');
                    }
                    out.push(k);
                }
                out.push(b'"');
                rewrote = true;
                i = end;
                set_expect_key(&mut stack, false);
                continue;
            }
            if b == b'"' {
                set_expect_key(&mut stack, false);
            }
        }
        match b {
            b'"' => {
                let end = string_end(input, i)?;
                out.extend_from_slice(&input[i..end]);
                i = end;
                continue;
            }
            b'{' => stack.push(Frame::Object { expect_key: true }),
            b'[' => stack.push(Frame::Array),
            b'}' | b']' => {
                stack.pop()?;
            }
            b',' => {
                if let Some(Frame::Object { .. }) = stack.last() {
                    set_expect_key(&mut stack, true);
                }
            }
            _ => {}
        }
        out.push(b);
        i += 1;
    }
    rewrote.then_some(out)
}

fn set_expect_key(stack: &mut [Frame], value: bool) {
    if let Some(Frame::Object { expect_key }) = stack.last_mut() {
        *expect_key = value;
    }
}

/// Index just past the string starting at `start` (which holds `"`).
fn string_end(input: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < input.len() {
        match input[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Index of the `:` that ends an unquoted key starting at `start`; a key may be a whole
/// object or array, whose inner colons do not count.
fn key_end(input: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i < input.len() {
        match input[i] {
            b'"' => {
                i = string_end(input, i)?;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.checked_sub(1)?,
            b':' if depth == 0 => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |p| p + 1);
    &bytes[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn queue_keys_are_written_unquoted_and_read_back() {
        let mut table = BTreeMap::new();
        table.insert(
            queue_key("broker-a", 3, "T"),
            serde_json::json!({"maxOffset": 5}),
        );
        let body = serde_json::json!({"offsetTable": table, "note": "{not a key}"});
        let text = String::from_utf8(to_vec_object_keys(&body)).unwrap();
        assert_eq!(
            text,
            r#"{"note":"{not a key}","offsetTable":{{"brokerName":"broker-a","queueId":3,"topic":"T"}:{"maxOffset":5}}}"#
        );
        let back: serde_json::Value = from_slice(text.as_bytes()).unwrap();
        assert_eq!(
            back["offsetTable"][queue_key("broker-a", 3, "T")]["maxOffset"],
            5
        );
    }

    #[test]
    fn standard_json_is_parsed_as_is() {
        let map: BTreeMap<i64, String> = from_slice(br#"{"0":"a","1":"b"}"#).unwrap();
        assert_eq!(map[&1], "b");
        assert_eq!(quote_keys(br#"{"0":"a"}"#), None);
    }

    #[test]
    fn unquoted_numeric_keys_are_quoted() {
        let text = br#"{"brokerAddrs":{0:"127.0.0.1:10911", 1 :"127.0.0.2:10911"},"x":[{2:3}]}"#;
        assert_eq!(
            String::from_utf8(quote_keys(text).unwrap()).unwrap(),
            r#"{"brokerAddrs":{"0":"127.0.0.1:10911", "1":"127.0.0.2:10911"},"x":[{"2":3}]}"#
        );
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct B {
            broker_addrs: BTreeMap<i64, String>,
        }
        let b: B = from_slice(text).unwrap();
        assert_eq!(b.broker_addrs[&1], "127.0.0.2:10911");
    }

    #[test]
    fn object_keys_become_json_strings() {
        let text = br#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:5}}"#;
        let fixed = String::from_utf8(quote_keys(text).unwrap()).unwrap();
        assert_eq!(
            fixed,
            r#"{"offsetTable":{"{\"brokerName\":\"b\",\"queueId\":0,\"topic\":\"T\"}":5}}"#
        );
        let v: serde_json::Value = serde_json::from_str(&fixed).unwrap();
        assert_eq!(v["offsetTable"].as_object().unwrap().len(), 1);
    }

    #[test]
    fn strings_with_braces_and_escapes_are_left_alone() {
        let text = br#"{"a":"x{1:2}\"y",3:"z"}"#;
        assert_eq!(
            String::from_utf8(quote_keys(text).unwrap()).unwrap(),
            r#"{"a":"x{1:2}\"y","3":"z"}"#
        );
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bad in [&b"{1"[..], b"{{:", b"}", b"{\"a", b"{1:[}"] {
            assert!(from_slice::<serde_json::Value>(bad).is_err());
        }
    }
}
