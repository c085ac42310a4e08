//! A SELECT: FROM, WHERE (with temporal filters split off), GROUP BY and HAVING, window
//! functions, DISTINCT [ON], and the select list with its output names.

use crate::expr::{contains_aggregate, ExprCx, Grouping, Typed};
use crate::plan::{OuterRows, Planner};
use crate::query::*;
use crate::scope::{Scope, ScopeItem};
use crate::subquery::{missing_keys, SubqueryCx};
use crate::window::WindowCx;
use crate::PlanError;
use riffle_expr::{RelExpr, RowSetFinishing, ScalarExpr};
use riffle_repr::{ColumnType, ScalarType};
use sqlparser::ast::{self, Expr, GroupByExpr, SelectItem};
use std::cell::RefCell;

impl Planner<'_> {
    /// Plans a SELECT; a correlated subquery's SELECT sees the `outer` rows (D) as leading
    /// columns.
    pub(crate) fn plan_select(
        &mut self,
        select: &ast::Select,
        order_by: &[ast::OrderByExpr],
        outer: Option<OuterRows>,
    ) -> Result<PlannedQuery, PlanError> {
        if select.top.is_some() || select.into.is_some() || !select.lateral_views.is_empty() || select.qualify.is_some() {
            return Err(PlanError::unsupported("this SELECT clause"));
        }
        if !select.named_window.is_empty() {
            return Err(PlanError::unsupported("window functions"));
        }
        let prefix = outer;
        let (mut rel, mut scope) = self.plan_from(&select.from)?;
        let (n_prefix, outer_rows) = match prefix {
            Some((d, d_scope)) => {
                let right_arity = scope.len();
                let outer_rows = d.clone();
                rel = RelExpr::cross_join(d, rel, right_arity);
                let n = d_scope.len();
                scope = d_scope.concat(scope);
                (n, Some(outer_rows))
            }
            None => (0, None),
        };
        if let Some(w) = &select.selection {
            if contains_aggregate(w) {
                return Err(PlanError::Grouping("aggregate functions are not allowed in WHERE".into()));
            }
            let sub = SubqueryCx::new(&rel, scope.len());
            let cx = ExprCx {
                subq: Some(&sub),
                ..ExprCx::new(&scope, "WHERE")
            };
            let t = self.plan_expr_hinted(cx, w, Some(&ScalarType::Bool))?;
            let t = self.require(t, &ScalarType::Bool, "argument of WHERE")?;
            let (lower, upper, rest) = split_temporal(t.expr)?;
            if sub.width() == 0 {
                rel = push_conjuncts(rel, rest);
            } else {
                let filtered = RelExpr::Filter {
                    input: Box::new(sub.apply(rel)),
                    predicates: rest,
                };
                rel = project(filtered, (0..scope.len()).collect());
            }
            if !lower.is_empty() || !upper.is_empty() {
                rel = RelExpr::TemporalFilter {
                    input: Box::new(rel),
                    lower,
                    upper,
                };
            }
        }
        let group_exprs: &[Expr] = match &select.group_by {
            GroupByExpr::Expressions(exprs, mods) if mods.is_empty() => exprs,
            GroupByExpr::Expressions(..) | GroupByExpr::All(_) => return Err(PlanError::unsupported("GROUP BY modifiers")),
        };
        let select_items = self.expand_select_items(&select.projection, &scope)?;
        let grouped = !group_exprs.is_empty()
            || select.having.is_some()
            || select_items.iter().any(|(e, _, _)| e.as_ref().is_some_and(contains_aggregate))
            || order_by.iter().any(|o| contains_aggregate(&o.expr));

        let grouping;
        let select_sub = SubqueryCx::new(&rel, scope.len());
        let window_cx = WindowCx::default();
        let mut out_cx = ExprCx {
            subq: Some(&select_sub),
            windows: Some(&window_cx),
            ..ExprCx::new(&scope, "SELECT")
        };
        if grouped {
            // The outer rows of a correlated subquery lead the group key.
            let mut keys: Vec<Typed> = (0..n_prefix)
                .map(|i| Typed {
                    expr: ScalarExpr::Column(i),
                    typ: scope.items[i].typ.scalar_type.clone(),
                })
                .collect();
            for g in group_exprs {
                let key = match g {
                    Expr::Value(v) if matches!(v.value, ast::Value::Number(..)) => {
                        let ast::Value::Number(n, _) = &v.value else { unreachable!() };
                        let i = ordinal(n, select_items.len())?;
                        match &select_items[i].0 {
                            Some(e) => self.plan_expr(ExprCx::new(&scope, "GROUP BY"), e)?,
                            None => Typed {
                                expr: ScalarExpr::Column(select_items[i].2),
                                typ: scope.items[select_items[i].2].typ.scalar_type.clone(),
                            },
                        }
                    }
                    Expr::Identifier(id) if scope.resolve(None, &id.value).is_err() => {
                        // GROUP BY an output column alias.
                        match select_items.iter().find(|(_, name, _)| *name == id.value) {
                            Some((Some(e), _, _)) => self.plan_expr(ExprCx::new(&scope, "GROUP BY"), e)?,
                            _ => self.plan_expr(ExprCx::new(&scope, "GROUP BY"), g)?,
                        }
                    }
                    _ => {
                        if contains_aggregate(g) {
                            return Err(PlanError::Grouping("aggregate functions are not allowed in GROUP BY".into()));
                        }
                        self.plan_expr(ExprCx::new(&scope, "GROUP BY"), g)?
                    }
                };
                if !keys.iter().any(|k: &Typed| k.expr == key.expr) {
                    keys.push(key);
                }
            }
            grouping = Some(Grouping {
                input: scope.clone(),
                keys,
                aggs: RefCell::new(Vec::new()),
            });
            out_cx = ExprCx {
                scope: &scope,
                grouping: grouping.as_ref(),
                clause: "SELECT",
                subq: None,
                windows: Some(&window_cx),
            };
        } else {
            grouping = None;
        }

        // SELECT list, then ORDER BY expressions as hidden trailing columns.
        let mut out_exprs: Vec<Typed> = Vec::new();
        let mut out_items = Vec::new();
        for (expr, name, col) in &select_items {
            let t = match expr {
                Some(e) => self.plan_expr(out_cx, e)?,
                None => {
                    let e = Expr::Identifier(ast::Ident::new(scope.items[*col].name.clone()));
                    if grouped {
                        let q = match &scope.items[*col].table {
                            Some(t) => {
                                Expr::CompoundIdentifier(vec![ast::Ident::new(t.clone()), ast::Ident::new(scope.items[*col].name.clone())])
                            }
                            None => e,
                        };
                        self.plan_expr(out_cx, &q)?
                    } else {
                        Typed {
                            expr: ScalarExpr::Column(*col),
                            typ: scope.items[*col].typ.scalar_type.clone(),
                        }
                    }
                }
            };
            let t = if t.typ == ScalarType::Unknown {
                self.cast(t, &ScalarType::String, false)?
            } else {
                t
            };
            out_items.push(ScopeItem {
                table: None,
                name: name.clone(),
                typ: ColumnType::nullable(t.typ.clone()),
                hidden: false,
                outer: false,
            });
            out_exprs.push(t);
        }
        let having = match &select.having {
            Some(h) => {
                let cx = ExprCx {
                    clause: "HAVING",
                    windows: None,
                    ..out_cx
                };
                let t = self.plan_expr_hinted(cx, h, Some(&ScalarType::Bool))?;
                Some(self.require(t, &ScalarType::Bool, "argument of HAVING")?.expr)
            }
            None => None,
        };
        let n_out = out_exprs.len();
        let mut order = Vec::new();
        let (distinct, distinct_on) = match &select.distinct {
            None | Some(ast::Distinct::All) => (false, None),
            Some(ast::Distinct::Distinct) => (true, None),
            Some(ast::Distinct::On(exprs)) => (false, Some(exprs)),
        };
        for ob in order_by {
            let column = match &ob.expr {
                Expr::Value(v) if matches!(v.value, ast::Value::Number(..)) => {
                    let ast::Value::Number(n, _) = &v.value else { unreachable!() };
                    ordinal(n, n_out)?
                }
                Expr::Identifier(id) if out_items.iter().filter(|i| i.name == id.value).count() == 1 => {
                    out_items.iter().position(|i| i.name == id.value).unwrap()
                }
                e => {
                    let t = self.plan_expr(
                        ExprCx {
                            clause: "ORDER BY",
                            ..out_cx
                        },
                        e,
                    )?;
                    match out_exprs.iter().position(|o| o.expr == t.expr) {
                        Some(i) => i,
                        None if distinct => {
                            return Err(PlanError::InvalidParameter(
                                "for SELECT DISTINCT, ORDER BY expressions must appear in select list".into(),
                            ))
                        }
                        None => {
                            out_exprs.push(t);
                            out_exprs.len() - 1
                        }
                    }
                }
            };
            order.push(column_order(column, &ob.options));
        }

        // DISTINCT ON expressions become hidden columns too; one row per distinct value survives.
        let mut on_cols = Vec::new();
        for e in distinct_on.into_iter().flatten() {
            let t = self.plan_expr(
                ExprCx {
                    clause: "DISTINCT ON",
                    windows: None,
                    ..out_cx
                },
                e,
            )?;
            on_cols.push(match out_exprs.iter().position(|o| o.expr == t.expr) {
                Some(i) => i,
                None => {
                    out_exprs.push(t);
                    out_exprs.len() - 1
                }
            });
        }
        // Assemble: [Reduce] → [HAVING] → [subquery joins] → [windows] → Map(select list) → Project.
        let mut base_arity;
        if let Some(g) = &grouping {
            let input_arity = arity_of(&scope);
            let key_exprs: Vec<ScalarExpr> = g.keys.iter().map(|k| k.expr.clone()).collect();
            let n_keys = key_exprs.len();
            let mapped = RelExpr::Map {
                input: Box::new(rel),
                scalars: key_exprs,
            };
            let aggregates: Vec<_> = g.aggs.borrow().iter().map(|(a, _)| a.clone()).collect();
            base_arity = n_keys + aggregates.len();
            let empty_row: Vec<ScalarExpr> = aggregates.iter().map(|a| ScalarExpr::Literal(a.func.empty_value())).collect();
            rel = RelExpr::Reduce {
                input: Box::new(mapped),
                group_key: (input_arity..input_arity + n_keys).collect(),
                aggregates,
                global: group_exprs.is_empty() && n_prefix == 0,
            };
            // A correlated global aggregate has a row for every outer row, even with no input.
            if let (Some(d), true) = (outer_rows, group_exprs.is_empty()) {
                let missing = missing_keys(d, rel.clone(), n_prefix);
                rel = RelExpr::Union {
                    inputs: vec![
                        rel,
                        RelExpr::Map {
                            input: Box::new(missing),
                            scalars: empty_row,
                        },
                    ],
                };
            }
            if let Some(h) = having {
                rel = RelExpr::Filter {
                    input: Box::new(rel),
                    predicates: vec![h],
                };
            }
        } else {
            rel = select_sub.apply(rel);
            base_arity = arity_of(&scope) + select_sub.width();
        }
        if window_cx.len() > 0 {
            rel = window_cx.apply(rel, base_arity);
            for t in &mut out_exprs {
                WindowCx::resolve(&mut t.expr, base_arity);
            }
            base_arity += window_cx.len();
        }
        // The outer rows' columns lead a correlated subquery's output.
        let prefix_cols = (0..n_prefix).map(ScalarExpr::Column);
        let scalars: Vec<ScalarExpr> = prefix_cols.chain(out_exprs.into_iter().map(|t| t.expr)).collect();
        let total = scalars.len();
        rel = RelExpr::Map {
            input: Box::new(rel),
            scalars,
        };
        rel = project(rel, (base_arity..base_arity + total).collect());
        if distinct {
            rel = RelExpr::Distinct { input: Box::new(rel) };
        }
        let mut items: Vec<ScopeItem> = scope.items[..n_prefix].to_vec();
        items.extend(out_items);
        for o in &mut order {
            o.column += n_prefix;
        }
        if !on_cols.is_empty() {
            // PostgreSQL keeps the first row of each group in ORDER BY order.
            let group_key = (0..n_prefix).chain(on_cols.iter().map(|c| c + n_prefix)).collect();
            rel = RelExpr::TopK {
                input: Box::new(rel),
                group_key,
                order_by: order.clone(),
                limit: Some(1),
                offset: 0,
            };
        }
        Ok(PlannedQuery {
            expr: rel,
            scope: Scope { items },
            finishing: RowSetFinishing {
                order_by: order,
                limit: None,
                offset: 0,
                project: (0..n_prefix + n_out).collect(),
            },
        })
    }

    /// Expands `*` and `t.*`; yields (expression or None for a plain column, output name, column).
    fn expand_select_items(&self, items: &[SelectItem], scope: &Scope) -> Result<Vec<(Option<Expr>, String, usize)>, PlanError> {
        let mut out = Vec::new();
        for item in items {
            match item {
                SelectItem::UnnamedExpr(e) => out.push((Some(e.clone()), output_name(e), 0)),
                SelectItem::ExprWithAlias { expr, alias } => out.push((Some(expr.clone()), alias.value.clone(), 0)),
                SelectItem::Wildcard(_) => {
                    if scope.items.is_empty() {
                        return Err(PlanError::Syntax("SELECT * with no tables specified is not valid".into()));
                    }
                    for (i, it) in scope.items.iter().enumerate().filter(|(_, it)| !it.hidden && !it.outer) {
                        out.push((None, it.name.clone(), i));
                    }
                }
                SelectItem::QualifiedWildcard(kind, _) => {
                    // `t.*` or `schema.t.*`: the columns of the FROM item named (or aliased) t.
                    let t = match kind {
                        ast::SelectItemQualifiedWildcardKind::ObjectName(name) => name
                            .0
                            .last()
                            .map(|p| p.as_ident().map(|i| i.value.clone()).unwrap_or_else(|| p.to_string()))
                            .unwrap_or_default(),
                        ast::SelectItemQualifiedWildcardKind::Expr(_) => {
                            return Err(PlanError::unsupported("expression.* in a select list"))
                        }
                    };
                    let cols: Vec<_> = scope
                        .items
                        .iter()
                        .enumerate()
                        .filter(|(_, it)| it.table.as_deref() == Some(t.as_str()))
                        .collect();
                    if cols.is_empty() {
                        return Err(PlanError::MissingFrom(format!("missing FROM-clause entry for table \"{t}\"")));
                    }
                    for (i, it) in cols {
                        out.push((None, it.name.clone(), i));
                    }
                }
                _ => return Err(PlanError::unsupported("this select item")),
            }
        }
        Ok(out)
    }
}
