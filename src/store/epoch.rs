//! The epoch file (RocketMQ 5's `EpochFileCache`): which master term wrote which part of
//! the commit log. Each entry says "from `start_offset` on, the log was written by the
//! master of `epoch`"; an entry ends where the next starts, the last one at the log's end.
//!
//! A broker that becomes master with epoch E appends `(E, log end)`; a slave takes its
//! master's entries. When a slave meets a (new) master, [`consistent_point`] says how much
//! of its log the master's log shares: the records past it were written by a master term
//! the new master does not have, and are cut (`Store::truncate_to`) before copying.
//!
//! On disk: RocketMQ's checkpoint-file text, a line with the number of entries and one line
//! `epoch-startOffset` per entry, then a CRC32 line of the entries' text; written to a
//! `.tmp`, synced and renamed over, with a `.bak` of the previous version as RocketMQ keeps.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::StoreError;

/// The file's name, in the store's root (RocketMQ: `epochFileCheckpoint`).
pub const FILE_NAME: &str = "epochFileCheckpoint";

pub use crate::protocol::ha_auto::EpochEntry;

/// The entries in order of epoch (and of start offset), ends filled from the next entry
/// and the log's end.
pub fn with_ends(entries: &[EpochEntry], log_end: u64) -> Vec<EpochEntry> {
    let mut out: Vec<EpochEntry> = entries.to_vec();
    for i in 0..out.len() {
        out[i].end_offset = match out.get(i + 1) {
            Some(next) => next.start_offset,
            None => log_end as i64,
        };
    }
    out
}

/// How far a slave's log (its `mine`, ending at `my_end`) agrees with a master's
/// (`theirs`, ending at `their_end`): the newest term both logs have from the same start,
/// up to where the shorter of the two ends it. `0` when they share no term: the slave's log
/// is not the master's at all.
pub fn consistent_point(
    mine: &[EpochEntry],
    my_end: u64,
    theirs: &[EpochEntry],
    their_end: u64,
) -> u64 {
    let mine = with_ends(mine, my_end);
    let theirs = with_ends(theirs, their_end);
    for m in mine.iter().rev() {
        if m.start_offset >= m.end_offset && m.start_offset as u64 >= my_end {
            // A term the slave has no record of (its log ended before it started).
            continue;
        }
        if let Some(t) = theirs
            .iter()
            .find(|t| t.epoch == m.epoch && t.start_offset == m.start_offset)
        {
            return m.end_offset.min(t.end_offset).max(0) as u64;
        }
    }
    0
}

/// The entries kept by a broker, and their file.
#[derive(Debug)]
pub struct EpochFile {
    path: PathBuf,
    entries: Vec<EpochEntry>,
}

impl EpochFile {
    /// Reads `dir/epochFileCheckpoint` (or its `.bak` when the file is damaged); none yet
    /// is an empty list.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(FILE_NAME);
        let entries = match read(&path) {
            Ok(entries) => entries,
            Err(first) => match read(&path.with_extension("bak")) {
                Ok(entries) if path.exists() => {
                    tracing::warn!(file = %path.display(), error = %first, "epoch file damaged; its backup is used");
                    entries
                }
                _ if !path.exists() => Vec::new(),
                _ => return Err(first),
            },
        };
        Ok(Self { path, entries })
    }

    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub fn last_epoch(&self) -> i32 {
        self.entries.last().map_or(0, |e| e.epoch)
    }

    /// A master of `epoch` starts writing at `start`. Entries of later epochs, or starting
    /// past `start`, are dropped (they belong to a history this log no longer has).
    pub fn begin(&mut self, epoch: i32, start: u64) -> Result<(), StoreError> {
        if self.last_epoch() == epoch
            && self
                .entries
                .last()
                .is_some_and(|e| e.start_offset as u64 <= start)
        {
            return Ok(());
        }
        self.entries
            .retain(|e| e.epoch < epoch && (e.start_offset as u64) <= start);
        self.entries.push(EpochEntry::new(epoch, start));
        self.save()
    }

    /// The log was cut at `at`: terms starting there or later are gone.
    pub fn cut_at(&mut self, at: u64) -> Result<(), StoreError> {
        let before = self.entries.len();
        self.entries.retain(|e| (e.start_offset as u64) < at);
        if self.entries.len() == before {
            return Ok(());
        }
        self.save()
    }

    fn save(&self) -> Result<(), StoreError> {
        let text = encode(&self.entries);
        let tmp = self.path.with_extension("tmp");
        {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
        }
        if self.path.exists() {
            let _ = fs::copy(&self.path, self.path.with_extension("bak"));
        }
        fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            if let Ok(dir) = fs::File::open(dir) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }
}

