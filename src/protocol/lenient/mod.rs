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

use serde::de::{self, Unexpected, Visitor};
use serde::Deserialize;
use serde_json::{Error, Value};

pub(super) static NULL: Value = Value::Null;

mod access;
#[cfg(test)]
mod tests;

use access::{Items, KeyedVariant, Members, Variant};

/// Deserializes `T` from `value`, converting types as fastjson does.
pub fn from_value<'a, T: Deserialize<'a>>(value: &'a Value) -> Result<T, Error> {
    T::deserialize(Lenient(value))
}

/// A JSON value that converts itself into whatever type is asked of it.
#[derive(Clone, Copy)]
pub struct Lenient<'a>(pub &'a Value);

pub(super) fn unexpected(value: &Value) -> Unexpected<'_> {
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
pub(super) fn is_blank(text: &str) -> bool {
    let text = text.trim();
    text.is_empty() || text == "null" || text == "NULL"
}

/// An integer from text, as `TypeUtils.castToInt` / `castToLong` read it: blank is 0,
/// thousands separators and a trailing `.000` are dropped.
pub(super) fn integer_from_str(text: &str) -> Option<i128> {
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
pub(super) fn bool_from_str(text: &str) -> Option<bool> {
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

pub(super) fn float_from_str(text: &str) -> Option<f64> {
    if is_blank(text) {
        return Some(0.0);
    }
    text.trim().replace(',', "").parse().ok()
}

impl<'a> Lenient<'a> {
    fn invalid(&self, expected: &str) -> Error {
        de::Error::invalid_type(unexpected(self.0), &expected)
    }

    pub(super) fn integer(&self, expected: &str) -> Result<i128, Error> {
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
