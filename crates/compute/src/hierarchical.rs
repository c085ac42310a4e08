//! Hierarchical reductions: `min`, `max`, `bool_and`, `bool_or` and top-k maintained in
//! buckets, so that one change costs a bucket instead of the whole group.
//!
//! Differential's `reduce` hands its logic every value of a group whenever the group changes:
//! a maintained `max(ts)` over a table, or the top 10 rows of it, re-reads the whole table on
//! every insert (100–400 ms per insert into 300,000 rows). These aggregates can be computed in
//! stages, because the result over a set is the result over the results of its parts. Each
//! row goes to a bucket (a hash of the row, so the same row always lands in the same bucket
//! and its retraction finds it); a first reduction computes each group's aggregate per bucket
//! among the finest count (say 4096), the next one over those partial results in coarser
//! buckets (each bucket number taken modulo the next count, so a coarse bucket gathers whole
//! fine ones), and the final reduction over at most 64 partial results per group. A change
//! re-reads its fine bucket, then at most 64 partial results per level (3–5 ms per insert).
//!
//! The price is one more reduction per level for every change, which a group of a few dozen
//! rows does not repay: with every grouped `max` and top-k bucketed, Nexmark's per-auction
//! views (q9, q18, q19: top-k per auction or bidder, ~20 rows each) spent about twice the
//! server CPU per event. So [`Buckets`] buckets by default only the reductions whose one group
//! is the whole input (aggregates without GROUP BY, top-k without PARTITION BY: a dashboard's
//! `max(ts)`, a view's `ORDER BY … LIMIT 10`), and grouped ones when the view says how large
//! its groups grow (`CREATE MATERIALIZED VIEW … WITH (EXPECTED GROUP SIZE n)`, like
//! Materialize's `AGGREGATE INPUT GROUP SIZE`); [`levels`] picks the bucket counts for that
//! size. Transient queries reduce each group once and never bucket.

use std::hash::{Hash, Hasher};

use differential_dataflow::VecCollection;
use riffle_expr::{AggregateExpr, AggregateFunc, EvalError};
use riffle_repr::{Datum, DatumRef, Diff, Row, RowRef};

use crate::render::RenderTime;
use crate::spines::reduce_rows;

/// The rows a global reduction's one group is planned for, without `EXPECTED GROUP SIZE`:
/// buckets of 4096 and 64.
const DEFAULT_GLOBAL_SIZE: u64 = 1 << 18;

/// Which reductions of a dataflow are computed in buckets, and in which.
#[derive(Clone, Debug, Default)]
pub struct Buckets {
    /// Levels for reductions without a group key (one group of the whole input).
    global: Vec<u64>,
    /// Levels for grouped reductions.
    grouped: Vec<u64>,
}

impl Buckets {
    /// No bucketing: a transient query reduces each group once.
    pub fn none() -> Self {
        Buckets::default()
    }

    /// A maintained dataflow: global reductions are bucketed for [`DEFAULT_GLOBAL_SIZE`] rows
    /// or the view's `EXPECTED GROUP SIZE`, grouped ones only when the view gives one.
    pub fn for_view(group_size: Option<u64>) -> Self {
        Buckets {
            global: levels(group_size.unwrap_or(DEFAULT_GLOBAL_SIZE)),
            grouped: group_size.map(levels).unwrap_or_default(),
        }
    }

    /// The bucket counts for a reduction with or without a group key (empty: reduce directly).
    pub fn levels(&self, grouped: bool) -> &[u64] {
        if grouped {
            &self.grouped
        } else {
            &self.global
        }
    }
}

/// Bucket counts for groups of up to `size` rows, finest first: powers of 64 that leave at
/// least 16 rows per bucket on average (each level then reduces up to 64 partial results; a
/// level for fewer rows costs more than re-reading them). Each count divides the one before.
pub fn levels(size: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut b: u64 = 64;
    while b.saturating_mul(16) <= size && b <= 1 << 30 {
        out.push(b);
        b *= 64;
    }
    out.reverse();
    out
}

