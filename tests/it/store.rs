//! The store: appends across file rolls, consume queues, index queries, retention,
//! recovery from torn tails and flipped bits.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use apogee::protocol::message::{NewMessage, Record};
use apogee::protocol::properties;
use apogee::store::mmap::Writes;
use apogee::store::{
    FlushConfig, FlushMode, IndexShape, QueueKey, RetentionConfig, Store, StoreConfig,
};

/// Commit-log file size of the tests.
pub const SMALL_FILE: u64 = 96 * 1024; // > 32 KiB max message + 64 KiB slack

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("apogee-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Small files so that rolling is exercised; nothing flushed or checkpointed on its own
/// (tests decide), unless `mode` is Sync.
pub fn small_config(root: &Path, mode: FlushMode) -> StoreConfig {
    let mut config = StoreConfig::new(root);
    config.commit_log_file_size = SMALL_FILE as usize;
    config.max_message_size = 32 * 1024;
    config.cq_units_per_file = 64;
    config.index = IndexShape {
        slots: 101,
        max_entries: 200,
    };
    config.flush = FlushConfig {
        mode,
        interval: Duration::from_secs(3600),
        checkpoint_interval: Duration::from_secs(3600),
        ..FlushConfig::default()
    };
    config
}

/// The body of message `offset` of queue `queue`: recognisable and of varying length.
pub fn body_of(queue: i32, offset: u64) -> Vec<u8> {
    let text = format!("q{queue}-o{offset}|");
    text.repeat(1 + (offset as usize * 7 + queue as usize) % 40)
        .into_bytes()
}

pub fn message<'a>(topic: &'a str, queue: i32, body: &'a [u8], props: &'a str) -> NewMessage<'a> {
    NewMessage {
        topic,
        queue_id: queue,
        flag: 0,
        body,
        properties: props,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        born_host: "127.0.0.1:50000".parse().unwrap(),
        store_host: "127.0.0.1:10911".parse().unwrap(),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

/// Appends `count` messages to each of `queues` queues of `topic`, tagged and keyed.
fn fill(store: &Arc<Store>, topic: &str, queues: i32, count: u64) {
    for q in 0..queues {
        let mut appender = store.queue_appender(QueueKey::new(topic, q)).unwrap();
        for _ in 0..count {
            let offset = appender.next_offset();
            let body = body_of(q, offset);
            let props = properties::encode([
                (
                    properties::TAGS,
                    if offset.is_multiple_of(2) {
                        "even"
                    } else {
                        "odd"
                    },
                ),
                (properties::KEYS, &format!("k{q}-{offset} shared")),
                (properties::UNIQ_KEY, &format!("U{q}X{offset}")),
            ]);
            appender
                .append(&[message(topic, q, &body, &props)])
                .unwrap();
        }
    }
    dispatch_all(store);
}

/// Dispatches everything appended. Written with pwrite from a buffer (ASYNC_FLUSH with the
/// transient pool), records become readable when the committer gets to them.
fn dispatch_all(store: &Store) {
    let end = store.commit_log().appended();
    eventually("the records are written", || {
        store.commit_log().written() >= end
    });
    store.dispatch().unwrap();
}

/// Commit-log files up to the tail (not a file prepared ahead for the next roll).
fn log_files(root: &Path, store: &Store) -> usize {
    std::fs::read_dir(root.join("commitlog"))
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let start: u64 = name.to_str().unwrap().parse().unwrap();
            start < store.commit_log().appended()
        })
        .count()
}

/// Every unit of every queue points at the record it should, whose body is intact.
pub fn check_queues_agree_with_log(store: &Store) -> u64 {
    let mut seen = 0;
    for key in store.queue_keys() {
        let cq = store.consume_queue(&key).unwrap();
        for (offset, unit) in cq.units(cq.min_offset(), usize::MAX) {
            let bytes = store
                .read(unit.physical_offset, unit.size as usize)
                .unwrap_or_else(|| panic!("{key} unit {offset} points past the log"));
            let record =
                Record::decode(&bytes, true).unwrap_or_else(|e| panic!("{key} unit {offset}: {e}"));
            assert_eq!(record.topic, key.topic);
            assert_eq!(record.queue_id, key.queue_id);
            assert_eq!(record.queue_offset as u64, offset);
            assert_eq!(record.physical_offset as u64, unit.physical_offset);
            assert_eq!(record.body, &body_of(key.queue_id, offset)[..]);
            assert_eq!(unit.tags_code, record.tags_code());
            seen += 1;
        }
    }
    seen
}

