//! Memory-mapped files, and the only `unsafe` of the store.
//!
//! A [`MappedFile`] is a fixed-size file named by its start offset, mapped shared and
//! read-write. Soundness rests on one rule, enforced here rather than by callers: bytes
//! below the *published* mark never change again and may be read by anyone; bytes at or
//! above it are written only through the file's single [`FileWriter`] and are never read
//! until published. Publishing is a release store, reading the mark an acquire load, so a
//! reader that sees the mark sees the bytes. Code that needs to rewrite published bytes
//! (recovery truncating a torn tail) must own the file exclusively (`&mut MappedFile`).
//!
//! How bytes get in ([`Writes`]) depends on how the file is flushed. Measured on ext4 /
//! Linux 6.18 (this VM):
//! - Stores into a shared mapping with readahead on ([`Writes::MapBulk`]) fault in large
//!   folios: few faults, the fastest way to append 1 KiB records (~1.5 GB/s). But a folio
//!   is dirtied whole on its first store, and every flush writes each dirty folio whole:
//!   a loop of 64 KiB group commits made the device write 28x the data. Right for the
//!   commit log under ASYNC_FLUSH (flushes of many MiB). Each new folio is zero-filled by
//!   the kernel in the fault before the store, and on this VM the first touch of a page
//!   is slow (at times ~1 GB/s: the hypervisor backs it on demand), so the commit log
//!   faults pages in ahead of its tail from another thread ([`MappedFile::prefault`]).
//! - `pwrite` on the file, the map only read ([`Writes::Syscall`]): only the written
//!   blocks are dirtied, so small group commits write what they commit; 4 MiB commits ran
//!   at 1.3 GB/s against 0.43 GB/s through the map. Whole new pages are copied into, never
//!   zeroed. Right for the commit log under SYNC_FLUSH, where the writes come from a
//!   buffer on the committer thread, and under ASYNC_FLUSH with the transient pool.
//! - Stores into the map in base pages (`MADV_RANDOM`, [`Writes::Map`]): for small files
//!   written a few bytes at a time and flushed every second (consume queues, index), so
//!   that a flush writes the dirty pages only.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use memmap2::{MmapOptions, MmapRaw};

/// The page size the file operations here round to.
const PAGE: usize = 4096;

/// How a new file is prepared before use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WarmUp {
    /// Touch every page so that appends never fault on a fresh page.
    pub touch: bool,
    /// `madvise(MADV_WILLNEED)`.
    pub will_need: bool,
    /// `mlock` the mapping (needs RLIMIT_MEMLOCK).
    pub lock: bool,
}

/// How a file's bytes are written (see the module's notes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writes {
    /// `pwrite` on the file; the map is only read (commit log under SYNC_FLUSH).
    Syscall,
    /// Stores into the map, page cache in large folios (commit log under ASYNC_FLUSH).
    MapBulk,
    /// Stores into the map, page cache in base pages (consume queues, index).
    Map,
}

pub struct MappedFile {
    path: PathBuf,
    start: u64,
    map: MmapRaw,
    /// Kept open for `pwrite` when the file is written with syscalls.
    file: Option<File>,
    published: AtomicUsize,
    writer_taken: AtomicBool,
}

impl std::fmt::Debug for MappedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFile")
            .field("path", &self.path)
            .field("start", &self.start)
            .field("len", &self.map.len())
            .field("published", &self.published())
            .finish()
    }
}

/// The name of a file that starts at `offset`: 20 zero-padded digits.
pub fn file_name(offset: u64) -> String {
    format!("{offset:020}")
}

/// Removes `path` if it is an empty file (a crash between creating and sizing it) and says
/// whether it did.
pub fn remove_if_empty(path: &Path) -> io::Result<bool> {
    if std::fs::metadata(path)?.len() == 0 {
        tracing::warn!(path = %path.display(), "removing an empty file left by a crash");
        std::fs::remove_file(path)?;
        return Ok(true);
    }
    Ok(false)
}

