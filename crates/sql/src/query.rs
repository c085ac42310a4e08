//! Planning queries: FROM, joins, WHERE, GROUP BY, SELECT lists, set operations, ORDER BY.

use crate::expr::{contains_aggregate, ExprCx, Grouping, Typed};
use crate::plan::{OuterRows, Planner};
use crate::scope::{Scope, ScopeItem};
use crate::subquery::{missing_keys, null_safe_keys, SubqueryCx};
use crate::window::WindowCx;
use crate::PlanError;
use riffle_expr::{ColumnOrder, Func, JoinKind, RelExpr, RowSetFinishing, ScalarExpr, TableFunc};
use riffle_repr::{ColumnType, Datum, Row, ScalarType};
use sqlparser::ast::{self, Expr, GroupByExpr, JoinConstraint, JoinOperator, SelectItem, SetExpr, SetOperator, SetQuantifier, TableFactor};
use std::cell::RefCell;

/// A planned query: its plan, output columns and the ORDER BY/LIMIT still to apply.
pub struct PlannedQuery {
    /// The relational plan (may carry hidden ORDER BY columns past `scope`).
    pub expr: RelExpr,
    /// Output columns.
    pub scope: Scope,
    /// ORDER BY/LIMIT/OFFSET and the projection to the visible columns.
    pub finishing: RowSetFinishing,
}

impl PlannedQuery {
    /// Folds the finishing into the plan, for queries used as relations (subqueries, views):
    /// LIMIT/OFFSET become a maintained top-k, ORDER BY alone is dropped.
    pub fn into_relation(self) -> (RelExpr, Scope) {
        let f = self.finishing;
        let mut expr = self.expr;
        if f.limit.is_some() || f.offset > 0 {
            // In a correlated subquery the limit applies per outer row (its leading columns).
            let group_key = self
                .scope
                .items
                .iter()
                .take_while(|i| i.outer)
                .enumerate()
                .map(|(i, _)| i)
                .collect();
            expr = RelExpr::TopK {
                input: Box::new(expr),
                group_key,
                order_by: f.order_by,
                limit: f.limit,
                offset: f.offset,
            };
        }
        let arity = self.scope.len();
        if f.project != (0..arity).collect::<Vec<_>>() || expr.arity() != Some(arity) {
            expr = project(expr, f.project);
        }
        (expr, self.scope)
    }
}

fn distinct(input: RelExpr) -> RelExpr {
    RelExpr::Distinct { input: Box::new(input) }
}

fn negate(input: RelExpr) -> RelExpr {
    RelExpr::Negate { input: Box::new(input) }
}

fn threshold(input: RelExpr) -> RelExpr {
    RelExpr::Threshold { input: Box::new(input) }
}

fn project(input: RelExpr, outputs: Vec<usize>) -> RelExpr {
    RelExpr::Project {
        input: Box::new(input),
        outputs,
    }
}

fn arity_of(scope: &Scope) -> usize {
    scope.len()
}

