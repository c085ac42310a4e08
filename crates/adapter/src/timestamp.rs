//! Time: where every timestamp comes from and what each one promises.
//!
//! Logical time is milliseconds since the Unix epoch. Two parties hand out timestamps, and this
//! module holds the rule for both: the coordinator's [`Timestamps`] (reads, proposed writes,
//! ticks) and the log writer's [`OpenTime`] (the final timestamp of each write, and when a time
//! is closed). They share one number, the largest timestamp given to a write.
//!
//! The contract:
//! 1. **Read timestamp** ([`Timestamps::read_ts`]): the latest time the coordinator knows of,
//!    caught up with every timestamp the log writer gave a write. A read at it sees every write
//!    acknowledged before the read took it.
//! 2. **Write timestamp** ([`Timestamps::propose_write`]): a write is proposed at the clock's
//!    "now", or at the read timestamp if that is later, and the read timestamp moves to it.
//!    Writes in the same millisecond share it, so logical time never runs ahead of the clock
//!    however many writes arrive (one timestamp per write would put it seconds ahead under
//!    load, and temporal filters would expire rows as they arrive).
//! 3. **Apply a write** ([`OpenTime::assign`], [`OpenTime::fed`]): the log writer makes the
//!    proposal final, moving it to the first time that is still *open* if the proposal lies
//!    before it. The latest fed time stays open (the dataflows' inputs not advanced past it)
//!    until the clock passes it ([`OpenTime::close_due`]); the final timestamp is published
//!    ([`OpenTime::publish`]) before the write is acknowledged.
//! 4. **Advance on tick** ([`Timestamps::tick`]): with no write, the read timestamp moves to
//!    the clock's "now" and every time up to it is closed (through the log writer's queue, so
//!    a tick never overtakes a write), so that temporal filters retract rows as time passes.
//! 5. **What a read may assume**: every write acknowledged before it chose its timestamp is at
//!    or before that timestamp; the compute workers answer once every input has passed it,
//!    which under the wall clock takes at most until that millisecond is over. A read may not
//!    assume anything about writes still waiting for their acknowledgement.
//!
//! The clock is the wall clock, or a test clock that only moves when a test sets it; with the
//! test clock the log writer closes every time at once (it would otherwise wait forever).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use riffle_repr::Timestamp;

/// The wall clock, milliseconds since the epoch (logical time's unit).
pub(crate) fn now_ms() -> Timestamp {
    chrono::Utc::now().timestamp_millis().max(0) as u64
}

/// Where the coordinator's notion of "now" comes from.
#[derive(Clone, Copy, Debug)]
pub enum Clock {
    /// The wall clock (milliseconds since the epoch).
    Wall,
    /// A clock that only moves when a test sets it (`SET riffle_test_clock = …`), so that tests
    /// drive time deterministically instead of sleeping.
    Test(Timestamp),
}

impl Clock {
    /// The clock's current time.
    pub(crate) fn now(&self) -> Timestamp {
        match self {
            Clock::Wall => now_ms(),
            Clock::Test(t) => *t,
        }
    }
}

/// The coordinator's half: read timestamps, proposed write timestamps and ticks.
pub(crate) struct Timestamps {
    clock: Clock,
    /// The read timestamp: the latest write's or tick's time.
    read: Timestamp,
    /// The largest final timestamp the log writer gave a write (shared with [`OpenTime`]).
    assigned: Arc<AtomicU64>,
}

