//! Writes to tables: INSERT, UPDATE and DELETE, and the rows of COPY FROM.
//!
//! A write is checked (system tables refused, NOT NULL applied), given a proposed timestamp
//! and queued for the log writer under the coordinator; the coordinator is released before the
//! write's synced acknowledgement is awaited, so that concurrent writers share one `fsync`.

use super::{command, Adapter, Coordinator, Guard};
use crate::{AdapterError, ExecuteResponse, Session};
use riffle_expr::{EvalError, RelExpr};
use riffle_repr::{Diff, GlobalId, Row};
use riffle_sql::{ReadThenWritePlan, SessionCatalog};
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
            coord.committer.barrier().await;
            coord.timestamps.catch_up();
        }
        let (selection, ts) = self.read_in_session(&mut coord, session, selection).await;
        if let Some(txn) = session.txn.as_mut() {
            // What an UPDATE or DELETE retracts must not change before COMMIT.
            txn.touched.insert(table);
        }
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
        self.apply_write(coord, session, updates).await?;
        Ok(command(&format!("{tag} {n}")))
    }

    /// Writes a COPY's rows (read from the client's data by a [`crate::copy::CopyReader`] as it
    /// arrived, or from a file) into `table`, all at one timestamp; returns the row count once
    /// they are durable (in a transaction block: buffered until COMMIT).
    pub async fn copy_in(&self, session: &mut Session, table: GlobalId, rows: Vec<Row>) -> Result<u64, AdapterError> {
        let coord = self.lock().await;
        let n = rows.len();
        let checked = coord
            .check_writable(table)
            .and_then(|()| coord.check_rows(table, rows.into_iter().map(|r| (r, 1)).collect()));
        let result = match checked {
            Ok(updates) => {
                info!(%table, rows = n, "COPY FROM");
                self.apply_write(coord, session, updates).await
            }
            Err(e) => Err(e),
        };
        if result.is_err() {
            session.fail_transaction();
        }
        result.map(|()| n as u64)
    }
}

impl Coordinator {
    /// Applies NOT NULL constraints to rows about to enter a table.
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
