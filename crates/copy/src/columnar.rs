//! Parquet and Arrow IPC: SQL rows to Arrow record batches and back.

use crate::CopyError;
use arrow_array::builder::{
    ArrayBuilder, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder, Float64Builder, Int16Builder,
    Int32Builder, Int64Builder, ListBuilder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use riffle_repr::strconv::format_datum_in;
use riffle_repr::zone::Zone;
use riffle_repr::{Datum, RelationDesc, ScalarType};
use rust_decimal::Decimal;
use std::sync::Arc;

/// Rows per record batch (and Parquet row group).
const BATCH_ROWS: usize = 65_536;

/// The Arrow type a SQL type is written as. Numbers, booleans, dates and timestamps map to their
/// Arrow counterparts (timestamptz as UTC microseconds), `numeric(p, s)` to decimal128(p, s),
/// unconstrained `numeric` to float64 (what trainers read), arrays to lists, `bytea` to binary;
/// everything else (`interval`, `jsonb`, …) to its PostgreSQL text.
pub fn arrow_type(t: &ScalarType) -> DataType {
    match t {
        ScalarType::Bool => DataType::Boolean,
        ScalarType::Int16 => DataType::Int16,
        ScalarType::Int32 => DataType::Int32,
        ScalarType::Int64 => DataType::Int64,
        ScalarType::Float32 => DataType::Float32,
        ScalarType::Float64 => DataType::Float64,
        ScalarType::Numeric { typmod: Some((p, s)) } if *p <= 38 => DataType::Decimal128(*p as u8, *s as i8),
        ScalarType::Numeric { .. } => DataType::Float64,
        ScalarType::Bytes => DataType::Binary,
        ScalarType::Date => DataType::Date32,
        ScalarType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        ScalarType::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ScalarType::Array(elem) => DataType::List(Arc::new(Field::new("item", arrow_type(elem), true))),
        _ => DataType::Utf8,
    }
}

fn schema(desc: &RelationDesc) -> Arc<Schema> {
    Arc::new(Schema::new(
        desc.names
            .iter()
            .zip(&desc.types)
            .map(|(n, t)| Field::new(n, arrow_type(&t.scalar_type), true))
            .collect::<Vec<_>>(),
    ))
}

fn to_f64(d: &Datum) -> Option<f64> {
    use rust_decimal::prelude::ToPrimitive;
    match d {
        Datum::Float64(v) => Some(v.0),
        Datum::Float32(v) => Some(v.0 as f64),
        Datum::Numeric(n) => n.to_f64(),
        Datum::Int16(v) => Some(*v as f64),
        Datum::Int32(v) => Some(*v as f64),
        Datum::Int64(v) => Some(*v as f64),
        _ => None,
    }
}

/// Appends a datum to a builder made by `make_builder` for `typ`.
fn append(b: &mut dyn ArrayBuilder, typ: &DataType, d: &Datum, zone: &Zone) {
    macro_rules! push {
        ($builder:ty, $value:expr) => {{
            let b = b.as_any_mut().downcast_mut::<$builder>().expect("builder matches its type");
            match d {
                Datum::Null => b.append_null(),
                _ => b.append_option($value),
            }
        }};
    }
    match typ {
        DataType::Boolean => push!(
            BooleanBuilder,
            match d {
                Datum::Bool(v) => Some(*v),
                _ => None,
            }
        ),
        DataType::Int16 => push!(
            Int16Builder,
            match d {
                Datum::Int16(v) => Some(*v),
                _ => None,
            }
        ),
        DataType::Int32 => push!(
            Int32Builder,
            match d {
                Datum::Int32(v) => Some(*v),
                _ => None,
            }
        ),
        DataType::Int64 => push!(
            Int64Builder,
            match d {
                Datum::Int64(v) => Some(*v),
                _ => None,
            }
        ),
        DataType::Float32 => push!(
            Float32Builder,
            match d {
                Datum::Float32(v) => Some(v.0),
                _ => None,
            }
        ),
        DataType::Float64 => push!(Float64Builder, to_f64(d)),
        DataType::Decimal128(_, s) => push!(
            Decimal128Builder,
            match d {
                Datum::Numeric(n) => {
                    let mut n = *n;
                    n.rescale(*s as u32);
                    Some(n.mantissa())
                }
                _ => None,
            }
        ),
        DataType::Binary => push!(
            BinaryBuilder,
            match d {
                Datum::Bytes(v) => Some(v.as_slice()),
                _ => None,
            }
        ),
        DataType::Date32 => push!(
            Date32Builder,
            match d {
                Datum::Date(v) => Some(*v),
                _ => None,
            }
        ),
        DataType::Timestamp(..) => push!(
            TimestampMicrosecondBuilder,
            match d {
                Datum::Timestamp(v) | Datum::TimestampTz(v) => Some(*v),
                _ => None,
            }
        ),
        DataType::List(field) => {
            let b = b
                .as_any_mut()
                .downcast_mut::<ListBuilder<Box<dyn ArrayBuilder>>>()
                .expect("list builder");
            match d {
                Datum::Array(items) => {
                    for item in items {
                        append(b.values().as_mut(), field.data_type(), item, zone);
                    }
                    b.append(true);
                }
                _ => b.append(false),
            }
        }
        _ => {
            let b = b.as_any_mut().downcast_mut::<StringBuilder>().expect("string builder");
            match d {
                Datum::Null => b.append_null(),
                Datum::Bool(v) => b.append_value(if *v { "t" } else { "f" }),
                other => b.append_option(format_datum_in(other, zone)),
            }
        }
    }
}

fn make_builder(typ: &DataType) -> Box<dyn ArrayBuilder> {
    match typ {
        DataType::List(field) => Box::new(ListBuilder::new(make_builder(field.data_type())).with_field(field.clone())),
        DataType::Decimal128(p, s) => Box::new(Decimal128Builder::new().with_precision_and_scale(*p, *s).expect("valid decimal")),
        DataType::Timestamp(_, tz) => Box::new(TimestampMicrosecondBuilder::new().with_timezone_opt(tz.clone())),
        other => arrow_array::builder::make_builder(other, 0),
    }
}

/// Rows as Arrow record batches of at most [`BATCH_ROWS`].
fn batches<'a>(
    desc: &'a RelationDesc,
    rows: &'a [Vec<Datum>],
    zone: &'a Zone,
) -> impl Iterator<Item = Result<RecordBatch, CopyError>> + 'a {
    let schema = schema(desc);
    let chunks: Vec<&[Vec<Datum>]> = if rows.is_empty() {
        vec![&[][..]]
    } else {
        rows.chunks(BATCH_ROWS).collect()
    };
    chunks.into_iter().map(move |chunk| {
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(c, field)| {
                let mut b = make_builder(field.data_type());
                for row in chunk {
                    append(b.as_mut(), field.data_type(), &row[c], zone);
                }
                b.finish()
            })
            .collect();
        RecordBatch::try_new(schema.clone(), columns).map_err(|e| CopyError::Unsupported(e.to_string()))
    })
}

