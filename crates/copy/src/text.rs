//! Line-oriented formats: PostgreSQL text and CSV (both ways), JSON lines and libsvm (out).

use crate::{CopyError, Options};
use riffle_repr::strconv::format_datum_in;
use riffle_repr::zone::Zone;
use riffle_repr::Datum;
use std::borrow::Cow;

fn display(d: &Datum, zone: &Zone) -> String {
    match d {
        Datum::Bool(b) => if *b { "t" } else { "f" }.to_string(),
        other => format_datum_in(other, zone).unwrap_or_default(),
    }
}

/// Appends one row in PostgreSQL's text format (newline included).
pub fn write_text_row(out: &mut Vec<u8>, row: &[Datum], opts: &Options, zone: &Zone) {
    for (i, d) in row.iter().enumerate() {
        if i > 0 {
            push_char(out, opts.delimiter);
        }
        if d.is_null() {
            out.extend_from_slice(opts.null.as_bytes());
            continue;
        }
        for c in display(d, zone).chars() {
            match c {
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                c if c == opts.delimiter => {
                    out.push(b'\\');
                    push_char(out, c);
                }
                c => push_char(out, c),
            }
        }
    }
    out.push(b'\n');
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// Appends one row in PostgreSQL's CSV format: a field is quoted when it holds the delimiter,
/// the quote, a line break, or would read back as NULL.
pub fn write_csv_row(out: &mut Vec<u8>, row: &[Option<String>], opts: &Options) {
    for (i, field) in row.iter().enumerate() {
        if i > 0 {
            push_char(out, opts.delimiter);
        }
        let Some(s) = field else {
            out.extend_from_slice(opts.null.as_bytes());
            continue;
        };
        let quote = s == &opts.null
            || s.contains(opts.delimiter)
            || s.contains(opts.quote)
            || s.contains('\n')
            || s.contains('\r')
            || s.starts_with("\\.");
        if !quote {
            out.extend_from_slice(s.as_bytes());
            continue;
        }
        push_char(out, opts.quote);
        for c in s.chars() {
            if c == opts.quote || c == opts.escape {
                push_char(out, opts.escape);
            }
            push_char(out, c);
        }
        push_char(out, opts.quote);
    }
    out.push(b'\n');
}

/// A row's fields as CSV writes them (None: NULL).
pub fn csv_fields(row: &[Datum], zone: &Zone) -> Vec<Option<String>> {
    row.iter().map(|d| (!d.is_null()).then(|| display(d, zone))).collect()
}

/// Appends one row as a JSON object (keys: `names`) and a newline.
pub fn write_jsonl_row(out: &mut Vec<u8>, names: &[String], row: &[Datum], zone: &Zone) {
    // Keys in column order (serde_json's map would sort them).
    out.push(b'{');
    for (i, (name, d)) in names.iter().zip(row).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(serde_json::Value::String(name.clone()).to_string().as_bytes());
        out.push(b':');
        out.extend_from_slice(json_value(d, zone).to_string().as_bytes());
    }
    out.extend_from_slice(b"}\n");
}

fn json_value(d: &Datum, zone: &Zone) -> serde_json::Value {
    use serde_json::Value;
    let number = |s: String| s.parse::<serde_json::Number>().map(Value::Number).unwrap_or(Value::String(s));
    match d {
        Datum::Null => Value::Null,
        Datum::Bool(b) => Value::Bool(*b),
        Datum::Int16(v) => Value::from(*v),
        Datum::Int32(v) => Value::from(*v),
        Datum::Int64(v) => Value::from(*v),
        // Numbers keep their exact text (NaN and infinities become strings, as in jsonb).
        Datum::Float32(_) | Datum::Float64(_) | Datum::Numeric(_) => number(display(d, zone)),
        Datum::Jsonb(s) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
        Datum::Array(items) => Value::Array(items.iter().map(|i| json_value(i, zone)).collect()),
        other => Value::String(display(other, zone)),
    }
}

