//! The broker's counters, as RocketMQ's `StoreStatsService` and `BrokerStatsManager` keep
//! them for GET_BROKER_RUNTIME_INFO (mqadmin clusterList / brokerStatus): messages put and
//! got, with rates over the last 10 s, 60 s and 600 s, and the totals at the start of today
//! and of yesterday (UTC days); how long puts take (store and, under SYNC_FLUSH, the flush:
//! the maximum, RocketMQ's distribution, the 99th and 99.9th percentiles since boot) and
//! the longest read of a pull. Counting is lock-free on the send and pull paths; one
//! sample a second ([`BrokerStats::sample`], from a timer of the broker) feeds the rates.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use crate::util::lock;

const DAY_MS: i64 = 86_400_000;

/// Put latencies are counted per millisecond up to this, and above it in one slot.
const LATENCY_MS: usize = 1000;

/// RocketMQ's `putMessageDistributeTime` buckets: upper bounds in ms, and their names.
const DISTRIBUTION: [(u64, &str); 13] = [
    (0, "[<=0ms]"),
    (10, "[0~10ms]"),
    (50, "[10~50ms]"),
    (100, "[50~100ms]"),
    (200, "[100~200ms]"),
    (500, "[200~500ms]"),
    (1000, "[500ms~1s]"),
    (2000, "[1~2s]"),
    (3000, "[2~3s]"),
    (4000, "[3~4s]"),
    (5000, "[4~5s]"),
    (10_000, "[5~10s]"),
    (u64::MAX, "[10s~]"),
];

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Sample {
    at_ms: i64,
    put: u64,
    got: u64,
    found: u64,
    miss: u64,
}

#[derive(Debug, Default)]
struct Daily {
    day: i64,
    put_today_morning: u64,
    put_yesterday_morning: u64,
    got_today_morning: u64,
    got_yesterday_morning: u64,
}

#[derive(Debug)]
pub struct BrokerStats {
    pub boot_ms: i64,
    put_msgs: AtomicU64,
    put_bytes: AtomicU64,
    put_failed: AtomicU64,
    /// Messages handed to consumers.
    got_msgs: AtomicU64,
    /// Pulls that found messages, and pulls that found none.
    pulls_found: AtomicU64,
    pulls_missed: AtomicU64,
    samples: Mutex<VecDeque<Sample>>,
    daily: Mutex<Daily>,
    /// Puts by latency in whole milliseconds (the last slot: longer).
    put_latency: Box<[AtomicU64]>,
    put_distribution: [AtomicU64; 13],
    put_max_ms: AtomicU64,
    get_max_ms: AtomicU64,
}

/// The rates of one counter over 10 s, 60 s and 600 s, as RocketMQ writes them
/// (`"<10s> <60s> <600s>"`).
pub type Rates = [f64; 3];

impl BrokerStats {
    pub fn new(now_ms: i64) -> Self {
        Self {
            boot_ms: now_ms,
            put_msgs: AtomicU64::new(0),
            put_bytes: AtomicU64::new(0),
            put_failed: AtomicU64::new(0),
            got_msgs: AtomicU64::new(0),
            pulls_found: AtomicU64::new(0),
            pulls_missed: AtomicU64::new(0),
            samples: Mutex::new(VecDeque::new()),
            daily: Mutex::new(Daily {
                day: now_ms.div_euclid(DAY_MS),
                ..Daily::default()
            }),
            put_latency: (0..=LATENCY_MS).map(|_| AtomicU64::new(0)).collect(),
            put_distribution: Default::default(),
            put_max_ms: AtomicU64::new(0),
            get_max_ms: AtomicU64::new(0),
        }
    }

    /// A put (one send) took this long, from the append to the answer.
    pub fn put_took(&self, took: std::time::Duration) {
        let ms = took.as_millis() as u64;
        self.put_latency[(ms as usize).min(LATENCY_MS)].fetch_add(1, Relaxed);
        let bucket = DISTRIBUTION
            .iter()
            .position(|(upper, _)| ms <= *upper)
            .unwrap_or(12);
        self.put_distribution[bucket].fetch_add(1, Relaxed);
        self.put_max_ms.fetch_max(ms, Relaxed);
    }

    /// A pull's read of the store took this long.
    pub fn get_took(&self, took: std::time::Duration) {
        self.get_max_ms.fetch_max(took.as_millis() as u64, Relaxed);
    }

