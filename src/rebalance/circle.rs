//! Queues dealt round-robin over the clients: RocketMQ's
//! `AllocateMessageQueueAveragelyByCircle` ("AVG_BY_CIRCLE").

use super::{AllocateStrategy, Prepared};
use crate::protocol::body::client::MessageQueue;

/// `AllocateMessageQueueAveragelyByCircle`: client `i` of `c` takes every sorted queue
/// at a position `k` with `k % c == i`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AveragelyByCircle;

impl AllocateStrategy for AveragelyByCircle {
    fn name(&self) -> &'static str {
        "AVG_BY_CIRCLE"
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
        p.queues
            .iter()
            .skip(p.index)
            .step_by(p.clients.len())
            .map(|&q| q.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{cids, ids, queues};
    use super::*;

    #[test]
    fn eight_queues_three_clients() {
        let all = cids(&["c0", "c1", "c2"]);
        let got: Vec<Vec<i32>> = all
            .iter()
            .map(|cid| ids(&AveragelyByCircle.allocate("g", cid, &queues(8), &all)))
            .collect();
        let expected: [&[i32]; 3] = [&[0, 3, 6], &[1, 4, 7], &[2, 5]];
        assert_eq!(got, expected);
    }

    #[test]
    fn more_clients_than_queues_leaves_the_last_idle() {
        let all = cids(&["c0", "c1", "c2"]);
        assert_eq!(
            ids(&AveragelyByCircle.allocate("g", "c1", &queues(2), &all)),
            [1]
        );
        assert!(AveragelyByCircle
            .allocate("g", "c2", &queues(2), &all)
            .is_empty());
    }
}
