//! Rendering a [`RelExpr`] into differential operators.
//!
//! Every operator produces two collections: rows, and evaluation errors. Errors are data,
//! so that a view whose definition fails on some row (division by zero) reports the error
//! when read instead of crashing a worker.
//!
//! Rendering is generic over the scope's timestamp so that WITH RECURSIVE can render its step
//! inside an iterative scope (`Product<Timestamp, u64>`); [`RenderTime`] supplies what only
//! the outer scope can do (import arrangements, start an iteration).

use crate::accumulate::Accumulable;
use crate::hierarchical::{self, Buckets};
use crate::spines::{arrange_keyed, arrange_rows, reduce_rows, threshold_rows, RowRowSpine, RowSpine};
use differential_dataflow::lattice::Lattice;
use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::operators::iterate::Iterate;
use differential_dataflow::trace::implementations::KeySpine;
use differential_dataflow::{AsCollection, VecCollection};
use riffle_expr::{AggregateExpr, ColumnOrder, EvalError, Extended, JoinKind, RelExpr, ScalarExpr};
use riffle_repr::{Datum, DatumRef, Diff, GlobalId, Row, RowRef, Timestamp};
use std::collections::BTreeMap;
use timely::dataflow::operators::ToStream;
use timely::dataflow::Scope;
use timely::order::Product;
use timely::progress::Antichain;

/// The system table holding each model's current version (`riffle_model_current`, id s2).
pub const MODEL_VERSIONS: u64 = 2;

/// An arrangement of rows by the whole row.
pub type RowTrace = TraceAgent<RowSpine<Timestamp>>;
/// An arrangement of errors.
pub type ErrTrace = TraceAgent<KeySpine<EvalError, Timestamp, Diff>>;
/// An arrangement of rows by key columns (an index).
pub type IndexTrace = TraceAgent<RowRowSpine<Timestamp>>;

/// Rows arranged by a key row, as a join reads them.
pub type Keyed<'s, T> = Arranged<'s, TraceAgent<RowRowSpine<T>>>;

/// Rows of a rendered plan.
pub type Rows<'s, T = Timestamp> = VecCollection<'s, T, Row, Diff>;
/// Errors of a rendered plan.
pub type Errs<'s, T = Timestamp> = VecCollection<'s, T, EvalError, Diff>;

/// A monotonic function moving times forward.
pub type Delay = std::rc::Rc<dyn Fn(Timestamp) -> Timestamp>;

/// An installed index: a collection's rows arranged by some of its columns.
pub struct Index {
    /// The indexed collection.
    pub on: GlobalId,
    /// The key columns, in key order.
    pub keys: Vec<usize>,
    /// The arrangement: key row → full row.
    pub trace: IndexTrace,
}

/// The traces a dataflow may import.
pub struct Traces<'t> {
    /// Row traces by collection.
    pub rows: &'t mut BTreeMap<GlobalId, (RowTrace, ErrTrace)>,
    /// Indexes by id; a join whose input is an indexed collection, keyed by exactly the
    /// index's columns, reads the index's arrangement instead of building its own.
    pub indexes: &'t mut BTreeMap<GlobalId, Index>,
}

/// The timestamps rendering works in: the dataflow's own, and one level of iteration.
pub trait RenderTime: timely::progress::Timestamp + Lattice + Ord + Clone + Sized + 'static {
    /// Imports a stored collection's arrangements (only the outer scope can).
    fn import<'s>(cx: &mut RenderContext<'s, '_, Self>, id: GlobalId) -> Option<(Rows<'s, Self>, Errs<'s, Self>)>;
    /// Imports the arrangement of an index on `id` keyed by exactly the columns `keys`, if one
    /// is installed (only the outer scope can, and not under a refresh delay).
    fn import_index<'s>(cx: &mut RenderContext<'s, '_, Self>, id: GlobalId, keys: &[usize]) -> Option<Keyed<'s, Self>>;
    /// Renders a temporal filter (only in the dataflow's own timestamps).
    fn temporal<'s>(
        cx: &RenderContext<'s, '_, Self>,
        rows: Rows<'s, Self>,
        lower: &[ScalarExpr],
        upper: &[ScalarExpr],
    ) -> (Rows<'s, Self>, Errs<'s, Self>);
    /// Renders WITH RECURSIVE: the fixpoint of `base ∪ step(local)`.
    fn recurse<'s>(
        cx: &mut RenderContext<'s, '_, Self>,
        local: u64,
        base: &RelExpr,
        step: &RelExpr,
        distinct: bool,
    ) -> (Rows<'s, Self>, Errs<'s, Self>);
    /// This time, advanced to at least the outer time `ts`.
    fn at_least(&self, ts: Timestamp) -> Self;
}

impl RenderTime for Timestamp {
    fn at_least(&self, ts: Timestamp) -> Self {
        (*self).max(ts)
    }

