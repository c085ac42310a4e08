//! Planning window function calls (`f(…) OVER (PARTITION BY … ORDER BY … frame)`).
//!
//! Calls are collected while the SELECT list is planned, each answering a placeholder column;
//! `WindowCx::apply` then adds one `RelExpr::Window` per call on top of the relation the
//! SELECT list reads (after GROUP BY/HAVING), and the placeholders are renumbered.

use crate::expr::{ExprCx, Typed};
use crate::plan::Planner;
use crate::PlanError;
use riffle_expr::{AggregateFunc, ColumnOrder, FrameBound, RelExpr, ScalarExpr, WindowExpr, WindowFrame, WindowFunc};
use riffle_repr::{Datum, ScalarType};
use sqlparser::ast::{self, Expr, WindowFrameBound, WindowFrameUnits, WindowType};
use std::cell::RefCell;

/// Placeholder columns for window results start here, far beyond any real column.
const PLACEHOLDER: usize = 1 << 40;

struct WindowCall {
    partition: Vec<ScalarExpr>,
    order: Vec<(ScalarExpr, bool, bool)>,
    args: Vec<ScalarExpr>,
    func: WindowFunc,
    frame: WindowFrame,
}

/// The window calls of one SELECT.
#[derive(Default)]
pub struct WindowCx {
    calls: RefCell<Vec<WindowCall>>,
}

impl WindowCx {
    /// Number of calls collected.
    pub fn len(&self) -> usize {
        self.calls.borrow().len()
    }

    /// Adds one Window operator per call on top of `rel` (arity `base`): the results become
    /// columns `base..base + len()`.
    pub fn apply(&self, mut rel: RelExpr, base: usize) -> RelExpr {
        for (i, call) in self.calls.borrow().iter().enumerate() {
            let cur = base + i;
            let mut scalars = call.partition.clone();
            scalars.extend(call.order.iter().map(|(e, _, _)| e.clone()));
            scalars.extend(call.args.iter().cloned());
            let (p, o) = (call.partition.len(), call.order.len());
            let helpers = scalars.len();
            let window = RelExpr::Window {
                input: Box::new(RelExpr::Map {
                    input: Box::new(rel),
                    scalars,
                }),
                partition_by: (cur..cur + p).collect(),
                order_by: call
                    .order
                    .iter()
                    .enumerate()
                    .map(|(j, (_, desc, nulls_first))| ColumnOrder {
                        column: cur + p + j,
                        desc: *desc,
                        nulls_first: *nulls_first,
                    })
                    .collect(),
                funcs: vec![WindowExpr {
                    func: call.func.clone(),
                    args: (cur + p + o..cur + helpers).collect(),
                    frame: call.frame,
                }],
            };
            rel = RelExpr::Project {
                input: Box::new(window),
                outputs: (0..cur).chain(std::iter::once(cur + helpers)).collect(),
            };
        }
        rel
    }

    /// Renumbers placeholder columns to the real window result columns.
    pub fn resolve(expr: &mut ScalarExpr, base: usize) {
        expr.remap_columns(&|c| if c >= PLACEHOLDER { base + (c - PLACEHOLDER) } else { c });
    }
}

fn frame_bound(b: &WindowFrameBound, rows: bool) -> Result<FrameBound, PlanError> {
    let offset = |e: &Expr| -> Result<usize, PlanError> {
        if !rows {
            return Err(PlanError::unsupported("RANGE frames with offsets"));
        }
        match e {
            Expr::Value(v) => match &v.value {
                ast::Value::Number(n, _) => n
                    .parse()
                    .map_err(|_| PlanError::InvalidParameter(format!("frame offset must be a non-negative integer: {n}"))),
                _ => Err(PlanError::InvalidParameter("frame offset must be a non-negative integer".into())),
            },
            _ => Err(PlanError::unsupported("non-constant frame offsets")),
        }
    };
    Ok(match b {
        WindowFrameBound::CurrentRow => FrameBound::CurrentRow,
        WindowFrameBound::Preceding(None) => FrameBound::UnboundedPreceding,
        WindowFrameBound::Following(None) => FrameBound::UnboundedFollowing,
        WindowFrameBound::Preceding(Some(e)) => FrameBound::Preceding(offset(e)?),
        WindowFrameBound::Following(Some(e)) => FrameBound::Following(offset(e)?),
    })
}

