//! Planning `CREATE CONNECTION`, `CREATE SOURCE` and `CREATE SINK` into the descriptions of
//! [`crate::source`].

use crate::plan::{Plan, Planner};
use crate::source::{Envelope, Format, Include, KafkaConnection, SinkDesc, SinkEnvelope, SourceDesc, StartOffset};
use crate::statement::{CreateConnection, CreateSink, CreateSource, FormatSpec, StatementOption};
use crate::types::parse_type_name;
use crate::{ItemKind, PlanError};
use riffle_repr::{ColumnType, RelationDesc, ScalarType};

fn take(options: &mut Vec<StatementOption>, name: &str) -> Option<Option<String>> {
    let pos = options.iter().position(|(n, _)| n == name)?;
    Some(options.remove(pos).1)
}

fn refuse_rest(options: &[StatementOption], what: &str) -> Result<(), PlanError> {
    match options.first() {
        Some((name, _)) => Err(PlanError::InvalidValue(format!("unknown {what} option {name}"))),
        None => Ok(()),
    }
}

fn required(options: &mut Vec<StatementOption>, name: &str, what: &str) -> Result<String, PlanError> {
    take(options, name)
        .flatten()
        .ok_or_else(|| PlanError::InvalidValue(format!("{what} needs the option {name} '…'")))
}

