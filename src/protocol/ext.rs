//! Typed header structs ↔ `extFields`.
//!
//! RocketMQ flattens a header class into a map of strings: numbers in decimal, booleans as
//! `true`/`false`, null fields left out. Decoding goes by field name and ignores unknown
//! names. Here a header is any serde struct (camelCase names as Java's fields): decoding
//! runs a small serde `Deserializer` whose values parse themselves into whatever type the
//! field asks for; encoding goes through `serde_json::Value` and prints each leaf.

use serde::de::{self, DeserializeOwned, IntoDeserializer, MapAccess, Visitor};
use serde::Serialize;

use super::command::ExtFields;
use super::error::HeaderError;

/// Decodes a typed header from ext fields.
pub fn from_ext_fields<H: DeserializeOwned>(fields: &ExtFields) -> Result<H, HeaderError> {
    H::deserialize(FieldsDeserializer { fields })
}

/// Encodes a typed header into ext fields; `None` fields are left out.
pub fn to_ext_fields<H: Serialize>(header: &H) -> ExtFields {
    let mut out = ExtFields::new();
    // A header is a flat struct of strings, numbers, booleans and options: it always
    // serializes to an object, so the error and non-object arms cannot occur.
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(header) {
        for (name, value) in map {
            let text = match value {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            out.append(&name, &text);
        }
    }
    out
}

struct FieldsDeserializer<'a> {
    fields: &'a ExtFields,
}

impl<'de, 'a> de::Deserializer<'de> for FieldsDeserializer<'a> {
    type Error = HeaderError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, HeaderError> {
        visitor.visit_map(FieldsAccess {
            iter: self.fields.iter(),
            value: None,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct FieldsAccess<'a, I> {
    iter: I,
    value: Option<(&'a str, &'a str)>,
}

impl<'de, 'a, I: Iterator<Item = (&'a str, &'a str)>> MapAccess<'de> for FieldsAccess<'a, I> {
    type Error = HeaderError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, HeaderError> {
        match self.iter.next() {
            Some((name, value)) => {
                self.value = Some((name, value));
                seed.deserialize(name.into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, HeaderError> {
        let (name, text) = self
            .value
            .take()
            .ok_or_else(|| HeaderError::Field("value requested before key".into()))?;
        seed.deserialize(TextDeserializer { name, text })
    }
}

/// One ext-field value: parses itself into the requested type.
struct TextDeserializer<'a> {
    name: &'a str,
    text: &'a str,
}

impl TextDeserializer<'_> {
    fn invalid(&self, expected: &str) -> HeaderError {
        HeaderError::Field(format!(
            "field `{}`: expected {expected}, found {:?}",
            self.name, self.text
        ))
    }
}

macro_rules! parse_number {
    ($($method:ident => $visit:ident : $ty:ty,)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, HeaderError> {
                match self.text.trim().parse::<$ty>() {
                    Ok(n) => visitor.$visit(n),
                    Err(_) => Err(self.invalid(stringify!($ty))),
                }
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for TextDeserializer<'_> {
    type Error = HeaderError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, HeaderError> {
        visitor.visit_str(self.text)
    }

    parse_number! {
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_f32 => visit_f32: f32,
        deserialize_f64 => visit_f64: f64,
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, HeaderError> {
        // Java's Boolean.parseBoolean: "true" in any case is true, anything else false.
        visitor.visit_bool(self.text.trim().eq_ignore_ascii_case("true"))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, HeaderError> {
        visitor.visit_some(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, HeaderError> {
        visitor.visit_enum(self.text.into_deserializer())
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, HeaderError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Sample {
        topic: String,
        queue_id: i32,
        offset: i64,
        order: bool,
        remark: Option<String>,
        max: Option<u32>,
    }

    fn fields(pairs: &[(&str, &str)]) -> ExtFields {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_strings_into_typed_fields_and_ignores_unknown_ones() {
        let ext = fields(&[
            ("topic", "T"),
            ("queueId", "3"),
            ("offset", "-12"),
            ("order", "TRUE"),
            ("bname", "broker-a"),
        ]);
        let sample: Sample = from_ext_fields(&ext).unwrap();
        assert_eq!(
            sample,
            Sample {
                topic: "T".into(),
                queue_id: 3,
                offset: -12,
                order: true,
                remark: None,
                max: None
            }
        );
    }

    #[test]
    fn round_trips_through_ext_fields() {
        let sample = Sample {
            topic: "T".into(),
            queue_id: 1,
            offset: 1 << 40,
            order: false,
            remark: Some("x".into()),
            max: Some(7),
        };
        let ext = to_ext_fields(&sample);
        assert_eq!(ext.get("offset"), Some("1099511627776"));
        assert_eq!(ext.get("order"), Some("false"));
        assert_eq!(from_ext_fields::<Sample>(&ext).unwrap(), sample);
        let none = Sample {
            remark: None,
            max: None,
            ..sample
        };
        assert!(!to_ext_fields(&none).contains_key("remark"));
    }

    #[test]
    fn reports_missing_and_malformed_fields() {
        let missing = from_ext_fields::<Sample>(&fields(&[("topic", "T")])).unwrap_err();
        assert_eq!(
            missing,
            HeaderError::Field("missing field `queueId`".into())
        );
        let bad = from_ext_fields::<Sample>(&fields(&[
            ("topic", "T"),
            ("queueId", "x1"),
            ("offset", "0"),
            ("order", "false"),
        ]))
        .unwrap_err();
        assert_eq!(
            bad,
            HeaderError::Field("field `queueId`: expected i32, found \"x1\"".into())
        );
    }
}
