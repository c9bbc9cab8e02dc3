//! Ordered messages: every step of an order goes to the queue chosen by the order id, so
//! an orderly consumer sees each order's steps in order.
//!
//! `cargo run --example ordered_producer -- -n 127.0.0.1:9876 --orders 10`

use apogee::client::{ClientConfig, Message, Producer, ProducerConfig};
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[arg(short, long, default_value = "127.0.0.1:9876")]
    namesrv: String,
    #[arg(short, long, default_value = "OrderTopicTest")]
    topic: String,
    #[arg(long, default_value_t = 10)]
    orders: u64,
}

const STEPS: [&str; 4] = ["created", "paid", "shipped", "completed"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let producer = Producer::start(
        ClientConfig::new(&args.namesrv),
        ProducerConfig::new("OrderedProducerGroup"),
    )
    .await?;
    for step in STEPS {
        for order in 0..args.orders {
            let msg = Message::new(&args.topic, format!("order {order} {step}"))
                .with_tags(step)
                .with_keys([format!("order-{order}")]);
            // The selector: orders by id over the topic's queues.
            let r = producer
                .send_with_selector(msg, move |queues, _| (order % queues.len() as u64) as usize)
                .await?;
            println!(
                "order {order} {step:<9} -> queue {}:{} offset {}",
                r.queue.broker_name, r.queue.queue_id, r.queue_offset
            );
        }
    }
    producer.shutdown().await;
    Ok(())
}
