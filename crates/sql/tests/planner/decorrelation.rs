//! Subqueries in expressions, decorrelated into joins (docs/architecture.md, "Subqueries").

use crate::{error, explain, operators, reads, select};
use riffle_sql::PlanError;

#[test]
fn an_uncorrelated_scalar_subquery_is_a_cross_join_with_its_one_row() {
    let ops = operators("SELECT a, (SELECT max(d) FROM u) FROM t");
    assert!(ops.iter().any(|o| o == "Reduce"), "{ops:?}");
    assert_eq!(reads("SELECT a, (SELECT max(d) FROM u) FROM t"), ["t", "u"]);
}

#[test]
fn a_correlated_exists_joins_on_the_outer_column() {
    let plan = explain("SELECT * FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.a = t.a)");
    // The outer rows' distinct values (D) are joined with u on the correlated equality.
    assert!(plan.contains("Distinct"), "{plan}");
    assert!(
        plan.lines()
            .any(|l| l.trim_start().starts_with("Join on (") && !l.contains("Join on ()")),
        "{plan}"
    );
}

#[test]
fn a_correlated_scalar_subquery_is_left_joined_back() {
    let plan = explain("SELECT a, (SELECT count(*) FROM u WHERE u.a = t.a) FROM t");
    assert!(plan.contains("LeftJoin"), "{plan}");
}

#[test]
fn a_correlated_count_gets_a_row_for_every_outer_row() {
    // count(*) over no rows is 0, not NULL: a default row per outer row without input.
    let plan = explain("SELECT a, (SELECT count(*) FROM u WHERE u.a = t.a) FROM t");
    assert!(
        plan.contains("Negate") || plan.contains("Threshold") || plan.contains("Union"),
        "{plan}"
    );
}

#[test]
fn an_uncorrelated_in_is_an_equi_join_not_a_comparison_of_every_pair() {
    let plan = explain("SELECT * FROM t WHERE a IN (SELECT a FROM u)");
    assert!(plan.lines().any(|l| l.contains("Join on (") && !l.contains("Join on ()")), "{plan}");
    let plan = explain("SELECT * FROM t WHERE a NOT IN (SELECT a FROM u)");
    assert!(plan.contains("Join"), "{plan}");
}

#[test]
fn a_correlated_subquery_may_have_its_own_with_clause() {
    // The outer rows join the subquery's SELECT, not its WITH bindings.
    let s = select("SELECT a FROM t WHERE b IN (WITH x AS (SELECT * FROM u) SELECT d::text FROM x WHERE x.a = t.a)");
    assert_eq!(s.desc.names, ["a"]);
    let s = select("SELECT a, (WITH x AS (SELECT a FROM u) SELECT count(*) FROM x WHERE x.a = t.a) FROM t");
    assert_eq!(s.desc.names, ["a", "count"]);
}

#[test]
fn a_scalar_subquery_must_return_one_column() {
    let e = error("SELECT (SELECT a, d FROM u) FROM t");
    assert!(e.to_string().contains("subquery must return only one column"), "{e}");
}

#[test]
fn outer_columns_are_visible_only_where_the_subquery_has_none_of_that_name() {
    // `a` inside the subquery is u.a (inner first): not correlated, so the subquery is
    // planned once, without the outer rows (t is read once).
    let reads_of_t = |sql: &str| explain(sql).matches("Get t ").count();
    assert_eq!(reads_of_t("SELECT * FROM t WHERE EXISTS (SELECT 1 FROM u WHERE a > 0)"), 1);
    // `c` exists only outside: correlated, planned over t's distinct rows (t read twice).
    assert_eq!(reads_of_t("SELECT * FROM t WHERE EXISTS (SELECT 1 FROM u WHERE c > 0)"), 2);
}

#[test]
fn a_scalar_subquery_is_named_after_its_column() {
    assert_eq!(
        select("SELECT EXISTS (SELECT 1), (SELECT 1 AS q), (SELECT count(*) FROM u), (SELECT a FROM u UNION SELECT 2)")
            .desc
            .names,
        ["exists", "q", "count", "a"]
    );
}

#[test]
fn lateral_subqueries_see_the_columns_before_them() {
    let s = select("SELECT t.a, x.n FROM t, LATERAL (SELECT count(*) AS n FROM u WHERE u.a = t.a) x");
    assert_eq!(s.desc.names, ["a", "n"]);
    assert!(matches!(
        error("SELECT * FROM t, (SELECT * FROM u WHERE u.a = t.a) x"),
        PlanError::MissingFrom(_) | PlanError::UnknownColumn(_)
    ));
}