/// Whether every aggregate can be computed from partial results of the same aggregate.
pub fn all_hierarchical(aggregates: &[AggregateExpr]) -> bool {
    aggregates.iter().all(|a| is_hierarchical(&a.func))
}

/// Whether `func` over a set is `func` over `func`'s results on the parts of the set (its
/// result ignores multiplicity and DISTINCT).
pub fn is_hierarchical(func: &AggregateFunc) -> bool {
    matches!(
        func,
        AggregateFunc::Min | AggregateFunc::Max | AggregateFunc::BoolAnd | AggregateFunc::BoolOr
    )
}

/// The bucket of a row among `buckets`: a hash of its value, stable for the life of the
/// process (equal rows share a bucket, so a retraction meets its insertion).
fn bucket_of(row: &Row, buckets: u64) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    row.hash(&mut h);
    h.finish() % buckets
}

/// The key with a bucket column appended.
fn with_bucket(key: &Row, bucket: u64) -> Row {
    Row::build(|p| {
        p.extend_by_row(key);
        p.push(DatumRef::Int64(bucket as i64));
    })
}

/// The key's last column (its bucket) taken modulo `modulus`, or dropped when None.
fn rebucket(key: &RowRef, modulus: Option<u64>) -> Row {
    let arity = key.arity();
    Row::build(|p| {
        for (i, d) in key.iter().enumerate() {
            if i + 1 < arity {
                p.push(d);
            } else if let (Some(m), DatumRef::Int64(b)) = (modulus, d) {
                p.push(DatumRef::Int64(b % m as i64));
            }
        }
    })
}

/// Reduces `pairs` (group key, row) through bucketed levels (`levels`, finest first, not
/// empty): each level's `logic` turns a bucket's rows (with multiplicities, some possibly not
/// positive) into its partial rows. The result holds, per group key, the partial rows of at
/// most the last level's bucket count buckets, for the caller's final reduction.
pub fn bucketed<'s, T, L>(pairs: VecCollection<'s, T, (Row, Row), Diff>, levels: &[u64], logic: L) -> VecCollection<'s, T, (Row, Row), Diff>
where
    T: RenderTime,
    L: Fn(&[(&RowRef, Diff)], &mut Vec<(Row, Diff)>) + Clone + 'static,
{
    let finest = levels[0];
    let mut stage = pairs.map(move |(key, row)| {
        let b = bucket_of(&row, finest);
        (with_bucket(&key, b), row)
    });
    for level in 0..levels.len() {
        let next = levels.get(level + 1).copied();
        let logic = logic.clone();
        let mut partials = Vec::new();
        stage = reduce_rows(
            stage,
            "Bucket",
            move |key, input: &[(&RowRef, Diff)], output: &mut Vec<((Row, Row), Diff)>| {
                logic(input, &mut partials);
                let next_key = rebucket(key, next);
                output.extend(partials.drain(..).map(|(partial, n)| ((next_key.clone(), partial), n)));
            },
        );
    }
    stage
}

/// Renders a reduction whose aggregates are all hierarchical (see [`all_hierarchical`]) over
/// `(key, values)` pairs (`values` holds each aggregate's argument): rows of the key followed
/// by the aggregates, one per non-empty group.
pub fn render_aggregates<'s, T: RenderTime>(
    pairs: VecCollection<'s, T, (Row, Row), Diff>,
    aggs: Vec<AggregateExpr>,
    levels: &[u64],
) -> VecCollection<'s, T, Result<Row, EvalError>, Diff> {
    let funcs: Vec<AggregateFunc> = aggs.into_iter().map(|a| a.func).collect();
    let level_funcs = funcs.clone();
    let partials = bucketed(pairs, levels, move |input, output| {
        // These functions cannot fail (see `is_hierarchical`); the final reduction, below,
        // reports an error if one ever did.
        if let Ok(datums) = combine(&level_funcs, input) {
            output.push((Row::new(datums), 1));
        }
    });
    reduce_rows(
        partials,
        "Reduce",
        move |key: &RowRef, input: &[(&RowRef, Diff)], output: &mut Vec<(Result<Row, EvalError>, Diff)>| {
            output.push((combine(&funcs, input).map(|datums| key.with_datums(&datums)), 1));
        },
    )
}

