//! PostgreSQL text formats: how each type prints and how text parses into it.
//!
//! Output follows PostgreSQL's defaults (`DateStyle = ISO, MDY`, `IntervalStyle = postgres`,
//! `extra_float_digits = 1`, `bytea_output = hex`, `TimeZone = UTC`), so that clients and
//! test corpora written against PostgreSQL see the same strings.

use crate::zone::Zone;
use crate::{Datum, Interval, ScalarType, F32, F64};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use rust_decimal::Decimal;
use std::fmt::Write;
use std::str::FromStr;

/// Why a text value could not become a datum.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize, thiserror::Error)]
pub enum ParseError {
    /// The text is not a valid literal of the type (SQLSTATE 22P02, or 22007 for date/time).
    #[error("invalid input syntax for type {type_name}: \"{input}\"")]
    InvalidSyntax {
        /// PostgreSQL's name of the target type.
        type_name: String,
        /// The offending text.
        input: String,
    },
    /// The value parses but does not fit the type (SQLSTATE 22003).
    #[error("value \"{input}\" is out of range for type {type_name}")]
    OutOfRange {
        /// PostgreSQL's name of the target type.
        type_name: String,
        /// The offending text.
        input: String,
    },
    /// A date/time field is out of range (SQLSTATE 22008).
    #[error("date/time field value out of range: \"{input}\"")]
    DateTimeOutOfRange {
        /// The offending text.
        input: String,
    },
}

impl ParseError {
    fn syntax(type_name: &str, input: &str) -> Self {
        ParseError::InvalidSyntax {
            type_name: type_name.into(),
            input: input.to_string(),
        }
    }

    /// Whether this error concerns a date/time type (which PostgreSQL reports as 22007).
    pub fn is_datetime(&self) -> bool {
        match self {
            ParseError::InvalidSyntax { type_name, .. } => {
                matches!(
                    type_name.as_str(),
                    "date" | "timestamp without time zone" | "timestamp with time zone" | "interval"
                )
            }
            ParseError::DateTimeOutOfRange { .. } => true,
            ParseError::OutOfRange { .. } => false,
        }
    }
}

const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// The date of a day number (days since 1970-01-01).
pub fn date_from_days(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(days.checked_add(UNIX_EPOCH_DAYS_FROM_CE)?)
}

/// The day number (days since 1970-01-01) of a date.
pub fn days_from_date(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE
}

/// The date-time of a microsecond count since the epoch.
pub fn datetime_from_micros(micros: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp_micros(micros).map(|d| d.naive_utc())
}

/// Microseconds since the epoch of a date-time.
pub fn micros_from_datetime(dt: NaiveDateTime) -> i64 {
    dt.and_utc().timestamp_micros()
}

/// Formats a datum in PostgreSQL's text output format; `None` for NULL.
pub fn format_datum(datum: &Datum) -> Option<String> {
    format_datum_in(datum, &Zone::Utc)
}

/// Formats a datum, showing `timestamptz` values in the given zone (the session's TimeZone).
pub fn format_datum_in(datum: &Datum, zone: &Zone) -> Option<String> {
    let mut s = String::new();
    match datum {
        Datum::Null => return None,
        Datum::Bool(b) => s.push(if *b { 't' } else { 'f' }),
        Datum::Int16(v) => write!(s, "{v}").unwrap(),
        Datum::Int32(v) => write!(s, "{v}").unwrap(),
        Datum::Int64(v) => write!(s, "{v}").unwrap(),
        Datum::Float32(F32(v)) => format_float(&mut s, format!("{v:e}"), v.is_nan(), v.is_infinite(), *v < 0.0, 6),
        Datum::Float64(F64(v)) => format_float(&mut s, format!("{v:e}"), v.is_nan(), v.is_infinite(), *v < 0.0, 15),
        Datum::Numeric(d) => write!(s, "{d}").unwrap(),
        Datum::String(v) => s.push_str(v),
        Datum::Bytes(b) => {
            s.push_str("\\x");
            for byte in b {
                write!(s, "{byte:02x}").unwrap();
            }
        }
        Datum::Date(d) => format_date(&mut s, *d),
        Datum::Timestamp(t) => format_timestamp(&mut s, *t),
        Datum::TimestampTz(t) => {
            let offset = datetime_from_micros(*t).map_or(0, |utc| zone.offset_at_utc(utc));
            format_timestamp(&mut s, t + offset as i64 * 1_000_000);
            s.push_str(&crate::zone::format_offset(offset));
        }
        Datum::Interval(iv) => format_interval(&mut s, iv),
        Datum::Jsonb(j) => s.push_str(j),
        Datum::Array(items) => format_array(&mut s, items, zone),
    }
    Some(s)
}

