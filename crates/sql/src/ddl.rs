//! CREATE TABLE, VIEW, MATERIALIZED VIEW and INDEX, and the options they take
//! (`RETAIN HISTORY FOR`, `REFRESH EVERY`, `EXPECTED GROUP SIZE`) and AS OF times.

use crate::expr::ExprCx;
use crate::plan::*;
use crate::scope::Scope;
use crate::types::parse_type_name;
use crate::{CheckConstraint, ItemKind, PlanError, TableDesc, UniqueKey};
use riffle_expr::Func;
use riffle_repr::{ColumnType, Datum, RefreshSchedule, RelationDesc, ScalarType};
use sqlparser::ast;

/// The `WITH (…)` options of a table or view.
#[derive(Default)]
pub(crate) struct ObjectOptions {
    pub(crate) retain_history: Option<u64>,
    pub(crate) refresh: Option<RefreshSchedule>,
    pub(crate) group_size: Option<u64>,
}

impl<'a> Planner<'a> {
    pub(crate) fn plan_create_view(&mut self, cv: &ast::CreateView) -> Result<Plan, PlanError> {
        let name = object_name(&cv.name)?;
        let mut view_planner = Planner {
            ctx: PlanContext {
                in_view: true,
                ..self.ctx.clone()
            },
            ..self.clone_shallow()
        };
        let planned = view_planner.plan_query(&cv.query)?;
        let (plan, scope) = planned.into_relation();
        let mut desc = scope.desc();
        if !cv.columns.is_empty() {
            if cv.columns.len() > desc.arity() {
                return Err(PlanError::Syntax("CREATE VIEW specifies more column names than columns".into()));
            }
            for (i, c) in cv.columns.iter().enumerate() {
                desc.names[i] = c.name.value.clone();
            }
        }
        for (i, n) in desc.names.iter().enumerate() {
            if desc.names[..i].contains(n) {
                return Err(PlanError::InvalidParameter(format!("column \"{n}\" specified more than once")));
            }
        }
        let depends_on = view_planner.deps.clone();
        let ObjectOptions {
            retain_history,
            refresh,
            group_size,
        } = self.object_options(&cv.options, cv.materialized)?;
        Ok(Plan::CreateView {
            name,
            desc,
            plan,
            materialized: cv.materialized,
            if_not_exists: cv.if_not_exists,
            or_replace: cv.or_replace,
            depends_on,
            retain_history,
            refresh,
            group_size,
        })
    }

    pub(crate) fn plan_create_index(&self, ci: &ast::CreateIndex) -> Result<Plan, PlanError> {
        let on_name = object_name(&ci.table_name)?;
        let on = self
            .catalog
            .get(&on_name)
            .ok_or_else(|| PlanError::UnknownRelation(on_name.clone()))?;
        if matches!(on.kind, ItemKind::View { .. } | ItemKind::Index { .. }) {
            return Err(PlanError::WrongObjectType(on_name, "table or materialized view"));
        }
        let scope = Scope::from_desc(Some(&on.name), &on.desc);
        let mut keys = Vec::new();
        for col in &ci.columns {
            let idx = match &col.column.expr {
                ast::Expr::Identifier(id) => scope.resolve(None, &id.value)?,
                other => return Err(PlanError::unsupported(format!("index on expression {other}"))),
            };
            keys.push(idx);
        }
        let name = match &ci.name {
            Some(n) => object_name(n)?,
            None => format!(
                "{}_{}_idx",
                on.name,
                keys.iter().map(|k| on.desc.names[*k].clone()).collect::<Vec<_>>().join("_")
            ),
        };
        Ok(Plan::CreateIndex {
            name,
            on: on.id,
            keys,
            if_not_exists: ci.if_not_exists,
        })
    }
}

