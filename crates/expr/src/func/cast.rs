//! Casts between the types PostgreSQL casts between, and numeric type modifiers.

use super::*;

/// Casts a non-NULL datum to `to`, following PostgreSQL's cast rules.
pub fn cast(d: &Datum, to: &ScalarType) -> Result<Datum, EvalError> {
    use Datum as D;
    use ScalarType as T;
    let invalid = || EvalError::InvalidCast {
        from: datum_type_name(d).into(),
        to: to.name().into(),
    };
    if d.is_null() {
        return Ok(D::Null);
    }
    Ok(match (d, to) {
        (D::String(s), T::VarChar { max_len: Some(n) }) => D::String(s.chars().take(*n as usize).collect()),
        (D::String(s), T::String | T::VarChar { .. } | T::Unknown) => D::String(s.clone()),
        (D::String(s), _) => strconv::parse_datum(s, to)?,
        (D::Array(items), T::Array(elem)) => D::Array(items.iter().map(|i| cast(i, elem)).collect::<Result<_, _>>()?),
        (D::Jsonb(s), T::Jsonb) => D::Jsonb(s.clone()),
        (D::Bool(b), T::String | T::VarChar { .. }) => D::String(if *b { "true" } else { "false" }.into()),
        (_, T::String | T::VarChar { .. }) => {
            let s = strconv::format_datum(d).unwrap_or_default();
            match to {
                T::VarChar { max_len: Some(n) } => D::String(s.chars().take(*n as usize).collect()),
                _ => D::String(s),
            }
        }
        (D::Bool(b), T::Bool) => D::Bool(*b),
        (D::Bool(b), T::Int32) => D::Int32(*b as i32),
        (D::Int32(i), T::Bool) => D::Bool(*i != 0),
        (D::Int16(_) | D::Int32(_) | D::Int64(_), T::Int16 | T::Int32 | T::Int64) => int_to(int_arg(d)? as i128, to)?,
        (D::Int16(_) | D::Int32(_) | D::Int64(_), T::Float32) => D::Float32(F32(int_arg(d)? as f32)),
        (D::Int16(_) | D::Int32(_) | D::Int64(_), T::Float64) => D::f64(int_arg(d)? as f64),
        (D::Int16(_) | D::Int32(_) | D::Int64(_), T::Numeric { typmod }) => D::Numeric(apply_typmod(Decimal::from(int_arg(d)?), *typmod)?),
        (D::Float32(_) | D::Float64(_), T::Int16 | T::Int32 | T::Int64) => {
            let v = as_f64(d).round_ties_even();
            if !v.is_finite() || v.abs() > 9.3e18 {
                return Err(out_of_range(to.name()));
            }
            int_to(v as i128, to)?
        }
        (D::Float32(_) | D::Float64(_), T::Float32) => D::Float32(F32(as_f64(d) as f32)),
        (D::Float32(v), T::Float64) => D::f64(format!("{}", v.0).parse::<f64>().unwrap_or(v.0 as f64)),
        (D::Float64(v), T::Float64) => D::Float64(*v),
        (D::Float32(_) | D::Float64(_), T::Numeric { typmod }) => {
            let v = as_f64(d);
            let dec = if let D::Float32(f) = d {
                Decimal::from_f32(f.0)
            } else {
                Decimal::from_f64(v)
            };
            let dec = dec.ok_or_else(|| EvalError::InvalidArgument(format!("cannot convert {v} to numeric")))?;
            D::Numeric(apply_typmod(dec, *typmod)?)
        }
        (D::Numeric(n), T::Numeric { typmod }) => D::Numeric(apply_typmod(*n, *typmod)?),
        (D::Numeric(n), T::Int16 | T::Int32 | T::Int64) => {
            let r = n.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
            int_to(r.to_i128().ok_or_else(|| out_of_range(to.name()))?, to)?
        }
        (D::Numeric(n), T::Float32) => D::Float32(F32(n.to_f32().unwrap_or(f32::NAN))),
        (D::Numeric(n), T::Float64) => D::f64(n.to_string().parse().unwrap_or(f64::NAN)),
        (D::Date(x), T::Date) => D::Date(*x),
        (D::Date(x), T::Timestamp) => D::Timestamp(*x as i64 * Interval::MICROS_PER_DAY),
        (D::Date(x), T::TimestampTz) => D::TimestampTz(*x as i64 * Interval::MICROS_PER_DAY),
        (D::Timestamp(t) | D::TimestampTz(t), T::Date) => D::Date(t.div_euclid(Interval::MICROS_PER_DAY) as i32),
        (D::Timestamp(t) | D::TimestampTz(t), T::Timestamp) => D::Timestamp(*t),
        (D::Timestamp(t) | D::TimestampTz(t), T::TimestampTz) => D::TimestampTz(*t),
        (D::Interval(iv), T::Interval) => D::Interval(*iv),
        (D::Bytes(b), T::Bytes) => D::Bytes(b.clone()),
        _ => return Err(invalid()),
    })
}

pub(super) fn int_to(v: i128, to: &ScalarType) -> Result<Datum, EvalError> {
    Ok(match to {
        ScalarType::Int16 => Datum::Int16(i16::try_from(v).map_err(|_| out_of_range("smallint"))?),
        ScalarType::Int32 => Datum::Int32(i32::try_from(v).map_err(|_| out_of_range("integer"))?),
        _ => Datum::Int64(i64::try_from(v).map_err(|_| out_of_range("bigint"))?),
    })
}

/// Rounds a numeric to a declared `numeric(p, s)` and checks its precision.
pub fn apply_typmod(d: Decimal, typmod: Option<(u32, u32)>) -> Result<Decimal, EvalError> {
    let Some((precision, scale)) = typmod else {
        return Ok(d);
    };
    let mut r = d.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
    r.rescale(scale);
    let int_digits = r.abs().trunc().to_string().trim_start_matches('0').len() as u32;
    if int_digits > precision.saturating_sub(scale) {
        return Err(EvalError::NumericFieldOverflow);
    }
    Ok(r)
}

/// PostgreSQL's name of a datum's type, for messages.
pub fn datum_type_name(d: &Datum) -> &'static str {
    match d {
        Datum::Null => "unknown",
        Datum::Bool(_) => "boolean",
        Datum::Int16(_) => "smallint",
        Datum::Int32(_) => "integer",
        Datum::Int64(_) => "bigint",
        Datum::Float32(_) => "real",
        Datum::Float64(_) => "double precision",
        Datum::Numeric(_) => "numeric",
        Datum::String(_) => "text",
        Datum::Bytes(_) => "bytea",
        Datum::Date(_) => "date",
        Datum::Timestamp(_) => "timestamp without time zone",
        Datum::TimestampTz(_) => "timestamp with time zone",
        Datum::Interval(_) => "interval",
        Datum::Jsonb(_) => "jsonb",
        Datum::Array(_) => "array",
    }
}
