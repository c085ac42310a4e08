//! CREATE, INSERT, UPDATE and DELETE plans.

use crate::{catalog, error};
use riffle_repr::ScalarType;
use riffle_sql::{ItemKind, Plan, PlanError, SessionCatalog};

#[test]
fn create_table_keeps_types_nullability_and_defaults() {
    let Plan::CreateTable { desc, table, .. } = catalog()
        .plan("CREATE TABLE n (x int NOT NULL, y text DEFAULT 'z', z numeric(5,2))")
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(desc.names, ["x", "y", "z"]);
    assert!(!desc.types[0].nullable && desc.types[1].nullable);
    assert_eq!(desc.types[1].scalar_type, ScalarType::String);
    assert!(table.defaults[0].is_none() && table.defaults[1].is_some());
}

#[test]
fn a_duplicate_column_is_refused() {
    let e = error("CREATE TABLE n (x int, x text)");
    assert!(e.to_string().contains(r#"column "x" specified more than once"#), "{e}");
}

#[test]
fn a_view_records_what_it_reads() {
    let Plan::CreateView { depends_on, desc, .. } = catalog()
        .plan("CREATE VIEW v (k, n) AS SELECT cid, count(*) FROM big GROUP BY cid")
        .unwrap()
    else {
        panic!()
    };
    let c = catalog();
    let names: Vec<_> = depends_on.iter().map(|id| c.get_by_id(*id).unwrap().name.clone()).collect();
    assert!(names.contains(&"big".to_string()), "{names:?}");
    assert_eq!(desc.names, ["k", "n"]);
}

#[test]
fn retain_history_is_kept_in_milliseconds() {
    let Plan::CreateView { retain_history, .. } = catalog()
        .plan("CREATE MATERIALIZED VIEW h WITH (RETAIN HISTORY FOR '1 minute') AS SELECT * FROM t")
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(retain_history, Some(60_000));
}

#[test]
fn an_index_names_existing_columns() {
    let Plan::CreateIndex { keys, .. } = catalog().plan("CREATE INDEX ti ON t (c, a)").unwrap() else {
        panic!()
    };
    assert_eq!(keys, [2, 0]);
    assert!(matches!(error("CREATE INDEX ti ON t (nosuch)"), PlanError::UnknownColumn(_)));
}

#[test]
fn the_memory_catalog_adds_and_drops_items() {
    let mut c = catalog();
    c.execute("CREATE VIEW w AS SELECT a FROM t").unwrap();
    assert!(matches!(c.get("w").unwrap().kind, ItemKind::View { .. }));
    assert!(matches!(c.execute("CREATE TABLE w (x int)"), Err(PlanError::AlreadyExists(_))));
    c.execute("DROP VIEW w").unwrap();
    assert!(c.get("w").is_none());
}

#[test]
fn insert_checks_its_column_count() {
    let e = error("INSERT INTO t VALUES (1, 'x', 2.0, 4)");
    assert!(
        matches!(&e, PlanError::Syntax(m) if m.contains("more expressions than target columns")),
        "{e:?}"
    );
    let e = error("INSERT INTO t (a, b) VALUES (1)");
    assert!(matches!(&e, PlanError::Syntax(_)), "{e:?}");
}

#[test]
fn insert_fills_missing_columns_with_their_defaults() {
    let Plan::Insert { source, .. } = catalog().plan("INSERT INTO orders (id, cid) VALUES (1, 2)").unwrap() else {
        panic!()
    };
    assert_eq!(source.arity(), Some(4));
}

#[test]
fn insert_into_a_view_is_refused() {
    assert!(matches!(
        error("INSERT INTO big VALUES (1)"),
        PlanError::WrongObjectType(_, "table")
    ));
}

#[test]
fn update_and_delete_read_then_write() {
    let Plan::ReadThenWrite(update) = catalog().plan("UPDATE t SET b = upper(b) WHERE a > 1").unwrap() else {
        panic!()
    };
    assert_eq!(update.tag, "UPDATE");
    assert_eq!(update.assignments.as_ref().map(Vec::len), Some(3));
    let Plan::ReadThenWrite(delete) = catalog().plan("DELETE FROM t WHERE a > 1").unwrap() else {
        panic!()
    };
    assert_eq!(delete.tag, "DELETE");
    assert!(delete.assignments.is_none());
    assert!(matches!(error("UPDATE t SET nosuch = 1"), PlanError::UnknownColumn(_)));
}

#[test]
fn copy_plans_name_their_table_and_columns() {
    let Plan::CopyFrom(copy) = catalog().plan("COPY t (b, a) FROM STDIN WITH (FORMAT csv)").unwrap() else {
        panic!()
    };
    assert_eq!(copy.columns, [1, 0]);
    let Plan::CopyTo(copy) = catalog().plan("COPY (SELECT a FROM t) TO STDOUT").unwrap() else {
        panic!()
    };
    assert_eq!(copy.desc.names, ["a"]);
}

#[test]
fn keys_and_checks_are_named_as_postgresql_names_them() {
    let Plan::CreateTable { desc, table, .. } = catalog()
        .plan("CREATE TABLE k (a int, b int UNIQUE, c int CHECK (c > 0), PRIMARY KEY (a), UNIQUE (b, c), CONSTRAINT pos CHECK (a > 0))")
        .unwrap()
    else {
        panic!()
    };
    let keys: Vec<(&str, &[usize])> = table.keys.iter().map(|k| (k.name.as_str(), k.columns.as_slice())).collect();
    assert_eq!(keys, [("k_pkey", &[0][..]), ("k_b_key", &[1][..]), ("k_b_c_key", &[1, 2][..])]);
    assert!(!desc.types[0].nullable, "a primary key column is NOT NULL");
    let checks: Vec<&str> = table.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(checks, ["k_c_check", "pos"]);
}

#[test]
fn constraints_riffle_cannot_hold_are_refused() {
    assert!(matches!(
        error("CREATE TABLE k (a int PRIMARY KEY, b int PRIMARY KEY)"),
        PlanError::InvalidTableDefinition(_)
    ));
    assert!(matches!(
        error("CREATE TABLE k (a int REFERENCES t (a))"),
        PlanError::Unsupported(_)
    ));
    assert!(matches!(
        error("CREATE TABLE k (a int, FOREIGN KEY (a) REFERENCES t (a))"),
        PlanError::Unsupported(_)
    ));
    assert!(matches!(error("CREATE TABLE k (a int CHECK (a + 1))"), PlanError::TypeMismatch(_)));
}
