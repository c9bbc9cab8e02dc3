//! The table of held pulls (long polling), as plain data: who waits on which queue until
//! when. The [`crate::actors::long_poll::LongPoll`] actor owns one and does the reads.

use std::collections::HashMap;

use tokio::time::Instant;

use crate::store::QueueKey;

pub struct HoldTable<T> {
    held: HashMap<QueueKey, Vec<(Instant, T)>>,
    count: usize,
}

impl<T> Default for HoldTable<T> {
    fn default() -> Self {
        Self {
            held: HashMap::new(),
            count: 0,
        }
    }
}

impl<T> HoldTable<T> {
    /// Holds `item` on `key` until `deadline`.
    pub fn hold(&mut self, key: QueueKey, deadline: Instant, item: T) {
        self.held.entry(key).or_default().push((deadline, item));
        self.count += 1;
    }

    /// Everything held on `key` (a message arrived there).
    pub fn take_queue(&mut self, key: &QueueKey) -> Vec<(Instant, T)> {
        let taken = self.held.remove(key).unwrap_or_default();
        self.count -= taken.len();
        taken
    }

    /// Everything whose deadline has passed.
    pub fn take_expired(&mut self, now: Instant) -> Vec<(QueueKey, T)> {
        let mut expired = Vec::new();
        self.held.retain(|key, items| {
            let mut i = 0;
            while i < items.len() {
                if items[i].0 <= now {
                    expired.push((key.clone(), items.swap_remove(i).1));
                } else {
                    i += 1;
                }
            }
            !items.is_empty()
        });
        self.count -= expired.len();
        expired
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn holds_until_arrival_or_deadline() {
        let now = Instant::now();
        let mut table = HoldTable::default();
        let a = QueueKey::new("T", 0);
        let b = QueueKey::new("T", 1);
        table.hold(a.clone(), now + Duration::from_secs(15), "pull-a1");
        table.hold(a.clone(), now + Duration::from_secs(5), "pull-a2");
        table.hold(b.clone(), now + Duration::from_secs(5), "pull-b");
        assert_eq!(table.len(), 3);
        assert!(table.take_expired(now + Duration::from_secs(1)).is_empty());
        let mut expired = table.take_expired(now + Duration::from_secs(5));
        expired.sort();
        assert_eq!(expired, vec![(a.clone(), "pull-a2"), (b, "pull-b")]);
        let woken: Vec<_> = table.take_queue(&a).into_iter().map(|(_, t)| t).collect();
        assert_eq!(woken, vec!["pull-a1"]);
        assert!(table.is_empty());
    }
}