    fn temporal<'s>(_cx: &RenderContext<'s, '_, Self>, rows: Rows<'s>, lower: &[ScalarExpr], upper: &[ScalarExpr]) -> (Rows<'s>, Errs<'s>) {
        use timely::dataflow::operators::vec::Map as _;
        let (lower, upper) = (lower.to_vec(), upper.to_vec());
        // Bounds are timestamptz (microseconds); logical times are milliseconds.
        let bound = |e: &ScalarExpr, row: &Row| -> Result<Option<u64>, EvalError> {
            match e.eval_on(row)? {
                Datum::TimestampTz(us) | Datum::Timestamp(us) => Ok(Some(us.div_euclid(1000).max(0) as u64)),
                Datum::Null => Ok(None),
                other => Err(EvalError::InvalidArgument(format!(
                    "temporal filter bound is not a timestamp: {other:?}"
                ))),
            }
        };
        let updates = rows.inner.flat_map(move |(row, time, diff): (Row, Timestamp, Diff)| {
            let mut out: Vec<(Result<Row, EvalError>, Timestamp, Diff)> = Vec::new();
            let mut from = time;
            let mut until = u64::MAX;
            for e in &lower {
                match bound(e, &row) {
                    Ok(Some(b)) => from = from.max(b),
                    Ok(None) => return out, // a NULL bound never holds
                    Err(err) => {
                        out.push((Err(err), time, diff));
                        return out;
                    }
                }
            }
            for e in &upper {
                match bound(e, &row) {
                    Ok(Some(b)) => until = until.min(b),
                    Ok(None) => return out,
                    Err(err) => {
                        out.push((Err(err), time, diff));
                        return out;
                    }
                }
            }
            if from < until {
                out.push((Ok(row.clone()), from, diff));
                if until != u64::MAX {
                    out.push((Ok(row), until, -diff));
                }
            }
            out
        });
        split(updates.as_collection())
    }

    fn import<'s>(cx: &mut RenderContext<'s, '_, Self>, id: GlobalId) -> Option<(Rows<'s>, Errs<'s>)> {
        let (rows, errs) = cx.traces.as_mut()?.rows.get_mut(&id)?;
        let (r, e) = match cx.as_of {
            Some(ts) => {
                let (since, until) = (Antichain::from_elem(ts), Antichain::new());
                (
                    rows.import_frontier_core(cx.scope, "Snapshot", since.clone(), until.clone())
                        .0
                        .as_collection(|k: &RowRef, _| k.to_owned()),
                    errs.import_frontier_core(cx.scope, "Snapshot", since, until)
                        .0
                        .as_collection(|k, _| k.clone()),
                )
            }
            None => (
                rows.import(cx.scope).as_collection(|k: &RowRef, _| k.to_owned()),
                errs.import(cx.scope).as_collection(|k, _| k.clone()),
            ),
        };
        Some(match &cx.delay {
            // Changes move to the next refresh and are consolidated there: they reach the
            // operators (a model call scores them) once per refresh, in one batch, and a row
            // inserted and deleted between two refreshes never does.
            Some(delay) => {
                let (d1, d2) = (delay.clone(), delay.clone());
                (r.delay(move |t| d1(*t)).consolidate(), e.delay(move |t| d2(*t)).consolidate())
            }
            None => (r, e),
        })
    }

    fn import_index<'s>(cx: &mut RenderContext<'s, '_, Self>, id: GlobalId, keys: &[usize]) -> Option<Keyed<'s, Self>> {
        if cx.delay.is_some() {
            return None;
        }
        let (index_id, index) = cx
            .traces
            .as_mut()?
            .indexes
            .iter_mut()
            .find(|(_, ix)| ix.on == id && ix.keys == keys)?;
        let arranged = index.trace.import_named(cx.scope, "IndexSource");
        if !cx.imported_indexes.contains(index_id) {
            cx.imported_indexes.push(*index_id);
        }
        Some(arranged)
    }

    fn recurse<'s>(
        cx: &mut RenderContext<'s, '_, Self>,
        local: u64,
        base: &RelExpr,
        step: &RelExpr,
        distinct: bool,
    ) -> (Rows<'s>, Errs<'s>) {
        let (b, be) = cx.render(base);
        // Everything the step reads is imported out here and entered into the loop.
        for id in step.depends_on() {
            cx.get(id);
        }
        let bound = cx.bound.clone();
        let locals = cx.locals.clone();
        let worker_index = cx.worker_index;
        let step = step.clone();
        let buckets = cx.buckets.clone();
        let seed = b.map(Ok).concat(be.map(Err));
        let seed_inner = seed.clone();
        let result = seed.iterate(move |inner, x| {
            let enter = |(r, e): &(Rows<'s>, Errs<'s>)| (r.clone().enter(inner), e.clone().enter(inner));
            let mut icx = RenderContext {
                delay: None,
                as_of: None,
                buckets: buckets.clone(),
                scope: inner,
                traces: None,
                bound: bound.iter().map(|(k, v)| (*k, enter(v))).collect(),
                locals: locals.iter().map(|(k, v)| (*k, enter(v))).collect(),
                memo: Default::default(),
                imported_indexes: Vec::new(),
                worker_index,
            };
            icx.locals.insert(local, split(x));
            let (s, se) = icx.render(&step);
            let all = seed_inner.enter(inner).concat(s.map(Ok)).concat(se.map(Err));
            if distinct {
                all.distinct_core::<Diff>()
            } else {
                all.consolidate()
            }
        });
        split(result)
    }
}

