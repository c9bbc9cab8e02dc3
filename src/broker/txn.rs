//! Transactional (half) messages as plain data: which halves wait for a decision, which
//! are due for a check-back, and how far the half and op queues are settled. The
//! [`crate::actors::txn_checker::TxnChecker`] owns a [`TxnTable`], feeds it what it reads
//! from the store and what END_TRANSACTION decides, and carries out the [`TxnEffect`]s.
//!
//! A half is stored in `RMQ_SYS_TRANS_HALF_TOPIC` queue 0; a decision (commit, rollback, or
//! a discard after too many checks) is an op record in `RMQ_SYS_TRANS_OP_HALF_TOPIC` queue 0
//! whose body names the half's queue offset (`"12"`, or `"12,13"` as 5.x batches them),
//! tagged `d`, as the Java broker writes it. Everything below the *half floor* is settled;
//! every op that names a half at or above it lies at or above the *op floor*. The two
//! floors and the check counts are what a restart needs ([`TxnState`]): the ops from the op
//! floor are replayed, then the halves from the half floor are scanned again.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

/// The op record's tag for a settled half (`TransactionalMessageUtil.REMOVE_TAG`).
pub const REMOVE_TAG: &str = "d";

/// One half waiting for its decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Half {
    /// Its offset in the half queue (`tranStateTableOffset`).
    pub offset: u64,
    /// Where its record is in the commit log (`commitLogOffset`).
    pub physical_offset: u64,
    pub store_timestamp: i64,
    /// Its producer group (`PGROUP`): whom to ask.
    pub group: String,
    /// How long after it was stored the first check may come: `transactionTimeOut`, or its
    /// `CHECK_IMMUNITY_TIME_IN_SECONDS` when that is longer.
    pub immunity_ms: i64,
    /// Check-backs sent so far.
    pub checks: u32,
}

/// What the checker must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnEffect {
    /// Ask a producer of the half's group for its state (CHECK_TRANSACTION_STATE).
    Check(Half),
    /// Checked `transactionCheckMax` times without an answer: into
    /// `TRANS_CHECK_MAX_TIME_TOPIC`, and settled.
    Discard(Half),
}

/// The answer to a decision for a half.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not decided yet: it is this decision's (and counts as decided from now on).
    Take,
    /// Decided (or discarded) before: the decision is ignored.
    AlreadySettled,
}

/// What survives a restart (`config/transactionCheck.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TxnState {
    pub half_floor: u64,
    pub op_floor: u64,
    /// Checks sent for halves still waiting, by half offset.
    pub check_times: BTreeMap<u64, u32>,
}

/// The table of halves.
#[derive(Debug, Default)]
pub struct TxnTable {
    /// The next half offset not read yet.
    scanned: u64,
    pending: BTreeMap<u64, Half>,
    /// Halves whose decision is being written ([`TxnTable::confirm`] or
    /// [`TxnTable::undo`] follows).
    taken: BTreeMap<u64, Option<Half>>,
    /// Halves settled before they were scanned.
    settled_ahead: BTreeSet<u64>,
    /// Op offset → the highest half offset it names, for ops that name halves at or above
    /// the floor.
    ops: BTreeMap<u64, u64>,
    /// The next op offset not seen yet.
    op_next: u64,
    /// Check counts from the state file, for halves not scanned yet.
    restored_checks: BTreeMap<u64, u32>,
    /// When each pending half is due next: (time, offset); stale entries are skipped.
    schedule: BTreeSet<(i64, u64)>,
    /// Halves due, in order, waiting for their turn (checks are paced).
    due: VecDeque<u64>,
    check_max: u32,
    check_interval_ms: i64,
}

impl TxnTable {
    /// New limits (UPDATE_BROKER_CONFIG): they apply to the checks scheduled from now on.
    pub fn set_limits(&mut self, check_max: u32, check_interval_ms: i64) {
        self.check_max = check_max;
        self.check_interval_ms = check_interval_ms;
    }

    pub fn new(state: TxnState, check_max: u32, check_interval_ms: i64) -> Self {
        Self {
            scanned: state.half_floor,
            op_next: state.op_floor,
            restored_checks: state.check_times,
            check_max,
            check_interval_ms,
            ..Self::default()
        }
    }

    /// The next half offset to read from the store.
    pub fn scanned(&self) -> u64 {
        self.scanned
    }

    /// The next op offset to read from the store (replay).
    pub fn op_next(&self) -> u64 {
        self.op_next
    }

    /// An op record at `op_offset` settling the halves at `halves`.
    pub fn on_op(&mut self, op_offset: u64, halves: &[u64]) {
        for &half in halves {
            if self.pending.remove(&half).is_none() && half >= self.scanned {
                self.settled_ahead.insert(half);
            }
        }
        if let Some(&highest) = halves.iter().max() {
            self.ops.insert(op_offset, highest);
        }
        self.op_next = self.op_next.max(op_offset + 1);
    }

