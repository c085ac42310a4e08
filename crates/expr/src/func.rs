//! Scalar functions and operators, evaluated with PostgreSQL semantics.
//!
//! The planner resolves overloads and inserts casts, so most functions here see operands of
//! one type and dispatch on the datums themselves.

use crate::EvalError;
use chrono::{Datelike, Duration, Months, NaiveDate, NaiveDateTime, Timelike};
use riffle_repr::strconv::{self, date_from_days, datetime_from_micros, days_from_date, micros_from_datetime};
use riffle_repr::{Datum, DatumRef, Interval, ScalarType, F32, F64};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

mod arith;
mod cast;
mod datetime;
mod json;
mod text;
pub use self::arith::*;
pub use self::cast::*;
pub use self::datetime::*;
use self::json::*;
use self::text::*;

/// A scalar function or operator.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum Func {
    // Arithmetic (operands share a type, or are date/time with interval).
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Neg,
    Abs,
    Power,
    Sqrt,
    Exp,
    Ln,
    Log10,
    Ceil,
    Floor,
    Round,
    Trunc,
    Sign,
    // Comparison.
    Eq,
    NotEq,
    Lt,
    Lte,
    Gt,
    Gte,
    /// `IS DISTINCT FROM` (not strict).
    IsDistinctFrom,
    /// `IS NOT DISTINCT FROM` (not strict).
    IsNotDistinctFrom,
    /// `IS NULL` (not strict).
    IsNull,
    /// `IS TRUE` (not strict).
    IsTrue,
    /// `IS FALSE` (not strict).
    IsFalse,
    Not,
    /// `NULLIF(a, b)` (not strict in its first argument).
    NullIf,
    /// `GREATEST` (ignores NULLs).
    Greatest,
    /// `LEAST` (ignores NULLs).
    Least,
    // Strings.
    /// `||` on text.
    TextConcat,
    /// `concat(...)`, which skips NULLs.
    Concat,
    /// `concat_ws(sep, ...)`, which skips NULLs.
    ConcatWs,
    Lower,
    Upper,
    CharLength,
    OctetLength,
    Substr,
    BTrim,
    LTrim,
    RTrim,
    Replace,
    Position,
    Left,
    Right,
    Lpad,
    Rpad,
    SplitPart,
    StartsWith,
    Reverse,
    Initcap,
    Repeat,
    Md5,
    /// `encode(bytea, 'hex' | 'base64' | 'escape')`
    Encode,
    /// `predict('model', features…)` / `predict_proba(…)`: scores one row with a model (the
    /// features are float8 arguments, or one float8[]).
    Predict {
        model: String,
        proba: bool,
    },
    /// A double precision function of PostgreSQL's (`sin`, `cos`, `atan2`, `cbrt`, `degrees`, …),
    /// by name.
    FloatMath(FloatFn),
    /// `width_bucket(x, low, high, count)`: the equi-width bucket of x (0 below, count + 1 above).
    WidthBucket,
    /// `width_bucket(x, thresholds[])`: how many of the sorted thresholds are ≤ x.
    WidthBucketArray,
    /// `one_hot(x, categories[])`: float8[] with 1 where x equals the category, else 0.
    OneHot,
    /// `word_count(text)`: the number of whitespace-separated words.
    WordCount,
    /// `tokenize('model', text)`: a text model's token ids (integer[]).
    Tokenize {
        model: String,
    },
    /// `embed('model', text)`: a sentence embedding (float4[]) from a text-embedding model.
    Embed {
        model: String,
    },
    /// `cosine_similarity(a, b)` of two float8[] vectors.
    CosineSimilarity,
    /// `l2_distance(a, b)`: Euclidean distance.
    L2Distance,
    /// `inner_product(a, b)`: dot product.
    InnerProduct,
    /// `decode(text, 'hex' | 'base64' | 'escape')`
    Decode,
    Ascii,
    Chr,
    /// `LIKE` with the escape character `\`.
    Like {
        case_insensitive: bool,
    },
    /// `~` family: regular expression match.
    RegexMatch {
        case_insensitive: bool,
    },
    RegexpReplace,
    // Date and time.
    /// `date_trunc(unit, ts)`.
    DateTrunc,
    /// `extract(field from x)`, returning numeric.
    Extract,
    /// `date_part(field, x)`, returning double precision.
    DatePart,
    MakeDate,
    /// `age(a, b)`.
    Age,
    ToTimestamp,
    // Casts.
    /// Cast to the given type.
    Cast(ScalarType),
    // jsonb.
    /// `->` (field or element as jsonb).
    JsonbGet,
    /// `->>` (field or element as text).
    JsonbGetText,
    /// `pg_typeof` already resolved: returns its text argument.
    Identity,
    /// The current wall-clock time (column defaults only; queries fold `now()` at plan time).
    Now,
    /// Assignment to `varchar(n)`: errors when the text is longer than `n`.
    CheckVarChar(u32),
    /// A join key that lets NULL match NULL: paired with `IsNull`, it maps NULL to `false`
    /// and every other value to itself (not strict).
    NullSafeKey,
    /// `ARRAY[a, b, …]` (not strict: elements may be NULL).
    ArrayConstruct,
    /// `array || array` (`array_cat`): NULL on one side gives the other.
    ArrayCat,
    /// `arr[i]`, 1-based; NULL outside the bounds.
    ArrayIndex,
    /// `array_length(arr, 1)`: NULL for an empty array, as in PostgreSQL.
    ArrayLength,
    /// `cardinality(arr)`.
    Cardinality,
    /// `array_to_string(arr, sep)`: NULL elements are skipped.
    ArrayToString,
    /// `x = ANY(arr)` with three-valued logic (not strict in the array's elements).
    EqAny,
    /// `j #> path` / `j #>> path` (path is a text[]).
    JsonbPath {
        /// `#>>`: the result as text.
        as_text: bool,
    },
    /// `a @> b`: jsonb containment.
    JsonbContains,
    /// `j ? key`: a top-level key (or array string element) exists.
    JsonbHasKey,
    /// `jsonb_build_object(k1, v1, …)` (not strict).
    JsonbBuildObject,
    /// `jsonb_build_array(…)` (not strict).
    JsonbBuildArray,
    /// `to_jsonb(x)`.
    ToJsonb,
    /// `jsonb_typeof(j)`.
    JsonbTypeof,
    /// `jsonb_array_length(j)`.
    JsonbArrayLength,
    /// `regexp_match(s, pattern[, flags])`: the first match's capture groups as text[].
    RegexpMatch,
    /// `x AT TIME ZONE z`: timestamptz → wall-clock timestamp in z, or timestamp → timestamptz.
    AtTimeZone(riffle_repr::zone::Zone),
    /// `to_char(timestamp, format)` with PostgreSQL's common date/time patterns.
    ToChar,
    /// `date_bin(stride, source, origin)`: the start of the stride-sized bin holding source.
    DateBin,
    /// `mz_now()`: the logical time a row is read at. Only allowed in temporal filters, which
    /// the planner turns into `RelExpr::TemporalFilter`; never evaluated per row.
    MzNow,
}

