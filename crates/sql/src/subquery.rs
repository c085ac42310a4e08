//! Subqueries in expressions, decorrelated into joins so that they stay incremental.
//!
//! A subquery is planned against `D`, the distinct rows of the relation its expression is
//! evaluated over, cross-joined into the subquery's FROM: outer column references become
//! ordinary columns of `D` (its scope items are marked `outer`). The subquery then yields
//! rows `(D columns…, values…)`, which are left-joined back onto the outer relation on all
//! of `D`'s columns (NULL matching NULL). A subquery that turns out not to reference the
//! outer query is planned again on its own and cross-joined instead.

use crate::expr::{ExprCx, Typed};
use crate::plan::Planner;
use crate::scope::Scope;
use crate::PlanError;
use riffle_expr::{AggregateExpr, AggregateFunc, Func, JoinKind, RelExpr, ScalarExpr};
use riffle_repr::{Datum, ScalarType};
use sqlparser::ast::{self, Expr};
use std::cell::RefCell;

/// A subquery result to join onto the outer relation.
struct SubqueryJoin {
    rel: RelExpr,
    keys: Vec<(ScalarExpr, ScalarExpr)>,
    /// Columns of `rel` the expression reads, appended to the outer row in this order.
    values: Vec<usize>,
}

/// The outer relation of a clause, and the subquery joins its expressions asked for.
pub struct SubqueryCx {
    rel: RelExpr,
    arity: usize,
    joins: RefCell<Vec<SubqueryJoin>>,
}

impl SubqueryCx {
    /// A context for expressions over `rel`, which has `arity` columns.
    pub fn new(rel: &RelExpr, arity: usize) -> Self {
        SubqueryCx {
            rel: rel.clone(),
            arity,
            joins: RefCell::new(Vec::new()),
        }
    }

    /// Number of columns the joins append.
    pub fn width(&self) -> usize {
        self.joins.borrow().iter().map(|j| j.values.len()).sum()
    }

    fn register(&self, rel: RelExpr, keys: Vec<(ScalarExpr, ScalarExpr)>, values: Vec<usize>) -> usize {
        let first = self.arity + self.width();
        self.joins.borrow_mut().push(SubqueryJoin { rel, keys, values });
        first
    }

    /// `rel` with every registered subquery's value columns appended.
    pub fn apply(&self, mut rel: RelExpr) -> RelExpr {
        let mut arity = self.arity;
        for j in self.joins.borrow().iter() {
            let right_arity = j.rel.arity().expect("planned relations have known arities");
            let join = RelExpr::Join {
                left: Box::new(rel),
                right: Box::new(j.rel.clone()),
                keys: j.keys.clone(),
                residual: None,
                kind: JoinKind::LeftOuter,
                right_arity,
            };
            let outputs = (0..arity).chain(j.values.iter().map(|v| arity + v)).collect();
            rel = RelExpr::Project {
                input: Box::new(join),
                outputs,
            };
            arity += j.values.len();
        }
        rel
    }
}

/// Join keys equating the first `n` columns of both sides, NULL matching NULL.
pub fn null_safe_keys(n: usize) -> Vec<(ScalarExpr, ScalarExpr)> {
    (0..n)
        .flat_map(|i| {
            let col = || ScalarExpr::Column(i);
            [
                (
                    ScalarExpr::call(Func::IsNull, vec![col()]),
                    ScalarExpr::call(Func::IsNull, vec![col()]),
                ),
                (
                    ScalarExpr::call(Func::NullSafeKey, vec![col()]),
                    ScalarExpr::call(Func::NullSafeKey, vec![col()]),
                ),
            ]
        })
        .collect()
}

/// `d` rows whose first `n` columns do not appear among the first `n` columns of `present`.
pub fn missing_keys(d: RelExpr, present: RelExpr, n: usize) -> RelExpr {
    let keys = RelExpr::Distinct {
        input: Box::new(RelExpr::Project {
            input: Box::new(present),
            outputs: (0..n).collect(),
        }),
    };
    let matched = RelExpr::Project {
        input: Box::new(RelExpr::Join {
            left: Box::new(d.clone()),
            right: Box::new(keys),
            keys: null_safe_keys(n),
            residual: None,
            kind: JoinKind::Inner,
            right_arity: n,
        }),
        outputs: (0..n).collect(),
    };
    RelExpr::Union {
        inputs: vec![d, RelExpr::Negate { input: Box::new(matched) }],
    }
}

fn count_if(cond: ScalarExpr) -> AggregateExpr {
    AggregateExpr {
        func: AggregateFunc::Count,
        expr: ScalarExpr::If {
            cond: Box::new(cond),
            then: Box::new(ScalarExpr::Literal(Datum::Bool(true))),
            els: Box::new(ScalarExpr::null()),
        },
        distinct: false,
    }
}

