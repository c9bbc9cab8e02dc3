//! Properties every strategy keeps, checked with proptest over random groups: several
//! brokers (some named `room@name`) and two topics, 1..64 queues, 1..10 client ids, each
//! list also given shuffled and with duplicates, as a client might receive it.

use super::test_util::mq;
use super::*;
use proptest::prelude::*;
use proptest::sample::Index;
use std::collections::{BTreeMap, BTreeSet};

/// Listed out of Java order on purpose ("%RETRY%g" < "T", "broker-b" < "hz@…").
const TOPICS: &[&str] = &["T", "%RETRY%g"];
const BROKERS: &[&str] = &[
    "hz@broker-c",
    "broker-b",
    "broker-a",
    "sh@broker-d",
    "sz@broker-e",
    "hz@broker-f",
];
const ROOMS: &[&str] = &["hz", "sh", "sz"];
/// Never produced by `client_ids`, whose ids hold an '@'.
const STRANGER: &str = "stranger";

#[derive(Debug, Clone)]
struct Group {
    /// Distinct queues, in an order that is not Java's.
    mqs: Vec<MessageQueue>,
    /// Distinct client ids, sorted by Rust (byte) order.
    cids: Vec<String>,
    /// The same lists shuffled, with some entries repeated.
    messy_mqs: Vec<MessageQueue>,
    messy_cids: Vec<String>,
}

fn queue_set() -> impl Strategy<Value = Vec<MessageQueue>> {
    prop::collection::btree_set((0..TOPICS.len(), 0..BROKERS.len(), 0..16i32), 1..64).prop_map(
        |set| {
            set.into_iter()
                .map(|(t, b, q)| mq(TOPICS[t], BROKERS[b], q))
                .collect()
        },
    )
}

fn client_ids() -> impl Strategy<Value = Vec<String>> {
    // Optional first characters whose UTF-16 order differs from their byte order.
    prop::collection::btree_set(
        "(\u{FF61}|\u{10000}|x)?10\\.0\\.0\\.[0-9]{1,3}@[0-9]{1,5}",
        1..10,
    )
    .prop_map(|set| set.into_iter().collect())
}

/// `base` plus some of its own entries again, shuffled.
fn messy<T: Clone + std::fmt::Debug>(base: Vec<T>) -> impl Strategy<Value = Vec<T>> {
    let len = base.len();
    (Just(base), prop::collection::vec(any::<Index>(), 0..=len))
        .prop_map(|(mut list, repeats)| {
            let extra: Vec<T> = repeats
                .iter()
                .map(|i| list[i.index(list.len())].clone())
                .collect();
            list.extend(extra);
            list
        })
        .prop_shuffle()
}

fn group() -> impl Strategy<Value = Group> {
    (queue_set(), client_ids()).prop_flat_map(|(mqs, cids)| {
        (messy(mqs.clone()), messy(cids.clone())).prop_map(move |(messy_mqs, messy_cids)| Group {
            mqs: mqs.clone(),
            cids: cids.clone(),
            messy_mqs,
            messy_cids,
        })
    })
}

/// Each client's share, in `g.cids` order, every client given the messy lists.
fn shares(strategy: &dyn AllocateStrategy, g: &Group) -> Vec<Vec<MessageQueue>> {
    g.cids
        .iter()
        .map(|cid| strategy.allocate("g", cid, &g.messy_mqs, &g.messy_cids))
        .collect()
}

/// Every queue of `expected` in exactly one share, and nothing else.
fn assert_partition(
    shares: &[Vec<MessageQueue>],
    expected: &BTreeSet<MessageQueue>,
) -> Result<(), TestCaseError> {
    let mut seen = BTreeSet::new();
    for share in shares {
        for q in share {
            prop_assert!(seen.insert(q.clone()), "{:?} assigned twice", q);
        }
    }
    prop_assert_eq!(&seen, expected);
    Ok(())
}

