//! Writes to tables: INSERT, UPDATE and DELETE, and the rows of COPY FROM.
//!
//! A write is checked (system tables refused, NOT NULL applied), given a proposed timestamp
//! and queued for the log writer under the coordinator; the coordinator is released before the
//! write's synced acknowledgement is awaited, so that concurrent writers share one `fsync`.

use super::{command, Adapter, Coordinator, Guard};
use crate::commit::Pending;
use crate::{AdapterError, ExecuteResponse};
use riffle_expr::{EvalError, RelExpr};
use riffle_repr::{Diff, GlobalId, Row};
use riffle_sql::{ReadThenWritePlan, SessionCatalog};
use tracing::info;

impl Adapter {
    /// INSERT: the rows `source` computes at the read timestamp, written at a new one.
    pub(super) async fn sequence_insert(
        &self,
        mut coord: Guard<'_>,
        table: GlobalId,
        source: RelExpr,
    ) -> Result<ExecuteResponse, AdapterError> {
        coord.check_writable(table)?;
        let ts = coord.timestamps.read_ts();
        let rows = self.read_updates(source, ts).await?;
        let n: i64 = rows.iter().map(|(_, d)| *d).sum();
        let updates = coord.check_rows(table, rows)?;
        if !updates.is_empty() {
            let pending = coord.write(updates);
            drop(coord);
            pending.wait().await?;
        }
        Ok(command(&format!("INSERT 0 {n}")))
    }

    /// UPDATE and DELETE: the matching rows are read at the read timestamp and retracted (with
    /// their replacements, for UPDATE) at a new one. The coordinator stays taken from the read
    /// to the write, so no other write comes between them.
    pub(super) async fn sequence_read_then_write(
        &self,
        mut coord: Guard<'_>,
        plan: ReadThenWritePlan,
    ) -> Result<ExecuteResponse, AdapterError> {
        let ReadThenWritePlan {
            table,
            selection,
            assignments,
            tag,
        } = plan;
        coord.check_writable(table)?;
        let ts = coord.timestamps.read_ts();
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
        if !updates.is_empty() {
            let pending = coord.write(updates);
            drop(coord);
            pending.wait().await?;
        }
        Ok(command(&format!("{tag} {n}")))
    }

    /// Writes a COPY's rows (read from the client's data by a [`crate::copy::CopyReader`] as it
    /// arrived, or from a file) into `table`, all at one timestamp; returns the row count once
    /// they are durable.
    pub async fn copy_in(&self, table: GlobalId, rows: Vec<Row>) -> Result<u64, AdapterError> {
        let mut coord = self.lock().await;
        coord.check_writable(table)?;
        let (n, pending) = coord.copy_rows_in(table, rows)?;
        drop(coord);
        pending.wait().await?;
        Ok(n as u64)
    }
}

impl Coordinator {
    /// Checks a COPY's rows and queues them as one write; returns the row count and the
    /// write's acknowledgement (all rows at one timestamp, or none).
    fn copy_rows_in(&mut self, table: GlobalId, rows: Vec<Row>) -> Result<(usize, Pending), AdapterError> {
        let n = rows.len();
        let updates = self.check_rows(table, rows.into_iter().map(|r| (r, 1)).collect())?;
        let pending = self.write(updates);
        info!(%table, rows = n, "COPY FROM");
        Ok((n, pending))
    }

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
