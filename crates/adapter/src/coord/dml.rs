//! Writes to tables: INSERT, UPDATE and DELETE, and the rows of COPY FROM.
//!
//! A write is checked (system tables refused, NOT NULL applied), given a proposed timestamp
//! and queued for the log writer under the coordinator; the coordinator is released before the
//! write's synced acknowledgement is awaited, so that concurrent writers share one `fsync`.

use super::{command, Adapter, Coordinator, Guard};
use crate::{AdapterError, ExecuteResponse, Session};
use riffle_expr::{EvalError, JoinKind, RelExpr, ScalarExpr};
use riffle_repr::{Datum, Diff, GlobalId, Row};
use riffle_sql::{CatalogItem, ItemKind, ReadThenWritePlan, SessionCatalog};
use std::collections::BTreeMap;
use tracing::info;

impl Adapter {
    /// INSERT: the rows `source` computes at the read timestamp, written at a new one (in a
    /// transaction block: at its snapshot, buffered until COMMIT).
    pub(super) async fn sequence_insert(
        &self,
        mut coord: Guard<'_>,
        session: &mut Session,
        table: GlobalId,
        source: RelExpr,
    ) -> Result<ExecuteResponse, AdapterError> {
        coord.check_writable(table)?;
        let (source, ts) = self.read_in_session(&mut coord, session, source).await;
        let rows = self.read_updates(source, ts).await?;
        let n: i64 = rows.iter().map(|(_, d)| *d).sum();
        let updates = coord.check_rows(table, rows)?;
        self.check_unique(&mut coord, session, table, &updates).await?;
        self.apply_write(coord, session, updates).await?;
        Ok(command(&format!("INSERT 0 {n}")))
    }

    /// Writes checked updates: buffered in an open transaction block, else queued for the log
    /// writer and awaited without the coordinator.
    async fn apply_write(
        &self,
        mut coord: Guard<'_>,
        session: &mut Session,
        updates: Vec<(GlobalId, Row, Diff)>,
    ) -> Result<(), AdapterError> {
        if let Some(txn) = session.txn.as_mut() {
            txn.writes.extend(updates);
            return Ok(());
        }
        if !updates.is_empty() {
            let pending = coord.write(updates);
            drop(coord);
            pending.wait().await?;
        }
        Ok(())
    }

    /// UPDATE and DELETE: the matching rows are read and retracted (with their replacements,
    /// for UPDATE) at a new timestamp. The coordinator stays taken from the read to the write,
    /// so no other write comes between them, and the read waits for every write proposed
    /// before it (`Committer::barrier`): a row retracted twice would be corrupt. In a
    /// transaction block the read is at its snapshot and the writes wait for COMMIT, which
    /// refuses them if the table changed since (40001).
    pub(super) async fn sequence_read_then_write(
        &self,
        mut coord: Guard<'_>,
        session: &mut Session,
        plan: ReadThenWritePlan,
    ) -> Result<ExecuteResponse, AdapterError> {
        let ReadThenWritePlan {
            table,
            selection,
            assignments,
            tag,
        } = plan;
        coord.check_writable(table)?;
        if session.txn.is_none() {
            coord.settle().await;
        }
        // In a block this also puts the table in the block's read set: what an UPDATE or
        // DELETE retracts must not change before COMMIT.
        let (selection, ts) = self.read_in_session(&mut coord, session, selection).await;
        let old = self.read_updates(selection, ts).await?;
        let n: i64 = old.iter().map(|(_, d)| *d).sum();
        let mut updates: Vec<(Row, Diff)> = old.iter().map(|(r, d)| (r.clone(), -d)).collect();
        if let Some(assign) = &assignments {
            let mut new = Vec::with_capacity(old.len());
            for (row, d) in &old {
                let datums = assign.iter().map(|e| e.eval_on(row)).collect::<Result<Vec<_>, _>>()?;
                new.push((Row::new(datums), *d));
            }
            updates.extend(coord.check_rows(table, new)?.into_iter().map(|(_, r, d)| (r, d)));
        }
        let updates: Vec<_> = updates.into_iter().map(|(r, d)| (table, r, d)).collect();
        self.check_unique(&mut coord, session, table, &updates).await?;
        self.apply_write(coord, session, updates).await?;
        Ok(command(&format!("{tag} {n}")))
    }

