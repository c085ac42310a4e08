//! Parameters (`$n`): types inferred from where they are used, declared types kept, bound
//! values planned as literals.

use crate::catalog;
use riffle_repr::{Datum, ScalarType};
use riffle_sql::{Params, Plan, PlanContext, PlanError};

fn param_types(sql: &str, declared: Vec<Option<ScalarType>>) -> Vec<ScalarType> {
    let params = Params {
        types: declared,
        values: None,
    };
    catalog()
        .plan_with(sql, PlanContext::default(), &params)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .1
}

#[test]
fn a_parameter_takes_the_type_of_what_it_is_compared_with() {
    assert_eq!(param_types("SELECT * FROM t WHERE a = $1", vec![]), [ScalarType::Int32]);
    assert_eq!(
        param_types("SELECT * FROM t WHERE b = $1 AND c > $2", vec![]),
        [ScalarType::String, ScalarType::Float64]
    );
}

#[test]
fn insert_parameters_take_the_column_types() {
    assert_eq!(
        param_types("INSERT INTO t VALUES ($1, $2, $3)", vec![]),
        [ScalarType::Int32, ScalarType::String, ScalarType::Float64]
    );
    assert_eq!(
        param_types("INSERT INTO t (c, a) VALUES ($1, $2)", vec![]),
        [ScalarType::Float64, ScalarType::Int32]
    );
}

#[test]
fn declared_types_win_and_unused_ones_default_to_text() {
    assert_eq!(param_types("SELECT $1", vec![Some(ScalarType::Int64)]), [ScalarType::Int64]);
    assert_eq!(param_types("SELECT $1", vec![]), [ScalarType::String]);
}

#[test]
fn bound_values_are_planned_as_literals() {
    let params = Params {
        types: vec![Some(ScalarType::Int32)],
        values: Some(vec![Datum::Int32(7)]),
    };
    let (plan, _) = catalog()
        .plan_with("SELECT b FROM t WHERE a = $1", PlanContext::default(), &params)
        .unwrap();
    let Plan::Select(s) = plan else { panic!() };
    let text = crate::explain_plan(&s.plan);
    assert!(text.contains("Filter (eq(#0, 7))"), "{text}");
}

#[test]
fn a_parameter_without_a_value_is_an_error() {
    let params = Params {
        types: vec![],
        values: Some(vec![]),
    };
    let e = catalog().plan_with("SELECT $1", PlanContext::default(), &params).unwrap_err();
    assert!(matches!(e, PlanError::UnknownParameter(1)), "{e:?}");
    assert_eq!(e.to_string(), "there is no parameter $1");
}