impl RenderTime for Product<Timestamp, u64> {
    fn at_least(&self, ts: Timestamp) -> Self {
        Product::new(self.outer.max(ts), self.inner)
    }

    fn temporal<'s>(
        cx: &RenderContext<'s, '_, Self>,
        _rows: Rows<'s, Self>,
        _lower: &[ScalarExpr],
        _upper: &[ScalarExpr],
    ) -> (Rows<'s, Self>, Errs<'s, Self>) {
        let err = EvalError::FeatureNotSupported("mz_now() inside WITH RECURSIVE".into());
        (cx.constant(Vec::new()), cx.constant(vec![(err, 1)]))
    }

    fn import<'s>(_cx: &mut RenderContext<'s, '_, Self>, _id: GlobalId) -> Option<(Rows<'s, Self>, Errs<'s, Self>)> {
        None
    }

    fn import_index<'s>(_cx: &mut RenderContext<'s, '_, Self>, _id: GlobalId, _keys: &[usize]) -> Option<Keyed<'s, Self>> {
        None
    }

    fn recurse<'s>(
        cx: &mut RenderContext<'s, '_, Self>,
        _local: u64,
        _base: &RelExpr,
        _step: &RelExpr,
        _distinct: bool,
    ) -> (Rows<'s, Self>, Errs<'s, Self>) {
        let err = EvalError::InvalidArgument("nested WITH RECURSIVE is not supported".into());
        (cx.constant(Vec::new()), cx.constant(vec![(err, 1)]))
    }
}

/// State for rendering one dataflow.
pub struct RenderContext<'s, 't, T: RenderTime = Timestamp> {
    /// Applied to the times of every imported collection (a view with `REFRESH EVERY` holds
    /// its inputs' changes back to the next refresh).
    pub delay: Option<Delay>,
    /// A transient query's read time: imported collections present everything at or before it
    /// at it (differential's `import_frontier`, no copy), so the query's operators see its
    /// snapshot as one time and each reduction runs once. Read over several times, a reduction
    /// whose result at the later time equals the earlier one by value but not in form (`avg`
    /// of `2` over one row is 2.00000000000000000000, over two 2.0000000000000000) would keep
    /// the earlier form, since rows compare by value.
    pub as_of: Option<Timestamp>,
    /// Which reductions and top-k are computed in buckets (see `crate::hierarchical`): in a
    /// maintained dataflow those without a group key (one group of the whole input), and
    /// grouped ones when the view gives `EXPECTED GROUP SIZE`; in a transient query none,
    /// since it reduces each group once and the extra levels would only cost.
    pub buckets: Buckets,
    scope: Scope<'s, T>,
    traces: Option<Traces<'t>>,
    bound: BTreeMap<GlobalId, (Rows<'s, T>, Errs<'s, T>)>,
    locals: BTreeMap<u64, (Rows<'s, T>, Errs<'s, T>)>,
    /// Subplans already rendered in this dataflow, by their printed form: a subplan that
    /// occurs twice (Nexmark q5's per-window counts feed both sides of its join) is rendered
    /// once and its collection shared.
    memo: std::collections::HashMap<String, (Rows<'s, T>, Errs<'s, T>)>,
    /// The indexes whose arrangements this dataflow reads (see [`Traces::indexes`]).
    pub imported_indexes: Vec<GlobalId>,
    worker_index: usize,
}

impl<'s, 't> RenderContext<'s, 't, Timestamp> {
    /// A context rendering into `scope`, importing from `traces`.
    pub fn new(scope: Scope<'s, Timestamp>, traces: Traces<'t>, worker_index: usize) -> Self {
        RenderContext {
            delay: None,
            as_of: None,
            buckets: Buckets::for_view(None),
            scope,
            traces: Some(traces),
            bound: BTreeMap::new(),
            locals: BTreeMap::new(),
            memo: Default::default(),
            imported_indexes: Vec::new(),
            worker_index,
        }
    }
}

