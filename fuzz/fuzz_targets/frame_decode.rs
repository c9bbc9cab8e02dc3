//! Feeds arbitrary bytes to the frame decoder as a connection would receive them. Whatever
//! decodes must re-encode and decode to the same command; nothing may panic.
#![no_main]

use apogee::protocol::{frame, RemotingCodec};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let mut codec = RemotingCodec::new(1 << 20);
    let mut buf = BytesMut::from(data);
    while let Ok(Some(cmd)) = codec.decode(&mut buf) {
        let again = codec
            .decode(&mut BytesMut::from(&frame::encode_to_vec(&cmd)[..]))
            .expect("re-encoded frame decodes")
            .expect("re-encoded frame is whole");
        assert_eq!(again, cmd);
        // Typed headers and bodies must fail cleanly too.
        let _ = cmd.header::<apogee::protocol::header::namesrv::RegisterBrokerRequest>();
        let _ = cmd.header::<apogee::protocol::header::namesrv::RouteByTopicRequest>();
    }
});
