//! Reads: SELECT, EXPLAIN and SUBSCRIBE, and how a read is answered.
//!
//! A read chooses its time under the coordinator (the read timestamp, or a checked `AS OF`),
//! then releases it and asks the compute workers. Three paths, cheapest first: a plan made of
//! constants is evaluated here; a filter on every key column of an index seeks the index; a
//! read of one stored collection (filtered or projected) is answered from its arrangement,
//! seeking the leading columns it fixes; anything else runs as a transient dataflow.

use super::{Adapter, Coordinator, Guard};
use crate::catalog::Catalog;
use crate::{AdapterError, ExecuteResponse, Session};
use riffle_compute::PeekTarget;
use riffle_expr::{EvalError, RelExpr, ScalarExpr};
use riffle_repr::{ColumnType, Datum, Diff, RelationDesc, Row, ScalarType, Timestamp};
use riffle_sql::{CatalogItem, ItemKind, SelectPlan, SessionCatalog, SubscribePlan};

impl Adapter {
    /// SELECT: at the read timestamp (a transaction block's snapshot), or at a retained
    /// `AS OF` time.
    pub(super) async fn sequence_select(
        &self,
        mut coord: Guard<'_>,
        session: &mut Session,
        select: SelectPlan,
    ) -> Result<ExecuteResponse, AdapterError> {
        let SelectPlan {
            plan,
            finishing,
            desc,
            as_of,
        } = select;
        let (plan, ts) = match as_of {
            Some(t) => {
                let ts = coord.check_as_of(&plan, t, false)?;
                (plan, ts)
            }
            None => self.read_in_session(&mut coord, session, plan).await,
        };
        let lookup = index_lookup(&coord.catalog, &plan);
        drop(coord);
        let rows = match lookup {
            // A point lookup: seek the index, then apply the query's steps to the hits.
            Some(target) => {
                tracing::debug!(?target, "point lookup through an index");
                let hits = self.compute.peek(target, ts).await?;
                expand(eval_over(&plan, hits)?)?
            }
            None => self.read(plan, ts).await?,
        };
        Ok(ExecuteResponse::Rows {
            desc,
            rows: finishing.finish(rows),
            tag: "SELECT",
        })
    }

    /// SUBSCRIBE: a subscription from the read timestamp, or from an `AS OF` time (which may
    /// lie in the future: the subscription waits for it).
    pub(super) fn sequence_subscribe(&self, coord: Guard<'_>, subscribe: SubscribePlan) -> Result<ExecuteResponse, AdapterError> {
        let SubscribePlan {
            plan,
            desc,
            snapshot,
            progress,
            as_of,
        } = subscribe;
        let ts = match as_of {
            Some(t) => coord.check_as_of(&plan, t, true)?,
            None => coord.timestamps.read_ts(),
        };
        drop(coord);
        let rx = self.compute.subscribe(plan, ts, snapshot);
        Ok(ExecuteResponse::Subscribe { desc, rx, progress })
    }

    /// Reads a plan at `ts`: straight from an arrangement when the plan is a stored
    /// collection (possibly filtered or projected), else through a transient dataflow.
    pub(super) async fn read(&self, plan: RelExpr, ts: Timestamp) -> Result<Vec<Row>, AdapterError> {
        expand(self.read_updates(plan, ts).await?)
    }

    /// Like [`Adapter::read`], keeping multiplicities (for writes that retract what they read).
    pub(super) async fn read_updates(&self, plan: RelExpr, ts: Timestamp) -> Result<Vec<(Row, Diff)>, AdapterError> {
        if let Some(rows) = eval_constant(&plan) {
            return Ok(rows?);
        }
        if let Some(id) = plan.as_simple_read() {
            // The workers apply the plan's steps as they read, and send only what passes.
            let seek = seek_prefix(&plan);
            return Ok(self.compute.peek(PeekTarget::Collection { id, plan, seek }, ts).await?);
        }
        Ok(self.compute.peek(PeekTarget::Plan(plan), ts).await?)
    }
}

impl Coordinator {
    /// How much history a stored collection keeps (an index: its collection's).
    fn retention(&self, id: riffle_repr::GlobalId) -> Timestamp {
        match self.catalog.get_by_id(id) {
            Some(CatalogItem {
                kind: ItemKind::Index { on, .. },
                ..
            }) => self.retention(*on),
            Some(item) => item.retain_history.unwrap_or(self.retain_default),
            None => 0,
        }
    }

    /// The earliest time every stored collection `plan` reads is still readable at.
    fn since(&self, plan: &RelExpr) -> Timestamp {
        let read_ts = self.timestamps.read_ts();
        plan.depends_on()
            .into_iter()
            .map(|id| {
                let from = self.readable_from.get(&id).copied().unwrap_or(read_ts);
                from.max(read_ts.saturating_sub(self.retention(id)))
            })
            .max()
            .unwrap_or(0)
    }

