//! fastjson's lenient typing, as one serde `Deserializer` over a parsed JSON value.
//!
//! The Java broker reads every JSON body and header with fastjson 1.x, which converts a
//! value into whatever type the field has instead of refusing it. Clients lean on that:
//! the Go client writes a subscription's `codeSet` as strings (`["2598919"]`). Apogee reads
//! with serde, strictly typed; [`super::fastjson::from_slice`] tries that first and, when
//! it fails, reads the input as a [`Value`] and deserializes it through [`Lenient`], which
//! makes the conversions fastjson makes (`TypeUtils.castTo*`, the field deserializers):
//!
//! | field type | also accepted                                                        |
//! |------------|----------------------------------------------------------------------|
//! | integer    | a string of an integer (`"12"`, `" 12 "`, `"1,024"`, `"12.00"`), a decimal number (truncated toward zero, as Java's `intValue`), `true` / `false` (1 / 0), `""`, `"null"` and `null` (the field's default) |
//! | float      | a numeric string, `true` / `false`, `""` / `null` (0)               |
//! | boolean    | `1` (true) and any other number (false); `"true"` / `"false"` in any case, `"1"` / `"0"`, `"Y"` / `"T"`, `"N"` / `"F"`; `""`, `"null"`, `null` (false) |
//! | string     | a number (its text), a boolean (`"true"`), an object or array (its JSON text), `null` (`""`) |
//! | list, set  | `null` and `""` (empty); a `null` element is the element type's default |
//! | map        | `null` and `""` (empty); numeric keys are parsed from their text    |
//! | object     | `null` and `""` (every field at its default); a member whose value is `null` counts as absent, so it takes the field's default as fastjson leaves a Java field at its initial value; unknown members are ignored |
//! | enum       | its name, or its ordinal                                             |
//!
//! Not converted (fastjson would): a date string into a number, a scalar into a list. A
//! value that cannot be converted is an error naming what was expected and found.

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess, Unexpected,
    VariantAccess, Visitor,
};
use serde::Deserialize;
use serde_json::{Error, Value};

static NULL: Value = Value::Null;

/// Deserializes `T` from `value`, converting types as fastjson does.
pub fn from_value<'a, T: Deserialize<'a>>(value: &'a Value) -> Result<T, Error> {
    T::deserialize(Lenient(value))
}

/// A JSON value that converts itself into whatever type is asked of it.
#[derive(Clone, Copy)]
pub struct Lenient<'a>(pub &'a Value);

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Unexpected::Signed(i),
            (None, Some(u)) => Unexpected::Unsigned(u),
            _ => Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

/// What fastjson reads as "no value": the field keeps its default.
fn is_blank(text: &str) -> bool {
    let text = text.trim();
    text.is_empty() || text == "null" || text == "NULL"
}

/// An integer from text, as `TypeUtils.castToInt` / `castToLong` read it: blank is 0,
/// thousands separators and a trailing `.000` are dropped.
fn integer_from_str(text: &str) -> Option<i128> {
    if is_blank(text) {
        return Some(0);
    }
    let text = text.trim();
    let cleaned: String;
    let mut text = if text.contains(',') {
        cleaned = text.replace(',', "");
        cleaned.as_str()
    } else {
        text
    };
    if let Some(dot) = text.find('.') {
        if text[dot + 1..].bytes().all(|b| b == b'0') {
            text = &text[..dot];
        }
    }
    text.parse().ok()
}

/// A boolean from text, as `TypeUtils.castToBoolean` reads it; blank is false.
fn bool_from_str(text: &str) -> Option<bool> {
    let text = text.trim();
    if is_blank(text) {
        return Some(false);
    }
    if text.eq_ignore_ascii_case("true") || text == "1" {
        return Some(true);
    }
    if text.eq_ignore_ascii_case("false") || text == "0" {
        return Some(false);
    }
    match text {
        "Y" | "y" | "T" | "t" => Some(true),
        "N" | "n" | "F" | "f" => Some(false),
        _ => None,
    }
}