/// Parses such a name.
pub fn parse_file_name(name: &str) -> Option<u64> {
    (name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit()))
        .then(|| name.parse().ok())
        .flatten()
}

/// Reserves `len` bytes of disk for `file` (and extends it to `len`); a file system that
/// cannot (`EOPNOTSUPP`) keeps the file sparse.
pub(super) fn reserve(file: &File, len: usize) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let len = libc::off_t::try_from(len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file too large"))?;
    // SAFETY: `fallocate` only reads its arguments; the descriptor is open for writing and
    // owned by `file` for the duration of the call.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EOPNOTSUPP) => Ok(()),
        _ => Err(err),
    }
}

impl MappedFile {
    /// Creates (or reuses) the file `dir/<20-digit start>` of exactly `len` bytes and maps it.
    /// Nothing is published yet.
    pub fn create(dir: &Path, start: u64, len: usize, warm: WarmUp) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Self::create_at(&dir.join(file_name(start)), start, len, warm)
    }

    /// Like [`MappedFile::create`], and the file's blocks are reserved on disk first
    /// (`fallocate`): a full disk is then an error here, when the file is made (ahead of
    /// time, off the append path), instead of a SIGBUS when an append touches a page the
    /// file system cannot back. Commit-log files use this; small sparse files (consume
    /// queues, index) do not.
    pub fn create_reserved(
        dir: &Path,
        start: u64,
        len: usize,
        warm: WarmUp,
        writes: Writes,
    ) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Self::create_file(&dir.join(file_name(start)), start, len, warm, writes, true)
    }

    /// Creates (or reuses) the file at `path` of exactly `len` bytes and maps it.
    /// Written through the map ([`Writes::Map`]).
    pub fn create_at(path: &Path, start: u64, len: usize, warm: WarmUp) -> io::Result<Self> {
        Self::create_file(path, start, len, warm, Writes::Map, false)
    }

    fn create_file(
        path: &Path,
        start: u64,
        len: usize,
        warm: WarmUp,
        writes: Writes,
        reserved: bool,
    ) -> io::Result<Self> {
        let path = path.to_path_buf();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        if reserved {
            reserve(&file, len)?;
        }
        if file.metadata()?.len() != len as u64 {
            file.set_len(len as u64)?;
        }
        let mapped = Self::map(path, start, file, len, writes)?;
        mapped.warm(warm)?;
        Ok(mapped)
    }

    /// Maps an existing file; its whole length counts as published until recovery says
    /// otherwise (see [`MappedFile::set_published`]).
    /// `writes` says how it will be written from now on.
    pub fn open(path: &Path, start: u64, writes: Writes) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "file too large"))?;
        let mapped = Self::map(path.to_path_buf(), start, file, len, writes)?;
        mapped.published.store(len, Ordering::Release);
        Ok(mapped)
    }

    fn map(path: PathBuf, start: u64, file: File, len: usize, writes: Writes) -> io::Result<Self> {
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot map an empty file",
            ));
        }
        let map = MmapOptions::new().len(len).map_raw(&file)?;
        if writes == Writes::Map {
            map.advise(memmap2::Advice::Random)?;
        }
        Ok(Self {
            path,
            start,
            map,
            file: (writes == Writes::Syscall).then_some(file),
            published: AtomicUsize::new(0),
            writer_taken: AtomicBool::new(false),
        })
    }

    fn warm(&self, warm: WarmUp) -> io::Result<()> {
        if warm.will_need {
            self.map.advise(memmap2::Advice::WillNeed)?;
        }
        if warm.touch {
            let ptr = self.map.as_mut_ptr();
            for pos in (0..self.map.len()).step_by(PAGE) {
                if self.file.is_some() {
                    // Written with pwrite: reading brings the page into the cache without
                    // dirtying it.
                    // SAFETY: `pos` is inside the mapping; a fresh file has no writer.
                    unsafe { ptr.add(pos).read_volatile() };
                } else {
                    // SAFETY: a fresh file has no writer and nothing published; `pos` is
                    // inside the mapping; writing the zero already there changes no byte.
                    unsafe { ptr.add(pos).write_volatile(0) };
                }
            }
        }
        if warm.lock {
            self.map.lock()?;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Offset of the file's first byte in the log's address space.
    pub fn start(&self) -> u64 {
        self.start
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// Bytes `[0, published)` are final.
    pub fn published(&self) -> usize {
        self.published.load(Ordering::Acquire)
    }

    /// Published bytes `[pos, pos + len)`, or `None` if any of them is not published.
    pub fn read(&self, pos: usize, len: usize) -> Option<&[u8]> {
        let end = pos.checked_add(len)?;
        (end <= self.published()).then(|| {
            // SAFETY: the range is inside the mapping (published ≤ len) and published, so no
            // writer touches it again for as long as `self` lives.
            unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(pos), len) }
        })
    }

    /// All published bytes from `pos` on.
    pub fn read_from(&self, pos: usize) -> &[u8] {
        let published = self.published();
        self.read(pos.min(published), published.saturating_sub(pos))
            .unwrap_or_default()
    }

    /// Published bytes as a zero-copy `Bytes` that keeps the mapping alive.
    pub fn bytes(self: &Arc<Self>, pos: usize, len: usize) -> Option<Bytes> {
        self.read(pos, len)?;
        Some(Bytes::from_owner(Slice {
            file: Arc::clone(self),
            pos,
            len,
        }))
    }

    /// Brings `[from, to)` into the page cache and maps it writable (`MADV_POPULATE_WRITE`:
    /// the kernel zero-fills the new pages and runs its write fault, `page_mkwrite`, now): a
    /// later store into those pages finds them present and writable, no fault at all. The
    /// pages are dirty (zeros) until the store writes them; writeback before that (dirty
    /// pages older than `dirty_expire_centisecs`) writes those pages twice.
    pub fn prefault(&self, from: usize, to: usize) -> io::Result<()> {
        let from = from / PAGE * PAGE;
        let to = to.min(self.len());
        if from >= to {
            return Ok(());
        }
        self.map
            .advise_range(memmap2::Advice::PopulateWrite, from, to - from)
    }

    /// Writes dirty pages of `[from, to)` to disk (`msync(MS_SYNC)`).
    pub fn flush(&self, from: usize, to: usize) -> io::Result<()> {
        let to = to.min(self.len());
        if from >= to {
            return Ok(());
        }
        self.map.flush_range(from, to - from)
    }

    /// `pwrite`s `data` at `pos` (a file written with syscalls, [`Writes::Syscall`]);
    /// `pos` must lie in the unpublished part. Nothing is stored through the map of such a
    /// file, so this touches no memory a reader may look at: readers read published bytes
    /// only. Callers keep their ranges disjoint (the commit log assigns them under its
    /// lock) and publish in order ([`MappedFile::publish_written`]).
    pub fn pwrite(&self, pos: usize, data: &[u8]) -> Result<(), WriteError> {
        use std::os::unix::fs::FileExt;
        let published = self.published();
        match (&self.file, pos.checked_add(data.len())) {
            (Some(file), Some(end)) if pos >= published && end <= self.len() => {
                file.write_all_at(data, pos as u64).map_err(WriteError::Io)
            }
            _ => Err(WriteError::OutOfRange(OutOfRange {
                pos,
                len: data.len(),
                published,
                file_len: self.len(),
            })),
        }
    }

    /// Starts writing the whole pages of `[from, to)` to disk without waiting for them
    /// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`; files written with
    /// [`MappedFile::pwrite`] only). A later [`MappedFile::flush`] then mostly waits for
    /// writes already under way instead of starting them all at once. The partial last
    /// page is left to that flush: written back now, it would be written again when the
    /// next record fills it.
    pub fn start_writeback(&self, from: usize, to: usize) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let Some(file) = &self.file else {
            return Ok(());
        };
        let (lo, hi) = (from / PAGE * PAGE, to.min(self.len()) / PAGE * PAGE);
        if lo >= hi {
            return Ok(());
        }
        // SAFETY: `sync_file_range` takes no memory, only the descriptor (open, owned by
        // `file` for the duration of the call) and a range within the file.
        let rc = unsafe {
            libc::sync_file_range(
                file.as_raw_fd(),
                lo as libc::off64_t,
                (hi - lo) as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Publishes `[0, upto)` of a file written with [`MappedFile::pwrite`] (no effect on
    /// other files, whose [`FileWriter`] publishes); the mark only moves forward.
    pub fn publish_written(&self, upto: usize) {
        if self.file.is_some() {
            self.published
                .fetch_max(upto.min(self.len()), Ordering::AcqRel);
        }
    }

    /// The file's single writer; `None` while another exists.
    pub fn take_writer(self: &Arc<Self>) -> Option<FileWriter> {
        self.writer_taken
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| FileWriter {
                file: Arc::clone(self),
            })
    }

    /// Exclusive access to every byte (recovery).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: `&mut self` proves no reader, writer or `Bytes` slice exists (those hold
        // `&self` or an `Arc`, which would prevent this borrow).
        unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr(), self.map.len()) }
    }

    /// A replacement for this file holding only its first `keep` bytes (the rest zero),
    /// published up to `keep`: written beside it, synced, then renamed over it. Published
    /// bytes never change, so a file is cut this way rather than in place: readers holding
    /// this mapping (zero-copy slices of it) go on seeing the old bytes, whose inode lives
    /// until the last of them is dropped. `reserved` reserves the new file's blocks
    /// (commit-log files). `keep` must lie in the published part.
    pub fn replace_with_prefix(
        &self,
        keep: usize,
        writes: Writes,
        reserved: bool,
    ) -> io::Result<Self> {
        use std::io::Write;
        let prefix = self.read(0, keep).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cannot keep {keep} bytes: only {} published",
                    self.published()
                ),
            )
        })?;
        let mut name = self.path.as_os_str().to_owned();
        name.push(".cut");
        let tmp = PathBuf::from(name);
        {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            f.write_all(prefix)?;
            f.set_len(self.len() as u64)?;
            if reserved {
                reserve(&f, self.len())?;
            }
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        let mut file = Self::open(&self.path, self.start, writes)?;
        file.set_published(keep);
        Ok(file)
    }

    /// Sets the published mark (recovery, after validating the content).
    pub fn set_published(&mut self, published: usize) {
        *self.published.get_mut() = published.min(self.map.len());
    }
}

