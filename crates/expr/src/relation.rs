//! Relational plans.

use crate::{AggregateExpr, EvalError, ScalarExpr};
use riffle_repr::{Datum, Diff, GlobalId, Row, RowRef};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// A function returning rows (`generate_series`, `unnest`, `jsonb_array_elements`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableFunc {
    /// generate_series(start, stop[, step]) over bigint.
    GenerateSeries,
    /// unnest(array): one row per element.
    Unnest,
    /// The start of every HOP window (of `size`, every `slide`) containing a timestamp:
    /// arguments (ts, slide, size).
    HopStarts,
    /// jsonb_array_elements(j) (`as_text`: jsonb_array_elements_text).
    JsonbArrayElements {
        /// Elements as text rather than jsonb.
        as_text: bool,
    },
}

impl TableFunc {
    /// The rows the function produces for evaluated arguments (each a single datum).
    pub fn eval(&self, args: &[Datum]) -> Result<Vec<Datum>, crate::EvalError> {
        use crate::EvalError;
        if args.iter().any(Datum::is_null) {
            return Ok(Vec::new());
        }
        Ok(match self {
            TableFunc::GenerateSeries => {
                let int = |d: &Datum| match d {
                    Datum::Int16(v) => Ok(*v as i64),
                    Datum::Int32(v) => Ok(*v as i64),
                    Datum::Int64(v) => Ok(*v),
                    other => Err(EvalError::InvalidArgument(format!(
                        "generate_series expects integers, got {other:?}"
                    ))),
                };
                let (start, stop) = (int(&args[0])?, int(&args[1])?);
                let step = match args.get(2) {
                    Some(s) => int(s)?,
                    None => 1,
                };
                if step == 0 {
                    return Err(EvalError::InvalidArgument("step size cannot equal zero".into()));
                }
                let count = if step > 0 {
                    (stop - start).max(-1) / step + 1
                } else {
                    (start - stop).max(-1) / -step + 1
                };
                if count > 100_000_000 {
                    return Err(EvalError::OutOfRange("generate_series result".into()));
                }
                (0..count.max(0)).map(|i| Datum::Int64(start + i * step)).collect()
            }
            TableFunc::HopStarts => {
                let (ts, tz) = match &args[0] {
                    Datum::Timestamp(t) => (*t, false),
                    Datum::TimestampTz(t) => (*t, true),
                    other => return Err(EvalError::InvalidArgument(format!("HOP needs a timestamp, got {other:?}"))),
                };
                let (Datum::Interval(slide), Datum::Interval(size)) = (&args[1], &args[2]) else {
                    return Err(EvalError::InvalidArgument("HOP slide and size must be intervals".into()));
                };
                let last = crate::date_bin(slide, ts, 0)?;
                let size_us = size.days as i64 * riffle_repr::Interval::MICROS_PER_DAY + size.micros;
                let slide_us = slide.days as i64 * riffle_repr::Interval::MICROS_PER_DAY + slide.micros;
                if size.months != 0 || size_us <= 0 {
                    return Err(EvalError::InvalidArgument(
                        "HOP size must be a positive interval without months".into(),
                    ));
                }
                let mut starts = Vec::new();
                let mut start = last;
                while start > ts - size_us && starts.len() < 10_000 {
                    starts.push(if tz { Datum::TimestampTz(start) } else { Datum::Timestamp(start) });
                    start -= slide_us;
                }
                starts.reverse();
                starts
            }
            TableFunc::Unnest => match &args[0] {
                Datum::Array(items) => items.clone(),
                other => return Err(EvalError::InvalidArgument(format!("unnest expects an array, got {other:?}"))),
            },
            TableFunc::JsonbArrayElements { as_text } => match &args[0] {
                Datum::Jsonb(text) => match serde_json::from_str::<serde_json::Value>(text) {
                    Ok(serde_json::Value::Array(items)) => items
                        .iter()
                        .map(|v| match v {
                            serde_json::Value::String(s) if *as_text => Datum::String(s.clone()),
                            serde_json::Value::Null if *as_text => Datum::Null,
                            other => {
                                let mut out = String::new();
                                riffle_repr::strconv::write_jsonb(&mut out, other);
                                if *as_text {
                                    Datum::String(out)
                                } else {
                                    Datum::Jsonb(out)
                                }
                            }
                        })
                        .collect(),
                    _ => return Err(EvalError::InvalidArgument("cannot extract elements from a scalar or object".into())),
                },
                other => {
                    return Err(EvalError::InvalidArgument(format!(
                        "jsonb_array_elements expects jsonb, got {other:?}"
                    )))
                }
            },
        })
    }
}

