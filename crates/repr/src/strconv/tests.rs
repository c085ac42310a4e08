/// The fast path reads exactly what the general parser reads, and leaves alone what it cannot.
#[test]
fn iso_timestamps_fast_path_agrees() {
    for s in [
        "2026-01-02 03:04:05",
        "2026-01-02T03:04:05",
        "2026-01-02 03:04:05.1",
        "2026-01-02 03:04:05.123456",
        "1970-01-01 00:00:00",
        "1900-02-28 23:59:59.000001",
        "2000-02-29 12:00:00.5",
    ] {
        let fast = parse_iso_timestamp(s).map(micros_from_datetime);
        assert!(fast.is_some(), "{s}");
        assert_eq!(fast, parse_timestamp_general(s, false).ok(), "{s}");
        assert_eq!(fast, parse_timestamp_general(s, true).ok(), "{s}");
    }
    for s in [
        "2026-01-02 03:04:05+02",
        "2026-01-02 03:04:05.1234567",
        "2026-01-02 24:00:00",
        "2026-01-02 23:59:60",
        "2026-02-30 00:00:00",
        " 2026-01-02 03:04:05",
        "2026-01-02 03:04:05.",
        "2026-01-02 03:04:0x",
        "12026-01-02 03:04:05",
        "2026-01-02 3:04:05",
        "2026-01-02 03:04:05 BC",
    ] {
        assert_eq!(parse_iso_timestamp(s), None, "{s}");
    }
    assert_eq!(parse_int::<i64>("1_000", "bigint").unwrap(), 1000);
    assert_eq!(parse_int::<i64>(" -42 ", "bigint").unwrap(), -42);
    assert!(parse_int::<i32>("99999999999", "integer").is_err());
    assert!(parse_float("-INF", "double precision").unwrap().is_infinite());
    assert!(parse_float("NaN", "real").unwrap().is_nan());
}

/// Integers read directly agree with Rust's parser; what the direct path leaves (spaces,
/// underscores, 19 digits and more, no digits) goes the general way, with its errors.
#[test]
fn plain_integers_agree() {
    for s in [
        "0",
        "-0",
        "+5",
        "7",
        "-42",
        "32767",
        "-32768",
        "123456789012345678",
        "-999999999999999999",
        "0001",
    ] {
        assert_eq!(plain_int(s).map(i128::from), s.parse::<i128>().ok(), "{s}");
        assert_eq!(parse_int::<i64>(s, "bigint").ok(), s.parse::<i64>().ok(), "{s}");
    }
    for s in ["", "-", "+", "1234567890123456789", " 1", "1 ", "1_000", "12a", "--1", "1.0"] {
        assert_eq!(plain_int(s), None, "{s}");
    }
    assert_eq!(parse_int::<i64>("9223372036854775807", "bigint").unwrap(), i64::MAX);
    assert_eq!(parse_int::<i64>("-9223372036854775808", "bigint").unwrap(), i64::MIN);
    assert!(matches!(
        parse_int::<i64>("9223372036854775808", "bigint"),
        Err(ParseError::OutOfRange { .. })
    ));
    assert!(matches!(parse_int::<i16>("32768", "smallint"), Err(ParseError::OutOfRange { .. })));
    assert_eq!(parse_int::<i16>("-32768", "smallint").unwrap(), i16::MIN);
    assert!(parse_int::<i32>("", "integer").is_err());
    assert!(parse_int::<i32>("-", "integer").is_err());
}

use super::*;

fn f8(v: f64) -> String {
    format_datum(&Datum::f64(v)).unwrap()
}

#[test]
fn floats_print_like_postgres() {
    assert_eq!(f8(1.5), "1.5");
    assert_eq!(f8(100.0), "100");
    assert_eq!(f8(1e20), "1e+20");
    assert_eq!(f8(0.0001), "0.0001");
    assert_eq!(f8(0.00001), "1e-05");
    assert_eq!(f8(123456789012345678.0), "1.2345678901234568e+17");
    assert_eq!(f8(0.1 + 0.2), "0.30000000000000004");
    assert_eq!(f8(-0.0), "-0");
    assert_eq!(format_datum(&Datum::Float32(F32(1234567.0))).unwrap(), "1.234567e+06");
    assert_eq!(format_datum(&Datum::Float32(F32(123456.0))).unwrap(), "123456");
}

