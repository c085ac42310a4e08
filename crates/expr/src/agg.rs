//! Aggregate functions.

use crate::func::{compare, compare_refs};
use crate::{numeric_div, EvalError, ScalarExpr};
use riffle_repr::{Datum, DatumRef, Diff, Interval, ScalarType, F32, F64};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// An aggregate function; the planner fixes its output type.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AggregateFunc {
    /// `count(*)`: counts rows.
    CountAll,
    /// `count(x)`: counts non-NULL values.
    Count,
    /// `sum(x)` with the given output type.
    Sum(ScalarType),
    /// `sum(x)` of `smallint`, `integer` or `bigint` arguments, with its output type (`bigint`,
    /// or `numeric` for `bigint`): an exact integer total, which views keep as a running sum.
    SumIntegers(ScalarType),
    /// `avg(x)` with the given output type.
    Avg(ScalarType),
    /// `avg(x)` of `smallint`, `integer` or `bigint` arguments (a `numeric` result): an exact
    /// integer total over a count, which views keep as two running sums.
    AvgIntegers,
    /// `min(x)`.
    Min,
    /// `max(x)`.
    Max,
    /// `bool_and(x)`.
    BoolAnd,
    /// `bool_or(x)`.
    BoolOr,
    /// `array_agg(x)`: values in their sort order (PostgreSQL's order is unspecified without
    /// ORDER BY; a maintained view needs a deterministic one).
    ArrayAgg,
    /// `string_agg(x, sep)` with a constant separator, values in sort order.
    StringAgg(String),
    /// `percentile_cont(f) WITHIN GROUP (ORDER BY x)`: interpolated, over double precision.
    PercentileCont(F64),
    /// `percentile_disc(f) WITHIN GROUP (ORDER BY x)`: the first value at or past the fraction.
    PercentileDisc(F64),
    /// `mode() WITHIN GROUP (ORDER BY x)`: the most frequent value (the smallest among ties).
    Mode,
    /// `var_samp`/`variance` (sample) or `var_pop` (population), and the `stddev` forms.
    Variance {
        /// Population rather than sample.
        population: bool,
        /// Square root (stddev).
        sqrt: bool,
        /// Computed exactly in numeric (integer and numeric inputs), as PostgreSQL does.
        numeric: bool,
    },
}

/// One aggregate in a GROUP BY: a function over an expression of the input row.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AggregateExpr {
    /// The function.
    pub func: AggregateFunc,
    /// Its argument, evaluated on each input row.
    pub expr: ScalarExpr,
    /// `DISTINCT` inside the call.
    pub distinct: bool,
}

impl AggregateFunc {
    /// The result over no rows (for a global aggregate over an empty input).
    pub fn empty_value(&self) -> Datum {
        match self {
            AggregateFunc::CountAll | AggregateFunc::Count => Datum::Int64(0),
            _ => Datum::Null,
        }
    }