#[test]
fn appends_roll_files_and_read_back_through_consume_queues() {
    // Both ways records get into the log: stores into the map, and pwrite.
    roll_and_read_back(Writes::MapBulk);
    roll_and_read_back(Writes::Syscall);
}

fn roll_and_read_back(writes: Writes) {
    let root = temp_dir(&format!("roll-{writes:?}"));
    let config = |root: &Path| StoreConfig {
        log_writes: Some(writes),
        ..small_config(root, FlushMode::Async)
    };
    let (store, report) = Store::open(config(&root)).unwrap();
    assert!(!report.crashed);
    fill(&store, "TopicTest", 4, 300);
    let files = std::fs::read_dir(root.join("commitlog")).unwrap().count();
    assert!(
        files >= 3,
        "only {files} commit-log files: rolling not exercised"
    );
    assert_eq!(check_queues_agree_with_log(&store), 1200);
    let key = QueueKey::new("TopicTest", 2);
    assert_eq!(store.max_offset(&key), 300);
    assert_eq!(store.min_offset(&key), 0);
    let cq = store.consume_queue(&key).unwrap();
    let units = cq.units(10, 5);
    assert_eq!(
        units.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
        vec![10, 11, 12, 13, 14]
    );
    assert_eq!(
        units[0].1.tags_code,
        i64::from(apogee::protocol::message::java_hash("even"))
    );
    assert!(cq.units(300, 5).is_empty());
    // Consume-queue files of 64 units: 300 units need 5 files.
    assert_eq!(
        std::fs::read_dir(root.join("consumequeue/TopicTest/2"))
            .unwrap()
            .count(),
        5
    );
    store.shutdown().unwrap();
    drop(store);

    // A clean reopen sees everything and continues the queue offsets.
    let (store, report) = Store::open(config(&root)).unwrap();
    assert!(!report.crashed);
    assert_eq!(report.cut_bytes, 0);
    assert_eq!(
        report.scanned_bytes, 0,
        "a clean checkpoint leaves nothing to scan"
    );
    assert_eq!(check_queues_agree_with_log(&store), 1200);
    let mut appender = store.queue_appender(key.clone()).unwrap();
    assert_eq!(appender.next_offset(), 300);
    assert!(
        store.queue_appender(key.clone()).is_err(),
        "one writer per queue"
    );
    let body = body_of(2, 300);
    appender
        .append(&[message("TopicTest", 2, &body, "")])
        .unwrap();
    drop(appender);
    dispatch_all(&store);
    assert_eq!(store.max_offset(&key), 301);
    store.shutdown().unwrap();
    std::fs::remove_dir_all(&root).unwrap();
}

/// SYNC_FLUSH appends from many threads at once (pending bytes written by group commits with
/// pwrite, across file rolls): every record lands whole, in its queue's order, and every
/// acknowledged one is on disk.
#[test]
fn concurrent_sync_appends_share_writes_and_lose_nothing() {
    let root = temp_dir("concurrent-sync");
    let (store, _) = Store::open(small_config(&root, FlushMode::Sync)).unwrap();
    assert_eq!(store.config().log_writes(), Writes::Syscall);
    let threads: Vec<_> = (0..8)
        .map(|q| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let mut appender = store.queue_appender(QueueKey::new("Many", q)).unwrap();
                let mut ends = Vec::new();
                for i in 0..150u64 {
                    let body = body_of(q, i);
                    let appended = appender.append(&[message("Many", q, &body, "")]).unwrap();
                    ends.push(appended.end);
                    if i % 10 == 9 {
                        // Ten in flight, then wait for the oldest batch.
                        store.wait_durable(appended.end).unwrap();
                        assert!(store.commit_log().flushed() >= appended.end);
                    }
                }
                ends
            })
        })
        .collect();
    let mut ends: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    ends.sort_unstable();
    ends.dedup();
    assert_eq!(ends.len(), 8 * 150, "every append got its own end");
    let files = std::fs::read_dir(root.join("commitlog")).unwrap().count();
    assert!(
        files >= 3,
        "only {files} commit-log files: rolling not exercised"
    );
    // Under SYNC_FLUSH records are written by their group commit: readable once durable.
    let last = *ends.last().unwrap();
    store.wait_durable(last).unwrap();
    assert!(store.commit_log().written() >= last);
    agree_before_and_after_reopen(store, small_config(&root, FlushMode::Sync), 8 * 150);
}

