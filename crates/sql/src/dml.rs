//! INSERT, UPDATE and DELETE: target columns, defaults (with `now()` fixed for the
//! statement), assignment casts, and the rows each write reads.

use crate::expr::{ExprCx, Typed};
use crate::plan::*;
use crate::scope::Scope;
use crate::{CatalogItem, ItemKind, PlanError, SessionCatalog, TableDesc};
use riffle_expr::{Func, RelExpr, ScalarExpr};
use riffle_repr::{Datum, Row, ScalarType};
use sqlparser::ast;

impl<'a> Planner<'a> {
    pub(crate) fn table_for_write(&self, name: &ast::ObjectName) -> Result<&'a CatalogItem, PlanError> {
        let n = object_name(name)?;
        let catalog: &'a dyn SessionCatalog = self.catalog;
        let item = catalog.get(&n).ok_or_else(|| PlanError::UnknownRelation(n.clone()))?;
        match item.kind {
            ItemKind::Table(_) => Ok(item),
            _ => Err(PlanError::WrongObjectType(n, "table")),
        }
    }

    pub(crate) fn plan_insert(&mut self, ins: &ast::Insert) -> Result<Plan, PlanError> {
        if ins.on.is_some() || ins.returning.is_some() {
            return Err(PlanError::unsupported("INSERT ... ON CONFLICT / RETURNING"));
        }
        let ast::TableObject::TableName(name) = &ins.table else {
            return Err(PlanError::unsupported("INSERT into a table function"));
        };
        let table = self.table_for_write(name)?;
        let ItemKind::Table(tdesc) = &table.kind else { unreachable!() };
        let table_scope = Scope::from_desc(Some(&table.name), &table.desc);
        let targets: Vec<usize> = if ins.columns.is_empty() {
            (0..table.desc.arity()).collect()
        } else {
            let mut t = Vec::new();
            for c in &ins.columns {
                let cname = c.to_string();
                let idx = table_scope
                    .resolve(None, cname.trim_matches('"'))
                    .map_err(|_| PlanError::UnknownColumn(format!("{cname}\" of relation \"{}", table.name)))?;
                if t.contains(&idx) {
                    return Err(PlanError::InvalidParameter(format!("column \"{cname}\" specified more than once")));
                }
                t.push(idx);
            }
            t
        };
        let source = ins
            .source
            .as_ref()
            .ok_or_else(|| PlanError::unsupported("INSERT without a source"))?;
        // VALUES lists are planned per column so that each value takes its column's type.
        let (rel, src_types): (RelExpr, Vec<ScalarType>) = match (
            source.body.as_ref(),
            source.order_by.is_none() && source.limit_clause.is_none(),
        ) {
            (ast::SetExpr::Values(values), true) => {
                let empty = Scope::default();
                let mut rows = Vec::new();
                // Without a column list, a shorter VALUES row fills the leading columns.
                let width = values.rows.first().map_or(0, |r| r.content.len());
                let targets: Vec<usize> = if ins.columns.is_empty() {
                    targets.iter().copied().take(width).collect()
                } else {
                    targets.clone()
                };
                for row in &values.rows {
                    if row.content.len() > targets.len() {
                        return Err(PlanError::Syntax("INSERT has more expressions than target columns".into()));
                    }
                    if row.content.len() != width {
                        return Err(PlanError::Syntax("VALUES lists must all be the same length".into()));
                    }
                    let mut datums = Vec::new();
                    for (i, &col) in targets.iter().enumerate() {
                        let typ = &table.desc.types[col].scalar_type;
                        let cname = &table.desc.names[col];
                        let t = match row.content.get(i) {
                            Some(ast::Expr::Identifier(id)) if id.value.eq_ignore_ascii_case("default") && id.quote_style.is_none() => {
                                Typed {
                                    expr: self.table_default(tdesc, col),
                                    typ: typ.clone(),
                                }
                            }
                            Some(e) => {
                                let t = self.plan_expr_hinted(ExprCx::new(&empty, "VALUES"), e, Some(typ))?;
                                self.assign_cast(t, typ, cname)?
                            }
                            None => return Err(PlanError::Syntax("INSERT has more target columns than expressions".into())),
                        };
                        datums.push(t.expr.eval(&[])?);
                    }
                    rows.push((Row::new(datums), 1));
                }
                let types = targets.iter().map(|c| table.desc.types[*c].scalar_type.clone()).collect();
                (
                    RelExpr::Constant {
                        rows,
                        arity: targets.len(),
                    },
                    types,
                )
            }
            _ => {
                let (rel, scope) = self.plan_query(source)?.into_relation();
                if scope.len() > targets.len() {
                    return Err(PlanError::Syntax("INSERT has more expressions than target columns".into()));
                }
                if scope.len() < targets.len() && ins.columns.is_empty() {
                    // Fewer values than columns: the rest take defaults.
                } else if scope.len() < targets.len() {
                    return Err(PlanError::Syntax("INSERT has more target columns than expressions".into()));
                }
                // A bare NULL in the SELECT list takes the target column's type, as in
                // PostgreSQL (it would otherwise be text, which no number accepts).
                let bare_null: Vec<bool> = match source.body.as_ref() {
                        ast::SetExpr::Select(select) => select
                            .projection
                            .iter()
                            .map(|p| {
                                matches!(p, ast::SelectItem::UnnamedExpr(ast::Expr::Value(v)) | ast::SelectItem::ExprWithAlias { expr: ast::Expr::Value(v), .. }
                                    if matches!(v.value, ast::Value::Null))
                            })
                            .collect(),
                        _ => Vec::new(),
                    };
                let mut casts = Vec::new();
                for (i, item) in scope.items.iter().enumerate() {
                    let col = targets[i];
                    if bare_null.get(i).copied().unwrap_or(false) {
                        casts.push(ScalarExpr::null());
                        continue;
                    }
                    let t = Typed {
                        expr: ScalarExpr::Column(i),
                        typ: item.typ.scalar_type.clone(),
                    };
                    casts.push(
                        self.assign_cast(t, &table.desc.types[col].scalar_type, &table.desc.names[col])?
                            .expr,
                    );
                }
                let n = scope.len();
                let rel = RelExpr::Project {
                    input: Box::new(RelExpr::Map {
                        input: Box::new(rel),
                        scalars: casts,
                    }),
                    outputs: (n..2 * n).collect(),
                };
                (rel, targets[..n].iter().map(|c| table.desc.types[*c].scalar_type.clone()).collect())
            }
        };
        let provided = src_types.len();
        // Reorder into table column order, filling defaults for columns not given.
        let arity = rel.arity().unwrap_or(provided);
        let mut scalars = Vec::new();
        for col in 0..table.desc.arity() {
            match targets[..provided].iter().position(|t| *t == col) {
                Some(i) => scalars.push(ScalarExpr::Column(i)),
                None => scalars.push(self.table_default(tdesc, col)),
            }
        }
        let source = RelExpr::Project {
            input: Box::new(RelExpr::Map {
                input: Box::new(rel),
                scalars,
            }),
            outputs: (arity..arity + table.desc.arity()).collect(),
        };
        Ok(Plan::Insert { table: table.id, source })
    }

    pub(crate) fn plan_update(&mut self, up: &ast::Update) -> Result<Plan, PlanError> {
        if up.from.is_some() || up.returning.is_some() {
            return Err(PlanError::unsupported("UPDATE ... FROM / RETURNING"));
        }
        let ast::TableFactor::Table { name, alias, .. } = &up.table.relation else {
            return Err(PlanError::unsupported("UPDATE of this target"));
        };
        let table = self.table_for_write(name)?;
        let qualifier = alias.as_ref().map_or(table.name.clone(), |a| a.name.value.clone());
        let scope = Scope::from_desc(Some(&qualifier), &table.desc);
        let selection = self.write_selection(table, &scope, up.selection.as_ref())?;
        let mut assignments: Vec<ScalarExpr> = (0..table.desc.arity()).map(ScalarExpr::Column).collect();
        let ItemKind::Table(tdesc) = &table.kind else { unreachable!() };
        for a in &up.assignments {
            let ast::AssignmentTarget::ColumnName(col) = &a.target else {
                return Err(PlanError::unsupported("UPDATE of a column tuple"));
            };
            let cname = col
                .0
                .last()
                .map(|p| p.as_ident().map(|i| i.value.clone()).unwrap_or_default())
                .unwrap_or_default();
            let idx = scope
                .resolve(None, &cname)
                .map_err(|_| PlanError::UnknownColumn(format!("{cname}\" of relation \"{}", table.name)))?;
            let typ = &table.desc.types[idx].scalar_type;
            let t = match &a.value {
                ast::Expr::Identifier(id) if id.value.eq_ignore_ascii_case("default") && id.quote_style.is_none() => Typed {
                    expr: self.table_default(tdesc, idx),
                    typ: typ.clone(),
                },
                e => {
                    let t = self.plan_expr_hinted(ExprCx::new(&scope, "UPDATE"), e, Some(typ))?;
                    self.assign_cast(t, typ, &cname)?
                }
            };
            assignments[idx] = t.expr;
        }
        Ok(Plan::ReadThenWrite(ReadThenWritePlan {
            table: table.id,
            selection,
            assignments: Some(assignments),
            tag: "UPDATE",
        }))
    }

    pub(crate) fn plan_delete(&mut self, del: &ast::Delete) -> Result<Plan, PlanError> {
        if del.using.is_some() || del.returning.is_some() {
            return Err(PlanError::unsupported("DELETE ... USING / RETURNING"));
        }
        let from = match &del.from {
            ast::FromTable::WithFromKeyword(f) | ast::FromTable::WithoutKeyword(f) => f,
        };
        let [twj] = from.as_slice() else {
            return Err(PlanError::unsupported("DELETE from several tables"));
        };
        let ast::TableFactor::Table { name, alias, .. } = &twj.relation else {
            return Err(PlanError::unsupported("DELETE of this target"));
        };
        let table = self.table_for_write(name)?;
        let qualifier = alias.as_ref().map_or(table.name.clone(), |a| a.name.value.clone());
        let scope = Scope::from_desc(Some(&qualifier), &table.desc);
        let selection = self.write_selection(table, &scope, del.selection.as_ref())?;
        Ok(Plan::ReadThenWrite(ReadThenWritePlan {
            table: table.id,
            selection,
            assignments: None,
            tag: "DELETE",
        }))
    }

    fn write_selection(&mut self, table: &CatalogItem, scope: &Scope, selection: Option<&ast::Expr>) -> Result<RelExpr, PlanError> {
        let get = RelExpr::Get {
            id: table.id,
            arity: table.desc.arity(),
        };
        Ok(match selection {
            None => get,
            Some(e) => {
                let t = self.plan_expr_hinted(ExprCx::new(scope, "WHERE"), e, Some(&ScalarType::Bool))?;
                let t = self.require(t, &ScalarType::Bool, "argument of WHERE")?;
                RelExpr::Filter {
                    input: Box::new(get),
                    predicates: vec![t.expr],
                }
            }
        })
    }
}

