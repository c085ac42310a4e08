//! SQL type names and PostgreSQL's implicit coercion rules.

use crate::PlanError;
use riffle_repr::ScalarType;
use sqlparser::ast::DataType;

/// Resolves a SQL type name (`int`, `varchar(10)`, `timestamp with time zone`, …).
pub fn parse_type_name(dt: &DataType) -> Result<ScalarType, PlanError> {
    parse_type_text(&dt.to_string().to_ascii_lowercase())
}

fn parse_type_text(text: &str) -> Result<ScalarType, PlanError> {
    let text = text.trim().to_string();
    if let Some(elem) = text.strip_suffix("[]") {
        return Ok(ScalarType::Array(Box::new(parse_type_text(elem)?)));
    }
    let (base, args) = match text.find('(') {
        Some(i) => {
            let close = text.rfind(')').unwrap_or(text.len());
            let args: Vec<u32> = text[i + 1..close].split(',').filter_map(|a| a.trim().parse().ok()).collect();
            let rest = text[close + 1..].trim();
            (format!("{} {}", text[..i].trim(), rest).trim().to_string(), args)
        }
        None => (text.clone(), vec![]),
    };
    let base = base.trim_start_matches("pg_catalog.").trim();
    Ok(match base {
        "bool" | "boolean" => ScalarType::Bool,
        "smallint" | "int2" => ScalarType::Int16,
        "int" | "integer" | "int4" => ScalarType::Int32,
        "bigint" | "int8" => ScalarType::Int64,
        "real" | "float4" => ScalarType::Float32,
        "float" if args.first().is_some_and(|p| *p <= 24) => ScalarType::Float32,
        "double precision" | "float8" | "double" | "float" => ScalarType::Float64,
        "numeric" | "decimal" | "dec" => {
            let typmod = match args.as_slice() {
                [] => None,
                [p] => Some((*p, 0)),
                [p, s, ..] => Some((*p, *s)),
            };
            if let Some((p, s)) = typmod {
                if p == 0 || p > 1000 {
                    return Err(PlanError::InvalidParameter(format!(
                        "NUMERIC precision {p} must be between 1 and 1000"
                    )));
                }
                if s > p {
                    return Err(PlanError::InvalidParameter(format!(
                        "NUMERIC scale {s} must be between 0 and precision {p}"
                    )));
                }
            }
            ScalarType::Numeric { typmod }
        }
        "text" | "string" => ScalarType::String,
        "varchar" | "character varying" | "char varying" => ScalarType::VarChar {
            max_len: args.first().copied(),
        },
        "char" | "character" | "bpchar" => ScalarType::VarChar {
            max_len: Some(args.first().copied().unwrap_or(1)),
        },
        "bytea" => ScalarType::Bytes,
        "date" => ScalarType::Date,
        "timestamp" | "timestamp without time zone" => ScalarType::Timestamp,
        "timestamptz" | "timestamp with time zone" => ScalarType::TimestampTz,
        "interval" => ScalarType::Interval,
        "jsonb" | "json" => ScalarType::Jsonb,
        _ => return Err(PlanError::UnknownType(text)),
    })
}

/// The type both operands are coerced to for comparison, arithmetic or a UNION/CASE branch,
/// following PostgreSQL's resolution (unknown literals adopt the other side's type, numbers
/// move up the int2 → int4 → int8 → numeric → float ladder).
pub fn common_type(a: &ScalarType, b: &ScalarType) -> Option<ScalarType> {
    use ScalarType::*;
    if a.without_modifiers() == b.without_modifiers() {
        return Some(if a == b { a.clone() } else { a.without_modifiers() });
    }
    Some(match (a, b) {
        (Unknown, other) | (other, Unknown) => other.clone(),
        (x, y) if x.is_numeric() && y.is_numeric() => {
            // A float meets a non-float: PostgreSQL picks double precision, its preferred type.
            let (rx, ry) = (x.numeric_rank().unwrap(), y.numeric_rank().unwrap());
            if (rx >= 5 || ry >= 5) && rx != ry {
                Float64
            } else if rx >= ry {
                x.without_modifiers()
            } else {
                y.without_modifiers()
            }
        }
        (x, y) if x.is_string_like() && y.is_string_like() => String,
        (Date, Timestamp) | (Timestamp, Date) => Timestamp,
        (Date | Timestamp, TimestampTz) | (TimestampTz, Date | Timestamp) => TimestampTz,
        _ => return None,
    })
}

/// Whether PostgreSQL casts `from` to `to` implicitly (in assignments this is wider).
pub fn can_assign(from: &ScalarType, to: &ScalarType) -> bool {
    use ScalarType::*;
    if from.without_modifiers() == to.without_modifiers() || *from == Unknown {
        return true;
    }
    match (from, to) {
        (ScalarType::Array(x), ScalarType::Array(y)) => can_assign(x, y),
        (x, y) if x.is_numeric() && y.is_numeric() => true,
        (x, y) if x.is_string_like() && y.is_string_like() => true,
        (_, String | VarChar { .. }) => true,
        (Date, Timestamp | TimestampTz) | (Timestamp, TimestampTz | Date) | (TimestampTz, Timestamp | Date) => true,
        _ => false,
    }
}
