//! COPY: `COPY table | (query) TO STDOUT | 'file'` and `COPY table FROM STDIN | 'file'`, with
//! PostgreSQL's options and Riffle's extra formats (parquet, arrow, jsonl, libsvm).

use crate::plan::{object_name, CopyFromPlan, CopyToPlan, Plan, Planner};
use crate::scope::Scope;
use crate::{ItemKind, PlanError};
use riffle_copy::{Format, Options};
use riffle_expr::{RelExpr, RowSetFinishing};
use sqlparser::ast;

/// Where COPY's data comes from or goes to.
#[derive(Clone, Debug, PartialEq)]
pub enum CopyTarget {
    /// The client: COPY-out (`TO STDOUT`) or COPY-in (`FROM STDIN`) messages.
    Client,
    /// A file on the server.
    File(String),
}

fn options(options: &[ast::CopyOption], legacy: &[ast::CopyLegacyOption]) -> Result<Options, PlanError> {
    use ast::CopyOption as O;
    let mut format = Format::Text;
    for o in options {
        if let O::Format(name) = o {
            format = Format::from_name(&name.value).ok_or_else(|| {
                PlanError::InvalidValue(format!(
                    "COPY format \"{}\" not recognized (text, csv, binary, parquet, arrow, jsonl, libsvm)",
                    name.value
                ))
            })?;
        }
    }
    for o in legacy {
        match o {
            ast::CopyLegacyOption::Binary => format = Format::Binary,
            ast::CopyLegacyOption::Csv(_) => format = Format::Csv,
            _ => {}
        }
    }
    let mut out = Options::new(format);
    let mut escape = None;
    for o in options {
        match o {
            O::Format(_) => {}
            O::Delimiter(c) => out.delimiter = *c,
            O::Null(s) => out.null = s.clone(),
            O::Header(h) => out.header = *h,
            O::Quote(c) => out.quote = *c,
            O::Escape(c) => escape = Some(*c),
            O::Encoding(e) if e.eq_ignore_ascii_case("utf8") || e.eq_ignore_ascii_case("utf-8") => {}
            O::Freeze(_) => {}
            other => return Err(PlanError::unsupported(format!("COPY option {other}"))),
        }
    }
    for o in legacy {
        match o {
            ast::CopyLegacyOption::Delimiter(c) => out.delimiter = *c,
            ast::CopyLegacyOption::Null(s) => out.null = s.clone(),
            ast::CopyLegacyOption::Csv(csv) => {
                for c in csv {
                    match c {
                        ast::CopyLegacyCsvOption::Header => out.header = true,
                        ast::CopyLegacyCsvOption::Quote(q) => out.quote = *q,
                        ast::CopyLegacyCsvOption::Escape(e) => escape = Some(*e),
                        other => return Err(PlanError::unsupported(format!("COPY option {other}"))),
                    }
                }
            }
            ast::CopyLegacyOption::Binary => {}
            other => return Err(PlanError::unsupported(format!("COPY option {other}"))),
        }
    }
    out.escape = escape.unwrap_or(out.quote);
    if out.header && !matches!(format, Format::Csv) {
        return Err(PlanError::InvalidValue("COPY HEADER available only in CSV mode".into()));
    }
    Ok(out)
}

impl Planner<'_> {
    pub(crate) fn plan_copy(
        &mut self,
        source: &ast::CopySource,
        to: bool,
        target: &ast::CopyTarget,
        opts: &[ast::CopyOption],
        legacy: &[ast::CopyLegacyOption],
        payload: Option<String>,
    ) -> Result<Plan, PlanError> {
        let options = options(opts, legacy)?;
        let target = match target {
            ast::CopyTarget::Stdin | ast::CopyTarget::Stdout => CopyTarget::Client,
            ast::CopyTarget::File { filename } => CopyTarget::File(filename.clone()),
            ast::CopyTarget::Program { .. } => return Err(PlanError::unsupported("COPY … PROGRAM")),
        };
        if to {
            let (plan, finishing, desc) = match source {
                ast::CopySource::Query(q) => {
                    let planned = self.plan_query(q)?;
                    let desc = planned.scope.desc();
                    (planned.expr, planned.finishing, desc)
                }
                ast::CopySource::Table { table_name, columns } => {
                    let name = object_name(table_name)?;
                    let item = self.catalog.get(&name).ok_or_else(|| PlanError::UnknownRelation(name.clone()))?;
                    if !matches!(
                        item.kind,
                        ItemKind::Table(_) | ItemKind::MaterializedView { .. } | ItemKind::Source(_)
                    ) {
                        return Err(PlanError::WrongObjectType(name, "table (use COPY (SELECT …) TO for views)"));
                    }
                    let scope = Scope::from_desc(Some(&item.name), &item.desc);
                    let outputs = self.copy_columns(&scope, &item.name, columns, item.desc.arity())?;
                    let mut desc = riffle_repr::RelationDesc::empty();
                    for c in &outputs {
                        desc = desc.with_column(item.desc.names[*c].clone(), item.desc.types[*c].clone());
                    }
                    let plan = RelExpr::Project {
                        input: Box::new(RelExpr::Get {
                            id: item.id,
                            arity: item.desc.arity(),
                        }),
                        outputs: outputs.clone(),
                    };
                    let finishing = RowSetFinishing {
                        order_by: Vec::new(),
                        limit: None,
                        offset: 0,
                        project: (0..outputs.len()).collect(),
                    };
                    (plan, finishing, desc)
                }
            };
            return Ok(Plan::CopyTo(CopyToPlan {
                plan,
                finishing,
                desc,
                target,
                options,
            }));
        }
        let ast::CopySource::Table { table_name, columns } = source else {
            return Err(PlanError::Syntax("COPY FROM needs a table, not a query".into()));
        };
        if !matches!(options.format, Format::Text | Format::Csv | Format::Parquet) {
            return Err(PlanError::unsupported(format!(
                "COPY FROM with FORMAT {} (text, csv and parquet are read)",
                options.format.name()
            )));
        }
        let table = self.table_for_write(table_name)?;
        let ItemKind::Table(tdesc) = &table.kind else {
            unreachable!("table_for_write")
        };
        let scope = Scope::from_desc(Some(&table.name), &table.desc);
        let columns = self.copy_columns(&scope, &table.name, columns, table.desc.arity())?;
        Ok(Plan::CopyFrom(CopyFromPlan {
            table: table.id,
            columns,
            defaults: (0..table.desc.arity())
                .map(|c| tdesc.defaults[c].is_some().then(|| self.table_default(tdesc, c)))
                .collect(),
            source: target,
            options,
            payload,
        }))
    }

    /// The column positions a COPY names (all, when it names none).
    fn copy_columns(&self, scope: &Scope, relation: &str, columns: &[ast::Ident], arity: usize) -> Result<Vec<usize>, PlanError> {
        if columns.is_empty() {
            return Ok((0..arity).collect());
        }
        let mut out = Vec::new();
        for c in columns {
            let i = scope
                .resolve(None, &c.value)
                .map_err(|_| PlanError::UnknownColumn(format!("{}\" of relation \"{relation}", c.value)))?;
            if out.contains(&i) {
                return Err(PlanError::InvalidParameter(format!(
                    "column \"{}\" specified more than once",
                    c.value
                )));
            }
            out.push(i);
        }
        Ok(out)
    }
}