/// How a join treats unmatched rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinKind {
    /// Only matching pairs.
    Inner,
    /// Matching pairs, plus left rows with no match padded with NULLs.
    LeftOuter,
    /// Matching pairs, plus unmatched rows of either side padded with NULLs.
    FullOuter,
}

/// A sort key: a column, its direction and where NULLs go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnOrder {
    /// Column index.
    pub column: usize,
    /// Descending order.
    pub desc: bool,
    /// NULLs sort before non-NULLs.
    pub nulls_first: bool,
}

impl ColumnOrder {
    /// Compares two rows by a list of sort keys, with SQL's NULL placement.
    pub fn compare_rows(order: &[ColumnOrder], a: &RowRef, b: &RowRef) -> Ordering {
        for o in order {
            let (x, y) = (a.get(o.column), b.get(o.column));
            let ord = match (x.is_null(), y.is_null()) {
                (true, true) => Ordering::Equal,
                (true, false) => {
                    if o.nulls_first {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    }
                }
                (false, true) => {
                    if o.nulls_first {
                        Ordering::Greater
                    } else {
                        Ordering::Less
                    }
                }
                (false, false) => {
                    let c = crate::func::compare_refs(x, y);
                    if o.desc {
                        c.reverse()
                    } else {
                        c
                    }
                }
            };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    }
}

/// A relational plan: what a query computes, as a tree the compute layer renders.
///
/// Every node's output is a multiset of rows; `arity` of each node is tracked by the planner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RelExpr {
    /// The contents of a stored collection (a table or a maintained view).
    Get {
        /// The collection.
        id: GlobalId,
        /// Its number of columns.
        arity: usize,
    },
    /// The rows of the enclosing WITH RECURSIVE binding `id` (only inside its step).
    LocalGet {
        /// The binding.
        id: u64,
        /// Its number of columns.
        arity: usize,
    },
    /// WITH RECURSIVE: the least fixpoint of `X = base ∪ step(X)` (`distinct` for UNION,
    /// multiset union for UNION ALL), where `step` reads X through `LocalGet(id)`.
    Recursive {
        /// The binding's id.
        id: u64,
        /// The non-recursive term.
        base: Box<RelExpr>,
        /// The recursive term.
        step: Box<RelExpr>,
        /// UNION rather than UNION ALL.
        distinct: bool,
    },
    /// A fixed multiset of rows.
    Constant {
        /// Rows with their multiplicities.
        rows: Vec<(Row, Diff)>,
        /// Number of columns.
        arity: usize,
    },
    /// Appends computed columns.
    Map {
        /// The input.
        input: Box<RelExpr>,
        /// Expressions over the input row (each may use earlier appended columns).
        scalars: Vec<ScalarExpr>,
    },
    /// Keeps rows for which every predicate is true.
    Filter {
        /// The input.
        input: Box<RelExpr>,
        /// Predicates over the input row.
        predicates: Vec<ScalarExpr>,
    },
    /// Keeps and reorders columns.
    Project {
        /// The input.
        input: Box<RelExpr>,
        /// Input column indexes of the output columns.
        outputs: Vec<usize>,
    },
    /// An equi-join with an optional residual predicate; output is left columns then right columns.
    Join {
        /// Left input.
        left: Box<RelExpr>,
        /// Right input.
        right: Box<RelExpr>,
        /// Pairs of equal key expressions (left row, right row); NULL keys never match.
        keys: Vec<(ScalarExpr, ScalarExpr)>,
        /// A predicate over the concatenated row, part of the join condition.
        residual: Option<ScalarExpr>,
        /// Inner or left outer.
        kind: JoinKind,
        /// Arity of the right input (for NULL padding).
        right_arity: usize,
    },
    /// GROUP BY: output is the group key columns followed by one column per aggregate.
    Reduce {
        /// The input.
        input: Box<RelExpr>,
        /// Input columns forming the group key.
        group_key: Vec<usize>,
        /// Aggregates over the input rows.
        aggregates: Vec<AggregateExpr>,
        /// True for an aggregate without GROUP BY, which yields one row even on empty input.
        global: bool,
    },
    /// Removes duplicate rows.
    Distinct {
        /// The input.
        input: Box<RelExpr>,
    },
    /// Each input row followed by each row of a table function of it (one appended column).
    FlatMap {
        /// The input.
        input: Box<RelExpr>,
        /// The function.
        func: TableFunc,
        /// Its arguments, over the input row.
        args: Vec<ScalarExpr>,
    },
    /// Temporal filter: each row is present from its `lower` bounds to its `upper` bounds, in
    /// logical time (`mz_now()`), so rows leave a view as the clock passes them.
    TemporalFilter {
        /// The input.
        input: Box<RelExpr>,
        /// Timestamptz expressions the time must be at or past (`mz_now() >= e`).
        lower: Vec<ScalarExpr>,
        /// Timestamptz expressions the time must stay before (`mz_now() < e`).
        upper: Vec<ScalarExpr>,
    },
    /// Multiset union (UNION ALL).
    Union {
        /// The inputs, all of one arity.
        inputs: Vec<RelExpr>,
    },
    /// Multiplicities negated (used to subtract one relation from another).
    Negate {
        /// The input.
        input: Box<RelExpr>,
    },
    /// Keeps rows with positive multiplicity (EXCEPT / INTERSECT after a subtraction).
    Threshold {
        /// The input.
        input: Box<RelExpr>,
    },
    /// Window functions: each row gains one column per function, computed over the rows of
    /// its partition in the given order.
    Window {
        /// The input.
        input: Box<RelExpr>,
        /// Columns forming the partition key.
        partition_by: Vec<usize>,
        /// Order within a partition.
        order_by: Vec<ColumnOrder>,
        /// The functions, over input columns.
        funcs: Vec<crate::WindowExpr>,
    },
    /// The first rows in an order, per group (ORDER BY … LIMIT inside a maintained view,
    /// DISTINCT ON, top-k per key).
    TopK {
        /// The input.
        input: Box<RelExpr>,
        /// Columns forming the group; empty for one global top-k.
        group_key: Vec<usize>,
        /// Sort keys.
        order_by: Vec<ColumnOrder>,
        /// Rows to keep.
        limit: Option<usize>,
        /// Rows to skip first.
        offset: usize,
    },
}

