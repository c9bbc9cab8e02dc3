//! Scenario 4: a broadcasting group of two push consumers (offsets kept locally by each
//! client); each must receive every message.

use std::time::Duration;

use rocketmq_protocol::protocol::heartbeat::message_model::MessageModel;

use super::send_sync;
use crate::support::{
    describe, expected_ids, sample, wait_for, wait_for_assignment, Harness, Outcome, Recorder,
    QUEUES,
};

const SCENARIO: &str = "broadcast";
const GRACE: Duration = Duration::from_secs(3);

pub async fn run(h: &Harness) -> anyhow::Result<Outcome> {
    let mut o = Outcome::new(SCENARIO);
    let topic = h.name("bc", "topic");
    let group = h.name("bc", "cg");
    let mut producer = h.producer("bc").await?;
    h.create_topic(&mut producer, &topic).await?;

    let (r1, r2) = (Recorder::new(), Recorder::new());
    let mut c1 = h
        .push_consumer(
            &group,
            "m1",
            &topic,
            "*",
            MessageModel::Broadcasting,
            r1.clone(),
        )
        .await?;
    let mut c2 = h
        .push_consumer(
            &group,
            "m2",
            &topic,
            "*",
            MessageModel::Broadcasting,
            r2.clone(),
        )
        .await?;
    c1.start()
        .await
        .map_err(|e| anyhow::anyhow!("m1 start: {}", describe(&e)))?;
    c2.start()
        .await
        .map_err(|e| anyhow::anyhow!("m2 start: {}", describe(&e)))?;
    let (settled, held, took) =
        wait_for_assignment(&[&c1, &c2], &topic, &[QUEUES, QUEUES], h.settings.wait).await;
    o.check(
        settled,
        format!(
            "each member holds every queue: m1 {:?}, m2 {:?} after {:.1} s",
            held[0],
            held[1],
            took.as_secs_f64()
        ),
    );

    let n = (h.settings.messages / 2).max(100);
    let acked = send_sync(&producer, &mut o, &topic, "bc", 0..n, |_| "TagA").await;
    let (done, waited) = wait_for(
        h.settings.wait,
        || r1.deliveries() + r2.deliveries(),
        || r1.unique() >= acked && r2.unique() >= acked,
    )
    .await;
    tokio::time::sleep(GRACE).await;
    o.note(if done {
        format!("both members complete after {:.1} s", waited.as_secs_f64())
    } else {
        "stopped waiting (no progress)".to_string()
    });

    let expected = expected_ids("bc", n);
    for (member, r) in [("m1", r1.snapshot()), ("m2", r2.snapshot())] {
        let missing: Vec<&String> = expected
            .iter()
            .filter(|id| !r.seen.contains_key(*id))
            .collect();
        o.check(
            missing.is_empty(),
            format!(
                "{member}: {} unique of {n} ({} deliveries, {} duplicates, {} redelivered, queues {:?})",
                r.unique(),
                r.deliveries,
                r.duplicates(),
                r.redelivered,
                r.queues
            ),
        );
        crate::support::check_integrity(&mut o, member, r.damaged, &r.first_damage);
        if !missing.is_empty() {
            o.note(format!(
                "      {member} missing: {}",
                sample(missing.iter().copied(), 8)
            ));
        }
    }

    c1.shutdown().await;
    c2.shutdown().await;
    producer.shutdown().await;
    Ok(o)
}
