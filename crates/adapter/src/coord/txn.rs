//! Transaction blocks: BEGIN, COMMIT and ROLLBACK, and how reads and writes behave inside one.
//!
//! A block's reads happen at one snapshot, chosen by its first read or write and held against
//! compaction (`ComputeController::hold_reads`), and see the block's own buffered writes to
//! tables (a read of a table becomes the table plus those writes). Its writes are checked
//! when the statement runs and buffered in the session; COMMIT applies all of them at one
//! timestamp in one synced log write, so no reader and no view ever sees part of a block, and
//! ROLLBACK (or the client going away) discards them. COMMIT fails with 40001 when a table or
//! source the block read was written by someone else after its snapshot (first committer
//! wins), which keeps read-write blocks serializable; read-only blocks never fail. An error
//! inside a block fails it: every statement but COMMIT/ROLLBACK then gets 25P02, and COMMIT
//! answers ROLLBACK. DDL inside a block takes effect at once and is not undone by ROLLBACK.

use super::{command, Adapter, Coordinator, Guard};
use crate::session::Transaction;
use crate::{AdapterError, ExecuteResponse, Session};
use riffle_compute::ReadError;
use riffle_expr::RelExpr;
use riffle_repr::{Diff, GlobalId, Row, Timestamp};
use riffle_sql::{ItemKind, SessionCatalog};
use std::collections::{BTreeMap, BTreeSet};
use tracing::debug;

impl Adapter {
    /// BEGIN / START TRANSACTION (inside a block PostgreSQL warns and goes on).
    pub(super) fn sequence_begin(&self, session: &mut Session, read_only: bool) -> ExecuteResponse {
        if session.txn.is_none() {
            session.txn = Some(Transaction {
                read_only,
                ..Transaction::default()
            });
        }
        command("BEGIN")
    }

    /// SET TRANSACTION: the open block's access mode (outside a block PostgreSQL warns and
    /// nothing changes).
    pub(super) fn sequence_set_transaction(&self, session: &mut Session, read_only: Option<bool>) -> ExecuteResponse {
        if let (Some(txn), Some(read_only)) = (session.txn.as_mut(), read_only) {
            txn.read_only = read_only;
        }
        command("SET")
    }

    /// ROLLBACK: the block's writes are discarded (outside a block PostgreSQL warns).
    pub(super) fn sequence_rollback(&self, session: &mut Session) -> ExecuteResponse {
        session.txn = None;
        command("ROLLBACK")
    }

    /// COMMIT: the block's writes at one timestamp, in one synced log write; a failed block
    /// answers ROLLBACK.
    pub(super) async fn sequence_commit(&self, mut coord: Guard<'_>, session: &mut Session) -> Result<ExecuteResponse, AdapterError> {
        let Some(txn) = session.txn.take() else {
            return Ok(command("COMMIT"));
        };
        if txn.failed {
            return Ok(command("ROLLBACK"));
        }
        if txn.writes.is_empty() {
            return Ok(command("COMMIT"));
        }
        if let Some(id) = txn
            .touched
            .iter()
            .find(|id| coord.last_write_seq.get(id).is_some_and(|s| *s > txn.snapshot_seq))
        {
            debug!(relation = %id, "transaction read a relation written after its snapshot");
            return Err(AdapterError::SerializationFailure);
        }
        let mut net: BTreeMap<(GlobalId, Row), Diff> = BTreeMap::new();
        for (id, row, diff) in txn.writes {
            *net.entry((id, row)).or_default() += diff;
        }
        let mut updates = Vec::with_capacity(net.len());
        for ((id, row), diff) in net {
            if coord.catalog.get_by_id(id).is_none() {
                return Err(ReadError::Dropped(id).into());
            }
            if diff != 0 {
                updates.push((id, row, diff));
            }
        }
        if !updates.is_empty() {
            let pending = coord.write(updates);
            drop(coord);
            pending.wait().await?;
        }
        Ok(command("COMMIT"))
    }

    /// Where a read happens: outside a block, at the read timestamp; inside one, at the
    /// block's snapshot, over the block's own writes, noting what it read for COMMIT.
    pub(super) async fn read_in_session(&self, coord: &mut Guard<'_>, session: &mut Session, mut plan: RelExpr) -> (RelExpr, Timestamp) {
        let Some(txn) = session.txn.as_mut() else {
            return (plan, coord.timestamps.read_ts());
        };
        let ts = self.snapshot(coord, txn).await;
        let read = coord.base_relations(&plan);
        txn.touched.extend(read);
        coord.with_own_writes(&mut plan, &txn.writes);
        (plan, ts)
    }

    /// The block's snapshot, chosen now if it has none: every write proposed before is at or
    /// before it (`Committer::barrier`), and it is held readable until the block ends.
    async fn snapshot(&self, coord: &mut Guard<'_>, txn: &mut Transaction) -> Timestamp {
        if let Some(hold) = &txn.snapshot {
            return hold.ts();
        }
        coord.settle().await;
        let ts = coord.timestamps.read_ts();
        txn.snapshot = Some(self.compute.hold_reads(ts));
        txn.snapshot_seq = coord.write_seq;
        ts
    }
}

impl Coordinator {
    /// Makes a plan read the block's own writes: a table it wrote becomes the table plus
    /// those writes, and a materialized view over such a table is computed from its
    /// definition instead of read from its arrangement (which has not seen them).
    fn with_own_writes(&self, plan: &mut RelExpr, writes: &[(GlobalId, Row, Diff)]) {
        let written: BTreeSet<GlobalId> = writes.iter().map(|(id, _, _)| *id).collect();
        if written.is_empty() {
            return;
        }
        plan.rewrite_gets(&mut |id, arity| {
            if written.contains(&id) {
                let rows: Vec<(Row, Diff)> = writes
                    .iter()
                    .filter(|(w, _, _)| *w == id)
                    .map(|(_, r, d)| (r.clone(), *d))
                    .collect();
                return Some(RelExpr::Union {
                    inputs: vec![RelExpr::Get { id, arity }, RelExpr::Constant { rows, arity }],
                });
            }
            match self.catalog.get_by_id(id).map(|i| &i.kind) {
                Some(ItemKind::MaterializedView { plan: definition, .. })
                    if self.base_relations(definition).iter().any(|b| written.contains(b)) =>
                {
                    let mut definition = definition.clone();
                    self.with_own_writes(&mut definition, writes);
                    Some(definition)
                }
                _ => None,
            }
        });
    }

    /// The tables and sources a plan reads, through the materialized views and indexes it
    /// reads (what another write can change under it).
    fn base_relations(&self, plan: &RelExpr) -> BTreeSet<GlobalId> {
        let mut out = BTreeSet::new();
        let mut stack = plan.depends_on();
        while let Some(id) = stack.pop() {
            match self.catalog.get_by_id(id).map(|i| (&i.kind, &i.depends_on)) {
                Some((ItemKind::Table(_) | ItemKind::Source(_), _)) => {
                    out.insert(id);
                }
                Some((_, deps)) => stack.extend(deps.iter().copied()),
                None => {}
            }
        }
        out
    }
}
