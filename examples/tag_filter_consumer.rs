//! Tag filtering: sends messages tagged TagA, TagB and TagC, and consumes only
//! `TagA || TagC` (the broker filters by tag hash, the client checks the tag itself).
//!
//! `cargo run --example tag_filter_consumer -- -n 127.0.0.1:9876`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use apogee::client::{
    ClientConfig, ConsumeFromWhere, ConsumeStatus, ConsumerConfig, Message, Producer,
    ProducerConfig, PushConsumer,
};
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[arg(short, long, default_value = "127.0.0.1:9876")]
    namesrv: String,
    #[arg(short, long, default_value = "TagFilterTest")]
    topic: String,
    #[arg(long, default_value = "TagA || TagC")]
    expression: String,
    /// Messages to send (tags cycle A, B, C).
    #[arg(long, default_value_t = 30)]
    count: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let producer = Producer::start(
        ClientConfig::new(&args.namesrv),
        ProducerConfig::new("TagFilterProducerGroup"),
    )
    .await?;
    for i in 0..args.count {
        let tag = ["TagA", "TagB", "TagC"][i % 3];
        producer
            .send(Message::new(&args.topic, format!("{tag} message {i}")).with_tags(tag))
            .await?;
    }
    println!("sent {} messages tagged TagA, TagB, TagC", args.count);
    let expected = (0..args.count).filter(|i| i % 3 != 1).count();
    let mut config = ConsumerConfig::new("TagFilterConsumerGroup");
    config.consume_from_where = ConsumeFromWhere::FirstOffset;
    let received = Arc::new(AtomicUsize::new(0));
    let wrong = Arc::new(AtomicUsize::new(0));
    let (counter, bad) = (Arc::clone(&received), Arc::clone(&wrong));
    let consumer = PushConsumer::builder(ClientConfig::new(&args.namesrv), config)
        .subscribe(&args.topic, &args.expression)
        .listen(move |msgs| {
            for m in msgs {
                let tag = m.tags().unwrap_or_default();
                if tag == "TagB" {
                    bad.fetch_add(1, Ordering::Relaxed);
                }
                println!("{tag}: {}", String::from_utf8_lossy(&m.body));
            }
            counter.fetch_add(msgs.len(), Ordering::Relaxed);
            ConsumeStatus::Success
        })
        .start()
        .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while received.load(Ordering::Relaxed) < expected && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    consumer.shutdown().await;
    producer.shutdown().await;
    let (got, bad) = (
        received.load(Ordering::Relaxed),
        wrong.load(Ordering::Relaxed),
    );
    println!("received {got} of {expected} expected, {bad} with an unwanted tag");
    anyhow::ensure!(got >= expected && bad == 0, "filtering failed");
    Ok(())
}