    /// As [`AggregateFunc::eval`], over datums borrowed from rows: counts, `min` and `max` are
    /// computed without copying values (only the winner of `min`/`max` is copied); the other
    /// functions get owned copies.
    pub fn eval_refs(&self, values: &[(DatumRef<'_>, Diff)], distinct: bool) -> Result<Datum, EvalError> {
        let non_null = || values.iter().filter(|(d, _)| !d.is_null());
        match self {
            AggregateFunc::CountAll if !distinct => Ok(Datum::Int64(values.iter().map(|(_, n)| *n).sum())),
            AggregateFunc::Count if !distinct => Ok(Datum::Int64(non_null().map(|(_, n)| *n).sum())),
            // DISTINCT does not change a minimum or maximum; `min_by` keeps the first of equal
            // values and `max_by` the last, as `eval` does.
            AggregateFunc::Min => Ok(non_null()
                .map(|(d, _)| *d)
                .min_by(|a, b| compare_refs(*a, *b))
                .map_or(Datum::Null, DatumRef::to_datum)),
            AggregateFunc::Max => Ok(non_null()
                .map(|(d, _)| *d)
                .max_by(|a, b| compare_refs(*a, *b))
                .map_or(Datum::Null, DatumRef::to_datum)),
            _ => {
                let owned: Vec<(Datum, Diff)> = values.iter().map(|(d, n)| (d.to_datum(), *n)).collect();
                self.eval(owned.iter().map(|(d, n)| (d, *n)), distinct)
            }
        }
    }

    /// Computes the aggregate over values with multiplicities (all multiplicities positive).
    pub fn eval<'a>(&self, values: impl Iterator<Item = (&'a Datum, Diff)>, distinct: bool) -> Result<Datum, EvalError> {
        let mut collected: Vec<(&Datum, Diff)> = values.collect();
        if distinct {
            collected.retain(|(d, _)| !d.is_null());
            collected.sort_by(|a, b| compare(a.0, b.0));
            collected.dedup_by(|a, b| compare(a.0, b.0) == std::cmp::Ordering::Equal);
            collected.iter_mut().for_each(|v| v.1 = 1);
        }
        let non_null = || collected.iter().filter(|(d, _)| !d.is_null());
        Ok(match self {
            AggregateFunc::CountAll => Datum::Int64(collected.iter().map(|(_, n)| *n).sum()),
            AggregateFunc::Count => Datum::Int64(non_null().map(|(_, n)| *n).sum()),
            AggregateFunc::Min => non_null()
                .map(|(d, _)| *d)
                .min_by(|a, b| compare(a, b))
                .cloned()
                .unwrap_or(Datum::Null),
            AggregateFunc::Max => non_null()
                .map(|(d, _)| *d)
                .max_by(|a, b| compare(a, b))
                .cloned()
                .unwrap_or(Datum::Null),
            AggregateFunc::BoolAnd => match non_null().next() {
                None => Datum::Null,
                Some(_) => Datum::Bool(non_null().all(|(d, _)| **d == Datum::Bool(true))),
            },
            AggregateFunc::BoolOr => match non_null().next() {
                None => Datum::Null,
                Some(_) => Datum::Bool(non_null().any(|(d, _)| **d == Datum::Bool(true))),
            },
            AggregateFunc::ArrayAgg => {
                let mut values: Vec<(&Datum, Diff)> = collected.clone();
                if values.is_empty() {
                    return Ok(Datum::Null);
                }
                values.sort_by(|a, b| nulls_last(a.0, b.0));
                Datum::Array(
                    values
                        .iter()
                        .flat_map(|(d, n)| std::iter::repeat_n((*d).clone(), *n as usize))
                        .collect(),
                )
            }
            AggregateFunc::StringAgg(sep) => {
                let mut values: Vec<(&Datum, Diff)> = non_null().cloned().collect();
                if values.is_empty() {
                    return Ok(Datum::Null);
                }
                values.sort_by(|a, b| compare(a.0, b.0));
                let parts: Vec<String> = values
                    .iter()
                    .flat_map(|(d, n)| std::iter::repeat_n(riffle_repr::strconv::format_datum(d).unwrap_or_default(), *n as usize))
                    .collect();
                Datum::String(parts.join(sep))
            }
            AggregateFunc::Mode => {
                let mut counts: Vec<(&Datum, Diff)> = Vec::new();
                for (d, n) in non_null() {
                    match counts.iter_mut().find(|(x, _)| compare(x, d) == std::cmp::Ordering::Equal) {
                        Some((_, c)) => *c += *n,
                        None => counts.push((d, *n)),
                    }
                }
                counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| compare(a.0, b.0)));
                counts.first().map_or(Datum::Null, |(d, _)| (*d).clone())
            }
            AggregateFunc::PercentileCont(F64(f)) | AggregateFunc::PercentileDisc(F64(f)) => {
                let mut values: Vec<(&Datum, Diff)> = non_null().cloned().collect();
                if values.is_empty() {
                    return Ok(Datum::Null);
                }
                if !(0.0..=1.0).contains(f) {
                    return Err(EvalError::InvalidArgument(format!("percentile value {f} is not between 0 and 1")));
                }
                values.sort_by(|a, b| compare(a.0, b.0));
                let sorted: Vec<&Datum> = values.iter().flat_map(|(d, n)| std::iter::repeat_n(*d, *n as usize)).collect();
                let n = sorted.len();
                if matches!(self, AggregateFunc::PercentileDisc(_)) {
                    // The first value whose cumulative position reaches f (PostgreSQL's rule).
                    let idx = ((f * n as f64).ceil() as usize).max(1) - 1;
                    return Ok(sorted[idx.min(n - 1)].clone());
                }
                let pos = f * (n - 1) as f64;
                let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
                let (a, b) = (crate::func::as_f64(sorted[lo]), crate::func::as_f64(sorted[hi]));
                Datum::f64(a + (b - a) * (pos - lo as f64))
            }
            AggregateFunc::Variance {
                population,
                sqrt,
                numeric: true,
            } => numeric_variance(non_null().map(|(d, n)| (*d, *n)), *population, *sqrt)?,
            AggregateFunc::Variance {
                population,
                sqrt,
                numeric: false,
            } => {
                // PostgreSQL's float8_accum (Youngs-Cramer), over the values in sorted order.
                let mut values: Vec<(f64, Diff)> = non_null().map(|(d, n)| (crate::func::as_f64(d), *n)).collect();
                values.sort_by(|a, b| a.0.total_cmp(&b.0));
                let (mut n, mut sx, mut sxx) = (0f64, 0f64, 0f64);
                for (x, copies) in values {
                    for _ in 0..copies {
                        n += 1.0;
                        sx += x;
                        if n > 1.0 {
                            let tmp = x * n - sx;
                            sxx += tmp * tmp / (n * (n - 1.0));
                        }
                    }
                }
                let denom = if *population { n } else { n - 1.0 };
                if n == 0.0 || denom <= 0.0 {
                    return Ok(Datum::Null);
                }
                let var = sxx / denom;
                Datum::f64(if *sqrt { var.sqrt() } else { var })
            }
            AggregateFunc::Sum(out) | AggregateFunc::SumIntegers(out) => match sum(non_null())? {
                None => Datum::Null,
                Some((total, _)) => total.into_datum(out)?,
            },
            AggregateFunc::Avg(out) => match sum(non_null())? {
                None => Datum::Null,
                Some((total, count)) => total.average(count, out)?,
            },
            AggregateFunc::AvgIntegers => match sum(non_null())? {
                None => Datum::Null,
                Some((total, count)) => total.average(count, &ScalarType::NUMERIC)?,
            },
        })
    }
}

