//! Arbitrary bodies into the body decoders: registration (JSON and deflated), fastjson-style
//! JSON with unquoted keys. Errors are fine, panics are not.
#![no_main]

use apogee::protocol::body::{RegisterBrokerBody, TopicRouteData};
use apogee::protocol::fastjson;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = RegisterBrokerBody::decode(data, false, 479);
    let _ = RegisterBrokerBody::decode(data, true, 409);
    let _ = fastjson::from_slice::<TopicRouteData>(data);
    if let Some(fixed) = fastjson::quote_keys(data) {
        let _ = serde_json::from_slice::<serde_json::Value>(&fixed);
    }
});
