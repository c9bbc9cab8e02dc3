//! Timer messages (RocketMQ 5's `TIMER_DELIVER_MS`, `TIMER_DELAY_SEC`, `TIMER_DELAY_MS`):
//! where a timer goes on Apogee's durable hierarchical wheel. Pure: the broker's send path
//! and the [`crate::actors::timer_wheel::TimerWheel`] actor decide with [`Wheel::place`].
//!
//! The wheel lives in the commit log. Its slots are the queues of the topic
//! `rmq_sys_wheel_timer`; each unit's tag code is the time its slot comes due
//! (`APOGEE_TIMER_AT`, set here, read by the dispatcher):
//!
//! | queues | level | one slot | holds timers due | slot taken |
//! |---|---|---|---|---|
//! | `0 .. 2S` (`S = 60 000 / timerPrecisionMs`) | 0 | `timerPrecisionMs` | this minute or the next | at its time: delivered |
//! | `2S .. 2S+120` | 1 | a minute | this hour or the next | a minute early |
//! | `2S+120 .. 2S+168` | 2 | an hour | today or tomorrow | an hour early |
//! | `2S+168` | 3 | a day | later | every midnight |
//!
//! Each level is a ring of two spans of the level above, and a slot is taken one unit
//! before its time, moving its timers one level down: so a timer is one level down before
//! it is due, a queue holds timers of one slot time only, and the bursts of moving a
//! minute's timers do not hold up the deliveries (level 0 is taken first). Memory holds
//! only the wheel's offsets, whatever the number of timers; a timer further than tomorrow
//! is written again each midnight, so it never grows older than the commit log keeps
//! files. Each slot is FIFO, and a timer is placed by the wheel's *cursor* (the time up to
//! which every slot has been taken), not by the clock, so timers of the same time leave in
//! the order they were sent.

use crate::protocol::properties;

/// The topic of the wheel's slots (RocketMQ's `TimerMessageStore.TIMER_TOPIC`).
pub use crate::store::TIMER_TOPIC;
/// Property: when this copy's slot comes due (ms; its unit's tag code). Apogee's.
pub const PROP_AT: &str = crate::store::TIMER_AT_PROPERTY;
/// Property of a copy the wheel wrote (moved down a level, or delivered): the slot queue
/// and offset it was taken from, so that a restart knows what it already took. Apogee's.
pub const PROP_SOURCE: &str = "APOGEE_TIMER_SRC";

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Where a timer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Due: to its real queue now.
    Deliver,
    /// To this slot queue, due at `at`.
    Slot { queue_id: i32, at: i64 },
}

/// The wheel's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wheel {
    precision_ms: i64,
    level0: i32,
}

impl Wheel {
    /// A wheel with level-0 slots of `timerPrecisionMs`, which RocketMQ snaps to 100, 200,
    /// 500 or 1000 (the largest not above it).
    pub fn new(precision_ms: i64) -> Self {
        let precision = match precision_ms {
            ..200 => 100,
            200..500 => 200,
            500..1000 => 500,
            _ => 1000,
        };
        Self {
            precision_ms: precision,
            level0: (MINUTE / precision) as i32,
        }
    }

    pub fn precision_ms(&self) -> i64 {
        self.precision_ms
    }

    /// Queues of the timer topic.
    pub fn queues(&self) -> i32 {
        2 * self.level0 + 120 + 48 + 1
    }

    fn first_minute_queue(&self) -> i32 {
        2 * self.level0
    }

    /// The queues in the order the actor takes them: level 0 first (deliveries are due
    /// now), then minutes, hours and the day queue, whose slots come due a unit early.
    pub fn scan_order(&self) -> impl Iterator<Item = i32> {
        0..self.queues()
    }

    /// Whether `queue_id` delivers (level 0) rather than moves timers down.
    pub fn delivers(&self, queue_id: i32) -> bool {
        queue_id < self.first_minute_queue()
    }

