//! Broadcasting consumer: every consumer of the group gets every message; offsets are kept
//! in a local file (`~/.rocketmq_offsets/<ip>@<instance>/<group>/offsets.json`). Start two
//! with different `--instance` names to see both receive everything.
//!
//! `cargo run --example broadcast_consumer -- -n 127.0.0.1:9876 --instance a`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use apogee::client::{
    ClientConfig, ConsumeFromWhere, ConsumeStatus, ConsumerConfig, MessageModel, PushConsumer,
};
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[arg(short, long, default_value = "127.0.0.1:9876")]
    namesrv: String,
    #[arg(short, long, default_value = "TopicTest")]
    topic: String,
    #[arg(short, long, default_value = "BroadcastConsumerGroup")]
    group: String,
    /// Instance name (part of the client id and of the offset file's path).
    #[arg(long, default_value = "DEFAULT")]
    instance: String,
    #[arg(long)]
    count: Option<usize>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = ConsumerConfig::new(&args.group);
    config.message_model = MessageModel::Broadcasting;
    config.consume_from_where = ConsumeFromWhere::FirstOffset;
    let mut client = ClientConfig::new(&args.namesrv);
    client.instance_name = Some(args.instance.clone());
    let received = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&received);
    let instance = args.instance.clone();
    let consumer = PushConsumer::builder(client, config)
        .subscribe(&args.topic, "*")
        .listen(move |msgs| {
            for m in msgs {
                println!(
                    "[{instance}] {} {}",
                    m.msg_id,
                    String::from_utf8_lossy(&m.body)
                );
            }
            counter.fetch_add(msgs.len(), Ordering::Relaxed);
            ConsumeStatus::Success
        })
        .start()
        .await?;
    println!("Broadcast consumer {} started.", consumer.client_id());
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
