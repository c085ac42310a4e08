//! Rows packed into one byte buffer, and the borrowed datums read out of them.
//!
//! A [`Row`] holds its datums back to back in a [`CompactBytes`] (24 bytes, up to 23 bytes of
//! datums inline, one exact-size heap allocation beyond that): per datum a tag byte and the
//! value's bytes, strings and byte strings inline after their length. Reading a row yields
//! [`DatumRef`]s that borrow strings from the buffer, so keys, projections and joins copy bytes
//! instead of cloning values. A [`Row`] dereferences to a [`RowRef`] (as `String` to `str`),
//! which every reading method takes; a [`RowVec`] stores many rows' bytes back to back, so an
//! arrangement's batches hold one allocation for all their rows and lend out `&RowRef`s.
//!
//! Equality, order and hashing are those of the decoded values, not of the bytes: `numeric`
//! 1.0 and 1.00, `-0.0` and `0.0`, and intervals of equal length are equal, as in PostgreSQL,
//! although each keeps its own bytes (and so its own text form). Identical bytes are always
//! equal values, which gives comparisons a fast path. The order is the one `Vec<Datum>`
//! derived before rows were packed (datum kinds in declaration order, then values), so
//! arrangements, DISTINCT and everything else that sorts rows behave as before.
//!
//! The serialized form (bincode in the durable log, JSON in the catalog) is the one of a
//! `Vec<Datum>`, so logs written before rows were packed still read.

use crate::datum::{Datum, Interval, F32, F64};
use compact_bytes::CompactBytes;
use rust_decimal::Decimal;
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

mod vec;
pub use vec::RowVec;

/// A datum borrowed from a packed [`Row`]: scalars by value, strings and bytes by reference.
///
/// Variants are declared in [`Datum`]'s order, so the derived order is `Datum`'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum DatumRef<'a> {
    /// SQL NULL.
    Null,
    /// `boolean`
    Bool(bool),
    /// `smallint`
    Int16(i16),
    /// `integer`
    Int32(i32),
    /// `bigint`
    Int64(i64),
    /// `real`
    Float32(F32),
    /// `double precision`
    Float64(F64),
    /// `numeric`
    Numeric(#[serde(with = "rust_decimal::serde::str")] Decimal),
    /// `text` / `varchar`
    String(&'a str),
    /// `bytea`
    Bytes(&'a [u8]),
    /// `date`
    Date(i32),
    /// `timestamp`
    Timestamp(i64),
    /// `timestamptz`
    TimestampTz(i64),
    /// `interval`
    Interval(Interval),
    /// `jsonb`
    Jsonb(&'a str),
    /// An array's packed elements.
    Array(ArrayRef<'a>),
}

impl<'a> DatumRef<'a> {
    /// True for SQL NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, DatumRef::Null)
    }

    /// The owned datum.
    pub fn to_datum(self) -> Datum {
        match self {
            DatumRef::Null => Datum::Null,
            DatumRef::Bool(b) => Datum::Bool(b),
            DatumRef::Int16(v) => Datum::Int16(v),
            DatumRef::Int32(v) => Datum::Int32(v),
            DatumRef::Int64(v) => Datum::Int64(v),
            DatumRef::Float32(v) => Datum::Float32(v),
            DatumRef::Float64(v) => Datum::Float64(v),
            DatumRef::Numeric(v) => Datum::Numeric(v),
            DatumRef::String(s) => Datum::String(s.to_owned()),
            DatumRef::Bytes(b) => Datum::Bytes(b.to_vec()),
            DatumRef::Date(v) => Datum::Date(v),
            DatumRef::Timestamp(v) => Datum::Timestamp(v),
            DatumRef::TimestampTz(v) => Datum::TimestampTz(v),
            DatumRef::Interval(v) => Datum::Interval(v),
            DatumRef::Jsonb(s) => Datum::Jsonb(s.to_owned()),
            DatumRef::Array(a) => Datum::Array(a.iter().map(DatumRef::to_datum).collect()),
        }
    }
}

impl PartialEq<Datum> for DatumRef<'_> {
    fn eq(&self, other: &Datum) -> bool {
        match (self, other) {
            (DatumRef::Null, Datum::Null) => true,
            (DatumRef::Bool(a), Datum::Bool(b)) => a == b,
            (DatumRef::Int16(a), Datum::Int16(b)) => a == b,
            (DatumRef::Int32(a), Datum::Int32(b)) => a == b,
            (DatumRef::Int64(a), Datum::Int64(b)) => a == b,
            (DatumRef::Float32(a), Datum::Float32(b)) => a == b,
            (DatumRef::Float64(a), Datum::Float64(b)) => a == b,
            (DatumRef::Numeric(a), Datum::Numeric(b)) => a == b,
            (DatumRef::String(a), Datum::String(b)) => *a == b.as_str(),
            (DatumRef::Bytes(a), Datum::Bytes(b)) => *a == b.as_slice(),
            (DatumRef::Date(a), Datum::Date(b)) => a == b,
            (DatumRef::Timestamp(a), Datum::Timestamp(b)) => a == b,
            (DatumRef::TimestampTz(a), Datum::TimestampTz(b)) => a == b,
            (DatumRef::Interval(a), Datum::Interval(b)) => a == b,
            (DatumRef::Jsonb(a), Datum::Jsonb(b)) => *a == b.as_str(),
            (DatumRef::Array(a), Datum::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == *y),
            _ => false,
        }
    }
}

/// The elements of an array inside a packed row.
#[derive(Clone, Copy)]
pub struct ArrayRef<'a> {
    elements: &'a [u8],
}

impl<'a> ArrayRef<'a> {
    /// The elements, in order.
    pub fn iter(&self) -> DatumIter<'a> {
        DatumIter { bytes: self.elements }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// True for an empty array.
    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }
}

