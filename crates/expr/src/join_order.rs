//! Join ordering: a tree of inner joins is flattened into its inputs and predicates (the join
//! graph) and rebuilt left-deep in an order chosen from that graph, for transient queries and
//! maintained views alike.
//!
//! The planner joins a FROM list in the order it is written, so `FROM t1, t9, t4 WHERE
//! t4.b = t1.b` starts with a cross product of t1 and t9 even though t4 connects to t1 by an
//! equality. Over several such inputs the intermediate results grow as the product of their
//! sizes (twenty 10-row tables in the SQLite corpus's select5 took minutes). The order chosen
//! here:
//! - starts with the most selective input (an equality with a constant, then any filter, then
//!   constant rows; ties keep the written order);
//! - then repeatedly takes, among the inputs an equality connects to those already joined,
//!   the most selective one; only when no remaining input is connected does it take a cross
//!   product (with the most selective input left).
//!
//! Each predicate is applied at the first join where every input it reads is present:
//! equalities between the joined inputs and the new one become join keys, others the join's
//! residual. A projection restores the written column order, so the result is exactly the
//! original plan's. A tree whose order does not change, and that joins on keys everywhere, is
//! left as planned.
//!
//! There are no statistics yet (selectivity is read from the plan's shape), and the shape is
//! always a left-deep chain of binary joins; differential's delta joins (one arrangement per
//! input, no intermediate arrangements, Materialize's choice for views) would avoid
//! arranging intermediate results in maintained views and are the next step.

use crate::JoinKind;
use crate::{Func, RelExpr, ScalarExpr};

/// Reorders every tree of three or more inner joins in `expr` (see the module docs).
pub fn order_joins(expr: RelExpr) -> RelExpr {
    if !is_join_tree(&expr) {
        return crate::transform::map_inputs(expr, &mut order_joins);
    }
    let original = expr.clone();
    let mut graph = JoinGraph::default();
    graph.flatten(expr, 0);
    if graph.inputs.len() < 3 {
        return crate::transform::map_inputs(original, &mut order_joins);
    }
    let order = graph.order();
    if order.iter().copied().eq(0..graph.inputs.len()) && keyed_everywhere(&original) {
        return crate::transform::map_inputs(original, &mut order_joins);
    }
    graph.rebuild(&order)
}

/// Whether every join at the top of a join tree has keys: in the written order, a tree
/// without a cross product is left as planned.
fn keyed_everywhere(e: &RelExpr) -> bool {
    match e {
        RelExpr::Join {
            left,
            right,
            keys,
            kind: JoinKind::Inner,
            ..
        } => !keys.is_empty() && keyed_everywhere(left) && keyed_everywhere(right),
        RelExpr::Filter { input, .. } if is_join_tree(input) => keyed_everywhere(input),
        _ => true,
    }
}

/// The inputs of a tree of inner joins, each with its first column in the tree's output, and
/// the predicates over those columns (join keys as equalities, residuals and filters).
#[derive(Default)]
struct JoinGraph {
    inputs: Vec<(RelExpr, usize)>,
    predicates: Vec<ScalarExpr>,
}

impl JoinGraph {
    /// Collects the inputs and predicates of the inner joins (and filters over them) at the
    /// top of `expr`, whose first column is column `offset` of the whole tree.
    fn flatten(&mut self, expr: RelExpr, offset: usize) {
        match expr {
            RelExpr::Join {
                left,
                right,
                keys,
                residual,
                kind: JoinKind::Inner,
                ..
            } if left.arity().is_some() => {
                let left_arity = left.arity().expect("checked");
                self.flatten(*left, offset);
                self.flatten(*right, offset + left_arity);
                for (mut l, mut r) in keys {
                    l.remap_columns(&|c| c + offset);
                    r.remap_columns(&|c| c + offset + left_arity);
                    self.predicates.push(ScalarExpr::Call {
                        func: Func::Eq,
                        args: vec![l, r],
                    });
                }
                if let Some(mut residual) = residual {
                    residual.remap_columns(&|c| c + offset);
                    self.add_conjuncts(residual);
                }
            }
            RelExpr::Filter { input, predicates } if is_join_tree(&input) => {
                self.flatten(*input, offset);
                for mut p in predicates {
                    p.remap_columns(&|c| c + offset);
                    self.add_conjuncts(p);
                }
            }
            other => {
                let other = order_joins(other);
                self.inputs.push((other, offset));
            }
        }
    }

