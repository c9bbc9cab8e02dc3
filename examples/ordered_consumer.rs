//! Orderly consumer: each queue is consumed by one consumer (broker queue lock), one
//! message at a time in queue order; prints each message and checks that every order's
//! steps arrive in order. `--count N` exits after N messages.
//!
//! `cargo run --example ordered_consumer -- -n 127.0.0.1:9876`

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use apogee::client::{ClientConfig, ConsumeFromWhere, ConsumerConfig, OrderlyStatus, PushConsumer};
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[arg(short, long, default_value = "127.0.0.1:9876")]
    namesrv: String,
    #[arg(short, long, default_value = "OrderTopicTest")]
    topic: String,
    #[arg(short, long, default_value = "OrderedConsumerGroup")]
    group: String,
    #[arg(long)]
    count: Option<usize>,
}

const STEPS: [&str; 4] = ["created", "paid", "shipped", "completed"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = ConsumerConfig::new(&args.group);
    config.consume_from_where = ConsumeFromWhere::FirstOffset;
    let received = Arc::new(AtomicUsize::new(0));
    let out_of_order = Arc::new(AtomicUsize::new(0));
    let last_step: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let (counter, bad) = (Arc::clone(&received), Arc::clone(&out_of_order));
    let consumer = PushConsumer::builder(ClientConfig::new(&args.namesrv), config)
        .subscribe(&args.topic, "*")
        .listen_orderly(move |msgs| {
            for m in msgs {
                let body = String::from_utf8_lossy(&m.body).into_owned();
                let mut words = body.rsplitn(2, ' ');
                let step = words.next().unwrap_or_default();
                let order = words.next().unwrap_or_default().to_owned();
                let index = STEPS.iter().position(|s| *s == step).unwrap_or(0);
                let mut last = last_step.lock().unwrap();
                let previous = last.insert(order.clone(), index);
                let in_order = previous.map_or(index == 0, |p| index == p + 1);
                if !in_order {
                    bad.fetch_add(1, Ordering::Relaxed);
                }
                println!(
                    "queue {}:{} offset {} {body}{}",
                    m.broker_name,
                    m.queue_id,
                    m.queue_offset,
                    if in_order { "" } else { "  <-- OUT OF ORDER" }
                );
            }
            counter.fetch_add(msgs.len(), Ordering::Relaxed);
            OrderlyStatus::Success
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
    let bad = out_of_order.load(Ordering::Relaxed);
    println!(
        "received {} messages, {bad} out of order",
        received.load(Ordering::Relaxed)
    );
    anyhow::ensure!(bad == 0, "{bad} messages out of order");
    Ok(())
}