/// PostgreSQL's numeric_stddev_internal: (N·Σx² − (Σx)²) / (N·(N−1)) at the division's scale,
/// and its square root at the same scale.
fn numeric_variance<'a>(values: impl Iterator<Item = (&'a Datum, Diff)>, population: bool, sqrt: bool) -> Result<Datum, EvalError> {
    let overflow = || EvalError::OutOfRange("numeric".into());
    let (mut n, mut sum, mut sum2) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for (d, copies) in values {
        let x = match d {
            Datum::Numeric(v) => *v,
            Datum::Int16(v) => Decimal::from(*v),
            Datum::Int32(v) => Decimal::from(*v),
            Datum::Int64(v) => Decimal::from(*v),
            _ => return Err(EvalError::InvalidArgument("variance of a non-numeric value".into())),
        };
        let c = Decimal::from(copies);
        n += c;
        sum = sum.checked_add(x.checked_mul(c).ok_or_else(overflow)?).ok_or_else(overflow)?;
        sum2 = sum2
            .checked_add(x.checked_mul(x).and_then(|xx| xx.checked_mul(c)).ok_or_else(overflow)?)
            .ok_or_else(overflow)?;
    }
    let denominator = if population { n * n } else { n * (n - Decimal::ONE) };
    if n.is_zero() || denominator <= Decimal::ZERO {
        return Ok(Datum::Null);
    }
    let numerator = n
        .checked_mul(sum2)
        .and_then(|a| sum.checked_mul(sum).and_then(|b| a.checked_sub(b)))
        .ok_or_else(overflow)?;
    if numerator <= Decimal::ZERO {
        return Ok(Datum::Numeric(Decimal::ZERO));
    }
    let variance = numeric_div(numerator, denominator)?;
    if !sqrt {
        return Ok(Datum::Numeric(variance));
    }
    let scale = variance.scale();
    // Newton's method from the f64 estimate: two steps reach Decimal's precision.
    let mut root = Decimal::from_f64_retain(crate::func::as_f64(&Datum::Numeric(variance)).sqrt()).unwrap_or(Decimal::ONE);
    for _ in 0..3 {
        root = (root + variance.checked_div(root).ok_or_else(overflow)?) / Decimal::TWO;
    }
    let mut root = root.round_dp_with_strategy(scale, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    root.rescale(scale);
    Ok(Datum::Numeric(root))
}

fn nulls_last(a: &Datum, b: &Datum) -> std::cmp::Ordering {
    match (a.is_null(), b.is_null()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        (false, false) => compare(a, b),
    }
}

/// A running sum in the widest representation its inputs need.
enum Total {
    Int(i128),
    Numeric(Decimal),
    Float(f64),
    Interval(i128, i128, i128),
}

fn sum<'a, 'b>(values: impl Iterator<Item = &'b (&'a Datum, Diff)>) -> Result<Option<(Total, i64)>, EvalError>
where
    'a: 'b,
{
    let mut total: Option<Total> = None;
    let mut count = 0i64;
    for (d, n) in values {
        count += n;
        let n128 = *n as i128;
        let next = match (total.take(), d) {
            (prev @ (None | Some(Total::Int(_))), Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_)) => {
                let v = match d {
                    Datum::Int16(v) => *v as i128,
                    Datum::Int32(v) => *v as i128,
                    Datum::Int64(v) => *v as i128,
                    _ => unreachable!(),
                };
                let prev = match prev {
                    Some(Total::Int(p)) => p,
                    _ => 0,
                };
                Total::Int(prev + v * n128)
            }
            (prev, Datum::Numeric(v)) => {
                let p = match prev {
                    Some(Total::Numeric(p)) => p,
                    _ => Decimal::ZERO,
                };
                let product = crate::func::decimal_mul(*v, Decimal::from(*n)).ok_or(EvalError::OutOfRange("numeric".into()))?;
                Total::Numeric(p.checked_add(product).ok_or(EvalError::OutOfRange("numeric".into()))?)
            }
            (prev, Datum::Float32(_) | Datum::Float64(_)) => {
                let v = match d {
                    Datum::Float32(F32(v)) => *v as f64,
                    Datum::Float64(v) => v.0,
                    _ => unreachable!(),
                };
                let p = match prev {
                    Some(Total::Float(p)) => p,
                    _ => 0.0,
                };
                Total::Float(p + v * *n as f64)
            }
            (prev, Datum::Interval(iv)) => {
                let (m, dd, us) = match prev {
                    Some(Total::Interval(m, dd, us)) => (m, dd, us),
                    _ => (0, 0, 0),
                };
                Total::Interval(
                    m + iv.months as i128 * n128,
                    dd + iv.days as i128 * n128,
                    us + iv.micros as i128 * n128,
                )
            }
            (_, other) => return Err(EvalError::InvalidArgument(format!("cannot sum {other:?}"))),
        };
        total = Some(next);
    }
    Ok(total.map(|t| (t, count)))
}

