use super::*;
use std::collections::hash_map::DefaultHasher;

/// A row's bytes read back are the row; bytes cut inside a datum, an unknown tag or text
/// that is not UTF-8 are refused.
#[test]
fn from_bytes_checks_the_encoding() {
    let row = Row::new(sample());
    let bytes = row.as_bytes();
    assert_eq!(Row::from_bytes(bytes).unwrap(), row);
    assert_eq!(Row::from_bytes(bytes).unwrap().as_bytes(), bytes);
    let boundaries: Vec<usize> = row
        .slices()
        .scan(0, |at, d| {
            *at += d.len();
            Some(*at)
        })
        .collect();
    for cut in 0..bytes.len() {
        let whole = cut == 0 || boundaries.contains(&cut);
        assert_eq!(Row::from_bytes(&bytes[..cut]).is_ok(), whole, "cut at {cut}");
    }
    assert!(Row::from_bytes(&[99]).is_err());
    assert!(Row::from_bytes(&[tag::STRING_SHORT, 2, 0xc3, 0x28]).is_err());
    assert!(Row::from_bytes(&[tag::ARRAY, 2, 0, 0, 0, tag::STRING_SHORT, 1]).is_err());
    assert!(Row::from_bytes(&[tag::STRING_LONG, 0xff, 0xff, 0xff, 0xff]).is_err());
}

/// Rows stored back to back read back as themselves, compare and hash as the rows do, and
/// an owned row equals its borrowed form.
#[test]
fn row_vec_holds_rows() {
    let rows = vec![
        Row::new(sample()),
        Row::new(vec![]),
        Row::new(vec![Datum::Int64(1)]),
        Row::new(vec![Datum::String("x".repeat(300))]),
        Row::new(vec![Datum::Numeric("2.000".parse().unwrap())]),
    ];
    let mut store = RowVec::with_capacity(0, 0);
    for r in &rows {
        store.push(r);
    }
    assert_eq!(store.len(), rows.len());
    let hash = |r: &RowRef| {
        let mut h = DefaultHasher::new();
        r.hash(&mut h);
        h.finish()
    };
    for (i, r) in rows.iter().enumerate() {
        let stored = store.get(i);
        assert_eq!(stored.as_bytes(), r.as_bytes());
        assert_eq!(stored, &**r);
        assert!(stored == r);
        assert_eq!(hash(stored), hash(r));
        assert_eq!(&stored.to_owned(), r);
        for (j, other) in rows.iter().enumerate() {
            assert_eq!(stored.cmp(store.get(j)), r.cmp(other));
        }
    }
    // Equal by value, different bytes: numeric 2.000 and 2.
    let two = Row::new(vec![Datum::Numeric("2".parse().unwrap())]);
    assert!(store.get(4) == &two);
    store.clear();
    assert!(store.is_empty());
}

fn sample() -> Vec<Datum> {
    vec![
        Datum::Null,
        Datum::Bool(true),
        Datum::Bool(false),
        Datum::Int16(-7),
        Datum::Int32(i32::MIN),
        Datum::Int64(0),
        Datum::Int64(-128),
        Datum::Int64(300),
        Datum::Int64(-70_000),
        Datum::Int64(i64::MAX),
        Datum::Float32(F32(-0.5)),
        Datum::f64(f64::NAN),
        Datum::Numeric(Decimal::new(-12345, 3)),
        Datum::String(String::new()),
        Datum::String("é".repeat(300)),
        Datum::Bytes(vec![0, 255, 7]),
        Datum::Date(-1),
        Datum::Timestamp(1_700_000_000_000_000),
        Datum::TimestampTz(-5),
        Datum::Interval(Interval {
            months: 1,
            days: -2,
            micros: 3,
        }),
        Datum::Jsonb("{\"a\": 1}".into()),
        Datum::Array(vec![Datum::Int32(1), Datum::Null, Datum::Array(vec![Datum::String("x".into())])]),
        Datum::Array(vec![]),
    ]
}

fn hash(r: &Row) -> u64 {
    let mut h = DefaultHasher::new();
    r.hash(&mut h);
    h.finish()
}

#[test]
fn round_trips() {
    let datums = sample();
    let row = Row::pack_slice(&datums);
    assert_eq!(row.unpack(), datums);
    assert_eq!(row.arity(), datums.len());
    for (i, d) in datums.iter().enumerate() {
        assert_eq!(row.get(i), *d, "column {i}");
        assert_eq!(row.get(i).to_datum(), *d);
    }
    let repacked = Row::pack(row.iter());
    assert_eq!(repacked.as_bytes(), row.as_bytes());
}

