//! Plan rewrites applied after planning, each preserving the plan's result exactly.

use crate::{Func, RelExpr, ScalarExpr, WindowFunc};
use riffle_repr::Datum;

/// Applies every rewrite.
pub fn optimize(expr: RelExpr) -> RelExpr {
    project_columns(top_k_from_row_number(crate::join_order::order_joins(expr)))
}

/// `Project` over a `Project`: one projection. `Project` over a `Map`: outputs that are plain
/// columns of the Map's input are read from the input, and Map expressions no output reads are
/// dropped (with the Map itself when none is left, and the Project when it keeps every input
/// column in order). The planner maps each
/// SELECT item before projecting, so `SELECT a, b FROM t` was `Project(Map(t, [#0, #1]))`:
/// every row evaluated each column into an owned datum (text copied) and was rebuilt wider
/// before the projection cut it; now it is a projection, a copy of the columns' bytes.
pub fn project_columns(expr: RelExpr) -> RelExpr {
    let expr = map_inputs(expr, &mut project_columns);
    let RelExpr::Project { input, outputs } = expr else {
        return expr;
    };
    let (inner, scalars) = match *input {
        RelExpr::Map { input: inner, scalars } if inner.arity().is_some() => (inner, scalars),
        // A projection of a projection (join ordering puts one over the joins it reorders)
        // is one projection.
        RelExpr::Project {
            input: inner,
            outputs: inner_outputs,
        } => {
            return project_columns(RelExpr::Project {
                input: inner,
                outputs: outputs.into_iter().map(|c| inner_outputs[c]).collect(),
            })
        }
        other => {
            return RelExpr::Project {
                input: Box::new(other),
                outputs,
            }
        }
    };
    let n = inner.arity().expect("checked above");
    // An output naming a Map expression that is a column names that column.
    let resolve = |mut c: usize| {
        while c >= n {
            match scalars.get(c - n) {
                Some(ScalarExpr::Column(d)) if *d < c => c = *d,
                _ => break,
            }
        }
        c
    };
    let outputs: Vec<usize> = outputs.into_iter().map(resolve).collect();
    // The Map expressions still read: by the outputs, and by those (an expression may read the
    // ones before it).
    let mut needed = vec![false; scalars.len()];
    let mut stack: Vec<usize> = outputs.iter().filter(|&&o| o >= n).map(|&o| o - n).collect();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut needed[i], true) {
            continue;
        }
        scalars[i].visit(&mut |e| {
            if let ScalarExpr::Column(c) = e {
                if *c >= n {
                    stack.push(*c - n);
                }
            }
        });
    }
    let mut renumbered = vec![usize::MAX; scalars.len()];
    let mut kept = Vec::new();
    for (i, s) in scalars.into_iter().enumerate() {
        if needed[i] {
            renumbered[i] = n + kept.len();
            kept.push(s);
        }
    }
    let remap = |c: usize| if c < n { c } else { renumbered[c - n] };
    for s in &mut kept {
        s.remap_columns(&remap);
    }
    let outputs: Vec<usize> = outputs.into_iter().map(remap).collect();
    if kept.is_empty() && outputs.iter().copied().eq(0..n) {
        return *inner;
    }
    let input = if kept.is_empty() {
        inner
    } else {
        Box::new(RelExpr::Map {
            input: inner,
            scalars: kept,
        })
    };
    RelExpr::Project { input, outputs }
}