    /// The half at the next offset to scan, read from the store (`None`: unreadable, or not
    /// a half; skipped).
    pub fn on_half(&mut self, offset: u64, half: Option<Half>) {
        debug_assert_eq!(offset, self.scanned);
        self.scanned = offset + 1;
        let Some(mut half) = half else { return };
        if self.settled_ahead.remove(&offset) {
            return;
        }
        half.checks = self.restored_checks.remove(&offset).unwrap_or(0);
        let first = half.store_timestamp.saturating_add(half.immunity_ms);
        self.schedule.insert((first, offset));
        self.pending.insert(offset, half);
    }

    /// A decision (END_TRANSACTION) for the half at `offset`; one taken is followed by
    /// [`confirm`](Self::confirm) once written, or [`undo`](Self::undo).
    pub fn decide(&mut self, offset: u64) -> Verdict {
        if self.taken.contains_key(&offset) {
            return Verdict::AlreadySettled;
        }
        if let Some(half) = self.pending.remove(&offset) {
            self.taken.insert(offset, Some(half));
            return Verdict::Take;
        }
        if offset >= self.scanned && self.settled_ahead.insert(offset) {
            self.taken.insert(offset, None);
            return Verdict::Take;
        }
        Verdict::AlreadySettled
    }

    /// The decision taken for `offset` is written (its op record at `op_offset`).
    pub fn confirm(&mut self, offset: u64, op_offset: u64) {
        self.taken.remove(&offset);
        self.ops.insert(op_offset, offset);
        self.op_next = self.op_next.max(op_offset + 1);
    }

    /// The decision taken for `offset` could not be written: the half waits again.
    pub fn undo(&mut self, offset: u64) {
        match self.taken.remove(&offset) {
            Some(Some(half)) => {
                let at = half.store_timestamp.saturating_add(half.immunity_ms);
                self.schedule.insert((at, offset));
                self.pending.insert(offset, half);
            }
            Some(None) => {
                self.settled_ahead.remove(&offset);
            }
            None => {}
        }
    }

    /// Up to `limit` checks and discards due at `now`, oldest first.
    pub fn due(&mut self, now: i64, limit: usize) -> Vec<TxnEffect> {
        while let Some(&(at, offset)) = self.schedule.first() {
            if at > now {
                break;
            }
            self.schedule.pop_first();
            if self.pending.contains_key(&offset) {
                self.due.push_back(offset);
            }
        }
        let mut effects = Vec::new();
        while effects.len() < limit {
            let Some(offset) = self.due.pop_front() else {
                break;
            };
            if self
                .pending
                .get(&offset)
                .is_some_and(|h| h.checks >= self.check_max)
            {
                // Settled once its discard is written (confirm), waiting again if not (undo).
                if let Some(half) = self.pending.remove(&offset) {
                    self.taken.insert(offset, Some(half.clone()));
                    effects.push(TxnEffect::Discard(half));
                }
                continue;
            }
            let Some(half) = self.pending.get_mut(&offset) else {
                continue;
            };
            half.checks += 1;
            self.schedule
                .insert((now.saturating_add(self.check_interval_ms), offset));
            effects.push(TxnEffect::Check(half.clone()));
        }
        effects
    }