/// Shortest round-trip float text, laid out as PostgreSQL does: positional notation for
/// decimal exponents in [-4, `max_exp`), scientific (`1e+20`, `1.5e-05`) outside it.
fn format_float(out: &mut String, sci: String, nan: bool, inf: bool, neg: bool, max_exp: i32) {
    if nan {
        out.push_str("NaN");
        return;
    }
    if inf {
        out.push_str(if neg { "-Infinity" } else { "Infinity" });
        return;
    }
    let (mantissa, exp) = sci.split_once('e').expect("LowerExp always has an exponent");
    let exp: i32 = exp.parse().expect("exponent is an integer");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if digits == "0" {
        out.push_str(sign);
        out.push('0');
        return;
    }
    out.push_str(sign);
    if exp < -4 || exp >= max_exp {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs()).unwrap();
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
}

/// `{1,2,NULL}`, with elements quoted when they are empty, NULL-like or hold special characters.
fn format_array(out: &mut String, items: &[Datum], zone: &Zone) {
    out.push('{');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match format_datum_in(item, zone) {
            None => out.push_str("NULL"),
            Some(text) => {
                let needs_quotes = text.is_empty()
                    || text.eq_ignore_ascii_case("null")
                    || text.chars().any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_whitespace());
                if needs_quotes {
                    out.push('"');
                    for c in text.chars() {
                        if c == '"' || c == '\\' {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                    out.push('"');
                } else {
                    out.push_str(&text);
                }
            }
        }
    }
    out.push('}');
}

/// Parses a one-dimensional array literal (`{1,2,NULL}`, `{"a b",c}`).
pub fn parse_array(s: &str, elem: &ScalarType) -> Result<Vec<Datum>, ParseError> {
    let type_name = format!("{}[]", elem.name());
    let err = || ParseError::syntax(&type_name, s);
    let t = s.trim();
    let inner = t.strip_prefix('{').and_then(|r| r.strip_suffix('}')).ok_or_else(err)?;
    let mut items = Vec::new();
    if inner.trim().is_empty() {
        return Ok(items);
    }
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut text = String::new();
        let quoted = chars.peek() == Some(&'"');
        if quoted {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => text.push(chars.next().ok_or_else(err)?),
                    Some('"') => break,
                    Some(c) => text.push(c),
                    None => return Err(err()),
                }
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '{' || c == '}' || c == '"' {
                    return Err(err());
                }
                text.push(c);
                chars.next();
            }
            text = text.trim().to_string();
            if text.is_empty() {
                return Err(err());
            }
        }
        items.push(if !quoted && text.eq_ignore_ascii_case("null") {
            Datum::Null
        } else {
            parse_datum(&text, elem)?
        });
        match chars.next() {
            Some(',') => continue,
            None => break,
            Some(_) => return Err(err()),
        }
    }
    Ok(items)
}

fn format_date(out: &mut String, days: i32) {
    match date_from_days(days) {
        Some(d) if d.year() > 0 => write!(out, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day()).unwrap(),
        Some(d) => write!(out, "{:04}-{:02}-{:02} BC", 1 - d.year(), d.month(), d.day()).unwrap(),
        None => out.push_str("infinity"),
    }
}