impl PartialEq for ArrayRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.elements == other.elements || cmp_packed(self.elements, other.elements) == Ordering::Equal
    }
}
impl Eq for ArrayRef<'_> {}
impl PartialOrd for ArrayRef<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ArrayRef<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_packed(self.elements, other.elements)
    }
}
impl Hash for ArrayRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `Vec<Datum>` hashes: the length, then the elements.
        state.write_usize(self.len());
        self.iter().for_each(|d| d.hash(state));
    }
}
impl fmt::Debug for ArrayRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}
impl Serialize for ArrayRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for d in self.iter() {
            seq.serialize_element(&d)?;
        }
        seq.end()
    }
}

/// Tags: one byte before each datum's value.
mod tag {
    pub const NULL: u8 = 0;
    pub const FALSE: u8 = 1;
    pub const TRUE: u8 = 2;
    pub const INT16: u8 = 3;
    pub const INT32: u8 = 4;
    pub const INT64: u8 = 5;
    /// A `bigint` that fits in one byte.
    pub const INT64_1: u8 = 6;
    /// A `bigint` that fits in two bytes.
    pub const INT64_2: u8 = 7;
    /// A `bigint` that fits in four bytes.
    pub const INT64_4: u8 = 8;
    pub const FLOAT32: u8 = 9;
    pub const FLOAT64: u8 = 10;
    pub const NUMERIC: u8 = 11;
    /// A string of under 256 bytes: a one-byte length.
    pub const STRING_SHORT: u8 = 12;
    /// A longer string: a four-byte length.
    pub const STRING_LONG: u8 = 13;
    pub const BYTES_SHORT: u8 = 14;
    pub const BYTES_LONG: u8 = 15;
    pub const DATE: u8 = 16;
    pub const TIMESTAMP: u8 = 17;
    pub const TIMESTAMPTZ: u8 = 18;
    pub const INTERVAL: u8 = 19;
    pub const JSONB_SHORT: u8 = 20;
    pub const JSONB_LONG: u8 = 21;
    /// An array: the elements' byte length (four bytes), then the elements packed as a row.
    pub const ARRAY: u8 = 22;
}

fn push_len_prefixed(buf: &mut Vec<u8>, short: u8, long: u8, bytes: &[u8]) {
    match u8::try_from(bytes.len()) {
        Ok(n) => buf.extend_from_slice(&[short, n]),
        Err(_) => {
            buf.push(long);
            buf.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        }
    }
    buf.extend_from_slice(bytes);
}

