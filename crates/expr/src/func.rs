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

fn out_of_range(type_name: &str) -> EvalError {
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

fn check_f64(result: f64, x: f64, y: f64) -> Result<f64, EvalError> {
    if result.is_infinite() && x.is_finite() && y.is_finite() {
        return Err(out_of_range("value"));
    }
    Ok(result)
}

fn check_f32(result: f32, x: f32, y: f32) -> Result<f32, EvalError> {
    if result.is_infinite() && x.is_finite() && y.is_finite() {
        return Err(out_of_range("value"));
    }
    Ok(result)
}

fn add(a: &Datum, b: &Datum) -> Result<Datum, EvalError> {
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

fn sub(a: &Datum, b: &Datum) -> Result<Datum, EvalError> {
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
fn justify_hours(micros: i64) -> Interval {
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

fn mul(a: &Datum, b: &Datum) -> Result<Datum, EvalError> {
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

fn div(a: &Datum, b: &Datum) -> Result<Datum, EvalError> {
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

fn modulo(a: &Datum, b: &Datum) -> Result<Datum, EvalError> {
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

fn neg(a: &Datum) -> Result<Datum, EvalError> {
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

fn abs(a: &Datum) -> Result<Datum, EvalError> {
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

fn float_or_numeric1(a: &Datum, f: impl Fn(f64) -> f64) -> Result<Datum, EvalError> {
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

fn float_or_numeric2(
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

fn round_like(a: &Datum, f: impl Fn(f64) -> f64, strategy: RoundingStrategy) -> Result<Datum, EvalError> {
    Ok(match a {
        Datum::Numeric(d) => Datum::Numeric(round_decimal(*d, 0, strategy)),
        Datum::Float32(v) => Datum::Float32(F32(f(v.0 as f64) as f32)),
        Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) => a.clone(),
        other => Datum::f64(f(as_f64(other))),
    })
}

fn round_decimal(d: Decimal, scale: i32, strategy: RoundingStrategy) -> Decimal {
    if scale >= 0 {
        let mut r = d.round_dp_with_strategy(scale as u32, strategy);
        r.rescale(scale as u32);
        r
    } else {
        let factor = Decimal::from_i128_with_scale(10i128.pow((-scale) as u32), 0);
        (d / factor).round_dp_with_strategy(0, strategy) * factor
    }
}

fn substr(s: &str, start: i64, count: Option<i64>) -> Result<Datum, EvalError> {
    if let Some(c) = count {
        if c < 0 {
            return Err(EvalError::InvalidArgument("negative substring length not allowed".into()));
        }
    }
    // PostgreSQL counts from 1 and lets the window start before the string.
    let end = count.map(|c| start.saturating_add(c));
    let chars: Vec<char> = s.chars().collect();
    let from = (start.max(1) - 1) as usize;
    let to = end.map_or(chars.len(), |e| ((e.max(1) - 1) as usize).min(chars.len()));
    Ok(Datum::String(if from >= to {
        String::new()
    } else {
        chars[from..to].iter().collect()
    }))
}

/// Compiled patterns are kept per thread (a view evaluates the same pattern on every row):
/// `kind` separates LIKE from regular expressions and case-insensitive from sensitive ones.
/// A full cache is emptied rather than evicted piecemeal; patterns that vary per row are rare.
/// The cache hands out shared references, not clones: a cloned `Regex` starts with an empty
/// matching cache, which it would then build again for every row.
fn cached_regex(
    kind: usize,
    pattern: &str,
    build: impl FnOnce() -> Result<regex::Regex, EvalError>,
) -> Result<std::rc::Rc<regex::Regex>, EvalError> {
    const CAPACITY: usize = 256;
    thread_local! {
        static CACHE: std::cell::RefCell<[std::collections::HashMap<String, std::rc::Rc<regex::Regex>>; 4]> = Default::default();
    }
    if let Some(re) = CACHE.with(|c| c.borrow()[kind].get(pattern).cloned()) {
        return Ok(re);
    }
    let re = std::rc::Rc::new(build()?);
    CACHE.with(|c| {
        let map = &mut c.borrow_mut()[kind];
        if map.len() >= CAPACITY {
            map.clear();
        }
        map.insert(pattern.to_string(), re.clone());
    });
    Ok(re)
}

fn like(s: &str, pattern: &str, case_insensitive: bool) -> Result<bool, EvalError> {
    let re = cached_regex(usize::from(case_insensitive), pattern, || like_regex(pattern, case_insensitive))?;
    Ok(re.is_match(s))
}

/// A LIKE pattern as an anchored regular expression.
fn like_regex(pattern: &str, case_insensitive: bool) -> Result<regex::Regex, EvalError> {
    let mut re = String::from("(?s)^");
    if case_insensitive {
        re.push_str("(?i)");
    }
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => re.push_str(".*"),
            '_' => re.push('.'),
            '\\' => match chars.next() {
                Some(next) => re.push_str(&regex::escape(&next.to_string())),
                None => return Err(EvalError::InvalidArgument("LIKE pattern must not end with escape character".into())),
            },
            other => re.push_str(&regex::escape(&other.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).map_err(|e| EvalError::InvalidRegex(e.to_string()))
}

fn build_regex(pattern: &str, case_insensitive: bool) -> Result<std::rc::Rc<regex::Regex>, EvalError> {
    cached_regex(2 + usize::from(case_insensitive), pattern, || {
        regex::RegexBuilder::new(pattern)
            .case_insensitive(case_insensitive)
            .build()
            .map_err(|e| EvalError::InvalidRegex(e.to_string()))
    })
}

fn add_interval(micros: i64, iv: &Interval, sign: i32) -> Result<i64, EvalError> {
    let dt = datetime_from_micros(micros).ok_or_else(|| out_of_range("timestamp"))?;
    let months = iv.months * sign;
    let dt = if months >= 0 {
        dt.checked_add_months(Months::new(months as u32))
    } else {
        dt.checked_sub_months(Months::new(months.unsigned_abs()))
    }
    .ok_or_else(|| out_of_range("timestamp"))?;
    let dt = dt
        .checked_add_signed(Duration::days((iv.days * sign) as i64))
        .and_then(|d| d.checked_add_signed(Duration::microseconds(iv.micros * sign as i64)))
        .ok_or_else(|| out_of_range("timestamp"))?;
    Ok(micros_from_datetime(dt))
}

fn timestamp_of(d: &Datum) -> Result<(NaiveDateTime, bool), EvalError> {
    match d {
        Datum::Timestamp(t) => Ok((datetime_from_micros(*t).ok_or_else(|| out_of_range("timestamp"))?, false)),
        Datum::TimestampTz(t) => Ok((datetime_from_micros(*t).ok_or_else(|| out_of_range("timestamp"))?, true)),
        Datum::Date(d) => Ok((
            date_from_days(*d)
                .ok_or_else(|| out_of_range("date"))?
                .and_hms_opt(0, 0, 0)
                .unwrap(),
            false,
        )),
        other => Err(EvalError::InvalidArgument(format!("expected a timestamp, got {other:?}"))),
    }
}

fn date_trunc(unit: &str, d: &Datum) -> Result<Datum, EvalError> {
    if let Datum::Interval(iv) = d {
        return Ok(Datum::Interval(trunc_interval(unit, iv)?));
    }
    let (dt, tz) = timestamp_of(d)?;
    let date = dt.date();
    let truncated = match unit.to_ascii_lowercase().as_str() {
        "microseconds" => dt,
        "milliseconds" => dt.with_nanosecond(dt.nanosecond() / 1_000_000 * 1_000_000).unwrap(),
        "second" => dt.with_nanosecond(0).unwrap(),
        "minute" => dt.with_nanosecond(0).unwrap().with_second(0).unwrap(),
        "hour" => dt.date().and_hms_opt(dt.hour(), 0, 0).unwrap(),
        "day" => date.and_hms_opt(0, 0, 0).unwrap(),
        "week" => (date - Duration::days(date.weekday().num_days_from_monday() as i64))
            .and_hms_opt(0, 0, 0)
            .unwrap(),
        "month" => date.with_day(1).unwrap().and_hms_opt(0, 0, 0).unwrap(),
        "quarter" => NaiveDate::from_ymd_opt(date.year(), (date.month() - 1) / 3 * 3 + 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap(),
        "year" => NaiveDate::from_ymd_opt(date.year(), 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap(),
        "decade" => NaiveDate::from_ymd_opt(date.year().div_euclid(10) * 10, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap(),
        "century" => NaiveDate::from_ymd_opt((date.year() - 1).div_euclid(100) * 100 + 1, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap(),
        other => {
            return Err(EvalError::InvalidArgument(format!(
                "unit \"{other}\" not recognized for type timestamp"
            )))
        }
    };
    let micros = micros_from_datetime(truncated);
    Ok(if tz { Datum::TimestampTz(micros) } else { Datum::Timestamp(micros) })
}

/// PostgreSQL's date_bin: `origin + floor((source - origin) / stride) * stride`, for strides
/// without months.
pub fn date_bin(stride: &Interval, source: i64, origin: i64) -> Result<i64, EvalError> {
    if stride.months != 0 {
        return Err(EvalError::FeatureNotSupported(
            "timestamps cannot be binned into intervals containing months or years".into(),
        ));
    }
    let step = stride.days as i64 * Interval::MICROS_PER_DAY + stride.micros;
    if step <= 0 {
        return Err(EvalError::InvalidArgument("stride must be greater than zero".into()));
    }
    Ok(origin + (source - origin).div_euclid(step) * step)
}

/// Formats a date-time with PostgreSQL's `to_char` patterns (YYYY, MM, DD, HH24, MI, SS, Mon,
/// Day, AM, …, the FM prefix and "quoted" literal text).
fn to_char(dt: NaiveDateTime, fmt: &str) -> std::string::String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
    let date = dt.date();
    let hour12 = match dt.hour() % 12 {
        0 => 12,
        h => h,
    };
    let month = MONTHS[date.month0() as usize];
    let day = DAYS[date.weekday().num_days_from_sunday() as usize];
    // Longest patterns first, so that "MONTH" wins over "MON" and "HH24" over "HH". Each value
    // is formatted only where the pattern occurs.
    const PATTERNS: [&str; 30] = [
        "YYYY", "MONTH", "Month", "month", "HH24", "HH12", "DDD", "DAY", "Day", "day", "MON", "Mon", "mon", "DY", "Dy", "dy", "YY", "MM",
        "DD", "HH", "MI", "SS", "MS", "US", "AM", "PM", "am", "pm", "Q", "D",
    ];
    let meridiem = |upper: bool| match (dt.hour() < 12, upper) {
        (true, true) => "AM",
        (false, true) => "PM",
        (true, false) => "am",
        (false, false) => "pm",
    };
    let value = |pattern: &str| -> std::string::String {
        match pattern {
            "YYYY" => format!("{:04}", date.year()),
            "MONTH" => format!("{:<9}", month.to_uppercase()),
            "Month" => format!("{:<9}", month),
            "month" => format!("{:<9}", month.to_lowercase()),
            "HH24" => format!("{:02}", dt.hour()),
            "HH12" | "HH" => format!("{:02}", hour12),
            "DDD" => format!("{:03}", date.ordinal()),
            "DAY" => format!("{:<9}", day.to_uppercase()),
            "Day" => format!("{:<9}", day),
            "day" => format!("{:<9}", day.to_lowercase()),
            "MON" => month[..3].to_uppercase(),
            "Mon" => month[..3].to_string(),
            "mon" => month[..3].to_lowercase(),
            "DY" => day[..3].to_uppercase(),
            "Dy" => day[..3].to_string(),
            "dy" => day[..3].to_lowercase(),
            "YY" => format!("{:02}", date.year().rem_euclid(100)),
            "MM" => format!("{:02}", date.month()),
            "DD" => format!("{:02}", date.day()),
            "MI" => format!("{:02}", dt.minute()),
            "SS" => format!("{:02}", dt.second()),
            "MS" => format!("{:03}", dt.nanosecond() / 1_000_000),
            "US" => format!("{:06}", dt.nanosecond() / 1000),
            "AM" | "PM" => meridiem(true).to_string(),
            "am" | "pm" => meridiem(false).to_string(),
            "Q" => ((date.month() - 1) / 3 + 1).to_string(),
            "D" => (date.weekday().num_days_from_sunday() + 1).to_string(),
            other => unreachable!("{other} is not in PATTERNS"),
        }
    };
    let mut out = std::string::String::new();
    let mut rest = fmt;
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            out.push_str(&quoted[..end]);
            rest = quoted.get(end + 1..).unwrap_or("");
            continue;
        }
        let (fill_mode, body) = match rest.strip_prefix("FM") {
            Some(b) => (true, b),
            None => (false, rest),
        };
        match PATTERNS.iter().find(|p| body.starts_with(*p)) {
            Some(p) => {
                let value = value(p);
                let v = if fill_mode {
                    let trimmed = value.trim_end();
                    let stripped = trimmed.trim_start_matches('0');
                    if stripped.is_empty() && !trimmed.is_empty() {
                        "0"
                    } else {
                        stripped
                    }
                    .to_string()
                } else {
                    value
                };
                out.push_str(&v);
                rest = &body[p.len()..];
            }
            None => {
                let c = rest.chars().next().expect("non-empty");
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

fn trunc_interval(unit: &str, iv: &Interval) -> Result<Interval, EvalError> {
    let mut out = *iv;
    let unit_micros = match unit.to_ascii_lowercase().as_str() {
        "year" => {
            return Ok(Interval {
                months: iv.months / 12 * 12,
                days: 0,
                micros: 0,
            });
        }
        "month" => {
            return Ok(Interval {
                months: iv.months,
                days: 0,
                micros: 0,
            })
        }
        "day" => {
            return Ok(Interval {
                months: iv.months,
                days: iv.days,
                micros: 0,
            })
        }
        "hour" => 3_600_000_000,
        "minute" => 60_000_000,
        "second" => 1_000_000,
        "milliseconds" => 1000,
        "microseconds" => 1,
        other => {
            return Err(EvalError::InvalidArgument(format!(
                "unit \"{other}\" not recognized for type interval"
            )))
        }
    };
    out.micros = iv.micros / unit_micros * unit_micros;
    Ok(out)
}

fn extract(field: &str, d: &Datum) -> Result<Decimal, EvalError> {
    let field = field.to_ascii_lowercase();
    if let Datum::Interval(iv) = d {
        let secs = Decimal::new(iv.micros, 6);
        return Ok(match field.as_str() {
            "epoch" => {
                Decimal::new(iv.micros, 6)
                    + Decimal::from(iv.days as i64 * 86_400)
                    + Decimal::from(iv.months as i64 / 12 * 31_557_600 + iv.months as i64 % 12 * 2_592_000)
            }
            "year" => Decimal::from(iv.months / 12),
            "month" => Decimal::from(iv.months % 12),
            "day" => Decimal::from(iv.days),
            "hour" => Decimal::from(iv.micros / 3_600_000_000),
            "minute" => Decimal::from(iv.micros / 60_000_000 % 60),
            "second" => secs % Decimal::from(60),
            other => {
                return Err(EvalError::InvalidArgument(format!(
                    "unit \"{other}\" not supported for type interval"
                )))
            }
        });
    }
    let (dt, _) = timestamp_of(d)?;
    let date = dt.date();
    Ok(match field.as_str() {
        "year" => Decimal::from(date.year()),
        "quarter" => Decimal::from((date.month() - 1) / 3 + 1),
        "month" => Decimal::from(date.month()),
        "week" => Decimal::from(date.iso_week().week()),
        "day" => Decimal::from(date.day()),
        "dow" => Decimal::from(date.weekday().num_days_from_sunday()),
        "isodow" => Decimal::from(date.weekday().number_from_monday()),
        "doy" => Decimal::from(date.ordinal()),
        "hour" => Decimal::from(dt.hour()),
        "minute" => Decimal::from(dt.minute()),
        "second" => Decimal::new(dt.second() as i64 * 1_000_000 + dt.nanosecond() as i64 / 1000, 6),
        "milliseconds" => Decimal::new(dt.second() as i64 * 1_000_000 + dt.nanosecond() as i64 / 1000, 3),
        "microseconds" => Decimal::from(dt.second() as i64 * 1_000_000 + dt.nanosecond() as i64 / 1000),
        "epoch" => {
            let micros = micros_from_datetime(dt);
            if matches!(d, Datum::Date(_)) {
                Decimal::from(micros / 1_000_000)
            } else {
                Decimal::new(micros, 6)
            }
        }
        "decade" => Decimal::from(date.year().div_euclid(10)),
        "century" => Decimal::from((date.year() - 1).div_euclid(100) + 1),
        "dayofweek" => Decimal::from(date.weekday().num_days_from_sunday()),
        other => {
            return Err(EvalError::InvalidArgument(format!(
                "unit \"{other}\" not recognized for type timestamp"
            )))
        }
    }
    .normalize_if(matches!(field.as_str(), "year" | "month" | "day")))
}

trait NormalizeIf {
    fn normalize_if(self, cond: bool) -> Self;
}
impl NormalizeIf for Decimal {
    fn normalize_if(self, cond: bool) -> Self {
        if cond {
            self.normalize()
        } else {
            self
        }
    }
}

fn age(a: &Datum, b: &Datum) -> Result<Datum, EvalError> {
    let (x, _) = timestamp_of(a)?;
    let (y, _) = timestamp_of(b)?;
    let (later, earlier, sign) = if x >= y { (x, y, 1) } else { (y, x, -1) };
    let mut months = (later.year() - earlier.year()) * 12 + later.month() as i32 - earlier.month() as i32;
    let mut candidate = earlier.checked_add_months(Months::new(months as u32)).unwrap_or(earlier);
    if candidate > later {
        months -= 1;
        candidate = earlier.checked_add_months(Months::new(months as u32)).unwrap_or(earlier);
    }
    let rest = (later - candidate).num_microseconds().unwrap_or(0);
    Ok(Datum::Interval(Interval {
        months: sign * months,
        days: sign * (rest / Interval::MICROS_PER_DAY) as i32,
        micros: sign as i64 * (rest % Interval::MICROS_PER_DAY),
    }))
}

fn json_value(d: &Datum) -> Result<serde_json::Value, EvalError> {
    match d {
        Datum::Jsonb(text) => serde_json::from_str(text).map_err(|e| EvalError::InvalidArgument(e.to_string())),
        other => Err(EvalError::InvalidArgument(format!(
            "expected jsonb, got {}",
            datum_type_name(other)
        ))),
    }
}

fn json_datum(v: &serde_json::Value) -> Result<Datum, EvalError> {
    let mut out = String::new();
    strconv::write_jsonb(&mut out, v);
    Ok(Datum::Jsonb(out))
}

fn json_result(v: &serde_json::Value, as_text: bool) -> Result<Datum, EvalError> {
    Ok(match v {
        serde_json::Value::Null if as_text => Datum::Null,
        serde_json::Value::String(s) if as_text => Datum::String(s.clone()),
        other if as_text => {
            let mut out = String::new();
            strconv::write_jsonb(&mut out, other);
            Datum::String(out)
        }
        other => json_datum(other)?,
    })
}

/// A datum as a JSON value, as `to_jsonb` converts it.
fn to_json(d: &Datum) -> Result<serde_json::Value, EvalError> {
    use serde_json::Value;
    Ok(match d {
        Datum::Null => Value::Null,
        Datum::Bool(b) => Value::Bool(*b),
        Datum::Jsonb(_) => json_value(d)?,
        Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) | Datum::Numeric(_) | Datum::Float32(_) | Datum::Float64(_) => {
            let text = strconv::format_datum(d).unwrap_or_default();
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        }
        Datum::Array(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        other => Value::String(strconv::format_datum(other).unwrap_or_default()),
    })
}

/// PostgreSQL's jsonb containment: objects contain sub-objects, arrays contain elements.
fn json_contains(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => y.iter().all(|(k, v)| x.get(k).is_some_and(|xv| json_contains(xv, v))),
        (Value::Array(x), Value::Array(y)) => y.iter().all(|v| x.iter().any(|xv| json_contains(xv, v))),
        (Value::Array(x), scalar) if !scalar.is_object() && !scalar.is_array() => x.iter().any(|xv| xv == scalar),
        (Value::Number(x), Value::Number(y)) => x.to_string().parse::<f64>().ok() == y.to_string().parse::<f64>().ok(),
        (x, y) => x == y,
    }
}

fn jsonb_get(j: &Datum, key: &Datum, as_text: bool) -> Result<Datum, EvalError> {
    let Datum::Jsonb(text) = j else {
        return Err(EvalError::InvalidArgument("operator -> requires jsonb".into()));
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| EvalError::InvalidArgument(e.to_string()))?;
    let found = match (key, &value) {
        (Datum::String(k), serde_json::Value::Object(map)) => map.get(k),
        (Datum::Int32(i), serde_json::Value::Array(items)) => {
            let idx = if *i < 0 { items.len() as i64 + *i as i64 } else { *i as i64 };
            usize::try_from(idx).ok().and_then(|i| items.get(i))
        }
        _ => None,
    };
    Ok(match found {
        None => Datum::Null,
        Some(serde_json::Value::Null) if as_text => Datum::Null,
        Some(serde_json::Value::String(s)) if as_text => Datum::String(s.clone()),
        Some(v) => {
            let mut out = String::new();
            strconv::write_jsonb(&mut out, v);
            if as_text {
                Datum::String(out)
            } else {
                Datum::Jsonb(out)
            }
        }
    })
}

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

fn int_to(v: i128, to: &ScalarType) -> Result<Datum, EvalError> {
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

#[cfg(test)]
mod tests {
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
}

/// `encode(bytes, format)` as PostgreSQL writes it (base64 wrapped at 76 characters).
fn encode_bytes(b: &[u8], format: &str) -> Result<String, EvalError> {
    use base64::Engine as _;
    Ok(match format.to_ascii_lowercase().as_str() {
        "hex" => b.iter().map(|x| format!("{x:02x}")).collect(),
        "base64" => {
            let s = base64::engine::general_purpose::STANDARD.encode(b);
            s.as_bytes()
                .chunks(76)
                .map(|c| std::str::from_utf8(c).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n")
        }
        "escape" => {
            let mut out = String::new();
            for &x in b {
                match x {
                    b'\\' => out.push_str("\\\\"),
                    0 | 0x80..=0xff => out.push_str(&format!("\\{x:03o}")),
                    _ => out.push(x as char),
                }
            }
            out
        }
        other => return Err(EvalError::InvalidArgument(format!("unrecognized encoding: \"{other}\""))),
    })
}

/// `decode(text, format)`.
fn decode_bytes(s: &str, format: &str) -> Result<Vec<u8>, EvalError> {
    use base64::Engine as _;
    match format.to_ascii_lowercase().as_str() {
        "hex" => {
            let digits: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
            if digits.len() % 2 != 0 {
                return Err(EvalError::InvalidArgument("invalid hexadecimal data: odd number of digits".into()));
            }
            digits
                .chunks(2)
                .map(|p| {
                    u8::from_str_radix(std::str::from_utf8(p).unwrap_or("zz"), 16)
                        .map_err(|_| EvalError::InvalidArgument("invalid hexadecimal digit".into()))
                })
                .collect()
        }
        "base64" => {
            let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(clean)
                .map_err(|e| EvalError::InvalidArgument(format!("invalid base64 data: {e}")))
        }
        "escape" => {
            let bytes = s.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'\\' {
                    if bytes.get(i + 1) == Some(&b'\\') {
                        out.push(b'\\');
                        i += 2;
                        continue;
                    }
                    let oct = bytes
                        .get(i + 1..i + 4)
                        .and_then(|o| std::str::from_utf8(o).ok())
                        .and_then(|o| u8::from_str_radix(o, 8).ok());
                    match oct {
                        Some(v) => {
                            out.push(v);
                            i += 4;
                        }
                        None => return Err(EvalError::InvalidArgument("invalid input syntax for type bytea".into())),
                    }
                } else {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
            Ok(out)
        }
        other => Err(EvalError::InvalidArgument(format!("unrecognized encoding: \"{other}\""))),
    }
}

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
