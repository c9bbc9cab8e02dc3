//! [`ExtFields`]: the "custom header" of a command, name → text.
//!
//! Headers are small (5–20 fields) and decoded once per request on the hot path, so the
//! fields live in one text buffer with a vector of spans: decoding a header costs two
//! allocations, not two per field. Lookups scan linearly (fast at these sizes). Entries keep
//! the order they came in; when a name repeats, the last entry wins (like Java's `HashMap`).

use std::fmt;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

#[derive(Clone, Copy, PartialEq, Eq)]
struct Span {
    key: (u32, u32),
    value: (u32, u32),
}

#[derive(Clone, Default)]
pub struct ExtFields {
    text: String,
    spans: Vec<Span>,
}

impl ExtFields {
    pub const fn new() -> Self {
        Self {
            text: String::new(),
            spans: Vec::new(),
        }
    }

    /// Room for `entries` fields totalling `text_bytes` bytes of names and values.
    pub fn with_capacity(entries: usize, text_bytes: usize) -> Self {
        Self {
            text: String::with_capacity(text_bytes),
            spans: Vec::with_capacity(entries),
        }
    }

    fn push_str(&mut self, s: &str) -> (u32, u32) {
        let start = self.text.len() as u32;
        self.text.push_str(s);
        (start, self.text.len() as u32)
    }

    /// Appends a field without looking for an earlier one of the same name (decoders use
    /// this: linear in the input, whatever it holds). A later entry shadows an earlier one.
    pub fn append(&mut self, key: &str, value: &str) {
        let key = self.push_str(key);
        let value = self.push_str(value);
        self.spans.push(Span { key, value });
    }

    /// Sets a field, replacing any entry of the same name.
    pub fn insert(&mut self, key: &str, value: &str) {
        self.remove(key);
        self.append(key, value);
    }

    /// Removes every entry of this name; returns whether there was one.
    pub fn remove(&mut self, key: &str) -> bool {
        let before = self.spans.len();
        let text = &self.text;
        self.spans
            .retain(|span| &text[span.key.0 as usize..span.key.1 as usize] != key);
        before != self.spans.len()
    }

    fn slice(&self, (start, end): (u32, u32)) -> &str {
        &self.text[start as usize..end as usize]
    }

    /// The value of a field (the last entry of that name).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.spans
            .iter()
            .rev()
            .find(|span| self.slice(span.key) == key)
            .map(|span| self.slice(span.value))
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Entries in their order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.spans
            .iter()
            .map(|span| (self.slice(span.key), self.slice(span.value)))
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

impl PartialEq for ExtFields {
    /// Same entries in the same order.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for ExtFields {}

impl fmt::Debug for ExtFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for ExtFields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut fields = Self::new();
        for (key, value) in iter {
            fields.insert(key.as_ref(), value.as_ref());
        }
        fields
    }
}

impl Serialize for ExtFields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (key, value) in self.iter() {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_replaces_append_shadows_and_order_is_kept() {
        let mut fields = ExtFields::new();
        fields.insert("b", "1");
        fields.insert("a", "2");
        fields.insert("b", "3");
        assert_eq!(
            fields.iter().collect::<Vec<_>>(),
            vec![("a", "2"), ("b", "3")]
        );
        fields.append("a", "4");
        assert_eq!(fields.get("a"), Some("4"));
        assert_eq!(fields.len(), 3);
        assert!(fields.remove("a"));
        assert_eq!(fields.get("a"), None);
        assert_eq!(format!("{fields:?}"), r#"{"b": "3"}"#);
        assert_eq!(serde_json::to_string(&fields).unwrap(), r#"{"b":"3"}"#);
    }
}
