//! Aggregate calls (`count`, `sum`, `avg`, `percentile_cont`, `mode`, …): the aggregate
//! function each name and argument type calls for, its result type, and FILTER.

use crate::expr::*;
use crate::plan::Planner;
use crate::scope::Scope;
use crate::PlanError;
use riffle_expr::{AggregateExpr, AggregateFunc, ScalarExpr};
use riffle_repr::{Datum, ScalarType};
use sqlparser::ast;

impl Planner<'_> {
    /// Plans an aggregate call; `agg(x) FILTER (WHERE c)` becomes `agg(CASE WHEN c THEN x END)`,
    /// which is the same thing because aggregates skip NULL inputs.
    pub(crate) fn plan_aggregate(&mut self, cx: ExprCx, name: &str, f: &ast::Function) -> Result<(AggregateExpr, ScalarType), PlanError> {
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
}