    fn add_conjuncts(&mut self, p: ScalarExpr) {
        match p {
            ScalarExpr::And(ps) => ps.into_iter().for_each(|p| self.add_conjuncts(p)),
            p => self.predicates.push(p),
        }
    }

    /// The input that column `c` of the tree belongs to.
    fn input_of(&self, c: usize) -> usize {
        self.inputs.partition_point(|(_, offset)| *offset <= c) - 1
    }

    /// The inputs an expression reads, as a bit set (one bit per input).
    fn reads(&self, e: &ScalarExpr) -> Vec<bool> {
        let mut set = vec![false; self.inputs.len()];
        e.visit(&mut |x| {
            if let ScalarExpr::Column(c) = x {
                set[self.input_of(*c)] = true;
            }
        });
        set
    }

    /// How selective an input is, lower first: an equality with a constant, any other
    /// filter, constant rows, anything else.
    fn selectivity(&self, input: usize) -> u8 {
        let local = self.predicates.iter().filter(|p| only(&self.reads(p), input));
        let mut best = shape_selectivity(&self.inputs[input].0);
        for p in local {
            best = best.min(if is_constant_equality(p) { 0 } else { 1 });
        }
        best
    }

    /// Whether an equality joins `candidate` to the inputs in `placed`.
    fn connected(&self, placed: &[bool], candidate: usize) -> bool {
        self.predicates.iter().any(|p| self.key_sides(p, placed, candidate).is_some())
    }

