//! Scalar expressions.

use crate::{EvalError, Func};
use riffle_repr::{Datum, DatumRef, Row, RowRef};
use serde::{Deserialize, Serialize};

/// The columns an expression reads from: owned datums, borrowed ones, or a packed row.
pub trait Columns {
    /// The value of column `i`, owned.
    fn column(&self, i: usize) -> Datum;
}

impl Columns for [Datum] {
    fn column(&self, i: usize) -> Datum {
        self[i].clone()
    }
}

impl Columns for [DatumRef<'_>] {
    fn column(&self, i: usize) -> Datum {
        self[i].to_datum()
    }
}

impl Columns for RowRef {
    fn column(&self, i: usize) -> Datum {
        self.get(i).to_datum()
    }
}

impl Columns for Row {
    fn column(&self, i: usize) -> Datum {
        self.get(i).to_datum()
    }
}

/// A packed row followed by values computed from it (a `Map` under way): column `i` past the
/// row's `arity` is `extra[i - arity]`.
pub struct Extended<'a> {
    /// The input row.
    pub row: &'a RowRef,
    /// Its number of columns.
    pub arity: usize,
    /// The values appended so far.
    pub extra: &'a [Datum],
}

impl Columns for Extended<'_> {
    fn column(&self, i: usize) -> Datum {
        match i.checked_sub(self.arity) {
            Some(j) => self.extra[j].clone(),
            None => self.row.get(i).to_datum(),
        }
    }
}

/// An expression computing one datum from the columns of a row.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ScalarExpr {
    /// The value of the column at this index.
    Column(usize),
    /// A constant.
    Literal(Datum),
    /// A function call; NULL arguments make a NULL result unless the function says otherwise.
    Call {
        /// The function.
        func: Func,
        /// Its arguments.
        args: Vec<ScalarExpr>,
    },
    /// `CASE WHEN cond THEN then ELSE els END`; only the chosen branch is evaluated.
    If {
        /// The condition (NULL counts as false).
        cond: Box<ScalarExpr>,
        /// Value when the condition holds.
        then: Box<ScalarExpr>,
        /// Value otherwise.
        els: Box<ScalarExpr>,
    },
    /// Three-valued AND.
    And(Vec<ScalarExpr>),
    /// Three-valued OR.
    Or(Vec<ScalarExpr>),
    /// First non-NULL argument, evaluated lazily.
    Coalesce(Vec<ScalarExpr>),
}

/// Three-valued AND (`decisive = false`) or OR (`decisive = true`): the decisive value wins
/// outright, otherwise any NULL makes the result NULL.
fn junction<C: Columns + ?Sized>(exprs: &[ScalarExpr], row: &C, decisive: bool) -> Result<Datum, EvalError> {
    let mut saw_null = false;
    for e in exprs {
        match e.eval_on(row)? {
            Datum::Bool(b) if b == decisive => return Ok(Datum::Bool(decisive)),
            Datum::Null => saw_null = true,
            _ => {}
        }
    }
    Ok(if saw_null { Datum::Null } else { Datum::Bool(!decisive) })
}

impl ScalarExpr {
    /// A call of `func` on `args`.
    pub fn call(func: Func, args: Vec<ScalarExpr>) -> Self {
        ScalarExpr::Call { func, args }
    }

    /// The column each expression reads, when every one is a plain column reference.
    pub fn columns(exprs: &[ScalarExpr]) -> Option<Vec<usize>> {
        exprs
            .iter()
            .map(|e| match e {
                ScalarExpr::Column(i) => Some(*i),
                _ => None,
            })
            .collect()
    }

    /// The literal NULL.
    pub fn null() -> Self {
        ScalarExpr::Literal(Datum::Null)
    }

    /// Evaluates the expression on a row of owned datums.
    pub fn eval(&self, row: &[Datum]) -> Result<Datum, EvalError> {
        self.eval_on(row)
    }

    /// Evaluates the expression on any kind of row ([`Columns`]).
    pub fn eval_on<C: Columns + ?Sized>(&self, row: &C) -> Result<Datum, EvalError> {
        match self {
            ScalarExpr::Column(i) => Ok(row.column(*i)),
            ScalarExpr::Literal(d) => Ok(d.clone()),
            ScalarExpr::Call { func, args } => {
                let mut values = Vec::with_capacity(args.len());
                for arg in args {
                    let v = arg.eval_on(row)?;
                    if v.is_null() && func.is_strict() {
                        return Ok(Datum::Null);
                    }
                    values.push(v);
                }
                func.eval(&values)
            }
            ScalarExpr::If { cond, then, els } => match cond.eval_on(row)? {
                Datum::Bool(true) => then.eval_on(row),
                _ => els.eval_on(row),
            },
            ScalarExpr::And(exprs) => junction(exprs, row, false),
            ScalarExpr::Or(exprs) => junction(exprs, row, true),
            ScalarExpr::Coalesce(exprs) => {
                for e in exprs {
                    let v = e.eval_on(row)?;
                    if !v.is_null() {
                        return Ok(v);
                    }
                }
                Ok(Datum::Null)
            }
        }
    }

    /// Whether a predicate holds on a row: NULL and false both reject it.
    pub fn holds<C: Columns + ?Sized>(&self, row: &C) -> Result<bool, EvalError> {
        Ok(matches!(self.eval_on(row)?, Datum::Bool(true)))
    }

    /// True when the expression reads no columns (and so can be folded at plan time).
    pub fn is_constant(&self) -> bool {
        let mut constant = true;
        self.visit(&mut |e| {
            if matches!(e, ScalarExpr::Column(_)) {
                constant = false
            }
        });
        constant
    }

    /// Calls `f` on this expression and every subexpression.
    pub fn visit(&self, f: &mut impl FnMut(&ScalarExpr)) {
        f(self);
        match self {
            ScalarExpr::Column(_) | ScalarExpr::Literal(_) => {}
            ScalarExpr::Call { args, .. } => args.iter().for_each(|a| a.visit(f)),
            ScalarExpr::If { cond, then, els } => {
                cond.visit(f);
                then.visit(f);
                els.visit(f);
            }
            ScalarExpr::And(es) | ScalarExpr::Or(es) | ScalarExpr::Coalesce(es) => es.iter().for_each(|e| e.visit(f)),
        }
    }

    /// Calls `f` on this expression and then on every subexpression, each of which `f` may
    /// replace.
    pub fn visit_mut(&mut self, f: &mut impl FnMut(&mut ScalarExpr)) {
        f(self);
        match self {
            ScalarExpr::Column(_) | ScalarExpr::Literal(_) => {}
            ScalarExpr::Call { args, .. } => args.iter_mut().for_each(|a| a.visit_mut(f)),
            ScalarExpr::If { cond, then, els } => {
                cond.visit_mut(f);
                then.visit_mut(f);
                els.visit_mut(f);
            }
            ScalarExpr::And(es) | ScalarExpr::Or(es) | ScalarExpr::Coalesce(es) => es.iter_mut().for_each(|e| e.visit_mut(f)),
        }
    }

    /// Rewrites every column reference with `f`.
    pub fn remap_columns(&mut self, f: &impl Fn(usize) -> usize) {
        self.visit_mut(&mut |e| {
            if let ScalarExpr::Column(i) = e {
                *i = f(*i)
            }
        });
    }

    /// The largest column index referenced, if any.
    pub fn max_column(&self) -> Option<usize> {
        let mut max = None;
        self.visit(&mut |e| {
            if let ScalarExpr::Column(i) = e {
                max = Some(max.map_or(*i, |m: usize| m.max(*i)));
            }
        });
        max
    }
}
