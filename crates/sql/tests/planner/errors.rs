//! Statements that cannot be planned, and the error each one gets (the adapter maps each
//! variant to one SQLSTATE, noted here).

use crate::{catalog, error, select};
use riffle_sql::{Plan, PlanError};

#[test]
fn a_syntax_error_is_42601() {
    assert!(matches!(catalog().plan("SELEC 1").unwrap_err(), PlanError::Parse(_)));
}

#[test]
fn an_expression_nested_too_deep_is_54001() {
    let deep = format!("SELECT {}1", "-".repeat(1) + &"(1 + ".repeat(0)) + &" + 1".repeat(1500);
    assert!(matches!(catalog().plan(&deep).unwrap_err(), PlanError::TooDeep(_)));
}

#[test]
fn limit_and_offset_must_be_non_negative_constants() {
    assert_eq!(select("SELECT * FROM t LIMIT 5 OFFSET 2").finishing.limit, Some(5));
    assert!(matches!(error("SELECT * FROM t LIMIT -1"), PlanError::InvalidParameter(_)));
    assert!(matches!(
        error("SELECT * FROM t LIMIT a"),
        PlanError::InvalidParameter(_) | PlanError::UnknownColumn(_)
    ));
}

#[test]
fn as_of_takes_milliseconds_or_a_timestamp() {
    assert_eq!(select("SELECT * FROM t AS OF 1700000000000").as_of, Some(1_700_000_000_000));
    assert_eq!(
        select("SELECT * FROM t AS OF '2024-01-01 00:00:00+00'").as_of,
        Some(1_704_067_200_000)
    );
}

#[test]
fn set_and_show_are_planned_for_the_session() {
    assert!(matches!(
        catalog().plan("SET application_name = 'x'").unwrap(),
        Plan::SetVariable { .. }
    ));
    assert!(matches!(
        catalog().plan("SHOW application_name").unwrap(),
        Plan::ShowVariable { .. }
    ));
}

#[test]
fn drop_of_a_missing_object_is_left_to_the_adapter() {
    // The planner does not know what will exist when DROP runs; IF EXISTS is decided there.
    assert!(matches!(catalog().plan("DROP TABLE IF EXISTS nosuch").unwrap(), Plan::Drop(_)));
}

#[test]
fn unsupported_sql_is_0a000() {
    assert!(matches!(error("SELECT * FROM t FOR UPDATE"), PlanError::Unsupported(_)));
}

#[test]
fn savepoints_are_refused_not_taken_for_a_whole_rollback() {
    for sql in ["SAVEPOINT a", "ROLLBACK TO SAVEPOINT a", "ROLLBACK TO a", "RELEASE SAVEPOINT a"] {
        assert!(matches!(error(sql), PlanError::Unsupported(_)), "{sql}");
    }
    assert!(matches!(catalog().plan("ROLLBACK").unwrap(), Plan::Rollback));
}
