//! The JSON header (serialize type 0), as fastjson writes and reads it.
//!
//! Written keys, sorted as fastjson sorts them: `code`, `extFields` (omitted when null),
//! `flag`, `language` (enum name), `opaque`, `remark` (omitted when null),
//! `serializeTypeCurrentRPC`, `version`. Read leniently: unknown keys are ignored, missing
//! ones take Java's defaults, ext values may be strings, numbers or booleans, a numeric
//! `language` is accepted as well as a name, and other mistyped values are converted as
//! fastjson converts them ([`super::lenient`]).

use std::borrow::Cow;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::code::{LanguageCode, SerializeType};
use super::command::{ExtFields, RemotingCommand};
use super::error::WireError;

#[derive(Serialize)]
struct HeaderOut<'a> {
    code: i32,
    #[serde(rename = "extFields", skip_serializing_if = "Option::is_none")]
    ext_fields: Option<&'a ExtFields>,
    flag: i32,
    language: &'static str,
    opaque: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    remark: Option<&'a str>,
    #[serde(rename = "serializeTypeCurrentRPC")]
    serialize_type: &'static str,
    version: i32,
}

#[derive(Deserialize)]
struct HeaderIn {
    #[serde(default)]
    code: i32,
    #[serde(default, deserialize_with = "language")]
    language: LanguageCode,
    #[serde(default)]
    version: i32,
    #[serde(default)]
    opaque: i32,
    #[serde(default)]
    flag: i32,
    #[serde(default)]
    remark: Option<String>,
    #[serde(rename = "extFields", default, deserialize_with = "ext_fields")]
    ext_fields: Option<ExtFields>,
}

/// `language` as a name (`"JAVA"`) or an ordinal; unknown ones are OTHER.
fn language<'de, D: Deserializer<'de>>(de: D) -> Result<LanguageCode, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = LanguageCode;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a language name or ordinal")
        }
        fn visit_str<E: de::Error>(self, name: &str) -> Result<LanguageCode, E> {
            Ok(LanguageCode::from_name(name))
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> Result<LanguageCode, E> {
            Ok(match u8::try_from(n).map(LanguageCode::from_wire) {
                Ok(LanguageCode::Unknown(_)) | Err(_) => LanguageCode::OTHER,
                Ok(known) => known,
            })
        }
        fn visit_unit<E: de::Error>(self) -> Result<LanguageCode, E> {
            Ok(LanguageCode::JAVA)
        }
    }
    de.deserialize_any(V)
}

/// `extFields` straight into strings: string values as they are, numbers and booleans
/// printed, nulls dropped (no intermediate buffering).
fn ext_fields<'de, D: Deserializer<'de>>(de: D) -> Result<Option<ExtFields>, D::Error> {
    struct Fields;
    impl<'de> Visitor<'de> for Fields {
        type Value = Option<ExtFields>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object of header fields")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = ExtFields::with_capacity(16, 512);
            while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
                if let Some(Text(value)) = map.next_value::<Option<Text<'de>>>()? {
                    out.append(&key, &value);
                }
            }
            Ok(Some(out))
        }
    }
    de.deserialize_any(Fields)
}

/// One ext name or value as text, whatever JSON scalar it came as; borrowed from the input
/// when it has no escapes.
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(if v { "true" } else { "false" })))
            }
        }
        de.deserialize_any(V)
    }
}

/// Appends the JSON header of `cmd` to `out`.
pub fn encode(cmd: &RemotingCommand, out: &mut Vec<u8>) {
    let header = HeaderOut {
        code: cmd.code,
        ext_fields: cmd.ext_fields.as_ref(),
        flag: cmd.flag,
        language: match cmd.language {
            LanguageCode::Unknown(_) => LanguageCode::OTHER.name(),
            known => known.name(),
        },
        opaque: cmd.opaque,
        remark: cmd.remark.as_deref(),
        serialize_type: SerializeType::Json.name(),
        version: cmd.version,
    };
    // Writing plain data into a Vec cannot fail.
    let _ = serde_json::to_writer(out, &header);
}

/// Decodes a JSON header; the body is attached by the caller.
pub fn decode(bytes: &[u8]) -> Result<RemotingCommand, WireError> {
    // The typed read is the fast path; a header with mistyped values (a numeric code sent
    // as a string, a null remark…) is read again with fastjson's conversions.
    let header: HeaderIn = match serde_json::from_slice(bytes) {
        Ok(header) => header,
        Err(first) => {
            let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| first)?;
            super::lenient::from_value(&value)?
        }
    };
    Ok(RemotingCommand {
        code: header.code,
        language: header.language,
        version: header.version,
        opaque: header.opaque,
        flag: header.flag,
        remark: header.remark,
        ext_fields: header.ext_fields,
        body: bytes::Bytes::new(),
        serialize_type: SerializeType::Json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mistyped_header_is_read_as_fastjson_reads_it() {
        let cmd = decode(
            br#"{"code":"34","flag":"0","language":"GO","opaque":"5","remark":null,"version":317.0,"extFields":{"a":1,"b":null},"x":{}}"#,
        )
        .unwrap();
        assert_eq!(
            (cmd.code, cmd.opaque, cmd.flag, cmd.version),
            (34, 5, 0, 317)
        );
        assert_eq!(cmd.language, LanguageCode::GO);
        assert_eq!(cmd.remark, None);
        let ext = cmd.ext_fields.unwrap();
        assert_eq!(ext.get("a"), Some("1"));
        assert_eq!(ext.get("b"), None);
        assert!(decode(br#"{"code":"x"}"#).is_err());
        assert!(decode(br#"{"code":"#).is_err());
    }
}
