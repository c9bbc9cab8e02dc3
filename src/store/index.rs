//! The index files: find messages by key (`topic#key`, for message keys and unique keys)
//! within a time range.
//!
//! Layout (RocketMQ's): a 40-byte header (begin/end store timestamp, begin/end physical
//! offset, used slots, entry count starting at 1), `slots` hash slots of 4 bytes holding the
//! newest entry number of their chain (0 = empty), then `max_entries` entries of 20 bytes:
//! key hash i32, physical offset i64, seconds since the file's begin timestamp i32, previous
//! entry number i32. Files are named by their creation time `yyyyMMddHHmmssSSS` (UTC).
//!
//! A hash table is updated in place, so each file sits behind a `RwLock`: the dispatcher
//! writes with exclusive access, queries read under a shared lock.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::mmap::{MappedFile, WarmUp, Writes};
use super::StoreError;
use crate::protocol::message::java_hash;

const HEADER: usize = 40;
const SLOT: usize = 4;
const ENTRY: usize = 20;

/// Sizes of an index file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexShape {
    pub slots: usize,
    pub max_entries: usize,
}

impl Default for IndexShape {
    /// RocketMQ's: 5 000 000 slots, 20 000 000 entries (420 000 040 bytes, sparse).
    fn default() -> Self {
        Self {
            slots: 5_000_000,
            max_entries: 20_000_000,
        }
    }
}

impl IndexShape {
    pub(crate) fn file_len(&self) -> usize {
        HEADER + self.slots * SLOT + self.max_entries * ENTRY
    }
}

/// The hash RocketMQ uses for an index key: |String.hashCode|, with MIN_VALUE → 0.
pub fn key_hash(key: &str) -> i32 {
    java_hash(key).checked_abs().unwrap_or(0)
}

struct IndexFile {
    file: MappedFile,
    shape: IndexShape,
}

fn get_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn get_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Header {
    begin_timestamp: i64,
    end_timestamp: i64,
    begin_phy: i64,
    end_phy: i64,
    used_slots: i32,
    count: i32,
}

impl IndexFile {
    fn all(&self) -> &[u8] {
        self.file.read(0, self.file.len()).unwrap_or_default()
    }

    fn header(&self) -> Header {
        let b = self.all();
        Header {
            begin_timestamp: get_i64(b, 0),
            end_timestamp: get_i64(b, 8),
            begin_phy: get_i64(b, 16),
            end_phy: get_i64(b, 24),
            used_slots: get_i32(b, 32),
            count: get_i32(b, 36).max(1),
        }
    }

    fn set_header(&mut self, h: Header) {
        let b = self.file.bytes_mut();
        b[0..8].copy_from_slice(&h.begin_timestamp.to_be_bytes());
        b[8..16].copy_from_slice(&h.end_timestamp.to_be_bytes());
        b[16..24].copy_from_slice(&h.begin_phy.to_be_bytes());
        b[24..32].copy_from_slice(&h.end_phy.to_be_bytes());
        b[32..36].copy_from_slice(&h.used_slots.to_be_bytes());
        b[36..40].copy_from_slice(&h.count.to_be_bytes());
    }

    fn is_full(&self) -> bool {
        self.header().count as usize >= self.shape.max_entries
    }

    fn put(&mut self, key: &str, phy: u64, store_timestamp: i64) -> bool {
        let mut h = self.header();
        if h.count as usize >= self.shape.max_entries {
            return false;
        }
        let hash = key_hash(key);
        let slot_at = HEADER + (hash as usize % self.shape.slots) * SLOT;
        if h.count == 1 && h.begin_timestamp == 0 {
            h.begin_timestamp = store_timestamp;
            h.begin_phy = phy as i64;
        }
        let prev = get_i32(self.all(), slot_at);
        let diff_secs =
            ((store_timestamp - h.begin_timestamp) / 1000).clamp(0, i32::MAX as i64) as i32;
        let entry_at = HEADER + self.shape.slots * SLOT + h.count as usize * ENTRY;
        let b = self.file.bytes_mut();
        b[entry_at..entry_at + 4].copy_from_slice(&hash.to_be_bytes());
        b[entry_at + 4..entry_at + 12].copy_from_slice(&(phy as i64).to_be_bytes());
        b[entry_at + 12..entry_at + 16].copy_from_slice(&diff_secs.to_be_bytes());
        b[entry_at + 16..entry_at + 20].copy_from_slice(&prev.to_be_bytes());
        b[slot_at..slot_at + 4].copy_from_slice(&h.count.to_be_bytes());
        if prev == 0 {
            h.used_slots += 1;
        }
        h.count += 1;
        h.end_timestamp = store_timestamp;
        h.end_phy = phy as i64;
        self.set_header(h);
        true
    }

    fn query(&self, key: &str, begin: i64, end: i64, max: usize, out: &mut Vec<u64>) {
        let h = self.header();
        let b = self.all();
        let hash = key_hash(key);
        let slot_at = HEADER + (hash as usize % self.shape.slots) * SLOT;
        let mut next = get_i32(b, slot_at);
        let mut hops = 0usize;
        while next > 0 && next < h.count && out.len() < max && hops < self.shape.max_entries {
            let at = HEADER + self.shape.slots * SLOT + next as usize * ENTRY;
            let stamp = h.begin_timestamp + i64::from(get_i32(b, at + 12)) * 1000;
            if get_i32(b, at) == hash && stamp >= begin - 999 && stamp <= end {
                out.push(get_i64(b, at + 4) as u64);
            }
            let prev = get_i32(b, at + 16);
            if prev >= next {
                break; // chains only point backwards; anything else is damage
            }
            next = prev;
            hops += 1;
        }
    }
}

