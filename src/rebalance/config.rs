//! A fixed list of queues: RocketMQ's `AllocateMessageQueueByConfig` ("CONFIG").

use super::AllocateStrategy;
use crate::protocol::body::client::MessageQueue;

/// `AllocateMessageQueueByConfig`: always the configured queues.
///
/// Like Java it does no check at all: the list comes back as configured (order and
/// duplicates kept) whatever the group, the client id, the topic's queues or the clients.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ByConfig {
    pub queues: Vec<MessageQueue>,
}

impl AllocateStrategy for ByConfig {
    fn name(&self) -> &'static str {
        "CONFIG"
    }

    fn allocate(
        &self,
        _consumer_group: &str,
        _current_cid: &str,
        _mq_all: &[MessageQueue],
        _cid_all: &[String],
    ) -> Vec<MessageQueue> {
        self.queues.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{cids, mq, queues};
    use super::*;

    #[test]
    fn returns_the_configured_list_whatever_the_inputs() {
        let configured = vec![mq("T", "broker-b", 3), mq("T", "broker-a", 1)];
        let strategy = ByConfig {
            queues: configured.clone(),
        };
        let all = cids(&["c0", "c1"]);
        assert_eq!(strategy.allocate("g", "c0", &queues(8), &all), configured);
        // Java skips the membership check too.
        assert_eq!(strategy.allocate("g", "stranger", &[], &[]), configured);
        assert_eq!(strategy.name(), "CONFIG");
    }
}