/// Applies `f` to each direct input of `expr`.
pub(crate) fn map_inputs(expr: RelExpr, f: &mut impl FnMut(RelExpr) -> RelExpr) -> RelExpr {
    let mut boxed = |b: Box<RelExpr>| Box::new(f(*b));
    match expr {
        e @ (RelExpr::Get { .. } | RelExpr::LocalGet { .. } | RelExpr::Constant { .. }) => e,
        RelExpr::Recursive { id, base, step, distinct } => RelExpr::Recursive {
            id,
            base: boxed(base),
            step: boxed(step),
            distinct,
        },
        RelExpr::Map { input, scalars } => RelExpr::Map {
            input: boxed(input),
            scalars,
        },
        RelExpr::Filter { input, predicates } => RelExpr::Filter {
            input: boxed(input),
            predicates,
        },
        RelExpr::Project { input, outputs } => RelExpr::Project {
            input: boxed(input),
            outputs,
        },
        RelExpr::Join {
            left,
            right,
            keys,
            residual,
            kind,
            right_arity,
        } => RelExpr::Join {
            left: boxed(left),
            right: boxed(right),
            keys,
            residual,
            kind,
            right_arity,
        },
        RelExpr::Reduce {
            input,
            group_key,
            aggregates,
            global,
        } => RelExpr::Reduce {
            input: boxed(input),
            group_key,
            aggregates,
            global,
        },
        RelExpr::Distinct { input } => RelExpr::Distinct { input: boxed(input) },
        RelExpr::FlatMap { input, func, args } => RelExpr::FlatMap {
            input: boxed(input),
            func,
            args,
        },
        RelExpr::TemporalFilter { input, lower, upper } => RelExpr::TemporalFilter {
            input: boxed(input),
            lower,
            upper,
        },
        RelExpr::Union { inputs } => RelExpr::Union {
            inputs: inputs.into_iter().map(&mut *f).collect(),
        },
        RelExpr::Negate { input } => RelExpr::Negate { input: boxed(input) },
        RelExpr::Threshold { input } => RelExpr::Threshold { input: boxed(input) },
        RelExpr::Window {
            input,
            partition_by,
            order_by,
            funcs,
        } => RelExpr::Window {
            input: boxed(input),
            partition_by,
            order_by,
            funcs,
        },
        RelExpr::TopK {
            input,
            group_key,
            order_by,
            limit,
            offset,
        } => RelExpr::TopK {
            input: boxed(input),
            group_key,
            order_by,
            limit,
            offset,
        },
    }
}

/// `WHERE row_number() OVER (PARTITION BY p ORDER BY o) <= k` (also `< k`, `= k`): only the
/// first k rows of each partition can pass, so the window runs over a top-k per partition
/// (`TopK`) instead of the whole partition. The window and the filter stay (the numbers of the
/// kept rows are the same), but a change to a partition now rewrites at most k output rows
/// instead of renumbering the whole partition, and the window sorts at most k rows.
///
/// Only a window whose functions are all `row_number()` is rewritten: `rank()`, aggregates
/// and frames depend on rows beyond the k-th.
pub fn top_k_from_row_number(expr: RelExpr) -> RelExpr {
    let expr = map_inputs(expr, &mut top_k_from_row_number);
    let RelExpr::Filter { input, predicates } = expr else {
        return expr;
    };
    let limit = predicates.iter().filter_map(|p| row_number_bound(p, &input)).min();
    let input = match limit {
        Some(limit) => Box::new(limit_window(*input, limit)),
        None => input,
    };
    RelExpr::Filter { input, predicates }
}

/// If `pred` bounds a `row_number()` column of the window under `input` (through maps,
/// projections and filters) by a constant, the number of rows per partition that can pass.
fn row_number_bound(pred: &ScalarExpr, input: &RelExpr) -> Option<usize> {
    let ScalarExpr::Call { func, args } = pred else {
        return None;
    };
    let (column, constant, func) = match (args.as_slice(), func) {
        ([ScalarExpr::Column(c), ScalarExpr::Literal(d)], f) => (*c, d, f.clone()),
        ([ScalarExpr::Literal(d), ScalarExpr::Column(c)], Func::Gte) => (*c, d, Func::Lte),
        ([ScalarExpr::Literal(d), ScalarExpr::Column(c)], Func::Gt) => (*c, d, Func::Lt),
        ([ScalarExpr::Literal(d), ScalarExpr::Column(c)], Func::Eq) => (*c, d, Func::Eq),
        _ => return None,
    };
    let k = match constant {
        Datum::Int64(k) => *k,
        Datum::Int32(k) => i64::from(*k),
        Datum::Int16(k) => i64::from(*k),
        _ => return None,
    };
    let k = match func {
        Func::Lte | Func::Eq => k,
        Func::Lt => k - 1,
        _ => return None,
    };
    if !is_row_number(input, column) {
        return None;
    }
    Some(usize::try_from(k.max(0)).unwrap_or(0))
}

