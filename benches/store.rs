//! Store throughput against the disk it runs on, and recovery time after `kill -9`.
//!
//! `cargo bench --bench store -- [--mib N] [--dir PATH] [--seconds S] [--recovery-gib 1,10]`
//!
//! 1. Raw disk, measured in the same run: N MiB written with 1 MiB `write`s then one
//!    `fdatasync` (bulk), and 64 KiB `write` + `fdatasync` in a loop (synced).
//! 2. Store appends of 1 KiB records, ASYNC_FLUSH (N MiB in total, timed until flushed;
//!    the log written through the map, then with the transient pool) and
//!    SYNC_FLUSH (S seconds; a record counts once it is on disk), with 1, 8 and 64 writer
//!    threads, each owning one queue. SYNC writers either wait for each record before the
//!    next (window 1, a synchronous producer) or keep up to W records in flight and wait
//!    for the oldest (window W, an asynchronous producer: nothing is acknowledged before it
//!    is on disk). Then the same with async waiters, as the broker waits. Printed as MB/s,
//!    as a ratio of the raw bandwidth, and with the bytes the device wrote per byte stored.
//! 3. Recovery: a child process fills G GiB under ASYNC_FLUSH and keeps writing; it is
//!    killed with SIGKILL; the time `Store::open` takes to serve again is reported.
//!
//! Every raw pass and store run starts in the same memory state: the bench runs in a memory
//! cgroup (`--steady-cache-mib`, default 4096; 0: off) kept full of clean page cache, so new
//! page-cache pages come from reclaim, as on a broker whose page cache fills its machine
//! (see `SteadyCache`).
//!
//! A live line is printed every second while a run is going.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apogee::broker::sync_waits::SyncWaits;
use apogee::protocol::message::NewMessage;
use apogee::store::mmap::Writes;
use apogee::store::{FlushMode, QueueKey, Store, StoreConfig};

const RECORD_BODY: usize = 1024 - 91 - 5; // a 1 KiB record with a 5-byte topic, no properties

struct Args {
    mib: u64,
    dir: PathBuf,
    seconds: u64,
    recovery_gib: Vec<u64>,
    window: usize,
    only: Option<String>,
    writers: Vec<i32>,
    /// MiB of the memory cgroup kept full of clean page cache; 0: none.
    steady_mib: u64,
}

/// `--log-writes syscall|map-bulk|map` overrides how the commit log is written (default:
/// by flush mode); read once into this.
static LOG_WRITES: std::sync::OnceLock<Option<Writes>> = std::sync::OnceLock::new();

fn parse_args() -> Args {
    let mut args = Args {
        mib: 1024,
        dir: PathBuf::from("target/bench-store"),
        seconds: 5,
        recovery_gib: Vec::new(),
        window: 64,
        only: None,
        writers: vec![1, 8, 64],
        steady_mib: 4096,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--mib" => args.mib = it.next().and_then(|v| v.parse().ok()).unwrap_or(args.mib),
            "--dir" => args.dir = it.next().map(PathBuf::from).unwrap_or(args.dir),
            "--seconds" => {
                args.seconds = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(args.seconds)
            }
            "--window" => {
                args.window = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(args.window)
            }
            "--only" => args.only = it.next(),
            "--steady-cache-mib" => {
                args.steady_mib = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(args.steady_mib)
            }
            "--writers" => {
                args.writers = it
                    .next()
                    .map(|v| v.split(',').filter_map(|w| w.parse().ok()).collect())
                    .unwrap_or_default()
            }
            "--log-writes" => {
                let writes = match it.next().as_deref() {
                    Some("syscall") => Writes::Syscall,
                    Some("map-bulk") => Writes::MapBulk,
                    Some("map") => Writes::Map,
                    other => panic!("--log-writes syscall|map-bulk|map, not {other:?}"),
                };
                let _ = LOG_WRITES.set(Some(writes));
            }
            "--recovery-gib" => {
                args.recovery_gib = it
                    .next()
                    .map(|v| v.split(',').filter_map(|g| g.parse().ok()).collect())
                    .unwrap_or_default()
            }
            _ => {} // cargo bench passes --bench
        }
    }
    args
}

/// The memory state every measurement starts in, raw passes and store rows alike: this
/// process runs in a memory cgroup of `limit` bytes kept full of clean page cache (a
/// ballast file read through before each measurement). New page-cache pages then come from
/// reclaimed ones, recently touched, as on a broker whose page cache fills its machine.
/// Without it, on a VM that gives free memory back to its host (free page reporting), a
/// measurement's speed depends on how long ago the pages it gets were freed: several-fold.
struct SteadyCache {
    cgroup: PathBuf,
    parent: PathBuf,
    ballast: PathBuf,
    bytes: u64,
}

