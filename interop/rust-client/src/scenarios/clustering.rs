//! Scenario 2: a clustering group of two push consumers, both started (and the queues
//! split 2 + 2) before the sends; every message must be delivered exactly once.

use std::time::Duration;

use rocketmq_protocol::protocol::heartbeat::message_model::MessageModel;

use super::send_sync;
use crate::support::{
    expected_ids, merged, sample, union_unique, wait_for, wait_for_assignment, Harness, Outcome,
    Recorder, QUEUES,
};

const SCENARIO: &str = "clustering";
/// How long to keep listening after the last expected message, to catch late duplicates.
const GRACE: Duration = Duration::from_secs(3);

pub async fn run(h: &Harness) -> anyhow::Result<Outcome> {
    let mut o = Outcome::new(SCENARIO);
    let topic = h.name("clu", "topic");
    let group = h.name("clu", "cg");
    let mut producer = h.producer("clu").await?;
    h.create_topic(&mut producer, &topic).await?;

    let (r1, r2) = (Recorder::new(), Recorder::new());
    let mut c1 = h
        .push_consumer(
            &group,
            "m1",
            &topic,
            "*",
            MessageModel::Clustering,
            r1.clone(),
        )
        .await?;
    let mut c2 = h
        .push_consumer(
            &group,
            "m2",
            &topic,
            "*",
            MessageModel::Clustering,
            r2.clone(),
        )
        .await?;
    c1.start()
        .await
        .map_err(|e| anyhow::anyhow!("m1 start: {}", crate::support::describe(&e)))?;
    c2.start()
        .await
        .map_err(|e| anyhow::anyhow!("m2 start: {}", crate::support::describe(&e)))?;

    let half = QUEUES / 2;
    let (settled, held, took) =
        wait_for_assignment(&[&c1, &c2], &topic, &[half, half], h.settings.wait).await;
    let disjoint = held[0].iter().all(|q| !held[1].contains(q));
    o.check(
        settled && disjoint,
        format!(
            "rebalance: m1 holds queues {:?}, m2 holds {:?} after {:.1} s (want {half} + {half}, disjoint)",
            held[0],
            held[1],
            took.as_secs_f64()
        ),
    );

    let n = h.settings.messages;
    let acked = send_sync(&producer, &mut o, &topic, "clu", 0..n, |_| "TagA").await;
    let (done, waited) = wait_for(
        h.settings.wait,
        || r1.deliveries() + r2.deliveries(),
        || union_unique(&[&r1, &r2]) >= acked,
    )
    .await;
    tokio::time::sleep(GRACE).await;

    let (s1, s2) = (r1.snapshot(), r2.snapshot());
    let all = merged(&[&s1, &s2]);
    let expected = expected_ids("clu", n);
    let missing: Vec<&String> = expected
        .iter()
        .filter(|id| !all.contains_key(*id))
        .collect();
    let dups: u32 = all.values().map(|c| c - 1).sum();
    let both: Vec<&String> = s1
        .seen
        .keys()
        .filter(|id| s2.seen.contains_key(*id))
        .collect();
    o.note(format!(
        "m1 got {} deliveries ({} unique, queues {:?}), m2 got {} ({} unique, queues {:?}); {}",
        s1.deliveries,
        s1.unique(),
        s1.queues,
        s2.deliveries,
        s2.unique(),
        s2.queues,
        if done {
            format!("all in after {:.1} s", waited.as_secs_f64())
        } else {
            "gave up waiting".into()
        }
    ));
    o.check(
        missing.is_empty(),
        format!("missing: {} of {n}", missing.len()),
    );
    if !missing.is_empty() {
        o.note(format!(
            "      missing ids: {}",
            sample(missing.iter().copied(), 8)
        ));
    }
    o.check(
        dups == 0,
        format!(
            "duplicates: {dups} ({} ids went to both members, {} within m1, {} within m2; {} redeliveries with reconsumeTimes > 0)",
            both.len(),
            s1.duplicates(),
            s2.duplicates(),
            s1.redelivered + s2.redelivered
        ),
    );
    crate::support::check_integrity(
        &mut o,
        "m1 + m2",
        s1.damaged + s2.damaged,
        &s1.first_damage.clone().or(s2.first_damage.clone()),
    );
    if !both.is_empty() {
        o.note(format!(
            "      on both members: {}",
            sample(both.iter().copied(), 8)
        ));
    }

    c1.shutdown().await;
    c2.shutdown().await;
    producer.shutdown().await;
    Ok(o)
}
