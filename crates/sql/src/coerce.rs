//! Coercion: the common type of several expressions (CASE, COALESCE, UNION), comparisons
//! between types, casts (with text read in the session's time zone), and AT TIME ZONE.

use crate::expr::*;
use crate::plan::Planner;
use crate::types::common_type;
use crate::PlanError;
use riffle_expr::{Func, ScalarExpr};
use riffle_repr::{Datum, ScalarType};
use sqlparser::ast::Expr;

impl Planner<'_> {
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
}

impl Planner<'_> {
    /// Coerces expressions to their common type (CASE branches, COALESCE, UNION columns).
    pub fn unify(&self, items: Vec<Typed>, what: &str) -> Result<Vec<Typed>, PlanError> {
        Ok(self.unify_typed(items, what)?.0)
    }

    /// Like [`Planner::unify`], also answering the common type.
    pub(crate) fn unify_typed(&self, items: Vec<Typed>, what: &str) -> Result<(Vec<Typed>, ScalarType), PlanError> {
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

    pub(crate) fn constant_zone(&mut self, cx: ExprCx, e: &Expr) -> Result<riffle_repr::zone::Zone, PlanError> {
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
    pub(crate) fn at_time_zone(&self, t: Typed, zone: riffle_repr::zone::Zone) -> Result<Typed, PlanError> {
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
    pub(crate) fn unknown_as_text(&self, t: Typed) -> Result<Typed, PlanError> {
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

    pub(crate) fn coerce_datetime_arg(&self, t: Typed) -> Result<Typed, PlanError> {
        match t.typ {
            ScalarType::Unknown => self.cast(t, &ScalarType::Timestamp, false),
            ScalarType::Date | ScalarType::Timestamp | ScalarType::TimestampTz | ScalarType::Interval => Ok(t),
            other => Err(PlanError::UnknownFunction(format!(
                "function date_part(unknown, {other}) does not exist"
            ))),
        }
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
