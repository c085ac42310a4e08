//! COPY's data: rows out in any format, and fields in (text, CSV, Parquet) turned into table
//! rows with their columns' types and defaults.

use crate::AdapterError;
use riffle_copy::{CopyError, Format, Options};
use riffle_expr::{EvalError, Func, ScalarExpr};
use riffle_repr::zone::Zone;
use riffle_repr::{Datum, DatumRef, RelationDesc, Row, ScalarType};
use std::borrow::Cow;

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
            let rows: Vec<Vec<Datum>> = rows.iter().map(|r| r.unpack()).collect();
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
    /// Reads `data` (the whole input) into complete table rows.
    pub fn rows(&self, data: &[u8], zone: &Zone) -> Result<Vec<Row>, AdapterError> {
        let mut reader = self.reader(zone.clone());
        reader.push(data);
        reader.finish()
    }

    /// A reader of this COPY's data as it arrives, chunk by chunk.
    pub fn reader(&self, zone: Zone) -> CopyReader {
        let mut field_of = vec![None; self.types.len()];
        for (i, c) in self.columns.iter().enumerate() {
            field_of[*c] = Some(i);
        }
        // A default holds no column and, planned for this statement, no `now()`: one value
        // serves every row (an error is the first row's).
        let defaults = field_of
            .iter()
            .zip(&self.defaults)
            .map(|(field, default)| match (field, default) {
                (None, Some(e)) => e.eval(&[]),
                _ => Ok(Datum::Null),
            })
            .collect();
        CopyReader {
            copy: self.clone(),
            field_of,
            defaults,
            zone,
            rows: Vec::new(),
            partial: Vec::new(),
            lines: 0,
            ended: false,
            error: None,
        }
    }
}

/// A field of the input, before it is read as its column's type.
enum Field<'a> {
    Null,
    /// Text (the text and CSV formats), read as the column type's input function would.
    Text(Cow<'a, str>),
    /// A typed value (Parquet), cast to the column's type.
    Value(Datum),
}

/// Reads a `COPY … FROM` input as it arrives ([`CopyReader::push`]): the text format is read
/// line by line into packed rows as its chunks come (the input is never held whole, and a
/// field goes from the input's bytes into its row without an intermediate copy); CSV (whose
/// quoted fields may span chunks) and Parquet (a file format) are kept until
/// [`CopyReader::finish`]. The first error stops the reading and is returned by `finish`, so
/// the COPY writes all its rows or none.
pub struct CopyReader {
    copy: CopyIn,
    /// Per table column, the input field that fills it (None: its default).
    field_of: Vec<Option<usize>>,
    /// Per table column that no field fills, its default's value.
    defaults: Vec<Result<Datum, EvalError>>,
    zone: Zone,
    rows: Vec<Row>,
    /// Input not read yet: the text format's incomplete last line, or all of a CSV or Parquet
    /// input.
    partial: Vec<u8>,
    /// Lines read so far.
    lines: usize,
    /// The text format's end marker (`\.`) was read: the rest is ignored.
    ended: bool,
    error: Option<AdapterError>,
}

