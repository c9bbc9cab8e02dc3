//! Queue locks of orderly consumers (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ), as plain data: per
//! consumer group, which client holds which queue until when. A lock not renewed within
//! 60 s expires (`rocketmq.broker.rebalance.lockMaxLiveTime`).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use crate::protocol::body::client::MessageQueue;

pub const LOCK_MAX_LIVE: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct LockTable {
    groups: HashMap<String, HashMap<MessageQueue, (String, Instant)>>,
}

impl LockTable {
    /// Locks (or renews) what it can of `queues` for `client`; returns the queues the client
    /// now holds.
    pub fn lock(
        &mut self,
        group: &str,
        client: &str,
        queues: &BTreeSet<MessageQueue>,
        now: Instant,
    ) -> BTreeSet<MessageQueue> {
        let table = self.groups.entry(group.to_owned()).or_default();
        let mut held = BTreeSet::new();
        for mq in queues {
            let free = match table.get(mq) {
                None => true,
                Some((owner, at)) => {
                    owner == client || now.saturating_duration_since(*at) > LOCK_MAX_LIVE
                }
            };
            if free {
                table.insert(mq.clone(), (client.to_owned(), now));
                held.insert(mq.clone());
            }
        }
        held
    }

    /// Releases the client's locks on `queues`.
    pub fn unlock(&mut self, group: &str, client: &str, queues: &BTreeSet<MessageQueue>) {
        if let Some(table) = self.groups.get_mut(group) {
            for mq in queues {
                if table.get(mq).is_some_and(|(owner, _)| owner == client) {
                    table.remove(mq);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mq(id: i32) -> MessageQueue {
        MessageQueue {
            broker_name: "b".into(),
            queue_id: id,
            topic: "T".into(),
        }
    }

    #[test]
    fn locks_are_exclusive_renewable_and_expire() {
        let now = Instant::now();
        let mut locks = LockTable::default();
        let both: BTreeSet<_> = [mq(0), mq(1)].into();
        assert_eq!(locks.lock("g", "c1", &[mq(0)].into(), now), [mq(0)].into());
        assert_eq!(locks.lock("g", "c2", &both, now), [mq(1)].into());
        assert_eq!(
            locks.lock("g", "c1", &[mq(0)].into(), now + Duration::from_secs(30)),
            [mq(0)].into()
        );
        assert!(locks
            .lock("g", "c2", &[mq(0)].into(), now + Duration::from_secs(80))
            .is_empty());
        assert_eq!(
            locks.lock("g", "c2", &[mq(0)].into(), now + Duration::from_secs(91)),
            [mq(0)].into()
        );
        locks.unlock("g", "c2", &both);
        assert_eq!(
            locks.lock("other", "c3", &both, now),
            both,
            "groups are independent"
        );
        assert_eq!(
            locks.lock("g", "c1", &both, now + Duration::from_secs(92)),
            both
        );
    }
}