fn encode(entries: &[EpochEntry]) -> String {
    let body: String = entries
        .iter()
        .map(|e| format!("{}-{}\n", e.epoch, e.start_offset))
        .collect();
    format!(
        "{}\n{}{}\n",
        entries.len(),
        body,
        crc32fast::hash(body.as_bytes())
    )
}

fn read(path: &Path) -> Result<Vec<EpochEntry>, StoreError> {
    let text = fs::read_to_string(path)?;
    decode(&text)
        .ok_or_else(|| StoreError::Corrupt(format!("{}: not an epoch file", path.display())))
}

fn decode(text: &str) -> Option<Vec<EpochEntry>> {
    let mut lines = text.lines();
    let count: usize = lines.next()?.trim().parse().ok()?;
    let mut body = String::new();
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let line = lines.next()?;
        let (epoch, start) = line.trim().split_once('-')?;
        entries.push(EpochEntry::new(epoch.parse().ok()?, start.parse().ok()?));
        body.push_str(line);
        body.push('\n');
    }
    let crc: u32 = lines.next()?.trim().parse().ok()?;
    (crc == crc32fast::hash(body.as_bytes())).then_some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(epoch: i32, start: u64) -> EpochEntry {
        EpochEntry::new(epoch, start)
    }

    #[test]
    fn a_slave_behind_in_the_same_term_keeps_everything() {
        let mine = [e(1, 0), e(2, 100)];
        let theirs = [e(1, 0), e(2, 100)];
        assert_eq!(consistent_point(&mine, 150, &theirs, 400), 150);
    }

    #[test]
    fn an_old_master_keeps_only_what_its_successor_took_over() {
        // A wrote 0..500 in epoch 1; B took over at 300 (what it had) as epoch 2.
        let mine = [e(1, 0)];
        let theirs = [e(1, 0), e(2, 300)];
        assert_eq!(consistent_point(&mine, 500, &theirs, 900), 300);
        // A slave that had only 200 of epoch 1 keeps its 200.
        assert_eq!(consistent_point(&mine, 200, &theirs, 900), 200);
    }

    #[test]
    fn terms_the_master_never_saw_are_cut() {
        // Mine: epoch 3 from 400, which the master (epochs 1, 2, 4) does not have.
        let mine = [e(1, 0), e(2, 300), e(3, 400)];
        let theirs = [e(1, 0), e(2, 300), e(4, 350)];
        assert_eq!(consistent_point(&mine, 700, &theirs, 900), 350);
    }

    #[test]
    fn logs_of_no_common_term_share_nothing() {
        assert_eq!(consistent_point(&[e(5, 0)], 100, &[e(1, 0)], 100), 0);
        assert_eq!(consistent_point(&[], 0, &[e(1, 0)], 100), 0);
    }

    #[test]
    fn the_file_round_trips_and_a_damaged_one_falls_back_to_its_backup() {
        let dir = std::env::temp_dir().join(format!("apogee-epoch-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let mut file = EpochFile::open(&dir).unwrap();
        assert!(file.entries().is_empty());
        file.begin(1, 0).unwrap();
        file.begin(1, 0).unwrap();
        file.begin(3, 4096).unwrap();
        assert_eq!(
            EpochFile::open(&dir).unwrap().entries(),
            &[e(1, 0), e(3, 4096)]
        );
        // A new master term that starts before a recorded one drops it.
        file.begin(4, 1000).unwrap();
        assert_eq!(
            EpochFile::open(&dir).unwrap().entries(),
            &[e(1, 0), e(4, 1000)]
        );
        fs::write(dir.join(FILE_NAME), "2\n1-0\n4-1000\n12\n").unwrap();
        assert_eq!(
            EpochFile::open(&dir).unwrap().entries(),
            &[e(1, 0), e(3, 4096)]
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