fn format_timestamp(out: &mut String, micros: i64) {
    let Some(dt) = datetime_from_micros(micros) else {
        out.push_str("infinity");
        return;
    };
    let date = dt.date();
    let (year, bc) = if date.year() > 0 {
        (date.year(), false)
    } else {
        (1 - date.year(), true)
    };
    write!(
        out,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        year,
        date.month(),
        date.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
    .unwrap();
    append_fraction(out, dt.nanosecond() as i64 / 1000);
    if bc {
        out.push_str(" BC");
    }
}

/// Appends `.ffffff` with trailing zeros removed, or nothing for a whole second.
fn append_fraction(out: &mut String, micros: i64) {
    if micros != 0 {
        let frac = format!("{:06}", micros);
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
}

fn format_interval(out: &mut String, iv: &Interval) {
    let mut is_zero = true;
    let mut is_before = false;
    let mut part = |out: &mut String, value: i64, unit: &str| {
        if value == 0 {
            return;
        }
        let plus = if is_before && value > 0 { "+" } else { "" };
        let space = if is_zero { "" } else { " " };
        let plural = if value != 1 { "s" } else { "" };
        write!(out, "{space}{plus}{value} {unit}{plural}").unwrap();
        is_before = value < 0;
        is_zero = false;
    };
    part(out, (iv.months / 12) as i64, "year");
    part(out, (iv.months % 12) as i64, "mon");
    part(out, iv.days as i64, "day");
    if is_zero || iv.micros != 0 {
        let minus = iv.micros < 0;
        let abs = iv.micros.unsigned_abs();
        let hours = abs / 3_600_000_000;
        let minutes = (abs / 60_000_000) % 60;
        let seconds = (abs / 1_000_000) % 60;
        let sign = if minus {
            "-"
        } else if is_before {
            "+"
        } else {
            ""
        };
        let space = if is_zero { "" } else { " " };
        write!(out, "{space}{sign}{hours:02}:{minutes:02}:{seconds:02}").unwrap();
        append_fraction(out, (abs % 1_000_000) as i64);
    }
}

/// Parses text as a value of the given type, with PostgreSQL's input rules.
pub fn parse_datum(s: &str, typ: &ScalarType) -> Result<Datum, ParseError> {
    Ok(match typ {
        ScalarType::Bool => Datum::Bool(parse_bool(s)?),
        ScalarType::Int16 => Datum::Int16(parse_int(s, "smallint")?),
        ScalarType::Int32 => Datum::Int32(parse_int(s, "integer")?),
        ScalarType::Int64 => Datum::Int64(parse_int(s, "bigint")?),
        ScalarType::Float32 => Datum::Float32(F32(parse_float(s, "real")? as f32)),
        ScalarType::Float64 => Datum::Float64(F64(parse_float(s, "double precision")?)),
        ScalarType::Numeric { .. } => Datum::Numeric(parse_numeric(s)?),
        ScalarType::String | ScalarType::VarChar { .. } | ScalarType::Unknown => Datum::String(s.to_string()),
        ScalarType::Bytes => Datum::Bytes(parse_bytea(s)?),
        ScalarType::Date => Datum::Date(parse_date(s)?),
        ScalarType::Timestamp => Datum::Timestamp(parse_timestamp(s, false)?),
        ScalarType::TimestampTz => Datum::TimestampTz(parse_timestamp(s, true)?),
        ScalarType::Interval => Datum::Interval(parse_interval(s)?),
        ScalarType::Jsonb => Datum::Jsonb(parse_jsonb(s)?),
        ScalarType::Array(elem) => Datum::Array(parse_array(s, elem)?),
    })
}

/// Parses a boolean as PostgreSQL's `boolin` does (unique prefixes of true/false/yes/no, on/off, 1/0).
pub fn parse_bool(s: &str) -> Result<bool, ParseError> {
    let t = s.trim().to_ascii_lowercase();
    let is_prefix = |word: &str| !t.is_empty() && word.starts_with(t.as_str());
    match t.as_str() {
        "1" | "on" => Ok(true),
        "0" | "of" | "off" => Ok(false),
        "o" => Err(ParseError::syntax("boolean", s)),
        _ if is_prefix("true") || is_prefix("yes") => Ok(true),
        _ if is_prefix("false") || is_prefix("no") => Ok(false),
        _ => Err(ParseError::syntax("boolean", s)),
    }
}

/// Parses an integer, distinguishing bad syntax from overflow.
pub fn parse_int<T: FromStr + TryFrom<i128>>(s: &str, type_name: &'static str) -> Result<T, ParseError> {
    if let Some(v) = plain_int(s) {
        return T::try_from(v.into()).map_err(|_| ParseError::OutOfRange {
            type_name: type_name.into(),
            input: s.to_string(),
        });
    }
    let t = s.trim();
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_') || digits.starts_with('_') {
        return Err(ParseError::syntax(type_name, s));
    }
    let parsed = if digits.contains('_') {
        t.chars().filter(|c| *c != '_').collect::<String>().parse::<i128>()
    } else {
        t.parse::<i128>()
    };
    match parsed {
        Ok(v) => T::try_from(v).map_err(|_| ParseError::OutOfRange {
            type_name: type_name.into(),
            input: s.to_string(),
        }),
        Err(_) => Err(ParseError::OutOfRange {
            type_name: type_name.into(),
            input: s.to_string(),
        }),
    }
}

/// The common case of an integer's text, read directly: an optional sign and 1 to 18 ASCII
/// digits, nothing else (no spaces or underscores), which always fits in an `i64`. None for
/// anything else, which the general path reads.
#[inline]
fn plain_int(s: &str) -> Option<i64> {
    let (negative, digits) = match s.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        rest => (false, rest),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut v: i64 = 0;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as i64;
    }
    Some(if negative { -v } else { v })
}