    /// Where a timer due at `deadline` goes, the wheel having taken every slot up to
    /// `cursor` (ms). Each level is a ring of two of its next level's spans, and a slot
    /// comes due one unit before its own time, so that its timers are one level down
    /// before any of them is due, and each queue holds timers of one slot time only.
    pub fn place(&self, deadline: i64, cursor: i64) -> Place {
        if deadline <= cursor {
            return Place::Deliver;
        }
        let slot = |queue_id: i64, at: i64| Place::Slot {
            queue_id: queue_id as i32,
            at,
        };
        let l0 = i64::from(self.level0);
        let m1 = i64::from(self.first_minute_queue());
        let (minute, hour, day) = (
            deadline.div_euclid(MINUTE),
            deadline.div_euclid(HOUR),
            deadline.div_euclid(DAY),
        );
        if minute <= cursor.div_euclid(MINUTE) + 1 {
            // Level 0 (this minute and the next): due at its own time.
            slot(
                deadline.div_euclid(self.precision_ms).rem_euclid(2 * l0),
                deadline,
            )
        } else if hour <= cursor.div_euclid(HOUR) + 1 {
            slot(m1 + minute.rem_euclid(120), (minute - 1) * MINUTE)
        } else if day <= cursor.div_euclid(DAY) + 1 {
            slot(m1 + 120 + hour.rem_euclid(48), (hour - 1) * HOUR)
        } else {
            // Later: the day queue, taken again at every midnight.
            slot(m1 + 168, (cursor.div_euclid(DAY) + 1) * DAY)
        }
    }
}

/// When a sent message asks to be delivered, from RocketMQ 5's timer properties, `now`
/// being its arrival. As the Java broker reads them: `TIMER_DELAY_SEC`, else
/// `TIMER_DELAY_MS` (both from now), else `TIMER_DELIVER_MS` (absolute). `None` without
/// any; `Err` with one that is not a number.
pub fn deliver_at(props: &str, now: i64) -> Option<Result<i64, String>> {
    let number = |name: &str| {
        properties::get(props, name).map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| format!("the {name} property is not a number: {v}"))
        })
    };
    if let Some(s) = number(properties::TIMER_DELAY_SEC) {
        return Some(s.map(|s| now.saturating_add(s.saturating_mul(1000))));
    }
    if let Some(ms) = number(properties::TIMER_DELAY_MS) {
        return Some(ms.map(|ms| now.saturating_add(ms)));
    }
    number(properties::TIMER_DELIVER_MS)
}

/// The Java broker's `TIMER_OUT_MS` for a deliver time: floored to the precision, one
/// step lower when exact. The timer is delivered one step after it, the first boundary at
/// or after the time asked (never early).
pub fn timer_out_ms(deliver_ms: i64, precision_ms: i64) -> i64 {
    if deliver_ms % precision_ms == 0 {
        deliver_ms - precision_ms
    } else {
        deliver_ms.div_euclid(precision_ms) * precision_ms
    }
}

/// The timer settings the send path needs.
#[derive(Debug, Clone, Copy)]
pub struct TimerSettings {
    pub enabled: bool,
    pub max_delay_sec: i64,
    pub wheel: Wheel,
}

/// A send the broker refuses, with the Java broker's code and remark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub code: crate::protocol::ResponseCode,
    pub remark: String,
}

