//! Quickstart consumer: subscribes to `TopicTest` (`*`) in group
//! `please_rename_unique_group_name_4`, prints one line per message, runs until stopped
//! (Ctrl-C), like RocketMQ's `quickstart.Consumer`. `--count N` exits after N messages.
//!
//! `cargo run --example consumer -- -n 127.0.0.1:9876`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use apogee::client::{ClientConfig, ConsumeFromWhere, ConsumeStatus, ConsumerConfig, PushConsumer};
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[arg(short, long, default_value = "127.0.0.1:9876")]
    namesrv: String,
    #[arg(short, long, default_value = "TopicTest")]
    topic: String,
    #[arg(short, long, default_value = "please_rename_unique_group_name_4")]
    group: String,
    /// Exit after this many messages (default: run until stopped).
    #[arg(long)]
    count: Option<usize>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = ConsumerConfig::new(&args.group);
    config.consume_from_where = ConsumeFromWhere::FirstOffset;
    let received = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&received);
    let consumer = PushConsumer::builder(ClientConfig::new(&args.namesrv), config)
        .subscribe(&args.topic, "*")
        .listen(move |msgs| {
            for m in msgs {
                println!(
                    "Receive New Messages: msgId={} queue={}:{} offset={} body={}",
                    m.msg_id,
                    m.broker_name,
                    m.queue_id,
                    m.queue_offset,
                    String::from_utf8_lossy(&m.body)
                );
            }
            counter.fetch_add(msgs.len(), Ordering::Relaxed);
            ConsumeStatus::Success
        })
        .start()
        .await?;
    println!("Consumer Started.");
    match args.count {
        Some(n) => {
            while received.load(Ordering::Relaxed) < n {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
        None => tokio::signal::ctrl_c().await?,
    }
    consumer.shutdown().await;
    println!("received {} messages", received.load(Ordering::Relaxed));
    Ok(())
}
