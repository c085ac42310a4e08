//! PostgreSQL type OIDs and value encodings (text and binary).

use bytes::{BufMut, BytesMut};
use pgwire::api::Type;
use riffle_repr::strconv::{self, ParseError};
use riffle_repr::zone::Zone;
use riffle_repr::{Datum, Interval, ScalarType, F32, F64};
use rust_decimal::Decimal;

/// Days from 1970-01-01 to PostgreSQL's binary epoch, 2000-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;
const PG_EPOCH_MICROS: i64 = PG_EPOCH_DAYS as i64 * 86_400_000_000;

/// The PostgreSQL type a column of this type is described as.
pub fn pg_type(t: &ScalarType) -> Type {
    match t {
        ScalarType::Bool => Type::BOOL,
        ScalarType::Int16 => Type::INT2,
        ScalarType::Int32 => Type::INT4,
        ScalarType::Int64 => Type::INT8,
        ScalarType::Float32 => Type::FLOAT4,
        ScalarType::Float64 => Type::FLOAT8,
        ScalarType::Numeric { .. } => Type::NUMERIC,
        ScalarType::String | ScalarType::Unknown => Type::TEXT,
        ScalarType::VarChar { .. } => Type::VARCHAR,
        ScalarType::Bytes => Type::BYTEA,
        ScalarType::Date => Type::DATE,
        ScalarType::Timestamp => Type::TIMESTAMP,
        ScalarType::TimestampTz => Type::TIMESTAMPTZ,
        ScalarType::Interval => Type::INTERVAL,
        ScalarType::Jsonb => Type::JSONB,
        ScalarType::Array(elem) => match pg_type(elem) {
            Type::BOOL => Type::BOOL_ARRAY,
            Type::INT2 => Type::INT2_ARRAY,
            Type::INT4 => Type::INT4_ARRAY,
            Type::INT8 => Type::INT8_ARRAY,
            Type::FLOAT4 => Type::FLOAT4_ARRAY,
            Type::FLOAT8 => Type::FLOAT8_ARRAY,
            Type::NUMERIC => Type::NUMERIC_ARRAY,
            Type::VARCHAR => Type::VARCHAR_ARRAY,
            Type::BYTEA => Type::BYTEA_ARRAY,
            Type::DATE => Type::DATE_ARRAY,
            Type::TIMESTAMP => Type::TIMESTAMP_ARRAY,
            Type::TIMESTAMPTZ => Type::TIMESTAMPTZ_ARRAY,
            Type::INTERVAL => Type::INTERVAL_ARRAY,
            Type::JSONB => Type::JSONB_ARRAY,
            _ => Type::TEXT_ARRAY,
        },
    }
}

/// The Riffle type for a PostgreSQL type a client declared for a parameter.
pub fn scalar_type(t: &Type) -> Option<ScalarType> {
    Some(match *t {
        Type::BOOL => ScalarType::Bool,
        Type::INT2 => ScalarType::Int16,
        Type::INT4 => ScalarType::Int32,
        Type::INT8 => ScalarType::Int64,
        Type::FLOAT4 => ScalarType::Float32,
        Type::FLOAT8 => ScalarType::Float64,
        Type::NUMERIC => ScalarType::NUMERIC,
        Type::TEXT | Type::NAME | Type::BPCHAR => ScalarType::String,
        Type::VARCHAR => ScalarType::VarChar { max_len: None },
        Type::BYTEA => ScalarType::Bytes,
        Type::DATE => ScalarType::Date,
        Type::TIMESTAMP => ScalarType::Timestamp,
        Type::TIMESTAMPTZ => ScalarType::TimestampTz,
        Type::INTERVAL => ScalarType::Interval,
        Type::JSONB | Type::JSON => ScalarType::Jsonb,
        ref t => match t.kind() {
            postgres_types::Kind::Array(elem) => ScalarType::Array(Box::new(scalar_type(elem)?)),
            _ => return None,
        },
    })
}

/// Appends one field (length prefix and bytes) to a DataRow buffer.
pub fn encode_field(buf: &mut BytesMut, d: &Datum, typ: &ScalarType, binary: bool, zone: &Zone) {
    encode_value(buf, d, Some(typ), binary, zone)
}