static STEADY: std::sync::OnceLock<SteadyCache> = std::sync::OnceLock::new();

impl SteadyCache {
    /// Moves this process (before it starts any thread) into a new child of its memory
    /// cgroup, limited to `mib`, and writes the ballast (`mib` less 512 MiB for the bench's
    /// own memory and the writes under way).
    fn enter(dir: &Path, mib: u64) -> Result<Self, String> {
        let table = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| e.to_string())?;
        let (parent, limit_file) = table
            .lines()
            .find_map(|line| {
                let mut parts = line.splitn(3, ':');
                let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
                let path = path.trim_start_matches('/');
                if controllers.split(',').any(|c| c == "memory") {
                    Some((
                        Path::new("/sys/fs/cgroup/memory").join(path),
                        "memory.limit_in_bytes",
                    ))
                } else if controllers.is_empty() {
                    let v2 = Path::new("/sys/fs/cgroup").join(path);
                    v2.join("memory.max").exists().then_some((v2, "memory.max"))
                } else {
                    None
                }
            })
            .ok_or("no memory cgroup")?;
        let cgroup = parent.join(format!("apogee-bench-{}", std::process::id()));
        std::fs::create_dir(&cgroup).map_err(|e| format!("{}: {e}", cgroup.display()))?;
        let bytes = mib.saturating_sub(512) << 20;
        let steady = Self {
            cgroup,
            parent,
            ballast: dir.join("ballast.bin"),
            bytes,
        };
        let setup = || -> std::io::Result<()> {
            std::fs::write(steady.cgroup.join(limit_file), (mib << 20).to_string())?;
            std::fs::write(
                steady.cgroup.join("cgroup.procs"),
                std::process::id().to_string(),
            )?;
            write_synced(&mut std::fs::File::create(&steady.ballast)?, bytes >> 20);
            Ok(())
        };
        if let Err(e) = setup() {
            steady.leave();
            return Err(e.to_string());
        }
        Ok(steady)
    }

    /// Reads the ballast through: what the last measurement evicted comes back, and the
    /// cgroup is full again.
    fn fill(&self) {
        use std::io::Read;
        let mut file = std::fs::File::open(&self.ballast).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        while file.read(&mut buf).unwrap() > 0 {}
    }

    fn leave(&self) {
        let _ = std::fs::remove_file(&self.ballast);
        let _ = std::fs::write(
            self.parent.join("cgroup.procs"),
            std::process::id().to_string(),
        );
        let _ = std::fs::remove_dir(&self.cgroup);
    }
}

/// Puts the memory in its steady state before a measurement (see [`SteadyCache`]).
fn settle() {
    if let Some(steady) = STEADY.get() {
        steady.fill();
    }
}

/// Prints the rate of `counter` (bytes) every second until `done`.
fn live(
    label: String,
    counter: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut last = 0;
        let start = Instant::now();
        while !done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(1000));
            let now = counter.load(Ordering::Relaxed);
            eprintln!(
                "  [{label}] {:>5.1}s {:>8.1} MB/s {:>9} msg/s",
                start.elapsed().as_secs_f64(),
                (now - last) as f64 / 1e6,
                (now - last) / 1024
            );
            last = now;
        }
    })
}

/// Sectors the device holding `dir` has written so far (`/proc/diskstats`), in bytes; 0
/// where unknown (then the amplification column says "?").
fn device_written(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(dir) else {
        return 0;
    };
    let (major, minor) = (libc::major(meta.dev()), libc::minor(meta.dev()));
    let stats = std::fs::read_to_string("/proc/diskstats").unwrap_or_default();
    stats
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (ma, mi) = (
                f.first()?.parse::<u32>().ok()?,
                f.get(1)?.parse::<u32>().ok()?,
            );
            (ma == major && mi == minor).then(|| f.get(9)?.parse::<u64>().ok())?
        })
        .next()
        .map_or(0, |sectors| sectors * 512)
}

/// One store run's result.
struct Run {
    mbps: f64,
    /// Device bytes written per byte stored.
    amplification: Option<f64>,
}

impl Run {
    fn amplification(&self) -> String {
        self.amplification
            .map_or_else(|| "?".to_owned(), |a| format!("{a:.2}"))
    }
}

