//! Arbitrary JSON into the bodies and the header read with fastjson's conversions
//! (`protocol::lenient`): heartbeats, lock batches, consumer running info, config files,
//! JSON headers. Errors are fine, panics are not.
#![no_main]

use apogee::protocol::body::client::{ConsumerRunningInfo, HeartbeatData, LockBatchRequest};
use apogee::protocol::body::{ClusterInfo, DataVersion, TopicConfigWrapper};
use apogee::protocol::{fastjson, json_header};
use apogee::store::config::{ConsumerOffsets, SubscriptionGroups};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fastjson::from_slice::<HeartbeatData>(data);
    let _ = fastjson::from_slice::<LockBatchRequest>(data);
    let _ = fastjson::from_slice::<ConsumerRunningInfo>(data);
    let _ = fastjson::from_slice::<ClusterInfo>(data);
    let _ = fastjson::from_slice::<DataVersion>(data);
    let _ = fastjson::from_slice::<TopicConfigWrapper>(data);
    let _ = fastjson::from_slice::<ConsumerOffsets>(data);
    let _ = fastjson::from_slice::<SubscriptionGroups>(data);
    let _ = json_header::decode(data);
});
