//! Interop: the `rocketmq-client-rust` crate, version 1.0.0 from crates.io, unchanged,
//! against `apogee standalone`.
//!
//! ```text
//! APOGEE_NAMESRV=127.0.0.1:9876 rust-interop [SCENARIO...]     # default: all of them
//! ```
//!
//! Layout:
//! - `support.rs`: the client runtime (with the settings this machine needs, see
//!   [`support::Settings`]), unique names, producer / consumer factories, topic creation,
//!   the listener that records every delivery, bounded waits, the lite-pull read-back.
//! - `scenarios/`: one file per scenario; each returns a [`support::Outcome`] with its
//!   counts and a verdict, and never panics on what the broker answers.
//!
//! Every scenario prints its summary to stdout as `SCENARIO <name>: PASS|FAIL` followed by
//! indented detail lines; the process exits 1 if any scenario failed (2 on a usage or
//! set-up error). `run.sh` starts a broker and runs each scenario in its own process.

mod scenarios;
mod support;

use std::process::ExitCode;

use support::{Harness, Outcome, Settings};

/// The scenarios, in the order `all` runs them.
const SCENARIOS: &[(&str, &str)] = &[
    (
        "send-modes",
        "sync, async, oneway and batch sends, read back with a lite pull consumer",
    ),
    (
        "clustering",
        "two push consumers in one clustering group: each message exactly once",
    ),
    (
        "tags",
        "tag subscriptions `TagA||TagB` and `TagA || TagB` over TagA/TagB/TagC",
    ),
    (
        "broadcast",
        "two push consumers in one broadcasting group: each gets every message",
    ),
    (
        "resume",
        "a consumer restarted in the same group resumes from committed offsets",
    ),
];

fn usage() -> String {
    let mut s = String::from("usage: rust-interop [all | SCENARIO...]\n  (env APOGEE_NAMESRV=HOST:PORT is required)\nscenarios:\n");
    for (name, what) in SCENARIOS {
        s.push_str(&format!("  {name:<12} {what}\n"));
    }
    s
}

fn main() -> ExitCode {
    support::init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{}", usage());
        return ExitCode::SUCCESS;
    }
    let wanted: Vec<&str> = if args.is_empty() || args.iter().any(|a| a == "all") {
        SCENARIOS.iter().map(|(n, _)| *n).collect()
    } else {
        args.iter().map(String::as_str).collect()
    };
    if let Some(bad) = wanted
        .iter()
        .find(|w| !SCENARIOS.iter().any(|(n, _)| n == *w))
    {
        eprintln!("rust-interop: unknown scenario {bad:?}\n{}", usage());
        return ExitCode::from(2);
    }

    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rust-interop: {e:#}\n{}", usage());
            return ExitCode::from(2);
        }
    };
    let harness = match Harness::new(settings) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("rust-interop: cannot build the client runtime: {e:#}");
            return ExitCode::from(2);
        }
    };
    println!(
        "rust-interop: name server {}, {}",
        harness.settings.namesrv,
        harness.settings.describe()
    );

    let mut outcomes = Vec::new();
    for name in wanted {
        let outcome = harness.block_on(async {
            match name {
                "send-modes" => scenarios::send_modes::run(&harness).await,
                "clustering" => scenarios::clustering::run(&harness).await,
                "tags" => scenarios::tags::run(&harness).await,
                "broadcast" => scenarios::broadcast::run(&harness).await,
                "resume" => scenarios::resume::run(&harness).await,
                _ => unreachable!("checked above"),
            }
        });
        // A set-up error (client start, topic creation) is a failure of the scenario too.
        let outcome = outcome.unwrap_or_else(|e| Outcome::setup_error(name, &e));
        outcome.print();
        outcomes.push(outcome);
    }

    harness.shutdown();
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.passed)
        .map(|o| o.name.as_str())
        .collect();
    println!(
        "rust-interop: {} passed, {} failed{}",
        outcomes.len() - failed.len(),
        failed.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(" ({})", failed.join(", "))
        }
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
