//! One file per scenario; `send_sync` is the plain producer loop the consumer scenarios share.

pub mod broadcast;
pub mod clustering;
pub mod resume;
pub mod send_modes;
pub mod tags;

use std::collections::BTreeMap;

use rocketmq_client_rust::{DefaultMQProducer, SendStatus};

use crate::support::{describe, message, Outcome};

/// Sends messages `label-<from..to>` synchronously, tagged by `tag(i)`; notes failures in
/// `o` and returns how many were acknowledged SEND_OK.
pub async fn send_sync(
    p: &DefaultMQProducer,
    o: &mut Outcome,
    topic: &str,
    label: &str,
    range: std::ops::Range<usize>,
    tag: impl Fn(usize) -> &'static str,
) -> usize {
    let n = range.len();
    let mut acked = 0;
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    for i in range {
        match p
            .send_with_timeout(message(topic, tag(i), label, i), 10_000)
            .await
        {
            Ok(Some(r)) if r.send_status == SendStatus::SendOk => acked += 1,
            Ok(Some(r)) => {
                *failures
                    .entry(format!("status {:?}", r.send_status))
                    .or_default() += 1
            }
            Ok(None) => *failures.entry("no send result".into()).or_default() += 1,
            Err(e) => *failures.entry(describe(&e)).or_default() += 1,
        }
    }
    o.check(
        acked == n,
        format!("sent {acked}/{n} `{label}` messages SEND_OK (sync)"),
    );
    for (what, count) in failures {
        o.note(format!("      send failure x{count}: {what}"));
    }
    acked
}
