use super::*;

fn num(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[test]
fn numeric_division_uses_postgres_scale() {
    assert_eq!(numeric_div(num("1"), num("3")).unwrap().to_string(), "0.33333333333333333333");
    assert_eq!(numeric_div(num("10"), num("3")).unwrap().to_string(), "3.3333333333333333");
    assert_eq!(numeric_div(num("3"), num("2")).unwrap().to_string(), "1.5000000000000000");
    assert_eq!(numeric_div(num("7.50"), num("2")).unwrap().to_string(), "3.7500000000000000");
}

#[test]
fn integer_overflow_and_division_errors() {
    assert_eq!(
        Func::Add.eval(&[Datum::Int32(i32::MAX), Datum::Int32(1)]),
        Err(EvalError::OutOfRange("integer".into()))
    );
    assert_eq!(Func::Div.eval(&[Datum::Int32(1), Datum::Int32(0)]), Err(EvalError::DivisionByZero));
    assert_eq!(Func::Div.eval(&[Datum::Int32(7), Datum::Int32(-2)]), Ok(Datum::Int32(-3)));
}

#[test]
fn strings_behave_like_postgres() {
    let s = |v: &str| Datum::String(v.into());
    assert_eq!(Func::Substr.eval(&[s("hello"), Datum::Int64(0), Datum::Int64(3)]), Ok(s("he")));
    assert_eq!(Func::SplitPart.eval(&[s("a,b,c"), s(","), Datum::Int64(2)]), Ok(s("b")));
    assert_eq!(
        Func::Like { case_insensitive: false }.eval(&[s("abc"), s("a%")]),
        Ok(Datum::Bool(true))
    );
    assert_eq!(
        Func::Like { case_insensitive: true }.eval(&[s("ABC"), s("a_c")]),
        Ok(Datum::Bool(true))
    );
    assert_eq!(Func::Initcap.eval(&[s("hello wORLD")]), Ok(s("Hello World")));
}