/// Parses a float, accepting `NaN`, `Infinity` and `-Infinity` as PostgreSQL does.
pub fn parse_float(s: &str, type_name: &'static str) -> Result<f64, ParseError> {
    let t = s.trim();
    let is = |words: &[&str]| words.iter().any(|w| t.eq_ignore_ascii_case(w));
    if is(&["nan"]) {
        return Ok(f64::NAN);
    }
    if is(&["infinity", "+infinity", "inf", "+inf"]) {
        return Ok(f64::INFINITY);
    }
    if is(&["-infinity", "-inf"]) {
        return Ok(f64::NEG_INFINITY);
    }
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return Err(ParseError::syntax(type_name, s));
    }
    let v: f64 = t.parse().map_err(|_| ParseError::syntax(type_name, s))?;
    let overflow = if type_name == "real" {
        (v as f32).is_infinite()
    } else {
        v.is_infinite()
    };
    if overflow {
        return Err(ParseError::OutOfRange {
            type_name: type_name.into(),
            input: s.to_string(),
        });
    }
    Ok(v)
}

/// Parses a numeric literal (plain or scientific notation).
pub fn parse_numeric(s: &str) -> Result<Decimal, ParseError> {
    let t = s.trim();
    let valid = !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !valid {
        return Err(ParseError::syntax("numeric", s));
    }
    let parsed = if t.contains(['e', 'E']) {
        Decimal::from_scientific(t)
    } else {
        Decimal::from_str(t)
    };
    parsed.map_err(|e| {
        if e.to_string().contains("overflow") || e.to_string().contains("too") {
            ParseError::OutOfRange {
                type_name: "numeric".into(),
                input: s.to_string(),
            }
        } else {
            ParseError::syntax("numeric", s)
        }
    })
}

fn parse_bytea(s: &str) -> Result<Vec<u8>, ParseError> {
    if let Some(hex) = s.strip_prefix("\\x") {
        let hex: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        if hex.len() % 2 != 0 {
            return Err(ParseError::syntax("bytea", s));
        }
        return hex
            .chunks(2)
            .map(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|p| u8::from_str_radix(p, 16).ok())
                    .ok_or_else(|| ParseError::syntax("bytea", s))
            })
            .collect();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
        } else if bytes.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else if i + 3 < bytes.len() + 0 && bytes[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b)) {
            let v = (bytes[i + 1] - b'0') as u32 * 64 + (bytes[i + 2] - b'0') as u32 * 8 + (bytes[i + 3] - b'0') as u32;
            out.push(u8::try_from(v).map_err(|_| ParseError::syntax("bytea", s))?);
            i += 4;
        } else {
            return Err(ParseError::syntax("bytea", s));
        }
    }
    Ok(out)
}

