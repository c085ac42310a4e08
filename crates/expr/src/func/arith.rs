//! Arithmetic with PostgreSQL's types and overflow rules: integers, floats, numerics,
//! intervals, rounding.

use super::*;

pub(super) fn out_of_range(type_name: &str) -> EvalError {
    EvalError::OutOfRange(type_name.to_string())
}

macro_rules! int_arith {
    ($a:expr, $b:expr, $op:ident, $fop:tt, $dop:ident, $name:literal) => {{
        use Datum::*;
        match ($a, $b) {
            (Int16(x), Int16(y)) => Int16(x.$op(*y).ok_or_else(|| out_of_range("smallint"))?),
            (Int32(x), Int32(y)) => Int32(x.$op(*y).ok_or_else(|| out_of_range("integer"))?),
            (Int64(x), Int64(y)) => Int64(x.$op(*y).ok_or_else(|| out_of_range("bigint"))?),
            (Float32(x), Float32(y)) => Float32(F32(check_f32(x.0 $fop y.0, x.0, y.0)?)),
            (Float64(x), Float64(y)) => Float64(F64(check_f64(x.0 $fop y.0, x.0, y.0)?)),
            (Numeric(x), Numeric(y)) => Numeric(x.$dop(*y).ok_or_else(|| out_of_range("numeric"))?),
            _ => return Err(EvalError::InvalidArgument(format!("operator {} does not apply to {:?} and {:?}", $name, $a, $b))),
        }
    }};
}

pub(super) fn check_f64(result: f64, x: f64, y: f64) -> Result<f64, EvalError> {
    if result.is_infinite() && x.is_finite() && y.is_finite() {
        return Err(out_of_range("value"));
    }
    Ok(result)
}

pub(super) fn check_f32(result: f32, x: f32, y: f32) -> Result<f32, EvalError> {
    if result.is_infinite() && x.is_finite() && y.is_finite() {
        return Err(out_of_range("value"));
    }
    Ok(result)
}

pub(super) fn add(a: &Datum, b: &Datum) -> Result<Datum, EvalError> {
    use Datum::*;
    Ok(match (a, b) {
        (Timestamp(t), Interval(iv)) | (Interval(iv), Timestamp(t)) => Timestamp(add_interval(*t, iv, 1)?),
        (TimestampTz(t), Interval(iv)) | (Interval(iv), TimestampTz(t)) => TimestampTz(add_interval(*t, iv, 1)?),
        (Date(d), Interval(iv)) | (Interval(iv), Date(d)) => {
            Timestamp(add_interval(*d as i64 * riffle_repr::Interval::MICROS_PER_DAY, iv, 1)?)
        }
        (Date(d), Int32(n)) | (Int32(n), Date(d)) => Date(d.checked_add(*n).ok_or_else(|| out_of_range("date"))?),
        (Interval(x), Interval(y)) => Interval(riffle_repr::Interval {
            months: x.months.checked_add(y.months).ok_or_else(|| out_of_range("interval"))?,
            days: x.days.checked_add(y.days).ok_or_else(|| out_of_range("interval"))?,
            micros: x.micros.checked_add(y.micros).ok_or_else(|| out_of_range("interval"))?,
        }),
        _ => int_arith!(a, b, checked_add, +, checked_add, "+"),
    })
}

pub(super) fn sub(a: &Datum, b: &Datum) -> Result<Datum, EvalError> {
    use Datum::*;
    Ok(match (a, b) {
        (Timestamp(t), Interval(iv)) => Timestamp(add_interval(*t, iv, -1)?),
        (TimestampTz(t), Interval(iv)) => TimestampTz(add_interval(*t, iv, -1)?),
        (Date(d), Interval(iv)) => Timestamp(add_interval(*d as i64 * riffle_repr::Interval::MICROS_PER_DAY, iv, -1)?),
        (Date(d), Int32(n)) => Date(d.checked_sub(*n).ok_or_else(|| out_of_range("date"))?),
        (Date(x), Date(y)) => Int32(x.checked_sub(*y).ok_or_else(|| out_of_range("integer"))?),
        (Timestamp(x), Timestamp(y)) | (TimestampTz(x), TimestampTz(y)) => Interval(justify_hours(x - y)),
        (Interval(x), Interval(y)) => Interval(riffle_repr::Interval {
            months: x.months - y.months,
            days: x.days - y.days,
            micros: x.micros - y.micros,
        }),
        _ => int_arith!(a, b, checked_sub, -, checked_sub, "-"),
    })
}