impl<'a> Planner<'a> {
    pub(crate) fn plan_create_table(&mut self, ct: &ast::CreateTable) -> Result<Plan, PlanError> {
        if ct.query.is_some() {
            return Err(PlanError::unsupported("CREATE TABLE AS"));
        }
        let name = object_name(&ct.name)?;
        let mut desc = RelationDesc::empty();
        let mut defaults = Vec::new();
        // CHECK constraints by name, planned once every column is known; keys by name, with
        // whether each is the primary key and its column names.
        let mut checks: Vec<(String, &ast::Expr)> = Vec::new();
        let mut keys: Vec<(Option<String>, bool, Vec<String>)> = Vec::new();
        let empty = Scope::default();
        for col in &ct.columns {
            let typ = parse_type_name(&col.data_type)?;
            let mut nullable = true;
            let mut default = None;
            for opt in &col.options {
                match &opt.option {
                    ast::ColumnOption::NotNull => nullable = false,
                    ast::ColumnOption::Null => nullable = true,
                    ast::ColumnOption::Default(e) => {
                        let mut planner = Planner {
                            ctx: PlanContext {
                                in_view: false,
                                ..self.ctx.clone()
                            },
                            ..self.clone_shallow()
                        };
                        let t = planner.plan_default(ExprCx::new(&empty, "DEFAULT expressions"), e, &typ)?;
                        default = Some(t.expr);
                    }
                    ast::ColumnOption::PrimaryKey(_) => {
                        nullable = false;
                        keys.push((opt.name.as_ref().map(|n| n.value.clone()), true, vec![col.name.value.clone()]));
                    }
                    ast::ColumnOption::Unique(_) => {
                        keys.push((opt.name.as_ref().map(|n| n.value.clone()), false, vec![col.name.value.clone()]))
                    }
                    ast::ColumnOption::Check(c) => {
                        let named = opt.name.as_ref().or(c.name.as_ref()).map(|n| n.value.clone());
                        checks.push((named.unwrap_or_else(|| format!("{name}_{}_check", col.name.value)), &c.expr));
                    }
                    ast::ColumnOption::ForeignKey(_) => return Err(PlanError::unsupported("FOREIGN KEY constraints")),
                    other => return Err(PlanError::unsupported(format!("column option {other}"))),
                }
            }
            if desc.names.contains(&col.name.value) {
                return Err(PlanError::InvalidParameter(format!(
                    "column \"{}\" specified more than once",
                    col.name.value
                )));
            }
            desc = desc.with_column(
                col.name.value.clone(),
                ColumnType {
                    scalar_type: typ,
                    nullable,
                },
            );
            defaults.push(default);
        }
        for constraint in &ct.constraints {
            match constraint {
                ast::TableConstraint::PrimaryKey(pk) => {
                    keys.push((pk.name.as_ref().map(|n| n.value.clone()), true, key_columns(&pk.columns)?))
                }
                ast::TableConstraint::Unique(u) => keys.push((u.name.as_ref().map(|n| n.value.clone()), false, key_columns(&u.columns)?)),
                ast::TableConstraint::Check(c) => {
                    let named = c.name.as_ref().map(|n| n.value.clone()).unwrap_or_else(|| format!("{name}_check"));
                    checks.push((named, &c.expr));
                }
                ast::TableConstraint::ForeignKey(_) => return Err(PlanError::unsupported("FOREIGN KEY constraints")),
                other => return Err(PlanError::unsupported(format!("table constraint {other}"))),
            }
        }
        let scope = Scope::from_desc(Some(&name), &desc);
        let mut unique = Vec::with_capacity(keys.len());
        // The primary key first (there may be one), then UNIQUE keys in order.
        keys.sort_by_key(|(_, primary, _)| !primary);
        for (i, (key_name, primary, columns)) in keys.into_iter().enumerate() {
            if primary && i > 0 {
                return Err(PlanError::InvalidTableDefinition(format!(
                    "multiple primary keys for table \"{name}\" are not allowed"
                )));
            }
            let columns = columns.iter().map(|c| scope.resolve(None, c)).collect::<Result<Vec<_>, _>>()?;
            if primary {
                // A primary key's columns are NOT NULL.
                for c in &columns {
                    desc.types[*c].nullable = false;
                }
            }
            let key_name = key_name.unwrap_or_else(|| {
                if primary {
                    format!("{name}_pkey")
                } else {
                    let cols: Vec<&str> = columns.iter().map(|c| desc.names[*c].as_str()).collect();
                    format!("{name}_{}_key", cols.join("_"))
                }
            });
            unique.push(UniqueKey { name: key_name, columns });
        }
        let mut planned_checks = Vec::with_capacity(checks.len());
        for (constraint, e) in checks {
            let t = self.plan_expr_hinted(ExprCx::new(&scope, "check constraints"), e, Some(&ScalarType::Bool))?;
            let t = self.require(t, &ScalarType::Bool, "argument of CHECK")?;
            planned_checks.push(CheckConstraint {
                name: constraint,
                expr: t.expr,
            });
        }
        Ok(Plan::CreateTable {
            name,
            desc,
            table: TableDesc {
                defaults,
                checks: planned_checks,
                keys: unique,
            },
            if_not_exists: ct.if_not_exists,
            retain_history: self.retain_history(&ct.table_options)?,
        })
    }

    /// The `retain_history` option (`RETAIN HISTORY FOR '<interval>'`), in milliseconds.
    fn retain_history(&mut self, options: &ast::CreateTableOptions) -> Result<Option<u64>, PlanError> {
        Ok(self.object_options(options, false)?.retain_history)
    }

    /// An interval option's value in milliseconds.
    fn interval_option(&mut self, what: &'static str, value: &ast::Expr) -> Result<u64, PlanError> {
        let d = match self.constant_value(what, value, Some(&ScalarType::Interval))? {
            Datum::String(s) => Datum::Interval(riffle_repr::strconv::parse_interval(&s).map_err(riffle_expr::EvalError::from)?),
            d => d,
        };
        match d {
            Datum::Interval(i) if i.total_micros() >= 0 => Ok((i.total_micros() / 1000) as u64),
            other => Err(PlanError::InvalidValue(format!(
                "{what} needs a non-negative interval, not {other:?}"
            ))),
        }
    }