fn assert_balanced(shares: &[Vec<MessageQueue>]) -> Result<(), TestCaseError> {
    let sizes: Vec<usize> = shares.iter().map(Vec::len).collect();
    let (min, max) = (sizes.iter().min(), sizes.iter().max());
    prop_assert!(
        max.zip(min).is_some_and(|(max, min)| max - min <= 1),
        "unbalanced sizes {:?}",
        sizes
    );
    Ok(())
}

/// Same result from the clean lists and from the messy ones; nothing for a stranger.
fn assert_input_order_irrelevant(
    strategy: &dyn AllocateStrategy,
    g: &Group,
) -> Result<(), TestCaseError> {
    for cid in &g.cids {
        prop_assert_eq!(
            strategy.allocate("g", cid, &g.messy_mqs, &g.messy_cids),
            strategy.allocate("g", cid, &g.mqs, &g.cids),
            "client {}",
            cid
        );
    }
    prop_assert!(strategy
        .allocate("g", STRANGER, &g.messy_mqs, &g.messy_cids)
        .is_empty());
    Ok(())
}

fn all_queues(g: &Group) -> BTreeSet<MessageQueue> {
    g.mqs.iter().cloned().collect()
}

proptest! {
    #[test]
    fn averagely_partitions_evenly(g in group()) {
        let shares = shares(&Averagely, &g);
        assert_partition(&shares, &all_queues(&g))?;
        assert_balanced(&shares)?;
        assert_input_order_irrelevant(&Averagely, &g)?;
    }

    #[test]
    fn by_circle_partitions_evenly(g in group()) {
        let shares = shares(&AveragelyByCircle, &g);
        assert_partition(&shares, &all_queues(&g))?;
        assert_balanced(&shares)?;
        assert_input_order_irrelevant(&AveragelyByCircle, &g)?;
    }

    #[test]
    fn machine_room_partitions_the_rooms_queues(
        g in group(),
        rooms in prop::sample::subsequence(ROOMS, 0..=ROOMS.len()),
    ) {
        let strategy = ByMachineRoom {
            consumer_rooms: rooms.iter().map(|r| (*r).to_owned()).collect(),
        };
        let expected: BTreeSet<MessageQueue> = g
            .mqs
            .iter()
            .filter(|q| rooms.iter().any(|r| q.broker_name.starts_with(&format!("{r}@"))))
            .cloned()
            .collect();
        let shares = shares(&strategy, &g);
        assert_partition(&shares, &expected)?;
        assert_balanced(&shares)?;
        assert_input_order_irrelevant(&strategy, &g)?;
    }

    #[test]
    fn consistent_hash_partitions(g in group(), virtual_nodes in 1..16usize) {
        let strategy = ConsistentHash { virtual_nodes };
        assert_partition(&shares(&strategy, &g), &all_queues(&g))?;
        assert_input_order_irrelevant(&strategy, &g)?;
    }

    #[test]
    fn consistent_hash_moves_only_the_leavers_queues(
        g in group(),
        leaver in any::<Index>(),
        virtual_nodes in 1..16usize,
    ) {
        prop_assume!(g.cids.len() >= 2);
        let strategy = ConsistentHash { virtual_nodes };
        let leaver = g.cids[leaver.index(g.cids.len())].clone();
        let owners = |cids: &[String]| -> BTreeMap<MessageQueue, String> {
            cids.iter()
                .flat_map(|cid| {
                    strategy
                        .allocate("g", cid, &g.mqs, cids)
                        .into_iter()
                        .map(move |q| (q, cid.clone()))
                })
                .collect()
        };
        let before = owners(&g.cids);
        let staying: Vec<String> = g.cids.iter().filter(|c| **c != leaver).cloned().collect();
        let after = owners(&staying);
        prop_assert_eq!(after.len(), g.mqs.len());
        for (q, owner) in &before {
            if *owner != leaver {
                prop_assert_eq!(after.get(q), Some(owner), "{:?} moved", q);
            }
        }
    }
}