fn encode_value(buf: &mut BytesMut, d: &Datum, typ: Option<&ScalarType>, binary: bool, zone: &Zone) {
    if d.is_null() {
        buf.put_i32(-1);
        return;
    }
    let start = buf.len();
    buf.put_i32(0);
    if binary {
        match (d, typ) {
            (Datum::Array(items), Some(ScalarType::Array(elem))) => encode_array(buf, items, elem),
            (Datum::Array(items), _) => encode_array(buf, items, &ScalarType::String),
            _ => encode_binary(buf, d),
        }
    } else {
        buf.put_slice(strconv::format_datum_in(d, zone).unwrap_or_default().as_bytes());
    }
    let len = (buf.len() - start - 4) as i32;
    buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

fn encode_binary(buf: &mut BytesMut, d: &Datum) {
    match d {
        Datum::Null => {}
        Datum::Bool(b) => buf.put_u8(*b as u8),
        Datum::Int16(v) => buf.put_i16(*v),
        Datum::Int32(v) => buf.put_i32(*v),
        Datum::Int64(v) => buf.put_i64(*v),
        Datum::Float32(F32(v)) => buf.put_f32(*v),
        Datum::Float64(F64(v)) => buf.put_f64(*v),
        Datum::Numeric(n) => encode_numeric(buf, *n),
        Datum::String(s) => buf.put_slice(s.as_bytes()),
        Datum::Bytes(b) => buf.put_slice(b),
        Datum::Date(days) => buf.put_i32(days - PG_EPOCH_DAYS),
        Datum::Timestamp(t) | Datum::TimestampTz(t) => buf.put_i64(t - PG_EPOCH_MICROS),
        Datum::Interval(iv) => {
            buf.put_i64(iv.micros);
            buf.put_i32(iv.days);
            buf.put_i32(iv.months);
        }
        Datum::Jsonb(j) => {
            buf.put_u8(1);
            buf.put_slice(j.as_bytes());
        }
        Datum::Array(_) => unreachable!("arrays are encoded by encode_array, which knows the element type"),
    }
}

/// PostgreSQL's binary array: dimensions, NULL flag, element OID, bounds, then elements.
fn encode_array(buf: &mut BytesMut, items: &[Datum], elem: &ScalarType) {
    buf.put_i32(1);
    buf.put_i32(items.iter().any(Datum::is_null) as i32);
    buf.put_u32(pg_type(elem).oid());
    buf.put_i32(items.len() as i32);
    buf.put_i32(1);
    for item in items {
        encode_value(buf, item, Some(elem), true, &Zone::Utc);
    }
}

/// PostgreSQL's binary numeric: base-10000 digits with weight, sign and display scale.
fn encode_numeric(buf: &mut BytesMut, n: Decimal) {
    let scale = n.scale() as usize;
    let text = n.abs().to_string();
    let (int_part, frac_part) = text.split_once('.').unwrap_or((&text, ""));
    let int_part = int_part.trim_start_matches('0');
    // Pad the integer part on the left and the fraction on the right to groups of 4.
    let int_pad = (4 - int_part.len() % 4) % 4;
    let int_digits = format!("{}{}", "0".repeat(int_pad), int_part);
    let frac_pad = (4 - frac_part.len() % 4) % 4;
    let frac_digits = format!("{}{}", frac_part, "0".repeat(frac_pad));
    let mut groups: Vec<i16> = int_digits
        .as_bytes()
        .chunks(4)
        .chain(frac_digits.as_bytes().chunks(4))
        .map(|c| std::str::from_utf8(c).unwrap().parse().unwrap())
        .collect();
    let mut weight = (int_digits.len() / 4) as i16 - 1;
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    buf.put_i16(groups.len() as i16);
    buf.put_i16(weight);
    buf.put_u16(if n.is_sign_negative() && !n.is_zero() { 0x4000 } else { 0 });
    buf.put_u16(scale as u16);
    for g in groups {
        buf.put_i16(g);
    }
}

/// Decodes a parameter value sent by a client.
pub fn decode_param(bytes: &[u8], typ: &ScalarType, binary: bool) -> Result<Datum, String> {
    if !binary {
        let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
        return strconv::parse_datum(text, typ).map_err(|e: ParseError| e.to_string());
    }
    let need = |n: usize| {
        if bytes.len() == n {
            Ok(())
        } else {
            Err(format!("invalid binary length {} for type {typ}", bytes.len()))
        }
    };
    Ok(match typ {
        ScalarType::Bool => {
            need(1)?;
            Datum::Bool(bytes[0] != 0)
        }
        ScalarType::Int16 => {
            need(2)?;
            Datum::Int16(i16::from_be_bytes(bytes.try_into().unwrap()))
        }
        ScalarType::Int32 => {
            need(4)?;
            Datum::Int32(i32::from_be_bytes(bytes.try_into().unwrap()))
        }
        ScalarType::Int64 => {
            need(8)?;
            Datum::Int64(i64::from_be_bytes(bytes.try_into().unwrap()))
        }
        ScalarType::Float32 => {
            need(4)?;
            Datum::Float32(F32(f32::from_be_bytes(bytes.try_into().unwrap())))
        }
        ScalarType::Float64 => {
            need(8)?;
            Datum::f64(f64::from_be_bytes(bytes.try_into().unwrap()))
        }
        ScalarType::Numeric { .. } => Datum::Numeric(decode_numeric(bytes)?),
        ScalarType::String | ScalarType::VarChar { .. } | ScalarType::Unknown => {
            Datum::String(String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string())?)
        }
        ScalarType::Bytes => Datum::Bytes(bytes.to_vec()),
        ScalarType::Date => {
            need(4)?;
            Datum::Date(i32::from_be_bytes(bytes.try_into().unwrap()) + PG_EPOCH_DAYS)
        }
        ScalarType::Timestamp | ScalarType::TimestampTz => {
            need(8)?;
            let t = i64::from_be_bytes(bytes.try_into().unwrap()) + PG_EPOCH_MICROS;
            if *typ == ScalarType::Timestamp {
                Datum::Timestamp(t)
            } else {
                Datum::TimestampTz(t)
            }
        }
        ScalarType::Interval => {
            need(16)?;
            Datum::Interval(Interval {
                micros: i64::from_be_bytes(bytes[0..8].try_into().unwrap()),
                days: i32::from_be_bytes(bytes[8..12].try_into().unwrap()),
                months: i32::from_be_bytes(bytes[12..16].try_into().unwrap()),
            })
        }
        ScalarType::Jsonb => {
            let text = std::str::from_utf8(bytes.get(1..).unwrap_or_default()).map_err(|e| e.to_string())?;
            Datum::Jsonb(strconv::parse_jsonb(text).map_err(|e| e.to_string())?)
        }
        ScalarType::Array(elem) => Datum::Array(decode_array(bytes, elem)?),
    })
}