impl<'s, 't, T: RenderTime> RenderContext<'s, 't, T> {
    fn get(&mut self, id: GlobalId) -> (Rows<'s, T>, Errs<'s, T>) {
        if let Some(c) = self.bound.get(&id) {
            return c.clone();
        }
        let imported = match T::import(self, id) {
            Some(c) => c,
            None => {
                // The worker checks inputs before rendering; this is a dropped input.
                let err = EvalError::InvalidArgument(format!("relation {id} is not available"));
                (self.constant(Vec::new()), self.constant(vec![(err, 1)]))
            }
        };
        self.bound.insert(id, imported.clone());
        imported
    }

    fn constant<D: differential_dataflow::Data + timely::ExchangeData>(&self, items: Vec<(D, Diff)>) -> VecCollection<'s, T, D, Diff> {
        // Constants enter once, on worker 0; other workers contribute nothing.
        let items: Vec<(D, T, Diff)> = if self.worker_index == 0 {
            items.into_iter().map(|(d, r)| (d, T::minimum(), r)).collect()
        } else {
            Vec::new()
        };
        items.to_stream(self.scope).as_collection()
    }

    fn empty_errs(&self) -> Errs<'s, T> {
        self.constant(Vec::new())
    }

    /// Renders a plan, reusing the collection of an identical subplan rendered before in this
    /// dataflow. Subplans that read a WITH RECURSIVE binding are not shared: the binding means
    /// different collections inside and outside its loop.
    pub fn render(&mut self, plan: &RelExpr) -> (Rows<'s, T>, Errs<'s, T>) {
        let key = format!("{plan:?}");
        if key.contains("LocalGet {") {
            return self.render_node(plan);
        }
        if let Some(hit) = self.memo.get(&key) {
            return hit.clone();
        }
        let rendered = self.render_node(plan);
        self.memo.insert(key, rendered.clone());
        rendered
    }

    /// One input of a join arranged by its join keys: an installed index's arrangement when
    /// the input is a stored collection and the keys are exactly the index's columns (shared,
    /// nothing new is built), else `rows` keyed and arranged here.
    fn keyed_side(&mut self, plan: &RelExpr, rows: &Rows<'s, T>, keys: Vec<ScalarExpr>) -> (Keyed<'s, T>, Errs<'s, T>, bool) {
        if let Some((id, columns)) = RelExpr::join_input_index_key(plan, &keys) {
            if let Some(arranged) = T::import_index(self, id, &columns) {
                return (arranged, self.empty_errs(), true);
            }
        }
        let (keyed, errs) = keyed(rows.clone(), keys);
        (arrange_keyed(keyed, "ArrangeByKey"), errs, false)
    }

    fn render_node(&mut self, plan: &RelExpr) -> (Rows<'s, T>, Errs<'s, T>) {
        match plan {
            RelExpr::Get { id, .. } => self.get(*id),
            RelExpr::LocalGet { id, .. } => match self.locals.get(id) {
                Some(c) => c.clone(),
                None => {
                    let err = EvalError::InvalidArgument("recursive reference outside its WITH RECURSIVE".into());
                    (self.constant(Vec::new()), self.constant(vec![(err, 1)]))
                }
            },
            RelExpr::Recursive { id, base, step, distinct } => T::recurse(self, *id, base, step, *distinct),
            RelExpr::Constant { rows, .. } => (self.constant(rows.clone()), self.empty_errs()),
            RelExpr::Map { input, scalars } if scalars.iter().any(riffle_expr::calls_model) => {
                // Model calls: each message of updates is scored as one batch. Each row is first
                // joined with the current version of every model it calls (the system table
                // `riffle_model_current`), so replacing a model re-scores the rows: the old
                // version's rows are retracted and the new version's inserted.
                use timely::dataflow::channels::pact::Pipeline;
                use timely::dataflow::operators::generic::operator::Operator;
                let (mut rows, errs) = self.render(input);
                let scalars = scalars.clone();
                let mut models = Vec::new();
                for s in &scalars {
                    riffle_expr::models_called(s, &mut models);
                }
                let versioned = match T::import(self, GlobalId::system(MODEL_VERSIONS)) {
                    Some((versions, _)) => {
                        for model in &models {
                            let name = Datum::String(model.clone());
                            let current = versions
                                .clone()
                                .flat_map(move |r: Row| (r.get(0) == name).then(|| ((), r.get(1).to_datum())));
                            rows = rows
                                .map(|r| ((), r))
                                .join(current)
                                .map(|((), (r, v)): ((), (Row, Datum))| r.with_datums([&v]));
                        }
                        true
                    }
                    // Inside WITH RECURSIVE: the current version, unversioned.
                    None => false,
                };
                let scored = rows.inner.unary(Pipeline, "MapScored", move |_, _| {
                    // Versioned rows (all on this worker: the version join's key is the model)
                    // remember their scores while they are present, so a retraction recalls the
                    // prediction instead of running the model again.
                    let mut recall: std::collections::HashMap<Row, (Result<Row, EvalError>, Diff)> = Default::default();
                    move |input, output| {
                        input.for_each(|time, data: &mut Vec<(Row, T, Diff)>| {
                            let updates = std::mem::take(data);
                            let mut results: Vec<Option<Result<Row, EvalError>>> = Vec::with_capacity(updates.len());
                            let mut pending = Vec::new();
                            for (i, (row, _, diff)) in updates.iter().enumerate() {
                                match recall.get_mut(row) {
                                    Some((result, count)) if versioned => {
                                        results.push(Some(result.clone()));
                                        *count += diff;
                                        if *count <= 0 {
                                            recall.remove(row);
                                        }
                                    }
                                    _ => {
                                        results.push(None);
                                        pending.push(i);
                                    }
                                }
                            }
                            let rows: Vec<Row> = pending.iter().map(|i| updates[*i].0.clone()).collect();
                            let scored = if versioned {
                                riffle_expr::eval_map_batch_versioned(&scalars, &models, rows)
                            } else {
                                riffle_expr::eval_map_batch(&scalars, rows)
                            };
                            for (i, result) in pending.into_iter().zip(scored) {
                                let (row, _, diff) = &updates[i];
                                if versioned && *diff > 0 {
                                    recall.entry(row.clone()).or_insert_with(|| (result.clone(), 0)).1 += diff;
                                }
                                results[i] = Some(result);
                            }
                            let mut session = output.session(&time);
                            for (result, (_, t, d)) in results.into_iter().zip(updates) {
                                session.give((result.expect("every update evaluated"), t, d));
                            }
                        });
                    }
                });
                let (ok, err) = split(scored.as_collection());
                (ok, errs.concat(err))
            }
            RelExpr::Map { input, scalars } => {
                let (rows, errs) = self.render(input);
                let scalars = scalars.clone();
                let input_arity = input.arity();
                let (ok, err) = split(rows.map(move |row| {
                    let arity = input_arity.unwrap_or_else(|| row.arity());
                    let mut extra = Vec::with_capacity(scalars.len());
                    for s in &scalars {
                        let v = s.eval_on(&Extended {
                            row: &row,
                            arity,
                            extra: &extra,
                        })?;
                        extra.push(v);
                    }
                    Ok(row.with_datums(&extra))
                }));
                (ok, errs.concat(err))
            }
            RelExpr::Filter { input, predicates } => {
                let (rows, errs) = self.render(input);
                let predicates = predicates.clone();
                let (ok, err) = split(rows.flat_map(move |row| {
                    for p in &predicates {
                        match p.holds(&row) {
                            Ok(true) => {}
                            Ok(false) => return None,
                            Err(e) => return Some(Err(e)),
                        }
                    }
                    Some(Ok(row))
                }));
                (ok, errs.concat(err))
            }
            RelExpr::Project { input, outputs } => {
                let (rows, errs) = self.render(input);
                let outputs = outputs.clone();
                (rows.map(move |row: Row| row.project(&outputs)), errs)
            }
            RelExpr::Join {
                left,
                right,
                keys,
                residual,
                kind,
                right_arity,
            } => {
                let (l, le) = self.render(left);
                let (r, re) = self.render(right);
                let (lk, rk): (Vec<ScalarExpr>, Vec<ScalarExpr>) = keys.iter().cloned().unzip();
                let (larr, lerr, l_indexed) = self.keyed_side(left, &l, lk);
                let (rarr, rerr, r_indexed) = self.keyed_side(right, &r, rk);
                // Outer joins need each match's sides to find the rows that matched nothing;
                // inner joins only the joined row.
                let outer = matches!(kind, JoinKind::LeftOuter | JoinKind::FullOuter);
                let mut matched = larr.join_core(rarr, move |key: &RowRef, lrow: &RowRef, rrow: &RowRef| {
                    // An index holds rows with NULL keys, which equal nothing.
                    if key.iter().any(|d| d.is_null()) {
                        return None;
                    }
                    let joined = Row::build(|p| {
                        p.extend_by_row(lrow);
                        p.extend_by_row(rrow);
                    });
                    let sides = outer.then(|| (lrow.to_owned(), rrow.to_owned()));
                    Some((sides, joined))
                });
                if let Some(ts) = self.as_of.filter(|_| l_indexed || r_indexed) {
                    // An index is imported as it is, not advanced to the read time like other
                    // imports (see `as_of`): advance what the join read from it instead.
                    matched = matched.delay(move |t| t.at_least(ts));
                }
                let (matched, resid_err) = match residual.clone() {
                    None => (matched, self.empty_errs()),
                    Some(pred) => split(matched.flat_map(move |(sides, row)| match pred.holds(&row) {
                        Ok(true) => Some(Ok((sides, row))),
                        Ok(false) => None,
                        Err(e) => Some(Err(e)),
                    })),
                };
                let errs = le.concat(re).concat(lerr).concat(rerr).concat(resid_err);
                let mut result = matched.clone().map(|(_, row)| row);
                if outer {
                    let matched_left = matched.clone().flat_map(|(sides, _)| sides.map(|(lrow, _)| lrow));
                    result = result.concat(unmatched(l, matched_left, 0, *right_arity));
                }
                if *kind == JoinKind::FullOuter {
                    let left_arity = left.arity().expect("planned relations have known arities");
                    let matched_right = matched.flat_map(|(sides, _)| sides.map(|(_, rrow)| rrow));
                    result = result.concat(unmatched(r, matched_right, left_arity, 0));
                }
                (result, errs)
            }
            RelExpr::Reduce {
                input,
                group_key,
                aggregates,
                global,
            } => {
                let (rows, errs) = self.render(input);
                let group_key_arity = group_key.len();
                let group_key = group_key.clone();
                let aggs = aggregates.clone();
                let (pairs, perr) = split(rows.map(move |row| {
                    let key = row.project(&group_key);
                    let mut vals = Vec::with_capacity(aggs.len());
                    for a in &aggs {
                        vals.push(a.expr.eval_on(&row)?);
                    }
                    Ok((key, Row::new(vals)))
                }));
                let levels = self.buckets.levels(group_key_arity > 0).to_vec();
                let (ok, rerr) = reduce(pairs, aggregates, group_key_arity, &levels);
                let errs = errs.concat(perr).concat(rerr);
                if *global {
                    // A global aggregate has one row even over no input: add the default row
                    // and take it away again whenever the aggregate produced its own row.
                    let default: Row = aggregates.iter().map(|a| a.func.empty_value()).collect();
                    let d2 = default.clone();
                    let present = ok.clone().map(move |_| d2.clone()).negate();
                    let defaults = self.constant(vec![(default, 1)]);
                    (ok.concat(defaults).concat(present), errs)
                } else {
                    (ok, errs)
                }
            }
            RelExpr::FlatMap { input, func, args } => {
                let (rows, errs) = self.render(input);
                let (func, args) = (func.clone(), args.clone());
                let (ok, ferr) = split(rows.flat_map(move |row| {
                    let values: Result<Vec<Datum>, EvalError> = args.iter().map(|a| a.eval_on(&row)).collect();
                    let produced = values.and_then(|v| func.eval(&v));
                    match produced {
                        Ok(items) => items.into_iter().map(|d| Ok(row.with_datums([&d]))).collect::<Vec<_>>(),
                        Err(e) => vec![Err(e)],
                    }
                }));
                (ok, errs.concat(ferr))
            }
            RelExpr::TemporalFilter { input, lower, upper } => {
                let (rows, errs) = self.render(input);
                let (ok, terr) = T::temporal(self, rows, lower, upper);
                (ok, errs.concat(terr))
            }
            RelExpr::Negate { input } => {
                let (rows, errs) = self.render(input);
                (rows.negate(), errs)
            }
            RelExpr::Threshold { input } => {
                let (rows, errs) = self.render(input);
                (threshold_rows(rows, "Threshold", |count| count.max(0)), errs)
            }
            RelExpr::Distinct { input } => {
                let (rows, errs) = self.render(input);
                (threshold_rows(rows, "Distinct", |_| 1), errs)
            }
            RelExpr::Union { inputs } => {
                let mut parts = inputs.iter().map(|i| self.render(i));
                let (mut rows, mut errs) = parts.next().expect("union has inputs");
                for (r, e) in parts {
                    rows = rows.concat(r);
                    errs = errs.concat(e);
                }
                (rows, errs)
            }
            RelExpr::TopK {
                input,
                group_key,
                order_by,
                limit,
                offset,
            } => {
                let (rows, errs) = self.render(input);
                let (limit, offset) = (*limit, *offset);
                let mut groups = by_key(rows, group_key.clone());
                let levels = self.buckets.levels(!group_key.is_empty());
                if let Some(limit) = limit.filter(|_| !levels.is_empty()) {
                    // Only a bucket's first offset + limit rows can be among its group's.
                    let order = order_by.clone();
                    let keep = offset.saturating_add(limit);
                    groups = hierarchical::bucketed(groups, levels, move |input, output| top_k(input, &order, 0, Some(keep), output));
                }
                let order = order_by.clone();
                let top = reduce_rows(
                    groups,
                    "TopK",
                    move |_k, input: &[(&RowRef, Diff)], output: &mut Vec<(Row, Diff)>| top_k(input, &order, offset, limit, output),
                );
                (top, errs)
            }
            RelExpr::Window {
                input,
                partition_by,
                order_by,
                funcs,
            } => {
                let (rows, errs) = self.render(input);
                let order = order_by.clone();
                let funcs = funcs.clone();
                let windowed = reduce_rows(
                    by_key(rows, partition_by.clone()),
                    "Window",
                    move |_k, input: &[(&RowRef, Diff)], output: &mut Vec<(Result<Row, EvalError>, Diff)>| {
                        // Each copy of a duplicated row is its own window row (row_number differs).
                        let partition: Vec<Row> = sorted(input, &order)
                            .into_iter()
                            .flat_map(|(r, n)| std::iter::repeat_n(r.to_owned(), n as usize))
                            .collect();
                        let mut columns = Vec::with_capacity(funcs.len());
                        for f in &funcs {
                            match f.compute(&partition, &order) {
                                Ok(values) => columns.push(values),
                                Err(e) => {
                                    output.push((Err(e), 1));
                                    return;
                                }
                            }
                        }
                        for (i, row) in partition.into_iter().enumerate() {
                            output.push((Ok(row.with_datums(columns.iter().map(|c| &c[i]))), 1));
                        }
                    },
                );
                let (ok, werr) = split(windowed);
                (ok, errs.concat(werr))
            }
        }
    }
}

