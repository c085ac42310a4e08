//! Planning scalar expressions: name binding, overload resolution, coercion.

use crate::plan::Planner;
use crate::scope::Scope;
use crate::types::parse_type_name;
use crate::PlanError;
use riffle_expr::{AggregateExpr, Func, ScalarExpr};
use riffle_repr::strconv::{self, parse_interval};
use riffle_repr::{Datum, Interval, ScalarType};
use sqlparser::ast::{
    self, BinaryOperator, CastKind, DateTimeField, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, UnaryOperator, Value,
};
use std::cell::RefCell;

/// A planned scalar expression with its SQL type.
#[derive(Clone, Debug)]
pub struct Typed {
    /// The expression.
    pub expr: ScalarExpr,
    /// Its type.
    pub typ: ScalarType,
}

impl Typed {
    pub(crate) fn new(expr: ScalarExpr, typ: ScalarType) -> Self {
        Typed { expr, typ }
    }
    pub(crate) fn lit(d: Datum, typ: ScalarType) -> Self {
        Typed {
            expr: ScalarExpr::Literal(d),
            typ,
        }
    }
}

/// State for a grouped query: GROUP BY keys and the aggregates discovered while planning.
pub struct Grouping {
    /// The scope of the rows being grouped.
    pub input: Scope,
    /// Group key expressions over `input`.
    pub keys: Vec<Typed>,
    /// Aggregates found so far, with their output types.
    pub aggs: RefCell<Vec<(AggregateExpr, ScalarType)>>,
}

/// Where an expression is being planned.
#[derive(Clone, Copy)]
pub struct ExprCx<'a> {
    /// Columns visible to the expression.
    pub scope: &'a Scope,
    /// Set when planning the SELECT list or HAVING of a grouped query.
    pub grouping: Option<&'a Grouping>,
    /// A short name of the clause, for error messages ("WHERE", "VALUES").
    pub clause: &'static str,
    /// Where subqueries in the expression are joined; None where they are not supported.
    pub subq: Option<&'a crate::subquery::SubqueryCx>,
    /// Where window function calls are collected; None where they are not allowed.
    pub windows: Option<&'a crate::window::WindowCx>,
}

impl<'a> ExprCx<'a> {
    /// An ungrouped context over `scope`.
    pub fn new(scope: &'a Scope, clause: &'static str) -> Self {
        ExprCx {
            scope,
            grouping: None,
            clause,
            subq: None,
            windows: None,
        }
    }
}

pub(crate) const AGGREGATES: &[&str] = &[
    "mode",
    "percentile_cont",
    "percentile_disc",
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "bool_and",
    "bool_or",
    "every",
    "array_agg",
    "string_agg",
    "stddev",
    "stddev_samp",
    "stddev_pop",
    "variance",
    "var_samp",
    "var_pop",
];

/// Whether an expression contains an aggregate call (outside subqueries).
#[recursive::recursive]
pub fn contains_aggregate(e: &Expr) -> bool {
    match e {
        Expr::Function(f) => {
            let name = f.name.to_string().to_ascii_lowercase();
            if AGGREGATES.contains(&name.as_str()) && f.over.is_none() {
                return true;
            }
            match &f.args {
                FunctionArguments::List(list) => list.args.iter().any(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => contains_aggregate(e),
                    _ => false,
                }),
                _ => false,
            }
        }
        Expr::BinaryOp { left, right, .. } => contains_aggregate(left) || contains_aggregate(right),
        Expr::UnaryOp { expr, .. }
        | Expr::Nested(expr)
        | Expr::Cast { expr, .. }
        | Expr::IsNull(expr)
        | Expr::IsNotNull(expr)
        | Expr::IsTrue(expr)
        | Expr::IsFalse(expr)
        | Expr::IsNotTrue(expr)
        | Expr::IsNotFalse(expr) => contains_aggregate(expr),
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            operand.as_deref().is_some_and(contains_aggregate)
                || conditions
                    .iter()
                    .any(|c| contains_aggregate(&c.condition) || contains_aggregate(&c.result))
                || else_result.as_deref().is_some_and(contains_aggregate)
        }
        Expr::Between { expr, low, high, .. } => contains_aggregate(expr) || contains_aggregate(low) || contains_aggregate(high),
        Expr::In {
            expr,
            target: ast::InTarget::List(list),
            ..
        } => contains_aggregate(expr) || list.iter().any(contains_aggregate),
        Expr::IsDistinctFrom(a, b) | Expr::IsNotDistinctFrom(a, b) => contains_aggregate(a) || contains_aggregate(b),
        Expr::Like { expr, pattern, .. } | Expr::ILike { expr, pattern, .. } => contains_aggregate(expr) || contains_aggregate(pattern),
        _ => false,
    }
}