/// What a send of a timer message becomes: `Ok(None)` when it is not one (or is due
/// already: then it is stored in its topic at once, as the Java broker does), `Ok(Some)`
/// with the slot queue and the properties it is stored with, or the refusal.
pub fn enqueue(
    props: &str,
    topic: &str,
    queue_id: i32,
    now: i64,
    settings: TimerSettings,
    cursor: i64,
) -> Result<Option<(i32, String)>, Refused> {
    use crate::protocol::ResponseCode;
    if topic == TIMER_TOPIC || properties::get(props, properties::TIMER_OUT_MS).is_some() {
        return Ok(None);
    }
    let Some(asked) = deliver_at(props, now) else {
        return Ok(None);
    };
    if !settings.enabled {
        return Err(Refused {
            code: ResponseCode::SYSTEM_ERROR,
            remark: "accurate timer message is not enabled, timerWheelEnable is false".into(),
        });
    }
    let illegal = || {
        Refused {
        code: ResponseCode::MESSAGE_ILLEGAL,
        remark: format!(
            "timer message illegal, the delay time should not be bigger than the max delay {}ms; or if set del msg, the delay time should be bigger than the current time",
            settings.max_delay_sec * 1000
        ),
    }
    };
    let deliver = asked.map_err(|_| illegal())?;
    if deliver <= now {
        return Ok(None);
    }
    if deliver - now > settings.max_delay_sec.saturating_mul(1000) {
        return Err(illegal());
    }
    let wheel = settings.wheel;
    let out = timer_out_ms(deliver, wheel.precision_ms());
    let Place::Slot { queue_id: slot, at } = wheel.place(out + wheel.precision_ms(), cursor) else {
        return Ok(None);
    };
    let mut p = crate::broker::retry::Props::parse(props);
    p.set(properties::TIMER_OUT_MS, out.to_string());
    p.set(properties::REAL_TOPIC, topic);
    p.set(properties::REAL_QUEUE_ID, queue_id.to_string());
    p.set(properties::TIMER_ENQUEUE_MS, now.to_string());
    p.set(PROP_AT, at.to_string());
    Ok(Some((slot, p.encode())))
}

pub use crate::protocol::recall::{recall_handle, recall_key, RecallHandle};