/// Appends one row in libsvm format: `label index:value …` with 1-based feature indexes over
/// the columns after the first (arrays flattened); zeros and NULLs are left out.
pub fn write_libsvm_row(out: &mut Vec<u8>, row: &[Datum]) -> Result<(), CopyError> {
    use std::fmt::Write;
    let mut line = String::new();
    let label = row
        .first()
        .and_then(number)
        .ok_or_else(|| CopyError::Unsupported("libsvm: the first column is the label and must be a non-NULL number".into()))?;
    write!(line, "{label}").expect("string");
    let mut index = 0usize;
    let mut feature = |v: &Datum, line: &mut String| -> Result<(), CopyError> {
        index += 1;
        if v.is_null() {
            return Ok(());
        }
        let x = number(v).ok_or_else(|| CopyError::Unsupported(format!("libsvm: feature {index} is not a number")))?;
        if x != 0.0 {
            write!(line, " {index}:{x}").expect("string");
        }
        Ok(())
    };
    for d in &row[1..] {
        match d {
            Datum::Array(items) => {
                for item in items {
                    feature(item, &mut line)?;
                }
            }
            other => feature(other, &mut line)?,
        }
    }
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
    Ok(())
}

fn number(d: &Datum) -> Option<f64> {
    use rust_decimal::prelude::ToPrimitive;
    Some(match d {
        Datum::Bool(b) => *b as u8 as f64,
        Datum::Int16(v) => *v as f64,
        Datum::Int32(v) => *v as f64,
        Datum::Int64(v) => *v as f64,
        Datum::Float32(v) => v.0 as f64,
        Datum::Float64(v) => v.0,
        Datum::Numeric(n) => n.to_f64()?,
        _ => return None,
    })
}

/// Reads PostgreSQL's text format: one row of fields per line (None: NULL), up to a `\.` line.
pub fn read_text(data: &[u8], opts: &Options) -> Result<Vec<Vec<Option<String>>>, CopyError> {
    let text = std::str::from_utf8(data).map_err(|e| CopyError::BadInput(format!("invalid UTF-8 in COPY data: {e}")))?;
    let mut rows = Vec::new();
    let mut fields = Vec::new();
    for (n, line) in text_lines(text) {
        let Some(line) = line else { break };
        text_fields(line, n, opts, &mut fields)?;
        rows.push(fields.drain(..).map(|f| f.map(Cow::into_owned)).collect());
    }
    Ok(rows)
}

/// The lines of complete text-format data, numbered from 1 (`\r\n` ends a line too; a final
/// line break ends the last line rather than starting an empty one); None for the `\.` line
/// that ends the data.
pub fn text_lines(text: &str) -> impl Iterator<Item = (usize, Option<&str>)> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let lines = if text.is_empty() { None } else { Some(split_ascii(body, b'\n')) };
    lines.into_iter().flatten().enumerate().map(|(n, line)| {
        let line = line.strip_suffix('\r').unwrap_or(line);
        (n + 1, (line != "\\.").then_some(line))
    })
}

/// `text.split(byte)` for an ASCII byte, found with `memchr`'s vectorised search (the standard
/// library's `split` looks a word at a time; COPY input is most of its time in these scans).
fn split_ascii(text: &str, byte: u8) -> impl Iterator<Item = &str> {
    debug_assert!(byte.is_ascii());
    let mut start = 0;
    let mut ends = memchr::memchr_iter(byte, text.as_bytes()).chain(std::iter::once(text.len()));
    std::iter::from_fn(move || {
        let end = ends.next()?;
        // An ASCII byte is never inside a multi-byte character: both ends are boundaries.
        let piece = &text[start..end];
        start = end + 1;
        Some(piece)
    })
}

