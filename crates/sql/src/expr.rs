//! Planning scalar expressions: name binding, overload resolution, coercion.

use crate::plan::Planner;
use crate::scope::Scope;
use crate::types::{common_type, parse_type_name};
use crate::PlanError;
use riffle_expr::{AggregateExpr, AggregateFunc, Func, ScalarExpr};
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
    fn new(expr: ScalarExpr, typ: ScalarType) -> Self {
        Typed { expr, typ }
    }
    fn lit(d: Datum, typ: ScalarType) -> Self {
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

const AGGREGATES: &[&str] = &[
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
    fn model_arg(&mut self, function: &str, first: Option<Typed>) -> Result<(String, crate::ModelDesc), PlanError> {
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
    fn plan_array_concat(&self, l: Typed, r: Typed) -> Result<Typed, PlanError> {
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

    fn plan_niladic(&self, name: &str) -> Result<Option<Typed>, PlanError> {
        Ok(Some(match name {
            "current_timestamp" | "localtimestamp" => self.now_literal(ScalarType::TimestampTz)?,
            "current_date" => self.now_literal(ScalarType::Date)?,
            "current_user" | "session_user" | "user" => Typed::lit(Datum::String("riffle".into()), ScalarType::String),
            "current_schema" => Typed::lit(Datum::String("public".into()), ScalarType::String),
            "current_catalog" => Typed::lit(Datum::String("riffle".into()), ScalarType::String),
            _ => return Ok(None),
        }))
    }

    fn now_literal(&self, typ: ScalarType) -> Result<Typed, PlanError> {
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

    fn plan_comparison(&mut self, cx: ExprCx, a: &Expr, b: &Expr, func: Func) -> Result<Typed, PlanError> {
        let (ta, tb) = self.plan_pair(cx, a, b)?;
        self.compare_typed(ta, tb, func)
    }

    /// Builds a comparison of two typed expressions, coercing both to a common type.
    pub fn compare_typed(&self, ta: Typed, tb: Typed, func: Func) -> Result<Typed, PlanError> {
        let (a, b) = self.comparable(ta, tb, &func)?;
        Ok(Typed::new(ScalarExpr::call(func, vec![a, b]), ScalarType::Bool))
    }

    /// Both operands of the comparison `func` cast to their common type (an unknown-typed
    /// pair compares as text).
    pub fn comparable(&self, ta: Typed, tb: Typed, func: &Func) -> Result<(ScalarExpr, ScalarExpr), PlanError> {
        let op = match func {
            Func::Eq => "=",
            Func::NotEq => "<>",
            Func::Lt => "<",
            Func::Lte => "<=",
            Func::Gt => ">",
            Func::Gte => ">=",
            _ => "IS DISTINCT FROM",
        };
        let common = common_type(&ta.typ, &tb.typ)
            .ok_or_else(|| PlanError::UnknownFunction(format!("operator does not exist: {} {op} {}", ta.typ, tb.typ)))?;
        let common = if common == ScalarType::Unknown {
            ScalarType::String
        } else {
            common
        };
        let a = self.cast(ta, &common, false)?;
        let b = self.cast(tb, &common, false)?;
        Ok((a.expr, b.expr))
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

    fn plan_like(&mut self, cx: ExprCx, expr: &Expr, pattern: &Expr, case_insensitive: bool, negated: bool) -> Result<Typed, PlanError> {
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

    fn require_text(&self, t: Typed, what: &str) -> Result<Typed, PlanError> {
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

    fn plan_binary(&mut self, cx: ExprCx, left: &Expr, op: &BinaryOperator, right: &Expr) -> Result<Typed, PlanError> {
        use BinaryOperator as B;
        let mut cmp = |f: Func| self.plan_comparison(cx, left, right, f);
        match op {
            B::Eq => cmp(Func::Eq),
            B::NotEq => cmp(Func::NotEq),
            B::Lt => cmp(Func::Lt),
            B::LtEq => cmp(Func::Lte),
            B::Gt => cmp(Func::Gt),
            B::GtEq => cmp(Func::Gte),
            B::And | B::Or => {
                // `a AND b AND c …` is one left-deep tree as long as the chain: walked here in
                // a loop into one n-ary AND (or OR), so evaluation does not recurse per term.
                let mut operands = vec![right];
                let mut rest = left;
                while let Expr::BinaryOp { left, op: inner, right } = rest {
                    if inner != op {
                        break;
                    }
                    operands.push(right);
                    rest = left;
                }
                operands.push(rest);
                operands.reverse();
                let what = if *op == B::And { "argument of AND" } else { "argument of OR" };
                let mut planned = Vec::with_capacity(operands.len());
                for operand in operands {
                    let t = self.plan_expr_hinted(cx, operand, Some(&ScalarType::Bool))?;
                    planned.push(self.require(t, &ScalarType::Bool, what)?.expr);
                }
                let expr = if *op == B::And {
                    ScalarExpr::And(planned)
                } else {
                    ScalarExpr::Or(planned)
                };
                Ok(Typed::new(expr, ScalarType::Bool))
            }
            B::StringConcat => {
                let (l, r) = self.plan_pair(cx, left, right)?;
                if matches!(l.typ, ScalarType::Array(_)) || matches!(r.typ, ScalarType::Array(_)) {
                    return self.plan_array_concat(l, r);
                }
                if l.typ == ScalarType::Jsonb || r.typ == ScalarType::Jsonb {
                    return Err(PlanError::unsupported("jsonb concatenation"));
                }
                let l = self.cast(l, &ScalarType::String, true)?;
                let r = self.cast(r, &ScalarType::String, true)?;
                Ok(Typed::new(
                    ScalarExpr::call(Func::TextConcat, vec![l.expr, r.expr]),
                    ScalarType::String,
                ))
            }
            B::Plus | B::Minus | B::Multiply | B::Divide | B::Modulo => self.plan_arith(cx, left, op, right),
            B::PGRegexMatch | B::PGRegexIMatch | B::PGRegexNotMatch | B::PGRegexNotIMatch => {
                let (l, r) = self.plan_pair(cx, left, right)?;
                let l = self.require_text(l, "~")?;
                let r = self.require_text(r, "~")?;
                let ci = matches!(op, B::PGRegexIMatch | B::PGRegexNotIMatch);
                let call = ScalarExpr::call(Func::RegexMatch { case_insensitive: ci }, vec![l.expr, r.expr]);
                let neg = matches!(op, B::PGRegexNotMatch | B::PGRegexNotIMatch);
                Ok(Typed::new(
                    if neg { ScalarExpr::call(Func::Not, vec![call]) } else { call },
                    ScalarType::Bool,
                ))
            }
            B::PGLikeMatch | B::PGILikeMatch | B::PGNotLikeMatch | B::PGNotILikeMatch => self.plan_like(
                cx,
                left,
                right,
                matches!(op, B::PGILikeMatch | B::PGNotILikeMatch),
                matches!(op, B::PGNotLikeMatch | B::PGNotILikeMatch),
            ),
            B::HashArrow | B::HashLongArrow => {
                let l = self.plan_expr(cx, left)?;
                let path_type = ScalarType::Array(Box::new(ScalarType::String));
                let r = self.plan_expr_hinted(cx, right, Some(&path_type))?;
                let l = self.require(l, &ScalarType::Jsonb, "left operand of #>")?;
                let r = self.cast(r, &path_type, false)?;
                let as_text = *op == B::HashLongArrow;
                let typ = if as_text { ScalarType::String } else { ScalarType::Jsonb };
                Ok(Typed::new(ScalarExpr::call(Func::JsonbPath { as_text }, vec![l.expr, r.expr]), typ))
            }
            B::AtArrow | B::ArrowAt => {
                let (l, r) = self.plan_pair(cx, left, right)?;
                let l = self.require(l, &ScalarType::Jsonb, "operand of @>")?;
                let r = self.require(r, &ScalarType::Jsonb, "operand of @>")?;
                let args = if *op == B::AtArrow {
                    vec![l.expr, r.expr]
                } else {
                    vec![r.expr, l.expr]
                };
                Ok(Typed::new(ScalarExpr::call(Func::JsonbContains, args), ScalarType::Bool))
            }
            B::Question => {
                let l = self.plan_expr(cx, left)?;
                let l = self.require(l, &ScalarType::Jsonb, "left operand of ?")?;
                let r = self.plan_expr_hinted(cx, right, Some(&ScalarType::String))?;
                let r = self.require_text(r, "?")?;
                Ok(Typed::new(
                    ScalarExpr::call(Func::JsonbHasKey, vec![l.expr, r.expr]),
                    ScalarType::Bool,
                ))
            }
            B::Arrow | B::LongArrow => {
                let l = self.plan_expr(cx, left)?;
                let r = self.plan_expr(cx, right)?;
                if l.typ != ScalarType::Jsonb {
                    return Err(PlanError::UnknownFunction(format!(
                        "operator does not exist: {} -> {}",
                        l.typ, r.typ
                    )));
                }
                let key = match r.typ {
                    ScalarType::Int32 | ScalarType::Int16 | ScalarType::Int64 => self.cast(r, &ScalarType::Int32, false)?,
                    _ => self.cast(r, &ScalarType::String, false)?,
                };
                let (func, typ) = if *op == B::Arrow {
                    (Func::JsonbGet, ScalarType::Jsonb)
                } else {
                    (Func::JsonbGetText, ScalarType::String)
                };
                Ok(Typed::new(ScalarExpr::call(func, vec![l.expr, key.expr]), typ))
            }
            B::PGCustomBinaryOperator(parts) => {
                let op = match parts.as_slice() {
                    [schema, op] if schema == "pg_catalog" => op.as_str(),
                    [op] => op.as_str(),
                    _ => return Err(PlanError::unsupported(format!("operator {op}"))),
                };
                let mapped = match op {
                    "~" => B::PGRegexMatch,
                    "~*" => B::PGRegexIMatch,
                    "!~" => B::PGRegexNotMatch,
                    "!~*" => B::PGRegexNotIMatch,
                    "=" => B::Eq,
                    "<>" => B::NotEq,
                    "<" => B::Lt,
                    ">" => B::Gt,
                    "<=" => B::LtEq,
                    ">=" => B::GtEq,
                    "+" => B::Plus,
                    "-" => B::Minus,
                    "||" => B::StringConcat,
                    other => return Err(PlanError::unsupported(format!("operator {other}"))),
                };
                self.plan_binary(cx, left, &mapped, right)
            }
            other => Err(PlanError::unsupported(format!("operator {other}"))),
        }
    }

    fn plan_arith(&mut self, cx: ExprCx, left: &Expr, op: &BinaryOperator, right: &Expr) -> Result<Typed, PlanError> {
        use ScalarType as T;
        let (l, r) = self.plan_pair(cx, left, right)?;
        let (func, sym) = match op {
            BinaryOperator::Plus => (Func::Add, "+"),
            BinaryOperator::Minus => (Func::Sub, "-"),
            BinaryOperator::Multiply => (Func::Mul, "*"),
            BinaryOperator::Divide => (Func::Div, "/"),
            _ => (Func::Mod, "%"),
        };
        let no_op = || PlanError::UnknownFunction(format!("operator does not exist: {} {sym} {}", l.typ, r.typ));
        // Date/time arithmetic has its own signatures.
        let temporal = |t: &T| matches!(t, T::Date | T::Timestamp | T::TimestampTz | T::Interval);
        if temporal(&l.typ) || temporal(&r.typ) {
            let (l, r) = match (&l.typ, &r.typ) {
                (T::Unknown, t) if *t != T::Interval && func == Func::Sub => (self.cast(l.clone(), t, false)?, r.clone()),
                (T::Unknown, _) => (self.cast(l.clone(), &T::Interval, false)?, r.clone()),
                (t, T::Unknown) if *t != T::Interval && func == Func::Sub && !matches!(t, T::Date) => {
                    (l.clone(), self.cast(r.clone(), &T::Interval, false)?)
                }
                (T::Date, T::Unknown) => (l.clone(), self.cast(r.clone(), &T::Int32, false)?),
                (_, T::Unknown) => (l.clone(), self.cast(r.clone(), &T::Interval, false)?),
                _ => (l.clone(), r.clone()),
            };
            let result = match (&func, &l.typ, &r.typ) {
                (Func::Add, T::Timestamp, T::Interval) | (Func::Add, T::Interval, T::Timestamp) => T::Timestamp,
                (Func::Add, T::TimestampTz, T::Interval) | (Func::Add, T::Interval, T::TimestampTz) => T::TimestampTz,
                (Func::Add, T::Date, T::Interval) | (Func::Add, T::Interval, T::Date) => T::Timestamp,
                (Func::Sub, T::Timestamp, T::Interval) => T::Timestamp,
                (Func::Sub, T::TimestampTz, T::Interval) => T::TimestampTz,
                (Func::Sub, T::Date, T::Interval) => T::Timestamp,
                (Func::Add | Func::Sub, T::Date, t) if t.is_integer() => {
                    let r = self.cast(r.clone(), &T::Int32, false)?;
                    return Ok(Typed::new(ScalarExpr::call(func, vec![l.expr, r.expr]), T::Date));
                }
                (Func::Add, t, T::Date) if t.is_integer() => {
                    let l = self.cast(l.clone(), &T::Int32, false)?;
                    return Ok(Typed::new(ScalarExpr::call(func, vec![l.expr, r.expr]), T::Date));
                }
                (Func::Sub, T::Date, T::Date) => T::Int32,
                (Func::Sub, T::Timestamp, T::Timestamp) | (Func::Sub, T::TimestampTz, T::TimestampTz) => T::Interval,
                (Func::Add | Func::Sub, T::Interval, T::Interval) => T::Interval,
                (Func::Mul, T::Interval, t) | (Func::Mul, t, T::Interval) if t.is_numeric() => {
                    let (l, r) = if l.typ == T::Interval {
                        (l.clone(), self.cast(r.clone(), &T::Float64, false)?)
                    } else {
                        (self.cast(l.clone(), &T::Float64, false)?, r.clone())
                    };
                    return Ok(Typed::new(ScalarExpr::call(func, vec![l.expr, r.expr]), T::Interval));
                }
                (Func::Div, T::Interval, t) if t.is_numeric() => {
                    let r = self.cast(r.clone(), &T::Float64, false)?;
                    return Ok(Typed::new(ScalarExpr::call(func, vec![l.expr, r.expr]), T::Interval));
                }
                _ => return Err(no_op()),
            };
            return Ok(Typed::new(ScalarExpr::call(func, vec![l.expr, r.expr]), result));
        }
        let common = match (&l.typ, &r.typ) {
            (T::Unknown, T::Unknown) => T::NUMERIC,
            _ => common_type(&l.typ, &r.typ).ok_or_else(no_op)?,
        };
        let common = match common {
            T::Unknown => T::NUMERIC,
            c if c.is_numeric() => c.without_modifiers(),
            _ => return Err(no_op()),
        };
        if func == Func::Mod && matches!(common, T::Float32 | T::Float64) {
            return Err(no_op());
        }
        let l = self.cast(l, &common, false)?;
        let r = self.cast(r, &common, false)?;
        Ok(Typed::new(ScalarExpr::call(func, vec![l.expr, r.expr]), common))
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

    /// Coerces expressions to their common type (CASE branches, COALESCE, UNION columns).
    pub fn unify(&self, items: Vec<Typed>, what: &str) -> Result<Vec<Typed>, PlanError> {
        Ok(self.unify_typed(items, what)?.0)
    }

    /// Like [`Planner::unify`], also answering the common type.
    fn unify_typed(&self, items: Vec<Typed>, what: &str) -> Result<(Vec<Typed>, ScalarType), PlanError> {
        let mut common = ScalarType::Unknown;
        for t in &items {
            common = common_type(&common, &t.typ)
                .ok_or_else(|| PlanError::TypeMismatch(format!("{what} types {} and {} cannot be matched", common, t.typ)))?;
        }
        let common = if common == ScalarType::Unknown {
            ScalarType::String
        } else {
            common
        };
        let items = items.into_iter().map(|t| self.cast(t, &common, false)).collect::<Result<_, _>>()?;
        Ok((items, common))
    }

    fn constant_zone(&mut self, cx: ExprCx, e: &Expr) -> Result<riffle_repr::zone::Zone, PlanError> {
        let z = self.plan_expr_hinted(
            ExprCx {
                subq: None,
                windows: None,
                ..cx
            },
            e,
            Some(&ScalarType::String),
        )?;
        match z.expr {
            ScalarExpr::Literal(Datum::String(name)) => riffle_repr::zone::Zone::parse(&name)
                .ok_or_else(|| PlanError::InvalidParameter(format!("time zone \"{name}\" not recognized"))),
            _ => Err(PlanError::unsupported("a non-constant time zone")),
        }
    }

    /// `t AT TIME ZONE zone` for timestamptz (→ timestamp) and timestamp/date (→ timestamptz).
    fn at_time_zone(&self, t: Typed, zone: riffle_repr::zone::Zone) -> Result<Typed, PlanError> {
        let (t, out) = match t.typ {
            ScalarType::TimestampTz | ScalarType::Unknown => (self.cast(t, &ScalarType::TimestampTz, false)?, ScalarType::Timestamp),
            ScalarType::Timestamp | ScalarType::Date => (self.cast(t, &ScalarType::Timestamp, false)?, ScalarType::TimestampTz),
            other => {
                return Err(PlanError::UnknownFunction(format!(
                    "function timezone(unknown, {other}) does not exist"
                )))
            }
        };
        Ok(Typed::new(ScalarExpr::call(Func::AtTimeZone(zone), vec![t.expr]), out))
    }

    /// An untyped literal becomes text, as PostgreSQL resolves `unknown` arguments; others pass.
    fn unknown_as_text(&self, t: Typed) -> Result<Typed, PlanError> {
        if t.typ == ScalarType::Unknown {
            self.cast(t, &ScalarType::String, false)
        } else {
            Ok(t)
        }
    }

    /// Casts an expression; `explicit` allows casts that PostgreSQL only performs when asked.
    pub fn cast(&self, t: Typed, to: &ScalarType, explicit: bool) -> Result<Typed, PlanError> {
        cast_in(&self.ctx.zone, t, to, explicit)
    }

    fn coerce_datetime_arg(&self, t: Typed) -> Result<Typed, PlanError> {
        match t.typ {
            ScalarType::Unknown => self.cast(t, &ScalarType::Timestamp, false),
            ScalarType::Date | ScalarType::Timestamp | ScalarType::TimestampTz | ScalarType::Interval => Ok(t),
            other => Err(PlanError::UnknownFunction(format!(
                "function date_part(unknown, {other}) does not exist"
            ))),
        }
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

    /// Plans an aggregate call; `agg(x) FILTER (WHERE c)` becomes `agg(CASE WHEN c THEN x END)`,
    /// which is the same thing because aggregates skip NULL inputs.
    fn plan_aggregate(&mut self, cx: ExprCx, name: &str, f: &ast::Function) -> Result<(AggregateExpr, ScalarType), PlanError> {
        let (mut agg, typ) = self.plan_aggregate_unfiltered(cx, name, f)?;
        if let Some(filter) = &f.filter {
            if contains_aggregate(filter) {
                return Err(PlanError::Grouping("aggregate functions are not allowed in FILTER".into()));
            }
            let cond = self.plan_expr_hinted(cx, filter, Some(&ScalarType::Bool))?;
            let cond = self.require(cond, &ScalarType::Bool, "argument of FILTER")?;
            if agg.func == AggregateFunc::CountAll {
                agg.func = AggregateFunc::Count;
            }
            agg.expr = ScalarExpr::If {
                cond: Box::new(cond.expr),
                then: Box::new(agg.expr),
                els: Box::new(ScalarExpr::null()),
            };
        }
        Ok((agg, typ))
    }

    fn plan_aggregate_unfiltered(&mut self, cx: ExprCx, name: &str, f: &ast::Function) -> Result<(AggregateExpr, ScalarType), PlanError> {
        if name.starts_with("percentile_") {
            return self.plan_percentile(cx, name, f);
        }
        if name == "mode" {
            let [order] = f.within_group.as_slice() else {
                return Err(PlanError::Syntax("mode requires WITHIN GROUP (ORDER BY …)".into()));
            };
            let x = self.plan_expr(cx, &order.expr)?;
            let typ = x.typ.clone();
            return Ok((
                AggregateExpr {
                    func: AggregateFunc::Mode,
                    expr: x.expr,
                    distinct: false,
                },
                typ,
            ));
        }
        let (args, distinct, star) = self.function_args(f)?;
        if star {
            if name != "count" {
                return Err(PlanError::UnknownFunction(format!("function {name}(*) does not exist")));
            }
            return Ok((
                AggregateExpr {
                    func: AggregateFunc::CountAll,
                    expr: ScalarExpr::Literal(Datum::Bool(true)),
                    distinct: false,
                },
                ScalarType::Int64,
            ));
        }
        let (arg, name) = match (args.as_slice(), name) {
            ([arg], _) if name != "string_agg" => (arg, name.to_string()),
            ([arg, sep], "string_agg") => {
                let empty = Scope::default();
                let sep = match self.plan_expr(ExprCx::new(&empty, "string_agg"), sep)?.expr {
                    ScalarExpr::Literal(Datum::String(s)) => s,
                    _ => return Err(PlanError::unsupported("string_agg with a non-constant separator")),
                };
                (arg, format!("string_agg:{sep}"))
            }
            _ => {
                return Err(PlanError::UnknownFunction(format!(
                    "function {name} with {} arguments does not exist",
                    args.len()
                )))
            }
        };
        let name = name.as_str();
        if contains_aggregate(arg) {
            return Err(PlanError::Grouping("aggregate function calls cannot be nested".into()));
        }
        let t = self.plan_expr(cx, arg)?;
        let (func, typ, t) = self.aggregate_func(name, t)?;
        Ok((
            AggregateExpr {
                func,
                expr: t.expr,
                distinct,
            },
            typ,
        ))
    }

    /// `percentile_cont(f) / percentile_disc(f) WITHIN GROUP (ORDER BY x)`.
    fn plan_percentile(&mut self, cx: ExprCx, name: &str, f: &ast::Function) -> Result<(AggregateExpr, ScalarType), PlanError> {
        let (args, _, _) = self.function_args(f)?;
        let [fraction] = args.as_slice() else {
            return Err(PlanError::UnknownFunction(format!("function {name} takes one fraction argument")));
        };
        let [order] = f.within_group.as_slice() else {
            return Err(PlanError::Syntax(format!("{name} requires WITHIN GROUP (ORDER BY …)")));
        };
        if matches!(order.options.sort, Some(ast::OrderBySort::Desc)) {
            return Err(PlanError::unsupported("WITHIN GROUP (ORDER BY … DESC)"));
        }
        let empty = Scope::default();
        let frac = self.plan_expr_hinted(ExprCx::new(&empty, "percentile"), fraction, Some(&ScalarType::Float64))?;
        let frac = match self.cast(frac, &ScalarType::Float64, false)?.expr {
            ScalarExpr::Literal(Datum::Float64(v)) => v,
            _ => return Err(PlanError::unsupported("a non-constant percentile fraction")),
        };
        let x = self.plan_expr(cx, &order.expr)?;
        if name == "percentile_cont" {
            if !x.typ.is_numeric() {
                return Err(PlanError::UnknownFunction(format!(
                    "function percentile_cont({}) does not exist",
                    x.typ
                )));
            }
            Ok((
                AggregateExpr {
                    func: AggregateFunc::PercentileCont(frac),
                    expr: x.expr,
                    distinct: false,
                },
                ScalarType::Float64,
            ))
        } else {
            let typ = x.typ.clone();
            Ok((
                AggregateExpr {
                    func: AggregateFunc::PercentileDisc(frac),
                    expr: x.expr,
                    distinct: false,
                },
                typ,
            ))
        }
    }

    /// The aggregate function `name` over an argument of the given type, with its result type
    /// (PostgreSQL's: sum(int4) is bigint, avg(int) is numeric, …).
    pub(crate) fn aggregate_func(&self, name: &str, mut t: Typed) -> Result<(AggregateFunc, ScalarType, Typed), PlanError> {
        if t.typ == ScalarType::Unknown {
            t = self.cast(t, &ScalarType::String, false)?;
        }
        let bad = |t: &ScalarType| PlanError::UnknownFunction(format!("function {name}({t}) does not exist"));
        let (func, typ) = match name {
            "count" => (AggregateFunc::Count, ScalarType::Int64),
            "sum" => {
                let out = match &t.typ {
                    ScalarType::Int16 | ScalarType::Int32 => ScalarType::Int64,
                    ScalarType::Int64 | ScalarType::Numeric { .. } => ScalarType::NUMERIC,
                    ScalarType::Float32 => ScalarType::Float32,
                    ScalarType::Float64 => ScalarType::Float64,
                    ScalarType::Interval => ScalarType::Interval,
                    other => return Err(bad(other)),
                };
                let func = match &t.typ {
                    ScalarType::Int16 | ScalarType::Int32 | ScalarType::Int64 => AggregateFunc::SumIntegers(out.clone()),
                    _ => AggregateFunc::Sum(out.clone()),
                };
                (func, out)
            }
            "avg" => {
                let out = match &t.typ {
                    ScalarType::Int16 | ScalarType::Int32 | ScalarType::Int64 | ScalarType::Numeric { .. } => ScalarType::NUMERIC,
                    ScalarType::Float32 | ScalarType::Float64 => ScalarType::Float64,
                    ScalarType::Interval => ScalarType::Interval,
                    other => return Err(bad(other)),
                };
                let func = match &t.typ {
                    ScalarType::Int16 | ScalarType::Int32 | ScalarType::Int64 => AggregateFunc::AvgIntegers,
                    _ => AggregateFunc::Avg(out.clone()),
                };
                (func, out)
            }
            "min" | "max" => {
                if matches!(t.typ, ScalarType::Jsonb | ScalarType::Bool) {
                    return Err(bad(&t.typ));
                }
                (if name == "min" { AggregateFunc::Min } else { AggregateFunc::Max }, t.typ.clone())
            }
            "bool_and" | "every" | "bool_or" => {
                t = self.require(t, &ScalarType::Bool, name)?;
                (
                    if name == "bool_or" {
                        AggregateFunc::BoolOr
                    } else {
                        AggregateFunc::BoolAnd
                    },
                    ScalarType::Bool,
                )
            }

            "array_agg" => (AggregateFunc::ArrayAgg, ScalarType::Array(Box::new(t.typ.without_modifiers()))),
            "stddev" | "stddev_samp" | "stddev_pop" | "variance" | "var_samp" | "var_pop" => {
                if !t.typ.is_numeric() {
                    return Err(bad(&t.typ));
                }
                let population = name.ends_with("_pop");
                let sqrt = name.starts_with("stddev");
                // Integer and numeric inputs give an exact numeric result, floats a float.
                let numeric = !matches!(t.typ, ScalarType::Float32 | ScalarType::Float64);
                let typ = if numeric { ScalarType::NUMERIC } else { ScalarType::Float64 };
                (AggregateFunc::Variance { population, sqrt, numeric }, typ)
            }
            _ if name.starts_with("string_agg:") => {
                t = self.cast(t, &ScalarType::String, false)?;
                (
                    AggregateFunc::StringAgg(name["string_agg:".len()..].to_string()),
                    ScalarType::String,
                )
            }
            _ => return Err(PlanError::UnknownFunction(format!("function {name} does not exist"))),
        };
        Ok((func, typ, t))
    }

    fn plan_function(&mut self, cx: ExprCx, f: &ast::Function) -> Result<Typed, PlanError> {
        if let Some(over) = &f.over {
            return self.plan_window_call(cx, f, over);
        }
        let name = f
            .name
            .0
            .last()
            .map(|p| p.to_string().to_ascii_lowercase().trim_matches('"').to_string())
            .unwrap_or_default();
        if AGGREGATES.contains(&name.as_str()) {
            let where_ = if cx.clause == "aggregate" {
                "aggregate function calls cannot be nested".to_string()
            } else {
                format!("aggregate functions are not allowed in {}", cx.clause)
            };
            return Err(PlanError::Grouping(where_));
        }
        let (args, distinct, star) = self.function_args(f)?;
        if distinct || star {
            return Err(PlanError::UnknownFunction(format!("function {name} is not an aggregate")));
        }
        let owned: Vec<Expr> = args.into_iter().cloned().collect();
        self.plan_func_call(cx, &name, &owned, true)
    }

    fn plan_func_call(&mut self, cx: ExprCx, name: &str, args: &[Expr], _explicit: bool) -> Result<Typed, PlanError> {
        use ScalarType as T;
        let arity_err = || PlanError::UnknownFunction(format!("function {name} with {} arguments does not exist", args.len()));
        let mut planned = Vec::with_capacity(args.len());
        for a in args {
            planned.push(self.plan_expr(cx, a)?);
        }
        // The argument helpers cast in the session's zone without holding the planner, which
        // the arms below also need.
        let zone = self.ctx.zone.clone();
        let text_arg = |t: Typed| -> Result<Typed, PlanError> { cast_in(&zone, t, &T::String, matches!(name, "concat" | "concat_ws")) };
        let int_arg = |t: Typed| -> Result<Typed, PlanError> {
            if t.typ.is_integer() || t.typ == T::Unknown {
                cast_in(&zone, t, &T::Int64, false)
            } else {
                Err(PlanError::UnknownFunction(format!("function {name}({}) does not exist", t.typ)))
            }
        };
        let n = planned.len();
        let call =
            |func: Func, args: Vec<Typed>, typ: T| Ok(Typed::new(ScalarExpr::call(func, args.into_iter().map(|a| a.expr).collect()), typ));
        let texts = |planned: Vec<Typed>| planned.into_iter().map(text_arg).collect::<Result<Vec<_>, _>>();
        match (name, n) {
            ("lower", 1) => call(Func::Lower, texts(planned)?, T::String),
            ("upper", 1) => call(Func::Upper, texts(planned)?, T::String),
            ("length" | "char_length" | "character_length", 1) => call(Func::CharLength, texts(planned)?, T::Int32),
            ("octet_length", 1) => call(Func::OctetLength, planned, T::Int32),
            ("encode", 2) => {
                let mut it = planned.into_iter();
                let bytes = self.cast(it.next().unwrap(), &T::Bytes, false)?;
                call(Func::Encode, vec![bytes, text_arg(it.next().unwrap())?], T::String)
            }
            ("decode", 2) => call(Func::Decode, texts(planned)?, T::Bytes),
            ("predict" | "predict_proba", n) if n >= 2 => {
                let proba = name == "predict_proba";
                let mut it = planned.into_iter();
                let (model_name, desc) = self.model_arg(name, it.next())?;
                if let crate::ModelOutput::Embedding(_) = desc.output {
                    return Err(PlanError::UnknownFunction(format!(
                        "function {name}('{model_name}', …) does not exist: {model_name} is a text-embedding model (use embed('{model_name}', text))"
                    )));
                }
                let features: Vec<Typed> = it.collect();
                let args = match features.as_slice() {
                    [one] if matches!(one.typ, T::Array(_)) => vec![self.cast(one.clone(), &T::Array(Box::new(T::Float64)), false)?],
                    _ => {
                        if features.len() != desc.inputs {
                            return Err(PlanError::UnknownFunction(format!(
                                "function {name}('{model_name}', …) with {} features does not exist: the model takes {} (or one float8[])",
                                features.len(),
                                desc.inputs
                            )));
                        }
                        features
                            .into_iter()
                            .map(|t| {
                                if t.typ.is_numeric() || t.typ == T::Unknown {
                                    self.cast(t, &T::Float64, false)
                                } else {
                                    Err(PlanError::TypeMismatch(format!("{name} features must be numbers, not {}", t.typ)))
                                }
                            })
                            .collect::<Result<Vec<_>, _>>()?
                    }
                };
                let typ = match (&desc.output, proba) {
                    (crate::ModelOutput::Regression, true) => {
                        return Err(PlanError::UnknownFunction(format!(
                            "predict_proba needs a classifier; {model_name} is a regressor"
                        )))
                    }
                    (_, true) => T::Array(Box::new(T::Float64)),
                    (crate::ModelOutput::Regression, false) => T::Float64,
                    (crate::ModelOutput::IntClasses(_), false) => T::Int64,
                    (crate::ModelOutput::StringClasses(_), false) => T::String,
                    (crate::ModelOutput::Embedding(_), false) => unreachable!("refused above"),
                };
                call(Func::Predict { model: model_name, proba }, args, typ)
            }
            ("width_bucket", 4) => {
                let mut it = planned.into_iter();
                let mut args = Vec::new();
                for _ in 0..3 {
                    let t = it.next().expect("four arguments");
                    if !(t.typ.is_numeric() || t.typ == T::Unknown) {
                        return Err(PlanError::UnknownFunction(format!(
                            "function width_bucket({}, …) does not exist",
                            t.typ
                        )));
                    }
                    args.push(self.cast(t, &T::Float64, false)?);
                }
                args.push(self.cast(it.next().expect("four arguments"), &T::Int32, false)?);
                call(Func::WidthBucket, args, T::Int32)
            }
            ("width_bucket" | "one_hot", 2) => {
                let mut it = planned.into_iter();
                let (x, list) = (it.next().expect("two arguments"), it.next().expect("two arguments"));
                let elem = match &list.typ {
                    T::Array(e) => (**e).clone(),
                    other => {
                        return Err(PlanError::UnknownFunction(format!(
                            "function {name}({}, {other}) does not exist",
                            x.typ
                        )))
                    }
                };
                let (x, list) = if elem.is_numeric() && (x.typ.is_numeric() || x.typ == T::Unknown) {
                    (
                        self.cast(x, &T::Float64, false)?,
                        self.cast(list, &T::Array(Box::new(T::Float64)), false)?,
                    )
                } else {
                    let x = self.cast(x, &elem, false)?;
                    (x, list)
                };
                if name == "one_hot" {
                    call(Func::OneHot, vec![x, list], T::Array(Box::new(T::Float64)))
                } else {
                    call(Func::WidthBucketArray, vec![x, list], T::Int32)
                }
            }
            ("word_count", 1) => call(Func::WordCount, texts(planned)?, T::Int32),
            ("tokenize", 2) => {
                let mut it = planned.into_iter();
                let (model_name, desc) = self.model_arg(name, it.next())?;
                if !matches!(desc.output, crate::ModelOutput::Embedding(_)) {
                    return Err(PlanError::UnknownFunction(format!(
                        "function tokenize('{model_name}', text) does not exist: {model_name} has no tokenizer"
                    )));
                }
                let text = text_arg(it.next().expect("two arguments"))?;
                call(Func::Tokenize { model: model_name }, vec![text], T::Array(Box::new(T::Int32)))
            }
            ("embed", 2) => {
                let mut it = planned.into_iter();
                let (model_name, desc) = self.model_arg(name, it.next())?;
                if !matches!(desc.output, crate::ModelOutput::Embedding(_)) {
                    return Err(PlanError::UnknownFunction(format!(
                        "function embed('{model_name}', text) does not exist: {model_name} predicts from numeric features (use predict)"
                    )));
                }
                let text = it.next().expect("two arguments");
                if !matches!(text.typ, T::String | T::VarChar { .. } | T::Unknown) {
                    return Err(PlanError::TypeMismatch(format!("embed needs text, not {}", text.typ)));
                }
                let text = text_arg(text)?;
                call(Func::Embed { model: model_name }, vec![text], T::Array(Box::new(T::Float32)))
            }
            ("cosine_similarity" | "l2_distance" | "inner_product", 2) => {
                let func = match name {
                    "cosine_similarity" => Func::CosineSimilarity,
                    "l2_distance" => Func::L2Distance,
                    _ => Func::InnerProduct,
                };
                let vectors = planned
                    .into_iter()
                    .map(|t| {
                        if !matches!(t.typ, T::Array(_) | T::Unknown) {
                            return Err(PlanError::UnknownFunction(format!(
                                "function {name}({}) does not exist: it takes two arrays",
                                t.typ
                            )));
                        }
                        self.cast(t, &T::Array(Box::new(T::Float64)), false)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                call(func, vectors, T::Float64)
            }
            ("substr" | "substring", 2 | 3) => {
                let mut it = planned.into_iter();
                let mut a = vec![text_arg(it.next().unwrap())?];
                for rest in it {
                    a.push(int_arg(rest)?);
                }
                call(Func::Substr, a, T::String)
            }
            ("btrim" | "trim", 1 | 2) => call(Func::BTrim, texts(planned)?, T::String),
            ("ltrim", 1 | 2) => call(Func::LTrim, texts(planned)?, T::String),
            ("rtrim", 1 | 2) => call(Func::RTrim, texts(planned)?, T::String),
            ("replace", 3) => call(Func::Replace, texts(planned)?, T::String),
            ("position", 2) => call(Func::Position, texts(planned)?, T::Int32),
            ("strpos", 2) => {
                let mut a = texts(planned)?;
                a.swap(0, 1);
                call(Func::Position, a, T::Int32)
            }
            ("left" | "right", 2) => {
                let mut it = planned.into_iter();
                let a = vec![text_arg(it.next().unwrap())?, int_arg(it.next().unwrap())?];
                call(if name == "left" { Func::Left } else { Func::Right }, a, T::String)
            }
            ("lpad" | "rpad", 2 | 3) => {
                let mut it = planned.into_iter();
                let mut a = vec![text_arg(it.next().unwrap())?, int_arg(it.next().unwrap())?];
                if let Some(fill) = it.next() {
                    a.push(text_arg(fill)?);
                }
                call(if name == "lpad" { Func::Lpad } else { Func::Rpad }, a, T::String)
            }
            ("split_part", 3) => {
                let mut it = planned.into_iter();
                let a = vec![
                    text_arg(it.next().unwrap())?,
                    text_arg(it.next().unwrap())?,
                    int_arg(it.next().unwrap())?,
                ];
                call(Func::SplitPart, a, T::String)
            }
            ("starts_with", 2) => call(Func::StartsWith, texts(planned)?, T::Bool),
            ("reverse", 1) => call(Func::Reverse, texts(planned)?, T::String),
            ("initcap", 1) => call(Func::Initcap, texts(planned)?, T::String),
            ("repeat", 2) => {
                let mut it = planned.into_iter();
                let a = vec![text_arg(it.next().unwrap())?, int_arg(it.next().unwrap())?];
                call(Func::Repeat, a, T::String)
            }
            ("concat", _) => call(Func::Concat, texts(planned)?, T::String),
            ("concat_ws", n) if n >= 1 => call(Func::ConcatWs, texts(planned)?, T::String),
            ("ascii", 1) => call(Func::Ascii, texts(planned)?, T::Int32),
            ("chr", 1) => {
                let a = vec![int_arg(planned.into_iter().next().unwrap())?];
                call(Func::Chr, a, T::String)
            }
            ("regexp_replace", 3 | 4) => call(Func::RegexpReplace, texts(planned)?, T::String),
            ("abs", 1) => {
                let a = self.numeric_arg(planned.into_iter().next().unwrap(), name)?;
                let typ = a.typ.clone();
                call(Func::Abs, vec![a], typ)
            }
            ("ceil" | "ceiling" | "floor", 1) => {
                let a = self.numeric_arg(planned.into_iter().next().unwrap(), name)?;
                let a = if a.typ.is_integer() { self.cast(a, &T::Float64, false)? } else { a };
                let typ = if a.typ == T::Float32 {
                    T::Float64
                } else {
                    a.typ.without_modifiers()
                };
                let a = self.cast(a, &typ, false)?;
                call(if name == "floor" { Func::Floor } else { Func::Ceil }, vec![a], typ)
            }
            ("round" | "trunc", 1) => {
                let a = self.numeric_arg(planned.into_iter().next().unwrap(), name)?;
                let typ = if a.typ.is_integer() || a.typ == T::Float32 {
                    T::Float64
                } else {
                    a.typ.without_modifiers()
                };
                let a = self.cast(a, &typ, false)?;
                call(if name == "round" { Func::Round } else { Func::Trunc }, vec![a], typ)
            }
            ("round" | "trunc", 2) => {
                let mut it = planned.into_iter();
                let a = self.cast(self.numeric_arg(it.next().unwrap(), name)?, &T::NUMERIC, false)?;
                let s = self.cast(it.next().unwrap(), &T::Int32, false)?;
                call(if name == "round" { Func::Round } else { Func::Trunc }, vec![a, s], T::NUMERIC)
            }
            ("sqrt" | "exp" | "ln" | "log" | "log10" | "sign", 1) => {
                let a = self.numeric_arg(planned.into_iter().next().unwrap(), name)?;
                let typ = if a.typ.is_integer() || matches!(a.typ, T::Float32 | T::Float64) {
                    T::Float64
                } else {
                    T::NUMERIC
                };
                let a = self.cast(a, &typ, false)?;
                let func = match name {
                    "sqrt" => Func::Sqrt,
                    "exp" => Func::Exp,
                    "ln" => Func::Ln,
                    "sign" => Func::Sign,
                    _ => Func::Log10,
                };
                call(func, vec![a], typ)
            }
            ("pi", 0) => Ok(Typed::lit(Datum::f64(std::f64::consts::PI), T::Float64)),
            (_, n) if riffle_expr::FloatFn::from_name(name).is_some_and(|(_, arity)| arity == n) => {
                let (f, _) = riffle_expr::FloatFn::from_name(name).expect("checked");
                let args = planned
                    .into_iter()
                    .map(|p| {
                        let p = self.numeric_arg(p, name)?;
                        self.cast(p, &T::Float64, false)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                call(Func::FloatMath(f), args, T::Float64)
            }
            ("power" | "pow", 2) => {
                let items = planned
                    .into_iter()
                    .map(|p| self.numeric_arg(p, name))
                    .collect::<Result<Vec<_>, _>>()?;
                let typ = if items.iter().all(|i| matches!(i.typ, T::Numeric { .. })) {
                    T::NUMERIC
                } else {
                    T::Float64
                };
                let items = items
                    .into_iter()
                    .map(|i| self.cast(i, &typ, false))
                    .collect::<Result<Vec<_>, _>>()?;
                call(Func::Power, items, typ)
            }
            ("mod", 2) => {
                let items = self.unify(planned, "mod")?;
                let typ = items[0].typ.clone();
                call(Func::Mod, items, typ)
            }
            ("greatest" | "least", n) if n >= 1 => {
                let items = self.unify(planned, name)?;
                let typ = items[0].typ.clone();
                call(if name == "greatest" { Func::Greatest } else { Func::Least }, items, typ)
            }
            ("coalesce", n) if n >= 1 => {
                let items = self.unify(planned, "COALESCE")?;
                let typ = items[0].typ.clone();
                Ok(Typed::new(ScalarExpr::Coalesce(items.into_iter().map(|i| i.expr).collect()), typ))
            }
            ("nullif", 2) => {
                let items = self.unify(planned, "NULLIF")?;
                let typ = items[0].typ.clone();
                call(Func::NullIf, items, typ)
            }
            ("date_trunc", 2) => {
                let mut it = planned.into_iter();
                let unit = text_arg(it.next().unwrap())?;
                let ts = self.coerce_datetime_arg(it.next().unwrap())?;
                // PostgreSQL resolves date_trunc(text, date) to the timestamptz overload.
                let ts = if ts.typ == T::Date {
                    self.cast(ts, &T::TimestampTz, false)?
                } else {
                    ts
                };
                let typ = ts.typ.clone();
                call(Func::DateTrunc, vec![unit, ts], typ)
            }
            ("date_trunc", 3) => {
                // date_trunc(unit, ts, zone): truncate the wall-clock time in `zone`.
                let zone = self.constant_zone(cx, &args[2])?;
                let mut it = planned.into_iter();
                let unit = text_arg(it.next().expect("three arguments"))?;
                let local = self.at_time_zone(
                    self.cast(it.next().expect("three arguments"), &T::TimestampTz, false)?,
                    zone.clone(),
                )?;
                let truncated = Typed::new(ScalarExpr::call(Func::DateTrunc, vec![unit.expr, local.expr]), T::Timestamp);
                self.at_time_zone(truncated, zone)
            }
            ("mz_now", 0) => Ok(Typed::new(ScalarExpr::call(Func::MzNow, vec![]), T::TimestampTz)),
            ("date_bin", 3) => {
                let mut it = planned.into_iter();
                let stride = self.cast(it.next().expect("three arguments"), &T::Interval, false)?;
                let source = it.next().expect("three arguments");
                let source = match source.typ {
                    T::Timestamp | T::TimestampTz => source,
                    _ => self.cast(source, &T::Timestamp, false)?,
                };
                let typ = source.typ.clone();
                let origin = self.cast(it.next().expect("three arguments"), &typ, false)?;
                call(Func::DateBin, vec![stride, source, origin], typ)
            }
            ("to_char", 2) => {
                let mut it = planned.into_iter();
                let ts = self.coerce_datetime_arg(it.next().expect("two arguments"))?;
                if ts.typ == T::Interval {
                    return Err(PlanError::unsupported("to_char of an interval"));
                }
                let fmt = text_arg(it.next().expect("two arguments"))?;
                call(Func::ToChar, vec![ts, fmt], T::String)
            }
            ("date_part", 2) => {
                let mut it = planned.into_iter();
                let unit = text_arg(it.next().unwrap())?;
                let ts = self.coerce_datetime_arg(it.next().unwrap())?;
                call(Func::DatePart, vec![unit, ts], T::Float64)
            }
            ("make_date", 3) => {
                let a = planned.into_iter().map(&int_arg).collect::<Result<Vec<_>, _>>()?;
                call(Func::MakeDate, a, T::Date)
            }
            ("age", 2) => {
                let a = planned
                    .into_iter()
                    .map(|p| self.cast(p, &T::Timestamp, false))
                    .collect::<Result<Vec<_>, _>>()?;
                call(Func::Age, a, T::Interval)
            }
            ("to_timestamp", 1) => {
                let a = self.cast(planned.into_iter().next().unwrap(), &T::Float64, false)?;
                call(Func::ToTimestamp, vec![a], T::TimestampTz)
            }
            ("now" | "current_timestamp" | "transaction_timestamp" | "statement_timestamp", 0) => self.now_literal(T::TimestampTz),
            ("version", 0) => Ok(Typed::lit(
                Datum::String(format!("PostgreSQL 15.0 (Riffle {})", env!("CARGO_PKG_VERSION"))),
                T::String,
            )),
            ("current_database", 0) => Ok(Typed::lit(Datum::String("riffle".into()), T::String)),
            ("current_schema", 0) => Ok(Typed::lit(Datum::String("public".into()), T::String)),
            ("array_length", 2) => {
                let mut it = planned.into_iter();
                let arr = it.next().expect("two arguments");
                let dim = int_arg(it.next().expect("two arguments"))?;
                call(Func::ArrayLength, vec![arr, dim], T::Int32)
            }
            ("cardinality", 1) => call(Func::Cardinality, planned, T::Int32),
            ("jsonb_build_object" | "json_build_object", _) => {
                let args = planned
                    .into_iter()
                    .map(|p| self.unknown_as_text(p))
                    .collect::<Result<Vec<_>, _>>()?;
                call(Func::JsonbBuildObject, args, T::Jsonb)
            }
            ("jsonb_build_array" | "json_build_array", _) => {
                let args = planned
                    .into_iter()
                    .map(|p| self.unknown_as_text(p))
                    .collect::<Result<Vec<_>, _>>()?;
                call(Func::JsonbBuildArray, args, T::Jsonb)
            }
            ("to_jsonb" | "to_json", 1) => {
                let p = planned.into_iter().next().expect("one argument");
                let p = if p.typ == T::Unknown { self.cast(p, &T::String, false)? } else { p };
                call(Func::ToJsonb, vec![p], T::Jsonb)
            }
            ("jsonb_typeof", 1) => call(
                Func::JsonbTypeof,
                vec![self.cast(planned.into_iter().next().expect("one"), &T::Jsonb, false)?],
                T::String,
            ),
            ("jsonb_array_length", 1) => call(
                Func::JsonbArrayLength,
                vec![self.cast(planned.into_iter().next().expect("one"), &T::Jsonb, false)?],
                T::Int32,
            ),
            ("regexp_match", 2 | 3) => call(Func::RegexpMatch, texts(planned)?, T::Array(Box::new(T::String))),
            ("array_to_string", 2) => {
                let mut it = planned.into_iter();
                let arr = it.next().expect("two arguments");
                let sep = text_arg(it.next().expect("two arguments"))?;
                call(Func::ArrayToString, vec![arr, sep], T::String)
            }
            ("pg_get_userbyid", 1) => Ok(Typed::lit(Datum::String("riffle".into()), T::String)),
            ("pg_table_is_visible", 1) => Ok(Typed::lit(Datum::Bool(true), T::Bool)),
            ("pg_typeof", 1) => Ok(Typed::lit(Datum::String(planned[0].typ.name().into()), T::String)),
            (
                "lower" | "upper" | "length" | "substr" | "substring" | "replace" | "position" | "strpos" | "left" | "right" | "lpad"
                | "rpad" | "split_part" | "abs" | "round" | "trunc" | "coalesce" | "nullif" | "date_trunc" | "date_part" | "now",
                _,
            ) => Err(arity_err()),
            _ => {
                let types: Vec<String> = planned.iter().map(|p| p.typ.to_string()).collect();
                Err(PlanError::UnknownFunction(format!(
                    "function {name}({}) does not exist",
                    types.join(", ")
                )))
            }
        }
    }

    fn numeric_arg(&self, t: Typed, name: &str) -> Result<Typed, PlanError> {
        if t.typ == ScalarType::Unknown {
            return self.cast(t, &ScalarType::Float64, false);
        }
        if !t.typ.is_numeric() {
            return Err(PlanError::UnknownFunction(format!("function {name}({}) does not exist", t.typ)));
        }
        Ok(t)
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

/// Casts an expression, reading text as a timestamptz in `zone`; `explicit` allows casts that
/// PostgreSQL only performs when asked. ([`Planner::cast`] in the session's zone.)
pub(crate) fn cast_in(zone: &riffle_repr::zone::Zone, t: Typed, to: &ScalarType, explicit: bool) -> Result<Typed, PlanError> {
    if t.typ == *to {
        return Ok(t);
    }
    if *to == ScalarType::Unknown {
        return Ok(t);
    }
    let allowed = explicit || t.typ == ScalarType::Unknown || crate::types::can_assign(&t.typ, to);
    if !allowed {
        return Err(PlanError::TypeMismatch(format!("cannot cast type {} to {}", t.typ, to)));
    }
    if let ScalarExpr::Literal(d) = &t.expr {
        // A timestamptz literal without an offset is wall-clock time in the session's zone.
        if let (Datum::String(text), ScalarType::TimestampTz) = (d, to) {
            let micros = riffle_repr::strconv::parse_timestamptz_in(text, zone).map_err(riffle_expr::EvalError::from)?;
            return Ok(Typed::lit(Datum::TimestampTz(micros), to.clone()));
        }
        let folded = riffle_expr::Func::Cast(to.clone()).eval(std::slice::from_ref(d))?;
        return Ok(Typed::lit(folded, to.clone()));
    }
    if t.typ.without_modifiers() == to.without_modifiers()
        && !matches!(
            to,
            ScalarType::Numeric { typmod: Some(_) } | ScalarType::VarChar { max_len: Some(_) }
        )
    {
        return Ok(Typed::new(t.expr, to.clone()));
    }
    Ok(Typed::new(ScalarExpr::call(Func::Cast(to.clone()), vec![t.expr]), to.clone()))
}
