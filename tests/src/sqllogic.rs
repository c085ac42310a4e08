//! SQLite's sqllogictest format, as far as its select1–5 files use it (`statement ok`,
//! `query <types> <sort> [label]`, `hash-threshold`): records, and answers compared the way
//! SQLite's runner compares them. Used by tests/corpus.rs and benches/src/sqlite_corpus.rs.

/// One record of a `.test` file.
pub enum Record {
    /// A statement that must succeed.
    Statement {
        /// Its text.
        sql: String,
        /// Its line in the file.
        line: usize,
    },
    /// A query and its answer.
    Query(Query),
}

pub struct Query {
    /// Its text.
    pub sql: String,
    /// Its line in the file.
    pub line: usize,
    /// Each column's type letter (`I`, `R`, `T`).
    pub types: Vec<char>,
    /// How its answer is ordered before comparing.
    pub sort: Sort,
    /// Its answer.
    pub expected: Expected,
}

/// How a query's answer is ordered before comparing.
#[derive(Clone, Copy, PartialEq)]
pub enum Sort {
    /// As returned (the query has ORDER BY).
    No,
    /// Rows sorted.
    Rows,
    /// Every value sorted.
    Values,
}

/// A query's answer in the file.
pub enum Expected {
    /// The values, one per line.
    Values(Vec<String>),
    /// How many values, and the MD5 of them each followed by a newline.
    Hash {
        /// The number of values.
        count: usize,
        /// Their hash.
        md5: String,
    },
}

/// Reads the records of a SQLite sqllogictest file (only what select1–5 use: `statement ok`,
/// `query <types> <sort> [label]`, `hash-threshold`).
pub fn parse(text: &str) -> Vec<Record> {
    let lines: Vec<&str> = text.lines().collect();
    let mut records = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first().copied() {
            Some("statement") => {
                let start = i + 1;
                i += 1;
                let mut sql = Vec::new();
                while i < lines.len() && !lines[i].trim().is_empty() {
                    sql.push(lines[i]);
                    i += 1;
                }
                records.push(Record::Statement {
                    sql: sql.join("\n"),
                    line: start,
                });
            }
            Some("query") => {
                let start = i + 1;
                let types = words.get(1).map(|t| t.chars().collect()).unwrap_or_default();
                let sort = match words.get(2).copied() {
                    Some("rowsort") => Sort::Rows,
                    Some("valuesort") => Sort::Values,
                    _ => Sort::No,
                };
                i += 1;
                let mut sql = Vec::new();
                while i < lines.len() && lines[i].trim_end() != "----" {
                    sql.push(lines[i]);
                    i += 1;
                }
                i += 1;
                let mut results = Vec::new();
                while i < lines.len() && !lines[i].trim().is_empty() {
                    results.push(lines[i].trim_end().to_string());
                    i += 1;
                }
                let hashed = results.len() == 1 && results[0].contains(" values hashing to ");
                let expected = if hashed {
                    let mut parts = results[0].split(" values hashing to ");
                    let count = parts.next().and_then(|n| n.trim().parse().ok()).unwrap_or(usize::MAX);
                    Expected::Hash {
                        count,
                        md5: parts.next().unwrap_or_default().trim().to_string(),
                    }
                } else {
                    Expected::Values(results)
                };
                records.push(Record::Query(Query {
                    sql: sql.join("\n"),
                    line: start,
                    types,
                    sort,
                    expected,
                }));
            }
            _ => i += 1,
        }
    }
    records
}

/// A result value as SQLite's runner prints it for the column's declared type.
pub fn format_value(value: Option<&str>, ty: char) -> String {
    let Some(v) = value else {
        return "NULL".into();
    };
    match ty {
        'R' => match v.parse::<f64>() {
            Ok(f) => format!("{f:.3}"),
            Err(_) => v.to_string(),
        },
        'I' => match v.parse::<i64>() {
            Ok(n) => n.to_string(),
            // SQLite's runner reads an `I` column as an integer, truncating.
            Err(_) => v
                .parse::<f64>()
                .map(|f| (f.trunc() as i64).to_string())
                .unwrap_or_else(|_| v.to_string()),
        },
        _ if v.is_empty() => "(empty)".into(),
        _ => v.chars().map(|c| if (' '..='~').contains(&c) { c } else { '@' }).collect(),
    }
}

/// The values of `rows` in the order the query's sort mode compares them.
pub fn values(rows: &[Vec<Option<String>>], types: &[char], sort: Sort) -> Vec<String> {
    let mut rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(i, v)| format_value(v.as_deref(), types.get(i).copied().unwrap_or('T')))
                .collect()
        })
        .collect();
    if sort == Sort::Rows {
        rows.sort();
    }
    let mut flat: Vec<String> = rows.into_iter().flatten().collect();
    if sort == Sort::Values {
        flat.sort();
    }
    flat
}

/// Whether `rows` (as text, NULL as None) are the query's answer.
pub fn check(q: &Query, rows: &[Vec<Option<String>>]) -> Result<(), String> {
    let got = values(rows, &q.types, q.sort);
    match &q.expected {
        Expected::Values(want) if *want == got => Ok(()),
        Expected::Values(want) => Err(format!("expected {want:?}, got {got:?}")),
        Expected::Hash { count, md5 } => {
            let mut text = String::new();
            for v in &got {
                text.push_str(v);
                text.push('\n');
            }
            let hash = format!("{:x}", md5::compute(text.as_bytes()));
            if got.len() == *count && hash == *md5 {
                Ok(())
            } else {
                Err(format!(
                    "expected {count} values hashing to {md5}, got {} values hashing to {hash}",
                    got.len()
                ))
            }
        }
    }
}

/// The table a `CREATE TABLE` statement creates (to drop it when its file ends).
pub fn created_table(sql: &str) -> Option<String> {
    let words: Vec<&str> = sql.split_whitespace().collect();
    let creates = words.len() > 2 && words[0].eq_ignore_ascii_case("create") && words[1].eq_ignore_ascii_case("table");
    creates.then(|| words[2].split('(').next().unwrap_or_default().to_string())
}
