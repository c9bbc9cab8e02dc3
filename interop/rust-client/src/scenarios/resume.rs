//! Scenario 5: a clustering consumer is stopped mid-stream (its listener is slowed so it
//! has consumed about half of phase 1), more messages are sent while the group has no
//! member, and a new member of the same group must resume from the committed offsets:
//! nothing lost, duplicates allowed and counted (the crate commits the lowest unfinished
//! offset of each queue, so a few re-deliveries are legitimate; protocol doc §9). A new
//! member that re-reads everything the first one consumed has not resumed: that fails.

use std::time::Duration;

use rocketmq_protocol::protocol::heartbeat::message_model::MessageModel;

use super::send_sync;
use crate::support::{
    describe, expected_ids, merged, sample, union_unique, wait_for, wait_for_assignment, Harness,
    Outcome, Recorder, QUEUES,
};

const SCENARIO: &str = "resume";
const GRACE: Duration = Duration::from_secs(3);
/// Listener pause per message for the first member, so it can be stopped mid-stream.
const SLOW: Duration = Duration::from_millis(2);

pub async fn run(h: &Harness) -> anyhow::Result<Outcome> {
    let mut o = Outcome::new(SCENARIO);
    let topic = h.name("res", "topic");
    let group = h.name("res", "cg");
    let mut producer = h.producer("res").await?;
    h.create_topic(&mut producer, &topic).await?;

    // Phase 1: the first member consumes about half, then stops.
    let r1 = Recorder::slow(SLOW);
    let mut c1 = h
        .push_consumer(
            &group,
            "first",
            &topic,
            "*",
            MessageModel::Clustering,
            r1.clone(),
        )
        .await?;
    c1.start()
        .await
        .map_err(|e| anyhow::anyhow!("first start: {}", describe(&e)))?;
    let (settled, held, _) = wait_for_assignment(&[&c1], &topic, &[QUEUES], h.settings.wait).await;
    o.check(settled, format!("first member holds queues {:?}", held[0]));
    let n1 = (h.settings.messages / 2).max(200);
    let acked1 = send_sync(&producer, &mut o, &topic, "res", 0..n1, |_| "TagA").await;
    let (half, _) = wait_for(
        h.settings.wait,
        || r1.deliveries(),
        || r1.unique() >= acked1 / 2,
    )
    .await;
    c1.shutdown().await;
    let at_stop = r1.unique();
    o.check(
        half,
        format!("first member stopped after consuming {at_stop} of {n1} (target about half)"),
    );

    // Phase 2: sends with no member, then a new member of the same group.
    let n2 = n1;
    send_sync(&producer, &mut o, &topic, "res", n1..n1 + n2, |_| "TagA").await;
    let r2 = Recorder::new();
    let mut c2 = h
        .push_consumer(
            &group,
            "second",
            &topic,
            "*",
            MessageModel::Clustering,
            r2.clone(),
        )
        .await?;
    c2.start()
        .await
        .map_err(|e| anyhow::anyhow!("second start: {}", describe(&e)))?;
    let total = n1 + n2;
    let (done, waited) = wait_for(
        h.settings.wait,
        || r1.deliveries() + r2.deliveries(),
        || union_unique(&[&r1, &r2]) >= total,
    )
    .await;
    tokio::time::sleep(GRACE).await;

    let (s1, s2) = (r1.snapshot(), r2.snapshot());
    let all = merged(&[&s1, &s2]);
    let expected = expected_ids("res", total);
    let missing: Vec<&String> = expected
        .iter()
        .filter(|id| !all.contains_key(*id))
        .collect();
    let again: Vec<&String> = s1
        .seen
        .keys()
        .filter(|id| s2.seen.contains_key(*id))
        .collect();
    o.note(format!(
        "first member: {} unique ({} deliveries); second member: {} unique ({} deliveries); {}",
        s1.unique(),
        s1.deliveries,
        s2.unique(),
        s2.deliveries,
        if done {
            format!("all in {:.1} s after restart", waited.as_secs_f64())
        } else {
            "stopped waiting".into()
        }
    ));
    o.check(
        missing.is_empty(),
        format!("lost: {} of {total}", missing.len()),
    );
    crate::support::check_integrity(
        &mut o,
        "first + second",
        s1.damaged + s2.damaged,
        &s1.first_damage.clone().or(s2.first_damage.clone()),
    );
    if !missing.is_empty() {
        o.note(format!(
            "      lost ids: {}",
            sample(missing.iter().copied(), 8)
        ));
    }
    let rewound = !s1.seen.is_empty() && again.len() * 10 >= s1.unique() * 9;
    o.check(
        !rewound,
        format!(
            "re-delivered after restart: {} of the {} the first member consumed (duplicates overall {}){}",
            again.len(),
            s1.unique(),
            all.values().map(|c| c - 1).sum::<u32>(),
            if rewound { " — the new member started over instead of resuming" } else { "" }
        ),
    );
    if !again.is_empty() {
        o.note(format!(
            "      re-delivered: {}",
            sample(again.iter().copied(), 8)
        ));
    }

    c2.shutdown().await;
    producer.shutdown().await;
    Ok(o)
}
