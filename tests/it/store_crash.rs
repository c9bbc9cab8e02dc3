//! Durability under `kill -9`: a child process appends under SYNC_FLUSH and prints every
//! acknowledged record; the parent kills it at a random moment, reopens the store and checks
//! that every acknowledged record is intact, that no partial record is visible, and that the
//! consume queues agree with the log. Repeated over many cycles on the same store.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use apogee::protocol::message::{self, Head, Record};
use apogee::protocol::properties;
use apogee::store::{FlushMode, QueueKey, Store};

use super::store::{body_of, check_queues_agree_with_log, message, small_config, temp_dir};

const ENV_DIR: &str = "APOGEE_CRASH_CHILD_DIR";
const QUEUES: i32 = 3;

/// The child: run only by the parent below (`--ignored` + the env var).
#[test]
#[ignore = "child process of sync_flush_survives_kill_9"]
fn crash_child() {
    let Some(dir) = std::env::var_os(ENV_DIR) else {
        return;
    };
    let (store, _) = Store::open(small_config(dir.as_ref(), FlushMode::Sync)).unwrap();
    let mut appenders: Vec<_> = (0..QUEUES)
        .map(|q| store.queue_appender(QueueKey::new("Crash", q)).unwrap())
        .collect();
    let mut round = 0u64;
    loop {
        round += 1;
        let appender = &mut appenders[(round % QUEUES as u64) as usize];
        let q = appender.key().queue_id;
        let first = appender.next_offset();
        let batch = 1 + (round % 5);
        let bodies: Vec<Vec<u8>> = (0..batch).map(|i| body_of(q, first + i)).collect();
        let props = properties::encode([(properties::TAGS, "crash")]);
        let msgs: Vec<_> = bodies
            .iter()
            .map(|b| message("Crash", q, b, &props))
            .collect();
        let appended = appender.append(&msgs).unwrap();
        store.wait_durable(appended.end).unwrap();
        for (i, placed) in appended.placed.iter().enumerate() {
            println!(
                "ACK {q} {} {} {}",
                first + i as u64,
                placed.physical_offset,
                placed.size
            );
        }
        if round.is_multiple_of(8) {
            store.dispatch().unwrap();
        }
    }
}

struct Ack {
    queue: i32,
    offset: u64,
    physical: u64,
    size: usize,
}

fn run_child_until_killed(dir: &std::path::Path, run_for: Duration) -> Vec<Ack> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "store_crash::crash_child",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(ENV_DIR, dir)
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + run_for;
    let mut acks = Vec::new();
    let mut collect = |line: String| {
        let parts: Vec<&str> = line.split(' ').collect();
        if parts.len() == 5 && parts[0] == "ACK" {
            acks.push(Ack {
                queue: parts[1].parse().unwrap(),
                offset: parts[2].parse().unwrap(),
                physical: parts[3].parse().unwrap(),
                size: parts[4].parse().unwrap(),
            });
        }
    };
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => collect(line),
            Err(mpsc::RecvTimeoutError::Timeout) => break,
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("crash child exited early"),
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Whatever the child printed before dying was acknowledged before it died.
    reader.join().unwrap();
    while let Ok(line) = rx.try_recv() {
        collect(line);
    }
    acks
}

/// Walks the whole log: every record decodes with a valid CRC up to the written offset.
fn check_no_partial_record(store: &Store) -> u64 {
    let log = store.commit_log();
    let (mut offset, end) = (log.min_offset(), log.written());
    let mut records = 0;
    while offset < end {
        let file = log.file_for(offset).unwrap();
        let buf = file.read_from((offset - file.start()) as usize);
        match message::head(buf).unwrap() {
            Head::Message(size) => {
                Record::decode(&buf[..size], true).unwrap();
                offset += size as u64;
                records += 1;
            }
            Head::Blank => offset = file.start() + file.len() as u64,
            Head::Empty => panic!("hole at {offset} below the written offset {end}"),
        }
    }
    records
}

#[test]
fn sync_flush_survives_kill_9() {
    let cycles: u64 = std::env::var("APOGEE_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = temp_dir("crash");
    let mut total_acks = 0usize;
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for cycle in 0..cycles {
        // Kill somewhere between 100 and 400 ms in.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let run_for = Duration::from_millis(100 + seed % 300);
        let acks = run_child_until_killed(&dir, run_for);
        assert!(
            !acks.is_empty(),
            "cycle {cycle}: the child acknowledged nothing"
        );
        total_acks += acks.len();

        let (store, report) = Store::open(small_config(&dir, FlushMode::Sync)).unwrap();
        assert!(
            report.crashed,
            "cycle {cycle}: the abort marker was not left behind"
        );
        for ack in &acks {
            let bytes = store.read(ack.physical, ack.size).unwrap_or_else(|| {
                panic!(
                    "cycle {cycle}: acknowledged record at {} lost",
                    ack.physical
                )
            });
            let record = Record::decode(&bytes, true).unwrap();
            assert_eq!(
                (record.queue_id, record.queue_offset as u64),
                (ack.queue, ack.offset)
            );
            assert_eq!(record.body, &body_of(ack.queue, ack.offset)[..]);
            let key = QueueKey::new("Crash", ack.queue);
            let unit = store.consume_queue(&key).unwrap().unit(ack.offset).unwrap();
            assert_eq!(unit.physical_offset, ack.physical);
        }
        let records = check_no_partial_record(&store);
        assert_eq!(check_queues_agree_with_log(&store), records);
        store.shutdown().unwrap();
    }
    eprintln!("{cycles} kill -9 cycles, {total_acks} acknowledged records verified");
    std::fs::remove_dir_all(&dir).unwrap();
}