struct Slice {
    file: Arc<MappedFile>,
    pos: usize,
    len: usize,
}

impl AsRef<[u8]> for Slice {
    fn as_ref(&self) -> &[u8] {
        // The range was checked to be published when the slice was made; published bytes
        // never change, and the Arc keeps the mapping.
        self.file.read(self.pos, self.len).unwrap_or_default()
    }
}

/// The right to write a file's unpublished bytes; at most one exists per file.
pub struct FileWriter {
    file: Arc<MappedFile>,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    OutOfRange(#[from] OutOfRange),
    #[error("write failed: {0}")]
    Io(io::Error),
}

#[derive(Debug, thiserror::Error)]
#[error("write of {len} bytes at {pos} outside the writable range {published}..{file_len}")]
pub struct OutOfRange {
    pos: usize,
    len: usize,
    published: usize,
    file_len: usize,
}

impl FileWriter {
    pub fn file(&self) -> &Arc<MappedFile> {
        &self.file
    }

    /// Copies `data` to `pos`, which must lie in the unpublished part of the file.
    pub fn write(&mut self, pos: usize, data: &[u8]) -> Result<(), WriteError> {
        let published = self.file.published();
        let end = pos.checked_add(data.len());
        match end {
            Some(_) if self.file.file.is_some() => self.file.pwrite(pos, data),
            Some(end) if pos >= published && end <= self.file.len() => {
                // SAFETY: `[pos, end)` is inside the mapping and unpublished, so no reader
                // looks at it; this writer is the only one (`writer_taken`), and `&mut self`
                // serialises its own writes.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        data.as_ptr(),
                        self.file.map.as_mut_ptr().add(pos),
                        data.len(),
                    );
                }
                Ok(())
            }
            _ => Err(WriteError::OutOfRange(OutOfRange {
                pos,
                len: data.len(),
                published,
                file_len: self.file.len(),
            })),
        }
    }

    /// Publishes `[0, upto)`; the mark only moves forward.
    pub fn publish(&mut self, upto: usize) {
        let upto = upto.min(self.file.len());
        self.file.published.fetch_max(upto, Ordering::AcqRel);
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        self.file.writer_taken.store(false, Ordering::Release);
    }
}