    /// For an equality `a = b` with one side reading only placed inputs and the other only
    /// `candidate` (and each side reading something): the (placed side, candidate side).
    fn key_sides<'p>(&self, p: &'p ScalarExpr, placed: &[bool], candidate: usize) -> Option<(&'p ScalarExpr, &'p ScalarExpr)> {
        let ScalarExpr::Call { func: Func::Eq, args } = p else {
            return None;
        };
        let (a, b) = (&args[0], &args[1]);
        let (ra, rb) = (self.reads(a), self.reads(b));
        let within_placed = |r: &[bool]| r.iter().any(|x| *x) && r.iter().zip(placed).all(|(x, p)| !*x || *p);
        if within_placed(&ra) && only(&rb, candidate) {
            Some((a, b))
        } else if within_placed(&rb) && only(&ra, candidate) {
            Some((b, a))
        } else {
            None
        }
    }

    /// The join order: most selective first, then connected inputs by selectivity, cross
    /// products only when nothing left is connected.
    fn order(&self) -> Vec<usize> {
        let n = self.inputs.len();
        let selectivity: Vec<u8> = (0..n).map(|i| self.selectivity(i)).collect();
        let mut placed = vec![false; n];
        let mut order = Vec::with_capacity(n);
        // An input nothing connects to is a cross product wherever it goes: start with the
        // most selective input that has an equality to another, if any has.
        let linked = |i: usize| {
            (0..n).any(|j| {
                j != i && {
                    let mut only_j = vec![false; n];
                    only_j[j] = true;
                    self.connected(&only_j, i)
                }
            })
        };
        let first = (0..n)
            .min_by_key(|&i| (!linked(i), selectivity[i], i))
            .expect("at least three inputs");
        placed[first] = true;
        order.push(first);
        while order.len() < n {
            let remaining = (0..n).filter(|&i| !placed[i]);
            let next = remaining
                .min_by_key(|&i| (!self.connected(&placed, i), selectivity[i], i))
                .expect("an input is left");
            placed[next] = true;
            order.push(next);
        }
        order
    }

    /// The joins in `order`, left-deep, each predicate applied where its inputs meet, under a
    /// projection back to the original column order.
    fn rebuild(self, order: &[usize]) -> RelExpr {
        let n = self.inputs.len();
        let arities: Vec<usize> = self
            .inputs
            .iter()
            .map(|(e, _)| e.arity().expect("join inputs have arities"))
            .collect();
        let old_offsets: Vec<usize> = self.inputs.iter().map(|(_, o)| *o).collect();
        let total: usize = arities.iter().sum();
        // Where each input's columns start in the reordered output.
        let mut new_offsets = vec![0; n];
        let mut at = 0;
        for &i in order {
            new_offsets[i] = at;
            at += arities[i];
        }
        let input_of = |c: usize| old_offsets.partition_point(|o| *o <= c) - 1;
        let to_new = |c: usize| {
            let i = input_of(c);
            new_offsets[i] + (c - old_offsets[i])
        };
        let reads: Vec<Vec<bool>> = self.predicates.iter().map(|p| self.reads(p)).collect();
        let mut used = vec![false; self.predicates.len()];
        let mut placed = vec![false; n];
        let mut inputs: Vec<Option<RelExpr>> = self.inputs.iter().map(|(e, _)| Some(e.clone())).collect();
        let mut acc: Option<RelExpr> = None;
        for &next in order {
            let mut right = inputs[next].take().expect("each input once");
            // Predicates over the new input alone filter it before the join.
            let mut local = Vec::new();
            for p in 0..self.predicates.len() {
                if !used[p] && only(&reads[p], next) {
                    used[p] = true;
                    let mut e = self.predicates[p].clone();
                    e.remap_columns(&|c| c - old_offsets[next]);
                    local.push(e);
                }
            }
            if !local.is_empty() {
                right = filter(right, local);
            }
            let Some(left) = acc.take() else {
                placed[next] = true;
                acc = Some(right);
                continue;
            };
            let left_arity = left.arity().expect("join inputs have arities");
            let mut keys = Vec::new();
            let mut residual = Vec::new();
            for p in 0..self.predicates.len() {
                if used[p] || !reads[p].iter().enumerate().all(|(i, r)| !*r || placed[i] || i == next) {
                    continue;
                }
                used[p] = true;
                match self.key_sides(&self.predicates[p], &placed, next) {
                    Some((l, r)) => {
                        let (mut l, mut r) = (l.clone(), r.clone());
                        l.remap_columns(&to_new);
                        r.remap_columns(&|c| c - old_offsets[next]);
                        keys.push((l, r));
                    }
                    None => {
                        let mut e = self.predicates[p].clone();
                        e.remap_columns(&to_new);
                        residual.push(e);
                    }
                }
            }
            placed[next] = true;
            let right_arity = right.arity().expect("join inputs have arities");
            debug_assert_eq!(left_arity, new_offsets[next]);
            acc = Some(RelExpr::Join {
                left: Box::new(left),
                right: Box::new(right),
                keys,
                residual: conjunction(residual),
                kind: JoinKind::Inner,
                right_arity,
            });
        }
        let mut joined = acc.expect("at least one input");
        // Predicates that read no column (constants) filter the result.
        let rest: Vec<ScalarExpr> = (0..self.predicates.len())
            .filter(|&p| !used[p])
            .map(|p| {
                let mut e = self.predicates[p].clone();
                e.remap_columns(&to_new);
                e
            })
            .collect();
        if !rest.is_empty() {
            joined = filter(joined, rest);
        }
        RelExpr::Project {
            input: Box::new(joined),
            outputs: (0..total).map(to_new).collect(),
        }
    }
}

/// An inner join (of inputs with known arities), or a filter over one.
fn is_join_tree(e: &RelExpr) -> bool {
    match e {
        RelExpr::Join {
            kind: JoinKind::Inner,
            left,
            ..
        } => left.arity().is_some(),
        RelExpr::Filter { input, .. } => matches!(&**input, RelExpr::Join { kind: JoinKind::Inner, left, .. } if left.arity().is_some()),
        _ => false,
    }
}