fn decode_array(bytes: &[u8], elem: &ScalarType) -> Result<Vec<Datum>, String> {
    let rd = |i: usize| -> Result<i32, String> {
        bytes
            .get(i..i + 4)
            .map(|b| i32::from_be_bytes(b.try_into().unwrap()))
            .ok_or_else(|| "truncated array".to_string())
    };
    let ndim = rd(0)?;
    if ndim == 0 {
        return Ok(Vec::new());
    }
    if ndim != 1 {
        return Err("only one-dimensional arrays are supported".into());
    }
    let len = rd(12)?.max(0) as usize;
    let mut pos = 20;
    let mut out = Vec::with_capacity(len);
    for _ in 0..len {
        let n = rd(pos)?;
        pos += 4;
        if n < 0 {
            out.push(Datum::Null);
        } else {
            let end = pos + n as usize;
            out.push(decode_param(bytes.get(pos..end).ok_or("truncated array element")?, elem, true)?);
            pos = end;
        }
    }
    Ok(out)
}

fn decode_numeric(bytes: &[u8]) -> Result<Decimal, String> {
    if bytes.len() < 8 {
        return Err("invalid numeric".into());
    }
    let rd = |i: usize| i16::from_be_bytes([bytes[i], bytes[i + 1]]);
    let (ndigits, weight, sign, dscale) = (rd(0) as usize, rd(2) as i32, rd(4) as u16, rd(6) as u32);
    if sign == 0xC000 {
        return Err("NaN is not supported for numeric".into());
    }
    let mut value = Decimal::ZERO;
    for i in 0..ndigits {
        let digit = Decimal::from(rd(8 + 2 * i));
        let power = weight - i as i32;
        let factor = if power >= 0 {
            Decimal::from(10000i64.pow(power as u32))
        } else {
            Decimal::ONE / Decimal::from(10000i64.pow((-power) as u32))
        };
        value += digit * factor;
    }
    value.rescale(dscale);
    Ok(if sign == 0x4000 { -value } else { value })
}
