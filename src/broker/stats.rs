//! The broker's counters, as RocketMQ's `StoreStatsService` and `BrokerStatsManager` keep
//! them for GET_BROKER_RUNTIME_INFO (mqadmin clusterList / brokerStatus): messages put and
//! got, with rates over the last 10 s, 60 s and 600 s, and the totals at the start of today
//! and of yesterday (UTC days). Counting is lock-free on the send and pull paths; one
//! sample a second ([`BrokerStats::sample`], from a timer of the broker) feeds the rates.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use crate::util::lock;

const DAY_MS: i64 = 86_400_000;

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
        }
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
