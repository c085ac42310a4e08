//! Decoding Kafka records into rows: formats (JSON, CSV, Avro, text, bytes), the metadata
//! columns of `INCLUDE`, and what each envelope makes of a record.

use riffle_repr::strconv::{parse_datum, write_jsonb};
use riffle_repr::{Datum, DatumRef, Diff, RelationDesc, Row, RowPacker, ScalarType};
use riffle_sql::source::{Envelope, Format, SourceDesc};
use serde::de::{DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::HashMap;

/// One Kafka record, borrowed from the consumer.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// The key bytes.
    pub key: Option<&'a [u8]>,
    /// The value bytes (None: a tombstone).
    pub payload: Option<&'a [u8]>,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// The record's timestamp, milliseconds since the epoch.
    pub timestamp_ms: Option<i64>,
}

/// What a record means for the source's collection.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    /// Rows to add (+1) or retract (−1).
    Changes(Vec<(Row, Diff)>),
    /// ENVELOPE UPSERT: the key's new row (None: delete the key).
    Upsert {
        /// The key.
        key: Datum,
        /// The new row.
        row: Option<Row>,
    },
    /// Nothing (a CSV header record, a Debezium tombstone).
    Skip,
}

/// Decodes the records of one source.
pub struct Decoder {
    desc: SourceDesc,
    avro: Option<apache_avro::Schema>,
    /// JSON: each value column's position by name.
    columns: HashMap<String, usize>,
}

impl Decoder {
    /// A decoder for `desc`; fails only on an unusable Avro schema (which planning has
    /// already checked).
    pub fn new(desc: &SourceDesc) -> Result<Self, String> {
        let avro = match &desc.format {
            Format::Avro { schema } => Some(apache_avro::Schema::parse_str(schema).map_err(|e| format!("invalid Avro schema: {e}"))?),
            _ => None,
        };
        let columns = desc.value_desc.names.iter().enumerate().map(|(i, n)| (n.clone(), i)).collect();
        Ok(Decoder {
            desc: desc.clone(),
            avro,
            columns,
        })
    }

    /// Decodes one record; an error names what was wrong with it.
    pub fn decode(&self, rec: &Record) -> Result<Decoded, String> {
        let key = match &self.desc.include.key {
            Some(_) => Some(self.decode_key(rec.key)?),
            None => None,
        };
        match self.desc.envelope {
            Envelope::None => {
                let payload = rec
                    .payload
                    .ok_or("the record has no value (a tombstone), which ENVELOPE NONE cannot apply")?;
                match self.value_row(key.as_ref(), payload, rec)? {
                    Some(row) => Ok(Decoded::Changes(vec![(row, 1)])),
                    None => Ok(Decoded::Skip),
                }
            }
            Envelope::Upsert => {
                let key = key.expect("UPSERT includes the key");
                if key.is_null() {
                    return Err("ENVELOPE UPSERT needs a record key; this record has none".into());
                }
                let row = match rec.payload {
                    None => None,
                    Some(payload) => match self.value_row(Some(&key), payload, rec)? {
                        Some(row) => Some(row),
                        None => return Ok(Decoded::Skip),
                    },
                };
                Ok(Decoded::Upsert { key, row })
            }
            Envelope::Debezium => {
                let Some(payload) = rec.payload else {
                    return Ok(Decoded::Skip);
                };
                let (before, after) = self.decode_debezium(payload)?;
                let mut changes = Vec::new();
                if let Some(b) = before {
                    changes.push((self.row(key.as_ref(), b, rec), -1));
                }
                if let Some(a) = after {
                    changes.push((self.row(key.as_ref(), a, rec), 1));
                }
                Ok(Decoded::Changes(changes))
            }
        }
    }

    /// The output row of a record's payload (None: a record to skip, such as a CSV header):
    /// packed straight from the text for JSON objects ([`Decoder::json_row`]), through the
    /// value's datums otherwise.
    fn value_row(&self, key: Option<&Datum>, payload: &[u8], rec: &Record) -> Result<Option<Row>, String> {
        if let Some(row) = self.json_row(key, payload, rec) {
            return row.map(Some);
        }
        Ok(self.decode_value(payload)?.map(|values| self.row(key, values, rec)))
    }

