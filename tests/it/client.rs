//! Apogee's own client against an in-process name server + broker: every send mode, push
//! consumers (concurrent, orderly, broadcasting, tag filter, redelivery, resume from
//! committed offsets), the lite pull consumer, and a rebalance while consumers come and go.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apogee::client::{
    ClientConfig, ConsumeFromWhere, ConsumeStatus, ConsumerConfig, LitePullConsumer, Message,
    MessageExt, MessageModel, OrderlyStatus, Producer, ProducerConfig, PushConsumer, SendStatus,
};
use apogee::store::FlushMode;

use super::broker::start_with;
use super::store::temp_dir;

pub type Seen = Arc<Mutex<Vec<MessageExt>>>;

pub fn client(namesrv: std::net::SocketAddr) -> ClientConfig {
    ClientConfig::new(&namesrv.to_string())
}

pub fn consumer_config(group: &str) -> ConsumerConfig {
    let mut c = ConsumerConfig::new(group);
    c.consume_from_where = ConsumeFromWhere::FirstOffset;
    c.persist_interval = Duration::from_millis(500);
    c.broker_suspend = Duration::from_millis(1500);
    c
}

pub async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn collector(seen: &Seen) -> impl Fn(&[MessageExt]) -> ConsumeStatus + Send + Sync + 'static {
    let seen = Arc::clone(seen);
    move |msgs: &[MessageExt]| {
        seen.lock().unwrap().extend_from_slice(msgs);
        ConsumeStatus::Success
    }
}

fn bodies(seen: &Seen) -> BTreeSet<String> {
    body_list(seen).into_iter().collect()
}

/// The bodies seen, as text, in arrival order (repeats kept).
pub fn body_list(seen: &Seen) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        .collect()
}