fn push_int64(buf: &mut Vec<u8>, v: i64) {
    if let Ok(v) = i8::try_from(v) {
        buf.extend_from_slice(&[tag::INT64_1, v as u8]);
    } else if let Ok(v) = i16::try_from(v) {
        buf.push(tag::INT64_2);
        buf.extend_from_slice(&v.to_le_bytes());
    } else if let Ok(v) = i32::try_from(v) {
        buf.push(tag::INT64_4);
        buf.extend_from_slice(&v.to_le_bytes());
    } else {
        buf.push(tag::INT64);
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

fn push_tagged(buf: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    buf.push(tag);
    buf.extend_from_slice(bytes);
}

fn push_interval(buf: &mut Vec<u8>, i: &Interval) {
    buf.push(tag::INTERVAL);
    buf.extend_from_slice(&i.months.to_le_bytes());
    buf.extend_from_slice(&i.days.to_le_bytes());
    buf.extend_from_slice(&i.micros.to_le_bytes());
}

/// Appends an array header, the elements written by `elements`, then fills in their length.
fn push_array(buf: &mut Vec<u8>, elements: impl FnOnce(&mut Vec<u8>)) {
    buf.push(tag::ARRAY);
    let at = buf.len();
    buf.extend_from_slice(&[0; 4]);
    elements(buf);
    let len = (buf.len() - at - 4) as u32;
    buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

/// Appends one borrowed datum's encoding.
fn push_ref(buf: &mut Vec<u8>, d: DatumRef<'_>) {
    match d {
        DatumRef::Null => buf.push(tag::NULL),
        DatumRef::Bool(b) => buf.push(if b { tag::TRUE } else { tag::FALSE }),
        DatumRef::Int16(v) => push_tagged(buf, tag::INT16, &v.to_le_bytes()),
        DatumRef::Int32(v) => push_tagged(buf, tag::INT32, &v.to_le_bytes()),
        DatumRef::Int64(v) => push_int64(buf, v),
        DatumRef::Float32(v) => push_tagged(buf, tag::FLOAT32, &v.0.to_le_bytes()),
        DatumRef::Float64(v) => push_tagged(buf, tag::FLOAT64, &v.0.to_le_bytes()),
        DatumRef::Numeric(v) => push_tagged(buf, tag::NUMERIC, &v.serialize()),
        DatumRef::String(s) => push_len_prefixed(buf, tag::STRING_SHORT, tag::STRING_LONG, s.as_bytes()),
        DatumRef::Bytes(b) => push_len_prefixed(buf, tag::BYTES_SHORT, tag::BYTES_LONG, b),
        DatumRef::Date(v) => push_tagged(buf, tag::DATE, &v.to_le_bytes()),
        DatumRef::Timestamp(v) => push_tagged(buf, tag::TIMESTAMP, &v.to_le_bytes()),
        DatumRef::TimestampTz(v) => push_tagged(buf, tag::TIMESTAMPTZ, &v.to_le_bytes()),
        DatumRef::Interval(i) => push_interval(buf, &i),
        DatumRef::Jsonb(s) => push_len_prefixed(buf, tag::JSONB_SHORT, tag::JSONB_LONG, s.as_bytes()),
        DatumRef::Array(a) => push_array(buf, |buf| buf.extend_from_slice(a.elements)),
    }
}

/// Appends one owned datum's encoding (the same bytes as its [`DatumRef`]).
fn push_datum(buf: &mut Vec<u8>, d: &Datum) {
    match d {
        Datum::Null => buf.push(tag::NULL),
        Datum::Bool(b) => buf.push(if *b { tag::TRUE } else { tag::FALSE }),
        Datum::Int16(v) => push_tagged(buf, tag::INT16, &v.to_le_bytes()),
        Datum::Int32(v) => push_tagged(buf, tag::INT32, &v.to_le_bytes()),
        Datum::Int64(v) => push_int64(buf, *v),
        Datum::Float32(v) => push_tagged(buf, tag::FLOAT32, &v.0.to_le_bytes()),
        Datum::Float64(v) => push_tagged(buf, tag::FLOAT64, &v.0.to_le_bytes()),
        Datum::Numeric(v) => push_tagged(buf, tag::NUMERIC, &v.serialize()),
        Datum::String(s) => push_len_prefixed(buf, tag::STRING_SHORT, tag::STRING_LONG, s.as_bytes()),
        Datum::Bytes(b) => push_len_prefixed(buf, tag::BYTES_SHORT, tag::BYTES_LONG, b),
        Datum::Date(v) => push_tagged(buf, tag::DATE, &v.to_le_bytes()),
        Datum::Timestamp(v) => push_tagged(buf, tag::TIMESTAMP, &v.to_le_bytes()),
        Datum::TimestampTz(v) => push_tagged(buf, tag::TIMESTAMPTZ, &v.to_le_bytes()),
        Datum::Interval(i) => push_interval(buf, i),
        Datum::Jsonb(s) => push_len_prefixed(buf, tag::JSONB_SHORT, tag::JSONB_LONG, s.as_bytes()),
        Datum::Array(elems) => push_array(buf, |buf| elems.iter().for_each(|e| push_datum(buf, e))),
    }
}

/// Splits `N` bytes off the front of `bytes`.
#[inline(always)]
fn take<const N: usize>(bytes: &mut &[u8]) -> [u8; N] {
    let (head, rest) = bytes.split_first_chunk::<N>().expect("a packed datum is whole");
    *bytes = rest;
    *head
}

#[inline]
fn take_slice<'a>(bytes: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    head
}

/// Reads a string that `push_ref` / `push_datum` wrote.
#[inline]
fn as_str(bytes: &[u8]) -> &str {
    // SAFETY: a row's bytes are written only by `push_ref` and `push_datum`, which copy string
    // bytes from a `&str` (valid UTF-8) under a string or jsonb tag, and a row's buffer is never
    // handed out mutably; the bytes read here are exactly those.
    unsafe { std::str::from_utf8_unchecked(bytes) }
}

/// Decodes the datum at the front of `bytes` and advances past it.
#[inline(always)]
fn read_datum<'a>(bytes: &mut &'a [u8]) -> DatumRef<'a> {
    let t = take::<1>(bytes)[0];
    match t {
        tag::NULL => DatumRef::Null,
        tag::FALSE => DatumRef::Bool(false),
        tag::TRUE => DatumRef::Bool(true),
        tag::INT16 => DatumRef::Int16(i16::from_le_bytes(take(bytes))),
        tag::INT32 => DatumRef::Int32(i32::from_le_bytes(take(bytes))),
        tag::INT64 => DatumRef::Int64(i64::from_le_bytes(take(bytes))),
        tag::INT64_1 => DatumRef::Int64(i8::from_le_bytes(take(bytes)) as i64),
        tag::INT64_2 => DatumRef::Int64(i16::from_le_bytes(take(bytes)) as i64),
        tag::INT64_4 => DatumRef::Int64(i32::from_le_bytes(take(bytes)) as i64),
        tag::FLOAT32 => DatumRef::Float32(F32(f32::from_le_bytes(take(bytes)))),
        tag::FLOAT64 => DatumRef::Float64(F64(f64::from_le_bytes(take(bytes)))),
        tag::NUMERIC => DatumRef::Numeric(Decimal::deserialize(take(bytes))),
        tag::STRING_SHORT | tag::BYTES_SHORT | tag::JSONB_SHORT => {
            let n = take::<1>(bytes)[0] as usize;
            variable(t, take_slice(bytes, n))
        }
        tag::STRING_LONG | tag::BYTES_LONG | tag::JSONB_LONG => {
            let n = u32::from_le_bytes(take(bytes)) as usize;
            variable(t, take_slice(bytes, n))
        }
        tag::DATE => DatumRef::Date(i32::from_le_bytes(take(bytes))),
        tag::TIMESTAMP => DatumRef::Timestamp(i64::from_le_bytes(take(bytes))),
        tag::TIMESTAMPTZ => DatumRef::TimestampTz(i64::from_le_bytes(take(bytes))),
        tag::INTERVAL => DatumRef::Interval(Interval {
            months: i32::from_le_bytes(take(bytes)),
            days: i32::from_le_bytes(take(bytes)),
            micros: i64::from_le_bytes(take(bytes)),
        }),
        tag::ARRAY => {
            let n = u32::from_le_bytes(take(bytes)) as usize;
            DatumRef::Array(ArrayRef {
                elements: take_slice(bytes, n),
            })
        }
        other => unreachable!("a packed row holds tag {other}, which no writer produces"),
    }
}