/// KiB of free guest memory handed back to the hypervisor so far (virtio-balloon free page
/// reporting), if this machine does that: such a page is backed again on its next first
/// touch, which is what makes writes into new page-cache pages slow here at times.
fn reported_kib() -> Option<u64> {
    std::fs::read_to_string("/sys/module/page_reporting/parameters/reported_kib")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Bulk writes + fdatasync of new data: into a fresh file (blocks allocated at writeback)
/// and into a preallocated one (`fallocate`, as the commit log's files are); the better of
/// the two is the round's raw bandwidth. Then again over the allocated, cached file (what
/// the page cache and the host absorb, not new data). Returns (new data, cached rewrite).
fn raw_bulk(dir: &Path, mib: u64) -> (f64, f64) {
    let path = dir.join("raw.bin");
    let _ = std::fs::remove_file(&path);
    settle();
    let fresh = write_synced(&mut std::fs::File::create(&path).unwrap(), mib);
    let rewrite = write_synced(
        &mut std::fs::OpenOptions::new().write(true).open(&path).unwrap(),
        mib,
    );
    std::fs::remove_file(&path).unwrap();
    settle();
    let reserved = write_preallocated(&path, mib);
    eprintln!("  raw: fresh {fresh:.0} MB/s, preallocated {reserved:.0} MB/s, cached rewrite {rewrite:.0} MB/s");
    (fresh.max(reserved), rewrite)
}

/// The raw reference taken between two store rows: 1 MiB writes + fdatasync into a
/// preallocated file (the steadier of `raw_bulk`'s two kinds of new data).
fn raw_between(dir: &Path, mib: u64) -> f64 {
    settle();
    let mbps = write_preallocated(&dir.join("raw-between.bin"), mib);
    eprintln!("  raw between rows: {mbps:.0} MB/s");
    mbps
}

/// `mib` 1 MiB writes then one `fdatasync`; MB/s.
fn write_synced(file: &mut std::fs::File, mib: u64) -> f64 {
    let chunk = vec![0xA5u8; 1 << 20];
    let start = Instant::now();
    for _ in 0..mib {
        file.write_all(&chunk).unwrap();
    }
    file.sync_data().unwrap();
    (mib << 20) as f64 / start.elapsed().as_secs_f64() / 1e6
}

/// [`write_synced`] into a new file at `path` preallocated with `fallocate` (as the commit
/// log's files are), removed afterwards; MB/s.
fn write_preallocated(path: &Path, mib: u64) -> f64 {
    let mut file = std::fs::File::create(path).unwrap();
    {
        use std::os::fd::AsRawFd;
        // SAFETY: fallocate only reads its arguments; the descriptor is open for writing.
        let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, (mib << 20) as libc::off_t) };
        assert_eq!(rc, 0, "fallocate: {}", std::io::Error::last_os_error());
    }
    let mbps = write_synced(&mut file, mib);
    drop(file);
    std::fs::remove_file(path).unwrap();
    mbps
}