/// The time a timer-topic record's slot comes due (its unit's tag code).
pub fn slot_due(props: &str) -> Option<i64> {
    properties::get(props, PROP_AT).and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 =
        1_800_000_000_000 - (1_800_000_000_000 % DAY) + 10 * HOUR + 30 * MINUTE + 15_000;

    #[test]
    fn timers_go_to_the_level_of_their_distance_from_the_cursor() {
        let w = Wheel::new(1000);
        assert_eq!(w.queues(), 289);
        assert_eq!(w.place(T0 - 1, T0), Place::Deliver);
        assert_eq!(w.place(T0, T0), Place::Deliver);
        // This minute or the next: level 0, due at its own time.
        for soon in [T0 + 20_000, T0 + 90_000] {
            assert_eq!(
                w.place(soon, T0),
                Place::Slot {
                    queue_id: ((soon / 1000) % 120) as i32,
                    at: soon
                }
            );
        }
        // Later this hour or the next: level 1, taken a minute before its minute.
        let later = T0 + 50 * MINUTE;
        let minute = later / MINUTE;
        assert_eq!(
            w.place(later, T0),
            Place::Slot {
                queue_id: 120 + (minute % 120) as i32,
                at: (minute - 1) * MINUTE
            }
        );
        // Today or tomorrow: level 2, taken an hour early.
        let tomorrow = T0 + 20 * HOUR;
        let hour = tomorrow / HOUR;
        assert_eq!(
            w.place(tomorrow, T0),
            Place::Slot {
                queue_id: 240 + (hour % 48) as i32,
                at: (hour - 1) * HOUR
            }
        );
        // Later still: the day queue, due at midnight.
        let midnight = (T0 / DAY + 1) * DAY;
        for later in [T0 + 2 * DAY + HOUR, T0 + 40 * DAY] {
            assert_eq!(
                w.place(later, T0),
                Place::Slot {
                    queue_id: 288,
                    at: midnight
                }
            );
        }
    }

    #[test]
    fn a_timer_moves_down_one_level_each_time_its_slot_comes_due() {
        let w = Wheel::new(1000);
        let deadline = T0 + 3 * DAY + 3 * HOUR + 4 * MINUTE + 5_000;
        let mut cursor = T0;
        let mut path = Vec::new();
        loop {
            match w.place(deadline, cursor) {
                Place::Deliver => break,
                Place::Slot { queue_id, at } => {
                    path.push(queue_id);
                    // A slot is never due after a timer in it (it is taken early).
                    assert!(
                        at <= deadline,
                        "slot {queue_id} due at {at}, after {deadline}"
                    );
                    assert!(at > cursor || w.delivers(queue_id));
                    cursor = at.max(cursor + 1);
                }
            }
        }
        assert_eq!(cursor, deadline);
        let levels: Vec<&str> = path
            .iter()
            .map(|q| match q {
                0..=119 => "second",
                120..=239 => "minute",
                240..=287 => "hour",
                _ => "day",
            })
            .collect();
        assert_eq!(levels, ["day", "day", "hour", "minute", "second"]);
    }

    #[test]
    fn precision_sets_the_level_0_slots() {
        assert_eq!(Wheel::new(100).queues(), 1200 + 169);
        assert_eq!(
            Wheel::new(7).precision_ms(),
            100,
            "snapped as RocketMQ snaps it"
        );
        assert_eq!(Wheel::new(499).precision_ms(), 200);
        assert_eq!(Wheel::new(5000).precision_ms(), 1000);
        assert_eq!(timer_out_ms(12_300, 1000), 12_000);
        assert_eq!(timer_out_ms(12_000, 1000), 11_000);
        let w = Wheel::new(1000);
        assert!(w.delivers(119) && !w.delivers(120));
        assert_eq!(w.scan_order().count(), 289);
    }

    #[test]
    fn sends_become_timers_or_are_refused_as_the_java_broker_does() {
        use crate::protocol::ResponseCode;
        let settings = TimerSettings {
            enabled: true,
            max_delay_sec: 259_200,
            wheel: Wheel::new(1000),
        };
        let p = |pairs: &[(&str, &str)]| properties::encode(pairs.iter().copied());
        let now = T0;
        assert_eq!(enqueue(&p(&[]), "T", 1, now, settings, now), Ok(None));
        // In 90 s: level 1, real queue kept, slot time floored.
        let asked = now + 90_500;
        let (queue, stored) = enqueue(
            &p(&[(properties::TIMER_DELIVER_MS, &asked.to_string())]),
            "T",
            3,
            now,
            settings,
            now,
        )
        .unwrap()
        .unwrap();
        assert!((60..120).contains(&queue), "{queue}");
        assert_eq!(properties::get(&stored, properties::REAL_TOPIC), Some("T"));
        assert_eq!(
            properties::get(&stored, properties::REAL_QUEUE_ID),
            Some("3")
        );
        assert_eq!(
            properties::get(&stored, properties::TIMER_OUT_MS),
            Some(&*(asked / 1000 * 1000).to_string())
        );
        assert!(slot_due(&stored).is_some());
        // Already due: stored in its topic at once.
        let past = p(&[(properties::TIMER_DELIVER_MS, &(now - 5).to_string())]);
        assert_eq!(enqueue(&past, "T", 0, now, settings, now), Ok(None));
        // Too far, not a number, or timers off: refused.
        let far = p(&[(properties::TIMER_DELAY_SEC, "259201")]);
        let refused = enqueue(&far, "T", 0, now, settings, now).unwrap_err();
        assert_eq!(refused.code, ResponseCode::MESSAGE_ILLEGAL);
        assert!(refused.remark.starts_with("timer message illegal, the delay time should not be bigger than the max delay 259200000ms"), "{}", refused.remark);
        let exactly_max = p(&[(properties::TIMER_DELAY_SEC, "259200")]);
        assert!(enqueue(&exactly_max, "T", 0, now, settings, now)
            .unwrap()
            .is_some());
        let bad = p(&[(properties::TIMER_DELAY_MS, "soon")]);
        assert_eq!(
            enqueue(&bad, "T", 0, now, settings, now).unwrap_err().code,
            ResponseCode::MESSAGE_ILLEGAL
        );
        let off = TimerSettings {
            enabled: false,
            ..settings
        };
        let refused = enqueue(&far, "T", 0, now, off, now).unwrap_err();
        assert_eq!(
            (refused.code, refused.remark.as_str()),
            (
                ResponseCode::SYSTEM_ERROR,
                "accurate timer message is not enabled, timerWheelEnable is false"
            )
        );
        // A copy the wheel wrote is not a new timer.
        assert_eq!(enqueue(&stored, "T", 0, now, settings, now), Ok(None));
    }
}