/// Rows `offset..offset + limit` of a group in `order`, counting duplicates.
fn top_k(input: &[(&RowRef, Diff)], order: &[ColumnOrder], offset: usize, limit: Option<usize>, output: &mut Vec<(Row, Diff)>) {
    let mut skip = offset.min(i64::MAX as usize) as i64;
    let mut take = limit.map_or(i64::MAX, |l| l.min(i64::MAX as usize) as i64);
    for (row, mut n) in sorted(input, order) {
        let skipped = n.min(skip);
        skip -= skipped;
        n -= skipped;
        let taken = n.min(take);
        take -= taken;
        if taken > 0 {
            output.push((row.to_owned(), taken));
        }
        if take == 0 {
            break;
        }
    }
}

/// Renders a reduction of `(key, values)` pairs (`values`: each aggregate's argument) into
/// rows of the key followed by the aggregates: counts and integer sums as running totals;
/// given bucket `levels`, `min`/`max`/`bool_and`/`bool_or` in buckets, both kinds side by side
/// (joined on the key) when a reduction mixes them; anything else by the general reduction.
fn reduce<'s, T: RenderTime>(
    pairs: VecCollection<'s, T, (Row, Row), Diff>,
    aggregates: &[AggregateExpr],
    key_arity: usize,
    levels: &[u64],
) -> (VecCollection<'s, T, Row, Diff>, Errs<'s, T>) {
    if let Some(totals) = Accumulable::plan(aggregates) {
        return split(totals.render(pairs, key_arity));
    }
    if levels.is_empty() {
        return split(reduce_groups(pairs, aggregates.to_vec()));
    }
    if hierarchical::all_hierarchical(aggregates) {
        return split(hierarchical::render_aggregates(pairs, aggregates.to_vec(), levels));
    }
    // Which aggregates are hierarchical; the rest must all be totals to be split off.
    let (hier, tot): (Vec<usize>, Vec<usize>) = (0..aggregates.len()).partition(|&i| hierarchical::is_hierarchical(&aggregates[i].func));
    let pick = |idx: &[usize]| idx.iter().map(|&i| aggregates[i].clone()).collect::<Vec<_>>();
    let Some(totals) = Accumulable::plan(&pick(&tot)) else {
        return split(reduce_groups(pairs, aggregates.to_vec()));
    };
    let (tot_idx, hier_idx) = (tot.clone(), hier.clone());
    let (t_ok, t_err) = split(totals.render(pairs.clone().map(move |(k, v)| (k, v.project(&tot_idx))), key_arity));
    let (h_ok, h_err) = split(hierarchical::render_aggregates(
        pairs.map(move |(k, v)| (k, v.project(&hier_idx))),
        pick(&hier),
        levels,
    ));
    let key_cols: Vec<usize> = (0..key_arity).collect();
    let keyed = move |width: usize| {
        let key_cols = key_cols.clone();
        let value_cols: Vec<usize> = (key_arity..key_arity + width).collect();
        move |row: Row| (row.project(&key_cols), row.project(&value_cols))
    };
    // Each aggregate's place: (from the totals part, its column there).
    let mut places = vec![(false, 0); aggregates.len()];
    for (j, &i) in tot.iter().enumerate() {
        places[i] = (true, j);
    }
    for (j, &i) in hier.iter().enumerate() {
        places[i] = (false, j);
    }
    let joined = arrange_keyed(t_ok.map(keyed(tot.len())), "ArrangeByKey").join_core(
        arrange_keyed(h_ok.map(keyed(hier.len())), "ArrangeByKey"),
        move |key: &RowRef, t: &RowRef, h: &RowRef| {
            Some(Row::build(|p| {
                p.extend_by_row(key);
                for &(from_totals, j) in &places {
                    p.push(if from_totals { t.get(j) } else { h.get(j) });
                }
            }))
        },
    );
    (joined, t_err.concat(h_err))
}