    /// The put latency (ms) under which `fraction` of the puts since boot stayed.
    fn put_percentile(&self, fraction: f64) -> f64 {
        let counts: Vec<u64> = self.put_latency.iter().map(|c| c.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return 0.0;
        }
        let wanted = (total as f64 * fraction).ceil() as u64;
        let mut seen = 0;
        for (ms, count) in counts.iter().enumerate() {
            seen += count;
            if seen >= wanted {
                return ms as f64;
            }
        }
        LATENCY_MS as f64
    }

    /// Messages stored by a send.
    pub fn put(&self, messages: usize, bytes: usize) {
        self.put_msgs.fetch_add(messages as u64, Relaxed);
        self.put_bytes.fetch_add(bytes as u64, Relaxed);
    }

    pub fn put_failed(&self) {
        self.put_failed.fetch_add(1, Relaxed);
    }

    /// A pull answered with `messages` messages.
    pub fn got(&self, messages: usize) {
        if messages > 0 {
            self.got_msgs.fetch_add(messages as u64, Relaxed);
            self.pulls_found.fetch_add(1, Relaxed);
        } else {
            self.pulls_missed.fetch_add(1, Relaxed);
        }
    }

    fn now(&self, at_ms: i64) -> Sample {
        Sample {
            at_ms,
            put: self.put_msgs.load(Relaxed),
            got: self.got_msgs.load(Relaxed),
            found: self.pulls_found.load(Relaxed),
            miss: self.pulls_missed.load(Relaxed),
        }
    }

    /// Takes the second's sample (keeps the last 601) and rolls the daily totals over at
    /// midnight UTC.
    pub fn sample(&self, now_ms: i64) {
        let sample = self.now(now_ms);
        {
            let mut samples = lock(&self.samples);
            samples.push_back(sample);
            while samples.len() > 601 {
                samples.pop_front();
            }
        }
        let mut daily = lock(&self.daily);
        let day = now_ms.div_euclid(DAY_MS);
        if day != daily.day {
            let yesterday = day == daily.day + 1;
            daily.put_yesterday_morning = if yesterday {
                daily.put_today_morning
            } else {
                sample.put
            };
            daily.got_yesterday_morning = if yesterday {
                daily.got_today_morning
            } else {
                sample.got
            };
            daily.put_today_morning = sample.put;
            daily.got_today_morning = sample.got;
            daily.day = day;
        }
    }

    fn rates(&self, now_ms: i64, pick: impl Fn(&Sample) -> u64) -> Rates {
        let samples = lock(&self.samples);
        let newest = self.now(now_ms);
        let mut out = [0.0; 3];
        for (slot, window_ms) in out.iter_mut().zip([10_000i64, 60_000, 600_000]) {
            // The oldest sample inside the window (or the oldest there is).
            let oldest = samples
                .iter()
                .find(|s| newest.at_ms - s.at_ms <= window_ms)
                .copied();
            if let Some(old) = oldest.filter(|o| newest.at_ms > o.at_ms) {
                let secs = (newest.at_ms - old.at_ms) as f64 / 1000.0;
                *slot = (pick(&newest).saturating_sub(pick(&old))) as f64 / secs;
            }
        }
        out
    }

