//! Contiguous blocks of queues, the earlier clients taking one more when the count does
//! not divide: RocketMQ's `AllocateMessageQueueAveragely` ("AVG"), the default of the
//! Java push and lite pull consumers.

use super::{AllocateStrategy, Prepared};
use crate::protocol::body::client::MessageQueue;
use std::ops::Range;

/// `AllocateMessageQueueAveragely`: client `i` of `c` takes a block of `n / c` queues,
/// or one more if `i < n % c`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Averagely;

impl AllocateStrategy for Averagely {
    fn name(&self) -> &'static str {
        "AVG"
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
        let block = block(p.queues.len(), p.clients.len(), p.index);
        p.queues[block].iter().map(|&q| q.clone()).collect()
    }
}

/// The positions client `index` of `clients` takes among `queues` sorted queues, by the
/// formula of `AllocateMessageQueueAveragely` (`clients > 0`, `index < clients`).
fn block(queues: usize, clients: usize, index: usize) -> Range<usize> {
    let rem = queues % clients;
    let takes_extra = rem > 0 && index < rem;
    let size = if queues <= clients {
        1
    } else if takes_extra {
        queues / clients + 1
    } else {
        queues / clients
    };
    let start = if takes_extra {
        index * size
    } else {
        index * size + rem
    };
    // Java: range = min(size, n - start), nothing when that is <= 0.
    let start = start.min(queues);
    start..start + size.min(queues - start)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{cids, ids, queues};
    use super::*;

    fn allocation(n: i32, clients: &[&str]) -> Vec<Vec<i32>> {
        let all = cids(clients);
        clients
            .iter()
            .map(|cid| ids(&Averagely.allocate("g", cid, &queues(n), &all)))
            .collect()
    }

    #[test]
    fn eight_queues_three_clients() {
        let expected: [&[i32]; 3] = [&[0, 1, 2], &[3, 4, 5], &[6, 7]];
        assert_eq!(allocation(8, &["c0", "c1", "c2"]), expected);
    }

    #[test]
    fn more_clients_than_queues_leaves_the_last_idle() {
        let expected: [&[i32]; 3] = [&[0], &[1], &[]];
        assert_eq!(allocation(2, &["c0", "c1", "c2"]), expected);
    }

    #[test]
    fn equal_counts_give_one_each() {
        let expected: [&[i32]; 3] = [&[0], &[1], &[2]];
        assert_eq!(allocation(3, &["c0", "c1", "c2"]), expected);
    }

    #[test]
    fn block_matches_the_java_formula() {
        // n = 10, c = 4: 3, 3, 2, 2.
        assert_eq!(block(10, 4, 0), 0..3);
        assert_eq!(block(10, 4, 1), 3..6);
        assert_eq!(block(10, 4, 2), 6..8);
        assert_eq!(block(10, 4, 3), 8..10);
        // n = 1, c = 5: only the first.
        assert_eq!(block(1, 5, 0), 0..1);
        assert!(block(1, 5, 4).is_empty());
    }
}