/// Whether a read set holds exactly `input`.
fn only(reads: &[bool], input: usize) -> bool {
    reads.iter().enumerate().all(|(i, r)| *r == (i == input))
}

/// How selective an input looks from its plan: 0 for an equality with a constant, 1 for
/// another filter, 2 for constant rows, 3 otherwise.
fn shape_selectivity(e: &RelExpr) -> u8 {
    match e {
        RelExpr::Filter { input, predicates } => {
            let here = if predicates.iter().any(is_constant_equality) { 0 } else { 1 };
            here.min(shape_selectivity(input))
        }
        RelExpr::Project { input, .. } | RelExpr::Map { input, .. } => shape_selectivity(input),
        RelExpr::Constant { .. } => 2,
        _ => 3,
    }
}

/// `column = constant` (either way round), or an OR of such equalities (`IN (…)`).
fn is_constant_equality(p: &ScalarExpr) -> bool {
    match p {
        ScalarExpr::Call { func: Func::Eq, args } => {
            matches!(
                (&args[0], &args[1]),
                (ScalarExpr::Column(_), ScalarExpr::Literal(_)) | (ScalarExpr::Literal(_), ScalarExpr::Column(_))
            )
        }
        ScalarExpr::Or(ps) => ps.iter().all(is_constant_equality),
        _ => false,
    }
}

fn filter(input: RelExpr, predicates: Vec<ScalarExpr>) -> RelExpr {
    match input {
        RelExpr::Filter { input, predicates: mut p } => {
            p.extend(predicates);
            RelExpr::Filter { input, predicates: p }
        }
        input => RelExpr::Filter {
            input: Box::new(input),
            predicates,
        },
    }
}

