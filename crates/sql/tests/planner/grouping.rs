//! Aggregates, GROUP BY, HAVING and window functions.

use crate::{error, explain, operators, select};
use riffle_sql::PlanError;

#[test]
fn a_column_outside_group_by_is_42803() {
    let e = error("SELECT a, b FROM t GROUP BY a");
    assert!(matches!(&e, PlanError::Grouping(_)), "{e:?}");
    assert!(e.to_string().contains(r#"column "t.b" must appear in the GROUP BY clause"#), "{e}");
}

#[test]
fn an_aggregate_in_where_is_refused() {
    assert!(matches!(
        error("SELECT a FROM t WHERE count(*) > 1 GROUP BY a"),
        PlanError::Grouping(_)
    ));
}

#[test]
fn a_global_aggregate_is_one_row_even_over_nothing() {
    let plan = explain("SELECT count(*) FROM t");
    assert!(plan.contains("global"), "{plan}");
}

#[test]
fn group_by_an_ordinal_or_an_output_name() {
    assert_eq!(select("SELECT b, count(*) FROM t GROUP BY 1").desc.names, ["b", "count"]);
    assert_eq!(
        select("SELECT upper(b) AS k, count(*) FROM t GROUP BY k").desc.names,
        ["k", "count"]
    );
}

#[test]
fn having_filters_after_the_reduction() {
    let ops = operators("SELECT a, count(*) FROM t GROUP BY a HAVING count(*) > 1");
    let filter = ops.iter().position(|o| o == "Filter").expect("a filter");
    let reduce = ops.iter().position(|o| o == "Reduce").expect("a reduce");
    assert!(filter < reduce, "{ops:?}");
}

#[test]
fn distinct_aggregates_are_marked() {
    let plan = explain("SELECT count(DISTINCT b) FROM t");
    assert!(plan.contains("count(distinct"), "{plan}");
}

#[test]
fn window_functions_become_window_operators_and_top_k() {
    let ops = operators("SELECT a, row_number() OVER (PARTITION BY b ORDER BY c) FROM t");
    assert!(ops.iter().any(|o| o == "Window"), "{ops:?}");
    let plan = explain("SELECT * FROM (SELECT a, b, row_number() OVER (PARTITION BY b ORDER BY c DESC) AS rn FROM t) x WHERE rn <= 3");
    assert!(plan.contains("TopK"), "{plan}");
}

#[test]
fn a_window_function_in_where_is_42p20() {
    assert!(matches!(
        error("SELECT a FROM t WHERE row_number() OVER () > 1"),
        PlanError::WindowingError(_)
    ));
}

#[test]
fn distinct_on_keeps_one_row_per_key() {
    let s = select("SELECT DISTINCT ON (b) b, a FROM t ORDER BY b, c DESC");
    assert_eq!(s.desc.names, ["b", "a"]);
    assert!(operators("SELECT DISTINCT ON (b) b, a FROM t ORDER BY b, c DESC")
        .iter()
        .any(|o| o == "TopK"));
}