/// Timestamp differences keep whole days apart from the time of day, as PostgreSQL does.
pub(super) fn justify_hours(micros: i64) -> Interval {
    Interval {
        months: 0,
        days: (micros / Interval::MICROS_PER_DAY) as i32,
        micros: micros % Interval::MICROS_PER_DAY,
    }
}

/// Numeric multiplication keeping PostgreSQL's result scale (s1 + s2) even for a zero result,
/// which rust_decimal would print as plain `0`.
pub fn decimal_mul(a: Decimal, b: Decimal) -> Option<Decimal> {
    let mut product = a.checked_mul(b)?;
    if product.is_zero() {
        product.rescale((a.scale() + b.scale()).min(28));
    }
    Some(product)
}

pub(super) fn mul(a: &Datum, b: &Datum) -> Result<Datum, EvalError> {
    use Datum::*;
    Ok(match (a, b) {
        (Numeric(x), Numeric(y)) => Numeric(decimal_mul(*x, *y).ok_or_else(|| out_of_range("numeric"))?),
        (Interval(iv), other) | (other, Interval(iv)) if !matches!(other, Interval(_)) => {
            let f = as_f64(other);
            let months = iv.months as f64 * f;
            let days = iv.days as f64 * f + months.fract() * 30.0;
            let micros = iv.micros as f64 * f + days.fract() * riffle_repr::Interval::MICROS_PER_DAY as f64;
            Interval(riffle_repr::Interval {
                months: months.trunc() as i32,
                days: days.trunc() as i32,
                micros: micros.round() as i64,
            })
        }
        _ => int_arith!(a, b, checked_mul, *, checked_mul, "*"),
    })
}

pub(super) fn div(a: &Datum, b: &Datum) -> Result<Datum, EvalError> {
    use Datum::*;
    let zero = match b {
        Int16(0) | Int32(0) | Int64(0) => true,
        Float32(F32(v)) => *v == 0.0,
        Float64(F64(v)) => *v == 0.0,
        Numeric(d) => d.is_zero(),
        _ => false,
    };
    if zero {
        return Err(EvalError::DivisionByZero);
    }
    Ok(match (a, b) {
        (Numeric(x), Numeric(y)) => Numeric(numeric_div(*x, *y)?),
        (Interval(iv), other) => {
            let f = as_f64(other);
            mul(&Interval(*iv), &Datum::f64(1.0 / f))?
        }
        _ => int_arith!(a, b, checked_div, /, checked_div, "/"),
    })
}

pub(super) fn modulo(a: &Datum, b: &Datum) -> Result<Datum, EvalError> {
    use Datum::*;
    if matches!(b, Int16(0) | Int32(0) | Int64(0)) || matches!(b, Numeric(d) if d.is_zero()) {
        return Err(EvalError::DivisionByZero);
    }
    Ok(match (a, b) {
        (Int16(x), Int16(y)) => Int16(x.wrapping_rem(*y)),
        (Int32(x), Int32(y)) => Int32(x.wrapping_rem(*y)),
        (Int64(x), Int64(y)) => Int64(x.wrapping_rem(*y)),
        (Numeric(x), Numeric(y)) => Numeric(x % y),
        _ => return Err(EvalError::InvalidArgument("operator % requires integer or numeric operands".into())),
    })
}

/// Numeric division with PostgreSQL's result scale: at least 16 significant digits, and no
/// fewer fractional digits than either input (`select_div_scale` in numeric.c).
pub fn numeric_div(x: Decimal, y: Decimal) -> Result<Decimal, EvalError> {
    if y.is_zero() {
        return Err(EvalError::DivisionByZero);
    }
    // Weights and leading digits in base 10000, as PostgreSQL stores numerics.
    fn weight_and_first(d: Decimal) -> (i32, u32) {
        let d = d.abs();
        if d.is_zero() {
            return (0, 0);
        }
        let digits10 = if d >= Decimal::ONE {
            d.trunc().to_string().len() as i32 - 1
        } else {
            let s = d.to_string();
            let frac = s.split('.').nth(1).unwrap_or("");
            -(frac.chars().take_while(|c| *c == '0').count() as i32) - 1
        };
        let weight = digits10.div_euclid(4);
        let scaled = d * Decimal::from_f64(10f64.powi(-weight * 4)).unwrap_or(Decimal::ONE);
        (weight, scaled.trunc().to_u32().unwrap_or(0))
    }
    let (w1, f1) = weight_and_first(x);
    let (w2, f2) = weight_and_first(y);
    let mut qweight = w1 - w2;
    if f1 <= f2 {
        qweight -= 1;
    }
    let rscale = (16 - qweight * 4).max(x.scale() as i32).max(y.scale() as i32).clamp(0, 28) as u32;
    let q = x.checked_div(y).ok_or_else(|| out_of_range("numeric"))?;
    let mut q = q.round_dp_with_strategy(rscale, RoundingStrategy::MidpointAwayFromZero);
    q.rescale(rscale);
    Ok(q)
}