fn variable(t: u8, value: &[u8]) -> DatumRef<'_> {
    match t {
        tag::STRING_SHORT | tag::STRING_LONG => DatumRef::String(as_str(value)),
        tag::JSONB_SHORT | tag::JSONB_LONG => DatumRef::Jsonb(as_str(value)),
        _ => DatumRef::Bytes(value),
    }
}

/// Bytes the datum at the front of `bytes` takes, tag included.
#[inline]
fn datum_len(bytes: &[u8]) -> usize {
    checked_datum_len(bytes).expect("a packed row holds only whole datums with known tags")
}

/// Bytes the datum at the front of `bytes` takes, tag included; None for an unknown tag or a
/// length that does not fit in `bytes`' first five.
#[inline]
fn checked_datum_len(bytes: &[u8]) -> Option<usize> {
    Some(
        1 + match *bytes.first()? {
            tag::NULL | tag::FALSE | tag::TRUE => 0,
            tag::INT64_1 => 1,
            tag::INT16 | tag::INT64_2 => 2,
            tag::INT32 | tag::INT64_4 | tag::FLOAT32 | tag::DATE => 4,
            tag::INT64 | tag::FLOAT64 | tag::TIMESTAMP | tag::TIMESTAMPTZ => 8,
            tag::NUMERIC | tag::INTERVAL => 16,
            tag::STRING_SHORT | tag::BYTES_SHORT | tag::JSONB_SHORT => 1 + *bytes.get(1)? as usize,
            tag::STRING_LONG | tag::BYTES_LONG | tag::JSONB_LONG | tag::ARRAY => {
                4 + u32::from_le_bytes(bytes.get(1..5)?.try_into().ok()?) as usize
            }
            _ => return None,
        },
    )
}