fn float_from_str(text: &str) -> Option<f64> {
    if is_blank(text) {
        return Some(0.0);
    }
    text.trim().replace(',', "").parse().ok()
}

impl<'a> Lenient<'a> {
    fn invalid(&self, expected: &str) -> Error {
        de::Error::invalid_type(unexpected(self.0), &expected)
    }

    fn integer(&self, expected: &str) -> Result<i128, Error> {
        let n = match self.0 {
            Value::Null => Some(0),
            Value::Bool(b) => Some(i128::from(*b)),
            Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => Some(i128::from(i)),
                (None, Some(u), _) => Some(i128::from(u)),
                // Java's intValue / longValue of a decimal: toward zero.
                (None, None, Some(f)) if f.is_finite() && f.abs() < 1e38 => Some(f.trunc() as i128),
                _ => None,
            },
            Value::String(s) => integer_from_str(s),
            Value::Array(_) | Value::Object(_) => None,
        };
        n.ok_or_else(|| self.invalid(expected))
    }

    fn float(&self) -> Result<f64, Error> {
        let f = match self.0 {
            Value::Null => Some(0.0),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Number(n) => n.as_f64(),
            Value::String(s) => float_from_str(s),
            Value::Array(_) | Value::Object(_) => None,
        };
        f.ok_or_else(|| self.invalid("a number"))
    }

    /// `null` and `""` stand for an empty container.
    fn is_empty_container(&self) -> bool {
        match self.0 {
            Value::Null => true,
            Value::String(s) => is_blank(s),
            _ => false,
        }
    }
}

macro_rules! integers {
    ($($method:ident => $visit:ident : $ty:ty,)*) => {
        $(
            fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
                let n = self.integer(stringify!($ty))?;
                match <$ty>::try_from(n) {
                    Ok(n) => visitor.$visit(n),
                    Err(_) => Err(de::Error::invalid_value(
                        unexpected(self.0),
                        &concat!("a value that fits ", stringify!($ty)),
                    )),
                }
            }
        )*
    };
}

impl<'a> de::Deserializer<'a> for Lenient<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => visitor.visit_u64(u),
                (None, Some(i), _) => visitor.visit_i64(i),
                (None, None, Some(f)) => visitor.visit_f64(f),
                _ => Err(self.invalid("a number")),
            },
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => visitor.visit_seq(Items(items.iter())),
            Value::Object(map) => visitor.visit_map(Members::new(map)),
        }
    }

    integers! {
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_i128 => visit_i128: i128,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_u128 => visit_u128: u128,
    }

    fn deserialize_f32<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_f32(self.float()? as f32)
    }

    fn deserialize_f64<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_f64(self.float()?)
    }

    fn deserialize_bool<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        let b = match self.0 {
            Value::Null => Some(false),
            Value::Bool(b) => Some(*b),
            // fastjson: `intValue() == 1`.
            Value::Number(_) => Some(self.integer("a boolean")? == 1),
            Value::String(s) => bool_from_str(s),
            Value::Array(_) | Value::Object(_) => None,
        };
        match b {
            Some(b) => visitor.visit_bool(b),
            None => Err(self.invalid("a boolean")),
        }
    }

    fn deserialize_char<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::String(s) if s.chars().count() == 1 => {
                visitor.visit_char(s.chars().next().unwrap_or_default())
            }
            _ => self.deserialize_str(visitor),
        }
    }

    fn deserialize_str<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Null => visitor.visit_borrowed_str(""),
            Value::Bool(b) => visitor.visit_borrowed_str(if *b { "true" } else { "false" }),
            // A number's text; an object's or array's JSON text.
            other => visitor.visit_string(other.to_string()),
        }
    }

    fn deserialize_string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::String(s) => visitor.visit_borrowed_bytes(s.as_bytes()),
            _ => self.deserialize_seq(visitor),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Array(items) => visitor.visit_seq(Items(items.iter())),
            _ if self.is_empty_container() => visitor.visit_seq(Items([].iter())),
            _ => Err(self.invalid("an array")),
        }
    }

    fn deserialize_tuple<V: Visitor<'a>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        static EMPTY: std::sync::OnceLock<serde_json::Map<String, Value>> =
            std::sync::OnceLock::new();
        match self.0 {
            Value::Object(map) => visitor.visit_map(Members::new(map)),
            _ if self.is_empty_container() => {
                visitor.visit_map(Members::new(EMPTY.get_or_init(serde_json::Map::new)))
            }
            _ => Err(self.invalid("an object")),
        }
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::Array(items) => visitor.visit_seq(Items(items.iter())),
            _ => self.deserialize_map(visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::String(_) | Value::Number(_) => visitor.visit_enum(Variant(self)),
            Value::Object(map) if map.len() == 1 => {
                let (name, content) = map.iter().next().map_or(("", &NULL), |(k, v)| (k, v));
                visitor.visit_enum(KeyedVariant { name, content })
            }
            _ => Err(self.invalid("an enum name or ordinal")),
        }
    }

    fn deserialize_identifier<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Number(_) => {
                let n = self.integer("a variant index")?;
                visitor.visit_u64(u64::try_from(n).map_err(|_| self.invalid("a variant index"))?)
            }
            _ => self.deserialize_str(visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

/// An array's elements.
struct Items<'a>(std::slice::Iter<'a, Value>);