/// The double precision functions of [`Func::FloatMath`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum FloatFn {
    Sin,
    Cos,
    Tan,
    Cot,
    Asin,
    Acos,
    Atan,
    Atan2,
    Sinh,
    Cosh,
    Tanh,
    Cbrt,
    Degrees,
    Radians,
}

impl FloatFn {
    /// The function a SQL name calls, with its argument count.
    pub fn from_name(name: &str) -> Option<(FloatFn, usize)> {
        use FloatFn::*;
        Some(match name {
            "sin" => (Sin, 1),
            "cos" => (Cos, 1),
            "tan" => (Tan, 1),
            "cot" => (Cot, 1),
            "asin" => (Asin, 1),
            "acos" => (Acos, 1),
            "atan" => (Atan, 1),
            "atan2" => (Atan2, 2),
            "sinh" => (Sinh, 1),
            "cosh" => (Cosh, 1),
            "tanh" => (Tanh, 1),
            "cbrt" => (Cbrt, 1),
            "degrees" => (Degrees, 1),
            "radians" => (Radians, 1),
            _ => return None,
        })
    }
}

impl Func {
    /// Whether a NULL argument yields NULL without calling the function.
    pub fn is_strict(&self) -> bool {
        !matches!(
            self,
            Func::IsDistinctFrom
                | Func::IsNotDistinctFrom
                | Func::IsNull
                | Func::IsTrue
                | Func::IsFalse
                | Func::NullIf
                | Func::Greatest
                | Func::Least
                | Func::Concat
                | Func::ConcatWs
                | Func::Identity
                | Func::NullSafeKey
                | Func::ArrayConstruct
                | Func::ArrayCat
                | Func::JsonbBuildObject
                | Func::JsonbBuildArray
        )
    }

