//! Accumulable aggregates: `count(*)`, `count(x)`, and `sum(x)` and `avg(x)` of `smallint`,
//! `integer` or `bigint` (each optionally `DISTINCT`), maintained as running totals instead of
//! recomputed (`avg` as a sum and a count, divided when the result is read).
//!
//! A general reduction hands its logic every row of a group whenever the group changes, so
//! one change costs the group's size (a `GROUP BY day` over every bid recounts every bid of
//! the day on each write). These aggregates are sums, so each input row becomes a vector of
//! numbers — `Totals`, differential's difference type for the grouped collection — and
//! differential adds them up as it consolidates: a change to a group costs one addition, and
//! the reduction sees one total per group. `DISTINCT` arguments first pass through a `distinct`
//! of (group key, value), whose output is then totalled the same way.
//!
//! Slot 0 of every total counts the group's rows, so a group's total is zero exactly when the
//! group is empty, and the group disappears.

use differential_dataflow::difference::{IsZero, Multiply, Semigroup};
use differential_dataflow::VecCollection;
use riffle_expr::{integer_average, integer_sum, AggregateExpr, AggregateFunc, EvalError};
use riffle_repr::{Datum, DatumRef, Diff, Row, ScalarType};
use serde::{Deserialize, Serialize};

use crate::render::RenderTime;
use crate::spines::{count_rows, threshold_rows};

/// Running totals of one group: the row count, then each aggregate's slots.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Totals(Vec<i128>);

impl IsZero for Totals {
    fn is_zero(&self) -> bool {
        self.0.iter().all(|v| *v == 0)
    }
}

impl Semigroup for Totals {
    fn plus_equals(&mut self, rhs: &Self) {
        if self.0.len() < rhs.0.len() {
            self.0.resize(rhs.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(&rhs.0) {
            *a += *b;
        }
    }
}

impl Multiply<Diff> for Totals {
    type Output = Totals;
    fn multiply(self, rhs: &Diff) -> Totals {
        Totals(self.0.into_iter().map(|v| v * *rhs as i128).collect())
    }
}

/// How one aggregate is totalled.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `count(*)`: one slot, the rows.
    CountAll,
    /// `count(x)`: one slot, the non-NULL values.
    Count,
    /// `sum(x)` of integers: two slots, the sum and the non-NULL values (none: NULL); the
    /// result is `numeric` (for `bigint` arguments) or `bigint`.
    Sum { numeric: bool },
    /// `avg(x)` of integers: two slots, the sum and the non-NULL values (none: NULL); the
    /// result is their `numeric` quotient.
    Avg,
}

impl Kind {
    fn width(self) -> usize {
        match self {
            Kind::CountAll | Kind::Count => 1,
            Kind::Sum { .. } | Kind::Avg => 2,
        }
    }

    /// Adds one value's contribution at `slot`.
    fn add(self, totals: &mut [i128], slot: usize, value: DatumRef<'_>) {
        match (self, value) {
            (Kind::CountAll, _) => totals[slot] = 1,
            (_, DatumRef::Null) => {}
            (Kind::Count, _) => totals[slot] = 1,
            (Kind::Sum { .. } | Kind::Avg, DatumRef::Int16(v)) => (totals[slot], totals[slot + 1]) = (v as i128, 1),
            (Kind::Sum { .. } | Kind::Avg, DatumRef::Int32(v)) => (totals[slot], totals[slot + 1]) = (v as i128, 1),
            (Kind::Sum { .. } | Kind::Avg, DatumRef::Int64(v)) => (totals[slot], totals[slot + 1]) = (v as i128, 1),
            // The planner chooses `SumIntegers` and `AvgIntegers` only for integer arguments.
            (Kind::Sum { .. } | Kind::Avg, _) => {}
        }
    }

    fn finish(self, totals: &[i128], slot: usize) -> Result<Datum, EvalError> {
        match self {
            Kind::CountAll | Kind::Count => integer_sum(totals[slot], &ScalarType::Int64),
            Kind::Sum { .. } | Kind::Avg if totals[slot + 1] == 0 => Ok(Datum::Null),
            Kind::Avg => integer_average(
                totals[slot],
                i64::try_from(totals[slot + 1]).map_err(|_| EvalError::OutOfRange("bigint".into()))?,
            ),
            Kind::Sum { numeric: false } => integer_sum(totals[slot], &ScalarType::Int64),
            Kind::Sum { numeric: true } => integer_sum(totals[slot], &ScalarType::NUMERIC),
        }
    }
}

/// The plan for a reduction whose aggregates are all accumulable; None otherwise.
pub struct Accumulable {
    /// Per aggregate: how it is totalled, whether DISTINCT, its first slot.
    aggs: Vec<(Kind, bool, usize)>,
    width: usize,
}

impl Accumulable {
    /// Plans `aggregates`, or None when one of them is not a count, or a sum or average of
    /// integers.
    pub fn plan(aggregates: &[AggregateExpr]) -> Option<Self> {
        let mut aggs = Vec::with_capacity(aggregates.len());
        let mut width = 1;
        for a in aggregates {
            let kind = match &a.func {
                AggregateFunc::CountAll => Kind::CountAll,
                AggregateFunc::Count => Kind::Count,
                AggregateFunc::SumIntegers(out) => Kind::Sum {
                    numeric: *out != ScalarType::Int64,
                },
                AggregateFunc::AvgIntegers => Kind::Avg,
                _ => return None,
            };
            aggs.push((kind, a.distinct, width));
            width += kind.width();
        }
        Some(Accumulable { aggs, width })
    }

    /// Renders the reduction over `(key, values)` pairs (`values` holds each aggregate's
    /// argument): rows of the key followed by the aggregates, one per non-empty group.
    pub fn render<'s, T: RenderTime>(
        &self,
        pairs: VecCollection<'s, T, (Row, Row), Diff>,
        key_arity: usize,
    ) -> VecCollection<'s, T, Result<Row, EvalError>, Diff> {
        let (aggs, width) = (self.aggs.clone(), self.width);
        let plain = aggs.clone();
        let mut totals = pairs.clone().explode(move |(key, values): (Row, Row)| {
            let mut t = vec![0i128; width];
            t[0] = 1;
            for ((kind, distinct, slot), v) in plain.iter().zip(values.iter()) {
                if !distinct {
                    kind.add(&mut t, *slot, v);
                }
            }
            Some((key, Totals(t)))
        });
        for (j, (kind, distinct, slot)) in aggs.iter().copied().enumerate() {
            if !distinct {
                continue;
            }
            // Each group's distinct non-NULL values, then totalled like the others.
            let values = pairs.clone().flat_map(move |(key, values): (Row, Row)| {
                let v = values.get(j);
                (!v.is_null()).then(|| {
                    Row::build(|p| {
                        p.extend_by_row(&key);
                        p.push(v);
                    })
                })
            });
            let key_cols: Vec<usize> = (0..key_arity).collect();
            let distinct_totals = threshold_rows(values, "Distinct", |_| 1).explode(move |kv: Row| {
                let mut t = vec![0i128; width];
                kind.add(&mut t, slot, kv.get(key_arity));
                Some((kv.project(&key_cols), Totals(t)))
            });
            totals = totals.concat(distinct_totals);
        }
        count_rows(totals, "Count").map(move |(key, Totals(t))| {
            let mut results = Vec::with_capacity(aggs.len());
            for (kind, _, slot) in &aggs {
                results.push(kind.finish(&t, *slot)?);
            }
            Ok(key.with_datums(&results))
        })
    }
}