impl<'a> SeqAccess<'a> for Items<'a> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0
            .next()
            .map(|item| seed.deserialize(Lenient(item)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// An object's members, less those whose value is `null` (absent, as fastjson treats them).
struct Members<'a> {
    iter: serde_json::map::Iter<'a>,
    value: &'a Value,
}

impl<'a> Members<'a> {
    fn new(map: &'a serde_json::Map<String, Value>) -> Self {
        Self {
            iter: map.iter(),
            value: &NULL,
        }
    }
}

impl<'a> MapAccess<'a> for Members<'a> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        for (key, value) in self.iter.by_ref() {
            if value.is_null() {
                continue;
            }
            self.value = value;
            return seed.deserialize(Key(key)).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(Lenient(std::mem::replace(&mut self.value, &NULL)))
    }
}

/// An object key: text that parses itself into a number or boolean when one is asked for
/// (`{"0":…}` into a map keyed by queue id).
struct Key<'a>(&'a str);

impl Key<'_> {
    fn invalid(&self, expected: &str) -> Error {
        de::Error::invalid_type(Unexpected::Str(self.0), &expected)
    }
}

macro_rules! key_integers {
    ($($method:ident => $visit:ident : $ty:ty,)*) => {
        $(
            fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
                match integer_from_str(self.0).and_then(|n| <$ty>::try_from(n).ok()) {
                    Some(n) => visitor.$visit(n),
                    None => Err(self.invalid(stringify!($ty))),
                }
            }
        )*
    };
}

impl<'a> de::Deserializer<'a> for Key<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_borrowed_str(self.0)
    }

    key_integers! {
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
    }

    fn deserialize_bool<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match bool_from_str(self.0) {
            Some(b) => visitor.visit_bool(b),
            None => Err(self.invalid("a boolean")),
        }
    }

    fn deserialize_f32<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match float_from_str(self.0) {
            Some(f) => visitor.visit_f64(f),
            None => Err(self.invalid("a number")),
        }
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_enum(BorrowedStrDeserializer::new(self.0))
    }

    serde::forward_to_deserialize_any! {
        <W: Visitor<'a>>
        i128 u128 char str string bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

/// A unit variant given by name (a string) or ordinal (a number).
struct Variant<'a>(Lenient<'a>);

impl<'a> EnumAccess<'a> for Variant<'a> {
    type Error = Error;
    type Variant = Unit<'a>;

    fn variant_seed<S: DeserializeSeed<'a>>(self, seed: S) -> Result<(S::Value, Unit<'a>), Error> {
        let name = seed.deserialize(IdentifierOf(self.0))?;
        Ok((name, Unit(None)))
    }
}

/// A variant written `{"Name": content}` (serde's external tagging).
struct KeyedVariant<'a> {
    name: &'a str,
    content: &'a Value,
}

