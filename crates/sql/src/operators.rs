//! Binary operators: comparisons, boolean connectives, arithmetic (with PostgreSQL's
//! result types and date/time arithmetic), string and JSON operators.

use crate::expr::*;
use crate::plan::Planner;
use crate::types::common_type;
use crate::PlanError;
use riffle_expr::{Func, ScalarExpr};
use riffle_repr::ScalarType;
use sqlparser::ast::{BinaryOperator, Expr};

impl Planner<'_> {
    pub(crate) fn plan_binary(&mut self, cx: ExprCx, left: &Expr, op: &BinaryOperator, right: &Expr) -> Result<Typed, PlanError> {
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
}
