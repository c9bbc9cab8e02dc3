//! Scenario 1: sync, async, oneway and batch sends, one fresh topic per mode, each read
//! back in full by a lite pull consumer of its own group (unique bodies counted) and
//! cross-checked against the broker's GET_MAX_OFFSET per queue.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq_client_rust::{ClientError, DefaultMQProducer, SendResult, SendStatus};
use tokio::sync::Semaphore;

use crate::support::{describe, expected_ids, message, read_back, sample, Harness, Outcome};

const SCENARIO: &str = "send-modes";
/// Messages per SEND_BATCH_MESSAGE request.
const BATCH: usize = 100;

/// How one mode's sends went, as the client reported them.
#[derive(Default)]
struct Sent {
    /// Messages acknowledged SEND_OK (for oneway: calls that returned Ok).
    acked: usize,
    /// Everything else, by status or error text.
    failures: BTreeMap<String, usize>,
    took: Duration,
    /// A bound that was hit while sending (e.g. callbacks stopped arriving).
    stalled: Option<String>,
}

impl Sent {
    fn fail(&mut self, what: String) {
        *self.failures.entry(what).or_default() += 1;
    }
    fn result(&mut self, r: Result<Option<SendResult>, ClientError>, messages: usize) {
        match r {
            Ok(Some(r)) if r.send_status == SendStatus::SendOk => self.acked += messages,
            Ok(Some(r)) => self.fail(format!("status {:?}", r.send_status)),
            Ok(None) => self.fail("no send result".into()),
            Err(e) => self.fail(describe(&e)),
        }
    }
}

pub async fn run(h: &Harness) -> anyhow::Result<Outcome> {
    let mut o = Outcome::new(SCENARIO);
    let mut producer = h.producer("send").await?;
    let n = h.settings.messages;
    let modes = [
        ("sync", n),
        ("async", n),
        ("oneway", h.settings.oneway_messages),
        ("batch", n),
    ];
    for (mode, count) in modes {
        let topic = h.name("send", mode);
        h.create_topic(&mut producer, &topic).await?;
        let started = Instant::now();
        let mut sent = match mode {
            "sync" => send_sync(&producer, &topic, count).await,
            "async" => send_async(h, &producer, &topic, count).await,
            "oneway" => send_oneway(&producer, &topic, count).await,
            _ => send_batch(&producer, &topic, count).await,
        };
        sent.took = started.elapsed();
        verify(h, &mut o, mode, &topic, count, &sent).await?;
    }
    producer.shutdown().await;
    Ok(o)
}

async fn send_sync(p: &DefaultMQProducer, topic: &str, n: usize) -> Sent {
    let mut sent = Sent::default();
    for i in 0..n {
        let r = p
            .send_with_timeout(message(topic, "TagA", "sync", i), 10_000)
            .await;
        sent.result(r, 1);
    }
    sent
}

/// Completion state shared with the send callbacks; each message completes once (the
/// crate may both return an error and call the callback for the same send).
struct AsyncState {
    done: Vec<AtomicBool>,
    completed: AtomicUsize,
    acked: AtomicUsize,
    failures: Mutex<BTreeMap<String, usize>>,
    in_flight: Arc<Semaphore>,
}

impl AsyncState {
    fn complete(&self, i: usize, outcome: Result<(), String>) {
        if self.done[i].swap(true, Ordering::AcqRel) {
            return;
        }
        match outcome {
            Ok(()) => {
                self.acked.fetch_add(1, Ordering::Relaxed);
            }
            Err(what) => {
                if let Ok(mut f) = self.failures.lock() {
                    *f.entry(what).or_default() += 1;
                }
            }
        }
        self.completed.fetch_add(1, Ordering::Release);
        self.in_flight.add_permits(1);
    }
}