impl RelExpr {
    /// The plan's direct inputs, mutably (none for reads and constants).
    pub fn inputs_mut(&mut self) -> Vec<&mut RelExpr> {
        match self {
            RelExpr::Get { .. } | RelExpr::Constant { .. } | RelExpr::LocalGet { .. } => vec![],
            RelExpr::Recursive { base, step, .. } => vec![&mut **base, &mut **step],
            RelExpr::Map { input, .. }
            | RelExpr::Filter { input, .. }
            | RelExpr::Project { input, .. }
            | RelExpr::Reduce { input, .. }
            | RelExpr::Distinct { input }
            | RelExpr::Negate { input }
            | RelExpr::Threshold { input }
            | RelExpr::Window { input, .. }
            | RelExpr::FlatMap { input, .. }
            | RelExpr::TemporalFilter { input, .. }
            | RelExpr::TopK { input, .. } => vec![&mut **input],
            RelExpr::Join { left, right, .. } => vec![&mut **left, &mut **right],
            RelExpr::Union { inputs } => inputs.iter_mut().collect(),
        }
    }

    /// The plan's direct inputs (none for reads and constants).
    pub fn inputs(&self) -> Vec<&RelExpr> {
        match self {
            RelExpr::Get { .. } | RelExpr::Constant { .. } | RelExpr::LocalGet { .. } => vec![],
            RelExpr::Recursive { base, step, .. } => vec![&**base, &**step],
            RelExpr::Map { input, .. }
            | RelExpr::Filter { input, .. }
            | RelExpr::Project { input, .. }
            | RelExpr::Reduce { input, .. }
            | RelExpr::Distinct { input }
            | RelExpr::Negate { input }
            | RelExpr::Threshold { input }
            | RelExpr::Window { input, .. }
            | RelExpr::FlatMap { input, .. }
            | RelExpr::TemporalFilter { input, .. }
            | RelExpr::TopK { input, .. } => vec![&**input],
            RelExpr::Join { left, right, .. } => vec![&**left, &**right],
            RelExpr::Union { inputs } => inputs.iter().collect(),
        }
    }