impl Planner<'_> {
    /// Plans a full query (WITH, body, ORDER BY, LIMIT).
    pub fn plan_query(&mut self, q: &ast::Query) -> Result<PlannedQuery, PlanError> {
        self.plan_query_over(q, None)
    }

    /// Plans a query whose SELECT body cross-joins `outer` into its FROM: the rows of the
    /// enclosing query that a correlated subquery is planned over. Its WITH bindings are
    /// planned without them.
    pub(crate) fn plan_query_over(&mut self, q: &ast::Query, outer: Option<OuterRows>) -> Result<PlannedQuery, PlanError> {
        let saved = self.ctes.len();
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                let name = cte.alias.name.value.clone();
                let recursive_union = match cte.query.body.as_ref() {
                    SetExpr::SetOperation {
                        left,
                        op: SetOperator::Union,
                        set_quantifier,
                        right,
                    } if with.recursive => Some((left, right, !matches!(set_quantifier, SetQuantifier::All))),
                    _ => None,
                };
                let (expr, mut scope) = match recursive_union {
                    Some((base, step, distinct)) => self.plan_recursive(&name, &cte.alias.columns, base, step, distinct)?,
                    None => self.plan_query(&cte.query)?.into_relation(),
                };
                for (item, col) in scope.items.iter_mut().zip(cte.alias.columns.iter()) {
                    item.name = col.name.value.clone();
                }
                self.ctes.push((name, expr, scope));
            }
        }
        let result = self.plan_query_body(q, outer);
        self.ctes.truncate(saved);
        result.map(|mut planned| {
            planned.expr = riffle_expr::transform::optimize(planned.expr);
            planned
        })
    }

    /// `name AS (base UNION [ALL] step)` in WITH RECURSIVE: `step` sees `name` as the rows
    /// found so far, and the result is the fixpoint (rendered with differential's iterate).
    fn plan_recursive(
        &mut self,
        name: &str,
        columns: &[ast::TableAliasColumnDef],
        base: &SetExpr,
        step: &SetExpr,
        distinct: bool,
    ) -> Result<(RelExpr, Scope), PlanError> {
        let (base_rel, mut scope) = self.plan_set_expr(base)?;
        for item in scope.items.iter_mut() {
            item.table = Some(name.to_string());
        }
        apply_column_aliases(&mut scope, columns);
        let id = self.next_local;
        self.next_local += 1;
        let arity = scope.len();
        self.ctes.push((name.to_string(), RelExpr::LocalGet { id, arity }, scope.clone()));
        let planned_step = self.plan_set_expr(step);
        self.ctes.pop();
        let (step_rel, step_scope) = planned_step?;
        if step_scope.len() != arity {
            return Err(PlanError::Syntax(format!(
                "each UNION query must have the same number of columns (recursive query \"{name}\")"
            )));
        }
        // The step's columns take the base's types, as PostgreSQL requires.
        let mut casts = Vec::new();
        for (i, (b, s)) in scope.items.iter().zip(step_scope.items.iter()).enumerate() {
            let t = Typed {
                expr: ScalarExpr::Column(i),
                typ: s.typ.scalar_type.clone(),
            };
            let cast = self.cast(t, &b.typ.scalar_type, false).map_err(|_| {
                PlanError::TypeMismatch(format!(
                    "recursive query \"{name}\" column {} has type {} in non-recursive term but type {} overall",
                    i + 1,
                    b.typ.scalar_type,
                    s.typ.scalar_type
                ))
            })?;
            casts.push(cast.expr);
        }
        let step_rel = project(
            RelExpr::Map {
                input: Box::new(step_rel),
                scalars: casts,
            },
            (arity..2 * arity).collect(),
        );
        Ok((
            RelExpr::Recursive {
                id,
                base: Box::new(base_rel),
                step: Box::new(step_rel),
                distinct,
            },
            scope,
        ))
    }

    fn plan_query_body(&mut self, q: &ast::Query, outer: Option<OuterRows>) -> Result<PlannedQuery, PlanError> {
        if q.fetch.is_some() || !q.locks.is_empty() {
            return Err(PlanError::unsupported("FETCH and locking clauses"));
        }
        let order_by: &[ast::OrderByExpr] = match &q.order_by {
            None => &[],
            Some(ob) => match &ob.kind {
                ast::OrderByKind::Expressions(exprs) => exprs,
                ast::OrderByKind::All(_) => return Err(PlanError::unsupported("ORDER BY ALL")),
            },
        };
        let mut planned = match q.body.as_ref() {
            SetExpr::Select(select) => self.plan_select(select, order_by, outer)?,
            other => {
                let (expr, scope) = self.plan_set_expr(other)?;
                let n = scope.len();
                let order = self.plan_output_order(&scope, order_by)?;
                PlannedQuery {
                    expr,
                    scope,
                    finishing: RowSetFinishing {
                        order_by: order,
                        limit: None,
                        offset: 0,
                        project: (0..n).collect(),
                    },
                }
            }
        };

        if let Some(limit) = &q.limit_clause {
            match limit {
                ast::LimitClause::LimitOffset { limit, offset, limit_by } => {
                    if !limit_by.is_empty() {
                        return Err(PlanError::unsupported("LIMIT BY"));
                    }
                    if let Some(l) = limit {
                        planned.finishing.limit = self.constant_count(l, "LIMIT")?;
                    }
                    if let Some(o) = offset {
                        planned.finishing.offset = self.constant_count(&o.value, "OFFSET")?.unwrap_or(0);
                    }
                }
                ast::LimitClause::OffsetCommaLimit { .. } => return Err(PlanError::unsupported("LIMIT offset, count")),
            }
        }
        Ok(planned)
    }

    fn constant_count(&mut self, e: &Expr, what: &'static str) -> Result<Option<usize>, PlanError> {
        let empty = Scope::default();
        let t = self.plan_expr_hinted(ExprCx::new(&empty, what), e, Some(&ScalarType::Int64))?;
        match t.expr {
            ScalarExpr::Literal(Datum::Null) => Ok(None),
            ScalarExpr::Literal(d) => match riffle_expr::Func::Cast(ScalarType::Int64).eval(&[d])? {
                Datum::Int64(v) if v >= 0 => Ok(Some(v as usize)),
                _ => Err(PlanError::InvalidParameter(format!("{what} must not be negative"))),
            },
            _ => Err(PlanError::InvalidParameter(format!(
                "argument of {what} must not contain variables"
            ))),
        }
    }

    /// ORDER BY over a set operation's output: ordinals or output column names only.
    fn plan_output_order(&self, scope: &Scope, order_by: &[ast::OrderByExpr]) -> Result<Vec<ColumnOrder>, PlanError> {
        let mut out = Vec::new();
        for ob in order_by {
            let column = match &ob.expr {
                Expr::Value(v) => match &v.value {
                    ast::Value::Number(n, _) => ordinal(n, scope.len())?,
                    _ => return Err(PlanError::unsupported("ORDER BY a constant")),
                },
                Expr::Identifier(id) => scope.resolve(None, &id.value)?,
                _ => return Err(PlanError::unsupported("ORDER BY an expression over a set operation")),
            };
            out.push(column_order(column, &ob.options));
        }
        Ok(out)
    }

    fn plan_set_expr(&mut self, body: &SetExpr) -> Result<(RelExpr, Scope), PlanError> {
        match body {
            SetExpr::Select(select) => Ok(self.plan_select(select, &[], None)?.into_relation()),
            SetExpr::Query(q) => Ok(self.plan_query(q)?.into_relation()),
            SetExpr::Values(values) => self.plan_values(values),
            SetExpr::SetOperation {
                left,
                op,
                set_quantifier,
                right,
            } => {
                let (l, ls) = self.plan_set_expr(left)?;
                let (r, rs) = self.plan_set_expr(right)?;
                if ls.len() != rs.len() {
                    return Err(PlanError::Syntax(format!("each {op} query must have the same number of columns")));
                }
                let (l, r, scope) = self.unify_columns(l, ls, r, rs, &op.to_string())?;
                let all = matches!(set_quantifier, SetQuantifier::All);
                match op {
                    SetOperator::Union => {
                        let union = RelExpr::Union { inputs: vec![l, r] };
                        Ok((if all { union } else { RelExpr::Distinct { input: Box::new(union) } }, scope))
                    }
                    SetOperator::Except | SetOperator::Intersect => {
                        let (l, r) = if all { (l, r) } else { (distinct(l), distinct(r)) };
                        // l - r, floored at zero, is EXCEPT [ALL]; l minus that is INTERSECT [ALL].
                        let except = threshold(RelExpr::Union {
                            inputs: vec![l.clone(), negate(r)],
                        });
                        let result = if *op == SetOperator::Except {
                            except
                        } else {
                            threshold(RelExpr::Union {
                                inputs: vec![l, negate(except)],
                            })
                        };
                        Ok((result, scope))
                    }
                    _ => Err(PlanError::unsupported(format!("{op}"))),
                }
            }
            SetExpr::Table(t) => {
                let name = t.table_name.clone().ok_or_else(|| PlanError::unsupported("TABLE without a name"))?;
                self.plan_table_name(&ast::ObjectName::from(vec![name]), None)
            }
            _ => Err(PlanError::unsupported("this kind of query")),
        }
    }

    /// Casts the columns of two set-operation inputs to common types.
    fn unify_columns(&self, l: RelExpr, ls: Scope, r: RelExpr, rs: Scope, what: &str) -> Result<(RelExpr, RelExpr, Scope), PlanError> {
        let n = ls.len();
        let mut lmap = Vec::new();
        let mut rmap = Vec::new();
        let mut scope = ls.clone();
        for i in 0..n {
            let lt = Typed {
                expr: ScalarExpr::Column(i),
                typ: ls.items[i].typ.scalar_type.clone(),
            };
            let rt = Typed {
                expr: ScalarExpr::Column(i),
                typ: rs.items[i].typ.scalar_type.clone(),
            };
            let unified = self.unify(vec![lt, rt], what)?;
            scope.items[i].typ = ColumnType::nullable(unified[0].typ.clone());
            scope.items[i].table = None;
            lmap.push(unified[0].expr.clone());
            rmap.push(unified[1].expr.clone());
        }
        let wrap = |input: RelExpr, exprs: Vec<ScalarExpr>| -> RelExpr {
            if exprs.iter().enumerate().all(|(i, e)| *e == ScalarExpr::Column(i)) {
                return input;
            }
            let outputs = (n..2 * n).collect();
            project(
                RelExpr::Map {
                    input: Box::new(input),
                    scalars: exprs,
                },
                outputs,
            )
        };
        Ok((wrap(l, lmap), wrap(r, rmap), scope))
    }

    fn plan_values(&mut self, values: &ast::Values) -> Result<(RelExpr, Scope), PlanError> {
        let empty = Scope::default();
        let mut rows: Vec<Vec<Typed>> = Vec::new();
        for row in &values.rows {
            let mut planned = Vec::new();
            for e in &row.content {
                planned.push(self.plan_expr(ExprCx::new(&empty, "VALUES"), e)?);
            }
            if let Some(first) = rows.first() {
                if first.len() != planned.len() {
                    return Err(PlanError::Syntax("VALUES lists must all be the same length".into()));
                }
            }
            rows.push(planned);
        }
        let width = rows.first().map_or(0, |r| r.len());
        let mut types = Vec::new();
        for col in 0..width {
            let column: Vec<Typed> = rows.iter().map(|r| r[col].clone()).collect();
            let unified = self.unify(column, "VALUES")?;
            types.push(unified[0].typ.clone());
            for (r, u) in rows.iter_mut().zip(unified) {
                r[col] = u;
            }
        }
        let mut out = Vec::new();
        for row in rows {
            let mut datums = Vec::new();
            for t in row {
                datums.push(t.expr.eval(&[])?);
            }
            out.push((Row::new(datums), 1));
        }
        let scope = Scope {
            items: types
                .into_iter()
                .enumerate()
                .map(|(i, t)| ScopeItem {
                    table: None,
                    name: format!("column{}", i + 1),
                    typ: ColumnType::nullable(t),
                    hidden: false,
                    outer: false,
                })
                .collect(),
        };
        Ok((RelExpr::Constant { rows: out, arity: width }, scope))
    }

    /// Plans the FROM clause: a cross product of its items, each possibly a join tree.
    pub fn plan_from(&mut self, from: &[ast::TableWithJoins]) -> Result<(RelExpr, Scope), PlanError> {
        let mut acc: Option<(RelExpr, Scope)> = None;
        for twj in from {
            let mut cur = match (&twj.relation, acc.take()) {
                // A LATERAL item right after a comma sees everything to its left.
                (
                    TableFactor::Derived {
                        lateral: true,
                        subquery,
                        alias,
                        ..
                    },
                    Some(prev),
                ) => self.plan_lateral(prev, subquery, alias.as_ref(), JoinKind::Inner)?,
                (relation, prev) => {
                    let item = self.plan_table_factor(relation)?;
                    match prev {
                        None => item,
                        Some(prev) => self.join_on(prev, item, JoinKind::Inner, None)?,
                    }
                }
            };
            for join in &twj.joins {
                cur = match (&join.relation, &join.join_operator) {
                    (
                        TableFactor::Derived {
                            lateral: true,
                            subquery,
                            alias,
                            ..
                        },
                        op,
                    ) => {
                        let kind = match op {
                            JoinOperator::Join(c) | JoinOperator::Inner(c) | JoinOperator::CrossJoin(c) if lateral_on_true(c) => {
                                JoinKind::Inner
                            }
                            JoinOperator::Left(c) | JoinOperator::LeftOuter(c) if lateral_on_true(c) => JoinKind::LeftOuter,
                            _ => return Err(PlanError::unsupported("LATERAL joins other than CROSS, or INNER/LEFT ON true")),
                        };
                        self.plan_lateral(cur, subquery, alias.as_ref(), kind)?
                    }
                    (relation, op) => {
                        let right = self.plan_table_factor(relation)?;
                        self.plan_join(cur, right, op)?
                    }
                };
            }
            acc = Some(cur);
        }
        Ok(acc.unwrap_or_else(|| {
            (
                RelExpr::Constant {
                    rows: vec![(Row::default(), 1)],
                    arity: 0,
                },
                Scope::default(),
            )
        }))
    }

    /// `left, LATERAL (subquery)`: the subquery is decorrelated like a subquery in an
    /// expression (see subquery.rs) and joined back on all of `left`'s columns.
    fn plan_lateral(
        &mut self,
        left: (RelExpr, Scope),
        q: &ast::Query,
        alias: Option<&ast::TableAlias>,
        kind: JoinKind,
    ) -> Result<(RelExpr, Scope), PlanError> {
        let (left_rel, left_scope) = left;
        let n = left_scope.len();
        let sub = SubqueryCx::new(&left_rel, n);
        let cx = ExprCx {
            subq: Some(&sub),
            ..ExprCx::new(&left_scope, "LATERAL")
        };
        let (rel, mut scope, prefixed) = self.plan_lateral_relation(cx, q)?;
        let table = alias.map(|a| a.name.value.clone());
        for item in &mut scope.items {
            item.table = table.clone();
        }
        if let Some(a) = alias {
            apply_column_aliases(&mut scope, &a.columns);
        }
        let m = scope.len();
        let (keys, offset) = if prefixed { (null_safe_keys(n), n) } else { (vec![], 0) };
        let right_arity = offset + m;
        let join = RelExpr::Join {
            left: Box::new(left_rel),
            right: Box::new(rel),
            keys,
            residual: None,
            kind,
            right_arity,
        };
        let outputs = (0..n).chain(n + offset..n + offset + m).collect();
        let mut full = left_scope.concat(scope);
        if kind == JoinKind::LeftOuter {
            full.items.iter_mut().skip(n).for_each(|i| i.typ.nullable = true);
        }
        Ok((project(join, outputs), full))
    }

    fn plan_table_factor(&mut self, tf: &TableFactor) -> Result<(RelExpr, Scope), PlanError> {
        match tf {
            TableFactor::Table {
                name,
                alias,
                args: Some(args),
                ..
            } => {
                let exprs = args
                    .args
                    .iter()
                    .map(|a| match a {
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => Ok(e.clone()),
                        _ => Err(PlanError::unsupported("named table function arguments")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let fname = name.0.last().map(|p| p.to_string().to_ascii_lowercase()).unwrap_or_default();
                if fname == "tumble" || fname == "hop" {
                    return self.plan_time_window(&fname, &exprs, alias.as_ref());
                }
                self.plan_table_function(&fname, &exprs, alias.as_ref())
            }
            TableFactor::UNNEST {
                alias,
                array_exprs,
                with_offset: false,
                with_ordinality: false,
                ..
            } => self.plan_table_function("unnest", array_exprs, alias.as_ref()),
            TableFactor::Table { name, alias, args, .. } => {
                if args.is_some() {
                    return Err(PlanError::unsupported("table functions"));
                }
                let (expr, mut scope) = self.plan_table_name(name, alias.as_ref().map(|a| a.name.value.as_str()))?;
                if let Some(a) = alias {
                    apply_column_aliases(&mut scope, &a.columns);
                }
                Ok((expr, scope))
            }
            TableFactor::Derived {
                lateral, subquery, alias, ..
            } => {
                if *lateral {
                    return Err(PlanError::unsupported("LATERAL"));
                }
                let (expr, mut scope) = self.plan_query(subquery)?.into_relation();
                let table = alias.as_ref().map(|a| a.name.value.clone());
                for item in &mut scope.items {
                    item.table = table.clone();
                }
                if let Some(a) = alias {
                    apply_column_aliases(&mut scope, &a.columns);
                }
                Ok((expr, scope))
            }
            TableFactor::NestedJoin { table_with_joins, alias } => {
                let (expr, mut scope) = self.plan_from(std::slice::from_ref(table_with_joins))?;
                if let Some(a) = alias {
                    for item in &mut scope.items {
                        item.table = Some(a.name.value.clone());
                    }
                }
                Ok((expr, scope))
            }
            _ => Err(PlanError::unsupported(format!("FROM item {tf}"))),
        }
    }

    /// A table function in FROM (`generate_series`, `unnest`, `jsonb_array_elements[_text]`):
    /// one column, named after the function, the alias, or the alias's column list.
    fn plan_table_function(&mut self, name: &str, args: &[Expr], alias: Option<&ast::TableAlias>) -> Result<(RelExpr, Scope), PlanError> {
        let empty = Scope::default();
        let cx = ExprCx::new(&empty, "FROM");
        let planned: Vec<Typed> = args.iter().map(|a| self.plan_expr(cx, a)).collect::<Result<_, _>>()?;
        let (func, typ, exprs) = match (name, planned.len()) {
            ("generate_series", 2 | 3) => {
                let exprs = planned
                    .into_iter()
                    .map(|t| {
                        if t.typ.is_integer() || t.typ == ScalarType::Unknown {
                            self.cast(t, &ScalarType::Int64, false).map(|t| t.expr)
                        } else {
                            Err(PlanError::unsupported(format!("generate_series over {}", t.typ)))
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                (TableFunc::GenerateSeries, ScalarType::Int64, exprs)
            }
            ("unnest", 1) => {
                let t = planned.into_iter().next().expect("one argument");
                let ScalarType::Array(elem) = t.typ.clone() else {
                    return Err(PlanError::UnknownFunction(format!("function unnest({}) does not exist", t.typ)));
                };
                (TableFunc::Unnest, *elem, vec![t.expr])
            }
            ("jsonb_array_elements" | "jsonb_array_elements_text", 1) => {
                let t = self.cast(planned.into_iter().next().expect("one argument"), &ScalarType::Jsonb, false)?;
                let as_text = name.ends_with("_text");
                (
                    TableFunc::JsonbArrayElements { as_text },
                    if as_text { ScalarType::String } else { ScalarType::Jsonb },
                    vec![t.expr],
                )
            }
            _ => {
                return Err(PlanError::UnknownFunction(format!(
                    "function {name} with {} arguments does not exist",
                    args.len()
                )))
            }
        };
        let input = RelExpr::Constant {
            rows: vec![(Row::default(), 1)],
            arity: 0,
        };
        let rel = RelExpr::FlatMap {
            input: Box::new(input),
            func,
            args: exprs,
        };
        let table = alias.map(|a| a.name.value.clone()).unwrap_or_else(|| name.to_string());
        let column = match alias {
            Some(a) if !a.columns.is_empty() => a.columns[0].name.value.clone(),
            Some(a) => a.name.value.clone(),
            None => name.to_string(),
        };
        let item = ScopeItem {
            table: Some(table),
            name: column,
            typ: ColumnType::nullable(typ),
            hidden: false,
            outer: false,
        };
        Ok((rel, Scope { items: vec![item] }))
    }

    /// `TUMBLE(t, ts, size)` and `HOP(t, ts, slide, size)`: the rows of `t`, each with the
    /// `window_start` and `window_end` of every window that holds its `ts` (one for TUMBLE,
    /// size/slide for HOP), as in RisingWave and Flink.
    fn plan_time_window(&mut self, name: &str, args: &[Expr], alias: Option<&ast::TableAlias>) -> Result<(RelExpr, Scope), PlanError> {
        let usage = || {
            PlanError::Syntax(format!(
                "usage: {}",
                if name == "tumble" {
                    "TUMBLE(table, time_column, size)"
                } else {
                    "HOP(table, time_column, slide, size)"
                }
            ))
        };
        let expected = if name == "tumble" { 3 } else { 4 };
        if args.len() != expected {
            return Err(usage());
        }
        let table = match &args[0] {
            Expr::Identifier(id) => ast::ObjectName::from(vec![id.clone()]),
            Expr::CompoundIdentifier(ids) => ast::ObjectName::from(ids.clone()),
            _ => return Err(usage()),
        };
        let (rel, mut scope) = self.plan_table_name(&table, alias.map(|a| a.name.value.as_str()))?;
        let Expr::Identifier(col) = &args[1] else { return Err(usage()) };
        let ts = scope.resolve(None, &col.value)?;
        let ts_type = scope.items[ts].typ.scalar_type.clone();
        if !matches!(ts_type, ScalarType::Timestamp | ScalarType::TimestampTz) {
            return Err(PlanError::TypeMismatch(format!(
                "{} time column must be a timestamp, not {ts_type}",
                name.to_uppercase()
            )));
        }
        let empty = Scope::default();
        let mut interval = |e: &Expr| -> Result<ScalarExpr, PlanError> {
            let t = self.plan_expr_hinted(ExprCx::new(&empty, "window size"), e, Some(&ScalarType::Interval))?;
            Ok(self.cast(t, &ScalarType::Interval, false)?.expr)
        };
        let n = scope.len();
        let size = interval(&args[expected - 1])?;
        let (rel, start) = if name == "tumble" {
            let origin = ScalarExpr::Literal(if ts_type == ScalarType::Timestamp {
                Datum::Timestamp(0)
            } else {
                Datum::TimestampTz(0)
            });
            let start = ScalarExpr::call(Func::DateBin, vec![size.clone(), ScalarExpr::Column(ts), origin]);
            (
                RelExpr::Map {
                    input: Box::new(rel),
                    scalars: vec![start],
                },
                ScalarExpr::Column(n),
            )
        } else {
            let slide = interval(&args[2])?;
            (
                RelExpr::FlatMap {
                    input: Box::new(rel),
                    func: TableFunc::HopStarts,
                    args: vec![ScalarExpr::Column(ts), slide, size.clone()],
                },
                ScalarExpr::Column(n),
            )
        };
        let end = ScalarExpr::call(Func::Add, vec![start, size]);
        let rel = RelExpr::Map {
            input: Box::new(rel),
            scalars: vec![end],
        };
        let qualifier = scope.items.first().and_then(|i| i.table.clone());
        for col in ["window_start", "window_end"] {
            scope.items.push(ScopeItem {
                table: qualifier.clone(),
                name: col.into(),
                typ: ColumnType::nullable(ts_type.clone()),
                hidden: false,
                outer: false,
            });
        }
        Ok((rel, scope))
    }

    /// Resolves a table, view or CTE name into a plan and scope.
    pub fn plan_table_name(&mut self, name: &ast::ObjectName, alias: Option<&str>) -> Result<(RelExpr, Scope), PlanError> {
        let parts: Vec<String> = name
            .0
            .iter()
            .map(|p| p.as_ident().map(|i| i.value.clone()).unwrap_or_else(|| p.to_string()))
            .collect();
        let (schema, base) = match parts.as_slice() {
            [t] => (None, t.clone()),
            [s, t] => (Some(s.clone()), t.clone()),
            [_, s, t] => (Some(s.clone()), t.clone()),
            _ => return Err(PlanError::UnknownRelation(name.to_string())),
        };
        let qualifier = alias.map(str::to_string).unwrap_or_else(|| base.clone());
        if schema.is_none() {
            if let Some((_, expr, scope)) = self.ctes.iter().rev().find(|(n, _, _)| *n == base) {
                let mut scope = scope.clone();
                scope.items.iter_mut().for_each(|i| i.table = Some(qualifier.clone()));
                return Ok((expr.clone(), scope));
            }
        }
        let user_item = if schema.as_deref().is_none_or(|s| s == "public") {
            self.catalog.get(&base)
        } else {
            None
        };
        if user_item.is_none() {
            if let Some((desc, rows)) = crate::system::system_table(self.catalog, schema.as_deref(), &base) {
                if self.ctx.in_view {
                    // System catalogs are computed when a query is planned, so a view over
                    // them could not be maintained.
                    return Err(PlanError::unsupported(format!("views over the system catalog relation {base}")));
                }
                let arity = desc.arity();
                let scope = Scope::from_desc(Some(&qualifier), &desc);
                return Ok((
                    RelExpr::Constant {
                        rows: rows.into_iter().map(|r| (r, 1)).collect(),
                        arity,
                    },
                    scope,
                ));
            }
        }
        // Named as written, without the quotes: relation "T" does not exist.
        let item = user_item.ok_or_else(|| PlanError::UnknownRelation(parts.join(".")))?;
        let scope = Scope::from_desc(Some(&qualifier), &item.desc);
        if !self.deps.contains(&item.id) {
            self.deps.push(item.id);
        }
        let expr = match &item.kind {
            crate::ItemKind::View { plan } => plan.clone(),
            crate::ItemKind::Index { .. } => return Err(PlanError::WrongObjectType(base, "table")),
            crate::ItemKind::Connection(_) | crate::ItemKind::Sink(_) | crate::ItemKind::Model(_) => {
                return Err(PlanError::WrongObjectType(base, "relation"))
            }
            _ => RelExpr::Get {
                id: item.id,
                arity: item.desc.arity(),
            },
        };
        Ok((expr, scope))
    }

    fn plan_join(&mut self, left: (RelExpr, Scope), right: (RelExpr, Scope), op: &JoinOperator) -> Result<(RelExpr, Scope), PlanError> {
        let (kind, constraint) = match op {
            JoinOperator::Join(c) | JoinOperator::Inner(c) => (JoinKind::Inner, c),
            JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => (JoinKind::LeftOuter, c),
            JoinOperator::CrossJoin(c) => (JoinKind::Inner, c),
            JoinOperator::Right(c) | JoinOperator::RightOuter(c) => {
                // A right join is the left join of the swapped inputs, with columns put back.
                let (left_len, right_len) = (left.1.len(), right.1.len());
                let (expr, scope) = self.plan_join(right, left, &JoinOperator::LeftOuter(c.clone()))?;
                let outputs: Vec<usize> = (right_len..right_len + left_len).chain(0..right_len).collect();
                let items = outputs.iter().map(|i| scope.items[*i].clone()).collect();
                return Ok((project(expr, outputs), Scope { items }));
            }
            JoinOperator::FullOuter(c) => (JoinKind::FullOuter, c),
            JoinOperator::AsOf {
                match_condition,
                constraint,
            } => {
                let JoinConstraint::On(on) = constraint else {
                    return Err(PlanError::Syntax("ASOF JOIN requires ON".into()));
                };
                // `MATCH_CONDITION (TRUE|FALSE)` marks DuckDB's syntax (inequality inside ON).
                return match match_condition {
                    Expr::Value(v) if matches!(v.value, ast::Value::Boolean(_)) => {
                        let ast::Value::Boolean(inner) = v.value else { unreachable!() };
                        self.plan_asof(left, right, None, on, !inner)
                    }
                    cond => self.plan_asof(left, right, Some(cond), on, false),
                };
            }
            other => {
                return Err(PlanError::unsupported(
                    format!("join {other:?}").chars().take(40).collect::<String>(),
                ))
            }
        };
        match constraint {
            JoinConstraint::On(e) => self.join_on(left, right, kind, Some(e)),
            JoinConstraint::None => self.join_on(left, right, kind, None),
            JoinConstraint::Using(cols) => {
                let names: Vec<String> = cols.iter().map(|c| c.to_string()).collect();
                self.join_using(left, right, kind, &names)
            }
            JoinConstraint::Natural => {
                let names: Vec<String> = left
                    .1
                    .items
                    .iter()
                    .filter(|l| !l.hidden && right.1.items.iter().any(|r| r.name == l.name))
                    .map(|l| l.name.clone())
                    .collect();
                self.join_using(left, right, kind, &names)
            }
            _ => Err(PlanError::unsupported("this join constraint")),
        }
    }

    /// ASOF JOIN: each left row with the latest right row (same equi-keys) at or before its time,
    /// as in DuckDB. Rendered from maintained parts, so late right rows move matches:
    /// candidates = join(distinct left rows, right) on keys and the inequality; the best
    /// candidate per left row is a top-1 by the right side's time; left rows join back to it.
    fn plan_asof(
        &mut self,
        left: (RelExpr, Scope),
        right: (RelExpr, Scope),
        matching: Option<&Expr>,
        on: &Expr,
        left_outer: bool,
    ) -> Result<(RelExpr, Scope), PlanError> {
        let (left_rel, left_scope) = left;
        let (right_rel, right_scope) = right;
        let (nl, nr) = (left_scope.len(), right_scope.len());
        let combined = left_scope.clone().concat(right_scope.clone());
        let cx = ExprCx::new(&combined, "ASOF JOIN");
        let mut conjuncts = Vec::new();
        let on = self.plan_expr_hinted(cx, on, Some(&ScalarType::Bool))?;
        flatten_and(self.require(on, &ScalarType::Bool, "argument of ON")?.expr, &mut conjuncts);
        if let Some(m) = matching {
            let m = self.plan_expr_hinted(cx, m, Some(&ScalarType::Bool))?;
            flatten_and(
                self.require(m, &ScalarType::Bool, "argument of MATCH_CONDITION")?.expr,
                &mut conjuncts,
            );
        }
        // Find the one inequality between a left and a right expression.
        let side = |e: &ScalarExpr| {
            let (mut l, mut r) = (false, false);
            e.visit(&mut |x| {
                if let ScalarExpr::Column(i) = x {
                    if *i < nl {
                        l = true
                    } else {
                        r = true
                    }
                }
            });
            (l, r)
        };
        let mut order = None;
        let mut rest = Vec::new();
        for c in conjuncts {
            if order.is_none() {
                if let ScalarExpr::Call {
                    func: f @ (Func::Gte | Func::Gt | Func::Lte | Func::Lt),
                    args,
                } = &c
                {
                    let (a, b) = (&args[0], &args[1]);
                    // Normalise to `left_expr OP right_expr`.
                    let (right_expr, op) = match (side(a), side(b)) {
                        ((true, false), (false, true)) => (b.clone(), f.clone()),
                        ((false, true), (true, false)) => (
                            a.clone(),
                            match f {
                                Func::Gte => Func::Lte,
                                Func::Gt => Func::Lt,
                                Func::Lte => Func::Gte,
                                _ => Func::Gt,
                            },
                        ),
                        _ => {
                            rest.push(c);
                            continue;
                        }
                    };
                    // left >= right: the latest right row before; left <= right: the earliest after.
                    order = Some((right_expr, matches!(op, Func::Gte | Func::Gt)));
                    rest.push(c);
                    continue;
                }
            }
            rest.push(c);
        }
        let Some((right_time, latest)) = order else {
            return Err(PlanError::Syntax(
                "ASOF JOIN requires an inequality between a left and a right column (l.ts >= r.ts)".into(),
            ));
        };
        let (keys, residual) = extract_equi_keys(rest, nl);
        let d = distinct(left_rel.clone());
        let residual = match residual.len() {
            0 => None,
            1 => residual.into_iter().next(),
            _ => Some(ScalarExpr::And(residual)),
        };
        let candidates = RelExpr::Join {
            left: Box::new(d),
            right: Box::new(right_rel),
            keys,
            residual,
            kind: JoinKind::Inner,
            right_arity: nr,
        };
        let with_time = RelExpr::Map {
            input: Box::new(candidates),
            scalars: vec![right_time],
        };
        let best = RelExpr::TopK {
            input: Box::new(with_time),
            group_key: (0..nl).collect(),
            order_by: vec![ColumnOrder {
                column: nl + nr,
                desc: latest,
                nulls_first: false,
            }],
            limit: Some(1),
            offset: 0,
        };
        let best = project(best, (0..nl + nr).collect());
        let kind = if left_outer { JoinKind::LeftOuter } else { JoinKind::Inner };
        let joined = RelExpr::Join {
            left: Box::new(left_rel),
            right: Box::new(best),
            keys: null_safe_keys(nl),
            residual: None,
            kind,
            right_arity: nl + nr,
        };
        let outputs = (0..nl).chain(2 * nl..2 * nl + nr).collect();
        let mut scope = combined;
        if left_outer {
            scope.items.iter_mut().skip(nl).for_each(|i| i.typ.nullable = true);
        }
        Ok((project(joined, outputs), scope))
    }

    fn join_using(
        &self,
        left: (RelExpr, Scope),
        right: (RelExpr, Scope),
        kind: JoinKind,
        names: &[String],
    ) -> Result<(RelExpr, Scope), PlanError> {
        let mut preds = Vec::new();
        for n in names {
            let l = left.1.resolve(None, n)?;
            let r = right.1.resolve(None, n)?;
            let lt = Typed {
                expr: ScalarExpr::Column(l),
                typ: left.1.items[l].typ.scalar_type.clone(),
            };
            let rt = Typed {
                expr: ScalarExpr::Column(left.1.len() + r),
                typ: right.1.items[r].typ.scalar_type.clone(),
            };
            preds.push(self.compare_typed(lt, rt, Func::Eq)?.expr);
        }
        let hide: Vec<usize> = names.iter().map(|n| right.1.resolve(None, n)).collect::<Result<_, _>>()?;
        let left_len = left.1.len();
        let (expr, mut scope) = self.join_with_predicate(left, right, kind, preds)?;
        for h in hide {
            scope.items[left_len + h].hidden = true;
        }
        Ok((expr, scope))
    }

    /// Joins two relations on an optional ON expression.
    pub fn join_on(
        &mut self,
        left: (RelExpr, Scope),
        right: (RelExpr, Scope),
        kind: JoinKind,
        on: Option<&Expr>,
    ) -> Result<(RelExpr, Scope), PlanError> {
        let combined = left.1.clone().concat(right.1.clone());
        let preds = match on {
            None => vec![],
            Some(e) => {
                let t = self.plan_expr_hinted(ExprCx::new(&combined, "JOIN conditions"), e, Some(&ScalarType::Bool))?;
                let t = self.require(t, &ScalarType::Bool, "argument of JOIN/ON")?;
                vec![t.expr]
            }
        };
        self.join_with_predicate(left, right, kind, preds)
    }

    fn join_with_predicate(
        &self,
        left: (RelExpr, Scope),
        right: (RelExpr, Scope),
        kind: JoinKind,
        preds: Vec<ScalarExpr>,
    ) -> Result<(RelExpr, Scope), PlanError> {
        let left_arity = left.1.len();
        let right_arity = right.1.len();
        let mut conjuncts = Vec::new();
        for p in preds {
            flatten_and(p, &mut conjuncts);
        }
        let (keys, residual) = extract_equi_keys(conjuncts, left_arity);
        let mut scope = left.1.concat(right.1);
        if kind != JoinKind::Inner {
            for item in scope.items.iter_mut().skip(left_arity) {
                item.typ.nullable = true;
            }
        }
        if kind == JoinKind::FullOuter {
            for item in scope.items.iter_mut().take(left_arity) {
                item.typ.nullable = true;
            }
        }
        let residual = match residual.len() {
            0 => None,
            1 => residual.into_iter().next(),
            _ => Some(ScalarExpr::And(residual)),
        };
        Ok((
            RelExpr::Join {
                left: Box::new(left.0),
                right: Box::new(right.0),
                keys,
                residual,
                kind,
                right_arity,
            },
            scope,
        ))
    }

    /// Plans a SELECT; a correlated subquery's SELECT sees the `outer` rows (D) as leading
    /// columns.
    fn plan_select(
        &mut self,
        select: &ast::Select,
        order_by: &[ast::OrderByExpr],
        outer: Option<OuterRows>,
    ) -> Result<PlannedQuery, PlanError> {
        if select.top.is_some() || select.into.is_some() || !select.lateral_views.is_empty() || select.qualify.is_some() {
            return Err(PlanError::unsupported("this SELECT clause"));
        }
        if !select.named_window.is_empty() {
            return Err(PlanError::unsupported("window functions"));
        }
        let prefix = outer;
        let (mut rel, mut scope) = self.plan_from(&select.from)?;
        let (n_prefix, outer_rows) = match prefix {
            Some((d, d_scope)) => {
                let right_arity = scope.len();
                let outer_rows = d.clone();
                rel = RelExpr::cross_join(d, rel, right_arity);
                let n = d_scope.len();
                scope = d_scope.concat(scope);
                (n, Some(outer_rows))
            }
            None => (0, None),
        };
        if let Some(w) = &select.selection {
            if contains_aggregate(w) {
                return Err(PlanError::Grouping("aggregate functions are not allowed in WHERE".into()));
            }
            let sub = SubqueryCx::new(&rel, scope.len());
            let cx = ExprCx {
                subq: Some(&sub),
                ..ExprCx::new(&scope, "WHERE")
            };
            let t = self.plan_expr_hinted(cx, w, Some(&ScalarType::Bool))?;
            let t = self.require(t, &ScalarType::Bool, "argument of WHERE")?;
            let (lower, upper, rest) = split_temporal(t.expr)?;
            if sub.width() == 0 {
                rel = push_conjuncts(rel, rest);
            } else {
                let filtered = RelExpr::Filter {
                    input: Box::new(sub.apply(rel)),
                    predicates: rest,
                };
                rel = project(filtered, (0..scope.len()).collect());
            }
            if !lower.is_empty() || !upper.is_empty() {
                rel = RelExpr::TemporalFilter {
                    input: Box::new(rel),
                    lower,
                    upper,
                };
            }
        }
        let group_exprs: &[Expr] = match &select.group_by {
            GroupByExpr::Expressions(exprs, mods) if mods.is_empty() => exprs,
            GroupByExpr::Expressions(..) | GroupByExpr::All(_) => return Err(PlanError::unsupported("GROUP BY modifiers")),
        };
        let select_items = self.expand_select_items(&select.projection, &scope)?;
        let grouped = !group_exprs.is_empty()
            || select.having.is_some()
            || select_items.iter().any(|(e, _, _)| e.as_ref().is_some_and(contains_aggregate))
            || order_by.iter().any(|o| contains_aggregate(&o.expr));

        let grouping;
        let select_sub = SubqueryCx::new(&rel, scope.len());
        let window_cx = WindowCx::default();
        let mut out_cx = ExprCx {
            subq: Some(&select_sub),
            windows: Some(&window_cx),
            ..ExprCx::new(&scope, "SELECT")
        };
        if grouped {
            // The outer rows of a correlated subquery lead the group key.
            let mut keys: Vec<Typed> = (0..n_prefix)
                .map(|i| Typed {
                    expr: ScalarExpr::Column(i),
                    typ: scope.items[i].typ.scalar_type.clone(),
                })
                .collect();
            for g in group_exprs {
                let key = match g {
                    Expr::Value(v) if matches!(v.value, ast::Value::Number(..)) => {
                        let ast::Value::Number(n, _) = &v.value else { unreachable!() };
                        let i = ordinal(n, select_items.len())?;
                        match &select_items[i].0 {
                            Some(e) => self.plan_expr(ExprCx::new(&scope, "GROUP BY"), e)?,
                            None => Typed {
                                expr: ScalarExpr::Column(select_items[i].2),
                                typ: scope.items[select_items[i].2].typ.scalar_type.clone(),
                            },
                        }
                    }
                    Expr::Identifier(id) if scope.resolve(None, &id.value).is_err() => {
                        // GROUP BY an output column alias.
                        match select_items.iter().find(|(_, name, _)| *name == id.value) {
                            Some((Some(e), _, _)) => self.plan_expr(ExprCx::new(&scope, "GROUP BY"), e)?,
                            _ => self.plan_expr(ExprCx::new(&scope, "GROUP BY"), g)?,
                        }
                    }
                    _ => {
                        if contains_aggregate(g) {
                            return Err(PlanError::Grouping("aggregate functions are not allowed in GROUP BY".into()));
                        }
                        self.plan_expr(ExprCx::new(&scope, "GROUP BY"), g)?
                    }
                };
                if !keys.iter().any(|k: &Typed| k.expr == key.expr) {
                    keys.push(key);
                }
            }
            grouping = Some(Grouping {
                input: scope.clone(),
                keys,
                aggs: RefCell::new(Vec::new()),
            });
            out_cx = ExprCx {
                scope: &scope,
                grouping: grouping.as_ref(),
                clause: "SELECT",
                subq: None,
                windows: Some(&window_cx),
            };
        } else {
            grouping = None;
        }

        // SELECT list, then ORDER BY expressions as hidden trailing columns.
        let mut out_exprs: Vec<Typed> = Vec::new();
        let mut out_items = Vec::new();
        for (expr, name, col) in &select_items {
            let t = match expr {
                Some(e) => self.plan_expr(out_cx, e)?,
                None => {
                    let e = Expr::Identifier(ast::Ident::new(scope.items[*col].name.clone()));
                    if grouped {
                        let q = match &scope.items[*col].table {
                            Some(t) => {
                                Expr::CompoundIdentifier(vec![ast::Ident::new(t.clone()), ast::Ident::new(scope.items[*col].name.clone())])
                            }
                            None => e,
                        };
                        self.plan_expr(out_cx, &q)?
                    } else {
                        Typed {
                            expr: ScalarExpr::Column(*col),
                            typ: scope.items[*col].typ.scalar_type.clone(),
                        }
                    }
                }
            };
            let t = if t.typ == ScalarType::Unknown {
                self.cast(t, &ScalarType::String, false)?
            } else {
                t
            };
            out_items.push(ScopeItem {
                table: None,
                name: name.clone(),
                typ: ColumnType::nullable(t.typ.clone()),
                hidden: false,
                outer: false,
            });
            out_exprs.push(t);
        }
        let having = match &select.having {
            Some(h) => {
                let cx = ExprCx {
                    clause: "HAVING",
                    windows: None,
                    ..out_cx
                };
                let t = self.plan_expr_hinted(cx, h, Some(&ScalarType::Bool))?;
                Some(self.require(t, &ScalarType::Bool, "argument of HAVING")?.expr)
            }
            None => None,
        };
        let n_out = out_exprs.len();
        let mut order = Vec::new();
        let (distinct, distinct_on) = match &select.distinct {
            None | Some(ast::Distinct::All) => (false, None),
            Some(ast::Distinct::Distinct) => (true, None),
            Some(ast::Distinct::On(exprs)) => (false, Some(exprs)),
        };
        for ob in order_by {
            let column = match &ob.expr {
                Expr::Value(v) if matches!(v.value, ast::Value::Number(..)) => {
                    let ast::Value::Number(n, _) = &v.value else { unreachable!() };
                    ordinal(n, n_out)?
                }
                Expr::Identifier(id) if out_items.iter().filter(|i| i.name == id.value).count() == 1 => {
                    out_items.iter().position(|i| i.name == id.value).unwrap()
                }
                e => {
                    let t = self.plan_expr(
                        ExprCx {
                            clause: "ORDER BY",
                            ..out_cx
                        },
                        e,
                    )?;
                    match out_exprs.iter().position(|o| o.expr == t.expr) {
                        Some(i) => i,
                        None if distinct => {
                            return Err(PlanError::InvalidParameter(
                                "for SELECT DISTINCT, ORDER BY expressions must appear in select list".into(),
                            ))
                        }
                        None => {
                            out_exprs.push(t);
                            out_exprs.len() - 1
                        }
                    }
                }
            };
            order.push(column_order(column, &ob.options));
        }

        // DISTINCT ON expressions become hidden columns too; one row per distinct value survives.
        let mut on_cols = Vec::new();
        for e in distinct_on.into_iter().flatten() {
            let t = self.plan_expr(
                ExprCx {
                    clause: "DISTINCT ON",
                    windows: None,
                    ..out_cx
                },
                e,
            )?;
            on_cols.push(match out_exprs.iter().position(|o| o.expr == t.expr) {
                Some(i) => i,
                None => {
                    out_exprs.push(t);
                    out_exprs.len() - 1
                }
            });
        }
        // Assemble: [Reduce] → [HAVING] → [subquery joins] → [windows] → Map(select list) → Project.
        let mut base_arity;
        if let Some(g) = &grouping {
            let input_arity = arity_of(&scope);
            let key_exprs: Vec<ScalarExpr> = g.keys.iter().map(|k| k.expr.clone()).collect();
            let n_keys = key_exprs.len();
            let mapped = RelExpr::Map {
                input: Box::new(rel),
                scalars: key_exprs,
            };
            let aggregates: Vec<_> = g.aggs.borrow().iter().map(|(a, _)| a.clone()).collect();
            base_arity = n_keys + aggregates.len();
            let empty_row: Vec<ScalarExpr> = aggregates.iter().map(|a| ScalarExpr::Literal(a.func.empty_value())).collect();
            rel = RelExpr::Reduce {
                input: Box::new(mapped),
                group_key: (input_arity..input_arity + n_keys).collect(),
                aggregates,
                global: group_exprs.is_empty() && n_prefix == 0,
            };
            // A correlated global aggregate has a row for every outer row, even with no input.
            if let (Some(d), true) = (outer_rows, group_exprs.is_empty()) {
                let missing = missing_keys(d, rel.clone(), n_prefix);
                rel = RelExpr::Union {
                    inputs: vec![
                        rel,
                        RelExpr::Map {
                            input: Box::new(missing),
                            scalars: empty_row,
                        },
                    ],
                };
            }
            if let Some(h) = having {
                rel = RelExpr::Filter {
                    input: Box::new(rel),
                    predicates: vec![h],
                };
            }
        } else {
            rel = select_sub.apply(rel);
            base_arity = arity_of(&scope) + select_sub.width();
        }
        if window_cx.len() > 0 {
            rel = window_cx.apply(rel, base_arity);
            for t in &mut out_exprs {
                WindowCx::resolve(&mut t.expr, base_arity);
            }
            base_arity += window_cx.len();
        }
        // The outer rows' columns lead a correlated subquery's output.
        let prefix_cols = (0..n_prefix).map(ScalarExpr::Column);
        let scalars: Vec<ScalarExpr> = prefix_cols.chain(out_exprs.into_iter().map(|t| t.expr)).collect();
        let total = scalars.len();
        rel = RelExpr::Map {
            input: Box::new(rel),
            scalars,
        };
        rel = project(rel, (base_arity..base_arity + total).collect());
        if distinct {
            rel = RelExpr::Distinct { input: Box::new(rel) };
        }
        let mut items: Vec<ScopeItem> = scope.items[..n_prefix].to_vec();
        items.extend(out_items);
        for o in &mut order {
            o.column += n_prefix;
        }
        if !on_cols.is_empty() {
            // PostgreSQL keeps the first row of each group in ORDER BY order.
            let group_key = (0..n_prefix).chain(on_cols.iter().map(|c| c + n_prefix)).collect();
            rel = RelExpr::TopK {
                input: Box::new(rel),
                group_key,
                order_by: order.clone(),
                limit: Some(1),
                offset: 0,
            };
        }
        Ok(PlannedQuery {
            expr: rel,
            scope: Scope { items },
            finishing: RowSetFinishing {
                order_by: order,
                limit: None,
                offset: 0,
                project: (0..n_prefix + n_out).collect(),
            },
        })
    }

    /// Expands `*` and `t.*`; yields (expression or None for a plain column, output name, column).
    fn expand_select_items(&self, items: &[SelectItem], scope: &Scope) -> Result<Vec<(Option<Expr>, String, usize)>, PlanError> {
        let mut out = Vec::new();
        for item in items {
            match item {
                SelectItem::UnnamedExpr(e) => out.push((Some(e.clone()), output_name(e), 0)),
                SelectItem::ExprWithAlias { expr, alias } => out.push((Some(expr.clone()), alias.value.clone(), 0)),
                SelectItem::Wildcard(_) => {
                    if scope.items.is_empty() {
                        return Err(PlanError::Syntax("SELECT * with no tables specified is not valid".into()));
                    }
                    for (i, it) in scope.items.iter().enumerate().filter(|(_, it)| !it.hidden && !it.outer) {
                        out.push((None, it.name.clone(), i));
                    }
                }
                SelectItem::QualifiedWildcard(kind, _) => {
                    // `t.*` or `schema.t.*`: the columns of the FROM item named (or aliased) t.
                    let t = match kind {
                        ast::SelectItemQualifiedWildcardKind::ObjectName(name) => name
                            .0
                            .last()
                            .map(|p| p.as_ident().map(|i| i.value.clone()).unwrap_or_else(|| p.to_string()))
                            .unwrap_or_default(),
                        ast::SelectItemQualifiedWildcardKind::Expr(_) => {
                            return Err(PlanError::unsupported("expression.* in a select list"))
                        }
                    };
                    let cols: Vec<_> = scope
                        .items
                        .iter()
                        .enumerate()
                        .filter(|(_, it)| it.table.as_deref() == Some(t.as_str()))
                        .collect();
                    if cols.is_empty() {
                        return Err(PlanError::MissingFrom(format!("missing FROM-clause entry for table \"{t}\"")));
                    }
                    for (i, it) in cols {
                        out.push((None, it.name.clone(), i));
                    }
                }
                _ => return Err(PlanError::unsupported("this select item")),
            }
        }
        Ok(out)
    }
}

/// Whether a join constraint is absent or `ON true`.
fn lateral_on_true(c: &JoinConstraint) -> bool {
    match c {
        JoinConstraint::None => true,
        JoinConstraint::On(Expr::Value(v)) => matches!(v.value, ast::Value::Boolean(true)),
        _ => false,
    }
}

fn apply_column_aliases(scope: &mut Scope, cols: &[ast::TableAliasColumnDef]) {
    for (item, col) in scope.items.iter_mut().zip(cols) {
        item.name = col.name.value.clone();
    }
}

fn ordinal(n: &str, len: usize) -> Result<usize, PlanError> {
    match n.parse::<usize>() {
        Ok(i) if i >= 1 && i <= len => Ok(i - 1),
        _ => Err(PlanError::InvalidParameter(format!("position {n} is not in select list"))),
    }
}

fn column_order(column: usize, options: &ast::OrderByOptions) -> ColumnOrder {
    let desc = matches!(options.sort, Some(ast::OrderBySort::Desc));
    // PostgreSQL: NULLs are larger than every value, so they come last ascending.
    ColumnOrder {
        column,
        desc,
        nulls_first: options.nulls_first.unwrap_or(desc),
    }
}

/// The column name PostgreSQL gives an unaliased select item.
fn output_name(e: &Expr) -> String {
    match e {
        Expr::Identifier(id) => id.value.clone(),
        Expr::CompoundIdentifier(ids) => ids.last().map(|i| i.value.clone()).unwrap_or_default(),
        Expr::Function(f) => f.name.0.last().map(|p| p.to_string().to_ascii_lowercase()).unwrap_or_default(),
        Expr::Cast { expr, data_type, .. } => match output_name(expr).as_str() {
            "?column?" => crate::types::parse_type_name(data_type)
                .map(|t| pg_type_label(&t))
                .unwrap_or_else(|_| "?column?".into()),
            name => name.to_string(),
        },
        Expr::Nested(inner) => output_name(inner),
        Expr::Case { .. } => "case".into(),
        Expr::Extract { .. } => "extract".into(),
        Expr::Substring { .. } => "substring".into(),
        Expr::Position { .. } => "position".into(),
        Expr::Trim { .. } => "btrim".into(),
        Expr::Ceil { .. } => "ceil".into(),
        Expr::Floor { .. } => "floor".into(),
        Expr::TypedString(ts) => crate::types::parse_type_name(&ts.data_type)
            .map(|t| pg_type_label(&t))
            .unwrap_or_else(|_| "?column?".into()),
        Expr::Interval(_) => "interval".into(),
        Expr::Exists { .. } => "exists".into(),
        // A scalar subquery takes the name of its one column.
        Expr::Subquery(q) => subquery_output_name(&q.body),
        _ => "?column?".into(),
    }
}

/// The name of a scalar subquery's column: its first SELECT's one item's.
fn subquery_output_name(body: &SetExpr) -> String {
    match body {
        SetExpr::Select(select) => match select.projection.as_slice() {
            [ast::SelectItem::ExprWithAlias { alias, .. }] => alias.value.clone(),
            [ast::SelectItem::UnnamedExpr(e)] => output_name(e),
            _ => "?column?".into(),
        },
        SetExpr::SetOperation { left, .. } => subquery_output_name(left),
        SetExpr::Query(q) => subquery_output_name(&q.body),
        _ => "?column?".into(),
    }
}

/// The internal type name PostgreSQL uses as a column label for casts (`int4`, `text`).
fn pg_type_label(t: &ScalarType) -> String {
    match t {
        ScalarType::Bool => "bool",
        ScalarType::Int16 => "int2",
        ScalarType::Int32 => "int4",
        ScalarType::Int64 => "int8",
        ScalarType::Float32 => "float4",
        ScalarType::Float64 => "float8",
        ScalarType::Numeric { .. } => "numeric",
        ScalarType::String | ScalarType::Unknown => "text",
        ScalarType::VarChar { .. } => "varchar",
        ScalarType::Bytes => "bytea",
        ScalarType::Date => "date",
        ScalarType::Timestamp => "timestamp",
        ScalarType::TimestampTz => "timestamptz",
        ScalarType::Interval => "interval",
        ScalarType::Jsonb => "jsonb",
        ScalarType::Array(elem) => return pg_type_label(elem),
    }
    .to_string()
}

fn contains_mz_now(e: &ScalarExpr) -> bool {
    let mut found = false;
    e.visit(&mut |x| {
        if matches!(x, ScalarExpr::Call { func: Func::MzNow, .. }) {
            found = true
        }
    });
    found
}

/// Splits WHERE conjuncts into temporal-filter bounds (`mz_now() <op> expr`, either way round)
/// and ordinary predicates. Bounds are half-open: present from `lower`, gone at `upper`.
fn split_temporal(pred: ScalarExpr) -> Result<(Vec<ScalarExpr>, Vec<ScalarExpr>, Vec<ScalarExpr>), PlanError> {
    let mut conjuncts = Vec::new();
    flatten_and(pred, &mut conjuncts);
    let (mut lower, mut upper, mut rest) = (Vec::new(), Vec::new(), Vec::new());
    let plus_ms = |e: ScalarExpr| {
        let one_ms = ScalarExpr::Literal(Datum::Interval(riffle_repr::Interval {
            months: 0,
            days: 0,
            micros: 1000,
        }));
        ScalarExpr::call(Func::Add, vec![e, one_ms])
    };
    let is_now = |e: &ScalarExpr| matches!(e, ScalarExpr::Call { func: Func::MzNow, .. });
    for c in conjuncts {
        if !contains_mz_now(&c) {
            rest.push(c);
            continue;
        }
        let bad = || PlanError::unsupported("mz_now() outside a comparison `mz_now() <op> expression` in WHERE");
        let ScalarExpr::Call { func, args } = c else { return Err(bad()) };
        let (op, e) = match (&args[0], &args[1]) {
            (a, b) if is_now(a) && !contains_mz_now(b) => (func.clone(), b.clone()),
            (a, b) if is_now(b) && !contains_mz_now(a) => {
                // Flip `e op mz_now()` into `mz_now() op' e`.
                let flipped = match func {
                    Func::Lt => Func::Gt,
                    Func::Lte => Func::Gte,
                    Func::Gt => Func::Lt,
                    Func::Gte => Func::Lte,
                    other => other.clone(),
                };
                (flipped, a.clone())
            }
            _ => return Err(bad()),
        };
        match op {
            Func::Lt => upper.push(e),
            Func::Lte => upper.push(plus_ms(e)),
            Func::Gt => lower.push(plus_ms(e)),
            Func::Gte => lower.push(e),
            Func::Eq => {
                lower.push(e.clone());
                upper.push(plus_ms(e));
            }
            _ => return Err(bad()),
        }
    }
    Ok((lower, upper, rest))
}

fn flatten_and(e: ScalarExpr, out: &mut Vec<ScalarExpr>) {
    match e {
        ScalarExpr::And(es) => es.into_iter().for_each(|e| flatten_and(e, out)),
        other => out.push(other),
    }
}

/// Splits join conjuncts into equi-keys `left_expr = right_expr` and a residual.
fn extract_equi_keys(conjuncts: Vec<ScalarExpr>, left_arity: usize) -> (Vec<(ScalarExpr, ScalarExpr)>, Vec<ScalarExpr>) {
    let mut keys = Vec::new();
    let mut residual = Vec::new();
    let side = |e: &ScalarExpr| -> Option<bool> {
        let mut left = false;
        let mut right = false;
        e.visit(&mut |x| {
            if let ScalarExpr::Column(i) = x {
                if *i < left_arity {
                    left = true
                } else {
                    right = true
                }
            }
        });
        match (left, right) {
            (true, false) => Some(true),
            (false, true) => Some(false),
            _ => None,
        }
    };
    for c in conjuncts {
        if let ScalarExpr::Call { func: Func::Eq, args } = &c {
            let (a, b) = (&args[0], &args[1]);
            match (side(a), side(b)) {
                (Some(true), Some(false)) => {
                    let mut r = b.clone();
                    r.remap_columns(&|i| i - left_arity);
                    keys.push((a.clone(), r));
                    continue;
                }
                (Some(false), Some(true)) => {
                    let mut r = a.clone();
                    r.remap_columns(&|i| i - left_arity);
                    keys.push((b.clone(), r));
                    continue;
                }
                _ => {}
            }
        }
        residual.push(c);
    }
    (keys, residual)
}

/// Pushes predicates as deep as they go through inner joins: a predicate over one side filters
/// that side, an equality between the sides becomes a join key, the rest filters the join.
/// So `FROM a, b, c WHERE a.x = b.x AND b.y = c.y` joins on keys, never through a cross product.
fn push_conjuncts(rel: RelExpr, conjuncts: Vec<ScalarExpr>) -> RelExpr {
    if conjuncts.is_empty() {
        return rel;
    }
    match rel {
        RelExpr::Join {
            left,
            right,
            mut keys,
            residual,
            kind: JoinKind::Inner,
            right_arity,
        } if left.arity().is_some() => {
            let left_arity = left.arity().expect("checked");
            let side = |e: &ScalarExpr| {
                let (mut l, mut r) = (false, false);
                e.visit(&mut |x| {
                    if let ScalarExpr::Column(i) = x {
                        if *i < left_arity {
                            l = true
                        } else {
                            r = true
                        }
                    }
                });
                (l, r)
            };
            let (mut to_left, mut to_right, mut across) = (Vec::new(), Vec::new(), Vec::new());
            for c in conjuncts {
                match side(&c) {
                    (true, false) => to_left.push(c),
                    (false, true) => {
                        let mut c = c;
                        c.remap_columns(&|i| i - left_arity);
                        to_right.push(c);
                    }
                    _ => across.push(c),
                }
            }
            let (more, rest) = extract_equi_keys(across, left_arity);
            keys.extend(more);
            let join = RelExpr::Join {
                left: Box::new(push_conjuncts(*left, to_left)),
                right: Box::new(push_conjuncts(*right, to_right)),
                keys,
                residual,
                kind: JoinKind::Inner,
                right_arity,
            };
            if rest.is_empty() {
                join
            } else {
                RelExpr::Filter {
                    input: Box::new(join),
                    predicates: rest,
                }
            }
        }
        RelExpr::Filter { input, mut predicates } => {
            predicates.extend(conjuncts);
            RelExpr::Filter { input, predicates }
        }
        other => RelExpr::Filter {
            input: Box::new(other),
            predicates: conjuncts,
        },
    }
}
