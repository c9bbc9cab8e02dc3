//! File retention: which commit-log files to delete, and when to refuse writes.
//!
//! As RocketMQ: files whose last modification is older than `file_reserved_hours` are
//! deleted at the `delete_when` hours of the day, or at any hour once disk use passes
//! `disk_max_used_ratio`; past `disk_force_ratio` the oldest files go even if not expired
//! (at most `max_files_per_run` each run); past `disk_hard_ratio` appends are refused. The
//! current file is never deleted. Consume-queue units and index files that point into
//! deleted files are removed, and queue min offsets move past them.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Weak;

use super::{Store, StoreError, RETENTION_PERIOD};

#[derive(Debug, Clone, PartialEq)]
pub struct RetentionConfig {
    /// `fileReservedTime` (hours): 72.
    pub file_reserved_hours: u64,
    /// `deleteWhen`: hours of the day at which expired files are deleted ("04").
    pub delete_when: Vec<u8>,
    /// `diskMaxUsedSpaceRatio`: 0.75 — above it, expired files go at any hour.
    pub disk_max_used_ratio: f64,
    /// Above it, the oldest files go even if not expired: 0.85.
    pub disk_force_ratio: f64,
    /// Above it, writes are refused: 0.90.
    pub disk_hard_ratio: f64,
    pub max_files_per_run: usize,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            file_reserved_hours: 72,
            delete_when: vec![4],
            disk_max_used_ratio: 0.75,
            disk_force_ratio: 0.85,
            disk_hard_ratio: 0.90,
            max_files_per_run: 10,
        }
    }
}

/// The inputs of a decision: each file's last modification (ms), oldest first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Situation {
    pub now_ms: i64,
    pub hour_of_day: u8,
    pub disk_used_ratio: f64,
}

/// How many of the oldest files to delete (the last one is never counted).
pub fn files_to_delete(config: &RetentionConfig, modified_ms: &[i64], at: Situation) -> usize {
    let deletable = modified_ms.len().saturating_sub(1);
    let reserved_ms = config.file_reserved_hours as i64 * 3_600_000;
    let expired = modified_ms[..deletable]
        .iter()
        .take_while(|&&m| m + reserved_ms <= at.now_ms)
        .count();
    let time_to_clean = config.delete_when.contains(&at.hour_of_day)
        || at.disk_used_ratio > config.disk_max_used_ratio;
    let mut count = if time_to_clean { expired } else { 0 };
    if at.disk_used_ratio > config.disk_force_ratio {
        count = count.max(deletable.min(config.max_files_per_run));
    }
    count
}

/// What one retention run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub deleted_log_files: usize,
    pub deleted_index_files: usize,
    pub log_min_offset: u64,
    pub disk_full: bool,
}

/// Used share of the disk holding `root`: (total − free) / total, as RocketMQ computes it.
pub fn disk_used_ratio(root: &Path) -> std::io::Result<f64> {
    let (total, free) = super::mmap::disk_space(root)?;
    Ok(used_ratio(total, free))
}

fn used_ratio(total: u64, free: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        1.0 - free as f64 / total as f64
    }
}

pub(super) fn disk_used_percent(root: &Path) -> Option<u32> {
    disk_used_ratio(root)
        .ok()
        .map(|r| (r * 100.0).round() as u32)
}

/// Writes are refused when the disk is used past `disk_hard_ratio`, or when less is
/// available than `margin` bytes: room for the next commit-log file, an index file and
/// some consume-queue growth. Mapped pages that the file system cannot back kill the
/// process (SIGBUS), so the store stops before the disk is really full. Checked every
/// 100 ms; returns (full, used ratio).
pub(super) fn check_space(store: &Store) -> Result<(bool, f64), StoreError> {
    let config = &store.config.retention;
    let (total, free, available) = super::mmap::disk_space_full(&store.config.root)?;
    let used = used_ratio(total, free);
    let margin = store.space_margin();
    let full = used > config.disk_hard_ratio || available < margin;
    if full != store.disk_full.swap(full, Ordering::AcqRel) {
        if full {
            tracing::error!(
                used_percent = (used * 100.0) as u32,
                available_mib = available >> 20,
                margin_mib = margin >> 20,
                "disk full: writes refused"
            );
        } else {
            tracing::info!(
                used_percent = (used * 100.0) as u32,
                available_mib = available >> 20,
                "disk usage back below the limit: writes accepted"
            );
        }
    }
    Ok((full, used))
}