#[test]
fn serialized_form_is_that_of_a_datum_vector() {
    #[derive(Serialize)]
    struct Old(Vec<Datum>);
    let datums = sample();
    let row = Row::pack_slice(&datums);
    let old = bincode::serialize(&Old(datums.clone())).unwrap();
    assert_eq!(bincode::serialize(&row).unwrap(), old);
    assert_eq!(bincode::deserialize::<Row>(&old).unwrap(), row);
    // JSON has no NaN (serde_json writes null), so the JSON check leaves it out.
    let datums: Vec<Datum> = datums
        .into_iter()
        .filter(|d| !matches!(d, Datum::Float64(f) if f.0.is_nan()))
        .collect();
    let row = Row::pack_slice(&datums);
    let json = serde_json::to_string(&Old(datums)).unwrap();
    assert_eq!(serde_json::to_string(&row).unwrap(), json);
    assert_eq!(serde_json::from_str::<Row>(&json).unwrap(), row);
}

#[test]
fn equal_values_with_different_bytes_are_equal() {
    let pairs = [
        (Datum::Numeric(Decimal::new(10, 1)), Datum::Numeric(Decimal::new(100, 2))),
        (Datum::f64(-0.0), Datum::f64(0.0)),
        (Datum::Float32(F32(f32::NAN)), Datum::Float32(F32(-f32::NAN))),
        (
            Datum::Interval(Interval {
                months: 1,
                days: 0,
                micros: 0,
            }),
            Datum::Interval(Interval {
                months: 0,
                days: 30,
                micros: 0,
            }),
        ),
    ];
    for (a, b) in pairs {
        let (ra, rb) = (
            Row::new(vec![Datum::Int32(1), a.clone()]),
            Row::new(vec![Datum::Int32(1), b.clone()]),
        );
        assert_ne!(ra.as_bytes(), rb.as_bytes());
        assert_eq!(ra, rb, "{a:?} = {b:?}");
        assert_eq!(ra.cmp(&rb), Ordering::Equal);
        assert_eq!(hash(&ra), hash(&rb), "{a:?} and {b:?} hash alike");
    }
}

#[test]
fn order_is_that_of_datum_vectors() {
    let mut values = sample();
    values.extend([
        Datum::Int64(-1),
        Datum::Int64(1),
        Datum::Int64(i64::MIN),
        Datum::String("a".into()),
        Datum::String("ab".into()),
        Datum::f64(1.5),
        Datum::f64(f64::NEG_INFINITY),
        Datum::Array(vec![Datum::Int32(1)]),
        // Same tags, compared without decoding: signs, widths, prefixes, UTF-8 order.
        Datum::Int64(-100),
        Datum::Int64(100),
        Datum::Int64(-100_000),
        Datum::Int64(i64::MIN + 1),
        Datum::Int32(-1),
        Datum::Int32(i32::MAX),
        Datum::Date(1),
        Datum::Timestamp(-1),
        Datum::TimestampTz(i64::MAX),
        Datum::String("a\u{0}".into()),
        Datum::String("é".into()),
        Datum::String("z".into()),
    ]);
    let rows: Vec<Vec<Datum>> = values
        .iter()
        .flat_map(|a| values.iter().map(move |b| vec![a.clone(), b.clone()]))
        .chain(values.iter().map(|a| vec![a.clone()]))
        .collect();
    for a in &rows {
        for b in &rows {
            let (ra, rb) = (Row::pack_slice(a), Row::pack_slice(b));
            assert_eq!(ra.cmp(&rb), a.cmp(b), "{a:?} vs {b:?}");
            assert_eq!(ra == rb, a == b);
        }
    }
}

#[test]
fn projections_copy_columns() {
    let datums = sample();
    let row = Row::pack_slice(&datums);
    let cols = [14, 0, 21, 14, 5];
    let want: Vec<Datum> = cols.iter().map(|i| datums[*i].clone()).collect();
    assert_eq!(row.project(&cols).unpack(), want);
    assert_eq!(row.project(&[3]).unpack(), vec![datums[3].clone()]);
    assert_eq!(row.project(&[]).arity(), 0);
}

#[test]
fn small_rows_stay_inline() {
    let key = Row::new(vec![Datum::Int64(123_456), Datum::Int64(9)]);
    assert_eq!(key.heap_size(), 0);
    assert_eq!(key.as_bytes().len(), 7);
    assert_eq!(std::mem::size_of::<Row>(), 24);
}

#[test]
fn nested_builds_do_not_share_the_scratch_buffer() {
    let row = Row::build(|p| {
        let inner = Row::new(vec![Datum::String("inner".into())]);
        p.push_datum(&Datum::Int32(1));
        p.extend_by_row(&inner);
    });
    assert_eq!(row.unpack(), vec![Datum::Int32(1), Datum::String("inner".into())]);
}