    /// Calls `f` on every collection this plan reads.
    pub fn for_each_get(&self, f: &mut impl FnMut(GlobalId)) {
        match self {
            RelExpr::Get { id, .. } => f(*id),
            other => other.inputs().into_iter().for_each(|i| i.for_each_get(f)),
        }
    }

    /// Replaces every read of a stored collection with what `f` makes of it (None: keeps it).
    pub fn rewrite_gets(&mut self, f: &mut impl FnMut(GlobalId, usize) -> Option<RelExpr>) {
        match self {
            RelExpr::Get { id, arity } => {
                if let Some(new) = f(*id, *arity) {
                    *self = new;
                }
            }
            other => other.inputs_mut().into_iter().for_each(|i| i.rewrite_gets(f)),
        }
    }

    /// The stored collection and key columns by which a join input, keyed by `keys`, could
    /// be read from an index instead of being arranged: the input is a plain read of a
    /// collection and every key is one of its columns. Compute uses an index on exactly those
    /// columns, in that order, if one is installed; EXPLAIN says so.
    pub fn join_input_index_key(input: &RelExpr, keys: &[ScalarExpr]) -> Option<(GlobalId, Vec<usize>)> {
        let RelExpr::Get { id, .. } = input else {
            return None;
        };
        Some((*id, ScalarExpr::columns(keys)?))
    }

    /// Every row of `left` paired with every row of `right` (`right_arity` columns).
    pub fn cross_join(left: RelExpr, right: RelExpr, right_arity: usize) -> RelExpr {
        RelExpr::Join {
            left: Box::new(left),
            right: Box::new(right),
            keys: vec![],
            residual: None,
            kind: JoinKind::Inner,
            right_arity,
        }
    }

    /// The number of columns the plan produces, where it can be read off the tree.
    pub fn arity(&self) -> Option<usize> {
        Some(match self {
            RelExpr::Get { arity, .. } | RelExpr::Constant { arity, .. } | RelExpr::LocalGet { arity, .. } => *arity,
            RelExpr::Recursive { base, .. } => base.arity()?,
            RelExpr::Map { input, scalars } => input.arity()? + scalars.len(),
            RelExpr::Filter { input, .. }
            | RelExpr::Distinct { input }
            | RelExpr::TopK { input, .. }
            | RelExpr::Negate { input }
            | RelExpr::Threshold { input } => input.arity()?,
            RelExpr::Project { outputs, .. } => outputs.len(),
            RelExpr::Window { input, funcs, .. } => input.arity()? + funcs.len(),
            RelExpr::FlatMap { input, .. } => input.arity()? + 1,
            RelExpr::TemporalFilter { input, .. } => input.arity()?,
            RelExpr::Join { left, right_arity, .. } => left.arity()? + right_arity,
            RelExpr::Reduce { group_key, aggregates, .. } => group_key.len() + aggregates.len(),
            RelExpr::Union { inputs } => inputs.first()?.arity()?,
        })
    }