    /// Writes a COPY's rows (read from the client's data by a [`crate::copy::CopyReader`] as it
    /// arrived, or from a file) into `table`, all at one timestamp; returns the row count once
    /// they are durable (in a transaction block: buffered until COMMIT).
    pub async fn copy_in(&self, session: &mut Session, table: GlobalId, rows: Vec<Row>) -> Result<u64, AdapterError> {
        let mut coord = self.lock().await;
        let n = rows.len();
        let checked = coord
            .check_writable(table)
            .and_then(|()| coord.check_rows(table, rows.into_iter().map(|r| (r, 1)).collect()));
        let result = match checked {
            Ok(updates) => match self.check_unique(&mut coord, session, table, &updates).await {
                Ok(()) => {
                    info!(%table, rows = n, "COPY FROM");
                    self.apply_write(coord, session, updates).await
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        if result.is_err() {
            session.fail_transaction();
        }
        result.map(|()| n as u64)
    }
}

impl Adapter {
    /// Refuses updates to `table` that would leave two rows with equal values in the columns
    /// of a PRIMARY KEY or UNIQUE constraint (23505; a NULL in them never conflicts). The rows
    /// already there are counted at the read timestamp after every earlier write has its final
    /// timestamp (`Committer::barrier`), with the coordinator held until the write is queued,
    /// or at a transaction block's snapshot with its own writes (COMMIT then refuses with
    /// 40001 if the table changed since).
    async fn check_unique(
        &self,
        coord: &mut Guard<'_>,
        session: &mut Session,
        table: GlobalId,
        updates: &[(GlobalId, Row, Diff)],
    ) -> Result<(), AdapterError> {
        let (keys, arity) = match coord.catalog.get_by_id(table) {
            Some(CatalogItem {
                kind: ItemKind::Table(t),
                desc,
                ..
            }) if !t.keys.is_empty() => (t.keys.clone(), desc.arity()),
            _ => return Ok(()),
        };
        let mut waited = session.txn.is_some();
        for key in &keys {
            // The net change of each key value this statement makes.
            let mut delta: BTreeMap<Row, Diff> = BTreeMap::new();
            for (_, row, d) in updates {
                let values: Vec<Datum> = key.columns.iter().map(|c| row.get(*c).to_datum()).collect();
                if !values.iter().any(Datum::is_null) {
                    *delta.entry(Row::new(values)).or_default() += d;
                }
            }
            let grown: Vec<(Row, Diff)> = delta.iter().filter(|(_, d)| **d > 0).map(|(r, _)| (r.clone(), 1)).collect();
            if grown.is_empty() {
                continue;
            }
            if delta.values().any(|d| *d > 1) {
                return Err(AdapterError::UniqueViolation(key.name.clone()));
            }
            if !waited {
                coord.settle().await;
                waited = true;
            }
            // The existing rows with those key values: the table joined with them.
            let k = key.columns.len();
            let matching = RelExpr::Project {
                input: Box::new(RelExpr::Join {
                    left: Box::new(RelExpr::Get { id: table, arity }),
                    right: Box::new(RelExpr::Constant { rows: grown, arity: k }),
                    keys: key
                        .columns
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (ScalarExpr::Column(*c), ScalarExpr::Column(i)))
                        .collect(),
                    residual: None,
                    kind: JoinKind::Inner,
                    right_arity: k,
                }),
                outputs: (arity..arity + k).collect(),
            };
            let (matching, ts) = self.read_in_session(coord, session, matching).await;
            for (value, n) in self.read_updates(matching, ts).await? {
                if n + delta.get(&value).copied().unwrap_or(0) > 1 {
                    return Err(AdapterError::UniqueViolation(key.name.clone()));
                }
            }
        }
        Ok(())
    }
}

impl Coordinator {
    /// Applies NOT NULL and CHECK constraints to rows about to enter a table.
    fn check_rows(&self, table: GlobalId, rows: Vec<(Row, Diff)>) -> Result<Vec<(GlobalId, Row, Diff)>, AdapterError> {
        let item = self
            .catalog
            .get_by_id(table)
            .ok_or_else(|| AdapterError::Internal(format!("table {table} vanished")))?;
        let types = &item.desc.types;
        for (row, _) in &rows {
            let mut arity = 0;
            for (i, d) in row.iter().enumerate() {
                arity += 1;
                if types.get(i).is_some_and(|t| d.is_null() && !t.nullable) {
                    return Err(EvalError::NotNullViolation {
                        column: item.desc.names[i].clone(),
                        relation: item.name.clone(),
                    }
                    .into());
                }
            }
            if arity != types.len() {
                return Err(AdapterError::Internal(format!("a row of {arity} columns for table {}", item.name)));
            }
        }
        if let ItemKind::Table(table) = &item.kind {
            for check in &table.checks {
                for (row, _) in rows.iter().filter(|(_, d)| *d > 0) {
                    if check.expr.eval_on(row)? == Datum::Bool(false) {
                        return Err(EvalError::CheckViolation {
                            relation: item.name.clone(),
                            constraint: check.name.clone(),
                        }
                        .into());
                    }
                }
            }
        }
        Ok(rows.into_iter().map(|(r, d)| (table, r, d)).collect())
    }

    /// Refuses writes to the system's own tables.
    pub(super) fn check_writable(&self, table: GlobalId) -> Result<(), AdapterError> {
        if table.is_system() {
            let name = self.catalog.get_by_id(table).map_or_else(|| table.to_string(), |i| i.name.clone());
            return Err(AdapterError::SystemObject(name));
        }
        Ok(())
    }
}
