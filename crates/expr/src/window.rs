//! Window functions, computed over one sorted partition at a time.

use crate::{AggregateFunc, ColumnOrder, EvalError};
use riffle_repr::{Datum, Row};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// One end of a window frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FrameBound {
    /// UNBOUNDED PRECEDING
    UnboundedPreceding,
    /// n PRECEDING (ROWS only)
    Preceding(usize),
    /// CURRENT ROW (with RANGE: the row's last/first peer)
    CurrentRow,
    /// n FOLLOWING (ROWS only)
    Following(usize),
    /// UNBOUNDED FOLLOWING
    UnboundedFollowing,
}

/// A window frame: which rows of the partition an aggregate or first/last_value sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowFrame {
    /// ROWS (physical offsets) rather than RANGE (peers of the current row count as one).
    pub rows: bool,
    /// Start of the frame.
    pub start: FrameBound,
    /// End of the frame.
    pub end: FrameBound,
}

impl WindowFrame {
    /// PostgreSQL's default: RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW.
    pub const DEFAULT: WindowFrame = WindowFrame {
        rows: false,
        start: FrameBound::UnboundedPreceding,
        end: FrameBound::CurrentRow,
    };
}

/// A window function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WindowFunc {
    /// row_number()
    RowNumber,
    /// rank()
    Rank,
    /// dense_rank()
    DenseRank,
    /// lag(x, offset, default) — offset is the row distance backwards.
    Lag {
        /// Distance.
        offset: usize,
    },
    /// lead(x, offset, default)
    Lead {
        /// Distance.
        offset: usize,
    },
    /// first_value(x) over the frame.
    FirstValue,
    /// last_value(x) over the frame.
    LastValue,
    /// An aggregate over the frame.
    Aggregate(AggregateFunc),
}

/// A window function call: its function, argument columns and frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowExpr {
    /// The function.
    pub func: WindowFunc,
    /// Input columns of the arguments (value, and for lag/lead the default).
    pub args: Vec<usize>,
    /// The frame (for aggregates and first/last_value).
    pub frame: WindowFrame,
}

impl WindowExpr {
    /// Computes the function for every row of a partition already sorted by `order`.
    pub fn compute(&self, rows: &[Row], order: &[ColumnOrder]) -> Result<Vec<Datum>, EvalError> {
        let n = rows.len();
        let peer = |a: usize, b: usize| ColumnOrder::compare_rows(order, &rows[a], &rows[b]) == Ordering::Equal;
        // First and last index of each row's peer group.
        let mut group_start = vec![0; n];
        let mut group_end = vec![0; n];
        for i in 0..n {
            group_start[i] = if i > 0 && peer(i - 1, i) { group_start[i - 1] } else { i };
        }
        for i in (0..n).rev() {
            group_end[i] = if i + 1 < n && peer(i, i + 1) { group_end[i + 1] } else { i };
        }
        let arg = |i: usize, k: usize| rows[i].get(self.args[k]).to_datum();
        let frame = |i: usize| -> (usize, usize) {
            let lo = match self.frame.start {
                FrameBound::UnboundedPreceding => 0,
                FrameBound::Preceding(k) if self.frame.rows => i.saturating_sub(k),
                FrameBound::CurrentRow if self.frame.rows => i,
                FrameBound::CurrentRow => group_start[i],
                FrameBound::Following(k) => i + k,
                _ => 0,
            };
            let hi = match self.frame.end {
                FrameBound::UnboundedFollowing => n,
                FrameBound::Following(k) if self.frame.rows => (i + k + 1).min(n),
                FrameBound::CurrentRow if self.frame.rows => i + 1,
                FrameBound::CurrentRow => group_end[i] + 1,
                FrameBound::Preceding(k) => (i + 1).saturating_sub(k),
                _ => n,
            };
            (lo.min(n), hi.max(lo.min(n)))
        };
        let mut out = Vec::with_capacity(n);
        let mut dense = 0i64;
        for i in 0..n {
            if group_start[i] == i {
                dense += 1;
            }
            out.push(match &self.func {
                WindowFunc::RowNumber => Datum::Int64(i as i64 + 1),
                WindowFunc::Rank => Datum::Int64(group_start[i] as i64 + 1),
                WindowFunc::DenseRank => Datum::Int64(dense),
                WindowFunc::Lag { offset } => match i.checked_sub(*offset) {
                    Some(j) => arg(j, 0),
                    None => self.args.get(1).map_or(Datum::Null, |_| arg(i, 1)),
                },
                WindowFunc::Lead { offset } => match i.checked_add(*offset).filter(|j| *j < n) {
                    Some(j) => arg(j, 0),
                    None => self.args.get(1).map_or(Datum::Null, |_| arg(i, 1)),
                },
                WindowFunc::FirstValue => {
                    let (lo, hi) = frame(i);
                    if lo < hi {
                        arg(lo, 0)
                    } else {
                        Datum::Null
                    }
                }
                WindowFunc::LastValue => {
                    let (lo, hi) = frame(i);
                    if lo < hi {
                        arg(hi - 1, 0)
                    } else {
                        Datum::Null
                    }
                }
                WindowFunc::Aggregate(agg) => {
                    let (lo, hi) = frame(i);
                    let values: Vec<Datum> = (lo..hi)
                        .map(|j| if self.args.is_empty() { Datum::Bool(true) } else { arg(j, 0) })
                        .collect();
                    agg.eval(values.iter().map(|d| (d, 1)), false)?
                }
            });
        }
        Ok(out)
    }
}