/// The general reduction: each group's aggregates computed from all of its rows whenever it
/// changes.
fn reduce_groups<'s, T: RenderTime>(
    pairs: VecCollection<'s, T, (Row, Row), Diff>,
    aggs: Vec<AggregateExpr>,
) -> VecCollection<'s, T, Result<Row, EvalError>, Diff> {
    reduce_rows(
        pairs,
        "Reduce",
        move |key: &RowRef, input: &[(&RowRef, Diff)], output: &mut Vec<(Result<Row, EvalError>, Diff)>| {
            // Each aggregate's input column, read from the rows in one pass.
            let mut columns: Vec<Vec<(DatumRef, Diff)>> = aggs.iter().map(|_| Vec::with_capacity(input.len())).collect();
            for (row, n) in input.iter().filter(|(_, n)| *n > 0) {
                for (column, d) in columns.iter_mut().zip(row.iter()) {
                    column.push((d, *n));
                }
            }
            let mut results = Vec::with_capacity(aggs.len());
            for (a, values) in aggs.iter().zip(&columns) {
                match a.func.eval_refs(values, a.distinct) {
                    Ok(d) => results.push(d),
                    Err(e) => {
                        output.push((Err(e), 1));
                        return;
                    }
                }
            }
            output.push((Ok(key.with_datums(&results)), 1));
        },
    )
}

