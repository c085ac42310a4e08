//! COPY over the wire: `COPY … TO STDOUT` as COPY-out messages (one CopyData per row, the
//! binary format encoded with the wire codec) and `COPY … FROM STDIN` as COPY-in (the data
//! read into rows as it arrives, then written by the adapter in one go).

use crate::codec::encode_field;
use crate::handler::{user_error, Handler};
use async_trait::async_trait;
use bytes::{BufMut, Bytes, BytesMut};
use futures::SinkExt;
use pgwire::api::copy::CopyHandler;
use pgwire::api::ClientInfo;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail, CopyOutResponse};
use pgwire::messages::response::CommandComplete;
use pgwire::messages::PgWireBackendMessage as M;
use riffle_adapter::copy::CopyReader;
use riffle_adapter::AdapterError;
use riffle_copy::{Format, Options};
use riffle_repr::zone::Zone;
use riffle_repr::{GlobalId, RelationDesc, Row};
use riffle_sql::Statement;
use std::fmt::Debug;

/// A `COPY … FROM STDIN` reading its data as it arrives.
pub(crate) struct PendingCopy {
    pub table: GlobalId,
    pub data: CopyReader,
}

/// The connection's COPY-in in progress, if any.
#[derive(Default)]
pub(crate) struct CopyState(pub std::sync::Mutex<Option<PendingCopy>>);

pub(crate) fn copy_state<C: ClientInfo>(client: &C) -> std::sync::Arc<CopyState> {
    client.session_extensions().get_or_insert_with(CopyState::default)
}

/// Whether a statement is `COPY … TO STDOUT` (streamed by [`send_copy_out`]).
pub(crate) fn is_copy_out(stmt: &Statement) -> bool {
    matches!(
        stmt,
        Statement::Sql(sqlparser::ast::Statement::Copy {
            to: true,
            target: sqlparser::ast::CopyTarget::Stdout,
            ..
        })
    )
}

/// The COPY-out payload: the adapter's chunks, or the binary format's header, rows and trailer.
pub(crate) fn copy_out_chunks(
    desc: &RelationDesc,
    rows: &[Row],
    options: &Options,
    zone: &Zone,
) -> Result<Vec<Bytes>, riffle_adapter::AdapterError> {
    if options.format == Format::Binary {
        let types: Vec<_> = desc.types.iter().map(|t| t.scalar_type.clone()).collect();
        let mut chunks = Vec::with_capacity(rows.len() + 1);
        let mut first = BytesMut::new();
        first.put_slice(b"PGCOPY\n\xff\r\n\0");
        first.put_i32(0);
        first.put_i32(0);
        for (i, row) in rows.iter().enumerate() {
            let mut buf = if i == 0 { std::mem::take(&mut first) } else { BytesMut::new() };
            let datums = row.unpack();
            buf.put_i16(datums.len() as i16);
            for (d, t) in datums.iter().zip(&types) {
                encode_field(&mut buf, d, t, true, zone);
            }
            chunks.push(buf.freeze());
        }
        let mut trailer = first;
        trailer.put_i16(-1);
        chunks.push(trailer.freeze());
        return Ok(chunks);
    }
    let chunks = riffle_adapter::copy::encode(desc, rows, options, zone)?;
    Ok(chunks.into_iter().map(Bytes::from).collect())
}

/// Sends a COPY-out: the response header, the data, CopyDone and `COPY n`.
pub(crate) async fn send_copy_out<C>(client: &mut C, desc: &RelationDesc, rows: &[Row], options: &Options, zone: &Zone) -> PgWireResult<()>
where
    C: futures::Sink<M> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as futures::Sink<M>>::Error>,
{
    let chunks = copy_out_chunks(desc, rows, options, zone).map_err(|e| user_error(&e))?;
    let binary = options.format == Format::Binary;
    let columns = desc.arity();
    let format = if binary { 1 } else { 0 };
    client
        .send(M::CopyOutResponse(CopyOutResponse::new(
            format,
            columns as i16,
            vec![format as i16; columns],
        )))
        .await?;
    for chunk in chunks {
        client.feed(M::CopyData(CopyData::new(chunk))).await?;
    }
    client.feed(M::CopyDone(CopyDone::new())).await?;
    client
        .feed(M::CommandComplete(CommandComplete::new(format!("COPY {}", rows.len()))))
        .await?;
    Ok(())
}

#[async_trait]
impl CopyHandler for Handler {
    async fn on_copy_data<C>(&self, client: &mut C, copy_data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + futures::Sink<M> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as futures::Sink<M>>::Error>,
    {
        if let Some(p) = copy_state(client).0.lock().expect("copy state").as_mut() {
            p.data.push(&copy_data.data);
        }
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + futures::Sink<M> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as futures::Sink<M>>::Error>,
    {
        let pending = copy_state(client).0.lock().expect("copy state").take();
        let Some(p) = pending else {
            return Err(user_error(&AdapterError::ProtocolViolation(
                "COPY data without a COPY FROM STDIN".into(),
            )));
        };
        let session = crate::handler::session_of(client, &self.adapter);
        let mut session = session.lock().await;
        let rows = match p.data.finish() {
            Ok(rows) => rows,
            Err(e) => {
                session.fail_transaction();
                return Err(user_error(&e));
            }
        };
        let n = self
            .adapter
            .copy_in(&mut session, p.table, rows)
            .await
            .map_err(|e| user_error(&e))?;
        client.send(M::CommandComplete(CommandComplete::new(format!("COPY {n}")))).await?;
        Ok(())
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + futures::Sink<M> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as futures::Sink<M>>::Error>,
    {
        copy_state(client).0.lock().expect("copy state").take();
        user_error(&AdapterError::CopyFailed(fail.message))
    }
}