/// Writes rows as a Parquet file (Snappy-compressed, a row group per 65,536 rows).
pub fn write_parquet(out: impl std::io::Write + Send, desc: &RelationDesc, rows: &[Vec<Datum>], zone: &Zone) -> Result<(), CopyError> {
    use parquet::arrow::ArrowWriter;
    use parquet::basic::Compression;
    use parquet::file::properties::WriterProperties;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(BATCH_ROWS))
        .build();
    let io = |e: parquet::errors::ParquetError| CopyError::Unsupported(format!("writing Parquet: {e}"));
    let mut writer = ArrowWriter::try_new(out, schema(desc), Some(props)).map_err(io)?;
    for batch in batches(desc, rows, zone) {
        writer.write(&batch?).map_err(io)?;
    }
    writer.close().map_err(io)?;
    Ok(())
}

/// Writes rows as an Arrow IPC file.
pub fn write_arrow(out: impl std::io::Write, desc: &RelationDesc, rows: &[Vec<Datum>], zone: &Zone) -> Result<(), CopyError> {
    let io = |e: arrow_schema::ArrowError| CopyError::Unsupported(format!("writing Arrow: {e}"));
    let mut writer = arrow_ipc::writer::FileWriter::try_new(out, &schema(desc)).map_err(io)?;
    for batch in batches(desc, rows, zone) {
        writer.write(&batch?).map_err(io)?;
    }
    writer.finish().map_err(io)?;
    Ok(())
}

