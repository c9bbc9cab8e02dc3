//! Errors of the wire layer.

use thiserror::Error;

/// A frame or header that cannot be decoded. Any of these closes the connection that sent it.
#[derive(Debug, Error)]
pub enum WireError {
    #[error(
        "frame length {len} is too small (a frame holds at least the 4-byte header-info word)"
    )]
    FrameTooSmall { len: i64 },
    #[error("frame length {len} exceeds the limit of {max} bytes")]
    FrameTooLarge { len: i64, max: usize },
    #[error("header length {header_len} runs past the frame ({frame_len} bytes after the length)")]
    HeaderPastFrame { header_len: usize, frame_len: usize },
    #[error("unknown header serialize type {0}")]
    UnknownSerializeType(u8),
    #[error("truncated {what}: need {need} bytes, have {have}")]
    Truncated {
        what: &'static str,
        need: usize,
        have: usize,
    },
    #[error("{what} is not valid UTF-8")]
    InvalidUtf8 { what: &'static str },
    #[error("negative length {len} for {what}")]
    NegativeLength { what: &'static str, len: i64 },
    #[error("invalid JSON header: {0}")]
    Json(#[from] serde_json::Error),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// A typed header or body that cannot be built from a well-formed frame. The connection
/// stays open; the request is answered with an error code and this text as remark.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum HeaderError {
    #[error("the request has no extFields, but the header needs field `{0}`")]
    NoExtFields(&'static str),
    #[error("bad header: {0}")]
    Field(String),
    #[error("bad body: {0}")]
    Body(String),
}

impl serde::de::Error for HeaderError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        HeaderError::Field(msg.to_string())
    }
}
