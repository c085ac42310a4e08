//! Planning queries: FROM, joins, WHERE, GROUP BY, SELECT lists, set operations, ORDER BY.

use crate::expr::{ExprCx, Typed};
use crate::plan::{OuterRows, Planner};
use crate::scope::{Scope, ScopeItem};
use crate::PlanError;
use riffle_expr::{ColumnOrder, Func, JoinKind, RelExpr, RowSetFinishing, ScalarExpr};
use riffle_repr::{ColumnType, Datum, Row, ScalarType};
use sqlparser::ast::{self, Expr, JoinConstraint, SetExpr, SetOperator, SetQuantifier};

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

pub(crate) fn distinct(input: RelExpr) -> RelExpr {
    RelExpr::Distinct { input: Box::new(input) }
}

fn negate(input: RelExpr) -> RelExpr {
    RelExpr::Negate { input: Box::new(input) }
}

fn threshold(input: RelExpr) -> RelExpr {
    RelExpr::Threshold { input: Box::new(input) }
}

pub(crate) fn project(input: RelExpr, outputs: Vec<usize>) -> RelExpr {
    RelExpr::Project {
        input: Box::new(input),
        outputs,
    }
}

pub(crate) fn arity_of(scope: &Scope) -> usize {
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
}

/// Whether a join constraint is absent or `ON true`.
pub(crate) fn lateral_on_true(c: &JoinConstraint) -> bool {
    match c {
        JoinConstraint::None => true,
        JoinConstraint::On(Expr::Value(v)) => matches!(v.value, ast::Value::Boolean(true)),
        _ => false,
    }
}

pub(crate) fn apply_column_aliases(scope: &mut Scope, cols: &[ast::TableAliasColumnDef]) {
    for (item, col) in scope.items.iter_mut().zip(cols) {
        item.name = col.name.value.clone();
    }
}

pub(crate) fn ordinal(n: &str, len: usize) -> Result<usize, PlanError> {
    match n.parse::<usize>() {
        Ok(i) if i >= 1 && i <= len => Ok(i - 1),
        _ => Err(PlanError::InvalidParameter(format!("position {n} is not in select list"))),
    }
}

pub(crate) fn column_order(column: usize, options: &ast::OrderByOptions) -> ColumnOrder {
    let desc = matches!(options.sort, Some(ast::OrderBySort::Desc));
    // PostgreSQL: NULLs are larger than every value, so they come last ascending.
    ColumnOrder {
        column,
        desc,
        nulls_first: options.nulls_first.unwrap_or(desc),
    }
}

/// The column name PostgreSQL gives an unaliased select item.
pub(crate) fn output_name(e: &Expr) -> String {
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
pub(crate) fn split_temporal(pred: ScalarExpr) -> Result<(Vec<ScalarExpr>, Vec<ScalarExpr>, Vec<ScalarExpr>), PlanError> {
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

pub(crate) fn flatten_and(e: ScalarExpr, out: &mut Vec<ScalarExpr>) {
    match e {
        ScalarExpr::And(es) => es.into_iter().for_each(|e| flatten_and(e, out)),
        other => out.push(other),
    }
}

/// Splits join conjuncts into equi-keys `left_expr = right_expr` and a residual.
pub(crate) fn extract_equi_keys(conjuncts: Vec<ScalarExpr>, left_arity: usize) -> (Vec<(ScalarExpr, ScalarExpr)>, Vec<ScalarExpr>) {
    let mut keys = Vec::new();
    let mut residual = Vec::new();
    let side = |e: &ScalarExpr| -> Option<bool> {
        match join_sides(e, left_arity) {
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
pub(crate) fn push_conjuncts(rel: RelExpr, conjuncts: Vec<ScalarExpr>) -> RelExpr {
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
            let side = |e: &ScalarExpr| join_sides(e, left_arity);
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

/// Whether an expression over a join's columns reads the left input (columns below
/// `left_arity`), the right one, or both.
pub(crate) fn join_sides(e: &ScalarExpr, left_arity: usize) -> (bool, bool) {
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
}