fn parse_ymd(s: &str, orig: &str, type_name: &'static str) -> Result<NaiveDate, ParseError> {
    let mut parts = s.splitn(3, '-');
    let mut next = || -> Result<u32, ParseError> {
        let p = parts.next().ok_or_else(|| ParseError::syntax(type_name, orig))?;
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::syntax(type_name, orig));
        }
        p.parse().map_err(|_| ParseError::syntax(type_name, orig))
    };
    let (y, m, d) = (next()?, next()?, next()?);
    NaiveDate::from_ymd_opt(y as i32, m, d).ok_or_else(|| ParseError::DateTimeOutOfRange { input: orig.to_string() })
}

/// Parses a `date` (ISO `YYYY-MM-DD`, optionally followed by a time that is ignored).
pub fn parse_date(s: &str) -> Result<i32, ParseError> {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "epoch" => return Ok(0),
        "today" => return Ok(days_from_date(chrono::Utc::now().date_naive())),
        _ => {}
    }
    let date_part = t.split([' ', 'T']).next().unwrap_or("");
    Ok(days_from_date(parse_ymd(date_part, s, "date")?))
}

fn parse_time_of_day(s: &str, orig: &str, type_name: &'static str) -> Result<NaiveTime, ParseError> {
    let err = || ParseError::syntax(type_name, orig);
    let mut fields = s.split(':');
    let hour: u32 = fields.next().ok_or_else(err)?.parse().map_err(|_| err())?;
    let minute: u32 = fields.next().ok_or_else(err)?.parse().map_err(|_| err())?;
    let (second, micros) = match fields.next() {
        None => (0, 0),
        Some(sec) => {
            let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
            let whole: u32 = whole.parse().map_err(|_| err())?;
            if !frac.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            let mut frac = frac.to_string();
            frac.truncate(7);
            while frac.len() < 7 {
                frac.push('0');
            }
            // Round to microseconds on the seventh digit, as PostgreSQL does.
            let tenths: u64 = frac.parse().map_err(|_| err())?;
            (whole, (tenths + 5) / 10)
        }
    };
    if fields.next().is_some() {
        return Err(err());
    }
    if micros >= 1_000_000 {
        let t = NaiveTime::from_hms_opt(hour, minute, second).ok_or_else(|| ParseError::DateTimeOutOfRange { input: orig.to_string() })?;
        return Ok(t + chrono::Duration::seconds(1));
    }
    NaiveTime::from_hms_micro_opt(hour, minute, second, micros as u32)
        .ok_or_else(|| ParseError::DateTimeOutOfRange { input: orig.to_string() })
}

/// Splits a trailing UTC offset (`Z`, `UTC`, `+05`, `+05:30`, `-0800`) off a time string.
fn split_offset(s: &str) -> (&str, Option<Result<i64, ()>>) {
    let t = s.trim_end();
    for suffix in [" UTC", " utc", "Z", "z", " GMT"] {
        if let Some(rest) = t.strip_suffix(suffix) {
            return (rest, Some(Ok(0)));
        }
    }
    // An offset sign appears after the time's last ':' or digit run.
    if let Some(pos) = t.rfind(['+', '-']) {
        let (time, off) = t.split_at(pos);
        if time.contains(':') && !time.ends_with(['e', 'E']) {
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let digits: String = off[1..].chars().filter(|c| *c != ':').collect();
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 6 {
                return (time, Some(Err(())));
            }
            let (h, m, sec) = match digits.len() {
                1 | 2 => (digits.parse::<i64>().unwrap(), 0, 0),
                3 | 4 => (
                    digits[..digits.len() - 2].parse().unwrap(),
                    digits[digits.len() - 2..].parse().unwrap(),
                    0,
                ),
                _ => (
                    digits[..digits.len() - 4].parse().unwrap(),
                    digits[digits.len() - 4..digits.len() - 2].parse().unwrap(),
                    digits[digits.len() - 2..].parse().unwrap(),
                ),
            };
            return (time.trim_end(), Some(Ok(sign * (h * 3600 + m * 60 + sec))));
        }
    }
    (t, None)
}