    /// Below this half offset everything is settled.
    pub fn half_floor(&self) -> u64 {
        let pending = self.pending.keys().next().copied();
        let taken = self.taken.keys().next().copied();
        [pending, taken, Some(self.scanned)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(self.scanned)
    }

    /// What to keep for a restart; forgets the ops below the op floor.
    pub fn state(&mut self) -> TxnState {
        let floor = self.half_floor();
        self.ops.retain(|_, highest| *highest >= floor);
        let op_floor = self.ops.keys().next().copied().unwrap_or(self.op_next);
        let mut check_times: BTreeMap<u64, u32> = self
            .pending
            .values()
            .filter(|h| h.checks > 0)
            .map(|h| (h.offset, h.checks))
            .collect();
        check_times.extend(self.restored_checks.iter().map(|(k, v)| (*k, *v)));
        TxnState {
            half_floor: floor,
            op_floor,
            check_times,
        }
    }

    /// Halves waiting.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

/// The half offsets an op record's body names (`"12"` or `"12,13,14"`).
pub fn op_halves(body: &[u8]) -> Vec<u64> {
    std::str::from_utf8(body)
        .unwrap_or("")
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn half(offset: u64, stored: i64) -> Half {
        Half {
            offset,
            physical_offset: 1000 + offset,
            store_timestamp: stored,
            group: "pg".into(),
            immunity_ms: 6_000,
            checks: 0,
        }
    }

    /// A table of three halves stored at 0, 1 s and 2 s; checks every 30 s, at most 2.
    fn three() -> TxnTable {
        let mut table = TxnTable::new(TxnState::default(), 2, 30_000);
        for (offset, stored) in [(0, 0), (1, 1_000), (2, 2_000)] {
            table.on_half(offset, Some(half(offset, stored)));
        }
        table
    }

    #[test]
    fn decisions_settle_once() {
        let mut table = three();
        assert_eq!(table.decide(1), Verdict::Take);
        assert_eq!(
            table.decide(1),
            Verdict::AlreadySettled,
            "while being written"
        );
        table.confirm(1, 0);
        assert_eq!(table.decide(1), Verdict::AlreadySettled);
        // Not scanned yet: taken, and then skipped when the scan reaches it.
        assert_eq!(table.decide(5), Verdict::Take);
        table.confirm(5, 1);
        assert_eq!(table.decide(5), Verdict::AlreadySettled);
        assert_eq!(table.pending(), 2);
        assert_eq!(table.half_floor(), 0);
        assert_eq!(table.decide(0), Verdict::Take);
        assert_eq!(table.half_floor(), 0, "not settled until written");
        table.confirm(0, 2);
        assert_eq!(table.half_floor(), 2);
        // Below the floor: settled long ago.
        assert_eq!(table.decide(0), Verdict::AlreadySettled);
        // A decision that could not be written leaves the half waiting.
        assert_eq!(table.decide(2), Verdict::Take);
        table.undo(2);
        assert_eq!(table.pending(), 1);
        assert_eq!(table.decide(2), Verdict::Take);
    }

    #[test]
    fn checks_come_after_the_immunity_then_every_interval_then_a_discard() {
        let mut table = three();
        let mut immune = half(3, 0);
        immune.immunity_ms = 60_000; // CHECK_IMMUNITY_TIME_IN_SECONDS=60
        table.on_half(3, Some(immune));
        let mut log = Vec::new();
        for now in [
            5_999, 6_000, 8_000, 36_000, 60_000, 66_000, 90_000, 96_000, 120_000,
        ] {
            for effect in table.due(now, 10) {
                log.push(match effect {
                    TxnEffect::Check(h) => format!("{now}: check {} (#{})", h.offset, h.checks),
                    TxnEffect::Discard(h) => format!("{now}: discard {}", h.offset),
                });
            }
            if now == 8_000 {
                assert_eq!(table.decide(1), Verdict::Take); // answered after the first check
                table.confirm(1, 0);
            }
        }
        insta::assert_debug_snapshot!(log);
        assert_eq!(table.pending(), 0);
        assert_eq!(table.half_floor(), 0, "discards not written yet");
        for (op, offset) in [0u64, 2, 3].into_iter().enumerate() {
            table.confirm(offset, op as u64 + 1);
        }
        assert_eq!(table.half_floor(), 4);
    }

    #[test]
    fn checks_are_paced() {
        let mut table = TxnTable::new(TxnState::default(), 15, 30_000);
        for offset in 0..1_000 {
            table.on_half(offset, Some(half(offset, 0)));
        }
        assert_eq!(table.due(10_000, 200).len(), 200);
        assert_eq!(table.due(10_000, 200).len(), 200);
        assert_eq!(table.due(10_000, 10_000).len(), 600);
        assert!(table.due(10_000, 200).is_empty());
    }

    #[test]
    fn a_restart_replays_from_the_floors() {
        let mut table = three();
        table.on_op(0, &[1]); // decided: op 0 names half 1
        assert!(!table.due(6_000, 10).is_empty()); // half 0 checked once
        table.on_op(1, &[0]);
        let state = table.state();
        assert_eq!(state.half_floor, 2);
        assert_eq!(state.op_floor, 2, "both ops name halves below the floor");
        assert_eq!(state.check_times, BTreeMap::new());
        // Half 2 checked twice before the restart; an op for half 4 came before half 4 was
        // scanned.
        let mut table = three();
        table.due(8_000, 10);
        table.due(40_000, 10);
        table.on_op(7, &[4]);
        let state = table.state();
        assert_eq!(state.half_floor, 0);
        assert_eq!(state.op_floor, 7);
        assert_eq!(state.check_times, BTreeMap::from([(0, 2), (1, 2), (2, 2)]));
        let mut again = TxnTable::new(state, 2, 30_000);
        assert_eq!((again.scanned(), again.op_next()), (0, 7));
        again.on_op(7, &[4]);
        for offset in 0..5 {
            again.on_half(offset, (offset != 3).then(|| half(offset, 0)));
        }
        assert_eq!(again.pending(), 3, "half 4 was settled by the replayed op");
        // Their checks carried over: the next time they are due they are discarded.
        let effects = again.due(100_000, 10);
        assert!(effects.iter().all(|e| matches!(e, TxnEffect::Discard(_))));
        assert_eq!(effects.len(), 3);
    }

    #[test]
    fn op_bodies_name_one_or_several_halves() {
        assert_eq!(op_halves(b"12"), vec![12]);
        assert_eq!(op_halves(b"12,13, 14"), vec![12, 13, 14]);
        assert!(op_halves(b"x").is_empty());
    }
}