    /// The output row: key, values, then the metadata columns.
    fn row(&self, key: Option<&Datum>, values: Vec<Datum>, rec: &Record) -> Row {
        Row::build(|p| {
            if let Some(key) = key {
                p.push_datum(key);
            }
            values.iter().for_each(|d| p.push_datum(d));
            self.push_metadata(p, rec);
        })
    }

    /// The metadata columns `INCLUDE` asks for, in order.
    fn push_metadata(&self, p: &mut RowPacker, rec: &Record) {
        let inc = &self.desc.include;
        if inc.partition.is_some() {
            p.push(DatumRef::Int32(rec.partition));
        }
        if inc.offset.is_some() {
            p.push(DatumRef::Int64(rec.offset));
        }
        if inc.timestamp.is_some() {
            p.push(rec.timestamp_ms.map_or(DatumRef::Null, |ms| DatumRef::TimestampTz(ms * 1000)));
        }
    }

    /// The output row of a JSON object's payload, packed from the object's text without a
    /// `Datum` per column (text fields without escapes go straight from the record into the
    /// row); None when the format is not JSON columns or the payload is not an object, for
    /// [`Decoder::decode_value`] to read (and word the error). The row equals `row` of the
    /// object's datums ([`json_object_row`]).
    fn json_row(&self, key: Option<&Datum>, payload: &[u8], rec: &Record) -> Option<Result<Row, String>> {
        let desc = &self.desc.value_desc;
        if self.desc.format != Format::Json || whole_jsonb(desc) {
            return None;
        }
        let text = std::str::from_utf8(payload).ok()?;
        let fields = json_fields(text, desc, &self.columns)?;
        Some(Row::try_build(|p| {
            if let Some(key) = key {
                p.push_datum(key);
            }
            for (field, (name, typ)) in fields.into_iter().zip(desc.iter()) {
                match field {
                    None => p.push(DatumRef::Null),
                    Some(raw) => push_raw(p, raw, &typ.scalar_type).map_err(|e| format!("column {name}: {e}"))?,
                }
            }
            self.push_metadata(p, rec);
            Ok(())
        }))
    }

