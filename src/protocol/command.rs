//! `RemotingCommand`: one request or response, header fields plus body.

use bytes::Bytes;
use serde::{de::DeserializeOwned, Serialize};

use super::code::{LanguageCode, RequestCode, ResponseCode, SerializeType};
use super::error::HeaderError;
use super::ext;

pub use super::fields::ExtFields;

/// Flag bit 0: the command is a response.
pub const FLAG_RESPONSE: i32 = 0x1;
/// Flag bit 1: the request expects no response.
pub const FLAG_ONEWAY: i32 = 0x2;

/// The version Apogee stamps on every command it sends: `MQVersion.V5_3_3`'s ordinal.
/// Java clients gate features on the broker's version (SQL92 pulls need ≥ 232).
pub const APOGEE_VERSION: i32 = 479;

/// One remoting command, as decoded from or encoded to a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotingCommand {
    /// Request code, or response code when [`FLAG_RESPONSE`] is set.
    pub code: i32,
    pub language: LanguageCode,
    pub version: i32,
    /// Request id; a response carries its request's opaque.
    pub opaque: i32,
    pub flag: i32,
    pub remark: Option<String>,
    pub ext_fields: Option<ExtFields>,
    /// Empty when the frame has no body.
    pub body: Bytes,
    /// How the header was (or will be) serialized.
    pub serialize_type: SerializeType,
}

impl RemotingCommand {
    /// A request with the given code, no header fields and no body.
    pub fn request(code: RequestCode) -> Self {
        Self {
            code: code.wire(),
            language: LanguageCode::RUST,
            version: APOGEE_VERSION,
            opaque: 0,
            flag: 0,
            remark: None,
            ext_fields: None,
            body: Bytes::new(),
            serialize_type: SerializeType::Json,
        }
    }

    /// A response with the given code; [`Self::answering`] fills opaque and flags.
    pub fn response(code: ResponseCode) -> Self {
        Self {
            code: code.wire(),
            flag: FLAG_RESPONSE,
            ..Self::request(RequestCode::Unknown(0))
        }
    }

    /// A response with a code and a remark.
    pub fn error(code: ResponseCode, remark: impl Into<String>) -> Self {
        Self::response(code).with_remark(remark)
    }

    /// Makes `self` the response to `request`: same opaque and serialize type, RESPONSE flag,
    /// our version.
    pub fn answering(self, request: &RemotingCommand) -> Self {
        self.answering_ids(request.opaque, request.serialize_type)
    }

    /// [`Self::answering`] from the request's opaque and serialize type alone.
    pub fn answering_ids(mut self, opaque: i32, serialize_type: SerializeType) -> Self {
        self.opaque = opaque;
        self.flag |= FLAG_RESPONSE;
        self.version = APOGEE_VERSION;
        // Clients before 4.9.4 have no RUST language code; JAVA is what they expect.
        self.language = LanguageCode::JAVA;
        self.serialize_type = serialize_type;
        self
    }

    pub fn with_remark(mut self, remark: impl Into<String>) -> Self {
        self.remark = Some(remark.into());
        self
    }

    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    pub fn with_opaque(mut self, opaque: i32) -> Self {
        self.opaque = opaque;
        self
    }

    pub fn with_serialize_type(mut self, serialize_type: SerializeType) -> Self {
        self.serialize_type = serialize_type;
        self
    }

    /// Sets the ext fields from a typed header struct (see [`ext`]).
    pub fn with_header<H: Serialize>(mut self, header: &H) -> Self {
        self.ext_fields = Some(ext::to_ext_fields(header));
        self
    }

    /// Marks the request oneway.
    pub fn oneway(mut self) -> Self {
        self.flag |= FLAG_ONEWAY;
        self
    }

    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    /// The code read as a request code.
    pub fn request_code(&self) -> RequestCode {
        RequestCode::from_wire(self.code)
    }

    /// The code read as a response code.
    pub fn response_code(&self) -> ResponseCode {
        ResponseCode::from_wire(self.code)
    }

    /// One ext field, if present.
    pub fn ext(&self, name: &str) -> Option<&str> {
        self.ext_fields.as_ref()?.get(name)
    }

    /// Decodes the ext fields into a typed header struct.
    pub fn header<H: DeserializeOwned>(&self) -> Result<H, HeaderError> {
        static EMPTY: ExtFields = ExtFields::new();
        ext::from_ext_fields(self.ext_fields.as_ref().unwrap_or(&EMPTY))
    }
}
