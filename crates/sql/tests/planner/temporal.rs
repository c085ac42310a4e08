//! Temporal filters: `mz_now()` conjuncts become a TemporalFilter's bounds.

use crate::{catalog, error, explain};
use riffle_sql::{Plan, PlanError};

fn temporal_line(sql: &str) -> String {
    let plan = explain(sql);
    plan.lines()
        .find(|l| l.contains("TemporalFilter"))
        .unwrap_or_else(|| panic!("no temporal filter: {plan}"))
        .trim()
        .to_string()
}

#[test]
fn a_sliding_window_is_an_upper_bound() {
    let line = temporal_line("SELECT * FROM events WHERE created_at + INTERVAL '1 hour' > mz_now()");
    assert!(line.starts_with("TemporalFilter from=() until=("), "{line}");
}

#[test]
fn mz_now_at_or_after_a_column_is_a_lower_bound() {
    let line = temporal_line("SELECT * FROM events WHERE mz_now() >= created_at");
    assert!(line.starts_with("TemporalFilter from=(") && line.contains("until=()"), "{line}");
}

#[test]
fn a_validity_interval_has_both_bounds() {
    let line = temporal_line("SELECT * FROM events WHERE mz_now() >= created_at AND mz_now() < valid_until");
    assert!(!line.contains("from=()") && !line.contains("until=()"), "{line}");
    let line = temporal_line("SELECT * FROM events WHERE mz_now() BETWEEN created_at AND valid_until");
    assert!(!line.contains("from=()") && !line.contains("until=()"), "{line}");
}

#[test]
fn other_conjuncts_stay_ordinary_filters() {
    let plan = explain("SELECT * FROM events WHERE user_id = 3 AND created_at + INTERVAL '1 day' > mz_now()");
    assert!(plan.contains("TemporalFilter") && plan.contains("Filter ("), "{plan}");
}

#[test]
fn mz_now_in_a_condition_that_is_not_a_bound_is_not_supported() {
    assert!(matches!(
        error("SELECT * FROM events WHERE mz_now() > created_at OR user_id = 1"),
        PlanError::Unsupported(_)
    ));
    // In a SELECT list it is the read time, as in Materialize.
    assert_eq!(crate::type_of("SELECT mz_now()"), riffle_repr::ScalarType::TimestampTz);
}

#[test]
fn a_materialized_view_keeps_its_temporal_filter() {
    let plan = catalog()
        .plan("CREATE MATERIALIZED VIEW recent AS SELECT * FROM events WHERE created_at + INTERVAL '3 hours' > mz_now()")
        .unwrap();
    let Plan::CreateView { plan, materialized, .. } = plan else {
        panic!()
    };
    assert!(materialized);
    assert!(crate::explain_plan(&plan).contains("TemporalFilter"));
}