#[test]
fn intervals_round_trip_postgres_style() {
    let cases = [
        ("1 day", "1 day"),
        ("2 days 3 hours", "2 days 03:00:00"),
        ("1 year 2 months", "1 year 2 mons"),
        ("-1 day 2 hours", "-1 days +02:00:00"),
        ("90 minutes", "01:30:00"),
        ("1.5 days", "1 day 12:00:00"),
        ("0 seconds", "00:00:00"),
        ("3 hours ago", "-03:00:00"),
        ("00:00:01.5", "00:00:01.5"),
    ];
    for (input, expected) in cases {
        let iv = parse_interval(input).unwrap();
        assert_eq!(format_datum(&Datum::Interval(iv)).unwrap(), expected, "{input}");
    }
}

#[test]
fn timestamps_parse_and_print() {
    let t = parse_timestamp("2024-03-01 12:34:56.789", false).unwrap();
    assert_eq!(format_datum(&Datum::Timestamp(t)).unwrap(), "2024-03-01 12:34:56.789");
    let tz = parse_timestamp("2024-03-01 12:00:00+02", true).unwrap();
    assert_eq!(format_datum(&Datum::TimestampTz(tz)).unwrap(), "2024-03-01 10:00:00+00");
    let paris = Zone::parse("Europe/Paris").unwrap();
    assert_eq!(format_datum_in(&Datum::TimestampTz(tz), &paris).unwrap(), "2024-03-01 11:00:00+01");
    let summer = parse_timestamptz_in("2024-07-01 12:00:00", &paris).unwrap();
    assert_eq!(format_datum(&Datum::TimestampTz(summer)).unwrap(), "2024-07-01 10:00:00+00");
    assert_eq!(
        format_datum_in(&Datum::TimestampTz(summer), &Zone::parse("+05:30").unwrap()).unwrap(),
        "2024-07-01 15:30:00+05:30"
    );
    assert_eq!(format_datum(&Datum::Date(parse_date("2000-02-29").unwrap())).unwrap(), "2000-02-29");
    assert!(parse_date("2001-02-29").is_err());
}

#[test]
fn scalars_parse() {
    assert_eq!(parse_int::<i32>(" 42 ", "integer"), Ok(42));
    assert!(matches!(parse_int::<i16>("70000", "smallint"), Err(ParseError::OutOfRange { .. })));
    assert!(matches!(parse_int::<i32>("4x", "integer"), Err(ParseError::InvalidSyntax { .. })));
    assert_eq!(parse_bool("YES"), Ok(true));
    assert_eq!(parse_bool("f"), Ok(false));
    assert_eq!(
        parse_jsonb(r#"{"b": 1, "aa": [1, 2], "a": null}"#).unwrap(),
        r#"{"a": null, "b": 1, "aa": [1, 2]}"#
    );
    assert_eq!(format_datum(&Datum::Bytes(vec![1, 171])).unwrap(), "\\x01ab");
    let arr = parse_array(r#"{1, NULL ,"3"}"#, &ScalarType::Int32).unwrap();
    assert_eq!(arr, vec![Datum::Int32(1), Datum::Null, Datum::Int32(3)]);
    let text = Datum::Array(vec![
        Datum::String("a b".into()),
        Datum::String("".into()),
        Datum::Null,
        Datum::String("q\"".into()),
    ]);
    assert_eq!(format_datum(&text).unwrap(), r#"{"a b","",NULL,"q\""}"#);
    assert_eq!(
        parse_array(r#"{"a b","",NULL,"q\""}"#, &ScalarType::String).unwrap(),
        match text {
            Datum::Array(v) => v,
            _ => unreachable!(),
        }
    );
}