    fn decode_key(&self, key: Option<&[u8]>) -> Result<Datum, String> {
        let Some(bytes) = key else { return Ok(Datum::Null) };
        match self.desc.key_format {
            Format::Bytes => Ok(Datum::Bytes(bytes.to_vec())),
            Format::Json => {
                let text = std::str::from_utf8(bytes).map_err(|e| format!("key is not UTF-8: {e}"))?;
                let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("key is not JSON: {e}"))?;
                Ok(json_to_datum(&v, &ScalarType::Jsonb)?)
            }
            _ => Ok(Datum::String(
                std::str::from_utf8(bytes)
                    .map_err(|e| format!("key is not UTF-8: {e}"))?
                    .to_string(),
            )),
        }
    }

    /// The value columns of a payload (None: a record to skip, such as a CSV header).
    fn decode_value(&self, payload: &[u8]) -> Result<Option<Vec<Datum>>, String> {
        let desc = &self.desc.value_desc;
        match &self.desc.format {
            Format::Bytes => Ok(Some(vec![Datum::Bytes(payload.to_vec())])),
            Format::Text => Ok(Some(vec![Datum::String(utf8(payload)?.to_string())])),
            Format::Json => {
                if whole_jsonb(desc) {
                    return Ok(Some(vec![json_to_datum(&parse_json(payload)?, &ScalarType::Jsonb)?]));
                }
                // Objects are packed by `json_row`; what reaches here is not one (or not JSON),
                // and the general path words the error.
                json_object_row(&parse_json(payload)?, desc).map(Some)
            }
            Format::Csv { columns, header } => {
                let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(payload);
                let record = match reader.records().next() {
                    Some(r) => r.map_err(|e| format!("invalid CSV: {e}"))?,
                    None => return Err("empty CSV record".into()),
                };
                if record.len() != *columns {
                    return Err(format!("CSV record has {} fields, expected {columns}", record.len()));
                }
                if *header && record.iter().zip(&desc.names).all(|(f, n)| f.trim() == n) {
                    return Ok(None);
                }
                record
                    .iter()
                    .zip(&desc.types)
                    .zip(&desc.names)
                    .map(|((field, typ), name)| {
                        if field.is_empty() && typ.scalar_type != ScalarType::String {
                            Ok(Datum::Null)
                        } else {
                            parse_datum(field, &typ.scalar_type).map_err(|e| format!("column {name}: {e}"))
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some)
            }
            Format::Avro { .. } => {
                let value = self.avro_value(payload)?;
                avro_record_row(&value, desc).map(Some)
            }
        }
    }

    /// A Debezium change record's `before` and `after` rows.
    fn decode_debezium(&self, payload: &[u8]) -> Result<(Option<Vec<Datum>>, Option<Vec<Datum>>), String> {
        let desc = &self.desc.value_desc;
        match &self.desc.format {
            Format::Json => {
                let mut v = parse_json(payload)?;
                if let Some(inner) = v.get("payload").filter(|p| p.is_object()) {
                    v = inner.clone();
                }
                let side = |name: &str| -> Result<Option<Vec<Datum>>, String> {
                    match v.get(name) {
                        None | Some(serde_json::Value::Null) => Ok(None),
                        Some(obj) => json_object_row(obj, desc).map(Some).map_err(|e| format!("{name}: {e}")),
                    }
                };
                if v.get("before").is_none() && v.get("after").is_none() {
                    return Err("not a Debezium change record: no `before` or `after` field".into());
                }
                Ok((side("before")?, side("after")?))
            }
            Format::Avro { .. } => {
                let value = self.avro_value(payload)?;
                let apache_avro::types::Value::Record(fields) = &value else {
                    return Err("not a Debezium change record: not an Avro record".into());
                };
                let side = |name: &str| -> Result<Option<Vec<Datum>>, String> {
                    match fields.iter().find(|(n, _)| n == name).map(|(_, v)| unwrap_union(v)) {
                        None | Some(apache_avro::types::Value::Null) => Ok(None),
                        Some(v) => avro_record_row(v, desc).map(Some).map_err(|e| format!("{name}: {e}")),
                    }
                };
                Ok((side("before")?, side("after")?))
            }
            other => Err(format!("ENVELOPE DEBEZIUM needs JSON or Avro, not {other:?}")),
        }
    }

    /// An Avro datum, raw or in Confluent's framing (a zero byte and a 4-byte schema id).
    fn avro_value(&self, payload: &[u8]) -> Result<apache_avro::types::Value, String> {
        let schema = self.avro.as_ref().expect("Avro sources have a schema");
        let whole = |bytes: &[u8]| -> Result<apache_avro::types::Value, String> {
            let mut reader = bytes;
            let v = apache_avro::from_avro_datum(schema, &mut reader, None).map_err(|e| format!("invalid Avro: {e}"))?;
            if !reader.is_empty() {
                return Err(format!("invalid Avro: {} bytes left after the record", reader.len()));
            }
            Ok(v)
        };
        if payload.len() >= 5 && payload[0] == 0 {
            if let Ok(v) = whole(&payload[5..]) {
                return Ok(v);
            }
        }
        whole(payload)
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))
}

fn parse_json(payload: &[u8]) -> Result<serde_json::Value, String> {
    serde_json::from_str(utf8(payload)?).map_err(|e| format!("invalid JSON: {e}"))
}

/// Each declared column's raw value in a JSON object's text (None: the field is missing),
/// located in one pass without building a `serde_json::Value` (a map and a string per field),
/// as [`json_object_row`] reads them: a repeated field's last value counts, undeclared fields
/// are skipped. None when the text is not a JSON object, for the general path to report.
fn json_fields<'a>(text: &'a str, desc: &RelationDesc, columns: &HashMap<String, usize>) -> Option<Vec<Option<&'a RawValue>>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let fields = de.deserialize_map(Fields { desc, columns }).ok()?;
    de.end().ok()?;
    Some(fields)
}