impl<'a> EnumAccess<'a> for KeyedVariant<'a> {
    type Error = Error;
    type Variant = Unit<'a>;

    fn variant_seed<S: DeserializeSeed<'a>>(self, seed: S) -> Result<(S::Value, Unit<'a>), Error> {
        let name = seed.deserialize(self.name.into_deserializer())?;
        Ok((name, Unit(Some(self.content))))
    }
}

/// A variant identifier: a name, or a number taken as the variant's index.
struct IdentifierOf<'a>(Lenient<'a>);

impl<'a> de::Deserializer<'a> for IdentifierOf<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.0.deserialize_identifier(visitor)
    }

    serde::forward_to_deserialize_any! {
        <W: Visitor<'a>>
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// A variant's content, if it has one.
struct Unit<'a>(Option<&'a Value>);

impl<'a> VariantAccess<'a> for Unit<'a> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'a>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(Lenient(self.0.unwrap_or(&NULL)))
    }

    fn tuple_variant<V: Visitor<'a>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(Lenient(self.0.unwrap_or(&NULL)), visitor)
    }

    fn struct_variant<V: Visitor<'a>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_map(Lenient(self.0.unwrap_or(&NULL)), visitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    use crate::protocol::body::client::{
        ConsumerData, HeartbeatData, LockBatchRequest, MessageQueue, ProducerData, SubscriptionData,
    };
    use crate::protocol::fastjson::from_slice;

    #[test]
    fn reads_the_go_clients_heartbeat() {
        // As rocketmq-client-go v2 writes it: its sets' items as strings, the code set too.
        let go = br#"{"clientID":"127.0.0.1@4242#13455","producerDataSet":[],"consumerDataSet":[{"groupName":"g","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","subscriptionDataSet":[{"classFilterMode":false,"topic":"T","subString":"TagA || TagB","tagsSet":["TagA","TagB"],"codeSet":["2598919","2598920"],"subVersion":1764756000000000000,"expressionType":"TAG"}],"unitMode":false}]}"#;
        let hb: HeartbeatData = from_slice(go).unwrap();
        let sub = &hb.consumer_data_set[0].subscription_data_set[0];
        assert_eq!(sub.code_set, BTreeSet::from([2598919, 2598920]));
        assert_eq!(sub.tags_set.len(), 2);
        assert_eq!(hb.consumer_data_set[0].group_name, "g");
        // Strictly typed serde refuses it: the lenient pass is what reads it.
        assert!(serde_json::from_slice::<HeartbeatData>(go).is_err());
    }

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase", default)]
    struct Sample {
        count: i32,
        offset: i64,
        small: u8,
        ratio: f64,
        enabled: bool,
        name: String,
        maybe: Option<i64>,
        codes: Vec<i32>,
        table: BTreeMap<i32, String>,
        kind: Kind,
        nested: Option<Box<Sample>>,
    }

    #[derive(Debug, Default, PartialEq, Deserialize)]
    enum Kind {
        #[default]
        Tag,
        Sql92,
    }

    fn read(json: &str) -> Sample {
        from_slice(json.as_bytes()).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    #[test]
    fn converts_as_fastjson_does() {
        let s = read(
            r#"{"count":"1,024","offset":"-7.000","small":true,"ratio":"2.5","enabled":"Y",
                "name":12,"maybe":"5","codes":["3",4,null,"-1"],"table":{"0":"a",1:2},
                "kind":1,"nested":{"count":2.9,"enabled":1,"name":{"a":[1,true]}},"unknown":[{}]}"#,
        );
        assert_eq!(s.count, 1024);
        assert_eq!(s.offset, -7);
        assert_eq!(s.small, 1);
        assert_eq!(s.ratio, 2.5);
        assert!(s.enabled);
        assert_eq!(s.name, "12");
        assert_eq!(s.maybe, Some(5));
        assert_eq!(s.codes, vec![3, 4, 0, -1]);
        assert_eq!(s.table[&0], "a");
        assert_eq!(s.table[&1], "2");
        assert_eq!(s.kind, Kind::Sql92);
        let nested = s.nested.unwrap();
        assert_eq!(nested.count, 2);
        assert!(nested.enabled);
        assert_eq!(nested.name, r#"{"a":[1,true]}"#);
    }

    #[test]
    fn nulls_and_blanks_are_defaults() {
        let s = read(
            r#"{"count":null,"offset":"","small":"null","ratio":null,"enabled":"","name":null,
                "maybe":null,"codes":null,"table":"","kind":"Tag","nested":null}"#,
        );
        assert_eq!(s, Sample::default());
        assert_eq!(read("{}"), Sample::default());
        for (text, want) in [
            ("\"false\"", false),
            ("\"TRUE\"", true),
            ("0", false),
            ("2", false),
        ] {
            assert_eq!(
                read(&format!(r#"{{"enabled":{text}}}"#)).enabled,
                want,
                "{text}"
            );
        }
    }

    #[test]
    fn what_cannot_be_converted_is_an_error() {
        for bad in [
            r#"{"count":"twelve"}"#,
            r#"{"count":"1.5"}"#,
            r#"{"small":300}"#,
            r#"{"small":-1}"#,
            r#"{"enabled":"maybe"}"#,
            r#"{"codes":7}"#,
            r#"{"codes":{"a":1}}"#,
            r#"{"table":{"x":"y"}}"#,
            r#"{"kind":"Neither"}"#,
            r#"{"kind":5}"#,
            r#"{"nested":3}"#,
            r#"{"count":[1]}"#,
        ] {
            let err = from_slice::<Sample>(bad.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("invalid") || err.contains("unknown variant"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn fastjson_keys_and_conversions_together() {
        // Unquoted keys (fastjson's writing) and mistyped values in one body.
        let lock: LockBatchRequest = from_slice(
            br#"{"consumerGroup":"g","clientId":7,"onlyThisBroker":"true","mqSet":[{"brokerName":"b","queueId":"3","topic":"T"}]}"#,
        )
        .unwrap();
        assert_eq!(lock.client_id, "7");
        assert!(lock.only_this_broker);
        assert_eq!(
            lock.mq_set.into_iter().next().unwrap(),
            MessageQueue {
                broker_name: "b".into(),
                queue_id: 3,
                topic: "T".into()
            }
        );
        let table: BTreeMap<String, BTreeMap<i32, i64>> =
            from_slice(br#"{"T@g":{0:"12",1:null}}"#).unwrap();
        assert_eq!(table["T@g"], BTreeMap::from([(0, 12)]));
    }

    // The property: whatever fastjson-compatible retyping a writer applies to a body (numbers
    // as strings, booleans as strings or 0/1, default members left out or null, unknown
    // members added), the body reads back as the same value.

    fn subscription() -> impl Strategy<Value = SubscriptionData> {
        (
            any::<bool>(),
            "[A-Za-z%_]{1,12}",
            "[A-Za-z |*]{0,16}",
            proptest::collection::btree_set("[A-Za-z0-9]{1,6}", 0..4),
            proptest::collection::btree_set(any::<i32>(), 0..4),
            any::<i64>(),
            proptest::option::of(prop_oneof![Just("TAG".to_string()), Just("SQL92".into())]),
        )
            .prop_map(
                |(cfm, topic, sub, tags, codes, version, kind)| SubscriptionData {
                    class_filter_mode: cfm,
                    topic,
                    sub_string: sub,
                    tags_set: tags,
                    code_set: codes,
                    sub_version: version,
                    expression_type: kind,
                },
            )
    }

    fn heartbeat() -> impl Strategy<Value = HeartbeatData> {
        let consumer = (
            "[A-Za-z0-9_]{0,10}",
            "[A-Z_]{0,18}",
            any::<bool>(),
            proptest::collection::vec(subscription(), 0..3),
        )
            .prop_map(|(group, ctype, unit, subs)| ConsumerData {
                group_name: group,
                consume_type: ctype.clone(),
                message_model: "CLUSTERING".into(),
                consume_from_where: ctype,
                subscription_data_set: subs,
                unit_mode: unit,
            });
        (
            "[0-9.@#A-Za-z]{0,24}",
            proptest::collection::vec("[A-Z_]{1,8}", 0..3),
            proptest::collection::vec(consumer, 0..3),
            proptest::option::of(any::<i64>()),
            any::<bool>(),
        )
            .prop_map(
                |(id, producers, consumers, fingerprint, without)| HeartbeatData {
                    client_id: id,
                    producer_data_set: producers
                        .into_iter()
                        .map(|group_name| ProducerData { group_name })
                        .collect(),
                    consumer_data_set: consumers,
                    heartbeat_fingerprint: fingerprint,
                    without_sub: without,
                },
            )
    }

    /// A small deterministic generator for the retyping choices.
    struct Choices(u64);

    impl Choices {
        fn next(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    fn is_default(v: &serde_json::Value) -> bool {
        use serde_json::Value;
        match v {
            Value::Null => true,
            Value::Bool(b) => !b,
            Value::Number(n) => n.as_i64() == Some(0),
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(_) => false,
        }
    }

    fn retype(v: &mut serde_json::Value, c: &mut Choices) {
        use serde_json::Value;
        match v {
            Value::Bool(b) => {
                let b = *b;
                *v = match c.next(5) {
                    0 => Value::String(if b { "true" } else { "false" }.into()),
                    1 => Value::String(if b { "TRUE" } else { "False" }.into()),
                    2 => Value::from(i32::from(b)),
                    3 => Value::String(if b { "1" } else { "0" }.into()),
                    _ => Value::Bool(b),
                }
            }
            Value::Number(n) if c.next(2) == 0 => *v = Value::String(n.to_string()),
            Value::String(s) if c.next(2) == 0 => {
                // Only where the number's text is the string again.
                if let Ok(n) = s.parse::<i64>() {
                    if n.to_string() == *s {
                        *v = Value::from(n);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| retype(item, c)),
            Value::Object(map) => {
                let keys: Vec<String> = map.keys().cloned().collect();
                for key in keys {
                    if is_default(&map[&key]) && c.next(3) == 0 {
                        if c.next(2) == 0 {
                            map.remove(&key);
                        } else {
                            map.insert(key, Value::Null);
                        }
                        continue;
                    }
                    if let Some(member) = map.get_mut(&key) {
                        retype(member, c);
                    }
                }
                if c.next(4) == 0 {
                    map.insert(format!("unknown{}", c.next(100)), Value::from(c.next(9)));
                }
            }
            _ => {}
        }
    }

    fn retyped<T: Serialize>(value: &T, seed: u64) -> Vec<u8> {
        let mut json = serde_json::to_value(value).unwrap();
        retype(&mut json, &mut Choices(seed | 1));
        serde_json::to_vec(&json).unwrap()
    }

    proptest! {
        #[test]
        fn a_retyped_heartbeat_reads_back_the_same(hb in heartbeat(), seed in any::<u64>()) {
            let bytes = retyped(&hb, seed);
            let read: HeartbeatData = from_slice(&bytes)
                .map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&bytes))))?;
            prop_assert_eq!(read, hb);
        }

        #[test]
        fn a_retyped_lock_request_reads_back_the_same(
            group in "[a-z]{1,8}",
            queues in proptest::collection::btree_set((any::<i32>(), "[A-Z]{1,4}"), 0..5),
            only in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let request = LockBatchRequest {
                consumer_group: group,
                client_id: "c".into(),
                only_this_broker: only,
                mq_set: queues
                    .into_iter()
                    .map(|(queue_id, topic)| MessageQueue { broker_name: "b".into(), queue_id, topic })
                    .collect(),
            };
            let read: LockBatchRequest = from_slice(&retyped(&request, seed)).unwrap();
            prop_assert_eq!(read, request);
        }

        #[test]
        fn arbitrary_json_never_panics(text in "\\PC{0,64}") {
            let _ = from_slice::<HeartbeatData>(text.as_bytes());
            let _ = from_slice::<Sample>(text.as_bytes());
        }
    }
}
