//! Lite pull consumer: assigns itself every queue of a topic, polls, prints, commits.
//!
//! `cargo run --example pull_consumer -- -n 127.0.0.1:9876 --count 1000`

use std::time::Duration;

use apogee::client::{ClientConfig, ConsumeFromWhere, ConsumerConfig, LitePullConsumer};
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[arg(short, long, default_value = "127.0.0.1:9876")]
    namesrv: String,
    #[arg(short, long, default_value = "TopicTest")]
    topic: String,
    #[arg(short, long, default_value = "LitePullConsumerGroup")]
    group: String,
    /// Stop after this many messages, or after 5 s without any.
    #[arg(long, default_value_t = 1000)]
    count: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = ConsumerConfig::new(&args.group);
    config.consume_from_where = ConsumeFromWhere::FirstOffset;
    config.auto_commit = false;
    config.pull_batch_size = 10;
    let consumer = LitePullConsumer::start(ClientConfig::new(&args.namesrv), config).await?;
    let queues = consumer.fetch_queues(&args.topic).await?;
    println!("assigning {} queues of {}", queues.len(), args.topic);
    consumer.assign(queues).await?;
    let mut total = 0;
    while total < args.count {
        let msgs = consumer.poll(Duration::from_secs(5)).await;
        if msgs.is_empty() {
            println!("nothing for 5 s");
            break;
        }
        for m in &msgs {
            println!(
                "{}:{} offset {} {}",
                m.broker_name,
                m.queue_id,
                m.queue_offset,
                String::from_utf8_lossy(&m.body)
            );
        }
        total += msgs.len();
        consumer.commit().await?;
    }
    println!("polled {total} messages");
    consumer.shutdown().await;
    Ok(())
}