    /// Applies the function to evaluated arguments.
    pub fn eval(&self, a: &[Datum]) -> Result<Datum, EvalError> {
        use Datum::*;
        Ok(match self {
            Func::Add => add(&a[0], &a[1])?,
            Func::Sub => sub(&a[0], &a[1])?,
            Func::Mul => mul(&a[0], &a[1])?,
            Func::Div => div(&a[0], &a[1])?,
            Func::Mod => modulo(&a[0], &a[1])?,
            Func::Neg => neg(&a[0])?,
            Func::Abs => abs(&a[0])?,
            Func::Power => float_or_numeric2(
                &a[0],
                &a[1],
                |x, y| x.powf(y),
                |x, y| {
                    let xf = x.to_f64().unwrap_or(f64::NAN);
                    Decimal::from_f64(xf.powf(y.to_f64().unwrap_or(f64::NAN)))
                },
            )?,
            Func::Sqrt => {
                if as_f64(&a[0]) < 0.0 {
                    return Err(EvalError::InvalidArgument("cannot take square root of a negative number".into()));
                }
                float_or_numeric1(&a[0], f64::sqrt)?
            }
            Func::Exp => float_or_numeric1(&a[0], f64::exp)?,
            Func::Ln | Func::Log10 => {
                let v = as_f64(&a[0]);
                if v == 0.0 {
                    return Err(EvalError::InvalidArgument("cannot take logarithm of zero".into()));
                }
                if v < 0.0 {
                    return Err(EvalError::InvalidArgument("cannot take logarithm of a negative number".into()));
                }
                float_or_numeric1(&a[0], if *self == Func::Ln { f64::ln } else { f64::log10 })?
            }
            Func::Ceil => round_like(&a[0], f64::ceil, RoundingStrategy::ToPositiveInfinity)?,
            Func::Floor => round_like(&a[0], f64::floor, RoundingStrategy::ToNegativeInfinity)?,
            Func::Round => match (&a[0], a.get(1)) {
                (Numeric(d), Some(Int32(s))) => Numeric(round_decimal(*d, *s, RoundingStrategy::MidpointAwayFromZero)),
                (_, None) => round_like(&a[0], |f: f64| f.round_ties_even(), RoundingStrategy::MidpointAwayFromZero)?,
                _ => return Err(EvalError::InvalidArgument("round(x, s) requires numeric x".into())),
            },
            Func::Trunc => match (&a[0], a.get(1)) {
                (Numeric(d), Some(Int32(s))) => Numeric(round_decimal(*d, *s, RoundingStrategy::ToZero)),
                _ => round_like(&a[0], f64::trunc, RoundingStrategy::ToZero)?,
            },
            Func::Sign => match &a[0] {
                Numeric(d) => Numeric(if d.is_zero() {
                    Decimal::ZERO
                } else if d.is_sign_negative() {
                    Decimal::NEGATIVE_ONE
                } else {
                    Decimal::ONE
                }),
                other => Datum::f64(as_f64(other).signum() * if as_f64(other) == 0.0 { 0.0 } else { 1.0 }),
            },
            Func::Eq => Bool(compare(&a[0], &a[1]) == Ordering::Equal),
            Func::NotEq => Bool(compare(&a[0], &a[1]) != Ordering::Equal),
            Func::Lt => Bool(compare(&a[0], &a[1]) == Ordering::Less),
            Func::Lte => Bool(compare(&a[0], &a[1]) != Ordering::Greater),
            Func::Gt => Bool(compare(&a[0], &a[1]) == Ordering::Greater),
            Func::Gte => Bool(compare(&a[0], &a[1]) != Ordering::Less),
            Func::IsDistinctFrom => Bool(distinct(&a[0], &a[1])),
            Func::IsNotDistinctFrom => Bool(!distinct(&a[0], &a[1])),
            Func::IsNull => Bool(a[0].is_null()),
            Func::IsTrue => Bool(a[0] == Bool(true)),
            Func::IsFalse => Bool(a[0] == Bool(false)),
            Func::Not => Bool(!bool_arg(&a[0])?),
            Func::NullIf => {
                if !a[0].is_null() && !a[1].is_null() && compare(&a[0], &a[1]) == Ordering::Equal {
                    Null
                } else {
                    a[0].clone()
                }
            }
            Func::Greatest => a
                .iter()
                .filter(|d| !d.is_null())
                .max_by(|x, y| compare(x, y))
                .cloned()
                .unwrap_or(Null),
            Func::Least => a
                .iter()
                .filter(|d| !d.is_null())
                .min_by(|x, y| compare(x, y))
                .cloned()
                .unwrap_or(Null),
            Func::TextConcat => String(format!("{}{}", text(&a[0])?, text(&a[1])?)),
            Func::Concat => String(a.iter().filter_map(display_text).collect()),
            Func::ConcatWs => match &a[0] {
                Null => Null,
                sep => {
                    let sep = text(sep)?;
                    String(a[1..].iter().filter_map(display_text).collect::<Vec<_>>().join(sep))
                }
            },
            Func::Encode => {
                let Bytes(b) = &a[0] else {
                    return Err(EvalError::InvalidArgument("encode needs bytea".into()));
                };
                String(encode_bytes(b, text(&a[1])?)?)
            }
            Func::Decode => Bytes(decode_bytes(text(&a[0])?, text(&a[1])?)?),
            Func::Predict { model, proba } => {
                let Some(row) = crate::batch::features(a) else {
                    return Ok(Null);
                };
                let scorer = crate::scoring::scorer()
                    .ok_or_else(|| EvalError::InvalidArgument("models are not available in this process".into()))?;
                let mut out = scorer.score(model, None, &[row], *proba).map_err(EvalError::InvalidArgument)?;
                out.pop().unwrap_or(Null)
            }
            Func::FloatMath(f) => {
                let x = as_f64(&a[0]);
                let v = match f {
                    FloatFn::Sin => x.sin(),
                    FloatFn::Cos => x.cos(),
                    FloatFn::Tan => x.tan(),
                    FloatFn::Cot => 1.0 / x.tan(),
                    FloatFn::Asin | FloatFn::Acos if !(-1.0..=1.0).contains(&x) => {
                        return Err(EvalError::OutOfRange("input is out of range".into()))
                    }
                    FloatFn::Asin => x.asin(),
                    FloatFn::Acos => x.acos(),
                    FloatFn::Atan => x.atan(),
                    FloatFn::Atan2 => x.atan2(as_f64(&a[1])),
                    FloatFn::Sinh => x.sinh(),
                    FloatFn::Cosh => x.cosh(),
                    FloatFn::Tanh => x.tanh(),
                    FloatFn::Cbrt => x.cbrt(),
                    FloatFn::Degrees => x.to_degrees(),
                    FloatFn::Radians => x.to_radians(),
                };
                Datum::f64(v)
            }
            Func::WidthBucket => {
                let (x, lo, hi) = (as_f64(&a[0]), as_f64(&a[1]), as_f64(&a[2]));
                let n = int_arg(&a[3])?;
                if n <= 0 {
                    return Err(EvalError::InvalidArgument("count must be greater than zero".into()));
                }
                if lo == hi || !lo.is_finite() || !hi.is_finite() {
                    return Err(EvalError::InvalidArgument("lower bound cannot equal upper bound".into()));
                }
                let bucket = if lo < hi {
                    if x < lo {
                        0
                    } else if x >= hi {
                        n + 1
                    } else {
                        ((x - lo) / (hi - lo) * n as f64).floor() as i64 + 1
                    }
                } else if x > lo {
                    0
                } else if x <= hi {
                    n + 1
                } else {
                    ((lo - x) / (lo - hi) * n as f64).floor() as i64 + 1
                };
                Int32(bucket.min(n + 1) as i32)
            }
            Func::WidthBucketArray => {
                let Array(thresholds) = &a[1] else {
                    return Err(EvalError::InvalidArgument("thresholds must be an array".into()));
                };
                let n = thresholds
                    .iter()
                    .take_while(|t| !t.is_null() && compare(t, &a[0]) != Ordering::Greater)
                    .count();
                Int32(n as i32)
            }
            Func::OneHot => {
                let Array(categories) = &a[1] else {
                    return Err(EvalError::InvalidArgument("one_hot needs an array of categories".into()));
                };
                Array(
                    categories
                        .iter()
                        .map(|c| {
                            Datum::f64(if !c.is_null() && compare(c, &a[0]) == Ordering::Equal {
                                1.0
                            } else {
                                0.0
                            })
                        })
                        .collect(),
                )
            }
            Func::WordCount => Int32(text(&a[0])?.split_whitespace().count() as i32),
            Func::Tokenize { model } => {
                let scorer = crate::scoring::scorer()
                    .ok_or_else(|| EvalError::InvalidArgument("models are not available in this process".into()))?;
                let ids = scorer.tokenize(model, text(&a[0])?).map_err(EvalError::InvalidArgument)?;
                Array(ids.into_iter().map(|i| Int32(i as i32)).collect())
            }
            Func::Embed { model } => {
                let text = match &a[0] {
                    Null => return Ok(Null),
                    t => crate::batch::text_input(t),
                };
                let scorer = crate::scoring::scorer()
                    .ok_or_else(|| EvalError::InvalidArgument("models are not available in this process".into()))?;
                let mut out = scorer.embed(model, None, &[text.as_str()]).map_err(EvalError::InvalidArgument)?;
                out.pop().unwrap_or(Null)
            }
            Func::CosineSimilarity | Func::L2Distance | Func::InnerProduct => match (vector(&a[0])?, vector(&a[1])?) {
                (Some(x), Some(y)) => {
                    if x.len() != y.len() {
                        return Err(EvalError::InvalidArgument(format!(
                            "different vector dimensions {} and {}",
                            x.len(),
                            y.len()
                        )));
                    }
                    let dot: f64 = x.iter().zip(&y).map(|(p, q)| p * q).sum();
                    Float64(F64(match self {
                        Func::InnerProduct => dot,
                        Func::L2Distance => x.iter().zip(&y).map(|(p, q)| (p - q) * (p - q)).sum::<f64>().sqrt(),
                        _ => {
                            let norm = |v: &[f64]| v.iter().map(|p| p * p).sum::<f64>().sqrt();
                            dot / (norm(&x) * norm(&y))
                        }
                    }))
                }
                _ => Null,
            },
            Func::Lower => String(text(&a[0])?.to_lowercase()),
            Func::Upper => String(text(&a[0])?.to_uppercase()),
            Func::CharLength => Int32(text(&a[0])?.chars().count() as i32),
            Func::OctetLength => Int32(match &a[0] {
                Bytes(b) => b.len(),
                other => text(other)?.len(),
            } as i32),
            Func::Substr => substr(text(&a[0])?, int_arg(&a[1])?, a.get(2).map(int_arg).transpose()?)?,
            Func::BTrim | Func::LTrim | Func::RTrim => {
                let s = text(&a[0])?;
                let chars: Vec<char> = match a.get(1) {
                    Some(c) => text(c)?.chars().collect(),
                    None => vec![' '],
                };
                let matcher = |c: char| chars.contains(&c);
                String(
                    match self {
                        Func::BTrim => s.trim_matches(matcher),
                        Func::LTrim => s.trim_start_matches(matcher),
                        _ => s.trim_end_matches(matcher),
                    }
                    .to_string(),
                )
            }
            Func::Replace => {
                let from = text(&a[1])?;
                if from.is_empty() {
                    a[0].clone()
                } else {
                    String(text(&a[0])?.replace(from, text(&a[2])?))
                }
            }
            Func::Position => {
                let hay = text(&a[1])?;
                Int32(match hay.find(text(&a[0])?) {
                    Some(byte) => hay[..byte].chars().count() as i32 + 1,
                    None => 0,
                })
            }
            Func::Left | Func::Right => {
                let chars: Vec<char> = text(&a[0])?.chars().collect();
                let n = int_arg(&a[1])?;
                let len = chars.len() as i64;
                let keep = if n >= 0 { n.min(len) } else { (len + n).max(0) } as usize;
                String(if *self == Func::Left {
                    chars[..keep].iter().collect()
                } else {
                    chars[chars.len() - keep..].iter().collect()
                })
            }
            Func::Lpad | Func::Rpad => {
                let s: Vec<char> = text(&a[0])?.chars().collect();
                let len = int_arg(&a[1])?.max(0) as usize;
                check_length(len)?;
                let fill: Vec<char> = match a.get(2) {
                    Some(f) => text(f)?.chars().collect(),
                    None => vec![' '],
                };
                if s.len() >= len || fill.is_empty() {
                    String(s[..len.min(s.len())].iter().collect())
                } else {
                    let pad: std::string::String = fill.iter().cycle().take(len - s.len()).collect();
                    let s: std::string::String = s.iter().collect();
                    String(if *self == Func::Lpad { pad + &s } else { s + &pad })
                }
            }
            Func::SplitPart => {
                let n = int_arg(&a[2])?;
                if n == 0 {
                    return Err(EvalError::InvalidArgument("field position must not be zero".into()));
                }
                let (s, delim) = (text(&a[0])?, text(&a[1])?);
                let parts: Vec<&str> = if delim.is_empty() { vec![s] } else { s.split(delim).collect() };
                let idx = if n > 0 { n - 1 } else { parts.len() as i64 + n };
                String(
                    usize::try_from(idx)
                        .ok()
                        .and_then(|i| parts.get(i))
                        .copied()
                        .unwrap_or("")
                        .to_string(),
                )
            }
            Func::StartsWith => Bool(text(&a[0])?.starts_with(text(&a[1])?)),
            Func::Reverse => String(text(&a[0])?.chars().rev().collect()),
            Func::Initcap => {
                let mut out = std::string::String::new();
                let mut start = true;
                for c in text(&a[0])?.chars() {
                    if c.is_alphanumeric() {
                        if start {
                            out.extend(c.to_uppercase())
                        } else {
                            out.extend(c.to_lowercase())
                        }
                        start = false;
                    } else {
                        out.push(c);
                        start = true;
                    }
                }
                String(out)
            }
            Func::Repeat => {
                let (s, n) = (text(&a[0])?, int_arg(&a[1])?.max(0) as usize);
                check_length(s.len().saturating_mul(n))?;
                String(s.repeat(n))
            }
            Func::Md5 => return Err(EvalError::InvalidArgument("md5 is not supported".into())),
            Func::Ascii => Int32(text(&a[0])?.chars().next().map_or(0, |c| c as i32)),
            Func::Chr => {
                let code = int_arg(&a[0])?;
                match u32::try_from(code).ok().and_then(char::from_u32) {
                    Some(c) if code != 0 => String(c.to_string()),
                    _ => return Err(EvalError::InvalidArgument(format!("requested character not valid: {code}"))),
                }
            }
            Func::Like { case_insensitive } => Bool(like(text(&a[0])?, text(&a[1])?, *case_insensitive)?),
            Func::RegexMatch { case_insensitive } => Bool(build_regex(text(&a[1])?, *case_insensitive)?.is_match(text(&a[0])?)),
            Func::RegexpReplace => {
                let flags = match a.get(3) {
                    Some(f) => text(f)?.to_string(),
                    None => std::string::String::new(),
                };
                let re = build_regex(text(&a[1])?, flags.contains('i'))?;
                let replacement = text(&a[2])?.replace("\\&", "$0").replace('\\', "$");
                String(if flags.contains('g') {
                    re.replace_all(text(&a[0])?, replacement.as_str()).into_owned()
                } else {
                    re.replace(text(&a[0])?, replacement.as_str()).into_owned()
                })
            }
            Func::DateTrunc => date_trunc(text(&a[0])?, &a[1])?,
            Func::Extract => Numeric(extract(text(&a[0])?, &a[1])?),
            Func::DatePart => Datum::f64(extract(text(&a[0])?, &a[1])?.to_f64().unwrap_or(f64::NAN)),
            Func::MakeDate => {
                let (y, m, d) = (int_arg(&a[0])?, int_arg(&a[1])?, int_arg(&a[2])?);
                let date = NaiveDate::from_ymd_opt(y as i32, m as u32, d as u32)
                    .ok_or_else(|| EvalError::InvalidArgument(format!("date field value out of range: {y}-{m:02}-{d:02}")))?;
                Date(days_from_date(date))
            }
            Func::Age => age(&a[0], &a[1])?,
            Func::ToTimestamp => {
                let secs = as_f64(&a[0]);
                TimestampTz((secs * 1e6).round() as i64)
            }
            Func::Cast(to) => cast(&a[0], to)?,
            Func::JsonbGet | Func::JsonbGetText => jsonb_get(&a[0], &a[1], *self == Func::JsonbGetText)?,
            Func::Identity => a[0].clone(),
            Func::Now => TimestampTz(chrono::Utc::now().timestamp_micros()),
            Func::NullSafeKey => {
                if a[0].is_null() {
                    Bool(false)
                } else {
                    a[0].clone()
                }
            }
            Func::ArrayConstruct => Array(a.to_vec()),
            Func::ArrayCat => match (&a[0], &a[1]) {
                (Null, Null) => Null,
                (Null, x) | (x, Null) => x.clone(),
                (Array(x), Array(y)) => Array(x.iter().chain(y).cloned().collect()),
                _ => return Err(EvalError::InvalidArgument("|| needs arrays".into())),
            },
            Func::JsonbPath { as_text } => {
                let Array(path) = &a[1] else {
                    return Err(EvalError::InvalidArgument("jsonb path must be a text array".into()));
                };
                let mut value = json_value(&a[0])?;
                for step in path {
                    let next = match (&value, step) {
                        (serde_json::Value::Object(map), String(k)) => map.get(k).cloned(),
                        (serde_json::Value::Array(items), String(k)) => k.parse::<i64>().ok().and_then(|i| {
                            let i = if i < 0 { items.len() as i64 + i } else { i };
                            usize::try_from(i).ok().and_then(|i| items.get(i).cloned())
                        }),
                        _ => None,
                    };
                    match next {
                        Some(v) => value = v,
                        None => return Ok(Null),
                    }
                }
                json_result(&value, *as_text)?
            }
            Func::JsonbContains => Bool(json_contains(&json_value(&a[0])?, &json_value(&a[1])?)),
            Func::JsonbHasKey => {
                let key = text(&a[1])?;
                Bool(match json_value(&a[0])? {
                    serde_json::Value::Object(map) => map.contains_key(key),
                    serde_json::Value::Array(items) => items.iter().any(|v| v.as_str() == Some(key)),
                    serde_json::Value::String(s) => s == key,
                    _ => false,
                })
            }
            Func::JsonbBuildObject => {
                if a.len() % 2 != 0 {
                    return Err(EvalError::InvalidArgument("argument list must have even number of elements".into()));
                }
                let mut map = serde_json::Map::new();
                for pair in a.chunks(2) {
                    let key = match &pair[0] {
                        Null => return Err(EvalError::InvalidArgument("argument 1: key must not be null".into())),
                        String(s) => s.clone(),
                        other => display_text(other).unwrap_or_default(),
                    };
                    map.insert(key, to_json(&pair[1])?);
                }
                json_datum(&serde_json::Value::Object(map))?
            }
            Func::JsonbBuildArray => json_datum(&serde_json::Value::Array(a.iter().map(to_json).collect::<Result<_, _>>()?))?,
            Func::ToJsonb => json_datum(&to_json(&a[0])?)?,
            Func::JsonbTypeof => String(
                match json_value(&a[0])? {
                    serde_json::Value::Null => "null",
                    serde_json::Value::Bool(_) => "boolean",
                    serde_json::Value::Number(_) => "number",
                    serde_json::Value::String(_) => "string",
                    serde_json::Value::Array(_) => "array",
                    serde_json::Value::Object(_) => "object",
                }
                .into(),
            ),
            Func::JsonbArrayLength => match json_value(&a[0])? {
                serde_json::Value::Array(items) => Int32(items.len() as i32),
                _ => return Err(EvalError::InvalidArgument("cannot get array length of a non-array".into())),
            },
            Func::MzNow => {
                return Err(EvalError::FeatureNotSupported(
                    "mz_now() may only be compared with a column expression in WHERE".into(),
                ))
            }
            Func::DateBin => {
                let Interval(stride) = &a[0] else {
                    return Err(EvalError::InvalidArgument("date_bin stride must be an interval".into()));
                };
                let (source, origin) = match (&a[1], &a[2]) {
                    (Timestamp(s), Timestamp(o)) | (TimestampTz(s), TimestampTz(o)) => (*s, *o),
                    _ => return Err(EvalError::InvalidArgument("date_bin expects two timestamps of one type".into())),
                };
                let start = date_bin(stride, source, origin)?;
                if matches!(a[1], Timestamp(_)) {
                    Timestamp(start)
                } else {
                    TimestampTz(start)
                }
            }
            Func::ToChar => {
                let (dt, _) = timestamp_of(&a[0])?;
                String(to_char(dt, text(&a[1])?))
            }
            Func::AtTimeZone(zone) => match &a[0] {
                TimestampTz(t) => {
                    let offset = datetime_from_micros(*t).map_or(0, |utc| zone.offset_at_utc(utc));
                    Timestamp(t + offset as i64 * 1_000_000)
                }
                Timestamp(t) => {
                    let offset = datetime_from_micros(*t).map_or(0, |local| zone.offset_at_local(local));
                    TimestampTz(t - offset as i64 * 1_000_000)
                }
                other => {
                    return Err(EvalError::InvalidArgument(format!(
                        "AT TIME ZONE does not apply to {}",
                        datum_type_name(other)
                    )))
                }
            },
            Func::RegexpMatch => {
                let flags = match a.get(2) {
                    Some(f) => text(f)?.to_string(),
                    None => std::string::String::new(),
                };
                let re = build_regex(text(&a[1])?, flags.contains('i'))?;
                match re.captures(text(&a[0])?) {
                    None => Null,
                    Some(caps) if caps.len() == 1 => Array(vec![String(caps[0].to_string())]),
                    Some(caps) => Array(
                        (1..caps.len())
                            .map(|i| caps.get(i).map_or(Null, |m| String(m.as_str().to_string())))
                            .collect(),
                    ),
                }
            }
            Func::ArrayIndex => match &a[0] {
                Array(items) => {
                    let i = int_arg(&a[1])?;
                    usize::try_from(i - 1).ok().and_then(|i| items.get(i)).cloned().unwrap_or(Null)
                }
                other => {
                    return Err(EvalError::InvalidArgument(format!(
                        "cannot subscript type {}",
                        datum_type_name(other)
                    )))
                }
            },
            Func::ArrayLength => match (&a[0], int_arg(&a[1])?) {
                (Array(items), 1) if !items.is_empty() => Int32(items.len() as i32),
                (Array(_), _) => Null,
                _ => return Err(EvalError::InvalidArgument("array_length requires an array".into())),
            },
            Func::Cardinality => match &a[0] {
                Array(items) => Int32(items.len() as i32),
                _ => return Err(EvalError::InvalidArgument("cardinality requires an array".into())),
            },
            Func::ArrayToString => match &a[0] {
                Array(items) => String(items.iter().filter_map(display_text).collect::<Vec<_>>().join(text(&a[1])?)),
                _ => return Err(EvalError::InvalidArgument("array_to_string requires an array".into())),
            },
            Func::EqAny => match &a[1] {
                Array(items) => {
                    let mut saw_null = false;
                    for item in items {
                        if item.is_null() {
                            saw_null = true;
                        } else if compare(&a[0], item) == Ordering::Equal {
                            return Ok(Bool(true));
                        }
                    }
                    if saw_null {
                        Null
                    } else {
                        Bool(false)
                    }
                }
                _ => return Err(EvalError::InvalidArgument("op ANY/ALL (array) requires array on right side".into())),
            },
            Func::CheckVarChar(n) => {
                let s = text(&a[0])?;
                if s.chars().count() > *n as usize {
                    let trimmed = s.trim_end_matches(' ');
                    if trimmed.chars().count() > *n as usize {
                        return Err(EvalError::StringTooLong(*n));
                    }
                    String(trimmed.chars().take(*n as usize).collect())
                } else {
                    a[0].clone()
                }
            }
        })
    }
}

