//! Latency fault avoidance (RocketMQ's `MQFaultStrategy`): a broker that failed or answered
//! slowly is avoided for a while when the producer picks a queue.
//!
//! A send that took `latency` makes its broker unavailable for the duration of the first
//! bound it reaches: latency ≥ 15 s / 3 s / 2 s / 1 s / 550 ms → 600 / 180 / 120 / 60 /
//! 30 s; faster answers clear the broker. A failed send (timeout, connection error, broker
//! error) isolates the broker for [`ISOLATION`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::protocol::body::client::MessageQueue;
use crate::util::lock;

const LATENCY_BOUNDS_MS: [u64; 7] = [50, 100, 550, 1_000, 2_000, 3_000, 15_000];
const NOT_AVAILABLE_MS: [u64; 7] = [0, 0, 30_000, 60_000, 120_000, 180_000, 600_000];

/// How long a broker whose send failed is avoided.
pub const ISOLATION: Duration = Duration::from_secs(30);

/// Brokers to avoid, and until when.
#[derive(Debug)]
pub struct FaultTable {
    /// Off: nothing is recorded, every broker is available (plain round robin).
    enabled: bool,
    unavailable_until: Mutex<HashMap<String, Instant>>,
}

impl Default for FaultTable {
    fn default() -> Self {
        Self::new(true)
    }
}

impl FaultTable {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            unavailable_until: Mutex::default(),
        }
    }

    /// Records the outcome of a send to `broker`.
    pub fn record(&self, broker: &str, latency: Duration, failed: bool, now: Instant) {
        if !self.enabled {
            return;
        }
        let avoid = if failed {
            ISOLATION
        } else {
            not_available_for(latency)
        };
        let mut table = lock(&self.unavailable_until);
        if avoid.is_zero() {
            table.remove(broker);
        } else {
            table.insert(broker.to_owned(), now + avoid);
        }
    }

    pub fn available(&self, broker: &str, now: Instant) -> bool {
        let table = lock(&self.unavailable_until);
        table.get(broker).is_none_or(|until| now >= *until)
    }

    /// The next queue in round-robin order whose broker is available and is not
    /// `avoid_broker` (the one that just failed); failing that, any queue of another
    /// broker; failing that, the next queue.
    pub fn select<'a>(
        &self,
        queues: &'a [MessageQueue],
        counter: &AtomicUsize,
        avoid_broker: Option<&str>,
        now: Instant,
    ) -> Option<&'a MessageQueue> {
        if queues.is_empty() {
            return None;
        }
        let n = queues.len();
        let start = counter.fetch_add(1, Ordering::Relaxed);
        let other = |q: &MessageQueue| avoid_broker != Some(q.broker_name.as_str());
        (0..n)
            .map(|k| &queues[(start + k) % n])
            .find(|q| other(q) && self.available(&q.broker_name, now))
            .or_else(|| (0..n).map(|k| &queues[(start + k) % n]).find(|q| other(q)))
            .or(Some(&queues[start % n]))
    }
}

fn not_available_for(latency: Duration) -> Duration {
    let ms = latency.as_millis() as u64;
    LATENCY_BOUNDS_MS
        .iter()
        .rposition(|bound| ms >= *bound)
        .map_or(Duration::ZERO, |i| {
            Duration::from_millis(NOT_AVAILABLE_MS[i])
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(broker: &str, id: i32) -> MessageQueue {
        MessageQueue {
            broker_name: broker.into(),
            queue_id: id,
            topic: "T".into(),
        }
    }

    #[test]
    fn slow_and_failed_brokers_are_avoided_for_a_while() {
        assert_eq!(not_available_for(Duration::from_millis(20)), Duration::ZERO);
        assert_eq!(
            not_available_for(Duration::from_millis(600)),
            Duration::from_secs(30)
        );
        assert_eq!(
            not_available_for(Duration::from_secs(20)),
            Duration::from_secs(600)
        );
        let t = FaultTable::default();
        let now = Instant::now();
        let queues = [q("a", 0), q("a", 1), q("b", 0), q("b", 1)];
        let counter = AtomicUsize::new(0);
        t.record("a", Duration::from_millis(5), true, now);
        for _ in 0..8 {
            let chosen = t.select(&queues, &counter, None, now).unwrap();
            assert_eq!(chosen.broker_name, "b");
        }
        // After the isolation, `a` is chosen again; a fast answer clears it at once.
        let later = now + ISOLATION;
        assert!(t.available("a", later));
        t.record("a", Duration::from_millis(1), false, now);
        assert!(t.available("a", now));
        // A retry avoids the broker that just failed even when all are available.
        for _ in 0..8 {
            let chosen = t.select(&queues, &counter, Some("b"), now).unwrap();
            assert_eq!(chosen.broker_name, "a");
        }
        // Switched off, a failure is not remembered.
        let off = FaultTable::new(false);
        off.record("a", Duration::from_millis(5), true, now);
        assert!(off.available("a", now));
        // With a single broker the retry still goes somewhere.
        let single = [q("a", 0)];
        assert!(t.select(&single, &counter, Some("a"), now).is_some());
        assert!(t.select(&[], &counter, None, now).is_none());
    }
}