pub(super) fn neg(a: &Datum) -> Result<Datum, EvalError> {
    use Datum::*;
    Ok(match a {
        Int16(v) => Int16(v.checked_neg().ok_or_else(|| out_of_range("smallint"))?),
        Int32(v) => Int32(v.checked_neg().ok_or_else(|| out_of_range("integer"))?),
        Int64(v) => Int64(v.checked_neg().ok_or_else(|| out_of_range("bigint"))?),
        Float32(v) => Float32(F32(-v.0)),
        Float64(v) => Float64(F64(-v.0)),
        Numeric(d) => Numeric(-d),
        Interval(iv) => Interval(riffle_repr::Interval {
            months: -iv.months,
            days: -iv.days,
            micros: -iv.micros,
        }),
        other => return Err(EvalError::InvalidArgument(format!("cannot negate {other:?}"))),
    })
}

pub(super) fn abs(a: &Datum) -> Result<Datum, EvalError> {
    use Datum::*;
    Ok(match a {
        Int16(v) => Int16(v.checked_abs().ok_or_else(|| out_of_range("smallint"))?),
        Int32(v) => Int32(v.checked_abs().ok_or_else(|| out_of_range("integer"))?),
        Int64(v) => Int64(v.checked_abs().ok_or_else(|| out_of_range("bigint"))?),
        Float32(v) => Float32(F32(v.0.abs())),
        Float64(v) => Float64(F64(v.0.abs())),
        Numeric(d) => Numeric(d.abs()),
        other => return Err(EvalError::InvalidArgument(format!("abs does not apply to {other:?}"))),
    })
}

pub(super) fn float_or_numeric1(a: &Datum, f: impl Fn(f64) -> f64) -> Result<Datum, EvalError> {
    Ok(match a {
        Datum::Numeric(d) => {
            let v = f(d.to_f64().unwrap_or(f64::NAN));
            Datum::Numeric(
                Decimal::from_f64(v)
                    .ok_or_else(|| out_of_range("numeric"))?
                    .round_dp(16)
                    .normalize(),
            )
        }
        other => Datum::f64(f(as_f64(other))),
    })
}

pub(super) fn float_or_numeric2(
    a: &Datum,
    b: &Datum,
    f: impl Fn(f64, f64) -> f64,
    d: impl Fn(Decimal, Decimal) -> Option<Decimal>,
) -> Result<Datum, EvalError> {
    Ok(match (a, b) {
        (Datum::Numeric(x), Datum::Numeric(y)) => {
            Datum::Numeric(d(*x, *y).ok_or_else(|| out_of_range("numeric"))?.round_dp(16).normalize())
        }
        _ => {
            let v = f(as_f64(a), as_f64(b));
            if v.is_infinite() {
                return Err(out_of_range("value"));
            }
            Datum::f64(v)
        }
    })
}

pub(super) fn round_like(a: &Datum, f: impl Fn(f64) -> f64, strategy: RoundingStrategy) -> Result<Datum, EvalError> {
    Ok(match a {
        Datum::Numeric(d) => Datum::Numeric(round_decimal(*d, 0, strategy)),
        Datum::Float32(v) => Datum::Float32(F32(f(v.0 as f64) as f32)),
        Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) => a.clone(),
        other => Datum::f64(f(as_f64(other))),
    })
}

pub(super) fn round_decimal(d: Decimal, scale: i32, strategy: RoundingStrategy) -> Decimal {
    if scale >= 0 {
        let mut r = d.round_dp_with_strategy(scale as u32, strategy);
        r.rescale(scale as u32);
        r
    } else {
        let factor = Decimal::from_i128_with_scale(10i128.pow((-scale) as u32), 0);
        (d / factor).round_dp_with_strategy(0, strategy) * factor
    }
}