/// PostgreSQL caps values at 1 GB; refusing larger results keeps a query from exhausting memory.
fn check_length(bytes: usize) -> Result<(), EvalError> {
    if bytes > (1 << 30) {
        return Err(EvalError::OutOfRange("requested length".into()));
    }
    Ok(())
}

fn bool_arg(d: &Datum) -> Result<bool, EvalError> {
    d.as_bool()
        .ok_or_else(|| EvalError::InvalidArgument("argument must be boolean".into()))
}

fn text(d: &Datum) -> Result<&str, EvalError> {
    match d {
        Datum::String(s) | Datum::Jsonb(s) => Ok(s),
        other => Err(EvalError::InvalidArgument(format!("expected text, got {other:?}"))),
    }
}

/// Text of a datum for `concat`, which prints every type as text output does.
fn display_text(d: &Datum) -> Option<String> {
    match d {
        Datum::Bool(b) => Some(if *b { "t" } else { "f" }.to_string()),
        other => strconv::format_datum(other),
    }
}

fn int_arg(d: &Datum) -> Result<i64, EvalError> {
    match d {
        Datum::Int16(v) => Ok(*v as i64),
        Datum::Int32(v) => Ok(*v as i64),
        Datum::Int64(v) => Ok(*v),
        other => Err(EvalError::InvalidArgument(format!("expected integer, got {other:?}"))),
    }
}