/// Splits one line of PostgreSQL's text format (line `n`, without its line break) into
/// `fields` (None: NULL): slices of the line when it holds no backslash, unescaped copies
/// otherwise.
pub fn text_fields<'a>(line: &'a str, n: usize, opts: &Options, fields: &mut Vec<Option<Cow<'a, str>>>) -> Result<(), CopyError> {
    fields.clear();
    // Most lines have no escapes: their fields are the slices between delimiters.
    if memchr::memchr(b'\\', line.as_bytes()).is_none() {
        let field = |f: &'a str| (f != opts.null).then_some(Cow::Borrowed(f));
        if opts.delimiter.is_ascii() {
            fields.extend(split_ascii(line, opts.delimiter as u8).map(field));
        } else {
            fields.extend(line.split(opts.delimiter).map(field));
        }
        return Ok(());
    }
    let mut field = String::new();
    let mut raw = String::new();
    let mut chars = line.chars().peekable();
    let finish = |field: &mut String, raw: &mut String, fields: &mut Vec<Option<Cow<'a, str>>>| {
        if *raw == opts.null {
            fields.push(None);
        } else {
            fields.push(Some(Cow::Owned(std::mem::take(field))));
        }
        field.clear();
        raw.clear();
    };
    while let Some(c) = chars.next() {
        if c == opts.delimiter {
            finish(&mut field, &mut raw, fields);
            continue;
        }
        raw.push(c);
        if c != '\\' {
            field.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            return Err(CopyError::BadInput(format!("line {n}: a backslash ends the line")));
        };
        raw.push(e);
        match e {
            'b' => field.push('\u{8}'),
            'f' => field.push('\u{c}'),
            'n' => field.push('\n'),
            'r' => field.push('\r'),
            't' => field.push('\t'),
            'v' => field.push('\u{b}'),
            'x' => {
                let mut v = 0u32;
                let mut digits = 0;
                while digits < 2 {
                    match chars.peek().and_then(|c| c.to_digit(16)) {
                        Some(d) => {
                            v = v * 16 + d;
                            raw.push(chars.next().expect("peeked"));
                            digits += 1;
                        }
                        None => break,
                    }
                }
                if digits == 0 {
                    field.push('x');
                } else {
                    field.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                }
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).expect("octal");
                for _ in 0..2 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            raw.push(chars.next().expect("peeked"));
                        }
                        None => break,
                    }
                }
                field.push(char::from_u32(v).unwrap_or('\u{fffd}'));
            }
            other => field.push(other),
        }
    }
    finish(&mut field, &mut raw, fields);
    Ok(())
}

/// Reads PostgreSQL's CSV format (quoted fields may span lines; an unquoted field equal to the
/// NULL string is NULL), skipping a header line when asked.
pub fn read_csv(data: &[u8], opts: &Options) -> Result<Vec<Vec<Option<String>>>, CopyError> {
    let text = std::str::from_utf8(data).map_err(|e| CopyError::BadInput(format!("invalid UTF-8 in COPY data: {e}")))?;
    let mut rows = Vec::new();
    let mut fields: Vec<Option<String>> = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut in_quotes = false;
    let mut line = 1;
    let mut chars = text.chars().peekable();
    let mut at_line_start = true;
    loop {
        let c = chars.next();
        if at_line_start && !in_quotes {
            // The end-of-data marker.
            if c == Some('\\') && chars.peek() == Some(&'.') {
                let mut look = chars.clone();
                look.next();
                if matches!(look.peek(), None | Some('\n') | Some('\r')) {
                    break;
                }
            }
            if c.is_none() {
                break;
            }
        }
        at_line_start = false;
        match c {
            Some(c) if in_quotes => {
                if c == opts.escape && chars.peek() == Some(&opts.quote) && (opts.escape != opts.quote || c == opts.quote) {
                    if opts.escape == opts.quote {
                        // A doubled quote inside quotes is one quote; a single one ends them.
                        chars.next();
                        field.push(opts.quote);
                    } else {
                        field.push(chars.next().expect("peeked"));
                    }
                } else if c == opts.quote {
                    in_quotes = false;
                } else {
                    if c == '\n' {
                        line += 1;
                    }
                    field.push(c);
                }
            }
            Some(c) if c == opts.quote => {
                in_quotes = true;
                quoted = true;
            }
            Some(c) if c == opts.delimiter => {
                fields.push(csv_field(&mut field, &mut quoted, opts));
            }
            Some('\r') if chars.peek() == Some(&'\n') => {}
            Some('\n') | Some('\r') | None => {
                fields.push(csv_field(&mut field, &mut quoted, opts));
                rows.push(std::mem::take(&mut fields));
                line += 1;
                at_line_start = true;
                if c.is_none() {
                    break;
                }
            }
            Some(c) => field.push(c),
        }
    }
    if in_quotes {
        return Err(CopyError::BadInput(format!("unterminated CSV quoted field (line {line})")));
    }
    if opts.header && !rows.is_empty() {
        rows.remove(0);
    }
    Ok(rows)
}

