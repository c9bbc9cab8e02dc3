//! A consistent-hash ring of clients: RocketMQ's `AllocateMessageQueueConsistentHash`
//! ("CONSISTENT_HASH") over `ConsistentHashRouter` with its default `MD5Hash`.
//!
//! Each client puts `virtual_nodes` points on a ring of `u32`: the first four bytes,
//! big-endian, of `MD5("<cid>-<r>")` for `r` in `0..virtual_nodes`, clients added in
//! sorted order (a later point replaces an earlier one at the same hash, as `TreeMap.put`
//! does). A queue goes to the first point at or after the hash of its Java `toString()`,
//! `MessageQueue [topic=T, brokerName=B, queueId=N]`, wrapping to the lowest point.
//! When a client leaves, only its own queues move.

use super::{AllocateStrategy, Prepared};
use crate::protocol::body::client::MessageQueue;
use md5::{Digest, Md5};
use std::collections::BTreeMap;

/// `AllocateMessageQueueConsistentHash` with `virtual_nodes` points per client
/// (Java's `virtualNodeCnt`, 10 by default). With 0 points nobody gets anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsistentHash {
    pub virtual_nodes: usize,
}

impl Default for ConsistentHash {
    fn default() -> Self {
        ConsistentHash { virtual_nodes: 10 }
    }
}

impl AllocateStrategy for ConsistentHash {
    fn name(&self) -> &'static str {
        "CONSISTENT_HASH"
    }

    fn allocate(
        &self,
        _consumer_group: &str,
        current_cid: &str,
        mq_all: &[MessageQueue],
        cid_all: &[String],
    ) -> Vec<MessageQueue> {
        let Some(p) = Prepared::new(current_cid, mq_all, cid_all) else {
            return Vec::new();
        };
        let mut ring: BTreeMap<u32, &str> = BTreeMap::new();
        for &cid in &p.clients {
            for replica in 0..self.virtual_nodes {
                ring.insert(hash(&format!("{cid}-{replica}")), cid);
            }
        }
        let me = p.clients[p.index];
        p.queues
            .iter()
            .filter(|q| route(&ring, q) == Some(me))
            .map(|&q| q.clone())
            .collect()
    }
}

/// The client owning `queue`: the first ring point at or after its hash, else the first.
fn route<'a>(ring: &BTreeMap<u32, &'a str>, queue: &MessageQueue) -> Option<&'a str> {
    let key = format!(
        "MessageQueue [topic={}, brokerName={}, queueId={}]",
        queue.topic, queue.broker_name, queue.queue_id
    );
    let h = hash(&key);
    ring.range(h..)
        .next()
        .or_else(|| ring.iter().next())
        .map(|(_, &cid)| cid)
}

