//! The ROCKETMQ binary header (serialize type 1, `RocketMQSerializable`).
//!
//! ```text
//! code i16 | language u8 | version i16 | opaque i32 | flag i32
//! | remark: i32 len + UTF-8 (0 = null)
//! | extFields: i32 byte length of the whole map area (0 = none),
//! |   then per entry: key i16 len + UTF-8, value i32 len + UTF-8
//! ```
//! A zero-length string decodes as null: a null remark, and an ext entry with an empty
//! value is dropped (Java leaves that header field null).

use super::code::{LanguageCode, SerializeType};
use super::command::{ExtFields, RemotingCommand};
use super::cursor::Cursor;
use super::error::WireError;

/// Size of the fixed part before the remark.
pub const FIXED_LEN: usize = 2 + 1 + 2 + 4 + 4;

/// Whether `cmd` can be written in this layout (code and version must fit an i16).
pub fn fits(cmd: &RemotingCommand) -> bool {
    i16::try_from(cmd.code).is_ok() && i16::try_from(cmd.version).is_ok()
}

/// Appends the binary header of `cmd` to `out`. Callers check [`fits`] first; values that
/// do not fit are truncated as Java's `(short)` cast would.
pub fn encode(cmd: &RemotingCommand, out: &mut Vec<u8>) {
    out.extend_from_slice(&(cmd.code as i16).to_be_bytes());
    out.push(cmd.language.wire());
    out.extend_from_slice(&(cmd.version as i16).to_be_bytes());
    out.extend_from_slice(&cmd.opaque.to_be_bytes());
    out.extend_from_slice(&cmd.flag.to_be_bytes());
    let remark = cmd.remark.as_deref().unwrap_or("");
    out.extend_from_slice(&(remark.len() as i32).to_be_bytes());
    out.extend_from_slice(remark.as_bytes());
    let len_at = out.len();
    out.extend_from_slice(&0i32.to_be_bytes());
    if let Some(fields) = &cmd.ext_fields {
        for (key, value) in fields.iter() {
            out.extend_from_slice(&(key.len() as i16).to_be_bytes());
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(&(value.len() as i32).to_be_bytes());
            out.extend_from_slice(value.as_bytes());
        }
    }
    let map_len = (out.len() - len_at - 4) as i32;
    out[len_at..len_at + 4].copy_from_slice(&map_len.to_be_bytes());
}

/// Decodes a binary header; the body is attached by the caller.
pub fn decode(bytes: &[u8]) -> Result<RemotingCommand, WireError> {
    let mut cur = Cursor::new(bytes);
    let code = cur.i16("header code")?;
    let language = LanguageCode::from_wire(cur.u8("header language")?);
    let version = cur.i16("header version")?;
    let opaque = cur.i32("header opaque")?;
    let flag = cur.i32("header flag")?;
    let remark = cur.string(false, "header remark")?;
    let map_len = cur.len_i32("header extFields length")?;
    let map_bytes = cur.bytes(map_len, "header extFields")?;
    let ext_fields = if map_len == 0 {
        None
    } else {
        let mut map = ExtFields::with_capacity(16, map_len);
        let mut entries = Cursor::new(map_bytes);
        while entries.remaining() > 0 {
            let key = entries.string(true, "extFields key")?;
            let value = entries.string(false, "extFields value")?;
            if !value.is_empty() {
                map.append(key, value);
            }
        }
        // Entries with empty values are dropped; a map left empty is no map, so that
        // decode(encode(x)) == x.
        (!map.is_empty()).then_some(map)
    };
    Ok(RemotingCommand {
        code: code.into(),
        language,
        version: version.into(),
        opaque,
        flag,
        remark: (!remark.is_empty()).then(|| remark.to_owned()),
        ext_fields,
        body: bytes::Bytes::new(),
        serialize_type: SerializeType::RocketMq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the fuzzer: a map area whose only entry has an empty value.
    #[test]
    fn a_map_of_only_empty_values_decodes_as_no_map() {
        let mut header = Vec::new();
        header.extend_from_slice(&105i16.to_be_bytes());
        header.push(0);
        header.extend_from_slice(&409i16.to_be_bytes());
        header.extend_from_slice(&1i32.to_be_bytes());
        header.extend_from_slice(&0i32.to_be_bytes());
        header.extend_from_slice(&0i32.to_be_bytes()); // no remark
        header.extend_from_slice(&7i32.to_be_bytes()); // map area: one entry
        header.extend_from_slice(&1i16.to_be_bytes());
        header.push(b'k');
        header.extend_from_slice(&0i32.to_be_bytes()); // empty value
        let cmd = decode(&header).unwrap();
        assert_eq!(cmd.ext_fields, None);
        let mut again = Vec::new();
        encode(&cmd, &mut again);
        assert_eq!(decode(&again).unwrap(), cmd);
    }
}
