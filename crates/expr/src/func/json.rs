//! JSON: jsonb values to and from datums, containment and field access.

use super::*;

pub(super) fn json_value(d: &Datum) -> Result<serde_json::Value, EvalError> {
    match d {
        Datum::Jsonb(text) => serde_json::from_str(text).map_err(|e| EvalError::InvalidArgument(e.to_string())),
        other => Err(EvalError::InvalidArgument(format!(
            "expected jsonb, got {}",
            datum_type_name(other)
        ))),
    }
}

pub(super) fn json_datum(v: &serde_json::Value) -> Result<Datum, EvalError> {
    let mut out = String::new();
    strconv::write_jsonb(&mut out, v);
    Ok(Datum::Jsonb(out))
}

pub(super) fn json_result(v: &serde_json::Value, as_text: bool) -> Result<Datum, EvalError> {
    Ok(match v {
        serde_json::Value::Null if as_text => Datum::Null,
        serde_json::Value::String(s) if as_text => Datum::String(s.clone()),
        other if as_text => {
            let mut out = String::new();
            strconv::write_jsonb(&mut out, other);
            Datum::String(out)
        }
        other => json_datum(other)?,
    })
}

/// A datum as a JSON value, as `to_jsonb` converts it.
pub(super) fn to_json(d: &Datum) -> Result<serde_json::Value, EvalError> {
    use serde_json::Value;
    Ok(match d {
        Datum::Null => Value::Null,
        Datum::Bool(b) => Value::Bool(*b),
        Datum::Jsonb(_) => json_value(d)?,
        Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) | Datum::Numeric(_) | Datum::Float32(_) | Datum::Float64(_) => {
            let text = strconv::format_datum(d).unwrap_or_default();
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        }
        Datum::Array(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        other => Value::String(strconv::format_datum(other).unwrap_or_default()),
    })
}

/// PostgreSQL's jsonb containment: objects contain sub-objects, arrays contain elements.
pub(super) fn json_contains(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => y.iter().all(|(k, v)| x.get(k).is_some_and(|xv| json_contains(xv, v))),
        (Value::Array(x), Value::Array(y)) => y.iter().all(|v| x.iter().any(|xv| json_contains(xv, v))),
        (Value::Array(x), scalar) if !scalar.is_object() && !scalar.is_array() => x.iter().any(|xv| xv == scalar),
        (Value::Number(x), Value::Number(y)) => x.to_string().parse::<f64>().ok() == y.to_string().parse::<f64>().ok(),
        (x, y) => x == y,
    }
}

pub(super) fn jsonb_get(j: &Datum, key: &Datum, as_text: bool) -> Result<Datum, EvalError> {
    let Datum::Jsonb(text) = j else {
        return Err(EvalError::InvalidArgument("operator -> requires jsonb".into()));
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| EvalError::InvalidArgument(e.to_string()))?;
    let found = match (key, &value) {
        (Datum::String(k), serde_json::Value::Object(map)) => map.get(k),
        (Datum::Int32(i), serde_json::Value::Array(items)) => {
            let idx = if *i < 0 { items.len() as i64 + *i as i64 } else { *i as i64 };
            usize::try_from(idx).ok().and_then(|i| items.get(i))
        }
        _ => None,
    };
    Ok(match found {
        None => Datum::Null,
        Some(serde_json::Value::Null) if as_text => Datum::Null,
        Some(serde_json::Value::String(s)) if as_text => Datum::String(s.clone()),
        Some(v) => {
            let mut out = String::new();
            strconv::write_jsonb(&mut out, v);
            if as_text {
                Datum::String(out)
            } else {
                Datum::Jsonb(out)
            }
        }
    })
}