/// Whether `bytes` is a whole sequence of well-formed datums: known tags, lengths within the
/// bytes, UTF-8 text, well-formed array elements.
fn well_formed(mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        let Some(datum) = checked_datum_len(bytes).and_then(|n| bytes.get(..n)) else {
            return false;
        };
        let ok = match datum[0] {
            tag::STRING_SHORT | tag::JSONB_SHORT => std::str::from_utf8(&datum[2..]).is_ok(),
            tag::STRING_LONG | tag::JSONB_LONG => std::str::from_utf8(&datum[5..]).is_ok(),
            tag::ARRAY => well_formed(&datum[5..]),
            _ => true,
        };
        if !ok {
            return false;
        }
        bytes = &bytes[datum.len()..];
    }
    true
}

/// Bytes that are not a packed row (see [`Row::from_bytes`]).
#[derive(Debug, thiserror::Error)]
#[error("malformed packed row")]
pub struct MalformedRow;

/// The datums of a packed row (or array), in order.
#[derive(Clone)]
pub struct DatumIter<'a> {
    bytes: &'a [u8],
}

impl<'a> Iterator for DatumIter<'a> {
    type Item = DatumRef<'a>;
    #[inline]
    fn next(&mut self) -> Option<DatumRef<'a>> {
        if self.bytes.is_empty() {
            None
        } else {
            Some(read_datum(&mut self.bytes))
        }
    }
}

/// Each datum's bytes, tag included, in order: walking a row without decoding it.
struct DatumSlices<'a> {
    bytes: &'a [u8],
}

impl<'a> Iterator for DatumSlices<'a> {
    type Item = &'a [u8];
    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.bytes.is_empty() {
            return None;
        }
        let (d, rest) = self.bytes.split_at(datum_len(self.bytes));
        self.bytes = rest;
        Some(d)
    }
}

/// One record of a relation: its datums packed into one buffer (see the module docs).
#[derive(Clone, Default)]
pub struct Row {
    data: CompactBytes,
}

thread_local! {
    /// Scratch space rows are encoded into before being copied out at their exact size.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Row {
    /// A row of the given datums.
    pub fn new(datums: Vec<Datum>) -> Self {
        Self::pack_slice(&datums)
    }

    /// A row of the given datums.
    pub fn pack_slice(datums: &[Datum]) -> Self {
        Self::build(|p| datums.iter().for_each(|d| p.push_datum(d)))
    }

    /// A row of the given borrowed datums.
    pub fn pack<'a>(datums: impl IntoIterator<Item = DatumRef<'a>>) -> Self {
        Self::build(|p| datums.into_iter().for_each(|d| p.push(d)))
    }

    /// A row written by `f` into a [`RowPacker`].
    pub fn build(f: impl FnOnce(&mut RowPacker)) -> Self {
        let built: Result<Row, std::convert::Infallible> = Self::try_build(|p| {
            f(p);
            Ok(())
        });
        match built {
            Ok(row) => row,
            Err(never) => match never {},
        }
    }

    /// A row written by `f` into a [`RowPacker`], or `f`'s error.
    pub fn try_build<E>(f: impl FnOnce(&mut RowPacker) -> Result<(), E>) -> Result<Self, E> {
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut buf) => {
                buf.clear();
                let mut packer = RowPacker {
                    buf: std::mem::take(&mut *buf),
                };
                let result = f(&mut packer);
                let row = result.map(|()| Row {
                    data: CompactBytes::new(&packer.buf),
                });
                *buf = packer.buf;
                row
            }
            // `f` built another row while building this one: give it its own buffer.
            Err(_) => {
                let mut packer = RowPacker { buf: Vec::new() };
                f(&mut packer)?;
                Ok(Row {
                    data: CompactBytes::new(&packer.buf),
                })
            }
        })
    }

    /// The row whose encoding ([`RowRef::as_bytes`]) is `bytes`, read back from storage: checked
    /// to be well-formed, so corrupt bytes are an error rather than a panic or invalid text.
    pub fn from_bytes(bytes: &[u8]) -> Result<Row, MalformedRow> {
        if well_formed(bytes) {
            Ok(Row {
                data: CompactBytes::new(bytes),
            })
        } else {
            Err(MalformedRow)
        }
    }

    /// Bytes the row owns on the heap, not counting its own inline size (none when its datums
    /// fit in the 23 inline bytes).
    pub fn heap_size(&self) -> usize {
        if self.data.spilled() {
            self.data.capacity()
        } else {
            0
        }
    }
}

