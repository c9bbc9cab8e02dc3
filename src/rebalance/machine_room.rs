//! Queues of the client's own machine rooms only: RocketMQ's
//! `AllocateMessageQueueByMachineRoom` ("MACHINE_ROOM"), for brokers named `room@name`.

use super::{AllocateStrategy, Prepared};
use crate::protocol::body::client::MessageQueue;
use std::collections::BTreeSet;

/// `AllocateMessageQueueByMachineRoom`: keep the queues of brokers named `room@name` whose
/// room is in `consumer_rooms` (Java's `consumeridcs`); with `m` of them and `c` clients,
/// client `i` takes positions `[i·(m/c), (i+1)·(m/c))` and, if `i < m % c`, also position
/// `i + (m/c)·c` — so the left-over queues at the end go one each to the first clients.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ByMachineRoom {
    pub consumer_rooms: BTreeSet<String>,
}

impl AllocateStrategy for ByMachineRoom {
    fn name(&self) -> &'static str {
        "MACHINE_ROOM"
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
        let in_rooms: Vec<&MessageQueue> = p
            .queues
            .iter()
            .copied()
            .filter(|q| room_of(&q.broker_name).is_some_and(|r| self.consumer_rooms.contains(r)))
            .collect();
        let (clients, i) = (p.clients.len(), p.index);
        let per_client = in_rooms.len() / clients;
        let left_over = in_rooms.len() % clients;
        let mut result: Vec<MessageQueue> = in_rooms[i * per_client..(i + 1) * per_client]
            .iter()
            .map(|&q| q.clone())
            .collect();
        if i < left_over {
            result.push(in_rooms[i + per_client * clients].clone());
        }
        result
    }
}

/// The room of a broker named `room@name`, parsed as Java's `brokerName.split("@")`:
/// trailing empty parts are dropped and exactly two parts must remain (so `"hz@b@"`
/// counts as room `hz`, while `"hz@"`, `"hz@b@c"` and `"hz"` have no room).
fn room_of(broker_name: &str) -> Option<&str> {
    let mut parts = broker_name.trim_end_matches('@').split('@');
    let room = parts.next()?;
    parts.next()?;
    parts.next().is_none().then_some(room)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{cids, mq};
    use super::*;

    fn labels(queues: &[MessageQueue]) -> Vec<String> {
        queues
            .iter()
            .map(|q| format!("{}:{}", q.broker_name, q.queue_id))
            .collect()
    }

    #[test]
    fn keeps_own_rooms_and_deals_the_remainder_from_the_end() {
        let mut all_queues = Vec::new();
        for (broker, count) in [
            ("hz@broker-a", 3),
            ("sh@broker-b", 2),
            ("sz@broker-c", 2),
            ("broker-d", 1),
            ("sz@", 1),
        ] {
            all_queues.extend((0..count).map(|q| mq("T", broker, q)));
        }
        let strategy = ByMachineRoom {
            consumer_rooms: ["hz", "sz"].map(String::from).into(),
        };
        let all = cids(&["c0", "c1"]);
        // In-room queues: hz@broker-a:0..2, sz@broker-c:0..1 (m = 5, c = 2): two each,
        // and the fifth, sz@broker-c:1, to c0.
        assert_eq!(
            labels(&strategy.allocate("g", "c0", &all_queues, &all)),
            ["hz@broker-a:0", "hz@broker-a:1", "sz@broker-c:1"]
        );
        assert_eq!(
            labels(&strategy.allocate("g", "c1", &all_queues, &all)),
            ["hz@broker-a:2", "sz@broker-c:0"]
        );
        assert!(strategy.allocate("g", "c2", &all_queues, &all).is_empty());
    }

    #[test]
    fn room_is_parsed_like_java_split() {
        assert_eq!(room_of("hz@broker-a"), Some("hz"));
        assert_eq!(room_of("hz@broker-a@"), Some("hz"));
        assert_eq!(room_of("@broker-a"), Some(""));
        assert_eq!(room_of("hz@"), None);
        assert_eq!(room_of("hz@a@b"), None);
        assert_eq!(room_of("hz@@b"), None);
        assert_eq!(room_of("broker-a"), None);
        assert_eq!(room_of(""), None);
    }
}