/// Each aggregate over column `i` of the rows with positive multiplicity: the aggregate of
/// the rows themselves, or of partial results (the same function, since NULL partials, from
/// buckets with no non-NULL value, are ignored like NULL values).
fn combine(funcs: &[AggregateFunc], input: &[(&RowRef, Diff)]) -> Result<Vec<Datum>, EvalError> {
    let mut columns: Vec<Vec<(DatumRef, Diff)>> = funcs.iter().map(|_| Vec::with_capacity(input.len())).collect();
    for (row, n) in input.iter().filter(|(_, n)| *n > 0) {
        for (column, d) in columns.iter_mut().zip(row.iter()) {
            column.push((d, *n));
        }
    }
    funcs.iter().zip(&columns).map(|(f, values)| f.eval_refs(values, false)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_divide_and_fit_the_size() {
        assert!(levels(1000).is_empty(), "groups of a thousand rows are reduced directly");
        assert_eq!(levels(10_000), vec![64]);
        assert_eq!(levels(250_000), vec![4096, 64]);
        assert_eq!(levels(DEFAULT_GLOBAL_SIZE), vec![4096, 64]);
        assert_eq!(levels(100_000_000), vec![262_144, 4096, 64]);
        assert!(!levels(u64::MAX).is_empty());
        for size in [1, 64, 5000, 1 << 20, 1 << 40, u64::MAX] {
            let l = levels(size);
            for w in l.windows(2) {
                assert_eq!(w[0] % w[1], 0, "each bucket count divides the one before");
            }
            if let Some(&finest) = l.first() {
                assert!(finest * 16 <= size, "at least 16 rows per bucket for {size}");
            }
        }
        assert!(Buckets::none().levels(false).is_empty());
        assert!(Buckets::for_view(None).levels(true).is_empty());
        assert_eq!(Buckets::for_view(Some(10_000)).levels(true), &[64]);
    }

    #[test]
    fn rebucket_keeps_key_and_folds_bucket() {
        let key = Row::new(vec![Datum::Int32(7), Datum::String("a".into())]);
        let k = with_bucket(&key, 4000);
        assert_eq!(rebucket(&k, Some(64)), with_bucket(&key, 4000 % 64));
        assert_eq!(rebucket(&k, None), key);
        // A coarse bucket is the fine bucket folded, whatever level folds it.
        assert_eq!(rebucket(&rebucket(&k, Some(64)), Some(16)), with_bucket(&key, 4000 % 16));
    }

    #[test]
    fn equal_rows_share_a_bucket() {
        let a = Row::new(vec![Datum::Int64(42), Datum::String("x".into())]);
        let b = Row::new(vec![Datum::Int64(42), Datum::String("x".into())]);
        assert_eq!(bucket_of(&a, 4096), bucket_of(&b, 4096));
        assert!(bucket_of(&a, 4096) < 4096);
    }

    #[test]
    fn combine_ignores_null_partials() {
        let funcs = [AggregateFunc::Min, AggregateFunc::Max, AggregateFunc::BoolAnd];
        let r1 = Row::new(vec![Datum::Int32(3), Datum::Null, Datum::Bool(true)]);
        let r2 = Row::new(vec![Datum::Null, Datum::Int32(9), Datum::Null]);
        let r3 = Row::new(vec![Datum::Int32(1), Datum::Int32(5), Datum::Bool(false)]);
        let gone = Row::new(vec![Datum::Int32(-100), Datum::Int32(100), Datum::Bool(true)]);
        let input: [(&RowRef, Diff); 4] = [(&r1, 1), (&r2, 2), (&r3, 1), (&gone, 0)];
        assert_eq!(
            combine(&funcs, &input).unwrap(),
            vec![Datum::Int32(1), Datum::Int32(9), Datum::Bool(false)]
        );
    }
}