/// A numeric datum as f64 (anything else NaN).
pub fn as_f64(d: &Datum) -> f64 {
    match d {
        Datum::Int16(v) => *v as f64,
        Datum::Int32(v) => *v as f64,
        Datum::Int64(v) => *v as f64,
        Datum::Float32(v) => v.0 as f64,
        Datum::Float64(v) => v.0,
        Datum::Numeric(d) => d.to_f64().unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
}

/// SQL comparison of two non-NULL datums of compatible types.
pub(crate) fn compare(a: &Datum, b: &Datum) -> Ordering {
    use Datum::*;
    match (a, b) {
        (Int16(_) | Int32(_) | Int64(_), Int16(_) | Int32(_) | Int64(_)) => int_arg(a).unwrap().cmp(&int_arg(b).unwrap()),
        (Numeric(x), Int16(_) | Int32(_) | Int64(_)) => x.cmp(&Decimal::from(int_arg(b).unwrap())),
        (Int16(_) | Int32(_) | Int64(_), Numeric(y)) => Decimal::from(int_arg(a).unwrap()).cmp(y),
        (Float32(_) | Float64(_), _) | (_, Float32(_) | Float64(_)) if a.is_numeric_like() && b.is_numeric_like() => {
            F64(as_f64(a)).cmp(&F64(as_f64(b)))
        }
        (Date(d), Timestamp(t)) => (*d as i64 * riffle_repr::Interval::MICROS_PER_DAY).cmp(t),
        (Timestamp(t), Date(d)) => t.cmp(&(*d as i64 * riffle_repr::Interval::MICROS_PER_DAY)),
        _ => a.cmp(b),
    }
}

/// SQL comparison of two non-NULL borrowed datums: as [`compare`], without copying values of
/// the same kind.
pub(crate) fn compare_refs(a: DatumRef<'_>, b: DatumRef<'_>) -> Ordering {
    if std::mem::discriminant(&a) == std::mem::discriminant(&b) {
        a.cmp(&b)
    } else {
        compare(&a.to_datum(), &b.to_datum())
    }
}

trait NumericLike {
    fn is_numeric_like(&self) -> bool;
}
impl NumericLike for Datum {
    fn is_numeric_like(&self) -> bool {
        matches!(
            self,
            Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) | Datum::Float32(_) | Datum::Float64(_) | Datum::Numeric(_)
        )
    }
}

fn distinct(a: &Datum, b: &Datum) -> bool {
    match (a.is_null(), b.is_null()) {
        (true, true) => false,
        (false, false) => compare(a, b) != Ordering::Equal,
        _ => true,
    }
}

#[cfg(test)]
mod tests;

/// A float8[] argument as numbers (None when any element is NULL).
fn vector(d: &Datum) -> Result<Option<Vec<f64>>, EvalError> {
    let Datum::Array(items) = d else {
        return Err(EvalError::InvalidArgument("expected a vector (an array of numbers)".into()));
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Datum::Null => return Ok(None),
            Datum::Float64(F64(v)) => out.push(*v),
            Datum::Float32(v) => out.push(v.0 as f64),
            other => out.push(as_f64(other)),
        }
    }
    Ok(Some(out))
}