/// All index files of a store.
pub struct IndexService {
    dir: PathBuf,
    shape: IndexShape,
    files: RwLock<Vec<Arc<RwLock<IndexFile>>>>,
}

impl IndexService {
    /// Opens the index files in `dir` (oldest first).
    pub fn open(dir: &Path, shape: IndexShape) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)?;
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.len() == 17 && n.bytes().all(|b| b.is_ascii_digit()))
            })
            .collect();
        paths.sort();
        let mut files = Vec::new();
        for path in paths {
            if super::mmap::remove_if_empty(&path)? {
                continue;
            }
            let file = MappedFile::open(&path, 0, Writes::Map)?;
            if file.len() != shape.file_len() {
                tracing::warn!(path = %path.display(), "index file of another shape ignored");
                continue;
            }
            files.push(Arc::new(RwLock::new(IndexFile { file, shape })));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            shape,
            files: RwLock::new(files),
        })
    }

    /// Physical offset up to which records are indexed (the newest file's end).
    pub fn end_phy_offset(&self) -> Option<u64> {
        let files = self.files.read().unwrap_or_else(|e| e.into_inner());
        let last = files.last()?;
        let h = last.read().unwrap_or_else(|e| e.into_inner()).header();
        (h.count > 1).then_some(h.end_phy as u64)
    }

    /// Adds `topic#key` → `phy`.
    pub fn put(
        &self,
        topic: &str,
        key: &str,
        phy: u64,
        store_timestamp: i64,
    ) -> Result<(), StoreError> {
        let full_key = format!("{topic}#{key}");
        for _ in 0..2 {
            let current = self.current(store_timestamp)?;
            let mut file = current.write().unwrap_or_else(|e| e.into_inner());
            if file.put(&full_key, phy, store_timestamp) {
                return Ok(());
            }
            drop(file);
            self.add_file(store_timestamp)?;
        }
        Err(StoreError::internal("index file full right after creation"))
    }

    fn current(&self, now_ms: i64) -> Result<Arc<RwLock<IndexFile>>, StoreError> {
        let last = self
            .files
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .cloned();
        match last {
            Some(file) if !file.read().unwrap_or_else(|e| e.into_inner()).is_full() => Ok(file),
            _ => self.add_file(now_ms),
        }
    }

    fn add_file(&self, now_ms: i64) -> Result<Arc<RwLock<IndexFile>>, StoreError> {
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        let mut stamp = now_ms;
        while self.dir.join(timestamp_name(stamp)).exists() {
            stamp += 1;
        }
        let path = self.dir.join(timestamp_name(stamp));
        let mut file = MappedFile::create_at(&path, 0, self.shape.file_len(), WarmUp::default())?;
        file.set_published(file.len());
        let entry = Arc::new(RwLock::new(IndexFile {
            file,
            shape: self.shape,
        }));
        files.push(Arc::clone(&entry));
        Ok(entry)
    }

    /// Physical offsets of entries for `topic#key` stored within `[begin, end]` (ms), newest
    /// first, at most `max`. Hash collisions are possible: callers check the record.
    pub fn query(&self, topic: &str, key: &str, begin: i64, end: i64, max: usize) -> Vec<u64> {
        let full_key = format!("{topic}#{key}");
        let mut out = Vec::new();
        let files = self.files.read().unwrap_or_else(|e| e.into_inner()).clone();
        for file in files.iter().rev() {
            let file = file.read().unwrap_or_else(|e| e.into_inner());
            let h = file.header();
            if h.count <= 1 || h.end_timestamp < begin - 999 || h.begin_timestamp > end {
                continue;
            }
            file.query(&full_key, begin, end, max, &mut out);
            if out.len() >= max {
                break;
            }
        }
        out.sort_unstable_by(|a, b| b.cmp(a));
        out.dedup();
        out
    }

    /// Flushes every file.
    pub fn flush(&self) -> std::io::Result<()> {
        for file in self.files.read().unwrap_or_else(|e| e.into_inner()).iter() {
            let file = file.read().unwrap_or_else(|e| e.into_inner());
            file.file.flush(0, file.file.len())?;
        }
        Ok(())
    }

    /// Deletes files whose newest entry points below `log_min` (never the newest file).
    pub fn clean_before(&self, log_min: u64) -> Result<usize, StoreError> {
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        let mut removed = 0;
        while files.len() > 1 {
            let (end_phy, path) = {
                let first = files[0].read().unwrap_or_else(|e| e.into_inner());
                (first.header().end_phy, first.file.path().to_path_buf())
            };
            if end_phy as u64 >= log_min {
                break;
            }
            std::fs::remove_file(path)?;
            files.remove(0);
            removed += 1;
        }
        Ok(removed)
    }
}

/// `yyyyMMddHHmmssSSS` of a UTC millisecond timestamp.
pub fn timestamp_name(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}{millis:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_names() {
        assert_eq!(timestamp_name(0), "19700101000000000");
        assert_eq!(timestamp_name(1_700_000_000_123), "20231114221320123");
        assert_eq!(timestamp_name(951_782_400_000), "20000229000000000");
    }

    #[test]
    fn key_hash_is_non_negative() {
        assert_eq!(key_hash("T#k"), java_hash("T#k").abs());
        assert!(
            key_hash("polygenelubricants") >= 0,
            "hashCode == MIN_VALUE maps to 0"
        );
        assert_eq!(java_hash("polygenelubricants"), i32::MIN);
    }
}
