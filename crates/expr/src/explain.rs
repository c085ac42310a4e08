//! Human-readable plans for EXPLAIN: one operator per line, inputs indented, each annotated
//! with the differential operators the compute layer renders it into.

use crate::{AggregateFunc, ColumnOrder, JoinKind, RelExpr, ScalarExpr};
use riffle_repr::strconv::format_datum;
use std::fmt::{self, Write};

impl fmt::Display for ScalarExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScalarExpr::Column(i) => write!(f, "#{i}"),
            ScalarExpr::Literal(d) => match format_datum(d) {
                None => f.write_str("null"),
                Some(s) if matches!(d, riffle_repr::Datum::String(_)) => write!(f, "{s:?}"),
                Some(s) => f.write_str(&s),
            },
            ScalarExpr::Call { func, args } => {
                let name = format!("{func:?}");
                let name = name.split(['(', ' ', '{']).next().unwrap_or("").to_ascii_lowercase();
                write!(f, "{name}(")?;
                write_list(f, args)?;
                f.write_str(")")
            }
            ScalarExpr::If { cond, then, els } => write!(f, "if({cond}, {then}, {els})"),
            ScalarExpr::And(es) => write_joined(f, es, " AND "),
            ScalarExpr::Or(es) => write_joined(f, es, " OR "),
            ScalarExpr::Coalesce(es) => {
                f.write_str("coalesce(")?;
                write_list(f, es)?;
                f.write_str(")")
            }
        }
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, items: &[ScalarExpr]) -> fmt::Result {
    write_joined(f, items, ", ")
}

fn write_joined(f: &mut fmt::Formatter<'_>, items: &[ScalarExpr], sep: &str) -> fmt::Result {
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write!(f, "{e}")?;
    }
    Ok(())
}

fn cols(cs: &[usize]) -> String {
    cs.iter().map(|c| format!("#{c}")).collect::<Vec<_>>().join(", ")
}

fn order(os: &[ColumnOrder]) -> String {
    os.iter()
        .map(|o| format!("#{}{}", o.column, if o.desc { " desc" } else { "" }))
        .collect::<Vec<_>>()
        .join(", ")
}

fn agg_name(a: &AggregateFunc) -> String {
    format!("{a:?}").split(['(', ' ', '{']).next().unwrap_or("").to_ascii_lowercase()
}

/// Names an installed index on a collection keyed by exactly the given columns, if any.
pub type IndexFor<'a> = &'a dyn Fn(riffle_repr::GlobalId, &[usize]) -> Option<String>;

impl RelExpr {
    /// The plan as indented lines, with `name_of` naming stored collections.
    pub fn explain(&self, name_of: &dyn Fn(riffle_repr::GlobalId) -> String) -> Vec<String> {
        self.explain_with_indexes(name_of, &|_, _| None)
    }

    /// Like [`RelExpr::explain`], also saying which join inputs will read an installed index's
    /// arrangement (`index_for`) instead of arranging their own (see
    /// [`RelExpr::join_input_index_key`]).
    pub fn explain_with_indexes(&self, name_of: &dyn Fn(riffle_repr::GlobalId) -> String, index_for: IndexFor<'_>) -> Vec<String> {
        let mut out = Vec::new();
        self.explain_into(0, name_of, index_for, &mut out);
        out
    }