impl Planner<'_> {
    /// Plans `f(…) OVER (…)`, returning a placeholder column for its result.
    pub fn plan_window_call(&mut self, cx: ExprCx, f: &ast::Function, over: &WindowType) -> Result<Typed, PlanError> {
        let windows = cx
            .windows
            .ok_or_else(|| PlanError::WindowingError(format!("window functions are not allowed in {}", cx.clause)))?;
        let WindowType::WindowSpec(spec) = over else {
            return Err(PlanError::unsupported("named windows"));
        };
        if spec.window_name.is_some() {
            return Err(PlanError::unsupported("named windows"));
        }
        if f.filter.is_some() {
            return Err(PlanError::unsupported("FILTER on window functions"));
        }
        // Arguments and window clauses may not nest windows or subqueries.
        let inner = ExprCx {
            windows: None,
            subq: None,
            ..cx
        };
        let name = f.name.0.last().map(|p| p.to_string().to_ascii_lowercase()).unwrap_or_default();
        let (args, distinct, star) = self.function_args(f)?;
        if distinct {
            return Err(PlanError::unsupported("DISTINCT in window functions"));
        }
        let partition = spec
            .partition_by
            .iter()
            .map(|e| self.plan_expr(inner, e).map(|t| t.expr))
            .collect::<Result<Vec<_>, _>>()?;
        let mut order = Vec::new();
        for o in &spec.order_by {
            let t = self.plan_expr(inner, &o.expr)?;
            let desc = matches!(o.options.sort, Some(ast::OrderBySort::Desc));
            order.push((t.expr, desc, o.options.nulls_first.unwrap_or(desc)));
        }
        let frame = match &spec.window_frame {
            None if spec.order_by.is_empty() => WindowFrame {
                rows: false,
                start: FrameBound::UnboundedPreceding,
                end: FrameBound::UnboundedFollowing,
            },
            None => WindowFrame::DEFAULT,
            Some(fr) => {
                let rows = match fr.units {
                    WindowFrameUnits::Rows => true,
                    WindowFrameUnits::Range => false,
                    WindowFrameUnits::Groups => return Err(PlanError::unsupported("GROUPS frames")),
                };
                let start = frame_bound(&fr.start_bound, rows)?;
                let end = match &fr.end_bound {
                    Some(b) => frame_bound(b, rows)?,
                    None => FrameBound::CurrentRow,
                };
                WindowFrame { rows, start, end }
            }
        };
        let planned: Vec<Typed> = args.iter().map(|a| self.plan_expr(inner, a)).collect::<Result<_, _>>()?;
        let arity = |n: std::ops::RangeInclusive<usize>| -> Result<(), PlanError> {
            if n.contains(&planned.len()) {
                Ok(())
            } else {
                Err(PlanError::UnknownFunction(format!(
                    "function {name} with {} arguments does not exist",
                    planned.len()
                )))
            }
        };
        let (func, typ, arg_exprs) = match name.as_str() {
            "row_number" | "rank" | "dense_rank" => {
                arity(0..=0)?;
                let func = match name.as_str() {
                    "row_number" => WindowFunc::RowNumber,
                    "rank" => WindowFunc::Rank,
                    _ => WindowFunc::DenseRank,
                };
                (func, ScalarType::Int64, vec![])
            }
            "lag" | "lead" => {
                arity(1..=3)?;
                let mut it = planned.into_iter();
                let value = it.next().expect("one argument");
                let offset = match it.next().map(|o| o.expr) {
                    None => 1,
                    Some(ScalarExpr::Literal(Datum::Int32(n))) if n >= 0 => n as usize,
                    Some(ScalarExpr::Literal(Datum::Int64(n))) if n >= 0 => n as usize,
                    Some(_) => return Err(PlanError::unsupported("non-constant or negative lag/lead offsets")),
                };
                let typ = value.typ.clone();
                let mut exprs = vec![value.expr];
                if let Some(default) = it.next() {
                    exprs.push(self.cast(default, &typ, false)?.expr);
                }
                let func = if name == "lag" {
                    WindowFunc::Lag { offset }
                } else {
                    WindowFunc::Lead { offset }
                };
                (func, typ, exprs)
            }
            "first_value" | "last_value" => {
                arity(1..=1)?;
                let value = planned.into_iter().next().expect("one argument");
                (
                    if name == "first_value" {
                        WindowFunc::FirstValue
                    } else {
                        WindowFunc::LastValue
                    },
                    value.typ,
                    vec![value.expr],
                )
            }
            "count" if star => (WindowFunc::Aggregate(AggregateFunc::CountAll), ScalarType::Int64, vec![]),
            "count" | "sum" | "avg" | "min" | "max" | "bool_and" | "bool_or" | "every" | "stddev" | "stddev_samp" | "stddev_pop"
            | "variance" | "var_samp" | "var_pop" => {
                arity(1..=1)?;
                let (agg, typ, t) = self.aggregate_func(&name, planned.into_iter().next().expect("one argument"))?;
                (WindowFunc::Aggregate(agg), typ, vec![t.expr])
            }
            _ => return Err(PlanError::UnknownFunction(format!("function {name} is not a window function"))),
        };
        let mut calls = windows.calls.borrow_mut();
        calls.push(WindowCall {
            partition,
            order,
            args: arg_exprs,
            func,
            frame,
        });
        Ok(Typed {
            expr: ScalarExpr::Column(PLACEHOLDER + calls.len() - 1),
            typ,
        })
    }
}