fn conjunction(mut ps: Vec<ScalarExpr>) -> Option<ScalarExpr> {
    match ps.len() {
        0 => None,
        1 => ps.pop(),
        _ => Some(ScalarExpr::And(ps)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use riffle_repr::{Datum, Row};

    /// A reference evaluator for the plans these tests build: constants, filters,
    /// projections and inner joins (nested loops).
    fn eval(e: &RelExpr) -> Vec<Vec<Datum>> {
        let mut out = match e {
            RelExpr::Constant { rows, .. } => rows.iter().map(|(r, _)| r.unpack()).collect(),
            RelExpr::Filter { input, predicates } => eval(input)
                .into_iter()
                .filter(|r| predicates.iter().all(|p| p.eval(r).unwrap() == Datum::Bool(true)))
                .collect(),
            RelExpr::Project { input, outputs } => eval(input)
                .into_iter()
                .map(|r| outputs.iter().map(|c| r[*c].clone()).collect())
                .collect(),
            RelExpr::Join {
                left,
                right,
                keys,
                residual,
                ..
            } => {
                let mut out = Vec::new();
                for l in eval(left) {
                    for r in eval(right) {
                        let matched = keys.iter().all(|(lk, rk)| {
                            let (a, b) = (lk.eval(&l).unwrap(), rk.eval(&r).unwrap());
                            !a.is_null() && a == b
                        });
                        let row: Vec<Datum> = l.iter().chain(r.iter()).cloned().collect();
                        if matched && residual.as_ref().is_none_or(|p| p.eval(&row).unwrap() == Datum::Bool(true)) {
                            out.push(row);
                        }
                    }
                }
                out
            }
            other => panic!("not evaluated here: {other:?}"),
        };
        out.sort();
        out
    }

    fn table(n: i64, salt: i64) -> RelExpr {
        RelExpr::Constant {
            rows: (0..n)
                .map(|i| (Row::new(vec![Datum::Int64(i), Datum::Int64((i * salt) % 5)]), 1))
                .collect(),
            arity: 2,
        }
    }

    fn eq(a: usize, b: usize) -> ScalarExpr {
        ScalarExpr::Call {
            func: Func::Eq,
            args: vec![ScalarExpr::Column(a), ScalarExpr::Column(b)],
        }
    }

    fn join(left: RelExpr, right: RelExpr, keys: Vec<(usize, usize)>) -> RelExpr {
        RelExpr::Join {
            left: Box::new(left),
            right: Box::new(right),
            keys: keys
                .into_iter()
                .map(|(l, r)| (ScalarExpr::Column(l), ScalarExpr::Column(r)))
                .collect(),
            residual: None,
            kind: JoinKind::Inner,
            right_arity: 2,
        }
    }

    /// Every join of a plan has keys (no cross product).
    fn no_cross_product(e: &RelExpr) -> bool {
        match e {
            RelExpr::Join { left, right, keys, .. } => !keys.is_empty() && no_cross_product(left) && no_cross_product(right),
            RelExpr::Filter { input, .. } | RelExpr::Project { input, .. } => no_cross_product(input),
            _ => true,
        }
    }

    /// The first input the left-deep chain starts with.
    fn first_input(e: &RelExpr) -> &RelExpr {
        match e {
            RelExpr::Join { left, .. } => first_input(left),
            RelExpr::Project { input, .. } if matches!(**input, RelExpr::Join { .. }) => first_input(input),
            other => other,
        }
    }

    #[test]
    fn a_cross_product_written_first_is_joined_by_its_equalities() {
        // FROM a, b, c WHERE a.1 = c.1 AND b.0 = c.0 AND c.0 = 3: a × b first as written.
        let (a, b) = (table(6, 2), table(7, 3));
        let c = RelExpr::Filter {
            input: Box::new(table(8, 1)),
            predicates: vec![ScalarExpr::Call {
                func: Func::Eq,
                args: vec![ScalarExpr::Column(0), ScalarExpr::Literal(Datum::Int64(3))],
            }],
        };
        let written = join(join(a, b, vec![]), c.clone(), vec![(1, 1), (2, 0)]);
        assert!(!no_cross_product(&written));
        let ordered = order_joins(written.clone());
        assert!(no_cross_product(&ordered), "{ordered:?}");
        assert_eq!(first_input(&ordered), &c, "the filtered input goes first");
        assert_eq!(eval(&ordered), eval(&written));
        assert!(!eval(&written).is_empty());
        // Ordering is stable: an ordered plan is left alone.
        assert_eq!(order_joins(ordered.clone()), ordered);
    }

    #[test]
    fn filters_over_the_joins_are_placed_where_their_inputs_meet() {
        // FROM a, b, c, d WHERE a.0 = b.0 AND c.1 = d.1 AND b.1 = c.1 AND a.1 + d.0 > 2,
        // with the equalities and the residual in a filter above cross products.
        let tables: Vec<RelExpr> = (0..4).map(|i| table(5 + i, 2 + i as i64)).collect();
        let cross = join(
            join(join(tables[0].clone(), tables[1].clone(), vec![]), tables[2].clone(), vec![]),
            tables[3].clone(),
            vec![],
        );
        let sum = ScalarExpr::Call {
            func: Func::Add,
            args: vec![ScalarExpr::Column(1), ScalarExpr::Column(6)],
        };
        let written = RelExpr::Filter {
            input: Box::new(cross),
            predicates: vec![
                eq(0, 2),
                eq(5, 7),
                eq(3, 5),
                ScalarExpr::Call {
                    func: Func::Gt,
                    args: vec![sum, ScalarExpr::Literal(Datum::Int64(2))],
                },
            ],
        };
        let ordered = order_joins(written.clone());
        assert!(no_cross_product(&ordered), "{ordered:?}");
        assert_eq!(eval(&ordered), eval(&written));
        assert!(!eval(&written).is_empty());
    }

    #[test]
    fn two_way_joins_and_outer_joins_are_left_as_written() {
        let two = join(table(3, 1), table(3, 2), vec![]);
        assert_eq!(order_joins(two.clone()), two);
        let mut outer = join(join(table(3, 1), table(3, 2), vec![]), table(3, 3), vec![(0, 0)]);
        if let RelExpr::Join { kind, .. } = &mut outer {
            *kind = JoinKind::LeftOuter;
        }
        assert_eq!(order_joins(outer.clone()), outer);
    }
}