/// Keys rows by the given columns (the group of a top-k or the partition of a window).
fn by_key<'s, T: RenderTime>(rows: Rows<'s, T>, key: Vec<usize>) -> VecCollection<'s, T, (Row, Row), Diff> {
    rows.map(move |row| (row.project(&key), row))
}

/// A group's rows with positive multiplicity, in the given order (ties broken by the whole row,
/// so that results are deterministic).
fn sorted<'a>(input: &[(&'a RowRef, Diff)], order: &[ColumnOrder]) -> Vec<(&'a RowRef, Diff)> {
    let mut all: Vec<(&RowRef, Diff)> = input.iter().filter(|(_, n)| *n > 0).map(|(r, n)| (*r, *n)).collect();
    all.sort_by(|a, b| ColumnOrder::compare_rows(order, a.0, b.0).then_with(|| a.0.cmp(b.0)));
    all
}

/// Rows of `side` that matched nothing, padded with NULLs before (`pad_before`) and after.
/// `matched` holds the side's rows once per match; rows are compared whole, so duplicates
/// of one row share their fate, as SQL requires.
fn unmatched<'s, T: RenderTime>(side: Rows<'s, T>, matched: Rows<'s, T>, pad_before: usize, pad_after: usize) -> Rows<'s, T> {
    let with_match = arrange_rows(threshold_rows(matched, "Distinct", |_| 1), "ArrangeBySelf");
    let matched_rows = arrange_rows(side.clone(), "ArrangeBySelf").join_core(with_match, |row: &RowRef, _, _| Some(row.to_owned()));
    side.concat(matched_rows.negate()).map(move |row| {
        Row::build(|p| {
            p.push_nulls(pad_before);
            p.extend_by_row(&row);
            p.push_nulls(pad_after);
        })
    })
}