impl Planner<'_> {
    pub(crate) fn plan_create_connection(&self, c: &CreateConnection) -> Result<Plan, PlanError> {
        let mut options = c.options.clone();
        let mut brokers = take(&mut options, "BROKER").flatten();
        if let Some(list) = take(&mut options, "BROKERS").flatten() {
            let list: Vec<String> = list
                .trim_start_matches('(')
                .trim_end_matches(')')
                .split(',')
                .map(|b| b.trim().trim_matches('\'').to_string())
                .collect();
            brokers = Some(list.join(","));
        }
        let brokers = brokers.ok_or_else(|| PlanError::InvalidValue("a Kafka connection needs BROKER 'host:port'".into()))?;
        // Riffle's names for the client settings users most often need, as librdkafka spells them.
        let mut settings = Vec::new();
        for (name, key) in [
            ("SECURITY PROTOCOL", "security.protocol"),
            ("SASL MECHANISMS", "sasl.mechanism"),
            ("SASL MECHANISM", "sasl.mechanism"),
            ("SASL USERNAME", "sasl.username"),
            ("SASL PASSWORD", "sasl.password"),
            ("SSL CERTIFICATE AUTHORITY", "ssl.ca.pem"),
            ("SSL CERTIFICATE", "ssl.certificate.pem"),
            ("SSL KEY", "ssl.key.pem"),
            ("CLIENT ID", "client.id"),
        ] {
            if let Some(v) = take(&mut options, name) {
                let v = v.ok_or_else(|| PlanError::InvalidValue(format!("{name} needs a value")))?;
                settings.push((key.to_string(), v));
            }
        }
        refuse_rest(&options, "connection")?;
        Ok(Plan::CreateConnection {
            name: c.name.clone(),
            if_not_exists: c.if_not_exists,
            connection: KafkaConnection {
                brokers,
                options: settings,
            },
        })
    }

    fn connection(&self, name: &str) -> Result<(riffle_repr::GlobalId, KafkaConnection), PlanError> {
        let item = self
            .catalog
            .get(name)
            .ok_or_else(|| PlanError::UnknownObject("connection", name.to_string()))?;
        match &item.kind {
            ItemKind::Connection(c) => Ok((item.id, c.clone())),
            _ => Err(PlanError::WrongObjectType(name.to_string(), "connection")),
        }
    }

    fn declared_columns(&self, columns: &[sqlparser::ast::ColumnDef]) -> Result<RelationDesc, PlanError> {
        let mut desc = RelationDesc::empty();
        for col in columns {
            if desc.names.contains(&col.name.value) {
                return Err(PlanError::InvalidParameter(format!(
                    "column \"{}\" specified more than once",
                    col.name.value
                )));
            }
            if let Some(opt) = col.options.first() {
                return Err(PlanError::unsupported(format!("column option {} on a source", opt.option)));
            }
            desc = desc.with_column(col.name.value.clone(), ColumnType::nullable(parse_type_name(&col.data_type)?));
        }
        Ok(desc)
    }

    pub(crate) fn plan_create_source(&self, c: &CreateSource) -> Result<Plan, PlanError> {
        let (connection_id, connection) = self.connection(&c.connection)?;
        let mut options = c.options.clone();
        let topic = required(&mut options, "TOPIC", "a Kafka source")?;
        refuse_rest(&options, "source")?;
        let declared = self.declared_columns(&c.columns)?;
        let envelope = match c.envelope.as_deref() {
            None | Some("NONE") => Envelope::None,
            Some("UPSERT") => Envelope::Upsert,
            Some("DEBEZIUM") => Envelope::Debezium,
            Some(other) => return Err(PlanError::unsupported(format!("ENVELOPE {other}"))),
        };
        let text_col = |name: &str, typ: ScalarType| RelationDesc::empty().with_column(name, ColumnType::nullable(typ));
        let single = |default: &str, typ: ScalarType, what: &str| -> Result<RelationDesc, PlanError> {
            match declared.arity() {
                0 => Ok(text_col(default, typ)),
                1 if declared.types[0].scalar_type == typ => Ok(declared.clone()),
                _ => Err(PlanError::InvalidValue(format!(
                    "FORMAT {what} gives one {} column; declare at most that",
                    typ.name()
                ))),
            }
        };
        let (format, value_desc) = match &c.format {
            FormatSpec::Json if declared.arity() == 0 && envelope == Envelope::Debezium => {
                return Err(PlanError::InvalidValue(
                    "ENVELOPE DEBEZIUM with FORMAT JSON needs the row's columns declared: CREATE SOURCE s (col type, …) …".into(),
                ))
            }
            FormatSpec::Json => (
                Format::Json,
                if declared.arity() == 0 {
                    text_col("data", ScalarType::Jsonb)
                } else {
                    declared
                },
            ),
            FormatSpec::Text => (Format::Text, single("text", ScalarType::String, "TEXT")?),
            FormatSpec::Bytes => (Format::Bytes, single("data", ScalarType::Bytes, "BYTES")?),
            FormatSpec::CsvColumns(n) => {
                let desc = if declared.arity() == 0 {
                    (1..=*n).fold(RelationDesc::empty(), |d, i| {
                        d.with_column(format!("column{i}"), ColumnType::nullable(ScalarType::String))
                    })
                } else if declared.arity() == *n {
                    declared
                } else {
                    return Err(PlanError::InvalidValue(format!(
                        "CSV WITH {n} COLUMNS, but {} columns are declared",
                        declared.arity()
                    )));
                };
                (
                    Format::Csv {
                        columns: *n,
                        header: false,
                    },
                    desc,
                )
            }
            FormatSpec::CsvHeader(names) => {
                let desc = match (declared.arity(), names.len()) {
                    (0, 0) => {
                        return Err(PlanError::InvalidValue(
                            "CSV WITH HEADER needs the column names: CSV WITH HEADER (a, b, …) or a declared column list".into(),
                        ))
                    }
                    (0, _) => names.iter().fold(RelationDesc::empty(), |d, n| {
                        d.with_column(n.clone(), ColumnType::nullable(ScalarType::String))
                    }),
                    (a, 0) => {
                        let _ = a;
                        declared
                    }
                    (a, b) if a == b => {
                        let mut d = declared;
                        d.names = names.clone();
                        d
                    }
                    (a, b) => return Err(PlanError::InvalidValue(format!("{b} header names but {a} declared columns"))),
                };
                (
                    Format::Csv {
                        columns: desc.arity(),
                        header: true,
                    },
                    desc,
                )
            }
            FormatSpec::Avro(schema) => {
                let desc = avro_desc(schema, envelope == Envelope::Debezium)?;
                if declared.arity() != 0 {
                    return Err(PlanError::InvalidValue(
                        "FORMAT AVRO takes its columns from the schema; declare none".into(),
                    ));
                }
                (Format::Avro { schema: schema.clone() }, desc)
            }
        };
        let key_format = match &c.key_format {
            Some(FormatSpec::Text) => Format::Text,
            Some(FormatSpec::Bytes) => Format::Bytes,
            Some(FormatSpec::Json) => Format::Json,
            Some(other) => return Err(PlanError::unsupported(format!("KEY FORMAT {other:?} (use TEXT, BYTES or JSON)"))),
            None => match format {
                Format::Json => Format::Json,
                Format::Bytes => Format::Bytes,
                _ => Format::Text,
            },
        };
        let mut include = Include::default();
        for (what, alias) in &c.include {
            let slot = match what.as_str() {
                "KEY" => &mut include.key,
                "PARTITION" => &mut include.partition,
                "OFFSET" => &mut include.offset,
                "TIMESTAMP" => &mut include.timestamp,
                other => return Err(PlanError::unsupported(format!("INCLUDE {other}"))),
            };
            *slot = Some(alias.clone().unwrap_or_else(|| what.to_ascii_lowercase()));
        }
        if envelope == Envelope::Debezium && (include.partition.is_some() || include.offset.is_some() || include.timestamp.is_some()) {
            // A retraction must match the row its insertion made, which carried other metadata.
            return Err(PlanError::InvalidValue(
                "ENVELOPE DEBEZIUM cannot INCLUDE PARTITION, OFFSET or TIMESTAMP".into(),
            ));
        }
        if envelope == Envelope::Upsert && include.key.is_none() {
            // The key identifies the row being replaced, so it is part of the row.
            include.key = Some("key".into());
        }
        let start = match &c.start_offsets {
            Some(offsets) => StartOffset::Offsets(offsets.clone()),
            None => StartOffset::Earliest,
        };
        let source = SourceDesc {
            connection_id,
            connection,
            topic,
            format,
            key_format,
            envelope,
            include,
            start,
            value_desc,
        };
        let desc = source.output_desc();
        for (i, n) in desc.names.iter().enumerate() {
            if desc.names[..i].contains(n) {
                return Err(PlanError::InvalidParameter(format!(
                    "column \"{n}\" specified more than once (rename an INCLUDE column with AS)"
                )));
            }
        }
        Ok(Plan::CreateSource {
            name: c.name.clone(),
            if_not_exists: c.if_not_exists,
            desc,
            source,
        })
    }

    pub(crate) fn plan_create_sink(&self, c: &CreateSink) -> Result<Plan, PlanError> {
        let (connection_id, connection) = self.connection(&c.connection)?;
        let from = self
            .catalog
            .get(&c.from)
            .ok_or_else(|| PlanError::UnknownRelation(c.from.clone()))?;
        if matches!(
            from.kind,
            ItemKind::Index { .. } | ItemKind::Connection(_) | ItemKind::Sink(_) | ItemKind::Model(_)
        ) {
            return Err(PlanError::WrongObjectType(c.from.clone(), "relation"));
        }
        let mut options = c.options.clone();
        let topic = required(&mut options, "TOPIC", "a Kafka sink")?;
        refuse_rest(&options, "sink")?;
        if c.format != FormatSpec::Json {
            return Err(PlanError::unsupported(format!("sink FORMAT {:?} (only JSON)", c.format)));
        }
        let key = c
            .key
            .iter()
            .map(|k| {
                from.desc
                    .names
                    .iter()
                    .position(|n| n == k)
                    .ok_or_else(|| PlanError::UnknownColumn(k.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let envelope = match c.envelope.as_deref() {
            None | Some("DEBEZIUM") => SinkEnvelope::Debezium,
            Some("UPSERT") if key.is_empty() => {
                return Err(PlanError::InvalidValue(
                    "ENVELOPE UPSERT needs KEY (columns) to name the rows it replaces".into(),
                ))
            }
            Some("UPSERT") => SinkEnvelope::Upsert,
            Some(other) => return Err(PlanError::unsupported(format!("sink ENVELOPE {other}"))),
        };
        Ok(Plan::CreateSink {
            name: c.name.clone(),
            if_not_exists: c.if_not_exists,
            sink: SinkDesc {
                from: from.id,
                connection_id,
                connection,
                topic,
                envelope,
                key,
                desc: from.desc.clone(),
            },
        })
    }
}

/// The columns of an Avro record schema (for Debezium: of its `after` record).
pub fn avro_desc(schema: &str, debezium: bool) -> Result<RelationDesc, PlanError> {
    use apache_avro::Schema;
    let schema = Schema::parse_str(schema).map_err(|e| PlanError::InvalidValue(format!("invalid Avro schema: {e}")))?;
    let record = match &schema {
        Schema::Record(r) if debezium => {
            let after = r
                .fields
                .iter()
                .find(|f| f.name == "after")
                .ok_or_else(|| PlanError::InvalidValue("a Debezium Avro schema needs an `after` field".into()))?;
            match &after.schema {
                Schema::Union(u) => u.variants().iter().find_map(|v| match v {
                    Schema::Record(r) => Some(r.clone()),
                    _ => None,
                }),
                Schema::Record(r) => Some(r.clone()),
                _ => None,
            }
            .ok_or_else(|| PlanError::InvalidValue("the Debezium `after` field must be a record (or null and a record)".into()))?
        }
        Schema::Record(r) => r.clone(),
        _ => return Err(PlanError::InvalidValue("FORMAT AVRO needs a record schema".into())),
    };
    let mut desc = RelationDesc::empty();
    for field in &record.fields {
        desc = desc.with_column(field.name.clone(), ColumnType::nullable(avro_type(&field.schema)));
    }
    Ok(desc)
}

/// The SQL type an Avro field decodes to (nullable unions by their non-null branch; nested
/// records, arrays and maps as jsonb).
pub fn avro_type(schema: &apache_avro::Schema) -> ScalarType {
    use apache_avro::Schema;
    match schema {
        Schema::Union(u) => {
            let non_null: Vec<&Schema> = u.variants().iter().filter(|v| !matches!(v, Schema::Null)).collect();
            match non_null.as_slice() {
                [one] => avro_type(one),
                _ => ScalarType::Jsonb,
            }
        }
        Schema::Boolean => ScalarType::Bool,
        Schema::Int => ScalarType::Int32,
        Schema::Long => ScalarType::Int64,
        Schema::Float => ScalarType::Float32,
        Schema::Double => ScalarType::Float64,
        Schema::String | Schema::Enum(_) | Schema::Uuid => ScalarType::String,
        Schema::Bytes | Schema::Fixed(_) => ScalarType::Bytes,
        Schema::Decimal(_) | Schema::BigDecimal => ScalarType::NUMERIC,
        Schema::Date => ScalarType::Date,
        Schema::TimestampMillis | Schema::TimestampMicros | Schema::TimestampNanos => ScalarType::TimestampTz,
        Schema::LocalTimestampMillis | Schema::LocalTimestampMicros | Schema::LocalTimestampNanos => ScalarType::Timestamp,
        _ => ScalarType::Jsonb,
    }
}
