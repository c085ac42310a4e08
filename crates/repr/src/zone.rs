//! Time zones: UTC, fixed offsets and IANA names, for `timestamptz` input and output and for
//! `AT TIME ZONE`.

use chrono::{NaiveDateTime, Offset, TimeZone};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// A time zone as PostgreSQL's `TimeZone` setting or `AT TIME ZONE` names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Zone {
    /// UTC.
    Utc,
    /// A fixed offset east of UTC, in seconds (`+05:30`, `-08`).
    Fixed(i32),
    /// An IANA zone (`Europe/Paris`), with daylight saving time.
    Named(String),
}

impl Zone {
    /// Parses `UTC`, `Z`, `+05:30`, `-8`, or an IANA name; None if unknown.
    pub fn parse(name: &str) -> Option<Zone> {
        let t = name.trim();
        if matches!(
            t.to_ascii_lowercase().as_str(),
            "utc" | "etc/utc" | "gmt" | "z" | "zulu" | "universal" | "etc/gmt"
        ) {
            return Some(Zone::Utc);
        }
        if let Some(rest) = t.strip_prefix(['+', '-']) {
            let sign = if t.starts_with('-') { -1 } else { 1 };
            let (h, m) = match rest.split_once(':') {
                Some((h, m)) => (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?),
                None if rest.len() > 2 => (rest[..rest.len() - 2].parse().ok()?, rest[rest.len() - 2..].parse().ok()?),
                None => (rest.parse().ok()?, 0),
            };
            if h > 15 || m > 59 {
                return None;
            }
            let secs = sign * (h * 3600 + m * 60);
            return Some(if secs == 0 { Zone::Utc } else { Zone::Fixed(secs) });
        }
        chrono_tz::Tz::from_str(t).ok().map(|tz| Zone::Named(tz.name().to_string()))
    }

    /// The zone's offset from UTC, in seconds, at the UTC instant `utc`.
    pub fn offset_at_utc(&self, utc: NaiveDateTime) -> i32 {
        match self {
            Zone::Utc => 0,
            Zone::Fixed(s) => *s,
            Zone::Named(name) => match chrono_tz::Tz::from_str(name) {
                Ok(tz) => tz.offset_from_utc_datetime(&utc).fix().local_minus_utc(),
                Err(_) => 0,
            },
        }
    }

    /// The offset that applies to the wall-clock time `local` (the earlier one when the clock
    /// repeats, the later one when it skips, as PostgreSQL resolves them).
    pub fn offset_at_local(&self, local: NaiveDateTime) -> i32 {
        match self {
            Zone::Utc => 0,
            Zone::Fixed(s) => *s,
            Zone::Named(name) => match chrono_tz::Tz::from_str(name) {
                Ok(tz) => match tz.offset_from_local_datetime(&local) {
                    chrono::LocalResult::Single(o) => o.fix().local_minus_utc(),
                    chrono::LocalResult::Ambiguous(a, _) => a.fix().local_minus_utc(),
                    // In a gap: use the offset in force just before it.
                    chrono::LocalResult::None => tz
                        .offset_from_utc_datetime(&(local - chrono::Duration::hours(3)))
                        .fix()
                        .local_minus_utc(),
                },
                Err(_) => 0,
            },
        }
    }
}

/// PostgreSQL's offset suffix: `+00`, `+05:30`, `-08`.
pub fn format_offset(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.abs();
    let (h, m, s) = (a / 3600, (a / 60) % 60, a % 60);
    match (m, s) {
        (0, 0) => format!("{sign}{h:02}"),
        (_, 0) => format!("{sign}{h:02}:{m:02}"),
        _ => format!("{sign}{h:02}:{m:02}:{s:02}"),
    }
}
