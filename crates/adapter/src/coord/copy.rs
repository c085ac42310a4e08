//! COPY TO and COPY FROM, to and from the client or a file on the server.
//!
//! The codecs (text, CSV, binary, JSON lines, Parquet, Arrow …) are in [`crate::copy`]; here is
//! only where the rows come from and go to. COPY FROM STDIN answers `CopyIn` and the protocol
//! layer streams the client's data into [`Adapter::copy_in`].

use super::{command, Adapter, Guard};
use crate::{server_files, AdapterError, ExecuteResponse, Session};
use riffle_sql::{CopyFromPlan, CopyTarget, CopyToPlan, SessionCatalog};
use tracing::info;

impl Adapter {
    /// COPY (query) TO STDOUT or TO a server file, read at the read timestamp (a transaction
    /// block's snapshot).
    pub(super) async fn sequence_copy_to(
        &self,
        mut coord: Guard<'_>,
        session: &mut Session,
        copy: CopyToPlan,
    ) -> Result<ExecuteResponse, AdapterError> {
        let CopyToPlan {
            plan,
            finishing,
            desc,
            target,
            options,
        } = copy;
        let (plan, ts) = self.read_in_session(&mut coord, session, plan).await;
        let data_dir = coord.data_dir.clone();
        drop(coord);
        let rows = finishing.finish(self.read(plan, ts).await?);
        match target {
            CopyTarget::Client => Ok(ExecuteResponse::CopyOut { desc, rows, options }),
            CopyTarget::File(path) => {
                server_files::check_writable(&path, &data_dir)?;
                let chunks = crate::copy::encode(&desc, &rows, &options, &session.zone())?;
                std::fs::write(&path, chunks.concat()).map_err(|e| AdapterError::File(format!("could not write file \"{path}\": {e}")))?;
                info!(path, rows = rows.len(), format = options.format.name(), "COPY TO file");
                Ok(command(&format!("COPY {}", rows.len())))
            }
        }
    }

    /// COPY table FROM STDIN, FROM a server file, or with the data inline after the statement.
    pub(super) async fn sequence_copy_from(
        &self,
        coord: Guard<'_>,
        session: &mut Session,
        copy: CopyFromPlan,
    ) -> Result<ExecuteResponse, AdapterError> {
        let CopyFromPlan {
            table,
            columns,
            defaults,
            source,
            options,
            payload,
        } = copy;
        coord.check_writable(table)?;
        let types = coord
            .catalog
            .get_by_id(table)
            .map(|i| i.desc.types.iter().map(|t| t.scalar_type.clone()).collect())
            .unwrap_or_default();
        let copy = crate::copy::CopyIn {
            columns,
            types,
            defaults,
            options,
        };
        // Read the input without the coordinator's lock (other statements go on meanwhile).
        drop(coord);
        let (data, file) = match (source, payload) {
            (CopyTarget::File(path), _) => {
                server_files::check_readable(&path, false)?;
                let data =
                    std::fs::read(&path).map_err(|e| AdapterError::File(format!("could not open file \"{path}\" for reading: {e}")))?;
                (data, Some(path))
            }
            (CopyTarget::Client, Some(inline)) => (inline.into_bytes(), None),
            (CopyTarget::Client, None) => return Ok(ExecuteResponse::CopyIn { table, copy }),
        };
        let rows = copy.rows(&data, &session.zone()).map_err(|e| match &file {
            // What a server file holds is not the client's to learn from an error message.
            Some(path) => AdapterError::Copy(riffle_copy::CopyError::BadInput(format!(
                "file \"{path}\" does not hold valid {} data for this table ({}; the data is not shown)",
                copy.options.format.name(),
                e.code()
            ))),
            None => e,
        })?;
        let n = self.copy_in(session, table, rows).await?;
        Ok(command(&format!("COPY {n}")))
    }
}