    /// The runtime-info keys these counters give, as the Java broker names and writes them.
    pub fn runtime_info(&self, now_ms: i64) -> Vec<(&'static str, String)> {
        let fmt = |r: Rates| format!("{:.2} {:.2} {:.2}", r[0], r[1], r[2]);
        let put = self.rates(now_ms, |s| s.put);
        let got = self.rates(now_ms, |s| s.got);
        let found = self.rates(now_ms, |s| s.found);
        let miss = self.rates(now_ms, |s| s.miss);
        let total = [found[0] + miss[0], found[1] + miss[1], found[2] + miss[2]];
        let daily = lock(&self.daily);
        let puts = self.put_msgs.load(Relaxed);
        let gots = self.got_msgs.load(Relaxed);
        let up = (now_ms - self.boot_ms).max(0) / 1000;
        vec![
            ("bootTimestamp", self.boot_ms.to_string()),
            (
                "runtime",
                format!(
                    "[ {} days, {} hours, {} minutes, {} seconds ]",
                    up / 86_400,
                    up / 3600 % 24,
                    up / 60 % 60,
                    up % 60
                ),
            ),
            ("putMessageTimesTotal", puts.max(1).to_string()),
            (
                "putMessageFailedTimes",
                self.put_failed.load(Relaxed).to_string(),
            ),
            (
                "putMessageSizeTotal",
                self.put_bytes.load(Relaxed).to_string(),
            ),
            (
                "putMessageAverageSize",
                format!(
                    "{:.1}",
                    self.put_bytes.load(Relaxed) as f64 / puts.max(1) as f64
                ),
            ),
            (
                "putMessageEntireTimeMax",
                self.put_max_ms.load(Relaxed).to_string(),
            ),
            (
                "getMessageEntireTimeMax",
                self.get_max_ms.load(Relaxed).to_string(),
            ),
            (
                "putMessageDistributeTime",
                DISTRIBUTION
                    .iter()
                    .zip(&self.put_distribution)
                    .map(|((_, name), count)| format!("{name}:{} ", count.load(Relaxed)))
                    .collect(),
            ),
            ("putLatency99", format!("{:.2}", self.put_percentile(0.99))),
            (
                "putLatency999",
                format!("{:.2}", self.put_percentile(0.999)),
            ),
            ("putTps", fmt(put)),
            ("getFoundTps", fmt(found)),
            ("getMissTps", fmt(miss)),
            ("getTotalTps", fmt(total)),
            ("getTransferredTps", fmt(got)),
            // 4.x spelled it so (mqadmin 4.9 reads this key).
            ("getTransferedTps", fmt(got)),
            (
                "msgPutTotalYesterdayMorning",
                daily.put_yesterday_morning.to_string(),
            ),
            (
                "msgPutTotalTodayMorning",
                daily.put_today_morning.to_string(),
            ),
            ("msgPutTotalTodayNow", puts.to_string()),
            (
                "msgGetTotalYesterdayMorning",
                daily.got_yesterday_morning.to_string(),
            ),
            (
                "msgGetTotalTodayMorning",
                daily.got_today_morning.to_string(),
            ),
            ("msgGetTotalTodayNow", gots.to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<'a>(info: &'a [(&'static str, String)], key: &str) -> &'a str {
        &info.iter().find(|(k, _)| *k == key).unwrap().1
    }

    #[test]
    fn put_latencies_give_the_distribution_max_and_percentiles() {
        let stats = BrokerStats::new(0);
        let ms = std::time::Duration::from_millis;
        for _ in 0..990 {
            stats.put_took(ms(0));
        }
        for _ in 0..9 {
            stats.put_took(ms(30));
        }
        stats.put_took(ms(2500));
        let info = stats.runtime_info(1000);
        assert_eq!(value(&info, "putMessageEntireTimeMax"), "2500");
        assert_eq!(
            value(&info, "putMessageDistributeTime"),
            "[<=0ms]:990 [0~10ms]:0 [10~50ms]:9 [50~100ms]:0 [100~200ms]:0 [200~500ms]:0 [500ms~1s]:0 [1~2s]:0 [2~3s]:1 [3~4s]:0 [4~5s]:0 [5~10s]:0 [10s~]:0 "
        );
        assert_eq!(value(&info, "putLatency99"), "0.00");
        assert_eq!(value(&info, "putLatency999"), "30.00");
        stats.get_took(ms(7));
        assert_eq!(
            value(&stats.runtime_info(1000), "getMessageEntireTimeMax"),
            "7"
        );
    }

    #[test]
    fn rates_and_daily_totals_follow_the_samples() {
        let day = 20_000 * DAY_MS;
        let stats = BrokerStats::new(day);
        stats.sample(day);
        for second in 1..=10 {
            stats.put(100, 1000);
            stats.got(50);
            stats.got(0);
            stats.sample(day + second * 1000);
        }
        let info = stats.runtime_info(day + 10_000);
        assert_eq!(value(&info, "putTps"), "100.00 100.00 100.00");
        assert_eq!(value(&info, "getTransferredTps"), "50.00 50.00 50.00");
        assert_eq!(value(&info, "getMissTps"), "1.00 1.00 1.00");
        assert_eq!(value(&info, "msgPutTotalTodayNow"), "1000");
        assert_eq!(value(&info, "msgPutTotalTodayMorning"), "0");
        assert_eq!(
            value(&info, "runtime"),
            "[ 0 days, 0 hours, 0 minutes, 10 seconds ]"
        );
        // Midnight: today's morning total is what was put by then.
        stats.sample(day + DAY_MS);
        stats.put(7, 70);
        let info = stats.runtime_info(day + DAY_MS + 1000);
        assert_eq!(value(&info, "msgPutTotalTodayMorning"), "1000");
        assert_eq!(value(&info, "msgPutTotalYesterdayMorning"), "0");
        assert_eq!(value(&info, "msgPutTotalTodayNow"), "1007");
        // Nothing new for 10 minutes: the rates fall to zero.
        for second in 1..=601 {
            stats.sample(day + DAY_MS + 1000 + second * 1000);
        }
        let info = stats.runtime_info(day + DAY_MS + 602_000);
        assert_eq!(value(&info, "putTps"), "0.00 0.00 0.00");
    }
}