/// Whether column `column` of `expr` is a `row_number()` of a window whose functions are all
/// `row_number()`, reached through maps, projections and filters.
fn is_row_number(expr: &RelExpr, column: usize) -> bool {
    match expr {
        RelExpr::Project { input, outputs } => outputs.get(column).is_some_and(|c| is_row_number(input, *c)),
        RelExpr::Map { input, scalars } => {
            let Some(arity) = input.arity() else { return false };
            if column < arity {
                is_row_number(input, column)
            } else {
                // A column the map copies (`SELECT rn AS x`).
                matches!(scalars.get(column - arity), Some(ScalarExpr::Column(c)) if *c < column && is_row_number(expr, *c))
            }
        }
        RelExpr::Filter { input, .. } => is_row_number(input, column),
        RelExpr::Window { input, funcs, .. } => {
            let Some(arity) = input.arity() else { return false };
            column >= arity && funcs.get(column - arity).is_some() && funcs.iter().all(|f| matches!(f.func, WindowFunc::RowNumber))
        }
        _ => false,
    }
}

/// Puts a per-partition top-`limit` under the first all-`row_number()` window reached through
/// maps, projections and filters.
fn limit_window(expr: RelExpr, limit: usize) -> RelExpr {
    match expr {
        RelExpr::Project { input, outputs } => RelExpr::Project {
            input: Box::new(limit_window(*input, limit)),
            outputs,
        },
        RelExpr::Map { input, scalars } => RelExpr::Map {
            input: Box::new(limit_window(*input, limit)),
            scalars,
        },
        RelExpr::Filter { input, predicates } => RelExpr::Filter {
            input: Box::new(limit_window(*input, limit)),
            predicates,
        },
        RelExpr::Window {
            input,
            partition_by,
            order_by,
            funcs,
        } if !matches!(*input, RelExpr::TopK { .. }) => RelExpr::Window {
            input: Box::new(RelExpr::TopK {
                input,
                group_key: partition_by.clone(),
                order_by: order_by.clone(),
                limit: Some(limit),
                offset: 0,
            }),
            partition_by,
            order_by,
            funcs,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ColumnOrder, WindowExpr, WindowFrame};
    use riffle_repr::GlobalId;

    /// `SELECT a, b FROM (SELECT a, b, <func> OVER (PARTITION BY a ORDER BY b) AS rn FROM t) WHERE rn <op> k`
    /// as the planner shapes it: the window's column copied by a map, then projected.
    fn plan(func: WindowFunc, op: Func, k: i64) -> RelExpr {
        let window = RelExpr::Window {
            input: Box::new(RelExpr::Get { id: GlobalId(1), arity: 2 }),
            partition_by: vec![0],
            order_by: vec![ColumnOrder {
                column: 1,
                desc: true,
                nulls_first: false,
            }],
            funcs: vec![WindowExpr {
                func,
                args: vec![],
                frame: WindowFrame::DEFAULT,
            }],
        };
        let copied = RelExpr::Map {
            input: Box::new(window),
            scalars: vec![ScalarExpr::Column(2)],
        };
        RelExpr::Filter {
            input: Box::new(RelExpr::Project {
                input: Box::new(copied),
                outputs: vec![0, 1, 3],
            }),
            predicates: vec![ScalarExpr::Call {
                func: op,
                args: vec![ScalarExpr::Column(2), ScalarExpr::Literal(Datum::Int64(k))],
            }],
        }
    }

    fn get(arity: usize) -> Box<RelExpr> {
        Box::new(RelExpr::Get { id: GlobalId(7), arity })
    }

    #[test]
    fn projections_of_mapped_columns_read_the_columns() {
        // SELECT c, a FROM t(a, b, c): Project(Map(t, [#2, #0]), [3, 4]).
        let plan = RelExpr::Project {
            input: Box::new(RelExpr::Map {
                input: get(3),
                scalars: vec![ScalarExpr::Column(2), ScalarExpr::Column(0)],
            }),
            outputs: vec![3, 4],
        };
        assert_eq!(
            project_columns(plan),
            RelExpr::Project {
                input: get(3),
                outputs: vec![2, 0]
            }
        );
        // SELECT a, b FROM t(a, b): nothing left to do.
        let plan = RelExpr::Project {
            input: Box::new(RelExpr::Map {
                input: get(2),
                scalars: vec![ScalarExpr::Column(0), ScalarExpr::Column(1)],
            }),
            outputs: vec![2, 3],
        };
        assert_eq!(project_columns(plan), *get(2));
    }

    #[test]
    fn computed_outputs_keep_what_they_read() {
        // Map(t(a, b), [#1, #0, #2 + #0, #1 * 2]) projected to [#3, #4, #2]: #3 and #2 are
        // columns 0 and 1, the third expression stays with the first, which it reads (still
        // #2), and the last is dropped.
        let add = ScalarExpr::call(Func::Add, vec![ScalarExpr::Column(2), ScalarExpr::Column(0)]);
        let mul = ScalarExpr::call(Func::Mul, vec![ScalarExpr::Column(1), ScalarExpr::Literal(Datum::Int64(2))]);
        let plan = RelExpr::Project {
            input: Box::new(RelExpr::Map {
                input: get(2),
                scalars: vec![ScalarExpr::Column(1), ScalarExpr::Column(0), add, mul],
            }),
            outputs: vec![3, 4, 2],
        };
        let expected = RelExpr::Project {
            input: Box::new(RelExpr::Map {
                input: get(2),
                scalars: vec![
                    ScalarExpr::Column(1),
                    ScalarExpr::call(Func::Add, vec![ScalarExpr::Column(2), ScalarExpr::Column(0)]),
                ],
            }),
            outputs: vec![0, 3, 1],
        };
        assert_eq!(project_columns(plan), expected);
    }

    /// The limit of the top-k placed under the window, if any.
    fn top_k_limit(expr: &RelExpr) -> Option<usize> {
        match expr {
            RelExpr::TopK { limit, .. } => *limit,
            RelExpr::Filter { input, .. } | RelExpr::Project { input, .. } | RelExpr::Map { input, .. } | RelExpr::Window { input, .. } => {
                top_k_limit(input)
            }
            _ => None,
        }
    }

    #[test]
    fn row_number_bounds_become_a_top_k() {
        assert_eq!(top_k_limit(&optimize(plan(WindowFunc::RowNumber, Func::Lte, 3))), Some(3));
        assert_eq!(top_k_limit(&optimize(plan(WindowFunc::RowNumber, Func::Lt, 3))), Some(2));
        assert_eq!(top_k_limit(&optimize(plan(WindowFunc::RowNumber, Func::Eq, 1))), Some(1));
        assert_eq!(top_k_limit(&optimize(plan(WindowFunc::RowNumber, Func::Lte, -5))), Some(0));
        // Applying it twice changes nothing.
        let once = optimize(plan(WindowFunc::RowNumber, Func::Lte, 3));
        assert_eq!(optimize(once.clone()), once);
    }

    #[test]
    fn other_bounds_and_functions_are_left_alone() {
        assert_eq!(top_k_limit(&optimize(plan(WindowFunc::Rank, Func::Lte, 3))), None);
        assert_eq!(top_k_limit(&optimize(plan(WindowFunc::RowNumber, Func::Gte, 3))), None);
        assert_eq!(top_k_limit(&optimize(plan(WindowFunc::RowNumber, Func::NotEq, 3))), None);
    }
}