/// Reads a Parquet file: its column names, and its rows as datums of the types closest to the
/// file's (the caller casts them to the table's column types).
pub fn read_parquet(bytes: Vec<u8>) -> Result<(Vec<String>, Vec<Vec<Datum>>), CopyError> {
    use arrow_array::RecordBatchReader;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let bad = |e: &dyn std::fmt::Display| CopyError::BadInput(format!("not a readable Parquet file: {e}"));
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .map_err(|e| bad(&e))?
        .build()
        .map_err(|e| bad(&e))?;
    let names: Vec<String> = reader.schema().fields().iter().map(|f| f.name().clone()).collect();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| bad(&e))?;
        let start = rows.len();
        rows.extend((0..batch.num_rows()).map(|_| Vec::with_capacity(batch.num_columns())));
        for column in batch.columns() {
            for (i, row) in rows[start..].iter_mut().enumerate() {
                row.push(datum_at(column.as_ref(), i)?);
            }
        }
    }
    Ok((names, rows))
}

/// The datum at `i` of an Arrow array.
fn datum_at(a: &dyn Array, i: usize) -> Result<Datum, CopyError> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::*;
    use riffle_repr::{F32, F64};
    if a.is_null(i) {
        return Ok(Datum::Null);
    }
    Ok(match a.data_type() {
        DataType::Boolean => Datum::Bool(a.as_boolean().value(i)),
        DataType::Int8 => Datum::Int16(a.as_primitive::<Int8Type>().value(i) as i16),
        DataType::Int16 => Datum::Int16(a.as_primitive::<Int16Type>().value(i)),
        DataType::Int32 => Datum::Int32(a.as_primitive::<Int32Type>().value(i)),
        DataType::Int64 => Datum::Int64(a.as_primitive::<Int64Type>().value(i)),
        DataType::UInt8 => Datum::Int16(a.as_primitive::<UInt8Type>().value(i) as i16),
        DataType::UInt16 => Datum::Int32(a.as_primitive::<UInt16Type>().value(i) as i32),
        DataType::UInt32 => Datum::Int64(a.as_primitive::<UInt32Type>().value(i) as i64),
        DataType::UInt64 => Datum::Numeric(Decimal::from(a.as_primitive::<UInt64Type>().value(i))),
        DataType::Float16 => Datum::Float32(F32(a.as_primitive::<Float16Type>().value(i).to_f32())),
        DataType::Float32 => Datum::Float32(F32(a.as_primitive::<Float32Type>().value(i))),
        DataType::Float64 => Datum::Float64(F64(a.as_primitive::<Float64Type>().value(i))),
        DataType::Decimal128(_, s) => Datum::Numeric(
            Decimal::try_from_i128_with_scale(a.as_primitive::<Decimal128Type>().value(i), (*s).max(0) as u32)
                .map_err(|e| CopyError::Unsupported(format!("decimal value: {e}")))?,
        ),
        DataType::Utf8 => Datum::String(a.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => Datum::String(a.as_string::<i64>().value(i).to_string()),
        DataType::Utf8View => Datum::String(a.as_string_view().value(i).to_string()),
        DataType::Binary => Datum::Bytes(a.as_binary::<i32>().value(i).to_vec()),
        DataType::LargeBinary => Datum::Bytes(a.as_binary::<i64>().value(i).to_vec()),
        DataType::Date32 => Datum::Date(a.as_primitive::<Date32Type>().value(i)),
        DataType::Timestamp(unit, tz) => {
            let v = match unit {
                TimeUnit::Second => a.as_primitive::<TimestampSecondType>().value(i).saturating_mul(1_000_000),
                TimeUnit::Millisecond => a.as_primitive::<TimestampMillisecondType>().value(i).saturating_mul(1000),
                TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().value(i),
                TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().value(i) / 1000,
            };
            if tz.is_some() {
                Datum::TimestampTz(v)
            } else {
                Datum::Timestamp(v)
            }
        }
        DataType::List(_) => {
            let values = a.as_list::<i32>().value(i);
            Datum::Array((0..values.len()).map(|j| datum_at(values.as_ref(), j)).collect::<Result<_, _>>()?)
        }
        DataType::LargeList(_) => {
            let values = a.as_list::<i64>().value(i);
            Datum::Array((0..values.len()).map(|j| datum_at(values.as_ref(), j)).collect::<Result<_, _>>()?)
        }
        other => return Err(CopyError::Unsupported(format!("Parquet column type {other} is not supported"))),
    })
}