fn raw_synced(dir: &Path, seconds: u64) -> (f64, f64) {
    let path = dir.join("raw-sync.bin");
    settle();
    let chunk = vec![0x5Au8; 64 << 10];
    let mut file = std::fs::File::create(&path).unwrap();
    let start = Instant::now();
    let mut syncs = 0u64;
    while start.elapsed() < Duration::from_secs(seconds) {
        file.write_all(&chunk).unwrap();
        file.sync_data().unwrap();
        syncs += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    std::fs::remove_file(&path).unwrap();
    (
        (syncs * (64 << 10)) as f64 / secs / 1e6,
        secs * 1000.0 / syncs as f64,
    )
}

/// A fresh store config; `pool`: the commit log written with `pwrite` from a buffer
/// (ASYNC_FLUSH with RocketMQ's `transientStorePoolEnable`).
fn config(root: &Path, mode: FlushMode, pool: bool) -> StoreConfig {
    let _ = std::fs::remove_dir_all(root);
    let mut config = StoreConfig::new(root);
    config.flush.mode = mode;
    config.log_writes = LOG_WRITES.get().copied().flatten();
    if pool {
        config.log_writes = Some(Writes::Syscall);
    }
    config
}

fn message<'a>(topic: &'a str, queue: i32, body: &'a [u8]) -> NewMessage<'a> {
    NewMessage {
        topic,
        queue_id: queue,
        flag: 0,
        body,
        properties: "",
        sys_flag: 0,
        born_timestamp: 0,
        born_host: std::net::SocketAddr::from(([127, 0, 0, 1], 1)),
        store_host: std::net::SocketAddr::from(([127, 0, 0, 1], 10911)),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

/// Appends with `writers` threads. SYNC writers keep up to `window` records in flight
/// (1: each waits for its record before the next).
fn store_run(
    dir: &Path,
    mode: FlushMode,
    pool: bool,
    writers: i32,
    window: usize,
    mib: u64,
    seconds: u64,
) -> Run {
    let root = dir.join(format!("store-{mode:?}-{writers}"));
    let config = config(&root, mode, pool);
    settle();
    let (store, _) = Store::open(config).unwrap();
    let counter = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let monitor = live(
        format!("{mode:?} x{writers} window {window}"),
        Arc::clone(&counter),
        Arc::clone(&done),
    );
    let budget = (mib << 20) / writers as u64;
    let device_before = device_written(dir);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|q| {
            let store = Arc::clone(&store);
            let counter = Arc::clone(&counter);
            std::thread::spawn(move || {
                let body = vec![b'x'; RECORD_BODY];
                let mut appender = store.queue_appender(QueueKey::new("Bench", q)).unwrap();
                let mut in_flight = std::collections::VecDeque::with_capacity(window);
                let mut written = 0u64;
                loop {
                    let appended = appender.append(&[message("Bench", q, &body)]).unwrap();
                    let size = appended.placed[0].size as u64;
                    written += size;
                    match mode {
                        FlushMode::Async => {
                            counter.fetch_add(size, Ordering::Relaxed);
                            if written >= budget {
                                break;
                            }
                        }
                        FlushMode::Sync => {
                            in_flight.push_back((appended.end, size));
                            let over = Instant::now() >= deadline;
                            if in_flight.len() >= window || over {
                                let (end, _) =
                                    in_flight[if over { in_flight.len() - 1 } else { 0 }];
                                store.wait_durable(end).unwrap();
                                let flushed = store.commit_log().flushed();
                                while in_flight.front().is_some_and(|(end, _)| *end <= flushed) {
                                    let (_, size) = in_flight.pop_front().unwrap();
                                    counter.fetch_add(size, Ordering::Relaxed);
                                }
                            }
                            if over {
                                break;
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Async: the data counts once it is on disk.
    let appended_secs = start.elapsed().as_secs_f64();
    let flushed_before = store.commit_log().flushed();
    store.commit_log().flush().unwrap();
    let secs = start.elapsed().as_secs_f64();
    let device = device_written(dir) - device_before;
    eprintln!(
        "  appended in {appended_secs:.2}s ({:.0} MiB already flushed by the flusher), final flush {:.2}s, device wrote {:.0} MiB",
        flushed_before as f64 / (1 << 20) as f64,
        secs - appended_secs,
        device as f64 / (1 << 20) as f64
    );
    done.store(true, Ordering::Relaxed);
    monitor.join().unwrap();
    store.shutdown().unwrap();
    drop(store);
    let _ = std::fs::remove_dir_all(&root);
    let stored = counter.load(Ordering::Relaxed);
    Run {
        mbps: stored as f64 / secs / 1e6,
        amplification: (device > 0).then(|| device as f64 / stored as f64),
    }
}

/// SYNC_FLUSH with async waiters, as the broker waits: `writers` tasks on one runtime
/// thread, each keeping up to `window` records in flight and waiting for the oldest
/// through the broker's `SyncWaits`; the flusher thread does the msync for all of them.
fn store_run_async_waiters(dir: &Path, writers: i32, window: usize, seconds: u64) -> Run {
    let root = dir.join(format!("store-sync-async-{writers}"));
    let config = config(&root, FlushMode::Sync, false);
    settle();
    let (store, _) = Store::open(config).unwrap();
    let counter = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let monitor = live(
        format!("Sync async-waiters x{writers} window {window}"),
        Arc::clone(&counter),
        Arc::clone(&done),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let device_before = device_written(dir);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let waits = SyncWaits::new(Arc::clone(&store));
    runtime.block_on(async {
        let local = tokio::task::LocalSet::new();
        for q in 0..writers {
            let (store, counter) = (Arc::clone(&store), Arc::clone(&counter));
            let waits = std::rc::Rc::clone(&waits);
            local.spawn_local(async move {
                let body = vec![b'x'; RECORD_BODY];
                let mut appender = store.queue_appender(QueueKey::new("Bench", q)).unwrap();
                let mut in_flight = std::collections::VecDeque::with_capacity(window);
                loop {
                    let appended = appender.append(&[message("Bench", q, &body)]).unwrap();
                    in_flight.push_back((appended.end, appended.placed[0].size as u64));
                    let over = Instant::now() >= deadline;
                    if in_flight.len() >= window || over {
                        let (end, _) = in_flight[if over { in_flight.len() - 1 } else { 0 }];
                        waits.durable(end).await.unwrap();
                        let flushed = store.commit_log().flushed();
                        while in_flight.front().is_some_and(|(end, _)| *end <= flushed) {
                            let (_, size) = in_flight.pop_front().unwrap();
                            counter.fetch_add(size, Ordering::Relaxed);
                        }
                    } else {
                        // Let the other producers append too, as separate connections would.
                        tokio::task::yield_now().await;
                    }
                    if over {
                        break;
                    }
                }
            });
        }
        local.await;
    });
    let secs = start.elapsed().as_secs_f64();
    let device = device_written(dir) - device_before;
    done.store(true, Ordering::Relaxed);
    monitor.join().unwrap();
    store.shutdown().unwrap();
    drop(store);
    let _ = std::fs::remove_dir_all(&root);
    let stored = counter.load(Ordering::Relaxed);
    Run {
        mbps: stored as f64 / secs / 1e6,
        amplification: (device > 0).then(|| device as f64 / stored as f64),
    }
}

const CHILD_ENV: &str = "APOGEE_BENCH_RECOVERY_CHILD";

/// The recovery child: fill `gib` GiB, say so, keep writing until killed.
fn recovery_child(root: &Path, gib: u64) {
    let (store, _) = Store::open(config(root, FlushMode::Async, false)).unwrap();
    let body = vec![b'r'; RECORD_BODY];
    let mut appenders: Vec<_> = (0..8)
        .map(|q| store.queue_appender(QueueKey::new("Bench", q)).unwrap())
        .collect();
    let batch: Vec<Vec<NewMessage<'_>>> = (0..8)
        .map(|q| vec![message("Bench", q, &body); 32])
        .collect();
    let mut announced = false;
    let mut n = 0usize;
    loop {
        let q = n % 8;
        appenders[q].append(&batch[q]).unwrap();
        n += 1;
        if n.is_multiple_of(64) {
            store.dispatch().unwrap();
            if !announced && store.commit_log().written() >= gib << 30 {
                println!("FILLED");
                announced = true;
            }
        }
    }
}

fn recovery(dir: &Path, gib: u64) -> (Duration, u64) {
    let root = dir.join(format!("recovery-{gib}"));
    let _ = std::fs::remove_dir_all(&root);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, format!("{}:{gib}", root.display()))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let fill_start = Instant::now();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    eprintln!(
        "  child filled {gib} GiB in {:.1}s; killing it",
        fill_start.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_millis(300)); // mid-traffic
    child.kill().unwrap();
    child.wait().unwrap();
    let start = Instant::now();
    let (store, report) = Store::open(config_keep(&root)).unwrap();
    let elapsed = start.elapsed();
    assert!(report.crashed);
    let end = report.log_end;
    store.shutdown().unwrap();
    drop(store);
    let _ = std::fs::remove_dir_all(&root);
    eprintln!("  recovery report: {report:?}");
    (elapsed, end)
}

fn config_keep(root: &Path) -> StoreConfig {
    let mut config = StoreConfig::new(root);
    config.flush.mode = FlushMode::Async;
    config
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let (root, gib) = spec.rsplit_once(':').unwrap();
        recovery_child(Path::new(root), gib.parse().unwrap());
        return;
    }
    let args = parse_args();
    std::fs::create_dir_all(&args.dir).unwrap();
    let dir = args.dir.canonicalize().unwrap();
    eprintln!(
        "store bench in {} ({} MiB per async run, {} s per sync run)",
        dir.display(),
        args.mib,
        args.seconds
    );
    if args.steady_mib > 0 {
        match SteadyCache::enter(&dir, args.steady_mib) {
            Ok(steady) => {
                eprintln!(
                    "memory: a cgroup of {} MiB kept full of clean page cache ({} MiB ballast, read through before each measurement)",
                    args.steady_mib,
                    steady.bytes >> 20
                );
                let _ = STEADY.set(steady);
            }
            Err(e) => eprintln!(
                "memory: no steady page cache ({e}); each measurement gets whatever pages are free"
            ),
        }
    }
    let wants = |part: &str| {
        args.only
            .as_deref()
            .is_none_or(|only| only.split(',').any(|o| o == part))
    };
    // This virtual disk's speed varies several-fold from minute to minute (the host's cache
    // absorbs bursts): the raw bandwidth is measured before, between and after the store
    // runs, and the median is the reference.
    let reported_before = reported_kib();
    let mut raw = vec![raw_bulk(&dir, args.mib)];
    let (synced, sync_ms) = raw_synced(&dir, args.seconds.min(3));
    let mut rows = Vec::new();
    // The disk's speed drifts within a run: each row is also compared with the raw
    // bandwidth measured right before and right after it.
    let between_mib = args.mib.min(1024);
    let mut between = vec![raw_between(&dir, between_mib)];
    let mut row = |mode: String, writers: i32, window: String, run: Run| {
        rows.push((mode, writers, window, run));
        between.push(raw_between(&dir, between_mib));
    };
    if wants("async") {
        for (pool, mode) in [(false, "ASYNC"), (true, "ASYNC, transient pool")] {
            for &writers in &args.writers {
                let run = store_run(
                    &dir,
                    FlushMode::Async,
                    pool,
                    writers,
                    1,
                    args.mib,
                    args.seconds,
                );
                row(mode.into(), writers, "-".into(), run);
            }
        }
        raw.push(raw_bulk(&dir, args.mib));
    }
    if wants("sync") {
        for &writers in &args.writers {
            for window in [1, args.window] {
                let run = store_run(
                    &dir,
                    FlushMode::Sync,
                    false,
                    writers,
                    window,
                    args.mib,
                    args.seconds,
                );
                row("SYNC".into(), writers, window.to_string(), run);
            }
        }
    }
    if wants("waiters") {
        for &writers in args.writers.iter().filter(|w| **w > 1) {
            for window in [1, args.window] {
                let run = store_run_async_waiters(&dir, writers, window, args.seconds);
                row(
                    "SYNC, async waiters (as the broker)".into(),
                    writers,
                    window.to_string(),
                    run,
                );
            }
        }
    }
    raw.push(raw_bulk(&dir, args.mib));
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let fresh = median(raw.iter().map(|r| r.0).collect());
    let rewrite = median(raw.iter().map(|r| r.1).collect());
    let list = |f: fn(&(f64, f64)) -> f64| {
        raw.iter()
            .map(|r| format!("{:.0}", f(r)))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    println!(
        "raw disk: {fresh:.0} MB/s of new data (median of {} rounds, each the better of a fresh and a preallocated file: {} MB/s; 1 MiB writes + fdatasync, as dd conv=fdatasync); over an already cached and allocated file {rewrite:.0} MB/s ({}); 64 KiB write + fdatasync in a loop {synced:.1} MB/s ({sync_ms:.2} ms each)",
        raw.len(),
        list(|r| r.0),
        list(|r| r.1),
    );
    println!(
        "raw between rows ({between_mib} MiB, preallocated): {} MB/s",
        between
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(" / ")
    );
    if let (Some(before), Some(after)) = (reported_before, reported_kib()) {
        println!(
            "guest memory given back to the host during the run (free page reporting): {:.1} GiB; each such page is slow to touch again (a first write into a new page-cache page, here or in the raw passes)",
            (after - before) as f64 / (1u64 << 20) as f64
        );
    }
    println!("| mode | writers | in flight per writer | store MB/s | of raw bandwidth | of raw around the row | of cached rewrite | device bytes per byte |");
    println!("|---|---|---|---|---|---|---|---|");
    for (i, (mode, writers, window, run)) in rows.iter().enumerate() {
        let around = (between[i] + between[i + 1]) / 2.0;
        println!(
            "| {mode} | {writers} | {window} | {:.1} | {:.0} % | {:.0} % ({around:.0}) | {:.0} % | {} |",
            run.mbps,
            100.0 * run.mbps / fresh,
            100.0 * run.mbps / around,
            100.0 * run.mbps / rewrite,
            run.amplification()
        );
    }
    // Recovery is timed with the machine's whole memory, as a restarted broker has it.
    if let Some(steady) = STEADY.get() {
        steady.leave();
    }
    for gib in args
        .recovery_gib
        .iter()
        .copied()
        .filter(|_| wants("recovery"))
    {
        let (elapsed, end) = recovery(&dir, gib);
        println!(
            "recovery after kill -9 with {:.2} GiB of log: serving again in {:.0} ms",
            end as f64 / (1u64 << 30) as f64,
            elapsed.as_secs_f64() * 1000.0
        );
    }
}
