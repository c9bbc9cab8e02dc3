//! How `apogee admin` prints: mqadmin's aligned tables for people, or one JSON document
//! (`--json`) for scripts; times as mqadmin writes them (in UTC).

use serde::Serialize;

/// Where a command's result goes.
#[derive(Clone, Copy, Debug)]
pub struct Out {
    pub json: bool,
}

tokio::task_local! {
    /// Set by [`capture`]: the documents the command would print with `--json`.
    static CAPTURED: std::cell::RefCell<Vec<serde_json::Value>>;
}

impl Out {
    /// Prints `value` as JSON when `--json` was given; true if it did (the caller then
    /// skips its table). Under [`capture`] the value is kept instead of printed.
    pub fn json<T: Serialize>(&self, value: &T) -> bool {
        if self.json {
            let kept = CAPTURED.try_with(|captured| {
                let value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
                captured.borrow_mut().push(value);
            });
            if kept.is_err() {
                println!(
                    "{}",
                    serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into())
                );
            }
        }
        self.json
    }
}

/// Runs `command` (an admin command given `Out { json: true }`) and returns the JSON
/// document it printed, instead of printing it (the web console runs commands so).
pub async fn capture<F>(command: F) -> anyhow::Result<serde_json::Value>
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    CAPTURED
        .scope(Default::default(), async move {
            command.await?;
            let mut documents = CAPTURED.with(|captured| captured.take());
            Ok(match documents.len() {
                0 => serde_json::Value::Null,
                1 => documents.remove(0),
                _ => serde_json::Value::Array(documents),
            })
        })
        .await
}

/// Java's `UtilAll.frontStringAtLeast`: at most `n` characters.
pub fn front(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}

/// (year, month, day, hour, minute, second, millisecond) of a time in ms since the epoch,
/// in UTC.
fn civil(ms: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    let (year, month, day) = crate::util::civil_from_days(days);
    let secs = rest / 1000;
    (
        year,
        month,
        day,
        (secs / 3600) as u32,
        (secs / 60 % 60) as u32,
        (secs % 60) as u32,
        (rest % 1000) as u32,
    )
}

/// `yyyy-MM-dd HH:mm:ss,SSS` (Java's `timeMillisToHumanString2`).
pub fn human_ms(ms: i64) -> String {
    let (y, mo, d, h, mi, s, ms) = civil(ms);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02},{ms:03}")
}

/// `yyyy-MM-dd HH:mm:ss`.
pub fn human(ms: i64) -> String {
    let (y, mo, d, h, mi, s, _) = civil(ms);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

/// Parses `yyyy-MM-dd#HH:mm:ss:SSS` (UTC), the form mqadmin takes times in.
pub fn parse_time(text: &str) -> Option<i64> {
    let (date, time) = text.split_once('#')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, mo, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi, s, ms) = (
        t.next()??,
        t.next()??,
        t.next()??,
        t.next().flatten().unwrap_or(0),
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&day) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    // Days from civil (the inverse of `civil`).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms)
}

/// RocketMQ's `MQVersion.Version` names, by ordinal (the version a client sends).
const VERSIONS: &str = include_str!("versions.txt");

/// The name of a client version (`MQVersion.getVersionDesc`): past the last known, the
/// last (`HIGHER_VERSION`).
pub fn version_desc(version: i32) -> String {
    let names: Vec<&str> = VERSIONS.lines().collect();
    let index = usize::try_from(version).unwrap_or(0).min(names.len() - 1);
    names[index].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_and_parse_as_mqadmin_writes_them() {
        assert_eq!(human_ms(0), "1970-01-01 00:00:00,000");
        assert_eq!(human_ms(1_764_720_000_123), "2025-12-03 00:00:00,123");
        assert_eq!(human(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(
            parse_time("2025-12-03#00:00:00:123"),
            Some(1_764_720_000_123)
        );
        assert_eq!(parse_time("2000-02-29#00:00:00:000"), Some(951_782_400_000));
        assert_eq!(parse_time("2025-13-03#00:00:00:000"), None);
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(front("abcdef", 3), "abc");
        assert_eq!(version_desc(479), "V5_3_3");
        assert_eq!(version_desc(409), "V4_9_8");
        assert_eq!(version_desc(100_000), "HIGHER_VERSION");
    }
}
