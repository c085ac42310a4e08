//! Types: PostgreSQL's implicit coercions, unification, casts and function signatures.

use crate::{catalog, error, type_of, types};
use riffle_repr::{Datum, ScalarType};
use riffle_sql::{Plan, PlanContext, PlanError};

#[test]
fn integer_arithmetic_widens_to_the_wider_operand() {
    assert_eq!(type_of("SELECT a + a FROM t"), ScalarType::Int32);
    assert_eq!(type_of("SELECT a + 1::bigint FROM t"), ScalarType::Int64);
    assert_eq!(type_of("SELECT a + c FROM t"), ScalarType::Float64);
}

#[test]
fn integer_and_numeric_make_numeric() {
    assert!(matches!(type_of("SELECT a * d FROM u"), ScalarType::Numeric { .. }));
    assert!(matches!(type_of("SELECT 1.5 + 1"), ScalarType::Numeric { .. }));
}

#[test]
fn an_untyped_literal_takes_the_other_operands_type() {
    assert_eq!(type_of("SELECT a FROM t WHERE a = '5'"), ScalarType::Int32);
    assert_eq!(type_of("SELECT 'abc'"), ScalarType::String);
}

#[test]
fn a_literal_that_does_not_parse_as_the_type_is_refused_when_planned() {
    let e = error("SELECT a FROM t WHERE a = 'five'");
    assert!(matches!(e, PlanError::Eval(_)), "{e:?}");
    assert!(e.to_string().contains("invalid input syntax for type integer"), "{e}");
}

#[test]
fn case_branches_unify_to_their_common_type() {
    assert!(matches!(
        type_of("SELECT CASE WHEN a > 0 THEN 1 ELSE 2.5 END FROM t"),
        ScalarType::Numeric { .. }
    ));
    assert_eq!(type_of("SELECT CASE WHEN a > 0 THEN 'x' END FROM t"), ScalarType::String);
    let e = error("SELECT CASE WHEN a > 0 THEN a ELSE b END FROM t");
    assert!(matches!(&e, PlanError::TypeMismatch(m) if m.contains("CASE types")), "{e:?}");
}

#[test]
fn coalesce_and_union_columns_unify() {
    assert_eq!(type_of("SELECT coalesce(a, c) FROM t"), ScalarType::Float64);
    assert!(matches!(
        type_of("SELECT a FROM t UNION SELECT d FROM u"),
        ScalarType::Numeric { .. }
    ));
    assert_eq!(type_of("SELECT NULL UNION SELECT NULL"), ScalarType::String);
}

#[test]
fn union_sides_must_have_as_many_columns() {
    let e = error("SELECT a, b FROM t UNION SELECT a FROM u");
    assert!(matches!(&e, PlanError::Syntax(m) if m.contains("same number of columns")), "{e:?}");
}

#[test]
fn where_must_be_boolean() {
    let e = error("SELECT * FROM t WHERE a");
    assert!(matches!(&e, PlanError::TypeMismatch(m) if m.contains("WHERE")), "{e:?}");
}

#[test]
fn explicit_casts_set_the_type() {
    assert_eq!(
        types("SELECT a::text, b::int, c::real FROM t"),
        [ScalarType::String, ScalarType::Int32, ScalarType::Float32]
    );
    assert!(matches!(error("SELECT a::nosuchtype FROM t"), PlanError::UnknownType(_)));
}

#[test]
fn function_signatures_choose_the_result_type() {
    assert_eq!(type_of("SELECT length(b) FROM t"), ScalarType::Int32);
    assert!(matches!(type_of("SELECT abs(d) FROM u"), ScalarType::Numeric { .. }));
    assert_eq!(type_of("SELECT abs(c) FROM t"), ScalarType::Float64);
    assert_eq!(type_of("SELECT count(*) FROM t"), ScalarType::Int64);
    assert_eq!(type_of("SELECT sum(a) FROM t"), ScalarType::Int64);
    assert!(matches!(type_of("SELECT avg(a) FROM t"), ScalarType::Numeric { .. }));
}

#[test]
fn an_unknown_function_or_signature_is_42883() {
    assert!(matches!(error("SELECT nosuch(a) FROM t"), PlanError::UnknownFunction(_)));
    assert!(matches!(error("SELECT length(a, a, a) FROM t"), PlanError::UnknownFunction(_)));
}

#[test]
fn timestamptz_literals_are_read_in_the_sessions_zone() {
    let at = |zone: &str| {
        let ctx = PlanContext {
            zone: riffle_repr::zone::Zone::parse(zone).unwrap(),
            ..PlanContext::default()
        };
        let (plan, _) = catalog()
            .plan_with("SELECT '2024-01-01 00:00'::timestamptz", ctx, &Default::default())
            .unwrap();
        let Plan::Select(s) = plan else { panic!() };
        match s.plan {
            riffle_expr::RelExpr::Constant { rows, .. } => rows[0].0.iter().next().unwrap().to_datum(),
            other => match riffle_expr::RelExpr::eval_read(&other, &riffle_repr::Row::new(vec![]).as_ref()) {
                Ok(Some(row)) => row.iter().next().unwrap().to_datum(),
                r => panic!("{r:?}"),
            },
        }
    };
    let (utc, plus2) = (at("UTC"), at("+02:00"));
    let (Datum::TimestampTz(u), Datum::TimestampTz(p)) = (utc, plus2) else {
        panic!()
    };
    assert_eq!(u - p, 2 * 3600 * 1_000_000);
}