impl CopyReader {
    /// Takes the next chunk of input.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.error.is_some() || self.ended {
            return;
        }
        if self.copy.options.format != Format::Text {
            self.partial.extend_from_slice(chunk);
            return;
        }
        // Read the complete lines; keep the incomplete last one for the next chunk.
        let Some(end) = chunk.iter().rposition(|b| *b == b'\n') else {
            self.partial.extend_from_slice(chunk);
            return;
        };
        let (complete, rest) = chunk.split_at(end + 1);
        let result = if self.partial.is_empty() {
            self.read_lines(complete)
        } else {
            let mut lines = std::mem::take(&mut self.partial);
            lines.extend_from_slice(complete);
            let result = self.read_lines(&lines);
            lines.clear();
            self.partial = lines;
            result
        };
        match result {
            Ok(()) => self.partial.extend_from_slice(rest),
            Err(e) => self.error = Some(e),
        }
    }

    /// Reads what is left; every row of the input, or the first error.
    pub fn finish(mut self) -> Result<Vec<Row>, AdapterError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let rest = std::mem::take(&mut self.partial);
        match self.copy.options.format {
            Format::Text => {
                if !self.ended {
                    self.read_lines(&rest)?;
                }
            }
            Format::Csv => {
                for (n, record) in riffle_copy::read_csv(&rest, &self.copy.options)?.into_iter().enumerate() {
                    let line = n + 1 + usize::from(self.copy.options.header);
                    let row = self.row(line, record.len(), |i| match &record[i] {
                        None => Field::Null,
                        Some(s) => Field::Text(Cow::Borrowed(s)),
                    })?;
                    self.rows.push(row);
                }
            }
            Format::Parquet => {
                for (n, mut record) in riffle_copy::read_parquet(rest)?.1.into_iter().enumerate() {
                    let row = self.row(n + 1, record.len(), |i| match std::mem::replace(&mut record[i], Datum::Null) {
                        Datum::Null => Field::Null,
                        d => Field::Value(d),
                    })?;
                    self.rows.push(row);
                }
            }
            other => return Err(CopyError::Unsupported(format!("COPY FROM with FORMAT {} is not supported", other.name())).into()),
        }
        Ok(self.rows)
    }

    /// Reads complete lines of the text format.
    fn read_lines(&mut self, data: &[u8]) -> Result<(), AdapterError> {
        let text = std::str::from_utf8(data).map_err(|e| CopyError::BadInput(format!("invalid UTF-8 in COPY data: {e}")))?;
        let mut fields = Vec::new();
        for (_, line) in riffle_copy::text_lines(text) {
            let Some(line) = line else {
                self.ended = true;
                break;
            };
            self.lines += 1;
            riffle_copy::text_fields(line, self.lines, &self.copy.options, &mut fields)?;
            let row = self.row(self.lines, fields.len(), |i| match fields[i].take() {
                None => Field::Null,
                Some(s) => Field::Text(s),
            })?;
            self.rows.push(row);
        }
        Ok(())
    }

    /// The table row of input record `line`, which has `len` fields (`field(i)` takes the i-th).
    fn row<'a>(&self, line: usize, len: usize, mut field: impl FnMut(usize) -> Field<'a>) -> Result<Row, AdapterError> {
        let copy = &self.copy;
        if len < copy.columns.len() {
            return Err(CopyError::BadInput(format!("missing data for column {} (line {line})", len + 1)).into());
        }
        if len > copy.columns.len() {
            return Err(CopyError::BadInput(format!("extra data after last expected column (line {line})")).into());
        }
        Row::try_build(|p| {
            for (c, typ) in copy.types.iter().enumerate() {
                let Some(i) = self.field_of[c] else {
                    p.push_datum(self.defaults[c].as_ref().map_err(|e| e.clone())?);
                    continue;
                };
                match field(i) {
                    Field::Null => p.push(DatumRef::Null),
                    // Text is read as the column's input function would, in the session's time zone.
                    Field::Text(s) => match typ {
                        ScalarType::String => p.push(DatumRef::String(&s)),
                        ScalarType::TimestampTz => p.push(DatumRef::TimestampTz(
                            riffle_repr::strconv::parse_timestamptz_in(&s, &self.zone).map_err(riffle_expr::EvalError::from)?,
                        )),
                        _ => p.push_datum(&riffle_repr::strconv::parse_datum(&s, typ).map_err(riffle_expr::EvalError::from)?),
                    },
                    Field::Value(v) => p.push_datum(&Func::Cast(typ.clone()).eval(&[v])?),
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy_in(format: Format) -> CopyIn {
        CopyIn {
            columns: vec![0, 2],
            types: vec![ScalarType::Int32, ScalarType::Int64, ScalarType::String],
            defaults: vec![None, Some(ScalarExpr::Literal(Datum::Int64(7))), None],
            options: Options::new(format),
        }
    }

    /// However the input is cut into chunks (inside a line, a `\r\n`, an escape or a
    /// multi-byte character), the rows are those of the whole input.
    #[test]
    fn text_rows_do_not_depend_on_chunking() {
        let data = "1\tplain\n2\tésc\\taped\\\\ ünï\r\n3\t\\N\n4\t\n\\.\nnot read\n".as_bytes();
        let copy = copy_in(Format::Text);
        let whole = copy.rows(data, &Zone::Utc).unwrap();
        assert_eq!(whole.len(), 4);
        assert_eq!(
            whole[1].unpack(),
            vec![Datum::Int32(2), Datum::Int64(7), Datum::String("ésc\taped\\ ünï".into())]
        );
        assert_eq!(whole[2].get(2), DatumRef::Null);
        assert_eq!(whole[3].get(2), DatumRef::String(""));
        for size in 1..data.len() {
            let mut reader = copy.reader(Zone::Utc);
            data.chunks(size).for_each(|c| reader.push(c));
            assert_eq!(reader.finish().unwrap(), whole, "chunks of {size} bytes");
        }
        // The last line needs no line break.
        assert_eq!(copy.rows(b"1\ta\n2\tb", &Zone::Utc).unwrap().len(), 2);
    }

    /// A bad line stops the reading: the error names the line, whichever chunk it came in.
    #[test]
    fn text_errors_name_the_line() {
        let copy = copy_in(Format::Text);
        let mut reader = copy.reader(Zone::Utc);
        reader.push(b"1\ta\n2\tb\nthree\tc\n");
        reader.push(b"4\td\n");
        let err = reader.finish().unwrap_err().to_string();
        assert!(err.contains("three"), "{err}");
        let err = copy.rows(b"1\ta\n2\n", &Zone::Utc).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(copy.rows(&[b'1', b'\t', 0xff, b'\n'], &Zone::Utc).is_err());
    }
}