/// Dispatches, checks that the queues agree with the log and hold `records`, shuts the
/// store down, reopens it (a clean open) and checks again; removes the store's directory.
fn agree_before_and_after_reopen(store: Arc<Store>, config: StoreConfig, records: u64) {
    store.dispatch().unwrap();
    assert_eq!(check_queues_agree_with_log(&store), records);
    store.shutdown().unwrap();
    drop(store);
    let root = config.root.clone();
    let (store, report) = Store::open(config).unwrap();
    assert!(!report.crashed);
    assert_eq!(check_queues_agree_with_log(&store), records);
    store.shutdown().unwrap();
    std::fs::remove_dir_all(&root).unwrap();
}

/// Many records in flight (an asynchronous producer against a SYNC_FLUSH broker): the
/// committer thread writes pending records while the flusher syncs earlier ones; nothing
/// is lost or reordered, and every acknowledged end is flushed.
#[test]
fn pipelined_sync_appends_go_through_the_committer() {
    let root = temp_dir("pipelined-sync");
    let mut config = small_config(&root, FlushMode::Sync);
    config.commit_log_file_size = 4 << 20;
    let (store, _) = Store::open(config.clone()).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|q| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let mut appender = store.queue_appender(QueueKey::new("Piped", q)).unwrap();
                let mut in_flight = Vec::new();
                for i in 0..3000u64 {
                    let body = body_of(q, i);
                    let appended = appender.append(&[message("Piped", q, &body, "")]).unwrap();
                    in_flight.push(appended.end);
                    if in_flight.len() == 256 || i == 2999 {
                        let end = *in_flight.last().unwrap();
                        store.wait_durable(end).unwrap();
                        assert!(store.commit_log().flushed() >= end);
                        in_flight.clear();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(
        store.commit_log().committed_by_committer() > 0,
        "the committer never wrote: every drain was a flush's or an appender's"
    );
    agree_before_and_after_reopen(store, config, 4 * 3000);
}

/// Polls `done` every millisecond for up to 10 s.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting: {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// ASYNC_FLUSH with the transient pool (RocketMQ's `transientStorePoolEnable`): appends go
/// to a buffer that the committer thread writes. A lone record becomes readable without any
/// flush (the first pending append wakes the committer); an append that leaves more than
/// `DRAIN_AT` pending returns with its records written (it waits for the committer instead
/// of letting the buffer grow); many writers across file rolls lose and reorder nothing.
#[test]
fn transient_pool_commits_without_flushes_and_bounds_its_buffer() {
    let root = temp_dir("transient-pool");
    let mut config = small_config(&root, FlushMode::Async);
    config.log_writes = Some(Writes::Syscall);
    config.commit_log_file_size = 1 << 20;
    let (store, _) = Store::open(config.clone()).unwrap();
    let log = store.commit_log();

    let drains = store.drains();
    let mut appender = store.queue_appender(QueueKey::new("Pool", 0)).unwrap();
    let body = body_of(0, 0);
    let lone = appender.append(&[message("Pool", 0, &body, "")]).unwrap();
    eventually("the committer writes a lone record", || {
        log.written() >= lone.end
    });
    assert!(log.committed_by_committer() > 0);
    // What wakes the reput: the record is readable, and was not when appended.
    assert!(drains.has_changed().unwrap());
    assert!(*drains.borrow() >= lone.end);
    assert!(log.flushed() < lone.end, "no flush was due (1 h interval)");

    let bodies: Vec<_> = (1..=2000).map(|i| body_of(0, i)).collect();
    let batch: Vec<_> = bodies.iter().map(|b| message("Pool", 0, b, "")).collect();
    let big = appender.append(&batch).unwrap();
    assert!(big.end - lone.end > apogee::store::commit_log::DRAIN_AT as u64);
    assert!(
        log.written() >= big.end,
        "a batch over DRAIN_AT returned unwritten"
    );
    drop(appender);

    let threads: Vec<_> = (1..5)
        .map(|q| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let mut appender = store.queue_appender(QueueKey::new("Pool", q)).unwrap();
                for i in 0..3000u64 {
                    let body = body_of(q, i);
                    appender.append(&[message("Pool", q, &body, "")]).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let end = log.appended();
    eventually("the committer catches up", || log.written() >= end);
    assert!(std::fs::read_dir(root.join("commitlog")).unwrap().count() >= 3);
    agree_before_and_after_reopen(store, config, 2001 + 4 * 3000);
}

/// ASYNC_FLUSH through the map: the committer faults in the pages ahead of the tail (so
/// appends do not pay for the page cache's new pages), following the log into the next
/// files as it rolls, and the records read back whole.
#[test]
fn map_appends_find_pages_faulted_in_ahead_of_the_tail() {
    let root = temp_dir("prefault");
    let mut config = small_config(&root, FlushMode::Async);
    config.commit_log_file_size = 1 << 20;
    let (store, _) = Store::open(config.clone()).unwrap();
    assert_eq!(store.config().log_writes(), Writes::MapBulk);
    let log = store.commit_log();
    let mut appender = store.queue_appender(QueueKey::new("Ahead", 0)).unwrap();
    let mut file_ends = Vec::new();
    for i in 0..12_000u64 {
        let body = body_of(0, i);
        let appended = appender.append(&[message("Ahead", 0, &body, "")]).unwrap();
        let file_end = (appended.end / (1 << 20) + 1) * (1 << 20);
        if file_ends.last() != Some(&file_end) {
            // First record in a new file: the committer faults in the rest of it.
            eventually("pages ahead of the tail are faulted in", || {
                log.prefaulted() >= file_end
            });
            file_ends.push(file_end);
        }
    }
    drop(appender);
    assert!(file_ends.len() >= 3, "the log rolled: {file_ends:?}");
    agree_before_and_after_reopen(store, config, 12_000);
}

#[test]
fn index_finds_messages_by_key_and_time() {
    let root = temp_dir("index");
    let (store, _) = Store::open(small_config(&root, FlushMode::Async)).unwrap();
    fill(&store, "T", 2, 150);
    let all = store.query_by_key("T", "k1-42", 0, i64::MAX, 10);
    assert_eq!(all.len(), 1);
    let record_queue = store
        .with_record(all[0], |r| (r.queue_id, r.queue_offset))
        .unwrap();
    assert_eq!(record_queue, (1, 42));
    assert_eq!(
        store.query_by_key("T", "U0X7", 0, i64::MAX, 10).len(),
        1,
        "unique key"
    );
    // "shared" is a key of all 300 messages: bounded by max, newest first.
    let shared = store.query_by_key("T", "shared", 0, i64::MAX, 32);
    assert_eq!(shared.len(), 32);
    assert!(shared.windows(2).all(|w| w[0] > w[1]));
    assert!(
        store.query_by_key("T", "k1-42", 0, 1_000, 10).is_empty(),
        "time range"
    );
    assert!(store
        .query_by_key("Other", "k1-42", 0, i64::MAX, 10)
        .is_empty());
    // 300 messages × 3 keys over files of 200 entries: several index files.
    assert!(std::fs::read_dir(root.join("index")).unwrap().count() >= 4);
    store.shutdown().unwrap();
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn retention_deletes_old_files_and_moves_min_offsets() {
    let root = temp_dir("retention");
    let mut config = small_config(&root, FlushMode::Async);
    config.retention = RetentionConfig {
        file_reserved_hours: 1,
        delete_when: vec![4],
        // Whatever this machine's disk holds, only the hour may decide here.
        disk_max_used_ratio: 0.999,
        disk_force_ratio: 0.9995,
        disk_hard_ratio: 0.9999,
        ..RetentionConfig::default()
    };
    let (store, _) = Store::open(config).unwrap();
    fill(&store, "T", 2, 400);
    let before = log_files(&root, &store);
    let far_future = apogee::util::now_ms() + 2 * 3_600_000;
    // Not the delete hour, disk not full: nothing goes.
    let outcome = store.run_retention(far_future, 5).unwrap();
    assert_eq!(outcome.deleted_log_files, 0);
    // At 04:00 every expired file goes but the current one.
    let outcome = store.run_retention(far_future, 4).unwrap();
    assert_eq!(outcome.deleted_log_files, before - 1);
    assert_eq!(log_files(&root, &store), 1);
    let log_min = store.commit_log().min_offset();
    assert_eq!(outcome.log_min_offset, log_min);
    // Queue 0 was written first: all of it was in the deleted files.
    let q0 = store.consume_queue(&QueueKey::new("T", 0)).unwrap();
    assert_eq!((q0.min_offset(), q0.max_offset()), (400, 400));
    assert!(q0.unit(399).is_none());
    // Queue 1 keeps its tail: its min offset is its first unit in the kept file.
    let q1 = store.consume_queue(&QueueKey::new("T", 1)).unwrap();
    let min = q1.min_offset();
    assert!(min > 0 && min < 400, "queue 1 min offset {min}");
    assert!(q1.unit(min).unwrap().physical_offset >= log_min);
    assert!(q1.unit(min - 1).is_none(), "units before the min are gone");
    assert_eq!(q1.max_offset(), 400);
    assert!(outcome.deleted_index_files > 0);
    assert_eq!(check_queues_agree_with_log(&store) as usize, {
        let q0 = store.consume_queue(&QueueKey::new("T", 0)).unwrap();
        let q1 = store.consume_queue(&QueueKey::new("T", 1)).unwrap();
        (800 - q0.min_offset() - q1.min_offset()) as usize
    });
    store.shutdown().unwrap();
    std::fs::remove_dir_all(&root).unwrap();
}

/// Opens a store whose previous instance was dropped without a shutdown (a crash): its
/// background threads may hold it, and its lock, for a moment longer (a crashed process's
/// lock goes when the process does).
fn open_after_crash(config: StoreConfig) -> (Arc<Store>, apogee::store::RecoveryReport) {
    let start = std::time::Instant::now();
    loop {
        match Store::open(config.clone()) {
            Err(apogee::store::StoreError::Locked(_))
                if start.elapsed() < Duration::from_secs(5) =>
            {
                std::thread::sleep(Duration::from_millis(20))
            }
            other => return other.unwrap(),
        }
    }
}

/// Damages the tail of the newest commit-log file, reopens, checks the cut.
fn reopen_after(
    root: &Path,
    damage: impl FnOnce(&mut [u8], usize),
) -> apogee::store::RecoveryReport {
    let (store, _) = Store::open(small_config(root, FlushMode::Async)).unwrap();
    fill(&store, "T", 3, 100);
    let written = store.commit_log().written();
    let last_record = {
        let key = QueueKey::new("T", 2);
        store.consume_queue(&key).unwrap().unit(99).unwrap()
    };
    assert_eq!(
        last_record.physical_offset + u64::from(last_record.size),
        written
    );
    // Crash: no shutdown, no checkpoint was ever written (intervals are an hour).
    drop(store);
    let file_size = SMALL_FILE;
    let file_start = written - written % file_size;
    let path = root.join("commitlog").join(format!("{file_start:020}"));
    let mut bytes = std::fs::read(&path).unwrap();
    damage(
        &mut bytes,
        (last_record.physical_offset - file_start) as usize,
    );
    std::fs::write(&path, &bytes).unwrap();
    let (store, report) = open_after_crash(small_config(root, FlushMode::Async));
    assert!(report.crashed);
    assert_eq!(
        report.log_end, last_record.physical_offset,
        "cut at the damaged record"
    );
    assert_eq!(store.max_offset(&QueueKey::new("T", 2)), 99);
    assert_eq!(check_queues_agree_with_log(&store), 299);
    store.shutdown().unwrap();
    report
}

#[test]
fn a_torn_tail_is_cut_and_reported() {
    let root = temp_dir("torn");
    let report = reopen_after(&root, |bytes, at| {
        // The last record was only half copied: its second half is zeros, and a few stray
        // bytes of a record that never completed follow it.
        let size = i32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        bytes[at + size / 2..at + size].fill(0);
        bytes[at + size + 10] = 0x5A;
    });
    assert!(
        report.cut_bytes >= 11 && report.cut_bytes < 4096,
        "{report:?}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_flipped_bit_in_the_last_record_is_cut() {
    let root = temp_dir("bitflip");
    let report = reopen_after(&root, |bytes, at| {
        let size = i32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        bytes[at + 100] ^= 0x10; // inside the body: the CRC no longer matches
        assert!(100 < size);
    });
    assert!(report.cut_bytes > 0);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn sync_flush_acknowledges_after_the_disk_and_refuses_bad_input() {
    let root = temp_dir("sync");
    let mut config = small_config(&root, FlushMode::Sync);
    config.flush.checkpoint_interval = Duration::from_millis(50);
    let (store, _) = Store::open(config).unwrap();
    let mut appender = store.queue_appender(QueueKey::new("T", 0)).unwrap();
    let body = body_of(0, 0);
    let appended = appender.append(&[message("T", 0, &body, "")]).unwrap();
    store.wait_durable(appended.end).unwrap();
    assert!(store.commit_log().flushed() >= appended.end);
    let huge = vec![0u8; 32 * 1024 + 1];
    assert!(matches!(
        appender.append(&[message("T", 0, &huge, "")]),
        Err(apogee::store::StoreError::MessageTooLarge { .. })
    ));
    assert!(matches!(
        appender.append(&[message("T", 1, &body, "")]),
        Err(apogee::store::StoreError::WrongQueue { .. })
    ));
    let long_topic = "t".repeat(128);
    let mut other = store
        .queue_appender(QueueKey::new(long_topic.clone(), 0))
        .unwrap();
    assert!(other.append(&[message(&long_topic, 0, &body, "")]).is_err());
    // The failed appends did not consume queue offsets.
    assert_eq!(appender.next_offset(), 1);
    drop((appender, other));
    // A second process (here: a second open) cannot take the same store.
    assert!(matches!(
        Store::open(small_config(&root, FlushMode::Sync)),
        Err(apogee::store::StoreError::Locked(_))
    ));
    store.shutdown().unwrap();
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_cut_drops_the_records_past_it_and_appends_go_on_from_there() {
    // Both ways records get into the log: stores into the map, and pwrite.
    cut_and_go_on(Writes::MapBulk);
    cut_and_go_on(Writes::Syscall);
}

fn cut_and_go_on(writes: Writes) {
    let root = temp_dir(&format!("cut-{writes:?}"));
    let config = StoreConfig {
        log_writes: Some(writes),
        ..small_config(&root, FlushMode::Async)
    };
    let (store, _) = Store::open(config.clone()).unwrap();
    fill(&store, "T", 3, 150);
    let files_before = log_files(&root, &store);
    let (q0, q1, q2) = (
        QueueKey::new("T", 0),
        QueueKey::new("T", 1),
        QueueKey::new("T", 2),
    );
    let cut = store.consume_queue(&q1).unwrap().unit(50).unwrap();
    // A zero-copy slice of bytes past the cut, held through it (a pull answer in flight).
    let held = store.read(cut.physical_offset, cut.size as usize).unwrap();
    let held_copy = held.to_vec();

    let t = store.truncate_to(cut.physical_offset).unwrap();
    assert_eq!(t.log_bytes, t.from - cut.physical_offset);
    assert_eq!(t.units, 100 + 150);
    assert_eq!(
        &held[..],
        &held_copy[..],
        "a slice taken before the cut keeps its bytes"
    );
    drop(held);
    assert_eq!(store.commit_log().appended(), cut.physical_offset);
    assert_eq!(
        [q0.clone(), q1.clone(), q2.clone()].map(|q| store.max_offset(&q)),
        [150, 50, 0]
    );
    assert!(store.read(cut.physical_offset, 1).is_none());
    assert!(
        log_files(&root, &store) < files_before,
        "files past the cut are deleted"
    );
    assert_eq!(check_queues_agree_with_log(&store), 200);
    assert_eq!(store.query_by_key("T", "U1X40", 0, i64::MAX, 4).len(), 1);
    assert!(store.query_by_key("T", "U1X60", 0, i64::MAX, 4).is_empty());

    // Appends go on from the cut; every queue from its own cut end.
    fill(&store, "T", 3, 10);
    assert_eq!(
        [q0.clone(), q1.clone(), q2.clone()].map(|q| store.max_offset(&q)),
        [160, 60, 10]
    );
    assert_eq!(check_queues_agree_with_log(&store), 230);
    assert_eq!(store.query_by_key("T", "U1X55", 0, i64::MAX, 4).len(), 1);
    assert_eq!(store.truncate_to(u64::MAX).unwrap().log_bytes, 0);
    // A crash now: recovery finds the cut log (the checkpoint went back with it).
    drop(store);
    let (store, _) = open_after_crash(config);
    assert_eq!([q0, q1, q2].map(|q| store.max_offset(&q)), [160, 60, 10]);
    assert_eq!(check_queues_agree_with_log(&store), 230);
    store.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&root);
}
