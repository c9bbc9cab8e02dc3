//! Counters and latency histograms of a benchmark run, the live line printed every second
//! and the final summary.
//!
//! Each worker records into its own histogram (an uncontended lock); the reporter merges
//! them every second into the interval's and the run's histograms, so percentiles are over
//! every message, never averages of percentiles.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::util::lock;

/// Latencies in microseconds, 1 µs .. 1 h, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap_or_else(|_| unreachable!())
}

/// What one side (send or consume) of a run counts.
#[derive(Debug)]
pub struct Meter {
    pub name: &'static str,
    pub messages: AtomicU64,
    pub bytes: AtomicU64,
    pub failed: AtomicU64,
    recorders: Mutex<Vec<Arc<Mutex<Histogram<u64>>>>>,
    /// Consumers: a second latency (store → consume).
    pub second: Option<Arc<Meter>>,
}

impl Meter {
    pub fn new(name: &'static str) -> Arc<Self> {
        Self::build(name, None)
    }

    pub fn with_second(name: &'static str, second: Arc<Meter>) -> Arc<Self> {
        Self::build(name, Some(second))
    }

    fn build(name: &'static str, second: Option<Arc<Meter>>) -> Arc<Self> {
        Arc::new(Self {
            name,
            messages: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            recorders: Mutex::default(),
            second,
        })
    }

    /// A histogram for one worker.
    pub fn recorder(&self) -> Arc<Mutex<Histogram<u64>>> {
        let h = Arc::new(Mutex::new(histogram()));
        lock(&self.recorders).push(Arc::clone(&h));
        h
    }

    pub fn done(&self, messages: u64, bytes: u64) {
        self.messages.fetch_add(messages, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Moves what the workers recorded into `into`.
    fn drain(&self, into: &mut Histogram<u64>) {
        for r in lock(&self.recorders).iter() {
            let mut h = lock(r);
            let _ = into.add(&*h);
            h.reset();
        }
    }
}

/// The end-of-run numbers of one meter.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub messages: u64,
    pub failed: u64,
    pub seconds: f64,
    pub tps: f64,
    pub mb_per_s: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

/// Prints a line per second for each meter; returns the run's summaries at `stop`.
pub struct Reporter {
    meters: Vec<Arc<Meter>>,
    totals: Vec<Histogram<u64>>,
    last: Vec<(u64, u64, u64)>,
    /// Counts at the last reset (the summary counts from there).
    base: Vec<(u64, u64, u64)>,
    started: Instant,
}

impl Reporter {
    pub fn new(meters: Vec<Arc<Meter>>) -> Self {
        let n = meters.len();
        Self {
            meters,
            totals: (0..n).map(|_| histogram()).collect(),
            last: vec![(0, 0, 0); n],
            base: vec![(0, 0, 0); n],
            started: Instant::now(),
        }
    }

    /// Forgets everything measured so far (after a warm-up).
    pub fn reset(&mut self) {
        for (i, m) in self.meters.iter().enumerate() {
            let mut scratch = histogram();
            m.drain(&mut scratch);
            self.totals[i].reset();
            self.last[i] = (
                m.messages.load(Ordering::Relaxed),
                m.bytes.load(Ordering::Relaxed),
                m.failed.load(Ordering::Relaxed),
            );
            self.base[i] = self.last[i];
        }
        self.started = Instant::now();
    }

    /// One live line (interval rates and latencies); `interval` is the time since the
    /// previous tick.
    pub fn tick(&mut self, interval: Duration) -> String {
        let mut line = format!("[{:>5.0}s]", self.started.elapsed().as_secs_f64());
        for (i, m) in self.meters.iter().enumerate() {
            let mut h = histogram();
            m.drain(&mut h);
            let _ = self.totals[i].add(&h);
            let now = (
                m.messages.load(Ordering::Relaxed),
                m.bytes.load(Ordering::Relaxed),
                m.failed.load(Ordering::Relaxed),
            );
            let (msgs, bytes, failed) = (
                now.0 - self.last[i].0,
                now.1 - self.last[i].1,
                now.2 - self.last[i].2,
            );
            self.last[i] = now;
            let secs = interval.as_secs_f64().max(1e-9);
            let _ = write!(
                line,
                " {} {:>9.0} msg/s {:>7.1} MB/s failed {:>3}",
                m.name,
                msgs as f64 / secs,
                bytes as f64 / secs / 1e6,
                failed
            );
            if !h.is_empty() {
                let _ = write!(
                    line,
                    " p50 {} p99 {} p999 {} max {}",
                    ms(h.value_at_quantile(0.5)),
                    ms(h.value_at_quantile(0.99)),
                    ms(h.value_at_quantile(0.999)),
                    ms(h.max())
                );
            }
        }
        line
    }

    /// The run's summaries (after a last drain), in meter order.
    pub fn finish(&mut self) -> Vec<Summary> {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let mut out = Vec::new();
        for (i, m) in self.meters.iter().enumerate() {
            m.drain(&mut self.totals[i]);
            let h = &self.totals[i];
            let messages = m.messages.load(Ordering::Relaxed) - self.base[i].0;
            let bytes = m.bytes.load(Ordering::Relaxed) - self.base[i].1;
            let failed = m.failed.load(Ordering::Relaxed) - self.base[i].2;
            out.push(Summary {
                messages,
                failed,
                seconds: secs,
                tps: messages as f64 / secs,
                mb_per_s: bytes as f64 / secs / 1e6,
                p50_us: h.value_at_quantile(0.5),
                p99_us: h.value_at_quantile(0.99),
                p999_us: h.value_at_quantile(0.999),
                max_us: h.max(),
                mean_us: if h.is_empty() { 0.0 } else { h.mean() },
            });
        }
        out
    }
}

/// `1.23ms` from microseconds.
pub fn ms(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.0}ms", us as f64 / 1000.0)
    } else {
        format!("{:.2}ms", us as f64 / 1000.0)
    }
}

/// Whether to redraw the live line in place (a terminal) or print one line per second.
pub fn interactive() -> bool {
    std::io::stderr().is_terminal()
}