/// `ConsistentHashRouter.MD5Hash`: the first four bytes of the MD5 of the UTF-8 key,
/// big-endian, as an unsigned number.
fn hash(key: &str) -> u32 {
    let digest = Md5::digest(key.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{cids, ids, mq, queues};
    use super::*;

    // Expected numbers below were computed with a python3 one-off that follows the Java
    // code: int.from_bytes(hashlib.md5(s.encode()).digest()[:4], "big"), a dict as the
    // TreeMap (clients in sorted order, replicas 0..n), bisect_left for tailMap().firstKey().

    #[test]
    fn hash_is_the_md5_prefix() {
        assert_eq!(
            hash("MessageQueue [topic=T, brokerName=broker-a, queueId=0]"),
            0x612f_4674
        );
        assert_eq!(hash("10.0.0.1@1-1"), 0x193d_d2a3);
    }

    #[test]
    fn two_clients_two_points_each() {
        // Ring: 0x193dd2a3 "10.0.0.1@1-1", 0x6ec1a89a "10.0.0.2@2-0",
        //       0xb2b6568d "10.0.0.1@1-0", 0xd82e97b6 "10.0.0.2@2-1".
        // Queues (T, broker-a): 0 → 0x612f4674 → 0x6ec1a89a (client 2);
        // 1 → 0x8b35eabf → 0xb2b6568d (client 1); 2 → 0x004e3e1b → 0x193dd2a3 (client 1);
        // 3 → 0xdb778d95, past the last point, wraps to 0x193dd2a3 (client 1).
        let strategy = ConsistentHash { virtual_nodes: 2 };
        let all = cids(&["10.0.0.2@2", "10.0.0.1@1"]);
        assert_eq!(
            ids(&strategy.allocate("g", "10.0.0.1@1", &queues(4), &all)),
            [1, 2, 3]
        );
        assert_eq!(
            ids(&strategy.allocate("g", "10.0.0.2@2", &queues(4), &all)),
            [0]
        );
    }

    fn two_brokers() -> Vec<MessageQueue> {
        ["broker-a", "broker-b"]
            .iter()
            .flat_map(|b| (0..4).map(move |q| mq("T", b, q)))
            .collect()
    }

    fn labels(queues: &[MessageQueue]) -> Vec<String> {
        queues
            .iter()
            .map(|q| format!("{}:{}", q.broker_name, q.queue_id))
            .collect()
    }

    #[test]
    fn three_clients_default_ring_and_one_leaving() {
        let strategy = ConsistentHash::default();
        let mqs = two_brokers();
        let three = cids(&["10.0.0.1@1", "10.0.0.2@2", "10.0.0.3@3"]);
        let before: Vec<Vec<String>> = three
            .iter()
            .map(|cid| labels(&strategy.allocate("g", cid, &mqs, &three)))
            .collect();
        assert_eq!(before[0], ["broker-a:3"]);
        assert_eq!(before[1], ["broker-a:2"]);
        assert_eq!(
            before[2],
            [
                "broker-a:0",
                "broker-a:1",
                "broker-b:0",
                "broker-b:1",
                "broker-b:2",
                "broker-b:3"
            ]
        );

        // 10.0.0.2@2 leaves: its queue broker-a:2 moves, nothing else does.
        let two = cids(&["10.0.0.1@1", "10.0.0.3@3"]);
        assert_eq!(
            labels(&strategy.allocate("g", "10.0.0.1@1", &mqs, &two)),
            ["broker-a:2", "broker-a:3"]
        );
        assert_eq!(
            labels(&strategy.allocate("g", "10.0.0.3@3", &mqs, &two)),
            before[2]
        );
    }

    #[test]
    fn a_queue_on_a_point_belongs_to_that_point() {
        // Found by a birthday search over 2^18 client ids and queue ids (python3 one-off):
        // MD5("10.0.0.1@196715-0") and MD5("MessageQueue [topic=T, brokerName=broker-a,
        // queueId=2354]") both start 0x69cf6915. The only other point,
        // "10.0.0.2@2-0" = 0x6ec1a89a, is the next one up: `tailMap` is inclusive, so the
        // queue stays on the point it hashes to.
        let strategy = ConsistentHash { virtual_nodes: 1 };
        let on_point = vec![mq("T", "broker-a", 2354)];
        let all = cids(&["10.0.0.1@196715", "10.0.0.2@2"]);
        assert_eq!(hash("10.0.0.1@196715-0"), 0x69cf_6915);
        assert_eq!(
            strategy.allocate("g", "10.0.0.1@196715", &on_point, &all),
            on_point
        );
        assert!(strategy
            .allocate("g", "10.0.0.2@2", &on_point, &all)
            .is_empty());
    }

    #[test]
    fn on_a_ring_collision_the_later_client_wins() {
        // Found by a birthday search (python3 one-off): "10.0.0.1@107015-0" and
        // "10.0.0.1@22-0" both hash to 0x38dc0631. Clients are added in sorted order and
        // `TreeMap.put` replaces, so the point, the only one on the ring, is
        // "10.0.0.1@22"'s and every queue goes there.
        assert_eq!(hash("10.0.0.1@107015-0"), 0x38dc_0631);
        assert_eq!(hash("10.0.0.1@22-0"), 0x38dc_0631);
        let strategy = ConsistentHash { virtual_nodes: 1 };
        let all = cids(&["10.0.0.1@22", "10.0.0.1@107015"]);
        assert_eq!(
            ids(&strategy.allocate("g", "10.0.0.1@22", &queues(4), &all)),
            [0, 1, 2, 3]
        );
        assert!(strategy
            .allocate("g", "10.0.0.1@107015", &queues(4), &all)
            .is_empty());
    }

    #[test]
    fn no_virtual_nodes_means_no_queues() {
        let strategy = ConsistentHash { virtual_nodes: 0 };
        assert!(strategy
            .allocate("g", "c0", &queues(4), &cids(&["c0"]))
            .is_empty());
    }
}