/// One retention run over `store`.
pub(super) fn run(store: &Store, now_ms: i64, hour_of_day: u8) -> Result<Outcome, StoreError> {
    let config = &store.config.retention;
    let (full, used) = check_space(store)?;
    let files = store.commit_log.files_snapshot();
    let modified: Vec<i64> = files
        .iter()
        .map(|f| {
            std::fs::metadata(f.path())
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(i64::MAX, |d| d.as_millis() as i64)
        })
        .collect();
    let count = files_to_delete(
        config,
        &modified,
        Situation {
            now_ms,
            hour_of_day,
            disk_used_ratio: used,
        },
    );
    let mut outcome = Outcome {
        disk_full: full,
        ..Outcome::default()
    };
    if count > 0 {
        let keep_from = files[count].start();
        let deleted = store
            .commit_log
            .delete_files_before(|f| f.start() >= keep_from);
        outcome.deleted_log_files = deleted.len();
        tracing::info!(files = deleted.len(), "deleted expired commit-log files");
    }
    let log_min = store.commit_log.min_offset();
    outcome.log_min_offset = log_min;
    if outcome.deleted_log_files > 0 {
        for cq in store.queues_snapshot() {
            cq.clean_before(log_min)?;
        }
        outcome.deleted_index_files = store.index.clean_before(log_min)?;
    }
    Ok(outcome)
}

/// The retention thread: runs every 10 s while the store lives.
pub(super) fn run_periodically(store: Weak<Store>) {
    loop {
        let Some(strong) = store.upgrade() else {
            return;
        };
        if strong.threads_stopping() {
            return;
        }
        let now = crate::util::now_ms();
        let hour = ((now / 3_600_000) % 24) as u8;
        if let Err(e) = run(&strong, now, hour) {
            tracing::warn!(error = %e, "retention run failed");
        }
        drop(strong);
        // Sleep in short steps so that shutdown is not delayed.
        let mut slept = std::time::Duration::ZERO;
        while slept < RETENTION_PERIOD {
            std::thread::sleep(std::time::Duration::from_millis(100));
            slept += std::time::Duration::from_millis(100);
            match store.upgrade() {
                Some(s) if !s.threads_stopping() => {
                    if let Err(e) = check_space(&s) {
                        tracing::warn!(error = %e, "disk space check failed");
                    }
                }
                _ => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn at(now_ms: i64, hour_of_day: u8, disk_used_ratio: f64) -> Situation {
        Situation {
            now_ms,
            hour_of_day,
            disk_used_ratio,
        }
    }

    #[test]
    fn deletes_expired_files_at_the_delete_hour_only() {
        let config = RetentionConfig::default();
        let now = 1000 * HOUR;
        // Four files modified 100 h, 80 h, 10 h and 1 h ago.
        let files = [
            now - 100 * HOUR,
            now - 80 * HOUR,
            now - 10 * HOUR,
            now - HOUR,
        ];
        assert_eq!(files_to_delete(&config, &files, at(now, 4, 0.1)), 2);
        assert_eq!(files_to_delete(&config, &files, at(now, 5, 0.1)), 0);
        // Disk above 75 %: expired files go at any hour.
        assert_eq!(files_to_delete(&config, &files, at(now, 5, 0.8)), 2);
        // Above 85 %: even unexpired ones, but never the current (last) file.
        assert_eq!(files_to_delete(&config, &files, at(now, 5, 0.86)), 3);
        // The current file is kept even when expired.
        assert_eq!(
            files_to_delete(&config, &[now - 100 * HOUR], at(now, 4, 0.95)),
            0
        );
    }
}