fn number_literal(s: &str) -> Result<Typed, PlanError> {
    if !s.contains(['.', 'e', 'E']) {
        if let Ok(v) = s.parse::<i32>() {
            return Ok(Typed::lit(Datum::Int32(v), ScalarType::Int32));
        }
        if let Ok(v) = s.parse::<i64>() {
            return Ok(Typed::lit(Datum::Int64(v), ScalarType::Int64));
        }
    }
    match strconv::parse_numeric(s) {
        Ok(d) => Ok(Typed::lit(Datum::Numeric(d), ScalarType::NUMERIC)),
        // Beyond numeric's 28 significant digits (1e100): PostgreSQL's numeric would hold it;
        // Riffle's cannot, so the literal is a double precision, which every numeric
        // context accepts.
        Err(e) => match s.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Typed::lit(Datum::Float64(riffle_repr::F64(v)), ScalarType::Float64)),
            _ => Err(riffle_expr::EvalError::from(e).into()),
        },
    }
}

fn datetime_field_name(f: &DateTimeField) -> String {
    match f {
        DateTimeField::Custom(i) => i.value.to_ascii_lowercase(),
        other => other.to_string().to_ascii_lowercase(),
    }
}

impl Planner<'_> {
    /// The model a model function names in its first argument (a string literal), which the
    /// statement then depends on.
    pub(crate) fn model_arg(&mut self, function: &str, first: Option<Typed>) -> Result<(String, crate::ModelDesc), PlanError> {
        let model_name = match first.map(|t| t.expr) {
            Some(ScalarExpr::Literal(Datum::String(m))) => m,
            _ => {
                return Err(PlanError::TypeMismatch(format!(
                    "the first argument of {function} must name a model as a string literal"
                )))
            }
        };
        let item = self
            .catalog
            .get(&model_name)
            .ok_or_else(|| PlanError::UnknownObject("model", model_name.clone()))?;
        let crate::ItemKind::Model(desc) = &item.kind else {
            return Err(PlanError::WrongObjectType(model_name, "model"));
        };
        if !self.deps.contains(&item.id) {
            self.deps.push(item.id);
        }
        Ok((model_name, desc.clone()))
    }

    /// `array || array`, `array || element`, `element || array`, as PostgreSQL: the element type
    /// is the left array's (numbers of different types meet as double precision).
    pub(crate) fn plan_array_concat(&self, l: Typed, r: Typed) -> Result<Typed, PlanError> {
        use ScalarType as T;
        let elem = |t: &T| match t {
            T::Array(e) => Some((**e).clone()),
            _ => None,
        };
        let (le, re) = (elem(&l.typ), elem(&r.typ));
        let target = match (&le, &re) {
            (Some(a), Some(b)) if a != b && a.is_numeric() && b.is_numeric() => T::Float64,
            (Some(a), _) => a.clone(),
            (None, Some(b)) => b.clone(),
            (None, None) => unreachable!("one side is an array"),
        };
        let array_of = |t: Typed, is_array: bool| -> Result<ScalarExpr, PlanError> {
            if is_array {
                Ok(self.cast(t, &T::Array(Box::new(target.clone())), false)?.expr)
            } else {
                let e = self.cast(t, &target, false)?;
                Ok(ScalarExpr::call(Func::ArrayConstruct, vec![e.expr]))
            }
        };
        let (lx, rx) = (array_of(l, le.is_some())?, array_of(r, re.is_some())?);
        Ok(Typed::new(
            ScalarExpr::call(Func::ArrayCat, vec![lx, rx]),
            T::Array(Box::new(target)),
        ))
    }

    /// Plans an expression with no type expectation.
    pub fn plan_expr(&mut self, cx: ExprCx, e: &Expr) -> Result<Typed, PlanError> {
        self.plan_expr_hinted(cx, e, None)
    }

    /// Plans an expression; `hint` types parameters and untyped literals from context.
    ///
    /// Every recursion over a statement's expressions passes through here, so this is where
    /// the stack grows on demand (`recursive`, on the heap) for deeply nested input (up to
    /// `depth::MAX_EXPR_DEPTH` levels; a debug build's frames here are tens of KiB).
    #[recursive::recursive]
    pub fn plan_expr_hinted(&mut self, cx: ExprCx, e: &Expr, hint: Option<&ScalarType>) -> Result<Typed, PlanError> {
        if let Some(g) = cx.grouping {
            if let Some(t) = self.match_grouped(cx, g, e)? {
                return Ok(t);
            }
        }
        match e {
            Expr::Identifier(id) => self.plan_column(cx, None, &id.value),
            Expr::CompoundIdentifier(ids) => {
                let n = ids.len();
                if n < 2 {
                    return Err(PlanError::unsupported("empty identifier"));
                }
                self.plan_column(cx, Some(&ids[n - 2].value), &ids[n - 1].value)
            }
            Expr::Value(v) => self.plan_value(&v.value, hint),
            Expr::TypedString(ts) => {
                let typ = parse_type_name(&ts.data_type)?;
                let text = match &ts.value.value {
                    Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => s.clone(),
                    other => other.to_string(),
                };
                Ok(Typed::lit(
                    strconv::parse_datum(&text, &typ).map_err(riffle_expr::EvalError::from)?,
                    typ,
                ))
            }
            Expr::Interval(iv) => {
                let text = match self.plan_expr(cx, &iv.value)?.expr {
                    ScalarExpr::Literal(Datum::String(s)) => s,
                    ScalarExpr::Literal(d) => strconv::format_datum(&d).unwrap_or_default(),
                    _ => return Err(PlanError::unsupported("non-constant INTERVAL literal")),
                };
                let text = match &iv.leading_field {
                    Some(f) if !text.trim().contains(char::is_alphabetic) && !text.contains(':') => {
                        format!("{text} {}", datetime_field_name(f))
                    }
                    _ => text,
                };
                let parsed: Interval = parse_interval(&text).map_err(riffle_expr::EvalError::from)?;
                Ok(Typed::lit(Datum::Interval(parsed), ScalarType::Interval))
            }
            Expr::Nested(inner) => self.plan_expr_hinted(cx, inner, hint),
            Expr::UnaryOp { op, expr } => self.plan_unary(cx, op, expr),
            Expr::BinaryOp { left, op, right } => self.plan_binary(cx, left, op, right),
            Expr::IsNull(x) => self.plan_nonstrict(cx, Func::IsNull, x, false),
            Expr::IsNotNull(x) => self.plan_nonstrict(cx, Func::IsNull, x, true),
            Expr::IsTrue(x) => self.plan_nonstrict(cx, Func::IsTrue, x, false),
            Expr::IsNotTrue(x) => self.plan_nonstrict(cx, Func::IsTrue, x, true),
            Expr::IsFalse(x) => self.plan_nonstrict(cx, Func::IsFalse, x, false),
            Expr::IsNotFalse(x) => self.plan_nonstrict(cx, Func::IsFalse, x, true),
            Expr::IsUnknown(x) => self.plan_nonstrict(cx, Func::IsNull, x, false),
            Expr::IsNotUnknown(x) => self.plan_nonstrict(cx, Func::IsNull, x, true),
            Expr::IsDistinctFrom(a, b) => self.plan_comparison(cx, a, b, Func::IsDistinctFrom),
            Expr::IsNotDistinctFrom(a, b) => self.plan_comparison(cx, a, b, Func::IsNotDistinctFrom),
            Expr::In {
                expr,
                target: ast::InTarget::List(list),
                negated,
                ..
            } => {
                let mut ors = Vec::new();
                for item in list {
                    ors.push(self.plan_comparison(cx, expr, item, Func::Eq)?.expr);
                }
                let any = ScalarExpr::Or(ors);
                Ok(Typed::new(
                    if *negated { ScalarExpr::call(Func::Not, vec![any]) } else { any },
                    ScalarType::Bool,
                ))
            }
            Expr::Between { expr, negated, low, high } => {
                let lo = self.plan_comparison(cx, expr, low, Func::Gte)?;
                let hi = self.plan_comparison(cx, expr, high, Func::Lte)?;
                let both = ScalarExpr::And(vec![lo.expr, hi.expr]);
                Ok(Typed::new(
                    if *negated { ScalarExpr::call(Func::Not, vec![both]) } else { both },
                    ScalarType::Bool,
                ))
            }
            Expr::Like {
                negated,
                expr,
                pattern,
                escape_char,
                any,
                ..
            }
            | Expr::ILike {
                negated,
                expr,
                pattern,
                escape_char,
                any,
                ..
            } => {
                if escape_char.is_some() || *any {
                    return Err(PlanError::unsupported("LIKE with ESCAPE or ANY"));
                }
                let case_insensitive = matches!(e, Expr::ILike { .. });
                self.plan_like(cx, expr, pattern, case_insensitive, *negated)
            }
            Expr::Cast { kind, expr, data_type, .. } => {
                if matches!(kind, CastKind::TryCast | CastKind::SafeCast) {
                    return Err(PlanError::unsupported("TRY_CAST"));
                }
                let to = parse_type_name(data_type)?;
                let input = self.plan_expr_hinted(cx, expr, Some(&to))?;
                self.cast(input, &to, true)
            }
            Expr::Extract { field, expr, .. } => {
                let arg = self.plan_expr(cx, expr)?;
                let arg = self.coerce_datetime_arg(arg)?;
                Ok(Typed::new(
                    ScalarExpr::call(
                        Func::Extract,
                        vec![ScalarExpr::Literal(Datum::String(datetime_field_name(field))), arg.expr],
                    ),
                    ScalarType::NUMERIC,
                ))
            }
            Expr::Ceil { expr, .. } => self.plan_func_call(cx, "ceil", &[expr.as_ref().clone()], false),
            Expr::Floor { expr, .. } => self.plan_func_call(cx, "floor", &[expr.as_ref().clone()], false),
            Expr::Position { expr, r#in } => self.plan_func_call(cx, "position", &[expr.as_ref().clone(), r#in.as_ref().clone()], false),
            Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args = vec![expr.as_ref().clone()];
                args.push(
                    substring_from
                        .as_deref()
                        .cloned()
                        .unwrap_or(Expr::value(Value::Number("1".into(), false))),
                );
                if let Some(f) = substring_for {
                    args.push(f.as_ref().clone());
                }
                self.plan_func_call(cx, "substr", &args, false)
            }
            Expr::Trim {
                expr,
                trim_where,
                trim_what,
                trim_characters,
            } => {
                if trim_characters.is_some() {
                    return Err(PlanError::unsupported("TRIM with a character list"));
                }
                let name = match trim_where {
                    Some(ast::TrimWhereField::Leading) => "ltrim",
                    Some(ast::TrimWhereField::Trailing) => "rtrim",
                    _ => "btrim",
                };
                let mut args = vec![expr.as_ref().clone()];
                if let Some(w) = trim_what {
                    args.push(w.as_ref().clone());
                }
                self.plan_func_call(cx, name, &args, false)
            }
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => self.plan_case(cx, operand.as_deref(), conditions, else_result.as_deref()),
            Expr::Function(f) => self.plan_function(cx, f),
            Expr::Subquery(q) => self.plan_scalar_subquery(cx, q),
            Expr::Exists { subquery, negated } => self.plan_exists(cx, subquery, *negated),
            Expr::In {
                expr,
                target: ast::InTarget::Subquery(q),
                negated,
                ..
            } => self.plan_in_subquery(cx, expr, q, *negated),
            Expr::In { .. } => Err(PlanError::unsupported("IN with this right-hand side")),
            Expr::AtTimeZone { timestamp, time_zone } => {
                let t = self.plan_expr(cx, timestamp)?;
                let zone = self.constant_zone(cx, time_zone)?;
                self.at_time_zone(t, zone)
            }
            Expr::Array(arr) => {
                let elem_hint = match hint {
                    Some(ScalarType::Array(e)) => Some((**e).clone()),
                    _ => None,
                };
                let items = arr
                    .elem
                    .iter()
                    .map(|e| self.plan_expr_hinted(cx, e, elem_hint.as_ref()))
                    .collect::<Result<Vec<_>, _>>()?;
                let items = if items.is_empty() { items } else { self.unify(items, "ARRAY")? };
                let elem = items.first().map_or(elem_hint.unwrap_or(ScalarType::String), |t| t.typ.clone());
                Ok(Typed::new(
                    ScalarExpr::call(Func::ArrayConstruct, items.into_iter().map(|t| t.expr).collect()),
                    ScalarType::Array(Box::new(elem)),
                ))
            }
            Expr::CompoundFieldAccess { root, access_chain } => {
                let mut t = self.plan_expr(cx, root)?;
                for access in access_chain {
                    let ast::AccessExpr::Subscript(ast::Subscript::Index { index }) = access else {
                        return Err(PlanError::unsupported("field access and array slices"));
                    };
                    let ScalarType::Array(elem) = t.typ.clone() else {
                        return Err(PlanError::TypeMismatch(format!(
                            "cannot subscript type {} because it is not an array",
                            t.typ
                        )));
                    };
                    let i = self.plan_expr_hinted(cx, index, Some(&ScalarType::Int32))?;
                    let i = self.cast(i, &ScalarType::Int64, false)?;
                    t = Typed::new(ScalarExpr::call(Func::ArrayIndex, vec![t.expr, i.expr]), *elem);
                }
                Ok(t)
            }
            Expr::AnyOp {
                left,
                compare_op: BinaryOperator::Eq,
                right,
                ..
            } => {
                if let Expr::Subquery(q) = right.as_ref() {
                    return self.plan_in_subquery(cx, left, q, false);
                }
                let arr = self.plan_expr(cx, right)?;
                let ScalarType::Array(elem) = arr.typ.clone() else {
                    return Err(PlanError::TypeMismatch("op ANY/ALL (array) requires array on right side".into()));
                };
                let x = self.plan_expr_hinted(cx, left, Some(&elem))?;
                let x = self.cast(x, &elem, false)?;
                Ok(Typed::new(ScalarExpr::call(Func::EqAny, vec![x.expr, arr.expr]), ScalarType::Bool))
            }
            // Riffle compares text bytewise (the C collation); COLLATE clauses are accepted as such.
            Expr::Collate { expr, .. } => self.plan_expr_hinted(cx, expr, hint),
            other => Err(PlanError::unsupported(format!("expression {other}"))),
        }
    }

    /// In a grouped query, maps an expression to a group key or aggregate column, if it is one.
    fn match_grouped(&mut self, cx: ExprCx, g: &Grouping, e: &Expr) -> Result<Option<Typed>, PlanError> {
        if let Expr::Function(f) = e {
            let name = f.name.to_string().to_ascii_lowercase();
            if AGGREGATES.contains(&name.as_str()) && f.over.is_none() {
                let (agg, typ) = self.plan_aggregate(ExprCx::new(&g.input, "aggregate"), &name, f)?;
                let mut aggs = g.aggs.borrow_mut();
                let idx = match aggs.iter().position(|(a, _)| *a == agg) {
                    Some(i) => i,
                    None => {
                        aggs.push((agg, typ.clone()));
                        aggs.len() - 1
                    }
                };
                return Ok(Some(Typed::new(ScalarExpr::Column(g.keys.len() + idx), typ)));
            }
        }
        if matches!(e, Expr::Value(_)) {
            return Ok(None);
        }
        // An expression equal to a group key reads the key column.
        let ungrouped = ExprCx {
            scope: &g.input,
            grouping: None,
            clause: cx.clause,
            subq: None,
            windows: None,
        };
        if !contains_aggregate(e) {
            if let Ok(planned) = self.plan_expr(ungrouped, e) {
                if let Some(i) = g.keys.iter().position(|k| k.expr == planned.expr) {
                    return Ok(Some(Typed::new(ScalarExpr::Column(i), g.keys[i].typ.clone())));
                }
                if planned.expr.is_constant() {
                    return Ok(Some(planned));
                }
            }
        }
        Ok(None)
    }

    fn plan_column(&mut self, cx: ExprCx, table: Option<&str>, name: &str) -> Result<Typed, PlanError> {
        if let Some(g) = cx.grouping {
            let idx = g.input.resolve(table, name)?;
            let qualified = match table {
                Some(t) => format!("{t}.{name}"),
                None => g.input.items[idx]
                    .table
                    .as_ref()
                    .map_or(name.to_string(), |t| format!("{t}.{name}")),
            };
            return Err(PlanError::Grouping(format!(
                "column \"{qualified}\" must appear in the GROUP BY clause or be used in an aggregate function"
            )));
        }
        match cx.scope.resolve(table, name) {
            Ok(i) => {
                if cx.scope.items[i].outer {
                    self.correlated = true;
                }
                Ok(Typed::new(ScalarExpr::Column(i), cx.scope.items[i].typ.scalar_type.clone()))
            }
            Err(e) => {
                // Zero-argument functions that SQL spells without parentheses.
                if table.is_none() {
                    if let Some(t) = self.plan_niladic(name)? {
                        return Ok(t);
                    }
                }
                Err(e)
            }
        }
    }

    pub(crate) fn plan_niladic(&self, name: &str) -> Result<Option<Typed>, PlanError> {
        Ok(Some(match name {
            "current_timestamp" | "localtimestamp" => self.now_literal(ScalarType::TimestampTz)?,
            "current_date" => self.now_literal(ScalarType::Date)?,
            "current_user" | "session_user" | "user" | "current_role" if self.ctx.in_view => {
                return Err(PlanError::unsupported(format!("{name} in a view definition")))
            }
            "current_user" | "user" | "current_role" => Typed::lit(Datum::String(self.ctx.current_user.clone()), ScalarType::String),
            "session_user" => Typed::lit(Datum::String(self.ctx.session_user.clone()), ScalarType::String),
            "current_schema" => Typed::lit(Datum::String("public".into()), ScalarType::String),
            "current_catalog" => Typed::lit(Datum::String("riffle".into()), ScalarType::String),
            _ => return Ok(None),
        }))
    }

    pub(crate) fn now_literal(&self, typ: ScalarType) -> Result<Typed, PlanError> {
        if self.ctx.in_view {
            return Err(PlanError::unsupported("now() and current_timestamp in a view definition"));
        }
        let micros = self.ctx.now_micros;
        Ok(match typ {
            ScalarType::Date => Typed::lit(Datum::Date(micros.div_euclid(Interval::MICROS_PER_DAY) as i32), typ),
            ScalarType::Timestamp => Typed::lit(Datum::Timestamp(micros), typ),
            _ => Typed::lit(Datum::TimestampTz(micros), ScalarType::TimestampTz),
        })
    }

    fn plan_value(&mut self, v: &Value, hint: Option<&ScalarType>) -> Result<Typed, PlanError> {
        match v {
            Value::Number(s, _) => number_literal(s),
            Value::SingleQuotedString(s)
            | Value::EscapedStringLiteral(s)
            | Value::DollarQuotedString(ast::DollarQuotedString { value: s, .. }) => {
                Ok(Typed::lit(Datum::String(s.clone()), ScalarType::Unknown))
            }
            Value::Boolean(b) => Ok(Typed::lit(Datum::Bool(*b), ScalarType::Bool)),
            Value::Null => Ok(Typed::lit(Datum::Null, ScalarType::Unknown)),
            Value::Placeholder(p) => {
                let n: usize = p
                    .trim_start_matches('$')
                    .parse()
                    .map_err(|_| PlanError::Syntax(format!("invalid parameter {p}")))?;
                if n == 0 {
                    return Err(PlanError::UnknownParameter(0));
                }
                self.plan_param(n, hint)
            }
            other => Err(PlanError::unsupported(format!("literal {other}"))),
        }
    }

    fn plan_param(&mut self, n: usize, hint: Option<&ScalarType>) -> Result<Typed, PlanError> {
        let types = &mut self.param_types;
        if types.len() < n {
            types.resize(n, None);
        }
        let typ = match (&types[n - 1], hint) {
            (Some(t), _) => t.clone(),
            (None, Some(h)) if *h != ScalarType::Unknown => h.without_modifiers(),
            (None, _) => ScalarType::String,
        };
        types[n - 1] = Some(typ.clone());
        let value = match &self.param_values {
            Some(values) => values.get(n - 1).cloned().ok_or(PlanError::UnknownParameter(n))?,
            None => Datum::Null,
        };
        Ok(Typed::lit(value, typ))
    }

    fn plan_unary(&mut self, cx: ExprCx, op: &UnaryOperator, expr: &Expr) -> Result<Typed, PlanError> {
        match op {
            UnaryOperator::Not => {
                let arg = self.plan_expr_hinted(cx, expr, Some(&ScalarType::Bool))?;
                let arg = self.require(arg, &ScalarType::Bool, "argument of NOT")?;
                Ok(Typed::new(ScalarExpr::call(Func::Not, vec![arg.expr]), ScalarType::Bool))
            }
            UnaryOperator::Minus => {
                if let Expr::Value(v) = expr {
                    if let Value::Number(s, _) = &v.value {
                        return number_literal(&format!("-{s}"));
                    }
                }
                let arg = self.plan_expr(cx, expr)?;
                let arg = if arg.typ == ScalarType::Unknown {
                    self.cast(arg, &ScalarType::Float64, false)?
                } else {
                    arg
                };
                if !arg.typ.is_numeric() && arg.typ != ScalarType::Interval {
                    return Err(PlanError::UnknownFunction(format!("operator does not exist: - {}", arg.typ)));
                }
                Ok(Typed::new(ScalarExpr::call(Func::Neg, vec![arg.expr]), arg.typ))
            }
            UnaryOperator::Plus => self.plan_expr(cx, expr),
            other => Err(PlanError::unsupported(format!("operator {other}"))),
        }
    }

    /// Plans both operands, letting a parameter or untyped literal take the other's type.
    pub fn plan_pair(&mut self, cx: ExprCx, a: &Expr, b: &Expr) -> Result<(Typed, Typed), PlanError> {
        let a_flexible = is_flexible(a);
        if a_flexible && !is_flexible(b) {
            let tb = self.plan_expr(cx, b)?;
            let ta = self.plan_expr_hinted(cx, a, Some(&tb.typ))?;
            Ok((ta, tb))
        } else {
            let ta = self.plan_expr(cx, a)?;
            let tb = self.plan_expr_hinted(cx, b, Some(&ta.typ))?;
            Ok((ta, tb))
        }
    }

    pub(crate) fn plan_comparison(&mut self, cx: ExprCx, a: &Expr, b: &Expr, func: Func) -> Result<Typed, PlanError> {
        let (ta, tb) = self.plan_pair(cx, a, b)?;
        self.compare_typed(ta, tb, func)
    }

    fn plan_nonstrict(&mut self, cx: ExprCx, func: Func, x: &Expr, negate: bool) -> Result<Typed, PlanError> {
        let arg = self.plan_expr(cx, x)?;
        let arg = if func != Func::IsNull {
            self.require(arg, &ScalarType::Bool, "argument of IS TRUE")?
        } else {
            arg
        };
        let call = ScalarExpr::call(func, vec![arg.expr]);
        Ok(Typed::new(
            if negate { ScalarExpr::call(Func::Not, vec![call]) } else { call },
            ScalarType::Bool,
        ))
    }

    pub(crate) fn plan_like(
        &mut self,
        cx: ExprCx,
        expr: &Expr,
        pattern: &Expr,
        case_insensitive: bool,
        negated: bool,
    ) -> Result<Typed, PlanError> {
        let s = self.plan_expr_hinted(cx, expr, Some(&ScalarType::String))?;
        let p = self.plan_expr_hinted(cx, pattern, Some(&ScalarType::String))?;
        let s = self.require_text(s, "LIKE")?;
        let p = self.require_text(p, "LIKE")?;
        let call = ScalarExpr::call(Func::Like { case_insensitive }, vec![s.expr, p.expr]);
        Ok(Typed::new(
            if negated { ScalarExpr::call(Func::Not, vec![call]) } else { call },
            ScalarType::Bool,
        ))
    }

    pub(crate) fn require_text(&self, t: Typed, what: &str) -> Result<Typed, PlanError> {
        if t.typ.is_string_like() {
            Ok(Typed::new(t.expr, ScalarType::String))
        } else {
            Err(PlanError::UnknownFunction(format!(
                "operator does not exist: {} {what} text",
                t.typ
            )))
        }
    }

    /// Coerces an expression to `typ` where the rules allow it implicitly, else errors.
    pub fn require(&self, t: Typed, typ: &ScalarType, what: &str) -> Result<Typed, PlanError> {
        if t.typ == *typ {
            return Ok(t);
        }
        if t.typ == ScalarType::Unknown {
            return self.cast(t, typ, false);
        }
        Err(PlanError::TypeMismatch(format!("{what} must be type {typ}, not type {}", t.typ)))
    }

    fn plan_case(
        &mut self,
        cx: ExprCx,
        operand: Option<&Expr>,
        conditions: &[ast::CaseWhen],
        else_result: Option<&Expr>,
    ) -> Result<Typed, PlanError> {
        let mut conds = Vec::new();
        let mut results = Vec::new();
        for when in conditions {
            let cond = match operand {
                Some(op) => self.plan_comparison(cx, op, &when.condition, Func::Eq)?,
                None => {
                    let c = self.plan_expr_hinted(cx, &when.condition, Some(&ScalarType::Bool))?;
                    self.require(c, &ScalarType::Bool, "argument of CASE/WHEN")?
                }
            };
            conds.push(cond.expr);
            results.push(self.plan_expr(cx, &when.result)?);
        }
        let els = match else_result {
            Some(e) => self.plan_expr(cx, e)?,
            None => Typed::lit(Datum::Null, ScalarType::Unknown),
        };
        results.push(els);
        let (results, typ) = self.unify_typed(results, "CASE")?;
        let mut iter = results.into_iter().rev();
        let mut expr = iter.next().expect("else branch").expr;
        for (cond, result) in conds.into_iter().rev().zip(iter) {
            expr = ScalarExpr::If {
                cond: Box::new(cond),
                then: Box::new(result.expr),
                els: Box::new(expr),
            };
        }
        Ok(Typed::new(expr, typ))
    }

    pub(crate) fn function_args<'e>(&self, f: &'e ast::Function) -> Result<(Vec<&'e Expr>, bool, bool), PlanError> {
        match &f.args {
            FunctionArguments::None => Ok((vec![], false, false)),
            FunctionArguments::Subquery(_) => Err(PlanError::unsupported("subquery as function argument")),
            FunctionArguments::List(list) => {
                // Ordered aggregates: Riffle's array_agg/string_agg already order by the value,
                // so ORDER BY the aggregated argument itself (ascending) is accepted.
                for clause in &list.clauses {
                    let ordered_by_arg = match clause {
                        ast::FunctionArgumentClause::OrderBy(obs) => obs.iter().all(|ob| {
                            !matches!(ob.options.sort, Some(ast::OrderBySort::Desc))
                                && matches!(list.args.first(), Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(e))) if *e == ob.expr)
                        }),
                        _ => false,
                    };
                    if !ordered_by_arg {
                        return Err(PlanError::unsupported(format!("this clause in a call of {}", f.name)));
                    }
                }
                let distinct = matches!(list.duplicate_treatment, Some(ast::DuplicateTreatment::Distinct));
                let mut star = false;
                let mut args = Vec::new();
                for a in &list.args {
                    match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => args.push(e),
                        FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => star = true,
                        _ => return Err(PlanError::unsupported("named function arguments")),
                    }
                }
                Ok((args, distinct, star))
            }
        }
    }
}

/// Parameters and untyped literals take their type from the other operand.
fn is_flexible(e: &Expr) -> bool {
    match e {
        Expr::Value(v) => matches!(v.value, Value::Placeholder(_) | Value::SingleQuotedString(_) | Value::Null),
        Expr::Nested(inner) => is_flexible(inner),
        _ => false,
    }
}
