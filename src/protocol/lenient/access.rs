//! The parts of a value the [`Lenient`] deserializer hands to visitors: an array's items, an
//! object's members (less the `null` ones), object keys that parse themselves, and enum
//! variants by name, ordinal or `{"Name": content}`.

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess, Unexpected,
    VariantAccess, Visitor,
};
use serde_json::{Error, Value};

use super::{bool_from_str, float_from_str, integer_from_str, Lenient, NULL};

/// An array's elements.
pub(super) struct Items<'a>(pub(super) std::slice::Iter<'a, Value>);

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
pub(super) struct Members<'a> {
    iter: serde_json::map::Iter<'a>,
    value: &'a Value,
}

impl<'a> Members<'a> {
    pub(super) fn new(map: &'a serde_json::Map<String, Value>) -> Self {
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
pub(super) struct Key<'a>(&'a str);

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
pub(super) struct Variant<'a>(pub(super) Lenient<'a>);

impl<'a> EnumAccess<'a> for Variant<'a> {
    type Error = Error;
    type Variant = Unit<'a>;

    fn variant_seed<S: DeserializeSeed<'a>>(self, seed: S) -> Result<(S::Value, Unit<'a>), Error> {
        let name = seed.deserialize(IdentifierOf(self.0))?;
        Ok((name, Unit(None)))
    }
}

/// A variant written `{"Name": content}` (serde's external tagging).
pub(super) struct KeyedVariant<'a> {
    pub(super) name: &'a str,
    pub(super) content: &'a Value,
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
pub(super) struct IdentifierOf<'a>(Lenient<'a>);

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
pub(super) struct Unit<'a>(Option<&'a Value>);

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
