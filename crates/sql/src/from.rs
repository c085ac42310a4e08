//! The FROM clause: tables, views and CTEs by name, derived tables, LATERAL, table
//! functions, TUMBLE/HOP, and joins (equality keys extracted from ON and WHERE, USING, ASOF).

use crate::expr::{ExprCx, Typed};
use crate::plan::Planner;
use crate::query::*;
use crate::scope::{Scope, ScopeItem};
use crate::subquery::{null_safe_keys, SubqueryCx};
use crate::PlanError;
use riffle_expr::{ColumnOrder, Func, JoinKind, RelExpr, ScalarExpr, TableFunc};
use riffle_repr::{ColumnType, Datum, Row, ScalarType};
use sqlparser::ast::{self, Expr, JoinConstraint, JoinOperator, TableFactor};

impl Planner<'_> {
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
        let side = |e: &ScalarExpr| join_sides(e, nl);
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
}