/// A packed row borrowed: what [`Row`] dereferences to, and what an arrangement's
/// [`RowVec`] hands out without copying. Every reading method of a row lives here.
///
/// Like `str` to `String`: `&Row` coerces to `&RowRef`, [`RowRef::to_owned`] copies the bytes
/// into a [`Row`]. Equality, order and hashing are [`Row`]'s (by value).
#[repr(transparent)]
pub struct RowRef {
    data: [u8],
}

impl RowRef {
    /// The bytes of a row written by this module (a [`Row`]'s, or a [`RowVec`]'s item).
    #[inline(always)]
    fn from_packed(bytes: &[u8]) -> &RowRef {
        // SAFETY: `RowRef` is `repr(transparent)` over `[u8]`, so the pointer cast keeps the
        // slice's layout and length. Only bytes a row was packed into reach here (`Row::deref`,
        // `RowVec::get`), so the datums read from them are well-formed (see `as_str`).
        unsafe { &*(bytes as *const [u8] as *const RowRef) }
    }

    /// The datums of the row, in order.
    #[inline]
    pub fn iter(&self) -> DatumIter<'_> {
        DatumIter { bytes: &self.data }
    }

    /// The datum in column `i`. Panics when the row has fewer columns.
    #[inline]
    pub fn get(&self, i: usize) -> DatumRef<'_> {
        read_datum(&mut self.datum_bytes(i))
    }

    /// The bytes of the datum in column `i`. Panics when the row has fewer columns.
    fn datum_bytes(&self, i: usize) -> &[u8] {
        self.slices()
            .nth(i)
            .unwrap_or_else(|| panic!("column {i} of a row with {} columns", self.arity()))
    }

    /// Each datum's bytes, in order.
    fn slices(&self) -> DatumSlices<'_> {
        DatumSlices { bytes: &self.data }
    }

    /// The datums of the row, owned.
    pub fn unpack(&self) -> Vec<Datum> {
        self.iter().map(DatumRef::to_datum).collect()
    }

    /// Number of columns.
    pub fn arity(&self) -> usize {
        self.slices().count()
    }

    /// The row's columns `cols`, in that order (a byte copy of each; a column may repeat).
    pub fn project(&self, cols: &[usize]) -> Row {
        Row::build(|p| p.extend_columns(self, cols))
    }

    /// A row of this row's datums followed by `datums`.
    pub fn with_datums<'a>(&self, datums: impl IntoIterator<Item = &'a Datum>) -> Row {
        Row::build(|p| {
            p.extend_by_row(self);
            datums.into_iter().for_each(|d| p.push_datum(d));
        })
    }

    /// The row's encoding (stable: the durable log stores it; see [`Row::from_bytes`]). A
    /// `Row` has it through `Deref`.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }
}

impl ToOwned for RowRef {
    type Owned = Row;
    #[inline]
    fn to_owned(&self) -> Row {
        Row {
            data: CompactBytes::new(&self.data),
        }
    }
}

impl std::ops::Deref for Row {
    type Target = RowRef;
    #[inline(always)]
    fn deref(&self) -> &RowRef {
        RowRef::from_packed(self.data.as_slice())
    }
}

impl std::borrow::Borrow<RowRef> for Row {
    fn borrow(&self) -> &RowRef {
        self
    }
}