    /// The collections this plan reads, deduplicated.
    pub fn depends_on(&self) -> Vec<GlobalId> {
        let mut ids = Vec::new();
        self.for_each_get(&mut |id| {
            if !ids.contains(&id) {
                ids.push(id)
            }
        });
        ids
    }

    /// Applies this plan's maps, filters and projections (see [`RelExpr::as_simple_read`]) to
    /// one row of the collection it reads (or of its constant rows): the row it becomes, or
    /// None when a filter drops it. The row is copied only when a step changes it or it
    /// passes, so a read that filters a large collection copies only what it returns.
    pub fn eval_read(&self, row: &RowRef) -> Result<Option<Row>, EvalError> {
        Ok(self.eval_read_ref(row)?.map(std::borrow::Cow::into_owned))
    }

    fn eval_read_ref<'a>(&self, row: &'a RowRef) -> Result<Option<std::borrow::Cow<'a, RowRef>>, EvalError> {
        use std::borrow::Cow;
        Ok(match self {
            RelExpr::Get { .. } | RelExpr::Constant { .. } => Some(Cow::Borrowed(row)),
            RelExpr::Filter { input, predicates } => match input.eval_read_ref(row)? {
                Some(r) => {
                    for p in predicates {
                        if !p.holds(&*r)? {
                            return Ok(None);
                        }
                    }
                    Some(r)
                }
                None => None,
            },
            RelExpr::Map { input, scalars } => match input.eval_read_ref(row)? {
                Some(r) => {
                    let arity = r.arity();
                    let mut extra = Vec::with_capacity(scalars.len());
                    for s in scalars {
                        let v = s.eval_on(&crate::Extended {
                            row: &r,
                            arity,
                            extra: &extra,
                        })?;
                        extra.push(v);
                    }
                    Some(Cow::Owned(r.with_datums(&extra)))
                }
                None => None,
            },
            RelExpr::Project { input, outputs } => input.eval_read_ref(row)?.map(|r| Cow::Owned(r.project(outputs))),
            other => return Err(EvalError::InvalidArgument(format!("a direct read cannot evaluate {other:?}"))),
        })
    }

    /// If the plan is a projection/filter/map over one stored collection, returns the
    /// collection and the plan's steps: such a query can be answered by reading that
    /// collection's arrangement directly, with no dataflow.
    pub fn as_simple_read(&self) -> Option<GlobalId> {
        match self {
            RelExpr::Get { id, .. } => Some(*id),
            RelExpr::Map { input, .. } | RelExpr::Filter { input, .. } | RelExpr::Project { input, .. } => input.as_simple_read(),
            _ => None,
        }
    }
}

/// What happens to a result set after it is read: ORDER BY, LIMIT/OFFSET and the final
/// projection, applied once to a peek's rows instead of being maintained.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RowSetFinishing {
    /// Sort keys.
    pub order_by: Vec<ColumnOrder>,
    /// Maximum rows.
    pub limit: Option<usize>,
    /// Rows to skip.
    pub offset: usize,
    /// Columns to return, in order.
    pub project: Vec<usize>,
}

impl RowSetFinishing {
    /// Sorts, slices and projects rows (multiplicities already expanded).
    pub fn finish(&self, mut rows: Vec<Row>) -> Vec<Row> {
        if !self.order_by.is_empty() {
            rows.sort_by(|a, b| ColumnOrder::compare_rows(&self.order_by, a, b));
        }
        let limit = self.limit.unwrap_or(usize::MAX);
        rows.into_iter()
            .skip(self.offset)
            .take(limit)
            .map(|r| r.project(&self.project))
            .collect()
    }
}