impl Timestamps {
    /// Starts at time 0 (recovery sets the recovered time with [`Timestamps::recovered`]).
    pub(crate) fn new(clock: Clock) -> Self {
        Timestamps {
            clock,
            read: 0,
            assigned: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The log writer's half, sharing the published write timestamps with this one.
    pub(crate) fn open_time(&self) -> OpenTime {
        OpenTime {
            wall_clock: matches!(self.clock, Clock::Wall),
            first_open: 0,
            open: false,
            assigned: self.assigned.clone(),
        }
    }

    /// The clock's time.
    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The clock, to check whether it is a test clock.
    pub(crate) fn clock(&self) -> Clock {
        self.clock
    }

    /// Moves the test clock to `ms`; the caller ticks afterwards.
    pub(crate) fn set_test_clock(&mut self, ms: Timestamp) {
        self.clock = Clock::Test(ms);
    }

    /// Takes in the timestamps the log writer gave writes since the last call (it may have
    /// moved a write past its proposal). Called whenever the coordinator is taken, so that
    /// [`Timestamps::read_ts`] stays fixed while one statement holds it.
    pub(crate) fn catch_up(&mut self) {
        self.read = self.read.max(self.assigned.load(Ordering::Acquire));
    }

    /// The read timestamp (rule 1).
    pub(crate) fn read_ts(&self) -> Timestamp {
        self.read
    }

    /// A write's proposed timestamp (rule 2); the read timestamp moves to it.
    pub(crate) fn propose_write(&mut self) -> Timestamp {
        let ts = self.read.max(self.clock.now());
        self.read = ts;
        ts
    }

    /// Moves the read timestamp to the clock's time if it is later (rule 4); the time before
    /// which every input must be closed, for the log writer to apply after the writes already
    /// queued.
    pub(crate) fn tick(&mut self) -> Option<Timestamp> {
        let now = self.clock.now();
        (now > self.read).then(|| {
            self.read = now;
            now + 1
        })
    }

    /// Recovery loaded the dataflows through `ts` directly: it becomes the read timestamp.
    pub(crate) fn recovered(&mut self, ts: Timestamp) {
        self.read = ts;
    }
}

/// The log writer's half: the first time still open to writes, and whether writes were fed at
/// it. Each method that closes times returns the time to advance the dataflows' inputs to.
pub(crate) struct OpenTime {
    wall_clock: bool,
    /// Writes get this timestamp or later: every earlier one is closed.
    first_open: Timestamp,
    /// Writes were fed at `first_open` and it is not closed yet.
    open: bool,
    assigned: Arc<AtomicU64>,
}

impl OpenTime {
    /// The final timestamps of a group of writes proposed at `proposed` (with advances between
    /// them, as `Err(to)`), in order, without changing the state: nothing is final until the
    /// group is durable.
    pub(crate) fn assign(&self, group: impl IntoIterator<Item = Result<Timestamp, Timestamp>>) -> Vec<Timestamp> {
        let mut first_open = self.first_open;
        let mut stamps = Vec::new();
        for step in group {
            match step {
                Ok(proposed) => {
                    let ts = proposed.max(first_open);
                    first_open = ts;
                    stamps.push(ts);
                }
                Err(advance) => first_open = first_open.max(advance),
            }
        }
        stamps
    }

    /// Publishes a durable group's last timestamp: reads taken from now on include it.
    pub(crate) fn publish(&self, last: Timestamp) {
        self.assigned.fetch_max(last, Ordering::AcqRel);
    }

    /// A write was fed at `ts` (not before the first open time); returns the time to close
    /// through first if `ts` is later than the open time.
    pub(crate) fn fed(&mut self, ts: Timestamp) -> Option<Timestamp> {
        let close = (self.open && self.first_open < ts).then_some(ts);
        self.open = true;
        self.first_open = ts;
        close
    }

    /// Closes every time before `t`, the open one too if `t` is later; the time to advance to.
    pub(crate) fn advance(&mut self, t: Timestamp) -> Option<Timestamp> {
        (t > self.first_open).then(|| {
            self.first_open = t;
            self.open = false;
            t
        })
    }

    /// Closes the open time once the clock has passed it (at once with the test clock).
    pub(crate) fn close_due(&mut self) -> Option<Timestamp> {
        if self.open && (!self.wall_clock || now_ms() > self.first_open) {
            self.advance(self.first_open + 1)
        } else {
            None
        }
    }

    /// How long the writer may wait for the next write before the open time is due to close;
    /// None when no time is open.
    pub(crate) fn until_due(&self) -> Option<Duration> {
        self.open
            .then(|| Duration::from_millis((self.first_open + 1).saturating_sub(now_ms())).max(Duration::from_micros(100)))
    }

    /// Every write so far has a timestamp at or before this one.
    pub(crate) fn last(&self) -> Timestamp {
        self.first_open.max(self.assigned.load(Ordering::Acquire))
    }

    /// After a pause: nothing is open, and every time before `from` is closed.
    pub(crate) fn resume(&mut self, from: Timestamp) -> Option<Timestamp> {
        self.open = false;
        self.advance(from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_in_one_millisecond_share_it_and_reads_see_them() {
        let mut ts = Timestamps::new(Clock::Test(100));
        assert_eq!(ts.propose_write(), 100);
        assert_eq!(ts.propose_write(), 100);
        assert_eq!(ts.read_ts(), 100);
        // The test clock stands still: no tick moves time.
        assert_eq!(ts.tick(), None);
        ts.set_test_clock(250);
        assert_eq!(ts.tick(), Some(251));
        assert_eq!(ts.read_ts(), 250);
        assert_eq!(ts.propose_write(), 250);
    }

    #[test]
    fn a_write_proposed_at_a_closed_time_moves_to_the_open_one() {
        let ts = Timestamps::new(Clock::Test(0));
        let mut open = ts.open_time();
        assert_eq!(open.advance(10), Some(10));
        // Proposed at 5 (closed) → 10; the advance to 20 in between moves the next one on.
        assert_eq!(open.assign([Ok(5), Ok(7), Err(20), Ok(12), Ok(30)]), vec![10, 10, 20, 30]);
        // Assigning changes nothing until the group is fed.
        assert_eq!(open.assign([Ok(1)]), vec![10]);
    }

    #[test]
    fn feeding_a_later_time_closes_the_open_one() {
        let ts = Timestamps::new(Clock::Test(0));
        let mut open = ts.open_time();
        assert_eq!(open.fed(10), None);
        assert_eq!(open.fed(10), None);
        assert_eq!(open.fed(12), Some(12));
        // The test clock closes the open time at once.
        assert_eq!(open.close_due(), Some(13));
        assert_eq!(open.close_due(), None);
        assert_eq!(open.until_due(), None);
    }

    #[test]
    fn published_writes_reach_the_read_timestamp_on_catch_up() {
        let mut ts = Timestamps::new(Clock::Test(5));
        let open = ts.open_time();
        open.publish(42);
        assert_eq!(ts.read_ts(), 0);
        ts.catch_up();
        assert_eq!(ts.read_ts(), 42);
        // A write is never proposed before a published one.
        assert_eq!(ts.propose_write(), 42);
        assert_eq!(open.last(), 42);
    }

    #[test]
    fn resuming_after_a_pause_closes_everything_before_it() {
        let ts = Timestamps::new(Clock::Wall);
        let mut open = ts.open_time();
        open.fed(100);
        assert_eq!(open.resume(150), Some(150));
        assert_eq!(open.until_due(), None);
        assert_eq!(open.assign([Ok(120)]), vec![150]);
        assert_eq!(open.resume(140), None);
    }
}