/// Whether the value columns are the single `data jsonb` column that holds the whole record.
fn whole_jsonb(desc: &RelationDesc) -> bool {
    desc.arity() == 1 && desc.names[0] == "data" && desc.types[0].scalar_type == ScalarType::Jsonb
}

/// Packs a field's raw JSON text as a datum of `typ`: what [`raw_to_datum`] makes of it, with
/// a `text` column's unescaped string copied from the record straight into the row.
fn push_raw(p: &mut RowPacker, raw: &RawValue, typ: &ScalarType) -> Result<(), String> {
    let text = raw.get();
    if *typ == ScalarType::String && text.len() >= 2 && text.starts_with('"') && !text.contains('\\') {
        p.push(DatumRef::String(&text[1..text.len() - 1]));
    } else {
        p.push_datum(&raw_to_datum(raw, typ)?);
    }
    Ok(())
}

/// A field's raw JSON text as a datum of `typ`, as [`json_to_datum`] reads the parsed value.
fn raw_to_datum(raw: &RawValue, typ: &ScalarType) -> Result<Datum, String> {
    let text = raw.get();
    let direct = !matches!(typ, ScalarType::Jsonb | ScalarType::Array(_));
    match text.as_bytes().first() {
        // A string without escapes is its text between the quotes.
        Some(b'"') if direct && !text.contains('\\') => return parse_datum(&text[1..text.len() - 1], typ).map_err(|e| e.to_string()),
        // A number is its text (`arbitrary_precision` keeps it as written): what
        // `json_to_datum` does with a `Number`, without building one.
        Some(b'-' | b'0'..=b'9') if direct => {
            return match typ {
                ScalarType::Timestamp | ScalarType::TimestampTz | ScalarType::Date => epoch_datum(text, typ),
                _ => number_text_datum(text, typ),
            };
        }
        _ => {}
    }
    match text {
        "null" => Ok(Datum::Null),
        "true" | "false" if *typ == ScalarType::Bool => Ok(Datum::Bool(text == "true")),
        _ => {
            let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
            json_to_datum(&value, typ)
        }
    }
}

/// Reads a JSON object's fields into their columns' slots (see [`json_fields`]).
struct Fields<'a> {
    desc: &'a RelationDesc,
    columns: &'a HashMap<String, usize>,
}