fn csv_field(field: &mut String, quoted: &mut bool, opts: &Options) -> Option<String> {
    let value = std::mem::take(field);
    let was_quoted = std::mem::replace(quoted, false);
    if !was_quoted && value == opts.null {
        None
    } else {
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Format;

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn text_round_trips_escapes_and_nulls() {
        let opts = Options::new(Format::Text);
        let row = vec![
            Datum::String("a\tb\\c\nd".into()),
            Datum::Null,
            Datum::Int32(7),
            Datum::String("\\N".into()),
        ];
        let mut out = Vec::new();
        write_text_row(&mut out, &row, &opts, &Zone::Utc);
        assert_eq!(String::from_utf8_lossy(&out), "a\\tb\\\\c\\nd\t\\N\t7\t\\\\N\n");
        let back = read_text(&out, &opts).unwrap();
        assert_eq!(back, vec![vec![s("a\tb\\c\nd"), None, s("7"), s("\\N")]]);
        assert_eq!(
            read_text(b"1\t\\x41\\101\n\\.\nignored\n", &opts).unwrap(),
            vec![vec![s("1"), s("AA")]]
        );
    }

    /// Lines and fields split on ASCII bytes as `str::split` would: empty fields, a trailing
    /// delimiter, multi-byte characters beside delimiters, `\r\n`, the end marker.
    #[test]
    fn lines_and_fields_split_like_str_split() {
        for text in ["", "a", "a\n", "\n\n", "é\tü\n\tx\t\n", "a\r\nb\n\\.\nc"] {
            let ours: Vec<&str> = split_ascii(text, b'\n').collect();
            let std: Vec<&str> = text.split('\n').collect();
            assert_eq!(ours, std, "{text:?}");
        }
        let lines: Vec<(usize, Option<&str>)> = text_lines("a\r\nb\n\\.\nc\n").collect();
        assert_eq!(lines, vec![(1, Some("a")), (2, Some("b")), (3, None), (4, Some("c"))]);
        let opts = Options::new(Format::Text);
        let mut fields = Vec::new();
        text_fields("é\t\tü\t", 1, &opts, &mut fields).unwrap();
        assert_eq!(
            fields,
            vec![
                Some(Cow::Borrowed("é")),
                Some(Cow::Borrowed("")),
                Some(Cow::Borrowed("ü")),
                Some(Cow::Borrowed(""))
            ]
        );
        text_fields("1\t\\N", 1, &opts, &mut fields).unwrap();
        assert_eq!(fields, vec![Some(Cow::Borrowed("1")), None]);
    }

    #[test]
    fn csv_quotes_what_would_read_back_differently() {
        let opts = Options::new(Format::Csv);
        let fields = vec![s("plain"), s(""), None, s("a,b"), s("say \"hi\""), s("two\nlines")];
        let mut out = Vec::new();
        write_csv_row(&mut out, &fields, &opts);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "plain,\"\",,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\n"
        );
        assert_eq!(read_csv(&out, &opts).unwrap(), vec![fields]);
        let mut header = Options::new(Format::Csv);
        header.header = true;
        assert_eq!(read_csv(b"a,b\r\n1,2\r\n", &header).unwrap(), vec![vec![s("1"), s("2")]]);
        assert!(read_csv(b"\"open", &opts).is_err());
    }

    #[test]
    fn libsvm_flattens_arrays_and_skips_zeros() {
        let mut out = Vec::new();
        let row = vec![
            Datum::Int32(1),
            Datum::Float64(riffle_repr::F64(0.5)),
            Datum::Array(vec![Datum::Float32(riffle_repr::F32(0.0)), Datum::Float32(riffle_repr::F32(2.0))]),
            Datum::Null,
            Datum::Int64(3),
        ];
        write_libsvm_row(&mut out, &row).unwrap();
        assert_eq!(String::from_utf8_lossy(&out), "1 1:0.5 3:2 5:3\n");
        assert!(write_libsvm_row(&mut out, &[Datum::Null]).is_err());
    }

    #[test]
    fn jsonl_keeps_types() {
        let mut out = Vec::new();
        let names = vec!["i".to_string(), "t".to_string(), "a".to_string(), "n".to_string()];
        let row = vec![
            Datum::Int32(1),
            Datum::String("x".into()),
            Datum::Array(vec![Datum::Float64(riffle_repr::F64(1.5))]),
            Datum::Null,
        ];
        write_jsonl_row(&mut out, &names, &row, &Zone::Utc);
        assert_eq!(String::from_utf8_lossy(&out), "{\"i\":1,\"t\":\"x\",\"a\":[1.5],\"n\":null}\n");
    }
}