/// Async sends with at most `async_in_flight` awaiting their callback; message 0 goes
/// alone first so the topic's route is known before the burst (protocol doc §9).
async fn send_async(h: &Harness, p: &DefaultMQProducer, topic: &str, n: usize) -> Sent {
    let bound = h.settings.async_in_flight;
    let state = Arc::new(AsyncState {
        done: (0..n).map(|_| AtomicBool::new(false)).collect(),
        completed: AtomicUsize::new(0),
        acked: AtomicUsize::new(0),
        failures: Mutex::default(),
        in_flight: Arc::new(Semaphore::new(bound)),
    });
    let mut sent = Sent::default();
    for i in 0..n {
        match tokio::time::timeout(h.settings.wait, state.in_flight.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit.forget(),
            _ => {
                sent.stalled = Some(format!(
                    "no callback for {} s with {bound} sends in flight (stopped after {i} submitted)",
                    h.settings.wait.as_secs()
                ));
                break;
            }
        }
        let st = state.clone();
        let r = p
            .send_with_callback(message(topic, "TagA", "async", i), move |res, err| {
                let outcome = match (res, err) {
                    (Some(r), None) if r.send_status == SendStatus::SendOk => Ok(()),
                    (Some(r), None) => Err(format!("status {:?}", r.send_status)),
                    (_, Some(e)) => Err(describe(e)),
                    (None, None) => Err("callback with neither result nor error".into()),
                };
                st.complete(i, outcome);
            })
            .await;
        if let Err(e) = r {
            state.complete(
                i,
                Err(format!("send_with_callback returned: {}", describe(&e))),
            );
        }
        if i == 0 {
            let first = Instant::now();
            while state.completed.load(Ordering::Acquire) == 0 && first.elapsed() < h.settings.wait
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    // Every callback, bounded.
    let submitted = n;
    let mut last = state.completed.load(Ordering::Acquire);
    let mut last_change = Instant::now();
    while state.completed.load(Ordering::Acquire) < submitted && sent.stalled.is_none() {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = state.completed.load(Ordering::Acquire);
        if now != last {
            last = now;
            last_change = Instant::now();
        } else if last_change.elapsed() >= h.settings.wait {
            sent.stalled = Some(format!("{} callbacks never arrived", submitted - now));
        }
    }
    sent.acked = state.acked.load(Ordering::Relaxed);
    if let Ok(f) = state.failures.lock() {
        sent.failures = f.clone();
    }
    sent
}

async fn send_oneway(p: &DefaultMQProducer, topic: &str, n: usize) -> Sent {
    let mut sent = Sent::default();
    for i in 0..n {
        match p.send_oneway(message(topic, "TagA", "oneway", i)).await {
            Ok(()) => sent.acked += 1,
            Err(e) => sent.fail(describe(&e)),
        }
    }
    sent
}

async fn send_batch(p: &DefaultMQProducer, topic: &str, n: usize) -> Sent {
    let mut sent = Sent::default();
    let mut start = 0;
    while start < n {
        let end = (start + BATCH).min(n);
        let msgs: Vec<_> = (start..end)
            .map(|i| message(topic, "TagA", "batch", i))
            .collect();
        let r = p.send_batch_with_timeout(msgs, 10_000).await.map(Some);
        sent.result(r, end - start);
        start = end;
    }
    sent
}

async fn verify(
    h: &Harness,
    o: &mut Outcome,
    mode: &str,
    topic: &str,
    n: usize,
    sent: &Sent,
) -> anyhow::Result<()> {
    let rate = sent.acked as f64 / sent.took.as_secs_f64().max(0.001);
    let acked_word = if mode == "oneway" {
        "accepted by the client"
    } else {
        "SEND_OK"
    };
    o.check(
        sent.acked == n && sent.stalled.is_none(),
        format!(
            "{mode}: {}/{n} {acked_word} in {:.1} s ({rate:.0} msg/s)",
            sent.acked,
            sent.took.as_secs_f64()
        ),
    );
    for (what, count) in &sent.failures {
        o.note(format!("      {mode} send failure x{count}: {what}"));
    }
    if let Some(s) = &sent.stalled {
        o.note(format!("      {mode} stalled: {s}"));
    }

    let rb = read_back(h, &h.name("send", &format!("{mode}_rb")), topic, n).await?;
    let expected = expected_ids(mode, n);
    let missing: Vec<&String> = expected
        .iter()
        .filter(|id| !rb.seen.contains_key(*id))
        .collect();
    let unexpected: Vec<&String> = rb
        .seen
        .keys()
        .filter(|id| !expected.contains(*id))
        .collect();
    o.check(
        rb.stored() == n as i64,
        format!(
            "{mode}: broker holds {} messages (GET_MAX_OFFSET per queue {:?})",
            rb.stored(),
            rb.max_offsets
        ),
    );
    o.check(
        missing.is_empty() && unexpected.is_empty(),
        format!(
            "{mode}: read back {} unique of {n} in {:.1} s ({} duplicates, {} missing, {} unexpected)",
            rb.seen.len(),
            rb.took.as_secs_f64(),
            rb.duplicates(),
            missing.len(),
            unexpected.len()
        ),
    );
    if !missing.is_empty() {
        o.note(format!(
            "      {mode} missing: {}",
            sample(missing.iter().copied(), 8)
        ));
    }
    if !unexpected.is_empty() {
        o.note(format!(
            "      {mode} unexpected: {}",
            sample(unexpected.iter().copied(), 8)
        ));
    }
    crate::support::check_integrity(
        o,
        &format!("{mode}: read back"),
        rb.damaged,
        &rb.first_damage,
    );
    for e in &rb.errors {
        o.check(false, format!("{mode}: read-back error: {e}"));
    }
    Ok(())
}