impl<'de> Visitor<'de> for Fields<'_> {
    type Value = Vec<Option<&'de RawValue>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let names = &self.desc.names;
        let mut fields = vec![None; names.len()];
        // Fields usually come in column order: try the next column before the map.
        let mut next = 0;
        while let Some(key) = map.next_key_seed(Key)? {
            let column = match names.get(next) {
                Some(n) if *n == *key => Some(next),
                _ if names.len() <= 16 => names.iter().position(|n| *n == *key),
                _ => self.columns.get(&*key).copied(),
            };
            match column {
                Some(i) => {
                    fields[i] = Some(map.next_value::<&'de RawValue>()?);
                    next = i + 1;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(fields)
    }
}

/// An object key, borrowed from the text unless it holds escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a field name")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// The declared columns of a JSON object, by field name (missing fields are NULL).
fn json_object_row(v: &serde_json::Value, desc: &RelationDesc) -> Result<Vec<Datum>, String> {
    let obj = v.as_object().ok_or_else(|| format!("expected a JSON object, found {}", kind(v)))?;
    desc.iter()
        .map(|(name, typ)| match obj.get(name) {
            None => Ok(Datum::Null),
            Some(field) => json_to_datum(field, &typ.scalar_type).map_err(|e| format!("column {name}: {e}")),
        })
        .collect()
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A JSON value as a datum of `typ`: strings and numbers through the type's text input;
/// numbers for timestamps are milliseconds since the epoch and for dates days since it.
pub fn json_to_datum(v: &serde_json::Value, typ: &ScalarType) -> Result<Datum, String> {
    use serde_json::Value as J;
    match (v, typ) {
        (J::Null, _) => Ok(Datum::Null),
        (_, ScalarType::Jsonb) => {
            let mut out = String::new();
            write_jsonb(&mut out, v);
            Ok(Datum::Jsonb(out))
        }
        (J::Array(items), ScalarType::Array(elem)) => items
            .iter()
            .map(|i| json_to_datum(i, elem))
            .collect::<Result<Vec<_>, _>>()
            .map(Datum::Array),
        (J::Number(n), ScalarType::TimestampTz | ScalarType::Timestamp | ScalarType::Date) => epoch_datum(n.as_str(), typ),
        (J::String(s), _) => parse_datum(s, typ).map_err(|e| e.to_string()),
        (J::Number(n), _) => number_text_datum(n.as_str(), typ),
        (J::Bool(b), ScalarType::Bool) => Ok(Datum::Bool(*b)),
        (J::Bool(b), ScalarType::String) => Ok(Datum::String(b.to_string())),
        (other, _) => Err(format!("cannot read {} as {}", kind(other), typ.name())),
    }
}

/// A JSON number, given as its text, as a timestamp (milliseconds since the epoch) or a date
/// (days since it).
fn epoch_datum(text: &str, typ: &ScalarType) -> Result<Datum, String> {
    if *typ == ScalarType::Date {
        let days: i32 = text.parse().map_err(|_| format!("{text} is not a whole number of days"))?;
        return Ok(Datum::Date(days));
    }
    let ms: i64 = text.parse().map_err(|_| format!("{text} is not a whole number of milliseconds"))?;
    let us = ms.checked_mul(1000).ok_or_else(|| format!("timestamp {ms} ms out of range"))?;
    Ok(if *typ == ScalarType::TimestampTz {
        Datum::TimestampTz(us)
    } else {
        Datum::Timestamp(us)
    })
}

/// A JSON number, given as its text, as a datum of `typ` (not a timestamp or date, which read
/// numbers as epoch units): the text itself for `text`, integers and floats directly where they
/// fit, anything else through the type's text input, which also words the errors (out of range,
/// not an integer).
fn number_text_datum(text: &str, typ: &ScalarType) -> Result<Datum, String> {
    match typ {
        ScalarType::String => Ok(Datum::String(text.to_owned())),
        _ => number_datum(text, typ).map_or_else(|| parse_datum(text, typ).map_err(|e| e.to_string()), Ok),
    }
}

/// A JSON number (its text: as written in a record, or as serde_json's `arbitrary_precision`
/// `Number` keeps it, which only adds a sign to exponents) as
/// an integer or float column's datum, without the type's general text input (the common case
/// of every numeric field); None when it needs that input: out of range, a fraction for an
/// integer, `numeric`. Reads the text as `Number::as_i64`/`as_f64` do.
fn number_datum(text: &str, typ: &ScalarType) -> Option<Datum> {
    let float = || text.parse::<f64>().ok().filter(|f| f.is_finite());
    Some(match typ {
        ScalarType::Int64 => Datum::Int64(text.parse().ok()?),
        ScalarType::Int32 => Datum::Int32(text.parse().ok()?),
        ScalarType::Int16 => Datum::Int16(text.parse().ok()?),
        ScalarType::Float64 => Datum::Float64(riffle_repr::F64(float()?)),
        ScalarType::Float32 => Datum::Float32(riffle_repr::F32(Some(float()? as f32).filter(|f| f.is_finite())?)),
        _ => return None,
    })
}

fn unwrap_union(v: &apache_avro::types::Value) -> &apache_avro::types::Value {
    match v {
        apache_avro::types::Value::Union(_, inner) => unwrap_union(inner),
        other => other,
    }
}

fn avro_record_row(v: &apache_avro::types::Value, desc: &RelationDesc) -> Result<Vec<Datum>, String> {
    let apache_avro::types::Value::Record(fields) = unwrap_union(v) else {
        return Err("expected an Avro record".into());
    };
    desc.iter()
        .map(|(name, typ)| match fields.iter().find(|(n, _)| n == name) {
            None => Ok(Datum::Null),
            Some((_, value)) => avro_to_datum(value, &typ.scalar_type).map_err(|e| format!("column {name}: {e}")),
        })
        .collect()
}

/// An Avro value as a datum of the column's type (see `riffle_sql::avro_type`).
fn avro_to_datum(v: &apache_avro::types::Value, typ: &ScalarType) -> Result<Datum, String> {
    use apache_avro::types::Value as A;
    Ok(match (unwrap_union(v), typ) {
        (A::Null, _) => Datum::Null,
        (A::Boolean(b), _) => Datum::Bool(*b),
        (A::Int(i), ScalarType::Int32) => Datum::Int32(*i),
        (A::Long(i), ScalarType::Int64) => Datum::Int64(*i),
        (A::Float(f), _) => Datum::Float32(riffle_repr::F32(*f)),
        (A::Double(f), _) => Datum::Float64(riffle_repr::F64(*f)),
        (A::String(s) | A::Enum(_, s), _) => Datum::String(s.clone()),
        (A::Uuid(u), _) => Datum::String(u.to_string()),
        (A::Bytes(b) | A::Fixed(_, b), _) => Datum::Bytes(b.clone()),
        (A::Date(d), _) => Datum::Date(*d),
        (A::TimestampMillis(ms), ScalarType::TimestampTz) => Datum::TimestampTz(ms * 1000),
        (A::TimestampMicros(us), ScalarType::TimestampTz) => Datum::TimestampTz(*us),
        (A::TimestampNanos(ns), ScalarType::TimestampTz) => Datum::TimestampTz(ns / 1000),
        (A::LocalTimestampMillis(ms), _) => Datum::Timestamp(ms * 1000),
        (A::LocalTimestampMicros(us), _) => Datum::Timestamp(*us),
        (A::LocalTimestampNanos(ns), _) => Datum::Timestamp(ns / 1000),
        (value, ScalarType::Jsonb) => {
            let json: serde_json::Value = value.clone().try_into().map_err(|e| format!("{e}"))?;
            json_to_datum(&json, &ScalarType::Jsonb)?
        }
        (value, _) => return Err(format!("Avro value {value:?} does not fit {}", typ.name())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use riffle_repr::{ColumnType, GlobalId};
    use riffle_sql::source::{Include, KafkaConnection, StartOffset};

    fn desc(format: Format, envelope: Envelope, value_desc: RelationDesc, include: Include) -> SourceDesc {
        SourceDesc {
            connection_id: GlobalId(1),
            connection: KafkaConnection {
                brokers: "x".into(),
                options: vec![],
            },
            topic: "t".into(),
            key_format: Format::Text,
            format,
            envelope,
            include,
            start: StartOffset::Earliest,
            value_desc,
        }
    }

    fn cols(c: &[(&str, ScalarType)]) -> RelationDesc {
        c.iter().fold(RelationDesc::empty(), |d, (n, t)| {
            d.with_column(*n, ColumnType::nullable(t.clone()))
        })
    }

    fn rec<'a>(key: Option<&'a [u8]>, payload: Option<&'a [u8]>) -> Record<'a> {
        Record {
            key,
            payload,
            partition: 2,
            offset: 7,
            timestamp_ms: Some(1000),
        }
    }

    /// Packing an object's columns from its text gives the row of the parsed value's datums,
    /// errors included, and leaves what is not an object to the general path.
    #[test]
    fn json_rows_agree_with_the_parsed_object() {
        let d = cols(&[
            ("id", ScalarType::Int64),
            ("name", ScalarType::String),
            ("price", ScalarType::Numeric { typmod: None }),
            ("at", ScalarType::TimestampTz),
            ("doc", ScalarType::Jsonb),
            ("tags", ScalarType::Array(Box::new(ScalarType::String))),
            ("ok", ScalarType::Bool),
            ("x", ScalarType::Float64),
        ]);
        let columns: HashMap<String, usize> = d.names.iter().enumerate().map(|(i, n)| (n.clone(), i)).collect();
        let objects = [
            r#"{"id": 1, "name": "a", "price": 2.50, "at": "2024-01-02 03:04:05+00", "doc": {"k": [1, "two"]}, "tags": ["x", "y"], "ok": true, "x": 1e3}"#,
            r#"{"x": 0.5, "ok": false, "id": -3, "extra": {"nested": [1, 2]}, "name": "caf\u00e9 \"q\""}"#,
            r#"{"id": 1, "id": 2, "name": null, "at": 1700000000000, "doc": "text", "tags": "{a,b}"}"#,
            r#"{"n\u0061me": "escaped key", "price": "12.345", "doc": null}"#,
            r#"{}"#,
            r#"{"id": "not a number"}"#,
            r#"{"id": 1.5}"#,
            r#"{"ok": "maybe"}"#,
            r#"{"tags": [1, {"a": 1}]}"#,
            r#"{"name": 12.50, "ok": 1, "x": -0, "id": 9223372036854775807}"#,
            r#"{"name": true, "ok": null, "x": 1e40, "at": "2024-01-02"}"#,
            r#"{"id": 9223372036854775808, "price": -1.5e2, "doc": 3}"#,
            r#"{"at": -5, "x": "NaN", "ok": "t"}"#,
            r#"{"at": 1.5}"#,
            r#"{"at": 99999999999999999999}"#,
            r#"{"at": 9223372036854775807}"#,
        ];
        // Packed straight into the row (with a key and metadata columns), the same row as
        // through the datums, or the same error.
        let include = Include {
            key: Some("k".into()),
            offset: Some("offset".into()),
            timestamp: Some("ts".into()),
            ..Default::default()
        };
        let decoder = Decoder::new(&desc(Format::Json, Envelope::None, d.clone(), include)).unwrap();
        let record = rec(Some(b"key"), None);
        let key = Datum::String("key".into());
        for text in objects {
            let general = json_object_row(&serde_json::from_str(text).unwrap(), &d);
            let packed = decoder.json_row(Some(&key), text.as_bytes(), &record).expect("an object");
            let through_datums = general.map(|values| decoder.row(Some(&key), values, &record));
            assert_eq!(packed, through_datums, "{text}");
        }
        // An out-of-range number is quoted as written, as PostgreSQL quotes its input (a parsed
        // `Number` would print `1e+400`).
        assert_eq!(
            decoder.json_row(Some(&key), br#"{"x": 1e400}"#, &record).unwrap().unwrap_err(),
            "column x: value \"1e400\" is out of range for type double precision"
        );
        for text in ["[1, 2]", "3", "\"s\"", "{\"id\": 1", "{\"id\": 1} trailing", "null"] {
            assert!(json_fields(text, &d, &columns).is_none(), "{text}");
            assert!(decoder.json_row(Some(&key), text.as_bytes(), &record).is_none(), "{text}");
        }
    }

    /// JSON numbers read straight into integer and float columns give what the text input
    /// gives, and what it refuses still fails with its message.
    #[test]
    fn json_numbers_match_the_text_input() {
        let cases = [
            ("42", ScalarType::Int64),
            ("-7", ScalarType::Int32),
            ("32767", ScalarType::Int16),
            ("1.5", ScalarType::Float64),
            ("2", ScalarType::Float32),
            ("0.1", ScalarType::Float32),
        ];
        for (text, typ) in cases {
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(
                json_to_datum(&v, &typ).unwrap(),
                parse_datum(text, &typ).unwrap(),
                "{text} as {typ:?}"
            );
        }
        for (text, typ) in [
            ("3000000000", ScalarType::Int32),
            ("40000", ScalarType::Int16),
            ("1.5", ScalarType::Int64),
            ("1e39", ScalarType::Float32),
        ] {
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(
                json_to_datum(&v, &typ).unwrap_err(),
                parse_datum(&v.to_string(), &typ).unwrap_err().to_string(),
                "{text} as {typ:?}"
            );
        }
    }

    #[test]
    fn json_typed_columns_and_metadata() {
        let include = Include {
            offset: Some("offset".into()),
            partition: Some("partition".into()),
            timestamp: Some("ts".into()),
            ..Default::default()
        };
        let d = Decoder::new(&desc(
            Format::Json,
            Envelope::None,
            cols(&[
                ("id", ScalarType::Int64),
                ("name", ScalarType::String),
                ("at", ScalarType::TimestampTz),
            ]),
            include,
        ))
        .unwrap();
        let out = d
            .decode(&rec(None, Some(br#"{"id": 5, "name": "x", "at": 1500, "extra": true}"#)))
            .unwrap();
        assert_eq!(
            out,
            Decoded::Changes(vec![(
                Row::new(vec![
                    Datum::Int64(5),
                    Datum::String("x".into()),
                    Datum::TimestampTz(1_500_000),
                    Datum::Int32(2),
                    Datum::Int64(7),
                    Datum::TimestampTz(1_000_000)
                ]),
                1
            )])
        );
        assert!(d.decode(&rec(None, Some(b"{\"id\": \"nope\"}"))).unwrap_err().contains("column id"));
        assert!(d.decode(&rec(None, Some(b"not json"))).unwrap_err().contains("invalid JSON"));
        assert!(d.decode(&rec(None, Some(b"[1]"))).unwrap_err().contains("expected a JSON object"));
    }

    #[test]
    fn csv_header_and_upsert() {
        let d = Decoder::new(&desc(
            Format::Csv { columns: 2, header: true },
            Envelope::Upsert,
            cols(&[("a", ScalarType::Int32), ("b", ScalarType::String)]),
            Include {
                key: Some("key".into()),
                ..Default::default()
            },
        ))
        .unwrap();
        assert_eq!(d.decode(&rec(Some(b"k"), Some(b"a,b"))).unwrap(), Decoded::Skip);
        assert_eq!(
            d.decode(&rec(Some(b"k"), Some(b"1,\"x,y\""))).unwrap(),
            Decoded::Upsert {
                key: Datum::String("k".into()),
                row: Some(Row::new(vec![
                    Datum::String("k".into()),
                    Datum::Int32(1),
                    Datum::String("x,y".into())
                ]))
            }
        );
        assert_eq!(
            d.decode(&rec(Some(b"k"), None)).unwrap(),
            Decoded::Upsert {
                key: Datum::String("k".into()),
                row: None
            }
        );
        assert!(d.decode(&rec(None, Some(b"1,x"))).unwrap_err().contains("needs a record key"));
        assert!(d.decode(&rec(Some(b"k"), Some(b"1"))).unwrap_err().contains("1 fields"));
    }

    #[test]
    fn debezium_json_and_avro() {
        let c = cols(&[("id", ScalarType::Int32), ("v", ScalarType::String)]);
        let d = Decoder::new(&desc(Format::Json, Envelope::Debezium, c.clone(), Include::default())).unwrap();
        let out = d
            .decode(&rec(
                None,
                Some(br#"{"payload": {"before": {"id": 1, "v": "a"}, "after": {"id": 1, "v": "b"}, "op": "u"}}"#),
            ))
            .unwrap();
        assert_eq!(
            out,
            Decoded::Changes(vec![
                (Row::new(vec![Datum::Int32(1), Datum::String("a".into())]), -1),
                (Row::new(vec![Datum::Int32(1), Datum::String("b".into())]), 1)
            ])
        );
        assert_eq!(d.decode(&rec(None, None)).unwrap(), Decoded::Skip);

        let schema =
            r#"{"type": "record", "name": "r", "fields": [{"name": "id", "type": "int"}, {"name": "v", "type": ["null", "string"]}]}"#;
        let parsed = apache_avro::Schema::parse_str(schema).unwrap();
        let value = apache_avro::types::Value::Record(vec![
            ("id".into(), apache_avro::types::Value::Int(3)),
            (
                "v".into(),
                apache_avro::types::Value::Union(1, Box::new(apache_avro::types::Value::String("z".into()))),
            ),
        ]);
        let raw = apache_avro::to_avro_datum(&parsed, value).unwrap();
        let d = Decoder::new(&desc(Format::Avro { schema: schema.into() }, Envelope::None, c, Include::default())).unwrap();
        let expect = Decoded::Changes(vec![(Row::new(vec![Datum::Int32(3), Datum::String("z".into())]), 1)]);
        assert_eq!(d.decode(&rec(None, Some(&raw))).unwrap(), expect);
        let mut framed = vec![0, 0, 0, 0, 1];
        framed.extend(&raw);
        assert_eq!(d.decode(&rec(None, Some(&framed))).unwrap(), expect);
        assert!(d.decode(&rec(None, Some(b"\xff\xff\xff"))).is_err());
    }
}
