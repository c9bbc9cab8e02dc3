//! Timer messages on the durable wheel, through the network: timers from a second to three
//! days (the broker's clock moved forward, not waited for), never delivered early; the
//! same time keeps the send order; a restart between send and delivery loses none and
//! repeats none; refusals as the Java broker answers them.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use apogee::broker::config::Clock;
use apogee::client::{Message, MessageExt, Producer, ProducerConfig, PushConsumer};
use apogee::protocol::{properties, ResponseCode};
use apogee::store::FlushMode;

use super::broker::start_with;
use super::client::{body_list as bodies, client, collector, consumer_config, wait_until, Seen};
use super::store::temp_dir;

const SECOND: i64 = 1000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

fn prop(m: &MessageExt, name: &str) -> i64 {
    m.property(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing: {}", m.properties))
}

async fn consumer(
    namesrv: std::net::SocketAddr,
    group: &str,
    topic: &str,
    seen: &Seen,
) -> PushConsumer {
    PushConsumer::builder(client(namesrv), consumer_config(group))
        .subscribe(topic, "*")
        .listen(collector(seen))
        .start()
        .await
        .unwrap()
}

#[actix_rt::test]
async fn timers_from_a_second_to_three_days_arrive_at_their_time_never_early() {
    let dir = temp_dir("timer-days");
    let clock = Clock::default();
    let broker_clock = clock.clone();
    let (namesrv, broker) =
        start_with(&dir, FlushMode::Async, move |c| c.clock = broker_clock).await;
    let ns = namesrv.local_addr();
    let producer = Producer::start(client(ns), ProducerConfig::new("TimerP"))
        .await
        .unwrap();
    let start = clock.now_ms();
    let delays = [SECOND, 90 * SECOND, 2 * HOUR + 5 * MINUTE, 3 * DAY - MINUTE];
    let mut asked = BTreeMap::new();
    for (i, delay) in delays.iter().enumerate() {
        let at = start + delay;
        let sent = producer
            .send_at(Message::new("TimerT", format!("timer {i}")), at)
            .await
            .unwrap();
        // Answered at once, with the real queue (the timer waits in the wheel).
        assert_eq!(sent.queue.topic, "TimerT");
        assert!(
            sent.queue.queue_id < 8,
            "answered with a wheel queue: {:?}",
            sent.queue
        );
        asked.insert(format!("timer {i}"), at);
    }
    // (The sends made the topic: the consumer finds its route.)
    let seen = Seen::default();
    let consumer = consumer(ns, "TimerG", "TimerT", &seen).await;
    // Nothing early; then each at its time as the clock passes it.
    for (i, delay) in delays.iter().enumerate() {
        let before = start + delay - 2 * SECOND;
        let now = clock.now_ms();
        if before > now {
            clock.advance(before - now);
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        // (Read the count, then the clock: still before the time means none came early.)
        let count = seen.lock().unwrap().len();
        if clock.now_ms() < start + delay {
            assert_eq!(count, i, "delivered before its time: {:?}", bodies(&seen));
        }
        clock.advance(3 * SECOND);
        wait_until(&format!("timer {i}"), Duration::from_secs(15), || {
            seen.lock().unwrap().len() > i
        })
        .await;
    }
    for m in seen.lock().unwrap().iter() {
        let body = String::from_utf8_lossy(&m.body).into_owned();
        let at = asked[&body];
        let left = prop(m, properties::TIMER_DEQUEUE_MS);
        assert!(left >= at, "{body}: left the wheel at {left}, asked {at}");
        assert!(left <= at + 4 * SECOND, "{body}: {} ms late", left - at);
        // As the Java broker leaves them: the real queue, the slot time, the unique id.
        assert_eq!(m.topic, "TimerT");
        assert_eq!(
            prop(m, properties::TIMER_OUT_MS),
            (at - 1) / SECOND * SECOND
        );
        assert_eq!(
            m.property(properties::TIMER_DELIVER_MS),
            Some(&*at.to_string())
        );
        assert!(m.property(properties::UNIQ_KEY).is_some());
    }
    consumer.shutdown().await;
    producer.shutdown().await;
    broker.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn timers_of_one_time_leave_in_send_order_and_bad_ones_are_refused() {
    let dir = temp_dir("timer-order");
    let clock = Clock::default();
    let broker_clock = clock.clone();
    let (namesrv, broker) =
        start_with(&dir, FlushMode::Async, move |c| c.clock = broker_clock).await;
    let ns = namesrv.local_addr();
    let producer = Producer::start(client(ns), ProducerConfig::new("TimerOrderP"))
        .await
        .unwrap();
    // One queue, timers of the same time, some sent while others move down the wheel
    // (the time is the next hour's: they pass through the hour, minute and second levels).
    producer
        .send(Message::new("TimerOrderT", "create"))
        .await
        .unwrap();
    let queue = producer.queues("TimerOrderT").await.unwrap()[0].clone();
    let at = (clock.now_ms() / HOUR + 1) * HOUR + 7 * SECOND;
    for i in 0..60 {
        if i == 30 {
            // The wheel takes the hour and minute slots while the rest are sent.
            clock.advance(at - clock.now_ms() - 3 * SECOND);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let msg = Message::new("TimerOrderT", format!("{i}")).with_deliver_time_ms(at);
        producer.send_to_queue(msg, &queue).await.unwrap();
    }
    let seen = Seen::default();
    let consumer = consumer(ns, "TimerOrderG", "TimerOrderT", &seen).await;
    clock.advance(at - clock.now_ms() + SECOND);
    wait_until("60 timers", Duration::from_secs(20), || {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|m| m.body.as_ref() != b"create")
            .count()
            >= 60
    })
    .await;
    let mut delivered: Vec<(i64, usize)> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.body.as_ref() != b"create")
        .map(|m| {
            (
                m.queue_offset,
                String::from_utf8_lossy(&m.body).parse().unwrap(),
            )
        })
        .collect();
    delivered.sort_unstable();
    let order: Vec<usize> = delivered.iter().map(|(_, i)| *i).collect();
    assert_eq!(
        order,
        (0..60).collect::<Vec<_>>(),
        "the queue's order is the send order"
    );

    // Refusals, as the Java broker words them.
    let far = Message::new("TimerOrderT", "far").with_delay(Duration::from_secs(3 * 86_400 + 1));
    let err = producer.send(far).await.unwrap_err();
    assert_eq!(err.code(), Some(ResponseCode::MESSAGE_ILLEGAL), "{err}");
    assert!(err.to_string().contains("timer message illegal, the delay time should not be bigger than the max delay 259200000ms"), "{err}");
    let bad = Message::new("TimerOrderT", "bad").with_property(properties::TIMER_DELAY_SEC, "soon");
    assert!(producer
        .send(bad)
        .await
        .unwrap_err()
        .to_string()
        .contains("timer message illegal"));
    consumer.shutdown().await;
    producer.shutdown().await;
    broker.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_restart_between_send_and_delivery_loses_none_and_repeats_none() {
    let dir = temp_dir("timer-restart");
    let clock = Clock::default();
    let broker_clock = clock.clone();
    let (namesrv, broker) =
        start_with(&dir, FlushMode::Async, move |c| c.clock = broker_clock).await;
    let ns = namesrv.local_addr();
    let producer = Producer::start(client(ns), ProducerConfig::new("TimerRestartP"))
        .await
        .unwrap();
    let start = clock.now_ms();
    // Due in a minute, an hour and a day; some taken before the restart.
    let mut sent = HashSet::new();
    for i in 0..300 {
        let delay = [MINUTE, HOUR, DAY][i % 3] + (i as i64) * 10;
        let body = format!("r{i}");
        producer
            .send_at(Message::new("TimerRestartT", body.clone()), start + delay)
            .await
            .unwrap();
        sent.insert(body);
    }
    clock.advance(MINUTE + 5 * SECOND);
    tokio::time::sleep(Duration::from_millis(800)).await;
    producer.shutdown().await;
    broker.shutdown().await.unwrap();
    namesrv.server.stop();

    // The same store, later than every timer.
    let restarted_clock = clock.clone();
    let (namesrv, broker) =
        start_with(&dir, FlushMode::Async, move |c| c.clock = restarted_clock).await;
    clock.advance(DAY + HOUR);
    let seen = Seen::default();
    let consumer = consumer(
        namesrv.local_addr(),
        "TimerRestartG",
        "TimerRestartT",
        &seen,
    )
    .await;
    wait_until("300 timers", Duration::from_secs(30), || {
        seen.lock().unwrap().len() >= 300
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = bodies(&seen);
    let unique: HashSet<String> = got.iter().cloned().collect();
    assert_eq!(unique, sent, "none lost");
    assert_eq!(got.len(), 300, "none repeated");
    consumer.shutdown().await;
    broker.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_recalled_timer_is_not_delivered() {
    let dir = temp_dir("timer-recall");
    let clock = Clock::default();
    let broker_clock = clock.clone();
    let (namesrv, broker) = start_with(&dir, FlushMode::Async, move |c| {
        c.clock = broker_clock;
        c.recall_message_enable = true;
    })
    .await;
    let ns = namesrv.local_addr();
    let producer = Producer::start(client(ns), ProducerConfig::new("RecallP"))
        .await
        .unwrap();
    let at = clock.now_ms() + HOUR;
    let kept = producer
        .send_at(Message::new("RecallT", "kept"), at)
        .await
        .unwrap();
    let gone = producer
        .send_at(Message::new("RecallT", "recalled"), at)
        .await
        .unwrap();
    assert!(kept.recall_handle.is_some());
    let handle = gone.recall_handle.clone().unwrap();
    assert_eq!(
        producer.recall("RecallT", &handle).await.unwrap(),
        gone.msg_id
    );
    // A handle of another topic, or garbage, is refused as the Java broker refuses it.
    let err = producer.recall("TimerT", &handle).await.unwrap_err();
    assert!(
        err.code() == Some(ResponseCode::TOPIC_NOT_EXIST)
            || err.to_string().contains("topic not match"),
        "{err}"
    );
    let seen = Seen::default();
    let consumer = consumer(ns, "RecallG", "RecallT", &seen).await;
    clock.advance(HOUR + 2 * SECOND);
    wait_until("the kept timer", Duration::from_secs(15), || {
        !seen.lock().unwrap().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(bodies(&seen), ["kept"]);
    consumer.shutdown().await;
    producer.shutdown().await;
    broker.shutdown().await.unwrap();
}
