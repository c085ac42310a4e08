//! COPY's data: rows out in any format, and fields in (text, CSV, Parquet) turned into table
//! rows with their columns' types and defaults.

use crate::AdapterError;
use riffle_copy::{CopyError, Format, Options};
use riffle_expr::{Func, ScalarExpr};
use riffle_repr::zone::Zone;
use riffle_repr::{Datum, RelationDesc, Row, ScalarType};

/// Encodes rows in `options.format`, one chunk per row for the line formats (a CSV header
/// rides with the first row, so chunks count rows) and 64 KiB chunks for the columnar ones
/// (`binary` is the wire codec's, not encoded here).
pub fn encode(desc: &RelationDesc, rows: &[Row], options: &Options, zone: &Zone) -> Result<Vec<Vec<u8>>, AdapterError> {
    let mut chunks = Vec::with_capacity(rows.len() + 1);
    match options.format {
        Format::Text => {
            for r in rows {
                let mut out = Vec::new();
                riffle_copy::write_text_row(&mut out, &r.unpack(), options, zone);
                chunks.push(out);
            }
        }
        Format::Csv => {
            let mut header = Vec::new();
            if options.header {
                let names: Vec<Option<String>> = desc.names.iter().cloned().map(Some).collect();
                riffle_copy::write_csv_row(&mut header, &names, options);
            }
            for r in rows {
                let mut out = std::mem::take(&mut header);
                riffle_copy::write_csv_row(&mut out, &riffle_copy::csv_fields(&r.unpack(), zone), options);
                chunks.push(out);
            }
            if !header.is_empty() {
                chunks.push(header);
            }
        }
        Format::Jsonl => {
            for r in rows {
                let mut out = Vec::new();
                riffle_copy::write_jsonl_row(&mut out, &desc.names, &r.unpack(), zone);
                chunks.push(out);
            }
        }
        Format::Libsvm => {
            for r in rows {
                let mut out = Vec::new();
                riffle_copy::write_libsvm_row(&mut out, &r.unpack())?;
                chunks.push(out);
            }
        }
        Format::Parquet | Format::Arrow => {
            let rows: Vec<Vec<Datum>> = rows.iter().map(Row::unpack).collect();
            let mut out = Vec::new();
            if options.format == Format::Parquet {
                riffle_copy::write_parquet(&mut out, desc, &rows, zone)?;
            } else {
                riffle_copy::write_arrow(&mut out, desc, &rows, zone)?;
            }
            chunks.extend(out.chunks(1 << 16).map(|c| c.to_vec()));
        }
        Format::Binary => {
            return Err(CopyError::Unsupported("COPY TO a file in binary format is not supported; use TO STDOUT".into()).into())
        }
    }
    Ok(chunks)
}

/// What a `COPY table FROM` fills: which table columns the input's fields are, and every
/// column's type and default.
#[derive(Clone, Debug)]
pub struct CopyIn {
    /// The table columns the fields fill, in field order.
    pub columns: Vec<usize>,
    /// Every table column's type.
    pub types: Vec<ScalarType>,
    /// Every table column's default (None: NULL).
    pub defaults: Vec<Option<ScalarExpr>>,
    /// The format.
    pub options: Options,
}

impl CopyIn {
    /// Reads `data` into complete table rows.
    pub fn rows(&self, data: Vec<u8>, zone: &Zone) -> Result<Vec<Row>, AdapterError> {
        let fields: Vec<Vec<Datum>> = match self.options.format {
            Format::Text | Format::Csv => {
                let lines = if self.options.format == Format::Text {
                    riffle_copy::read_text(&data, &self.options)?
                } else {
                    riffle_copy::read_csv(&data, &self.options)?
                };
                lines
                    .into_iter()
                    .map(|l| l.into_iter().map(|f| f.map_or(Datum::Null, Datum::String)).collect())
                    .collect()
            }
            Format::Parquet => riffle_copy::read_parquet(data)?.1,
            other => return Err(CopyError::Unsupported(format!("COPY FROM with FORMAT {} is not supported", other.name())).into()),
        };
        let text = matches!(self.options.format, Format::Text | Format::Csv);
        let mut rows = Vec::with_capacity(fields.len());
        for (n, mut record) in fields.into_iter().enumerate() {
            let line = n + 1 + usize::from(self.options.header);
            if record.len() < self.columns.len() {
                return Err(CopyError::BadInput(format!("missing data for column {} (line {line})", record.len() + 1)).into());
            }
            if record.len() > self.columns.len() {
                return Err(CopyError::BadInput(format!("extra data after last expected column (line {line})")).into());
            }
            let mut datums = Vec::with_capacity(self.types.len());
            for (c, typ) in self.types.iter().enumerate() {
                let d = match self.columns.iter().position(|x| *x == c) {
                    Some(i) => {
                        let v = std::mem::replace(&mut record[i], Datum::Null);
                        match v {
                            Datum::Null => Datum::Null,
                            // Text is read as the column's input function would, in the session's time zone.
                            Datum::String(s) if text => match typ {
                                // Text columns take the field as it is (parse_datum would copy it).
                                ScalarType::String => Datum::String(s),
                                ScalarType::TimestampTz => Datum::TimestampTz(
                                    riffle_repr::strconv::parse_timestamptz_in(&s, zone).map_err(riffle_expr::EvalError::from)?,
                                ),
                                _ => riffle_repr::strconv::parse_datum(&s, typ).map_err(riffle_expr::EvalError::from)?,
                            },
                            v => Func::Cast(typ.clone()).eval(&[v])?,
                        }
                    }
                    None => match &self.defaults[c] {
                        Some(e) => e.eval(&[])?,
                        None => Datum::Null,
                    },
                };
                datums.push(d);
            }
            rows.push(Row::new(datums));
        }
        Ok(rows)
    }
}
