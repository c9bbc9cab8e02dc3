//! The frame: `length i32 | (serializeType << 24 | headerLength) i32 | header | body`,
//! where `length` counts everything after itself.

use bytes::{BufMut, Bytes, BytesMut};

use super::code::SerializeType;
use super::command::RemotingCommand;
use super::error::WireError;
use super::{binary_header, json_header};

/// Default largest frame accepted (`com.rocketmq.remoting.frameMaxLength`): 16 MiB.
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// Checks the 4-byte length prefix of a frame and returns the number of bytes after it.
pub fn checked_length(prefix: [u8; 4], max_frame: usize) -> Result<usize, WireError> {
    let len = i32::from_be_bytes(prefix);
    if len < 4 {
        return Err(WireError::FrameTooSmall { len: len.into() });
    }
    let len = len as usize;
    if len > max_frame {
        return Err(WireError::FrameTooLarge {
            len: len as i64,
            max: max_frame,
        });
    }
    Ok(len)
}

/// Decodes the bytes after the length prefix (header-info word, header, body). The body is
/// a zero-copy slice of `frame`.
pub fn decode(frame: Bytes) -> Result<RemotingCommand, WireError> {
    if frame.len() < 4 {
        return Err(WireError::Truncated {
            what: "header-info word",
            need: 4,
            have: frame.len(),
        });
    }
    let info = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
    let serialize_byte = (info >> 24) as u8;
    let header_len = (info & 0x00FF_FFFF) as usize;
    if header_len > frame.len() - 4 {
        return Err(WireError::HeaderPastFrame {
            header_len,
            frame_len: frame.len(),
        });
    }
    let header = &frame[4..4 + header_len];
    let mut cmd = match SerializeType::from_wire(serialize_byte) {
        Some(SerializeType::Json) => json_header::decode(header)?,
        Some(SerializeType::RocketMq) => binary_header::decode(header)?,
        None => return Err(WireError::UnknownSerializeType(serialize_byte)),
    };
    cmd.body = frame.slice(4 + header_len..);
    Ok(cmd)
}

/// Appends the whole frame of `cmd`, length prefix included, to `dst`. A command asked to be
/// binary whose code or version does not fit an i16 is written as JSON instead.
pub fn encode(cmd: &RemotingCommand, dst: &mut BytesMut) {
    let mut header = Vec::with_capacity(256);
    let serialize_type = match cmd.serialize_type {
        SerializeType::RocketMq if binary_header::fits(cmd) => {
            binary_header::encode(cmd, &mut header);
            SerializeType::RocketMq
        }
        _ => {
            json_header::encode(cmd, &mut header);
            SerializeType::Json
        }
    };
    let length = 4 + header.len() + cmd.body.len();
    dst.reserve(4 + length);
    dst.put_i32(length as i32);
    dst.put_u32(u32::from(serialize_type.wire()) << 24 | header.len() as u32);
    dst.put_slice(&header);
    dst.put_slice(&cmd.body);
}

/// Encodes one command into a fresh buffer (tests and one-off writes).
pub fn encode_to_vec(cmd: &RemotingCommand) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode(cmd, &mut buf);
    buf.to_vec()
}
