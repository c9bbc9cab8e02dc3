//! Store throughput against the disk it runs on, and recovery time after `kill -9`.
//!
//! `cargo bench --bench store -- [--mib N] [--dir PATH] [--seconds S] [--recovery-gib 1,10]`
//!
//! 1. Raw disk, measured in the same run: N MiB written with 1 MiB `write`s then one
//!    `fdatasync` (bulk), and 64 KiB `write` + `fdatasync` in a loop (synced).
//! 2. Store appends of 1 KiB records, ASYNC_FLUSH (N MiB in total, timed until flushed) and
//!    SYNC_FLUSH (each writer appends one record and waits until it is on disk; S seconds),
//!    with 1, 8 and 64 writer threads, each owning one queue. Printed as MB/s and as a ratio
//!    of the raw numbers.
//! 3. Recovery: a child process fills G GiB under ASYNC_FLUSH and keeps writing; it is
//!    killed with SIGKILL; the time `Store::open` takes to serve again is reported.
//!
//! A live line is printed every second while a run is going.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apogee::protocol::message::NewMessage;
use apogee::store::{FlushMode, QueueKey, Store, StoreConfig};

const RECORD_BODY: usize = 1024 - 91 - 5; // a 1 KiB record with a 5-byte topic, no properties

struct Args {
    mib: u64,
    dir: PathBuf,
    seconds: u64,
    recovery_gib: Vec<u64>,
}

