//! The JSON header (serialize type 0), as fastjson writes and reads it.
//!
//! Written keys, sorted as fastjson sorts them: `code`, `extFields` (omitted when null),
//! `flag`, `language` (enum name), `opaque`, `remark` (omitted when null),
//! `serializeTypeCurrentRPC`, `version`. Read leniently: unknown keys are ignored, missing
//! ones take Java's defaults, ext values may be strings, numbers or booleans, and a numeric
//! `language` is accepted as well as a name.

use serde::{Deserialize, Serialize};

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
    #[serde(default)]
    language: Option<Language>,
    #[serde(default)]
    version: i32,
    #[serde(default)]
    opaque: i32,
    #[serde(default)]
    flag: i32,
    #[serde(default)]
    remark: Option<String>,
    #[serde(rename = "extFields", default)]
    ext_fields: Option<std::collections::BTreeMap<String, ExtValue>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Language {
    Name(String),
    Ordinal(u8),
}

/// An ext value as some clients write it: usually a string, sometimes a bare scalar.
#[derive(Deserialize)]
#[serde(untagged)]
enum ExtValue {
    Text(String),
    Number(serde_json::Number),
    Bool(bool),
    Null,
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
    let header: HeaderIn = serde_json::from_slice(bytes)?;
    let ext_fields = header.ext_fields.map(|fields| {
        fields
            .into_iter()
            .filter_map(|(name, value)| {
                let text = match value {
                    ExtValue::Text(s) => s,
                    ExtValue::Number(n) => n.to_string(),
                    ExtValue::Bool(b) => b.to_string(),
                    ExtValue::Null => return None,
                };
                Some((name, text))
            })
            .collect()
    });
    Ok(RemotingCommand {
        code: header.code,
        language: match header.language {
            Some(Language::Name(name)) => LanguageCode::from_name(&name),
            Some(Language::Ordinal(n)) => LanguageCode::from_wire(n),
            None => LanguageCode::JAVA,
        },
        version: header.version,
        opaque: header.opaque,
        flag: header.flag,
        remark: header.remark,
        ext_fields,
        body: bytes::Bytes::new(),
        serialize_type: SerializeType::Json,
    })
}