impl<'a> Planner<'a> {
    /// Column `col`'s default for a write planned now (NULL where it has none): `now()` in it
    /// becomes this statement's time, as in PostgreSQL, where every row a statement writes
    /// gets the same `now()`.
    pub(crate) fn table_default(&self, tdesc: &TableDesc, col: usize) -> ScalarExpr {
        let Some(mut e) = tdesc.defaults[col].clone() else {
            return ScalarExpr::null();
        };
        e.visit_mut(&mut |e| {
            if matches!(e, ScalarExpr::Call { func: Func::Now, .. }) {
                *e = ScalarExpr::Literal(Datum::TimestampTz(self.ctx.now_micros));
            }
        });
        e
    }

    /// Plans a DEFAULT expression; `now()` stays a call, which each write statement replaces
    /// with its own time ([`Planner::table_default`]).
    pub(crate) fn plan_default(&mut self, cx: ExprCx, e: &ast::Expr, typ: &ScalarType) -> Result<Typed, PlanError> {
        if let ast::Expr::Function(f) = e {
            let n = f.name.to_string().to_ascii_lowercase();
            if matches!(n.as_str(), "now" | "current_timestamp") {
                let now = Typed {
                    expr: ScalarExpr::call(Func::Now, vec![]),
                    typ: ScalarType::TimestampTz,
                };
                return self.cast(now, typ, false);
            }
        }
        if let ast::Expr::Identifier(i) = e {
            if matches!(i.value.to_ascii_lowercase().as_str(), "current_timestamp" | "current_date") {
                let now = Typed {
                    expr: ScalarExpr::call(Func::Now, vec![]),
                    typ: ScalarType::TimestampTz,
                };
                return self.cast(now, typ, false);
            }
        }
        let t = self.plan_expr_hinted(cx, e, Some(typ))?;
        self.assign_cast(t, typ, "default")
    }

    /// Assignment cast into a column: implicit casts plus varchar length checks.
    pub fn assign_cast(&self, t: Typed, typ: &ScalarType, column: &str) -> Result<Typed, PlanError> {
        if !crate::types::can_assign(&t.typ, typ) {
            return Err(PlanError::TypeMismatch(format!(
                "column \"{column}\" is of type {typ} but expression is of type {}",
                t.typ
            )));
        }
        if let ScalarType::VarChar { max_len: Some(n) } = typ {
            let as_text = self.cast(t, &ScalarType::String, false)?;
            let checked = ScalarExpr::call(Func::CheckVarChar(*n), vec![as_text.expr]);
            if let ScalarExpr::Call { args, .. } = &checked {
                if let ScalarExpr::Literal(d) = &args[0] {
                    let v = if d.is_null() {
                        Datum::Null
                    } else {
                        Func::CheckVarChar(*n).eval(std::slice::from_ref(d))?
                    };
                    return Ok(Typed {
                        expr: ScalarExpr::Literal(v),
                        typ: typ.clone(),
                    });
                }
            }
            return Ok(Typed {
                expr: checked,
                typ: typ.clone(),
            });
        }
        self.cast(t, typ, false)
    }
}