impl AsRef<RowRef> for Row {
    fn as_ref(&self) -> &RowRef {
        self
    }
}

/// Writes datums into a row being built (see [`Row::build`]).
pub struct RowPacker {
    buf: Vec<u8>,
}

impl RowPacker {
    /// Appends a borrowed datum.
    #[inline]
    pub fn push(&mut self, d: DatumRef<'_>) {
        push_ref(&mut self.buf, d)
    }

    /// Appends an owned datum.
    #[inline]
    pub fn push_datum(&mut self, d: &Datum) {
        push_datum(&mut self.buf, d)
    }

    /// Appends all of `row`'s datums (a byte copy).
    #[inline]
    pub fn extend_by_row(&mut self, row: &RowRef) {
        self.buf.extend_from_slice(row.as_bytes())
    }

    /// Appends `row`'s columns `cols`, in that order (byte copies).
    pub fn extend_columns(&mut self, row: &RowRef, cols: &[usize]) {
        match cols {
            [] => {}
            [i] => self.buf.extend_from_slice(row.datum_bytes(*i)),
            _ => {
                let slices: SmallVec<[&[u8]; 16]> = row.slices().collect();
                for i in cols {
                    self.buf.extend_from_slice(slices[*i]);
                }
            }
        }
    }

    /// Appends `n` NULLs.
    pub fn push_nulls(&mut self, n: usize) {
        self.buf.extend(std::iter::repeat_n(tag::NULL, n))
    }
}

/// Compares two packed sequences of datums by value, datum by datum (decoding is cheaper than
/// comparing each datum's bytes first: most datums are a few bytes. Two shortcuts were tried
/// and took more instructions: comparing same-tag integers and short strings without
/// decoding, and skipping the datums before the first differing byte by their lengths).
#[inline]
fn cmp_packed(mut a: &[u8], mut b: &[u8]) -> Ordering {
    loop {
        match (a.is_empty(), b.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {}
        }
        let ord = read_datum(&mut a).cmp(&read_datum(&mut b));
        if ord != Ordering::Equal {
            return ord;
        }
    }
}

impl PartialEq for RowRef {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (&self.data, &other.data);
        a == b || cmp_packed(a, b) == Ordering::Equal
    }
}
impl Eq for RowRef {}

impl PartialOrd for RowRef {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for RowRef {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_packed(&self.data, &other.data)
    }
}

impl Hash for RowRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for d in self.iter() {
            d.hash(state)
        }
    }
}

impl PartialEq for Row {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}
impl Eq for Row {}

impl PartialOrd for Row {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Row {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        (**self).cmp(&**other)
    }
}

impl Hash for Row {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

/// A borrowed row equals an owned one with the same values (as arrangement builders compare
/// the rows they are handed with the ones they stored).
impl<'a> PartialEq<&'a Row> for &RowRef {
    #[inline]
    fn eq(&self, other: &&'a Row) -> bool {
        **self == ***other
    }
}

impl fmt::Debug for RowRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Row").field(&RowDatums(self)).finish()
    }
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

struct RowDatums<'a>(&'a RowRef);
impl fmt::Debug for RowDatums<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}
impl Serialize for RowDatums<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.arity()))?;
        for d in self.0.iter() {
            seq.serialize_element(&d)?;
        }
        seq.end()
    }
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // As the `Row(Vec<Datum>)` newtype did.
        serializer.serialize_newtype_struct("Row", &RowDatums(self))
    }
}

impl<'de> Deserialize<'de> for Row {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename = "Row")]
        struct Unpacked(Vec<Datum>);
        Ok(Row::new(Unpacked::deserialize(deserializer)?.0))
    }
}

impl FromIterator<Datum> for Row {
    fn from_iter<I: IntoIterator<Item = Datum>>(iter: I) -> Self {
        Row::build(|p| iter.into_iter().for_each(|d| p.push_datum(&d)))
    }
}

impl<'a> FromIterator<&'a Datum> for Row {
    fn from_iter<I: IntoIterator<Item = &'a Datum>>(iter: I) -> Self {
        Row::build(|p| iter.into_iter().for_each(|d| p.push_datum(d)))
    }
}

impl<'a> FromIterator<DatumRef<'a>> for Row {
    fn from_iter<I: IntoIterator<Item = DatumRef<'a>>>(iter: I) -> Self {
        Row::pack(iter)
    }
}

#[cfg(test)]
mod tests;
