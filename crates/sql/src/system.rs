//! System catalogs: `pg_catalog` and `information_schema` relations computed from the catalog
//! at plan time, so that psql's `\dt`-family queries and tools that list tables work.

use crate::{ItemKind, SessionCatalog};
use riffle_repr::{ColumnType, Datum, RelationDesc, Row, ScalarType};

const NS_PG_CATALOG: i64 = 11;
const NS_PUBLIC: i64 = 2200;
const NS_INFORMATION_SCHEMA: i64 = 13_000;
/// Object ids of user items start here, as in PostgreSQL.
const FIRST_USER_OID: i64 = 16_384;

/// The OID PostgreSQL-facing catalogs use for a catalog item.
pub fn item_oid(id: riffle_repr::GlobalId) -> i64 {
    FIRST_USER_OID + id.0 as i64
}

fn desc(cols: &[(&str, ScalarType)]) -> RelationDesc {
    cols.iter().fold(RelationDesc::empty(), |d, (n, t)| {
        d.with_column(*n, ColumnType::nullable(t.clone()))
    })
}

fn text(s: &str) -> Datum {
    Datum::String(s.to_string())
}

/// The contents of a system relation, if `schema.name` names one.
pub fn system_table(catalog: &dyn SessionCatalog, schema: Option<&str>, name: &str) -> Option<(RelationDesc, Vec<Row>)> {
    use ScalarType::{Bool, Int32, Int64, String as Text};
    if matches!(schema, None | Some("public") | Some("pg_catalog")) {
        if let Some(found) = catalog.system_rows(name) {
            return Some(found);
        }
    }
    let items: Vec<&crate::CatalogItem> = catalog.items().into_iter().filter(|i| !i.is_system()).collect();
    match (schema, name) {
        (Some("pg_catalog") | None, "pg_namespace") => Some((
            desc(&[("oid", Int64), ("nspname", Text), ("nspowner", Int64)]),
            [
                (NS_PG_CATALOG, "pg_catalog"),
                (NS_PUBLIC, "public"),
                (NS_INFORMATION_SCHEMA, "information_schema"),
            ]
            .iter()
            .map(|(oid, n)| Row::new(vec![Datum::Int64(*oid), text(n), Datum::Int64(10)]))
            .collect(),
        )),
        (Some("pg_catalog") | None, "pg_am") => Some((
            desc(&[("oid", Int64), ("amname", Text)]),
            vec![
                Row::new(vec![Datum::Int64(2), text("heap")]),
                Row::new(vec![Datum::Int64(403), text("btree")]),
            ],
        )),
        (Some("pg_catalog") | None, "pg_class") => Some((
            desc(&[
                ("oid", Int64),
                ("relname", Text),
                ("relnamespace", Int64),
                ("relkind", Text),
                ("relowner", Int64),
                ("relam", Int64),
                ("relpersistence", Text),
                ("relhasindex", Bool),
                ("relispartition", Bool),
                ("relnatts", Int32),
            ]),
            items
                .iter()
                .filter_map(|item| {
                    let (kind, am) = match item.kind {
                        // Sources list as tables: psql's \dt shows them.
                        ItemKind::Table(_) | ItemKind::Source(_) => ("r", 2),
                        ItemKind::View { .. } => ("v", 0),
                        ItemKind::MaterializedView { .. } => ("m", 2),
                        ItemKind::Index { .. } => ("i", 403),
                        ItemKind::Connection(_) | ItemKind::Sink(_) | ItemKind::Model(_) => return None,
                    };
                    let has_index = items.iter().any(|i| matches!(i.kind, ItemKind::Index { on, .. } if on == item.id));
                    Some(Row::new(vec![
                        Datum::Int64(item_oid(item.id)),
                        text(&item.name),
                        Datum::Int64(NS_PUBLIC),
                        text(kind),
                        Datum::Int64(10),
                        Datum::Int64(am),
                        text("p"),
                        Datum::Bool(has_index),
                        Datum::Bool(false),
                        Datum::Int32(item.desc.arity() as i32),
                    ]))
                })
                .collect(),
        )),
        (Some("pg_catalog") | None, "pg_index") => Some((
            desc(&[
                ("indexrelid", Int64),
                ("indrelid", Int64),
                ("indisunique", Bool),
                ("indisprimary", Bool),
                ("indkey", Text),
            ]),
            items
                .iter()
                .filter_map(|item| match &item.kind {
                    ItemKind::Index { on, keys } => Some(Row::new(vec![
                        Datum::Int64(item_oid(item.id)),
                        Datum::Int64(item_oid(*on)),
                        Datum::Bool(false),
                        Datum::Bool(false),
                        text(&keys.iter().map(|k| (k + 1).to_string()).collect::<Vec<_>>().join(" ")),
                    ])),
                    _ => None,
                })
                .collect(),
        )),
        (Some("pg_catalog") | None, "pg_database") => Some((
            desc(&[("oid", Int64), ("datname", Text)]),
            vec![Row::new(vec![Datum::Int64(16_384), text("riffle")])],
        )),
        (Some("information_schema"), "tables") => Some((
            desc(&[
                ("table_catalog", Text),
                ("table_schema", Text),
                ("table_name", Text),
                ("table_type", Text),
            ]),
            items
                .iter()
                .filter_map(|item| {
                    let t = match item.kind {
                        ItemKind::Table(_) | ItemKind::Source(_) => "BASE TABLE",
                        ItemKind::View { .. } | ItemKind::MaterializedView { .. } => "VIEW",
                        ItemKind::Index { .. } | ItemKind::Connection(_) | ItemKind::Sink(_) | ItemKind::Model(_) => return None,
                    };
                    Some(Row::new(vec![text("riffle"), text("public"), text(&item.name), text(t)]))
                })
                .collect(),
        )),
        (Some("information_schema"), "columns") => Some((
            desc(&[
                ("table_catalog", Text),
                ("table_schema", Text),
                ("table_name", Text),
                ("column_name", Text),
                ("ordinal_position", Int32),
                ("is_nullable", Text),
                ("data_type", Text),
            ]),
            items
                .iter()
                .filter(|item| !matches!(item.kind, ItemKind::Index { .. }))
                .flat_map(|item| {
                    item.desc.iter().enumerate().map(move |(i, (name, typ))| {
                        Row::new(vec![
                            text("riffle"),
                            text("public"),
                            text(&item.name),
                            text(name),
                            Datum::Int32(i as i32 + 1),
                            text(if typ.nullable { "YES" } else { "NO" }),
                            text(typ.scalar_type.name()),
                        ])
                    })
                })
                .collect(),
        )),
        _ => None,
    }
}
