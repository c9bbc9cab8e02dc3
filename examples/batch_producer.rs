//! Sends messages in batches (one request, stored as separate messages in one queue).
//!
//! `cargo run --example batch_producer -- -n 127.0.0.1:9876 --batches 10 --size 32`

use apogee::client::{ClientConfig, Message, Producer, ProducerConfig};
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[arg(short, long, default_value = "127.0.0.1:9876")]
    namesrv: String,
    #[arg(short, long, default_value = "BatchTest")]
    topic: String,
    #[arg(long, default_value_t = 10)]
    batches: usize,
    /// Messages per batch.
    #[arg(long, default_value_t = 32)]
    size: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let producer = Producer::start(
        ClientConfig::new(&args.namesrv),
        ProducerConfig::new("BatchProducerGroup"),
    )
    .await?;
    for b in 0..args.batches {
        let msgs: Vec<Message> = (0..args.size)
            .map(|i| {
                Message::new(&args.topic, format!("batch {b} message {i}"))
                    .with_tags("TagA")
                    .with_keys([format!("OrderID{b:03}-{i:03}")])
            })
            .collect();
        let r = producer.send_batch(msgs).await?;
        println!(
            "batch {b}: {:?}, {} messages in queue {}:{} from offset {}",
            r.status,
            r.msg_id.split(',').count(),
            r.queue.broker_name,
            r.queue.queue_id,
            r.queue_offset
        );
    }
    producer.shutdown().await;
    Ok(())
}
