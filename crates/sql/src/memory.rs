//! An in-memory catalog, so that the planner runs without a server: its unit tests (and any
//! tool that wants to plan SQL offline) create tables and views here and plan statements
//! against them.
//!
//! ```
//! use riffle_sql::{MemCatalog, Plan};
//! let mut catalog = MemCatalog::new();
//! catalog.execute("CREATE TABLE t (a int NOT NULL, b text)").unwrap();
//! let Plan::Select(select) = catalog.plan("SELECT b FROM t WHERE a = 1").unwrap() else { panic!() };
//! assert_eq!(select.desc.names, vec!["b".to_string()]);
//! ```

use crate::{CatalogItem, Params, Plan, PlanContext, PlanError, SessionCatalog};
use riffle_repr::{GlobalId, ScalarType};

/// Catalog items held in memory, in creation order.
#[derive(Default)]
pub struct MemCatalog {
    items: Vec<CatalogItem>,
    next_id: u64,
}

impl MemCatalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// Plans and adds the item a `CREATE TABLE`, `VIEW`, `MATERIALIZED VIEW`, `INDEX`,
    /// `CONNECTION`, `SOURCE` or `SINK` statement describes (no dataflow, no storage: only
    /// what the planner sees); `DROP` removes items by name.
    pub fn execute(&mut self, sql: &str) -> Result<(), PlanError> {
        for stmt in crate::parse(sql)? {
            let (plan, _) = crate::plan(self, &stmt, PlanContext::default(), &Params::default())?;
            match plan {
                Plan::Drop(drop) => self.items.retain(|i| !drop.names.contains(&i.name)),
                plan => {
                    self.next_id += 1;
                    let item = CatalogItem::from_plan(GlobalId(self.next_id), plan, stmt.to_string())
                        .map_err(|p| PlanError::unsupported(format!("{p:?} in an in-memory catalog")))?;
                    if self.get(&item.name).is_some() {
                        return Err(PlanError::AlreadyExists(item.name));
                    }
                    self.items.push(item);
                }
            }
        }
        Ok(())
    }

    /// Plans one statement with the default context (UTC, time 0) and no parameters.
    pub fn plan(&self, sql: &str) -> Result<Plan, PlanError> {
        Ok(self.plan_with(sql, PlanContext::default(), &Params::default())?.0)
    }

    /// Plans one statement with a context and parameters; also answers the parameter types.
    pub fn plan_with(&self, sql: &str, ctx: PlanContext, params: &Params) -> Result<(Plan, Vec<ScalarType>), PlanError> {
        let mut stmts = crate::parse(sql)?;
        if stmts.len() != 1 {
            return Err(PlanError::Syntax(format!("expected one statement, got {}", stmts.len())));
        }
        crate::plan(self, &stmts.remove(0), ctx, params)
    }
}

impl SessionCatalog for MemCatalog {
    fn get(&self, name: &str) -> Option<&CatalogItem> {
        self.items.iter().find(|i| i.name == name)
    }

    fn get_by_id(&self, id: GlobalId) -> Option<&CatalogItem> {
        self.items.iter().find(|i| i.id == id)
    }

    fn items(&self) -> Vec<&CatalogItem> {
        self.items.iter().collect()
    }
}
