//! COPY formats: rows of a query out to bytes, and bytes back into rows.
//!
//! - PostgreSQL's `text` and `csv` COPY formats, byte for byte as PostgreSQL writes and reads
//!   them (NULL as `\N` or an unquoted empty field, backslash escapes, quoting). Hand-written
//!   because a generic CSV library cannot tell a quoted empty string from NULL, which is the
//!   whole point of PostgreSQL's CSV rules.
//! - `jsonl`: one JSON object per row, keyed by column name.
//! - `libsvm`: the first column is the label, every other column (numbers, or arrays of
//!   numbers, flattened) a feature, 1-based, zeros and NULLs left out.
//! - `parquet` and `arrow` (the Arrow IPC file format), through the arrow and parquet crates,
//!   with a column type per SQL type ([`arrow_type`]).
//!
//! PostgreSQL's `binary` format is the wire's binary encoding of each value, so it lives with the
//! wire codec (riffle-pgwire), not here.
#![warn(missing_docs)]

mod columnar;
mod text;

pub use columnar::{arrow_type, read_parquet, write_arrow, write_parquet};
pub use text::{
    csv_fields, read_csv, read_text, text_fields, text_lines, write_csv_row, write_jsonl_row, write_libsvm_row, write_text_row,
};

/// A COPY format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// PostgreSQL's text format (tab-separated, `\N` for NULL).
    Text,
    /// PostgreSQL's CSV format.
    Csv,
    /// PostgreSQL's binary format (encoded by the wire codec).
    Binary,
    /// Apache Parquet.
    Parquet,
    /// Apache Arrow IPC file.
    Arrow,
    /// JSON lines.
    Jsonl,
    /// libsvm / svmlight.
    Libsvm,
}

impl Format {
    /// The format named in `WITH (FORMAT …)`.
    pub fn from_name(name: &str) -> Option<Format> {
        Some(match name.to_ascii_lowercase().as_str() {
            "text" => Format::Text,
            "csv" => Format::Csv,
            "binary" => Format::Binary,
            "parquet" => Format::Parquet,
            "arrow" => Format::Arrow,
            "jsonl" | "json" | "ndjson" => Format::Jsonl,
            "libsvm" | "svmlight" => Format::Libsvm,
            _ => return None,
        })
    }

    /// Its name, as COPY spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Csv => "csv",
            Format::Binary => "binary",
            Format::Parquet => "parquet",
            Format::Arrow => "arrow",
            Format::Jsonl => "jsonl",
            Format::Libsvm => "libsvm",
        }
    }
}

/// The options of one COPY.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The format.
    pub format: Format,
    /// Column separator (text: tab, csv: comma).
    pub delimiter: char,
    /// How NULL is written (text: `\N`, csv: the empty string).
    pub null: String,
    /// CSV: a header line of column names (written out; skipped on the way in).
    pub header: bool,
    /// CSV quote character.
    pub quote: char,
    /// CSV escape character (inside quotes; defaults to the quote).
    pub escape: char,
}

impl Options {
    /// PostgreSQL's defaults for `format`.
    pub fn new(format: Format) -> Options {
        let csv = format == Format::Csv;
        Options {
            format,
            delimiter: if csv { ',' } else { '\t' },
            null: if csv { String::new() } else { "\\N".into() },
            header: false,
            quote: '"',
            escape: '"',
        }
    }
}

/// Why COPY could not read or write some data.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The input is not valid in its format (SQLSTATE 22P04).
    #[error("{0}")]
    BadInput(String),
    /// A value or type that the format cannot hold (SQLSTATE 22023).
    #[error("{0}")]
    Unsupported(String),
}
