//! Quickstart producer: sends 1000 messages to `TopicTest` (tag `TagA`) and prints each
//! result, like RocketMQ's `quickstart.Producer`.
//!
//! `cargo run --example producer -- -n 127.0.0.1:9876`

use apogee::client::{ClientConfig, Message, Producer, ProducerConfig};
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Name server address(es), `host:port;host:port`.
    #[arg(short, long, default_value = "127.0.0.1:9876")]
    namesrv: String,
    #[arg(short, long, default_value = "TopicTest")]
    topic: String,
    /// How many messages to send.
    #[arg(short, long, default_value_t = 1000)]
    count: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let producer = Producer::start(
        ClientConfig::new(&args.namesrv),
        ProducerConfig::new("please_rename_unique_group_name"),
    )
    .await?;
    let mut failed = 0;
    for i in 0..args.count {
        let msg = Message::new(&args.topic, format!("Hello RocketMQ {i}")).with_tags("TagA");
        match producer.send(msg).await {
            Ok(r) => println!(
                "SendResult [status={:?}, msgId={}, offsetMsgId={}, queue={}:{}, queueOffset={}]",
                r.status,
                r.msg_id,
                r.offset_msg_id,
                r.queue.broker_name,
                r.queue.queue_id,
                r.queue_offset
            ),
            Err(e) => {
                failed += 1;
                eprintln!("send {i} failed: {e}");
            }
        }
    }
    println!("sent {} messages, {failed} failed", args.count - failed);
    producer.shutdown().await;
    anyhow::ensure!(failed == 0, "{failed} sends failed");
    Ok(())
}
