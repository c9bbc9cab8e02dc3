//! The checkpoint file: one 4 KiB page saying how far the store is known to be on disk.
//!
//! Bytes 0–39 are RocketMQ's fields (physic / logics / index message timestamps, master
//! flushed offset, confirm offset). Apogee adds, at 40: the commit-log offset up to which
//! the log was flushed, at 48: the offset up to which consume queues and index were built
//! *and* flushed, at 56: a magic, at 60: CRC32 of bytes 0–59. Recovery starts from these two
//! offsets instead of rescanning the whole log. A checkpoint whose CRC does not match is
//! ignored (recovery then scans from the oldest file).

use std::fs::OpenOptions;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

const SIZE: usize = 4096;
const MAGIC: u32 = 0xA9_0C_EE_01;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checkpoint {
    pub physic_msg_timestamp: i64,
    pub logics_msg_timestamp: i64,
    pub index_msg_timestamp: i64,
    /// Commit log on disk below this offset.
    pub flushed_offset: u64,
    /// Consume queues and index complete and on disk for records below this offset.
    pub dispatched_offset: u64,
}

impl Checkpoint {
    fn encode(&self) -> [u8; SIZE] {
        let mut page = [0u8; SIZE];
        page[0..8].copy_from_slice(&self.physic_msg_timestamp.to_be_bytes());
        page[8..16].copy_from_slice(&self.logics_msg_timestamp.to_be_bytes());
        page[16..24].copy_from_slice(&self.index_msg_timestamp.to_be_bytes());
        page[24..32].copy_from_slice(&(self.flushed_offset as i64).to_be_bytes());
        page[32..40].copy_from_slice(&(self.flushed_offset as i64).to_be_bytes());
        page[40..48].copy_from_slice(&self.flushed_offset.to_be_bytes());
        page[48..56].copy_from_slice(&self.dispatched_offset.to_be_bytes());
        page[56..60].copy_from_slice(&MAGIC.to_be_bytes());
        let crc = crc32fast::hash(&page[..60]);
        page[60..64].copy_from_slice(&crc.to_be_bytes());
        page
    }

    fn decode(page: &[u8]) -> Option<Self> {
        let u64_at = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&page[at..at + 8]);
            u64::from_be_bytes(a)
        };
        let magic = u32::from_be_bytes([page[56], page[57], page[58], page[59]]);
        let crc = u32::from_be_bytes([page[60], page[61], page[62], page[63]]);
        (magic == MAGIC && crc == crc32fast::hash(&page[..60])).then(|| Self {
            physic_msg_timestamp: u64_at(0) as i64,
            logics_msg_timestamp: u64_at(8) as i64,
            index_msg_timestamp: u64_at(16) as i64,
            flushed_offset: u64_at(40),
            dispatched_offset: u64_at(48),
        })
    }

    /// Reads the checkpoint; `None` if absent or damaged.
    pub fn load(path: &Path) -> io::Result<Option<Self>> {
        let mut file = match OpenOptions::new().read(true).open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut page = vec![0u8; SIZE];
        let mut read = 0;
        while read < SIZE {
            match file.read(&mut page[read..])? {
                0 => break,
                n => read += n,
            }
        }
        Ok(if read < 64 { None } else { Self::decode(&page) })
    }

    /// Overwrites the checkpoint in place and syncs it.
    pub fn store(&self, path: &Path) -> io::Result<()> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&self.encode())?;
        file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let dir = std::env::temp_dir().join(format!("apogee-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("checkpoint");
        assert_eq!(Checkpoint::load(&path).unwrap(), None);
        let ckpt = Checkpoint {
            physic_msg_timestamp: 1,
            logics_msg_timestamp: 2,
            index_msg_timestamp: 3,
            flushed_offset: 4096,
            dispatched_offset: 2048,
        };
        ckpt.store(&path).unwrap();
        assert_eq!(Checkpoint::load(&path).unwrap(), Some(ckpt));
        let mut bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 4096);
        bytes[45] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(Checkpoint::load(&path).unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
