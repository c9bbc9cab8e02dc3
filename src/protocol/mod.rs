//! The RocketMQ remoting protocol, pure: no I/O, no actors, easy to test and fuzz.
//!
//! - [`code`]: request / response / language codes and the header serialize type;
//! - [`command`]: [`RemotingCommand`], one request or response;
//! - [`frame`]: a whole frame ↔ command; [`codec`] adapts it to tokio-util;
//! - [`json_header`] and [`binary_header`]: the two header serializations;
//! - [`ext`]: typed header structs ↔ `extFields`; [`header`] holds those structs;
//! - [`body`]: the JSON (and deflated) bodies; [`fastjson`] reads fastjson's quirks and
//!   [`lenient`] its type conversions, for every JSON body and header.

pub mod binary_header;
pub mod body;
pub mod code;
pub mod codec;
pub mod command;
mod cursor;
pub mod error;
pub mod ext;
pub mod fastjson;
mod fields;
pub mod frame;
pub mod ha;
pub mod ha_auto;
pub mod header;
pub mod json_header;
pub mod lenient;
pub mod message;
pub mod properties;
pub mod recall;
pub mod trace;

pub use code::{LanguageCode, RequestCode, ResponseCode, SerializeType};
pub use codec::RemotingCodec;
pub use command::{ExtFields, RemotingCommand, APOGEE_VERSION, FLAG_ONEWAY, FLAG_RESPONSE};
pub use error::{HeaderError, WireError};
