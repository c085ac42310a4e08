//! Planner unit tests: SQL planned against an in-memory catalog ([`MemCatalog`]), with no
//! server, storage or dataflow. Each module covers one concern of the planner; the helpers
//! here build the catalog every test starts from and look into plans.

mod planner {
    pub mod coercion;
    pub mod ddl;
    pub mod decorrelation;
    pub mod errors;
    pub mod grouping;
    pub mod joins;
    pub mod names;
    pub mod params;
    pub mod temporal;
}

use riffle_expr::RelExpr;
use riffle_repr::ScalarType;
use riffle_sql::{MemCatalog, Plan, PlanError, SelectPlan, SessionCatalog};

/// The catalog every test starts from.
pub fn catalog() -> MemCatalog {
    let mut c = MemCatalog::new();
    for sql in [
        "CREATE TABLE t (a int NOT NULL, b text, c double precision)",
        "CREATE TABLE u (a int, d numeric, ts timestamptz)",
        "CREATE TABLE orders (id bigint NOT NULL, cid int, amount numeric(10,2), created_at timestamptz DEFAULT now())",
        "CREATE TABLE customers (id int NOT NULL, name text)",
        "CREATE TABLE events (id bigint, user_id int, created_at timestamptz, valid_until timestamptz)",
        "CREATE VIEW big AS SELECT * FROM orders WHERE amount > 100",
        "CREATE MATERIALIZED VIEW totals AS SELECT cid, sum(amount) AS total FROM orders GROUP BY cid",
        "CREATE INDEX customers_id ON customers (id)",
    ] {
        c.execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    c
}

/// Plans a query and answers its SELECT plan.
pub fn select(sql: &str) -> SelectPlan {
    match catalog().plan(sql) {
        Ok(Plan::Select(s)) => s,
        Ok(other) => panic!("{sql}: not a SELECT: {other:?}"),
        Err(e) => panic!("{sql}: {e}"),
    }
}

/// Plans a statement that must fail, and answers the error.
pub fn error(sql: &str) -> PlanError {
    match catalog().plan(sql) {
        Ok(plan) => panic!("{sql}: planned, expected an error: {plan:?}"),
        Err(e) => e,
    }
}

/// The result column types of a query.
pub fn types(sql: &str) -> Vec<ScalarType> {
    select(sql).desc.types.into_iter().map(|t| t.scalar_type).collect()
}

/// The type of a query's only column.
pub fn type_of(sql: &str) -> ScalarType {
    let t = types(sql);
    assert_eq!(t.len(), 1, "{sql}");
    t.into_iter().next().unwrap()
}

/// A query's plan as EXPLAIN prints it (names from the test catalog), one line per operator.
pub fn explain(sql: &str) -> String {
    explain_plan(&select(sql).plan)
}

/// A plan as EXPLAIN prints it.
pub fn explain_plan(plan: &RelExpr) -> String {
    let c = catalog();
    plan.explain(&|id| c.get_by_id(id).map_or_else(|| id.to_string(), |i| i.name.clone()))
        .join("\n")
}

/// The operators of a plan, outermost first (the first word of each EXPLAIN line).
pub fn operators(sql: &str) -> Vec<String> {
    explain(sql)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or_default().to_string())
        .collect()
}

/// The names of the catalog items a query reads, sorted.
pub fn reads(sql: &str) -> Vec<String> {
    let c = catalog();
    let mut names: Vec<String> = select(sql)
        .plan
        .depends_on()
        .into_iter()
        .map(|id| c.get_by_id(id).unwrap().name.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}
