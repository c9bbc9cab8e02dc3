//! Codec cost of the hottest frame: a SEND_MESSAGE_V2 request as the Java client writes it
//! (JSON header, one-letter ext fields, 1 KiB body) decoded, and its response encoded.
//! Also the same with the ROCKETMQ binary header.

use apogee::protocol::{
    frame, ExtFields, RemotingCodec, RemotingCommand, RequestCode, ResponseCode, SerializeType,
};
use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio_util::codec::{Decoder, Encoder};

fn send_request(serialize_type: SerializeType) -> Vec<u8> {
    let ext: ExtFields = [
        ("a", "ProducerGroupName"),
        ("b", "TopicTest"),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", "3"),
        ("f", "0"),
        ("g", "1700000000000"),
        ("h", "0"),
        ("i", "TAGS\u{1}TagA\u{2}KEYS\u{1}OrderID188\u{2}UNIQ_KEY\u{1}7F000001A4E418B4AAC25A5A2F8D0000\u{2}WAIT\u{1}true\u{2}"),
        ("j", "0"),
        ("k", "false"),
        ("m", "false"),
        ("n", "broker-a"),
    ]
    .into_iter()
    .collect();
    let mut cmd = RemotingCommand::request(RequestCode::SEND_MESSAGE_V2)
        .with_body(vec![b'x'; 1024])
        .with_opaque(12345)
        .with_serialize_type(serialize_type);
    cmd.ext_fields = Some(ext);
    frame::encode_to_vec(&cmd)
}

fn send_response(request: &RemotingCommand) -> RemotingCommand {
    let ext: ExtFields = [
        ("msgId", "7F00000100002A9F0000000000000400"),
        ("queueId", "3"),
        ("queueOffset", "123456"),
        ("MSG_REGION", "DefaultRegion"),
        ("TRACE_ON", "true"),
    ]
    .into_iter()
    .collect();
    let mut response = RemotingCommand::response(ResponseCode::SUCCESS).answering(request);
    response.ext_fields = Some(ext);
    response
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("send_frame");
    for (name, serialize_type) in [
        ("json", SerializeType::Json),
        ("binary", SerializeType::RocketMq),
    ] {
        let bytes = send_request(serialize_type);
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("decode_request_encode_response/{name}"), |b| {
            let mut codec = RemotingCodec::default();
            let mut out = BytesMut::with_capacity(4096);
            b.iter(|| {
                let mut input = BytesMut::from(&bytes[..]);
                let request = codec.decode(&mut input).unwrap().unwrap();
                out.clear();
                codec.encode(send_response(&request), &mut out).unwrap();
                out.len()
            })
        });
        group.bench_function(format!("decode_request/{name}"), |b| {
            let mut codec = RemotingCodec::default();
            b.iter(|| {
                let mut input = BytesMut::from(&bytes[..]);
                codec.decode(&mut input).unwrap().unwrap().body.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
