//! Scenario 3: tag subscriptions over a topic carrying TagA, TagB and TagC in equal parts.
//!
//! Two groups, each started before the sends:
//! - `tight` subscribes `TagA||TagB`: must receive every TagA/TagB message once, no TagC.
//! - `blank` subscribes `TagA || TagB`: the crate puts the trimmed tags in `tagsSet` but
//!   hashes the untrimmed `"TagA "` / `" TagB"` into `codeSet` (protocol doc §9). A broker
//!   that trusts `codeSet` as Java's does delivers nothing: reported as the known client
//!   defect, not failed. Full delivery means the broker recomputed the codes (lenient).
//!   Anything else (TagC, a partial set, duplicates) is a broker fault and fails.
//!
//! Note: the crate also filters pulled messages by `tagsSet` on the client side, so a TagC
//! never reaching the listener does not by itself prove the broker filtered; run.sh with
//! `INTEROP_WIRETAP=1` logs the tags the broker returned to each group's pulls.

use std::collections::HashSet;
use std::time::Duration;

use rocketmq_protocol::protocol::heartbeat::message_model::MessageModel;

use super::send_sync;
use crate::support::{
    id, wait_for, wait_for_assignment, Harness, Outcome, Record, Recorder, QUEUES,
};

const SCENARIO: &str = "tags";
const TAGS: [&str; 3] = ["TagA", "TagB", "TagC"];
const GRACE: Duration = Duration::from_secs(3);

/// Java's `String.hashCode` (what a broker compares with `codeSet`).
fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

pub async fn run(h: &Harness) -> anyhow::Result<Outcome> {
    let mut o = Outcome::new(SCENARIO);
    let topic = h.name("tag", "topic");
    let mut producer = h.producer("tag").await?;
    h.create_topic(&mut producer, &topic).await?;

    let (tight, blank) = (Recorder::new(), Recorder::new());
    let mut c_tight = h
        .push_consumer(
            &h.name("tag", "tight"),
            "m1",
            &topic,
            "TagA||TagB",
            MessageModel::Clustering,
            tight.clone(),
        )
        .await?;
    let mut c_blank = h
        .push_consumer(
            &h.name("tag", "blank"),
            "m1",
            &topic,
            "TagA || TagB",
            MessageModel::Clustering,
            blank.clone(),
        )
        .await?;
    c_tight
        .start()
        .await
        .map_err(|e| anyhow::anyhow!("tight start: {}", crate::support::describe(&e)))?;
    c_blank
        .start()
        .await
        .map_err(|e| anyhow::anyhow!("blank start: {}", crate::support::describe(&e)))?;
    let (settled, held, took) = wait_for_assignment(
        &[&c_tight, &c_blank],
        &topic,
        &[QUEUES, QUEUES],
        h.settings.wait,
    )
    .await;
    o.check(
        settled,
        format!(
            "rebalance: tight holds {:?}, blank holds {:?} after {:.1} s",
            held[0],
            held[1],
            took.as_secs_f64()
        ),
    );

    let per_tag = (h.settings.messages / 10).max(100);
    let n = per_tag * TAGS.len();
    let acked = send_sync(&producer, &mut o, &topic, "tag", 0..n, |i| TAGS[i % 3]).await;
    let want = acked * 2 / 3;
    let (done, waited) = wait_for(
        h.settings.wait,
        || tight.deliveries() + blank.deliveries(),
        || tight.unique() >= want && blank.unique() >= want,
    )
    .await;
    tokio::time::sleep(GRACE).await;
    o.note(format!(
        "sent {n} ({per_tag} per tag, round robin); {} after {:.1} s",
        if done {
            "both groups complete"
        } else {
            "stopped waiting (no progress)"
        },
        waited.as_secs_f64()
    ));

    // The TagA/TagB messages are those with index % 3 != 2.
    let ab: HashSet<String> = (0..n)
        .filter(|i| i % 3 != 2)
        .map(|i| id("tag", i))
        .collect();

    let t = tight.snapshot();
    let verdict = judge(&t, &ab);
    o.check(verdict.exact, format!("`TagA||TagB`: {}", verdict.text));

    crate::support::check_integrity(&mut o, "`TagA||TagB`", t.damaged, &t.first_damage);

    let b = blank.snapshot();
    let verdict = judge(&b, &ab);
    let codes = format!(
        "codeSet sent = {{hash(\"TagA \")={}, hash(\" TagB\")={}}}, message tagsCodes TagA={} TagB={}",
        java_hash("TagA "),
        java_hash(" TagB"),
        java_hash("TagA"),
        java_hash("TagB")
    );
    if verdict.exact {
        o.check(
            true,
            format!(
                "`TagA || TagB`: {} — the broker did not rely on the client's codeSet ({codes})",
                verdict.text
            ),
        );
    } else if b.deliveries == 0 {
        o.check(
            true,
            format!(
                "`TagA || TagB`: nothing delivered — known client defect (§9), the broker filtered by codeSet as Java does ({codes})"
            ),
        );
    } else {
        o.check(false, format!("`TagA || TagB`: {} ({codes})", verdict.text));
    }

    crate::support::check_integrity(&mut o, "`TagA || TagB`", b.damaged, &b.first_damage);

    c_tight.shutdown().await;
    c_blank.shutdown().await;
    producer.shutdown().await;
    Ok(o)
}

struct Verdict {
    exact: bool,
    text: String,
}

fn judge(r: &Record, ab: &HashSet<String>) -> Verdict {
    let got_ab = ab.iter().filter(|id| r.seen.contains_key(*id)).count();
    let tag_c = r.tags.get("TagC").copied().unwrap_or(0);
    let other: u32 = r
        .tags
        .iter()
        .filter(|(t, _)| !TAGS.contains(&t.as_str()))
        .map(|(_, n)| *n)
        .sum();
    let exact = got_ab == ab.len() && tag_c == 0 && other == 0 && r.duplicates() == 0;
    Verdict {
        exact,
        text: format!(
            "{got_ab}/{} TagA/TagB received, TagC {tag_c}, other {other}, duplicates {} (by tag {:?})",
            ab.len(),
            r.duplicates(),
            r.tags
        ),
    }
}
