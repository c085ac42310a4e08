//! Scheduled refresh of a materialized view (`WITH (REFRESH EVERY '…' [ALIGNED TO …])`).

use serde::{Deserialize, Serialize};

/// When a view with a refresh schedule changes: at the time its dataflow starts (CREATE, or
/// the server starting), then at every `aligned_to + k · every` milliseconds. Changes of its
/// inputs between two refreshes are held back and applied together at the next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshSchedule {
    /// Interval between refreshes, in milliseconds (at least 1).
    pub every: u64,
    /// A time (milliseconds since the epoch) the refreshes are aligned to.
    pub aligned_to: u64,
}

impl RefreshSchedule {
    /// The refresh at which a change at time `t` becomes visible, for a dataflow started at
    /// `start`: `start` itself for changes up to it, else the first refresh time at or after `t`.
    /// Monotonic and never earlier than `t`, as a delay must be.
    pub fn round_up(&self, start: u64, t: u64) -> u64 {
        if t <= start {
            return start;
        }
        if t <= self.aligned_to {
            // Before the alignment point: refreshes run backwards from it in steps of `every`.
            return self.aligned_to - (self.aligned_to - t) / self.every * self.every;
        }
        let steps = (t - self.aligned_to).div_ceil(self.every);
        self.aligned_to.saturating_add(steps.saturating_mul(self.every))
    }
}

#[cfg(test)]
mod tests {
    use super::RefreshSchedule;

    #[test]
    fn rounds_up_to_the_next_refresh() {
        let s = RefreshSchedule { every: 10, aligned_to: 5 };
        assert_eq!(s.round_up(100, 50), 100);
        assert_eq!(s.round_up(100, 100), 100);
        assert_eq!(s.round_up(100, 101), 105);
        assert_eq!(s.round_up(100, 105), 105);
        assert_eq!(s.round_up(100, 106), 115);
        // Aligned to a time after the start.
        let s = RefreshSchedule {
            every: 10,
            aligned_to: 1000,
        };
        assert_eq!(s.round_up(100, 101), 110);
        assert_eq!(s.round_up(100, 110), 110);
        assert_eq!(s.round_up(100, 111), 120);
        assert_eq!(s.round_up(100, 1001), 1010);
        // Monotonic.
        let mut last = 0;
        for t in 0..2000 {
            let r = s.round_up(100, t);
            assert!(r >= t && r >= last, "{t} → {r}");
            last = r;
        }
    }
}