    fn explain_into(
        &self,
        depth: usize,
        name_of: &dyn Fn(riffle_repr::GlobalId) -> String,
        index_for: IndexFor<'_>,
        out: &mut Vec<String>,
    ) {
        let mut line = "  ".repeat(depth);
        let inputs: Vec<&RelExpr> = match self {
            RelExpr::Get { id, .. } => {
                let _ = write!(line, "Get {} ({id})  -- imports its arrangement", name_of(*id));
                vec![]
            }
            RelExpr::LocalGet { id, .. } => {
                let _ = write!(line, "RecursiveRef r{id}");
                vec![]
            }
            RelExpr::Recursive { id, base, step, distinct } => {
                let _ = write!(
                    line,
                    "Recursive r{id}{}  -- iterate to a fixpoint",
                    if *distinct { " (distinct)" } else { "" }
                );
                vec![base, step]
            }
            RelExpr::TemporalFilter { input, lower, upper } => {
                let show = |es: &[ScalarExpr]| es.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", ");
                let _ = write!(
                    line,
                    "TemporalFilter from=({}) until=({})  -- delay insertions and schedule retractions",
                    show(lower),
                    show(upper)
                );
                vec![input]
            }
            RelExpr::Constant { rows, .. } => {
                let _ = write!(line, "Constant ({} rows)", rows.len());
                vec![]
            }
            RelExpr::Map { input, scalars } => {
                let _ = write!(
                    line,
                    "Map ({})  -- map",
                    scalars.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")
                );
                vec![input]
            }
            RelExpr::Filter { input, predicates } => {
                let _ = write!(
                    line,
                    "Filter ({})  -- filter",
                    predicates.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" AND ")
                );
                vec![input]
            }
            RelExpr::Project { input, outputs } => {
                let _ = write!(line, "Project ({})", cols(outputs));
                vec![input]
            }
            RelExpr::Join {
                left,
                right,
                keys,
                residual,
                kind,
                ..
            } => {
                let kind = match kind {
                    JoinKind::Inner => "Join",
                    JoinKind::LeftOuter => "LeftJoin",
                    JoinKind::FullOuter => "FullJoin",
                };
                let on = keys.iter().map(|(l, r)| format!("{l} = {r}")).collect::<Vec<_>>().join(", ");
                let _ = write!(line, "{kind} on ({on})");
                if let Some(r) = residual {
                    let _ = write!(line, " residual ({r})");
                }
                let (lk, rk): (Vec<ScalarExpr>, Vec<ScalarExpr>) = keys.iter().cloned().unzip();
                let side =
                    |input: &RelExpr, k: &[ScalarExpr]| RelExpr::join_input_index_key(input, k).and_then(|(id, cols)| index_for(id, &cols));
                match (side(left, &lk), side(right, &rk)) {
                    (None, None) => line.push_str("  -- arrange both inputs by key, join"),
                    (Some(l), None) => {
                        let _ = write!(line, "  -- left input read from index {l}, right arranged by key, join");
                    }
                    (None, Some(r)) => {
                        let _ = write!(line, "  -- left input arranged by key, right read from index {r}, join");
                    }
                    (Some(l), Some(r)) => {
                        let _ = write!(line, "  -- both inputs read from indexes ({l}, {r}), join");
                    }
                }
                vec![left, right]
            }
            RelExpr::Reduce {
                input,
                group_key,
                aggregates,
                global,
            } => {
                let aggs = aggregates
                    .iter()
                    .map(|a| format!("{}({}{})", agg_name(&a.func), if a.distinct { "distinct " } else { "" }, a.expr))
                    .collect::<Vec<_>>()
                    .join(", ");
                let _ = write!(
                    line,
                    "Reduce group=({}) aggregates=({aggs}){}  -- arrange by key, reduce",
                    cols(group_key),
                    if *global { " global" } else { "" }
                );
                vec![input]
            }
            RelExpr::Distinct { input } => {
                line.push_str("Distinct  -- arrange, distinct");
                vec![input]
            }
            RelExpr::Union { inputs } => {
                line.push_str("Union  -- concat");
                inputs.iter().collect()
            }
            RelExpr::Negate { input } => {
                line.push_str("Negate  -- negate");
                vec![input]
            }
            RelExpr::Threshold { input } => {
                line.push_str("Threshold  -- arrange, threshold");
                vec![input]
            }
            RelExpr::Window {
                input,
                partition_by,
                order_by,
                funcs,
            } => {
                let names = funcs
                    .iter()
                    .map(|w| format!("{:?}", w.func).to_ascii_lowercase())
                    .collect::<Vec<_>>()
                    .join(", ");
                let _ = write!(
                    line,
                    "Window ({names}) partition=({}) order=({})  -- arrange by partition, reduce",
                    cols(partition_by),
                    order(order_by)
                );
                vec![input]
            }
            RelExpr::FlatMap { input, func, args } => {
                let _ = write!(
                    line,
                    "FlatMap {func:?}({})  -- flat_map",
                    args.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")
                );
                vec![input]
            }
            RelExpr::TopK {
                input,
                group_key,
                order_by,
                limit,
                offset,
            } => {
                let _ = write!(
                    line,
                    "TopK group=({}) order=({}) limit={limit:?} offset={offset}  -- arrange by group, reduce",
                    cols(group_key),
                    order(order_by)
                );
                vec![input]
            }
        };
        out.push(line);
        for input in inputs {
            input.explain_into(depth + 1, name_of, index_for, out);
        }
    }
}