    /// Checks an `AS OF` time against what `plan`'s inputs retain. A SELECT may not read
    /// the future; a SUBSCRIBE may start there (it waits for the time to come).
    fn check_as_of(&self, plan: &RelExpr, ts: Timestamp, future_ok: bool) -> Result<Timestamp, AdapterError> {
        let since = self.since(plan);
        if ts < since {
            return Err(AdapterError::InvalidAsOf(format!(
                "time {ts} is no longer retained by every input: history starts at {since} (see RETAIN HISTORY FOR and --retain-history)"
            )));
        }
        let read_ts = self.timestamps.read_ts();
        if ts > read_ts && !future_ok {
            return Err(AdapterError::InvalidAsOf(format!(
                "time {ts} is in the future: the latest complete time is {read_ts}"
            )));
        }
        Ok(ts)
    }
}

/// EXPLAIN's lines as a one-column result.
pub(super) fn explain(lines: Vec<String>) -> ExecuteResponse {
    ExecuteResponse::Rows {
        desc: explain_desc(),
        rows: lines.into_iter().map(|l| Row::new(vec![Datum::String(l)])).collect(),
        tag: "EXPLAIN",
    }
}

/// EXPLAIN's one column.
pub(super) fn explain_desc() -> RelationDesc {
    RelationDesc::empty().with_column("QUERY PLAN", ColumnType::nullable(ScalarType::String))
}

/// Rows with multiplicities expanded; a negative multiplicity is a bug.
fn expand(rows: Vec<(Row, Diff)>) -> Result<Vec<Row>, AdapterError> {
    let mut out = Vec::new();
    for (row, diff) in rows {
        if diff < 0 {
            return Err(AdapterError::Internal(format!("negative multiplicity {diff} for {row:?}")));
        }
        for _ in 0..diff {
            out.push(row.clone());
        }
    }
    Ok(out)
}

/// A point lookup for a query that filters a stored collection on every key column of one of
/// its indexes with `column = constant`: the index arrangement answers it with a seek.
fn index_lookup(catalog: &Catalog, plan: &RelExpr) -> Option<PeekTarget> {
    let collection = plan.as_simple_read()?;
    let equal = constant_equalities(plan);
    catalog.items().into_iter().find_map(|item| match &item.kind {
        ItemKind::Index { on, keys } if *on == collection => {
            let key: Option<Row> = keys
                .iter()
                .map(|k| equal.iter().find(|(c, _)| c == k).map(|(_, d)| d.clone()))
                .collect();
            key.map(|key| PeekTarget::Index {
                index: item.id,
                collection,
                key,
            })
        }
        _ => None,
    })
}

/// The `column = constant` filters (non-NULL constants) of a direct read, on the read
/// collection's own columns: those below every projection (a Map only appends columns).
fn constant_equalities(plan: &RelExpr) -> Vec<(usize, Datum)> {
    let mut chain = Vec::new();
    let mut node = plan;
    while let RelExpr::Map { input, .. } | RelExpr::Filter { input, .. } | RelExpr::Project { input, .. } = node {
        chain.push(node);
        node = input;
    }
    let mut equal = Vec::new();
    for step in chain.iter().rev() {
        match step {
            RelExpr::Filter { predicates, .. } => {
                for p in predicates {
                    if let ScalarExpr::Call {
                        func: riffle_expr::Func::Eq,
                        args,
                    } = p
                    {
                        match (&args[0], &args[1]) {
                            (ScalarExpr::Column(c), ScalarExpr::Literal(d)) | (ScalarExpr::Literal(d), ScalarExpr::Column(c))
                                if !d.is_null() =>
                            {
                                equal.push((*c, d.clone()))
                            }
                            _ => {}
                        }
                    }
                }
            }
            RelExpr::Map { .. } => {}
            _ => break,
        }
    }
    equal
}

/// The leading columns a direct read fixes to constants (`WHERE a = 1 AND b = 'x'` for a
/// collection whose first columns are `a, b`), as a row: its arrangement, ordered by whole
/// rows, keeps the matching rows together from the first row at or after this prefix.
fn seek_prefix(plan: &RelExpr) -> Option<Row> {
    let equal = constant_equalities(plan);
    let prefix: Vec<Datum> = (0..)
        .map_while(|c| equal.iter().find(|(col, _)| *col == c).map(|(_, d)| d.clone()))
        .collect();
    (!prefix.is_empty()).then(|| Row::new(prefix))
}

/// Evaluates a plan made only of constants, maps, filters and projections, without a dataflow.
pub(super) fn eval_constant(plan: &RelExpr) -> Option<Result<Vec<(Row, Diff)>, EvalError>> {
    match plan {
        RelExpr::Constant { rows, .. } => Some(Ok(rows.clone())),
        RelExpr::Map { input, .. } | RelExpr::Filter { input, .. } | RelExpr::Project { input, .. } => {
            let base = match eval_constant(input)? {
                Ok(b) => b,
                Err(e) => return Some(Err(e)),
            };
            Some(eval_over(plan, base))
        }
        _ => None,
    }
}

/// Applies the map/filter/project steps above a collection read to its rows.
fn eval_over(plan: &RelExpr, base: Vec<(Row, Diff)>) -> Result<Vec<(Row, Diff)>, EvalError> {
    let mut out = Vec::with_capacity(base.len());
    for (row, d) in base {
        if let Some(r) = plan.eval_read(&row)? {
            out.push((r, d));
        }
    }
    Ok(out)
}