    /// The options of a table or view: `RETAIN HISTORY FOR '<interval>'` (in milliseconds)
    /// and, for a materialized view, `REFRESH EVERY '<interval>' [ALIGNED TO <timestamp |
    /// milliseconds>]` and `EXPECTED GROUP SIZE <n>`.
    fn object_options(&mut self, options: &ast::CreateTableOptions, materialized: bool) -> Result<ObjectOptions, PlanError> {
        let options = match options {
            ast::CreateTableOptions::None => return Ok(ObjectOptions::default()),
            ast::CreateTableOptions::With(o) => o,
            other => return Err(PlanError::unsupported(format!("options {other}"))),
        };
        let refresh = materialized;
        let (mut retain, mut every, mut aligned_to, mut group_size) = (None, None, None, None);
        for opt in options {
            let ast::SqlOption::KeyValue { key, value } = opt else {
                return Err(PlanError::InvalidValue(format!("unrecognized parameter \"{opt}\"")));
            };
            match key.to_string().to_ascii_lowercase().as_str() {
                "retain_history" => retain = Some(self.interval_option("RETAIN HISTORY FOR", value)?),
                "refresh_every" if refresh => {
                    let ms = self.interval_option("REFRESH EVERY", value)?;
                    if ms == 0 {
                        return Err(PlanError::InvalidValue(
                            "REFRESH EVERY needs an interval of at least 1 millisecond".into(),
                        ));
                    }
                    every = Some(ms);
                }
                "aligned_to" if refresh => aligned_to = Some(self.plan_time(value, "ALIGNED TO")?),
                "refresh_every" | "aligned_to" => {
                    return Err(PlanError::InvalidValue("REFRESH EVERY applies to materialized views only".into()))
                }
                "expected_group_size" if materialized => group_size = Some(self.group_size_option(value)?),
                "expected_group_size" => {
                    return Err(PlanError::InvalidValue(
                        "EXPECTED GROUP SIZE applies to materialized views only".into(),
                    ))
                }
                _ => return Err(PlanError::InvalidValue(format!("unrecognized parameter \"{opt}\""))),
            }
        }
        let schedule = match (every, aligned_to) {
            (Some(every), aligned_to) => Some(RefreshSchedule {
                every,
                aligned_to: aligned_to.unwrap_or(0),
            }),
            (None, Some(_)) => return Err(PlanError::InvalidValue("ALIGNED TO needs REFRESH EVERY".into())),
            (None, None) => None,
        };
        Ok(ObjectOptions {
            retain_history: retain,
            refresh: schedule,
            group_size,
        })
    }

    /// `EXPECTED GROUP SIZE <n>`: a positive integer.
    fn group_size_option(&mut self, value: &ast::Expr) -> Result<u64, PlanError> {
        match self.constant_value("EXPECTED GROUP SIZE", value, None)? {
            Datum::Int16(n) if n > 0 => Ok(n as u64),
            Datum::Int32(n) if n > 0 => Ok(n as u64),
            Datum::Int64(n) if n > 0 => Ok(n as u64),
            other => Err(PlanError::InvalidValue(format!(
                "EXPECTED GROUP SIZE needs a positive integer, not {other:?}"
            ))),
        }
    }

    /// The value of an option's expression, which may name no column (`what` names the option
    /// in errors; `hint` types its literals).
    fn constant_value(&mut self, what: &'static str, value: &ast::Expr, hint: Option<&ScalarType>) -> Result<Datum, PlanError> {
        let empty = Scope::default();
        let t = self.plan_expr_hinted(ExprCx::new(&empty, what), value, hint)?;
        Ok(t.expr.eval(&[])?)
    }

    /// A constant time for AS OF: milliseconds since the epoch as a number, or a timestamp.
    pub(crate) fn plan_time(&mut self, e: &ast::Expr, what: &'static str) -> Result<u64, PlanError> {
        let micros = match self.constant_value(what, e, None)? {
            Datum::Int16(v) => v as i64 * 1000,
            Datum::Int32(v) => v as i64 * 1000,
            Datum::Int64(v) => v.saturating_mul(1000),
            d @ (Datum::Numeric(_) | Datum::Float64(_) | Datum::Float32(_)) => match Func::Cast(ScalarType::Int64).eval(&[d])? {
                Datum::Int64(v) => v.saturating_mul(1000),
                _ => -1,
            },
            Datum::Timestamp(v) | Datum::TimestampTz(v) => v,
            Datum::String(s) => riffle_repr::strconv::parse_timestamp(&s, true).map_err(riffle_expr::EvalError::from)?,
            other => {
                return Err(PlanError::InvalidValue(format!(
                    "{what} needs a time (milliseconds since the epoch, or a timestamp), not {other:?}"
                )))
            }
        };
        if micros < 0 {
            return Err(PlanError::InvalidValue(format!("{what} time must not be before 1970")));
        }
        Ok((micros / 1000) as u64)
    }
}

/// The column names of a PRIMARY KEY or UNIQUE table constraint.
fn key_columns(columns: &[ast::IndexColumn]) -> Result<Vec<String>, PlanError> {
    columns
        .iter()
        .map(|c| match &c.column.expr {
            ast::Expr::Identifier(id) => Ok(id.value.clone()),
            _ => Err(PlanError::unsupported("a key on an expression")),
        })
        .collect()
}