/// The value `sum` returns for an exact integer total, in its output type `out`.
pub fn integer_sum(total: i128, out: &ScalarType) -> Result<Datum, EvalError> {
    Total::Int(total).into_datum(out)
}

/// `avg` of integers from their exact total and count (count > 0), as [`AggregateFunc::eval`]
/// computes it: the numeric division at PostgreSQL's scale.
pub fn integer_average(total: i128, count: i64) -> Result<Datum, EvalError> {
    Total::Int(total).average(count, &ScalarType::NUMERIC)
}

impl Total {
    fn into_datum(self, out: &ScalarType) -> Result<Datum, EvalError> {
        Ok(match (self, out) {
            (Total::Int(v), ScalarType::Int64) => Datum::Int64(i64::try_from(v).map_err(|_| EvalError::OutOfRange("bigint".into()))?),
            (Total::Int(v), _) => {
                Datum::Numeric(Decimal::try_from_i128_with_scale(v, 0).map_err(|_| EvalError::OutOfRange("numeric".into()))?)
            }
            (Total::Numeric(v), _) => Datum::Numeric(v),
            (Total::Float(v), ScalarType::Float32) => Datum::Float32(F32(v as f32)),
            (Total::Float(v), _) => Datum::f64(v),
            (Total::Interval(m, d, us), _) => Datum::Interval(Interval {
                months: m.try_into().map_err(|_| EvalError::OutOfRange("interval".into()))?,
                days: d.try_into().map_err(|_| EvalError::OutOfRange("interval".into()))?,
                micros: us.try_into().map_err(|_| EvalError::OutOfRange("interval".into()))?,
            }),
        })
    }

    fn average(self, count: i64, out: &ScalarType) -> Result<Datum, EvalError> {
        Ok(match self {
            Total::Int(v) => Datum::Numeric(numeric_div(
                Decimal::try_from_i128_with_scale(v, 0).map_err(|_| EvalError::OutOfRange("numeric".into()))?,
                Decimal::from(count),
            )?),
            Total::Numeric(v) => Datum::Numeric(numeric_div(v, Decimal::from(count))?),
            Total::Float(v) => Datum::f64(v / count as f64),
            Total::Interval(m, d, us) => {
                let c = count as f64;
                let months = m as f64 / c;
                let days = d as f64 / c + months.fract() * 30.0;
                let micros = us as f64 / c + days.fract() * Interval::MICROS_PER_DAY as f64;
                let _ = out;
                Datum::Interval(Interval {
                    months: months.trunc() as i32,
                    days: days.trunc() as i32,
                    micros: micros.round() as i64,
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_accumulate_every_value() {
        let vals = [Datum::Int32(30), Datum::Int32(40), Datum::Null];
        let out = AggregateFunc::Sum(ScalarType::Int64)
            .eval(vals.iter().map(|d| (d, 2)), false)
            .unwrap();
        assert_eq!(out, Datum::Int64(140));
        let avg = AggregateFunc::Avg(ScalarType::NUMERIC)
            .eval(vals.iter().map(|d| (d, 1)), false)
            .unwrap();
        assert_eq!(riffle_repr::strconv::format_datum(&avg).unwrap(), "35.0000000000000000");
        let count = AggregateFunc::Count.eval(vals.iter().map(|d| (d, 1)), true).unwrap();
        assert_eq!(count, Datum::Int64(2));
    }
}
