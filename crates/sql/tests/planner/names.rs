//! Name resolution: tables, columns, qualifiers, aliases, views, CTEs and output names.

use crate::{error, reads, select, types};
use riffle_repr::ScalarType;
use riffle_sql::PlanError;

#[test]
fn a_column_resolves_to_its_table_column_and_type() {
    let s = select("SELECT b FROM t");
    assert_eq!(s.desc.names, ["b"]);
    assert_eq!(s.desc.types[0].scalar_type, ScalarType::String);
}

#[test]
fn star_expands_to_every_column_in_order() {
    assert_eq!(select("SELECT * FROM t").desc.names, ["a", "b", "c"]);
    assert_eq!(select("SELECT u.*, t.a FROM t, u").desc.names, ["a", "d", "ts", "a"]);
}

#[test]
fn quoted_names_keep_their_case() {
    assert_eq!(select(r#"SELECT "a" FROM "t""#).desc.names, ["a"]);
    assert!(matches!(error(r#"SELECT "A" FROM t"#), PlanError::UnknownColumn(c) if c == "A"));
    assert!(matches!(error(r#"SELECT * FROM "T""#), PlanError::UnknownRelation(r) if r == "T"));
}

#[test]
fn a_qualifier_must_name_a_from_item() {
    assert_eq!(select("SELECT x.a FROM t AS x").desc.names, ["a"]);
    // PostgreSQL: missing FROM-clause entry for table "t" (42P01): the alias hides the name.
    assert!(matches!(error("SELECT t.a FROM t AS x"), PlanError::MissingFrom(_)));
}

#[test]
fn unknown_columns_and_relations_are_named_in_the_error() {
    let e = error("SELECT z FROM t");
    assert!(matches!(&e, PlanError::UnknownColumn(c) if c == "z"));
    assert_eq!(e.to_string(), r#"column "z" does not exist"#);
    let e = error("SELECT * FROM nowhere");
    assert!(matches!(&e, PlanError::UnknownRelation(r) if r == "nowhere"));
    assert_eq!(e.to_string(), r#"relation "nowhere" does not exist"#);
}

#[test]
fn a_column_in_two_from_items_is_ambiguous() {
    let e = error("SELECT a FROM t, u");
    assert!(matches!(&e, PlanError::AmbiguousColumn(c) if c == "a"));
    assert_eq!(e.to_string(), r#"column reference "a" is ambiguous"#);
}

#[test]
fn join_using_merges_the_named_column() {
    let s = select("SELECT * FROM t JOIN u USING (a)");
    assert_eq!(s.desc.names, ["a", "b", "c", "d", "ts"]);
    // and unqualified `a` is no longer ambiguous
    assert_eq!(select("SELECT a FROM t JOIN u USING (a)").desc.names, ["a"]);
}

#[test]
fn a_view_is_inlined_and_a_materialized_view_is_read_from_its_arrangement() {
    assert_eq!(reads("SELECT * FROM big"), ["orders"]);
    let s = select("SELECT * FROM totals");
    assert_eq!(reads("SELECT * FROM totals"), ["totals"]);
    assert!(s.plan.as_simple_read().is_some());
    assert_eq!(s.desc.names, ["cid", "total"]);
}

#[test]
fn a_cte_shadows_a_table_of_the_same_name() {
    let s = select("WITH t AS (SELECT 1 AS z) SELECT z FROM t");
    assert_eq!(s.desc.names, ["z"]);
    assert!(reads("WITH t AS (SELECT 1 AS z) SELECT z FROM t").is_empty());
}

#[test]
fn cte_column_aliases_rename_its_columns() {
    assert_eq!(
        select("WITH x (p, q) AS (SELECT a, b FROM t) SELECT q, p FROM x").desc.names,
        ["q", "p"]
    );
}

#[test]
fn expressions_are_named_as_postgresql_names_them() {
    let s = select("SELECT a + 1, count(*), sum(c), b AS label, upper(b) FROM t GROUP BY a, b");
    assert_eq!(s.desc.names, ["?column?", "count", "sum", "label", "upper"]);
}

#[test]
fn order_by_an_output_alias_or_ordinal_sorts_that_column() {
    let s = select("SELECT a AS x, b FROM t ORDER BY x DESC");
    assert_eq!(s.finishing.order_by.len(), 1);
    assert!(s.finishing.order_by[0].desc);
    let s = select("SELECT a, b FROM t ORDER BY 2");
    assert_eq!(s.finishing.order_by.len(), 1);
}

#[test]
fn system_relations_resolve_without_the_catalog() {
    // pg_catalog relations are answered by the planner itself.
    let s = select("SELECT relname FROM pg_class");
    assert_eq!(s.desc.names, ["relname"]);
    assert_eq!(types("SELECT relname FROM pg_class"), [ScalarType::String]);
}
