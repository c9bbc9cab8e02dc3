//! Transactional producer, like RocketMQ's `TransactionProducer` example: sends 10 messages
//! to `TopicTest` in transactions. The local transaction of message i commits when i % 3 is
//! 0, rolls back when it is 1, and is left unknown when it is 2; the broker checks the
//! unknown ones back after `transactionTimeOut` (6 s) and this producer commits them then.
//! Run a consumer of `TopicTest` beside it: it gets messages 0, 2, 3, 5, 6, 8, 9.
//!
//! `cargo run --example transaction_producer -- -n 127.0.0.1:9876`

use std::time::Duration;

use apogee::client::{
    ClientConfig, LocalTransactionState, Message, MessageExt, ProducerConfig, SendResult,
    TransactionListener, TransactionProducer,
};
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Name server address(es), `host:port;host:port`.
    #[arg(short, long, default_value = "127.0.0.1:9876")]
    namesrv: String,
    #[arg(short, long, default_value = "TopicTest")]
    topic: String,
    /// How long to wait for the check-backs of the unknown ones.
    #[arg(long, default_value_t = 40)]
    wait_secs: u64,
}

struct Listener;

fn index(keys: Option<&str>) -> u32 {
    keys.and_then(|k| k.strip_prefix("tx-"))
        .and_then(|i| i.parse().ok())
        .unwrap_or(0)
}

impl TransactionListener for Listener {
    fn execute_local(&self, message: &Message, sent: &SendResult) -> LocalTransactionState {
        let state = match index(message.keys()) % 3 {
            0 => LocalTransactionState::Commit,
            1 => LocalTransactionState::Rollback,
            _ => LocalTransactionState::Unknown,
        };
        println!("half {} stored: local transaction {state:?}", sent.msg_id);
        state
    }

    fn check_local(&self, message: &MessageExt) -> LocalTransactionState {
        println!(
            "broker checks {} ({:?}): commit",
            message.msg_id,
            message.keys()
        );
        LocalTransactionState::Commit
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let producer = TransactionProducer::start(
        ClientConfig::new(&args.namesrv),
        ProducerConfig::new("please_rename_unique_group_name_tx"),
        Listener,
    )
    .await?;
    for i in 0..10 {
        let msg = Message::new(&args.topic, format!("Hello RocketMQ transaction {i}"))
            .with_tags("TagTx")
            .with_keys([format!("tx-{i}")]);
        let r = producer.send_in_transaction(msg).await?;
        println!(
            "SendResult [status={:?}, msgId={}, queueOffset={}] -> {:?}",
            r.send.status, r.send.msg_id, r.send.queue_offset, r.state
        );
    }
    println!("waiting {} s for the broker's check-backs", args.wait_secs);
    tokio::time::sleep(Duration::from_secs(args.wait_secs)).await;
    producer.shutdown().await;
    Ok(())
}