#[actix_rt::test]
async fn every_send_mode_reaches_a_push_consumer() {
    let dir = temp_dir("client-modes");
    let (namesrv, broker) = start_with(&dir, FlushMode::Async, |_| {}).await;
    let producer = Producer::start(client(namesrv.local_addr()), ProducerConfig::new("pg"))
        .await
        .unwrap();
    // Sync sends to a topic nobody created: the first goes through TBW102's route.
    let mut ids = BTreeSet::new();
    for i in 0..20 {
        let r = producer
            .send(
                Message::new("ModesTopic", format!("sync-{i}"))
                    .with_tags("A")
                    .with_keys([format!("k{i}")]),
            )
            .await
            .unwrap();
        assert_eq!(r.status, SendStatus::SendOk);
        assert_eq!(r.msg_id.len(), 32);
        assert_eq!(r.offset_msg_id.len(), 32);
        assert!(ids.insert(r.msg_id.clone()), "ids are unique");
    }
    // Async sends, awaited together.
    let futures: Vec<_> = (0..20)
        .map(|i| producer.send_async(Message::new("ModesTopic", format!("async-{i}"))))
        .collect();
    for f in futures {
        assert_eq!(f.await.unwrap().status, SendStatus::SendOk);
    }
    for i in 0..20 {
        producer
            .send_oneway(Message::new("ModesTopic", format!("oneway-{i}")))
            .await
            .unwrap();
    }
    let batch: Vec<Message> = (0..20)
        .map(|i| Message::new("ModesTopic", format!("batch-{i}")))
        .collect();
    let r = producer.send_batch(batch).await.unwrap();
    assert_eq!(r.msg_id.split(',').count(), 20);
    assert_eq!(r.offset_msg_id.split(',').count(), 20);
    // A large body is compressed on the wire and arrives whole.
    let big = "x".repeat(100_000);
    producer
        .send(Message::new("ModesTopic", big.clone()))
        .await
        .unwrap();
    // An invalid message is refused by the client with a clear error.
    let err = producer
        .send(Message::new("bad topic", "b"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not valid"), "{err}");

    let seen: Seen = Arc::default();
    let consumer = PushConsumer::builder(client(namesrv.local_addr()), consumer_config("cg-modes"))
        .subscribe("ModesTopic", "*")
        .listen(collector(&seen))
        .start()
        .await
        .unwrap();
    wait_until("81 messages", Duration::from_secs(20), || {
        seen.lock().unwrap().len() >= 81
    })
    .await;
    let got = bodies(&seen);
    for kind in ["sync", "async", "oneway", "batch"] {
        for i in 0..20 {
            assert!(got.contains(&format!("{kind}-{i}")), "missing {kind}-{i}");
        }
    }
    assert!(got.contains(&big));
    let first = seen
        .lock()
        .unwrap()
        .iter()
        .find(|m| m.body.as_ref() == b"sync-0")
        .cloned()
        .unwrap();
    assert_eq!(first.tags(), Some("A"));
    assert_eq!(first.keys(), Some("k0"));
    assert!(
        ids.contains(&first.msg_id),
        "the consumer sees the producer's id"
    );
    consumer.shutdown().await;
    producer.shutdown().await;
    broker.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    drop(namesrv);
}

#[actix_rt::test]
async fn ordered_sends_are_consumed_in_order_per_order_id() {
    let dir = temp_dir("client-ordered");
    let (namesrv, broker) = start_with(&dir, FlushMode::Async, |_| {}).await;
    let producer = Producer::start(client(namesrv.local_addr()), ProducerConfig::new("pg"))
        .await
        .unwrap();
    producer
        .send(Message::new("OrderTopic", "warm-up"))
        .await
        .unwrap();
    let mut queue_of = HashMap::new();
    for step in 0..10 {
        for order in 0..8u32 {
            let msg = Message::new("OrderTopic", format!("{order}:{step}"))
                .with_keys([format!("order-{order}")]);
            let r = producer
                .send_with_selector(msg, move |queues, _| order as usize % queues.len())
                .await
                .unwrap();
            let q = queue_of.entry(order).or_insert(r.queue.queue_id);
            assert_eq!(*q, r.queue.queue_id, "one order, one queue");
        }
    }
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    let consumer =
        PushConsumer::builder(client(namesrv.local_addr()), consumer_config("cg-ordered"))
            .subscribe("OrderTopic", "*")
            .listen_orderly(move |msgs| {
                // Slow down a little so that out-of-order delivery would show.
                std::thread::sleep(Duration::from_millis(2));
                sink.lock().unwrap().extend_from_slice(msgs);
                OrderlyStatus::Success
            })
            .start()
            .await
            .unwrap();
    wait_until("81 ordered messages", Duration::from_secs(30), || {
        seen.lock().unwrap().len() >= 81
    })
    .await;
    let mut steps: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for m in seen.lock().unwrap().iter() {
        let text = String::from_utf8_lossy(&m.body).into_owned();
        if let Some((order, step)) = text.split_once(':') {
            steps
                .entry(order.parse().unwrap())
                .or_default()
                .push(step.parse().unwrap());
        }
    }
    assert_eq!(steps.len(), 8);
    for (order, s) in steps {
        assert_eq!(s, (0..10).collect::<Vec<_>>(), "order {order} out of order");
    }
    consumer.shutdown().await;
    producer.shutdown().await;
    broker.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[actix_rt::test]
async fn broadcasting_consumers_each_get_everything_and_tags_filter() {
    let dir = temp_dir("client-broadcast");
    let (namesrv, broker) = start_with(&dir, FlushMode::Async, |_| {}).await;
    let producer = Producer::start(client(namesrv.local_addr()), ProducerConfig::new("pg"))
        .await
        .unwrap();
    producer
        .send(Message::new("BcastTopic", "warm-up").with_tags("Z"))
        .await
        .unwrap();
    let offsets_dir = dir.join("client-offsets");
    let mut consumers = Vec::new();
    let mut seens = Vec::new();
    for i in 0..2 {
        let seen: Seen = Arc::default();
        let mut config = consumer_config("cg-bcast");
        config.message_model = MessageModel::Broadcasting;
        config.offset_store_dir = offsets_dir.clone();
        let mut cc = client(namesrv.local_addr());
        cc.instance_name = Some(format!("bcast-{i}"));
        consumers.push(
            PushConsumer::builder(cc, config)
                .subscribe("BcastTopic", "TagA || TagB")
                .listen(collector(&seen))
                .start()
                .await
                .unwrap(),
        );
        seens.push(seen);
    }
    for i in 0..30 {
        let tag = ["TagA", "TagB", "TagC"][i % 3];
        producer
            .send(Message::new("BcastTopic", format!("{tag}-{i}")).with_tags(tag))
            .await
            .unwrap();
    }
    for seen in &seens {
        wait_until("20 tagged messages", Duration::from_secs(20), || {
            seen.lock().unwrap().len() >= 20
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for seen in &seens {
        let got = bodies(seen);
        assert_eq!(got.len(), 20, "{got:?}");
        assert!(got
            .iter()
            .all(|b| b.starts_with("TagA") || b.starts_with("TagB")));
    }
    for c in &consumers {
        c.shutdown().await;
    }
    // Broadcasting offsets are kept in a local file per consumer.
    let files: Vec<_> = walk(&offsets_dir)
        .into_iter()
        .filter(|p| p.ends_with("offsets.json"))
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    producer.shutdown().await;
    broker.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[actix_rt::test]
async fn a_restarted_consumer_resumes_from_committed_offsets_and_failures_are_redelivered() {
    let dir = temp_dir("client-resume");
    let (namesrv, broker) = start_with(&dir, FlushMode::Async, |c| {
        c.store.delay_levels = apogee::store::parse_delay_levels("1s 1s 1s 1s 1s").unwrap();
    })
    .await;
    let producer = Producer::start(client(namesrv.local_addr()), ProducerConfig::new("pg"))
        .await
        .unwrap();
    for i in 0..40 {
        producer
            .send(Message::new("ResumeTopic", format!("first-{i}")))
            .await
            .unwrap();
    }
    let seen: Seen = Arc::default();
    let failed_once: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let (sink, failed) = (Arc::clone(&seen), Arc::clone(&failed_once));
    let listener = move |msgs: &[MessageExt]| {
        let body = String::from_utf8_lossy(&msgs[0].body).into_owned();
        // "first-7" fails once and must come back (from %RETRY%cg-resume).
        if body == "first-7" && failed.lock().unwrap().insert(body.clone()) {
            return ConsumeStatus::ReconsumeLater;
        }
        sink.lock().unwrap().extend_from_slice(msgs);
        ConsumeStatus::Success
    };
    let consumer =
        PushConsumer::builder(client(namesrv.local_addr()), consumer_config("cg-resume"))
            .subscribe("ResumeTopic", "*")
            .listen(listener)
            .start()
            .await
            .unwrap();
    wait_until(
        "40 messages incl. the redelivery",
        Duration::from_secs(30),
        || bodies(&seen).len() >= 40,
    )
    .await;
    let again = seen
        .lock()
        .unwrap()
        .iter()
        .find(|m| m.body.as_ref() == b"first-7")
        .cloned()
        .unwrap();
    assert_eq!(again.reconsume_times, 1);
    assert_eq!(
        again.topic, "ResumeTopic",
        "the retry shows the original topic"
    );
    consumer.shutdown().await;

    for i in 0..40 {
        producer
            .send(Message::new("ResumeTopic", format!("second-{i}")))
            .await
            .unwrap();
    }
    // Same group, consume-from-first: only committed offsets keep it from starting over.
    let seen2: Seen = Arc::default();
    let consumer =
        PushConsumer::builder(client(namesrv.local_addr()), consumer_config("cg-resume"))
            .subscribe("ResumeTopic", "*")
            .listen(collector(&seen2))
            .start()
            .await
            .unwrap();
    wait_until("the 40 new messages", Duration::from_secs(20), || {
        bodies(&seen2)
            .iter()
            .filter(|b| b.starts_with("second"))
            .count()
            >= 40
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let old = bodies(&seen2)
        .iter()
        .filter(|b| b.starts_with("first"))
        .count();
    assert_eq!(
        old, 0,
        "a restarted consumer resumed where it had committed"
    );
    consumer.shutdown().await;
    producer.shutdown().await;
    broker.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[actix_rt::test]
async fn lite_pull_consumer_polls_commits_and_seeks() {
    let dir = temp_dir("client-lite");
    let (namesrv, broker) = start_with(&dir, FlushMode::Async, |_| {}).await;
    let producer = Producer::start(client(namesrv.local_addr()), ProducerConfig::new("pg"))
        .await
        .unwrap();
    let mut sent = Vec::new();
    for i in 0..30 {
        sent.push(
            producer
                .send(Message::new("LiteTopic", format!("lite-{i}")))
                .await
                .unwrap(),
        );
    }
    let mut config = consumer_config("cg-lite");
    config.auto_commit = false;
    config.pull_batch_size = 10;
    let lite = LitePullConsumer::start(client(namesrv.local_addr()), config)
        .await
        .unwrap();
    let queues = lite.fetch_queues("LiteTopic").await.unwrap();
    assert_eq!(queues.len(), 4);
    lite.assign(queues.clone()).await.unwrap();
    let mut got = BTreeSet::new();
    let start = Instant::now();
    while got.len() < 30 && start.elapsed() < Duration::from_secs(20) {
        for m in lite.poll(Duration::from_millis(500)).await {
            got.insert(String::from_utf8_lossy(&m.body).into_owned());
        }
    }
    assert_eq!(got.len(), 30);
    lite.commit().await.unwrap();
    let q0 = sent[0].queue.clone();
    let in_q0 = sent.iter().filter(|r| r.queue == q0).count() as i64;
    assert_eq!(lite.committed(&q0).await.unwrap(), Some(in_q0));
    // Seek back to the start of one queue: its messages come again, in order.
    lite.seek(&q0, 0).unwrap();
    let mut again = Vec::new();
    let start = Instant::now();
    while (again.len() as i64) < in_q0 && start.elapsed() < Duration::from_secs(20) {
        again.extend(lite.poll(Duration::from_millis(500)).await);
    }
    assert!(again.iter().all(|m| m.queue_id == q0.queue_id));
    let offsets: Vec<i64> = again.iter().map(|m| m.queue_offset).collect();
    assert_eq!(offsets, (0..in_q0).collect::<Vec<_>>());
    lite.shutdown().await;
    producer.shutdown().await;
    broker.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Three consumers join a group on an 8-queue topic one after another, then one leaves,
/// while a producer keeps sending: every message is consumed; duplicates are counted.
#[actix_rt::test]
async fn rebalance_as_consumers_join_and_leave_loses_nothing() {
    let dir = temp_dir("client-rebalance");
    let (namesrv, broker) = start_with(&dir, FlushMode::Async, |c| {
        c.default_topic_queue_nums = 8;
    })
    .await;
    let mut pc = ProducerConfig::new("pg");
    pc.default_topic_queue_nums = 8;
    let producer = Producer::start(client(namesrv.local_addr()), pc)
        .await
        .unwrap();
    producer
        .send(Message::new("RebalanceTopic", "m-0"))
        .await
        .unwrap();
    assert_eq!(producer.queues("RebalanceTopic").await.unwrap().len(), 8);

    let seen: Seen = Arc::default();
    let sending = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sender = {
        let producer = producer.clone();
        let sending = Arc::clone(&sending);
        tokio::spawn(async move {
            let mut n = 1;
            while sending.load(std::sync::atomic::Ordering::Relaxed) {
                producer
                    .send(Message::new("RebalanceTopic", format!("m-{n}")))
                    .await
                    .unwrap();
                n += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            n
        })
    };
    let start = |name: &str| {
        let mut cc = client(namesrv.local_addr());
        cc.instance_name = Some(name.to_owned());
        PushConsumer::builder(cc, consumer_config("cg-rebalance"))
            .subscribe("RebalanceTopic", "*")
            .listen(collector(&seen))
            .start()
    };
    let c1 = start("c1").await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let c2 = start("c2").await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let c3 = start("c3").await.unwrap();
    let assigned = |cs: &[&PushConsumer]| {
        cs.iter()
            .map(|c| {
                c.assigned()
                    .iter()
                    .filter(|q| q.topic == "RebalanceTopic")
                    .count()
            })
            .collect::<Vec<_>>()
    };
    wait_until("3 + 3 + 2 queues", Duration::from_secs(10), || {
        let mut a = assigned(&[&c1, &c2, &c3]);
        a.sort();
        a == [2, 3, 3]
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    c2.shutdown().await;
    wait_until("4 + 4 queues", Duration::from_secs(10), || {
        assigned(&[&c1, &c3]) == [4, 4]
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    sending.store(false, std::sync::atomic::Ordering::Relaxed);
    let total = sender.await.unwrap();
    wait_until("every message", Duration::from_secs(20), || {
        bodies(&seen).len() >= total
    })
    .await;
    let all = seen.lock().unwrap().len();
    let distinct = bodies(&seen).len();
    assert_eq!(distinct, total, "every message sent was consumed");
    println!(
        "rebalance: {total} sent, {all} deliveries, {} duplicates",
        all - distinct
    );
    c1.shutdown().await;
    c3.shutdown().await;
    producer.shutdown().await;
    broker.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[actix_rt::test]
async fn a_transaction_producer_commits_rolls_back_and_answers_checks() {
    use apogee::client::{
        LocalTransactionState, SendResult, TransactionListener, TransactionProducer,
    };
    struct Listener(Arc<Mutex<Vec<String>>>);
    impl TransactionListener for Listener {
        fn execute_local(&self, m: &Message, _: &SendResult) -> LocalTransactionState {
            match m.keys() {
                Some(k) if k.starts_with("commit") => LocalTransactionState::Commit,
                Some(k) if k.starts_with("rollback") => LocalTransactionState::Rollback,
                _ => LocalTransactionState::Unknown,
            }
        }
        fn check_local(&self, m: &MessageExt) -> LocalTransactionState {
            let key = m.keys().unwrap_or_default().to_owned();
            self.0.lock().unwrap().push(key.clone());
            if key.starts_with("unknown-commit") {
                LocalTransactionState::Commit
            } else {
                LocalTransactionState::Rollback
            }
        }
    }
    let dir = temp_dir("client-txn");
    let (namesrv, broker) = start_with(&dir, FlushMode::Async, |c| {
        c.transaction_timeout_ms = 500;
        c.transaction_check_interval_ms = 500;
    })
    .await;
    let checked = Arc::new(Mutex::new(Vec::new()));
    let producer = TransactionProducer::start(
        client(namesrv.local_addr()),
        ProducerConfig::new("txpg"),
        Listener(Arc::clone(&checked)),
    )
    .await
    .unwrap();
    for kind in ["commit", "rollback", "unknown-commit", "unknown-rollback"] {
        for i in 0..5 {
            let key = format!("{kind}-{i}");
            let msg = Message::new("TxnClient", key.clone()).with_keys([key]);
            let r = producer.send_in_transaction(msg).await.unwrap();
            assert_eq!(r.send.status, SendStatus::SendOk);
        }
    }
    let seen: Seen = Arc::default();
    let consumer = PushConsumer::builder(client(namesrv.local_addr()), consumer_config("txcg"))
        .subscribe("TxnClient", "*")
        .listen(collector(&seen))
        .start()
        .await
        .unwrap();
    let want: BTreeSet<String> = ["commit", "unknown-commit"]
        .iter()
        .flat_map(|k| (0..5).map(move |i| format!("{k}-{i}")))
        .collect();
    wait_until("the committed messages", Duration::from_secs(30), || {
        bodies(&seen).len() >= want.len()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(bodies(&seen), want);
    assert_eq!(seen.lock().unwrap().len(), want.len(), "no duplicates");
    let asked: BTreeSet<String> = checked.lock().unwrap().iter().cloned().collect();
    assert!(asked.iter().all(|k| k.starts_with("unknown")), "{asked:?}");
    assert_eq!(asked.len(), 10, "every unknown one was checked: {asked:?}");
    consumer.shutdown().await;
    producer.shutdown().await;
    broker.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