/// Parses a `timestamptz`; a value without an explicit offset is wall-clock time in `zone`.
pub fn parse_timestamptz_in(s: &str, zone: &Zone) -> Result<i64, ParseError> {
    let (_, rest) = match s.trim().find([' ', 'T', 't']) {
        Some(i) => s.trim().split_at(i),
        None => (s.trim(), ""),
    };
    let has_offset = split_offset(rest.get(1..).unwrap_or("")).1.is_some();
    if has_offset || *zone == Zone::Utc {
        return parse_timestamp(s, true);
    }
    let local = parse_timestamp(s, false)?;
    let offset = datetime_from_micros(local).map_or(0, |l| zone.offset_at_local(l));
    Ok(local - offset as i64 * 1_000_000)
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` exactly (the form timestamps are printed in, and bulk loads
/// carry), read without the general parser's splitting; None for anything else, which
/// [`parse_timestamp`] then reads the general way (so this never changes what is accepted).
fn parse_iso_timestamp(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b' ' | b'T') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let number = |digits: &[u8]| -> Option<u32> {
        digits
            .iter()
            .try_fold(0u32, |v, c| c.is_ascii_digit().then(|| v * 10 + u32::from(c - b'0')))
    };
    let micros = match &b[19..] {
        [] => 0,
        [b'.', frac @ ..] if (1..=6).contains(&frac.len()) => number(frac)? * 10u32.pow(6 - frac.len() as u32),
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(number(&b[0..4])? as i32, number(&b[5..7])?, number(&b[8..10])?)?;
    date.and_hms_micro_opt(number(&b[11..13])?, number(&b[14..16])?, number(&b[17..19])?, micros)
}

/// Parses a `timestamp` or `timestamptz` into microseconds since the epoch (UTC for tz).
pub fn parse_timestamp(s: &str, with_tz: bool) -> Result<i64, ParseError> {
    match parse_iso_timestamp(s) {
        Some(dt) => Ok(micros_from_datetime(dt)),
        None => parse_timestamp_general(s, with_tz),
    }
}

/// [`parse_timestamp`] for every form PostgreSQL reads.
fn parse_timestamp_general(s: &str, with_tz: bool) -> Result<i64, ParseError> {
    let type_name = if with_tz {
        "timestamp with time zone"
    } else {
        "timestamp without time zone"
    };
    let t = s.trim();
    if t.eq_ignore_ascii_case("epoch") {
        return Ok(0);
    }
    if t.eq_ignore_ascii_case("now") {
        return Ok(chrono::Utc::now().timestamp_micros());
    }
    let (date_part, rest) = match t.find([' ', 'T', 't']) {
        Some(i) => (&t[..i], t[i + 1..].trim()),
        None => (t, ""),
    };
    let date = parse_ymd(date_part, s, type_name)?;
    let (time_str, offset) = split_offset(rest);
    let offset_secs = match offset {
        Some(Ok(o)) => o,
        Some(Err(())) => return Err(ParseError::syntax(type_name, s)),
        None => 0,
    };
    let time = if time_str.is_empty() {
        NaiveTime::MIN
    } else {
        parse_time_of_day(time_str, s, type_name)?
    };
    let micros = micros_from_datetime(NaiveDateTime::new(date, time));
    Ok(if with_tz { micros - offset_secs * 1_000_000 } else { micros })
}

/// Parses an `interval` in PostgreSQL's verbose or `HH:MM:SS` forms (`1 day 02:00:00`,
/// `3 hours`, `@ 1 minute ago`, `1.5 days`).
pub fn parse_interval(s: &str) -> Result<Interval, ParseError> {
    let err = || ParseError::syntax("interval", s);
    let mut t = s.trim().to_ascii_lowercase();
    if let Some(rest) = t.strip_prefix('@') {
        t = rest.trim().to_string();
    }
    let ago = t.ends_with(" ago");
    if ago {
        t.truncate(t.len() - 4);
    }
    let mut months = 0f64;
    let mut days = 0f64;
    let mut micros = 0f64;
    let tokens: Vec<&str> = t.split_whitespace().collect();
    if tokens.is_empty() {
        return Err(err());
    }
    let mut i = 0;
    while i < tokens.len() {
        let tok = tokens[i];
        if tok.contains(':') {
            let (neg, body) = match tok.strip_prefix('-') {
                Some(b) => (true, b),
                None => (false, tok.strip_prefix('+').unwrap_or(tok)),
            };
            let parts: Vec<&str> = body.split(':').collect();
            if parts.len() < 2 || parts.len() > 3 {
                return Err(err());
            }
            let h: f64 = parts[0].parse().map_err(|_| err())?;
            let m: f64 = parts[1].parse().map_err(|_| err())?;
            let sec: f64 = if parts.len() == 3 {
                parts[2].parse().map_err(|_| err())?
            } else {
                0.0
            };
            let total = (h * 3600.0 + m * 60.0 + sec) * 1e6;
            micros += if neg { -total } else { total };
            i += 1;
            continue;
        }
        let value: f64 = tok.parse().map_err(|_| err())?;
        let unit = tokens.get(i + 1).copied();
        let unit = match unit {
            Some(u) if u.parse::<f64>().is_err() && !u.contains(':') => {
                i += 2;
                u
            }
            _ => {
                i += 1;
                "second"
            }
        };
        match unit.trim_end_matches('s') {
            "microsecond" | "u" | "usec" | "microsecon" => micros += value,
            "millisecond" | "m" if unit == "ms" || unit.starts_with("milli") => micros += value * 1e3,
            "second" | "sec" | "" => micros += value * 1e6,
            "minute" | "min" | "m" => micros += value * 60e6,
            "hour" | "hr" | "h" => micros += value * 3600e6,
            "day" | "d" => days += value,
            "week" | "w" => days += value * 7.0,
            "month" | "mon" => months += value,
            "year" | "yr" | "y" => months += value * 12.0,
            "decade" => months += value * 120.0,
            "century" | "centurie" => months += value * 1200.0,
            "millennium" | "millennia" => months += value * 12000.0,
            _ => return Err(err()),
        }
    }
    // Fractions spill downward: 1.5 months = 1 month 15 days, 1.5 days = 1 day 12 hours.
    let whole_months = months.trunc();
    days += (months - whole_months) * 30.0;
    let whole_days = days.trunc();
    micros += (days - whole_days) * Interval::MICROS_PER_DAY as f64;
    let sign = if ago { -1.0 } else { 1.0 };
    let fits = |v: f64| v.abs() < i32::MAX as f64;
    if !fits(whole_months) || !fits(whole_days) || micros.abs() > 9.2e18 {
        return Err(ParseError::OutOfRange {
            type_name: "interval".into(),
            input: s.to_string(),
        });
    }
    Ok(Interval {
        months: (sign * whole_months) as i32,
        days: (sign * whole_days) as i32,
        micros: (sign * micros).round() as i64,
    })
}

/// Parses JSON text into `jsonb`'s canonical text form.
pub fn parse_jsonb(s: &str) -> Result<String, ParseError> {
    let value: serde_json::Value = serde_json::from_str(s).map_err(|_| ParseError::syntax("json", s))?;
    let mut out = String::new();
    write_jsonb(&mut out, &value);
    Ok(out)
}

/// Writes a JSON value in `jsonb`'s output form: keys ordered by length then bytes, `", "`
/// and `": "` separators, numbers normalized.
pub fn write_jsonb(out: &mut String, value: &serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let text = n.to_string();
            if text.contains(['e', 'E']) {
                match Decimal::from_scientific(&text) {
                    Ok(d) => write!(out, "{d}").unwrap(),
                    Err(_) => out.push_str(&text),
                }
            } else {
                out.push_str(&text)
            }
        }
        Value::String(s) => out.push_str(&serde_json::to_string(s).expect("strings serialize")),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_jsonb(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&serde_json::to_string(key).expect("strings serialize"));
                out.push_str(": ");
                write_jsonb(out, &map[key]);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests;