/// Total and free bytes of the file system holding `path` (`statvfs`: `f_blocks` and
/// `f_bfree`, as Java's `getTotalSpace` / `getFreeSpace`, which RocketMQ's disk ratio uses).
pub fn disk_space(path: &Path) -> io::Result<(u64, u64)> {
    disk_space_full(path).map(|(total, free, _)| (total, free))
}

/// Total, free and available (to us, `f_bavail`) bytes of the file system holding `path`.
pub fn disk_space_full(path: &Path) -> io::Result<(u64, u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is a valid NUL-terminated string and `stat` points to writable
    // memory of the right type; statvfs fills it completely when it returns 0.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: rc == 0, so statvfs initialised the struct.
    let stat = unsafe { stat.assume_init() };
    // The field types differ between platforms (u32 on some 32-bit ones).
    #[allow(clippy::unnecessary_cast)]
    let (block, blocks, free, avail) = (
        stat.f_frsize as u64,
        stat.f_blocks as u64,
        stat.f_bfree as u64,
        stat.f_bavail as u64,
    );
    Ok((blocks * block, free * block, avail * block))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_publishes_and_readers_see_only_published_bytes() {
        let dir = std::env::temp_dir().join(format!("apogee-mmap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = Arc::new(
            MappedFile::create(
                &dir,
                4096,
                4096,
                WarmUp {
                    touch: true,
                    ..WarmUp::default()
                },
            )
            .unwrap(),
        );
        assert_eq!(file.path().file_name().unwrap(), "00000000000000004096");
        let mut writer = file.take_writer().unwrap();
        assert!(file.take_writer().is_none(), "one writer at a time");
        writer.write(0, b"hello").unwrap();
        assert_eq!(file.read(0, 5), None, "not published yet");
        writer.publish(5);
        assert_eq!(file.read(0, 5), Some(&b"hello"[..]));
        assert!(writer.write(2, b"x").is_err(), "published bytes are final");
        assert!(writer.write(4095, b"xy").is_err(), "past the end");
        let bytes = file.bytes(1, 3).unwrap();
        drop(writer);
        assert!(file.take_writer().is_some());
        assert_eq!(&bytes[..], b"ell");
        file.flush(0, 5).unwrap();
        drop(file);
        let mut reopened = MappedFile::open(&dir.join(file_name(4096)), 4096, Writes::Map).unwrap();
        assert_eq!(&reopened.bytes_mut()[..5], b"hello");
        reopened.set_published(5);
        assert_eq!(reopened.read_from(3), b"lo");
        assert!(disk_space(&dir).unwrap().0 > 0);
        assert_eq!(parse_file_name("00000000000000004096"), Some(4096));
        assert_eq!(parse_file_name("4096"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