/// Splits a collection of results into successes and errors.
fn split<'s, T: RenderTime, D>(results: VecCollection<'s, T, Result<D, EvalError>, Diff>) -> (VecCollection<'s, T, D, Diff>, Errs<'s, T>)
where
    D: differential_dataflow::Data + timely::ExchangeData,
{
    // One pass that moves each update to one of two outputs (timely's `ok_err`), rather than
    // two `flat_map`s over a shared stream, which would clone every update for each of them.
    use timely::dataflow::operators::core::OkErr;
    let (ok, err) = results.inner.ok_err::<Vec<_>, _, Vec<_>, _, _>(|(r, t, d)| match r {
        Ok(x) => Ok((x, t, d)),
        Err(e) => Err((e, t, d)),
    });
    (ok.as_collection(), err.as_collection())
}

/// Keys rows by join key expressions; rows whose key has a NULL never match and are dropped.
fn keyed<'s, T: RenderTime>(rows: Rows<'s, T>, keys: Vec<ScalarExpr>) -> (VecCollection<'s, T, (Row, Row), Diff>, Errs<'s, T>) {
    // Keys that are plain columns are cut from the row's bytes.
    if let Some(columns) = ScalarExpr::columns(&keys) {
        return split(rows.flat_map(move |row| {
            let key = row.project(&columns);
            (!key.iter().any(|d| d.is_null())).then_some(Ok((key, row)))
        }));
    }
    split(rows.flat_map(move |row| {
        let mut key = Vec::with_capacity(keys.len());
        for k in &keys {
            match k.eval_on(&row) {
                Ok(Datum::Null) => return None,
                Ok(d) => key.push(d),
                Err(e) => return Some(Err(e)),
            }
        }
        Some(Ok((Row::new(key), row)))
    }))
}