fn parse_args() -> Args {
    let mut args = Args {
        mib: 1024,
        dir: PathBuf::from("target/bench-store"),
        seconds: 5,
        recovery_gib: Vec::new(),
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

/// Bulk writes + fdatasync: into a fresh file (blocks allocated on first touch), then again
/// over the same, now allocated, file. Returns MB/s of both.
fn raw_bulk(dir: &Path, mib: u64) -> (f64, f64) {
    let path = dir.join("raw.bin");
    let chunk = vec![0xA5u8; 1 << 20];
    let pass = |file: &mut std::fs::File| {
        let start = Instant::now();
        for _ in 0..mib {
            file.write_all(&chunk).unwrap();
        }
        file.sync_data().unwrap();
        (mib << 20) as f64 / start.elapsed().as_secs_f64() / 1e6
    };
    let _ = std::fs::remove_file(&path);
    let fresh = pass(&mut std::fs::File::create(&path).unwrap());
    let rewrite = pass(&mut std::fs::OpenOptions::new().write(true).open(&path).unwrap());
    std::fs::remove_file(&path).unwrap();
    (fresh, rewrite)
}

fn raw_synced(dir: &Path, seconds: u64) -> (f64, f64) {
    let path = dir.join("raw-sync.bin");
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

fn config(root: &Path, mode: FlushMode) -> StoreConfig {
    let _ = std::fs::remove_dir_all(root);
    let mut config = StoreConfig::new(root);
    config.flush.mode = mode;
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
        born_host: "127.0.0.1:1".parse().unwrap(),
        store_host: "127.0.0.1:10911".parse().unwrap(),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

/// Appends with `writers` threads; returns MB/s.
fn store_run(dir: &Path, mode: FlushMode, writers: i32, mib: u64, seconds: u64) -> f64 {
    let root = dir.join(format!("store-{mode:?}-{writers}"));
    let (store, _) = Store::open(config(&root, mode)).unwrap();
    let counter = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let monitor = live(
        format!("{mode:?} x{writers}"),
        Arc::clone(&counter),
        Arc::clone(&done),
    );
    let budget = (mib << 20) / writers as u64;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|q| {
            let store = Arc::clone(&store);
            let counter = Arc::clone(&counter);
            std::thread::spawn(move || {
                let body = vec![b'x'; RECORD_BODY];
                let mut appender = store.queue_appender(QueueKey::new("Bench", q)).unwrap();
                let mut written = 0u64;
                loop {
                    let appended = appender.append(&[message("Bench", q, &body)]).unwrap();
                    let size = appended.placed[0].size as u64;
                    if mode == FlushMode::Sync {
                        store.wait_durable(appended.end).unwrap();
                    }
                    written += size;
                    counter.fetch_add(size, Ordering::Relaxed);
                    let over = match mode {
                        FlushMode::Async => written >= budget,
                        FlushMode::Sync => Instant::now() >= deadline,
                    };
                    if over {
                        break;
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
    eprintln!(
        "  appended in {appended_secs:.2}s ({:.0} MiB already flushed by the flusher), final flush {:.2}s",
        flushed_before as f64 / (1 << 20) as f64,
        secs - appended_secs
    );
    done.store(true, Ordering::Relaxed);
    monitor.join().unwrap();
    store.shutdown().unwrap();
    drop(store);
    let _ = std::fs::remove_dir_all(&root);
    counter.load(Ordering::Relaxed) as f64 / secs / 1e6
}

/// SYNC_FLUSH with async waiters, as the broker waits: `writers` tasks on one runtime
/// thread, each appending one record and awaiting `Store::durable`; the flusher thread does
/// the msync for all of them. Returns MB/s.
fn store_run_async_waiters(dir: &Path, writers: i32, seconds: u64) -> f64 {
    let root = dir.join(format!("store-sync-async-{writers}"));
    let (store, _) = Store::open(config(&root, FlushMode::Sync)).unwrap();
    let counter = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let monitor = live(
        format!("Sync async-waiters x{writers}"),
        Arc::clone(&counter),
        Arc::clone(&done),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    runtime.block_on(async {
        let local = tokio::task::LocalSet::new();
        for q in 0..writers {
            let (store, counter) = (Arc::clone(&store), Arc::clone(&counter));
            local.spawn_local(async move {
                let body = vec![b'x'; RECORD_BODY];
                let mut appender = store.queue_appender(QueueKey::new("Bench", q)).unwrap();
                while Instant::now() < deadline {
                    let appended = appender.append(&[message("Bench", q, &body)]).unwrap();
                    store.durable(appended.end).await.unwrap();
                    counter.fetch_add(appended.placed[0].size as u64, Ordering::Relaxed);
                }
            });
        }
        local.await;
    });
    let secs = start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    monitor.join().unwrap();
    store.shutdown().unwrap();
    drop(store);
    let _ = std::fs::remove_dir_all(&root);
    counter.load(Ordering::Relaxed) as f64 / secs / 1e6
}

const CHILD_ENV: &str = "APOGEE_BENCH_RECOVERY_CHILD";

/// The recovery child: fill `gib` GiB, say so, keep writing until killed.
fn recovery_child(root: &Path, gib: u64) {
    let (store, _) = Store::open(config(root, FlushMode::Async)).unwrap();
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
    let (fresh, rewrite) = raw_bulk(&dir, args.mib);
    let bulk = fresh.max(rewrite);
    let (synced, sync_ms) = raw_synced(&dir, args.seconds.min(3));
    println!("raw disk: bulk {fresh:.0} MB/s into a fresh file, {rewrite:.0} MB/s over an allocated one (1 MiB writes + fdatasync; ratios use the faster); synced {synced:.1} MB/s (64 KiB write + fdatasync, {sync_ms:.2} ms each)");
    println!("| mode | writers | store MB/s | ratio to bulk | ratio to synced 64 KiB |");
    println!("|---|---|---|---|---|");
    for mode in [FlushMode::Async, FlushMode::Sync] {
        for writers in [1, 8, 64] {
            let mbps = store_run(&dir, mode, writers, args.mib, args.seconds);
            println!(
                "| {mode:?} | {writers} | {mbps:.1} | {:.0} % | {:.0} % |",
                100.0 * mbps / bulk,
                100.0 * mbps / synced
            );
        }
    }
    for writers in [8, 64] {
        let mbps = store_run_async_waiters(&dir, writers, args.seconds);
        println!(
            "| Sync, async waiters (as the broker) | {writers} | {mbps:.1} | {:.0} % | {:.0} % |",
            100.0 * mbps / bulk,
            100.0 * mbps / synced
        );
    }
    for gib in args.recovery_gib {
        let (elapsed, end) = recovery(&dir, gib);
        println!(
            "recovery after kill -9 with {:.2} GiB of log: serving again in {:.0} ms",
            end as f64 / (1u64 << 30) as f64,
            elapsed.as_secs_f64() * 1000.0
        );
    }
}
