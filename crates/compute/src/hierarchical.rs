//! Hierarchical reductions: `min`, `max`, `bool_and`, `bool_or` and top-k maintained in
//! buckets, so that one change costs a bucket instead of the whole group.
//!
//! Differential's `reduce` hands its logic every value of a group whenever the group changes:
//! a maintained `max(ts)` over a table, or the top 10 rows of it, re-reads the whole table on
//! every insert (110–190 ms per insert into a 250,000-row group). These aggregates can be
//! computed in stages, because the result over a set is the result over the results of its
//! parts. Each row goes to a bucket (a hash of the row, so the same row always lands in the
//! same bucket and its retraction finds it); a first reduction computes each group's aggregate
//! per bucket among [`BUCKETS`]`[0]`, the next one over those partial results in coarser
//! buckets (each bucket number taken modulo the next count, so a coarse bucket gathers whole
//! fine ones), and the final reduction over at most the last count of partial results per
//! group. A change re-reads its fine bucket (about 1/4096 of the group), then at most 64
//! partial results per level (1–2 ms per insert into the same group).
//!
//! The price is two more reductions for every change, which a group of a few dozen rows does
//! not repay: with every grouped `max` and top-k bucketed, Nexmark's per-auction views (q9,
//! q18, q19: top-k per auction or bidder, ~20 rows each) spent about twice the server CPU per
//! event. So rendering buckets only the reductions whose one group is the whole input
//! (aggregates without GROUP BY, top-k without PARTITION BY: a dashboard's `max(ts)`, a view's
//! `ORDER BY … LIMIT 10`), in maintained dataflows (a transient query computes its groups
//! once); grouped reductions keep the single general reduction. A per-view hint of the
//! expected group size, as Materialize's `AGGREGATE INPUT GROUP SIZE`, would extend it to
//! grouped views with large groups.

use std::hash::{Hash, Hasher};

use differential_dataflow::VecCollection;
use riffle_expr::{AggregateExpr, AggregateFunc, EvalError};
use riffle_repr::{Datum, DatumRef, Diff, Row};

use crate::render::RenderTime;

/// Bucket counts of the levels before the final reduction, finest first; each count divides
/// the one before it.
pub const BUCKETS: [u64; 2] = [4096, 64];

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

/// The bucket of a row among [`BUCKETS`]`[0]`: a hash of its value, stable for the life of
/// the process (equal rows share a bucket, so a retraction meets its insertion).
fn bucket_of(row: &Row) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    row.hash(&mut h);
    h.finish() % BUCKETS[0]
}

/// The key with a bucket column appended.
fn with_bucket(key: &Row, bucket: u64) -> Row {
    Row::build(|p| {
        p.extend_by_row(key);
        p.push(DatumRef::Int64(bucket as i64));
    })
}

/// The key's last column (its bucket) taken modulo `modulus`, or dropped when None.
fn rebucket(key: &Row, modulus: Option<u64>) -> Row {
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

/// Reduces `pairs` (group key, row) through the bucketed levels: each level's `logic` turns a
/// bucket's rows (with multiplicities, some possibly not positive) into its partial rows. The
/// result holds, per group key, the partial rows of at most the last level's bucket count
/// buckets, for the caller's final reduction.
pub fn bucketed<'s, T, L>(pairs: VecCollection<'s, T, (Row, Row), Diff>, logic: L) -> VecCollection<'s, T, (Row, Row), Diff>
where
    T: RenderTime,
    L: Fn(&[(&Row, Diff)], &mut Vec<(Row, Diff)>) + Clone + 'static,
{
    let mut stage = pairs.map(|(key, row)| {
        let b = bucket_of(&row);
        (with_bucket(&key, b), row)
    });
    for level in 0..BUCKETS.len() {
        let next = BUCKETS.get(level + 1).copied();
        let logic = logic.clone();
        stage = stage
            .reduce(move |_key: &Row, input: &[(&Row, Diff)], output: &mut Vec<(Row, Diff)>| logic(input, output))
            .map(move |(key, partial)| (rebucket(&key, next), partial));
    }
    stage
}

/// Renders a reduction whose aggregates are all hierarchical (see [`all_hierarchical`]) over
/// `(key, values)` pairs (`values` holds each aggregate's argument): rows of the key followed
/// by the aggregates, one per non-empty group.
pub fn render_aggregates<'s, T: RenderTime>(
    pairs: VecCollection<'s, T, (Row, Row), Diff>,
    aggs: Vec<AggregateExpr>,
) -> VecCollection<'s, T, Result<Row, EvalError>, Diff> {
    let funcs: Vec<AggregateFunc> = aggs.into_iter().map(|a| a.func).collect();
    let level_funcs = funcs.clone();
    let partials = bucketed(pairs, move |input, output| {
        if let Ok(datums) = combine(&level_funcs, input) {
            output.push((Row::new(datums), 1));
        }
    });
    partials
        .reduce(
            move |key: &Row, input: &[(&Row, Diff)], output: &mut Vec<(Result<Row, EvalError>, Diff)>| {
                output.push((combine(&funcs, input).map(|datums| key.with_datums(&datums)), 1));
            },
        )
        .map(|(_key, result)| result)
}

/// Each aggregate over column `i` of the rows with positive multiplicity: the aggregate of
/// the rows themselves, or of partial results (the same function, since NULL partials, from
/// buckets with no non-NULL value, are ignored like NULL values).
fn combine(funcs: &[AggregateFunc], input: &[(&Row, Diff)]) -> Result<Vec<Datum>, EvalError> {
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
    fn buckets_divide() {
        for w in BUCKETS.windows(2) {
            assert_eq!(w[0] % w[1], 0, "each bucket count divides the one before");
        }
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
        assert_eq!(bucket_of(&a), bucket_of(&b));
        assert!(bucket_of(&a) < BUCKETS[0]);
    }

    #[test]
    fn combine_ignores_null_partials() {
        let funcs = [AggregateFunc::Min, AggregateFunc::Max, AggregateFunc::BoolAnd];
        let r1 = Row::new(vec![Datum::Int32(3), Datum::Null, Datum::Bool(true)]);
        let r2 = Row::new(vec![Datum::Null, Datum::Int32(9), Datum::Null]);
        let r3 = Row::new(vec![Datum::Int32(1), Datum::Int32(5), Datum::Bool(false)]);
        let gone = Row::new(vec![Datum::Int32(-100), Datum::Int32(100), Datum::Bool(true)]);
        let input = [(&r1, 1), (&r2, 2), (&r3, 1), (&gone, 0)];
        assert_eq!(
            combine(&funcs, &input).unwrap(),
            vec![Datum::Int32(1), Datum::Int32(9), Datum::Bool(false)]
        );
    }
}