fn positive(col: usize) -> ScalarExpr {
    ScalarExpr::call(
        Func::Gt,
        vec![
            ScalarExpr::Coalesce(vec![ScalarExpr::Column(col), ScalarExpr::Literal(Datum::Int64(0))]),
            ScalarExpr::Literal(Datum::Int64(0)),
        ],
    )
}

fn not_if(negated: bool, e: ScalarExpr) -> ScalarExpr {
    if negated {
        ScalarExpr::call(Func::Not, vec![e])
    } else {
        e
    }
}

impl Planner<'_> {
    /// Plans a subquery's relation. With `prefixed`, its first `cx.scope.len()` columns are
    /// the outer row (`D`); without, it is the subquery alone.
    fn plan_subquery_relation(&mut self, cx: ExprCx, q: &ast::Query, force_prefix: bool) -> Result<(RelExpr, Scope, bool), PlanError> {
        let sub = cx
            .subq
            .ok_or_else(|| PlanError::unsupported(format!("subqueries in {}", cx.clause)))?;
        let n = cx.scope.len();
        let d = RelExpr::Distinct {
            input: Box::new(sub.rel.clone()),
        };
        let takes_prefix = matches!(q.body.as_ref(), ast::SetExpr::Select(_));
        let saved = std::mem::replace(&mut self.correlated, false);
        let outer = takes_prefix.then(|| (d.clone(), cx.scope.as_outer()));
        let planned = self.plan_query_over(q, outer);
        let correlated = self.correlated;
        self.correlated = saved || correlated;
        let (rel, scope) = planned?.into_relation();
        if takes_prefix && correlated {
            let inner = Scope {
                items: scope.items[n..].to_vec(),
            };
            return Ok((rel, inner, true));
        }
        // Not correlated: plan the subquery on its own (again, if it took the prefix).
        let (rel, scope) = if takes_prefix {
            let saved = self.correlated;
            let again = self.plan_query(q)?.into_relation();
            self.correlated = saved;
            again
        } else {
            (rel, scope)
        };
        if !force_prefix {
            return Ok((rel, scope, false));
        }
        let right_arity = scope.len();
        let crossed = RelExpr::cross_join(d, rel, right_arity);
        Ok((crossed, scope, true))
    }

    /// A LATERAL subquery's relation: `(rows, scope, prefixed)` as for subqueries in expressions.
    pub fn plan_lateral_relation(&mut self, cx: ExprCx, q: &ast::Query) -> Result<(RelExpr, Scope, bool), PlanError> {
        self.plan_subquery_relation(cx, q, false)
    }

    /// `(SELECT …)` as a value: NULL when it returns no row.
    pub fn plan_scalar_subquery(&mut self, cx: ExprCx, q: &ast::Query) -> Result<Typed, PlanError> {
        let (rel, scope, prefixed) = self.plan_subquery_relation(cx, q, false)?;
        if scope.len() != 1 {
            return Err(PlanError::Syntax("subquery must return only one column".into()));
        }
        let n = if prefixed { cx.scope.len() } else { 0 };
        let sub = cx.subq.expect("checked by plan_subquery_relation");
        let col = sub.register(rel, null_safe_keys(n), vec![n]);
        Ok(Typed {
            expr: ScalarExpr::Column(col),
            typ: scope.items[0].typ.scalar_type.clone(),
        })
    }

    /// `[NOT] EXISTS (…)`.
    pub fn plan_exists(&mut self, cx: ExprCx, q: &ast::Query, negated: bool) -> Result<Typed, PlanError> {
        let (rel, _, prefixed) = self.plan_subquery_relation(cx, q, false)?;
        let n = if prefixed { cx.scope.len() } else { 0 };
        let marker = RelExpr::Map {
            input: Box::new(RelExpr::Distinct {
                input: Box::new(RelExpr::Project {
                    input: Box::new(rel),
                    outputs: (0..n).collect(),
                }),
            }),
            scalars: vec![ScalarExpr::Literal(Datum::Bool(true))],
        };
        let sub = cx.subq.expect("checked by plan_subquery_relation");
        let col = sub.register(marker, null_safe_keys(n), vec![n]);
        let exists = ScalarExpr::call(Func::Not, vec![ScalarExpr::call(Func::IsNull, vec![ScalarExpr::Column(col)])]);
        Ok(Typed {
            expr: not_if(negated, exists),
            typ: ScalarType::Bool,
        })
    }

    /// `x [NOT] IN (SELECT y …)` with SQL's three-valued result: true if some `y = x`, NULL if
    /// none does but some comparison is NULL, false otherwise (also for an empty subquery).
    pub fn plan_in_subquery(&mut self, cx: ExprCx, x: &Expr, q: &ast::Query, negated: bool) -> Result<Typed, PlanError> {
        let (rel, scope, prefixed) = self.plan_subquery_relation(cx, q, false)?;
        if scope.len() != 1 {
            return Err(PlanError::Syntax("subquery has too many columns".into()));
        }
        if !prefixed {
            return self.plan_uncorrelated_in(cx, x, rel, scope.items[0].typ.scalar_type.clone(), negated);
        }
        let n = cx.scope.len();
        // `x` is an expression over the outer row, which is also the subquery rows' prefix.
        let inner_cx = ExprCx { subq: None, ..cx };
        let tx = self.plan_expr(inner_cx, x)?;
        let ty = Typed {
            expr: ScalarExpr::Column(n),
            typ: scope.items[0].typ.scalar_type.clone(),
        };
        let cmp = self.compare_typed(tx, ty, Func::Eq)?.expr;
        let counts = RelExpr::Reduce {
            input: Box::new(rel),
            group_key: (0..n).collect(),
            aggregates: vec![count_if(cmp.clone()), count_if(ScalarExpr::call(Func::IsNull, vec![cmp]))],
            global: false,
        };
        let sub = cx.subq.expect("checked by plan_subquery_relation");
        let col = sub.register(counts, null_safe_keys(n), vec![n, n + 1]);
        let result = ScalarExpr::If {
            cond: Box::new(positive(col)),
            then: Box::new(ScalarExpr::Literal(Datum::Bool(true))),
            els: Box::new(ScalarExpr::If {
                cond: Box::new(positive(col + 1)),
                then: Box::new(ScalarExpr::null()),
                els: Box::new(ScalarExpr::Literal(Datum::Bool(false))),
            }),
        };
        Ok(Typed {
            expr: not_if(negated, result),
            typ: ScalarType::Bool,
        })
    }

    /// `x [NOT] IN (SELECT y …)` where the subquery does not reference the outer query: an
    /// equi-join of the outer rows with the subquery's distinct non-NULL values on `x = y`,
    /// and the subquery's row and NULL counts (one row, cross-joined) for SQL's three values:
    /// true if some `y = x`; else false for an empty subquery; else NULL if `x` is NULL or
    /// some `y` is NULL; else false. (Comparing every outer row with every subquery row, as
    /// the correlated plan must, is quadratic.)
    fn plan_uncorrelated_in(&mut self, cx: ExprCx, x: &Expr, rel: RelExpr, y_type: ScalarType, negated: bool) -> Result<Typed, PlanError> {
        let tx = self.plan_expr(ExprCx { subq: None, ..cx }, x)?;
        let ty = Typed {
            expr: ScalarExpr::Column(0),
            typ: y_type,
        };
        let (outer_key, y) = self.comparable(tx, ty, &Func::Eq)?;
        let not_null = |e: ScalarExpr| ScalarExpr::call(Func::Not, vec![ScalarExpr::call(Func::IsNull, vec![e])]);
        // (y, true) for each distinct non-NULL value.
        let hits = RelExpr::Map {
            input: Box::new(RelExpr::Distinct {
                input: Box::new(RelExpr::Project {
                    input: Box::new(RelExpr::Map {
                        input: Box::new(RelExpr::Filter {
                            input: Box::new(rel.clone()),
                            predicates: vec![not_null(y.clone())],
                        }),
                        scalars: vec![y],
                    }),
                    outputs: vec![1],
                }),
            }),
            scalars: vec![ScalarExpr::Literal(Datum::Bool(true))],
        };
        let counts = RelExpr::Reduce {
            input: Box::new(rel),
            group_key: vec![],
            aggregates: vec![
                AggregateExpr {
                    func: AggregateFunc::CountAll,
                    expr: ScalarExpr::Literal(Datum::Bool(true)),
                    distinct: false,
                },
                count_if(ScalarExpr::call(Func::IsNull, vec![ScalarExpr::Column(0)])),
            ],
            global: true,
        };
        let sub = cx.subq.expect("checked by plan_subquery_relation");
        let hit = sub.register(hits, vec![(outer_key.clone(), ScalarExpr::Column(0))], vec![1]);
        let total = sub.register(counts, vec![], vec![0, 1]);
        let bool_lit = |b: bool| ScalarExpr::Literal(Datum::Bool(b));
        let result = ScalarExpr::If {
            cond: Box::new(not_null(ScalarExpr::Column(hit))),
            then: Box::new(bool_lit(true)),
            els: Box::new(ScalarExpr::If {
                cond: Box::new(positive(total)),
                then: Box::new(ScalarExpr::If {
                    cond: Box::new(ScalarExpr::Or(vec![
                        ScalarExpr::call(Func::IsNull, vec![outer_key]),
                        positive(total + 1),
                    ])),
                    then: Box::new(ScalarExpr::null()),
                    els: Box::new(bool_lit(false)),
                }),
                els: Box::new(bool_lit(false)),
            }),
        };
        Ok(Typed {
            expr: not_if(negated, result),
            typ: ScalarType::Bool,
        })
    }
}
