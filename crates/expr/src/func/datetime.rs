//! Dates and times: interval arithmetic, date_trunc, date_bin, to_char, extract, age.

use super::*;

pub(super) fn add_interval(micros: i64, iv: &Interval, sign: i32) -> Result<i64, EvalError> {
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

pub(super) fn timestamp_of(d: &Datum) -> Result<(NaiveDateTime, bool), EvalError> {
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

pub(super) fn date_trunc(unit: &str, d: &Datum) -> Result<Datum, EvalError> {
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
pub(super) fn to_char(dt: NaiveDateTime, fmt: &str) -> std::string::String {
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

pub(super) fn trunc_interval(unit: &str, iv: &Interval) -> Result<Interval, EvalError> {
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

pub(super) fn extract(field: &str, d: &Datum) -> Result<Decimal, EvalError> {
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

pub(super) trait NormalizeIf {
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

pub(super) fn age(a: &Datum, b: &Datum) -> Result<Datum, EvalError> {
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
