//! pgwire handlers: simple and extended query protocol on top of the adapter.

use crate::codec::{decode_param, encode_field, pg_type, scalar_type};
use async_trait::async_trait;
use bytes::BytesMut;
use futures::stream;
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::auth::StartupHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{DescribePortalResponse, DescribeStatementResponse, FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use riffle_adapter::{Adapter, AdapterError, ExecuteResponse, Session};
use riffle_repr::zone::Zone;
use riffle_repr::{Datum, RelationDesc, ScalarType};
use riffle_sql::{Params, Statement};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tracing::{debug, info, warn};

/// A statement stored by the extended protocol: the SQL and its parse.
#[derive(Clone, Debug)]
pub struct Prepared {
    stmt: Statement,
}

/// Parses statements for the extended protocol.
pub struct Parser;

#[async_trait]
impl QueryParser for Parser {
    type Statement = Prepared;

    async fn parse_sql<C>(&self, _client: &C, sql: &str, _types: &[Option<Type>]) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let mut stmts = riffle_sql::parse(sql).map_err(|e| user_error(&AdapterError::Plan(e)))?;
        match stmts.len() {
            0 => Ok(None),
            1 => Ok(Some(Prepared { stmt: stmts.remove(0) })),
            _ => Err(user_error(&AdapterError::Plan(riffle_sql::PlanError::Syntax(
                "cannot insert multiple commands into a prepared statement".into(),
            )))),
        }
    }

    fn get_parameter_types(&self, _stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(vec![])
    }

    fn get_result_schema(&self, _stmt: &Prepared, _format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        Ok(vec![])
    }
}

/// The handler shared by all connections.
pub struct Handler {
    pub(crate) adapter: Arc<Adapter>,
    parser: Arc<Parser>,
    /// Tracks connections so that a CancelRequest (psql's Ctrl-C) can stop a running query or
    /// SUBSCRIBE.
    pub(crate) connections: Arc<pgwire::api::ConnectionManager>,
}

pub(crate) fn user_error(e: &AdapterError) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(e)))
}

fn fields(desc: &RelationDesc, format: &Format) -> Vec<FieldInfo> {
    desc.iter()
        .enumerate()
        .map(|(i, (name, typ))| FieldInfo::new(name.clone(), None, None, pg_type(&typ.scalar_type), format.format_for(i)))
        .collect()
}

/// The connection's session, made on first use for the user the client connected as.
pub(crate) fn session_of<C: ClientInfo>(client: &C, adapter: &Adapter) -> Arc<Mutex<Session>> {
    client.session_extensions().get_or_insert_with(|| {
        let user = client.metadata().get(pgwire::api::METADATA_USER).cloned();
        Mutex::new(adapter.session_for(user.as_deref()))
    })
}

fn to_response(resp: ExecuteResponse, format: &Format, zone: &Zone) -> Response {
    match resp {
        ExecuteResponse::Rows { desc, rows, tag } => {
            let schema = Arc::new(fields(&desc, format));
            let binary: Vec<bool> = schema.iter().map(|f| f.format() == FieldFormat::Binary).collect();
            let types: Vec<ScalarType> = desc.types.iter().map(|t| t.scalar_type.clone()).collect();
            let data: Vec<PgWireResult<DataRow>> = rows
                .into_iter()
                .map(|row| {
                    let mut buf = BytesMut::new();
                    let datums = row.unpack();
                    for (i, d) in datums.iter().enumerate() {
                        encode_field(&mut buf, d, &types[i], binary[i], &zone);
                    }
                    Ok(DataRow::new(buf, datums.len() as i16))
                })
                .collect();
            let mut qr = QueryResponse::new(schema, stream::iter(data));
            qr.set_command_tag(tag);
            Response::Query(qr)
        }
        // Transaction commands move the status drivers read from ReadyForQuery.
        ExecuteResponse::Command { tag } if tag == "BEGIN" => Response::TransactionStart(Tag::new(&tag)),
        ExecuteResponse::Command { tag } if tag == "COMMIT" || tag == "ROLLBACK" => Response::TransactionEnd(Tag::new(&tag)),
        ExecuteResponse::Command { tag } => Response::Execution(Tag::new(&tag)),
        // COPY TO STDOUT inside a multi-statement string: pgwire sends it (its tag counts
        // messages, which is the row count but for the columnar formats).
        ExecuteResponse::CopyOut { desc, rows, options } => match crate::copy::copy_out_chunks(&desc, &rows, &options, zone) {
            Ok(chunks) => {
                let format = if options.format == riffle_copy::Format::Binary { 1 } else { 0 };
                let data = chunks.into_iter().map(|c| Ok(pgwire::messages::copy::CopyData::new(c)));
                Response::CopyOut(pgwire::api::results::CopyResponse::new(
                    format,
                    desc.arity(),
                    stream::iter(data.collect::<Vec<_>>()),
                ))
            }
            Err(e) => Response::Error(Box::new(error_info(&e))),
        },
        // Answered in `execute_stmt`, which keeps the pending COPY on the connection.
        ExecuteResponse::CopyIn { .. } => Response::Error(Box::new(error_info(&AdapterError::Unsupported(
            "COPY FROM STDIN cannot run here".into(),
        )))),
        // Only reachable through a path that cannot stream; `stream_subscribe` handles the rest.
        ExecuteResponse::Subscribe { .. } => {
            Response::Error(Box::new(error_info(&AdapterError::Unsupported("SUBSCRIBE cannot run here".into()))))
        }
    }
}

impl Handler {
    /// Runs a SUBSCRIBE and streams it as COPY-out text rows (`mz_timestamp`, [`mz_progressed`,]
    /// `mz_diff`, columns…), one CopyData message per row and a flush per batch, until the
    /// client cancels or goes away (which drops the subscription). In the simple protocol it
    /// ends with ReadyForQuery; in the extended one the client's Sync brings that. Errors are
    /// returned for pgwire to report (and, in the extended protocol, to skip to Sync).
    async fn stream_subscribe<C>(&self, client: &mut C, stmt: &Statement, params: &Params, simple: bool) -> PgWireResult<()>
    where
        C: ClientInfo + futures::Sink<pgwire::messages::PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<pgwire::messages::PgWireBackendMessage>>::Error>,
    {
        use futures::SinkExt;
        use pgwire::messages::copy::{CopyData, CopyDone, CopyOutResponse};
        use pgwire::messages::response::{CommandComplete, ReadyForQuery, TransactionStatus};
        use pgwire::messages::PgWireBackendMessage as M;
        let session = session_of(client, &self.adapter);
        let (resp, zone) = {
            let mut session = session.lock().await;
            let resp = self.adapter.execute(&mut session, stmt, params).await.map_err(|e| user_error(&e))?;
            (resp, session.zone())
        };
        let (desc, mut rx, progress) = match resp {
            ExecuteResponse::Subscribe { desc, rx, progress } => (desc, rx, progress),
            ExecuteResponse::CopyOut { desc, rows, options } => {
                crate::copy::send_copy_out(client, &desc, &rows, &options, &zone).await?;
                if simple {
                    client.feed(M::ReadyForQuery(ReadyForQuery::new(TransactionStatus::Idle))).await?;
                }
                client.flush().await?;
                return Ok(());
            }
            _ => return Err(user_error(&AdapterError::Internal("SUBSCRIBE did not start a subscription".into()))),
        };
        let columns = desc.arity() + if progress { 3 } else { 2 };
        client
            .send(M::CopyOutResponse(CopyOutResponse::new(0, columns as i16, vec![0; columns])))
            .await?;
        let mut cancel = match client.session_extensions().get::<Arc<pgwire::api::ConnectionHandle>>() {
            Some(handle) => Some(handle.start_query().await),
            None => None,
        };
        let mut rows = 0usize;
        loop {
            let next = match cancel.as_mut() {
                Some(c) => tokio::select! {
                    batch = rx.recv() => batch,
                    _ = c => return Err(user_error(&AdapterError::Canceled)),
                },
                None => rx.recv().await,
            };
            let Some(batch) = next else { break };
            let batch = batch.map_err(|e| user_error(&AdapterError::Read(e)))?;
            for (t, d, row) in batch.updates {
                let mut text = if progress { format!("{t}\tf\t{d}") } else { format!("{t}\t{d}") };
                for datum in row.unpack() {
                    text.push('\t');
                    match riffle_repr::strconv::format_datum_in(&datum, &zone) {
                        None => text.push_str("\\N"),
                        Some(v) => text.push_str(&v.replace('\\', "\\\\").replace('\t', "\\t").replace('\n', "\\n")),
                    }
                }
                text.push('\n');
                rows += 1;
                client.feed(M::CopyData(CopyData::new(bytes::Bytes::from(text)))).await?;
            }
            if progress {
                // `mz_progressed` rows: every change before this time has been sent.
                let mut text = format!("{}\tt\t\\N", batch.progress);
                text.push_str(&"\t\\N".repeat(desc.arity()));
                text.push('\n');
                client.feed(M::CopyData(CopyData::new(bytes::Bytes::from(text)))).await?;
            }
            client.flush().await?;
        }
        client.feed(M::CopyDone(CopyDone::new())).await?;
        client
            .feed(M::CommandComplete(CommandComplete::new(format!("SUBSCRIBE {rows}"))))
            .await?;
        if simple {
            client.feed(M::ReadyForQuery(ReadyForQuery::new(TransactionStatus::Idle))).await?;
        }
        client.flush().await?;
        Ok(())
    }

    /// Runs a statement; a `COPY … FROM STDIN` is left pending on the connection for its data.
    async fn run<C: ClientInfo>(&self, client: &C, stmt: &Statement, params: &Params, format: &Format) -> Result<Response, AdapterError> {
        let shared = session_of(client, &self.adapter);
        let mut session = shared.lock().await;
        debug!(stmt = %stmt.redacted(), "execute");
        let resp = self.adapter.execute(&mut session, stmt, params).await;
        watch_idle_transaction(&shared, &session);
        let resp = resp?;
        if let ExecuteResponse::CopyIn { table, copy } = resp {
            let columns = copy.columns.len();
            let format = if copy.options.format == riffle_copy::Format::Binary { 1 } else { 0 };
            *crate::copy::copy_state(client).0.lock().expect("copy state") = Some(crate::copy::PendingCopy {
                table,
                data: copy.reader(session.zone()),
            });
            return Ok(Response::CopyIn(pgwire::api::results::CopyResponse::new(
                format,
                columns,
                stream::empty(),
            )));
        }
        Ok(to_response(resp, format, &session.zone()))
    }

    /// A portal's parameter values, decoded with their types.
    async fn bind_params(&self, portal: &Portal<Prepared>) -> Result<Params, AdapterError> {
        let (types, _) = self.param_types(&portal.statement).await?;
        let mut values = Vec::with_capacity(portal.parameters.len());
        for (i, p) in portal.parameters.iter().enumerate() {
            let typ = types.get(i).cloned().unwrap_or(ScalarType::String);
            let binary = portal.parameter_format.format_for(i) == FieldFormat::Binary;
            values.push(match p {
                None => Datum::Null,
                Some(bytes) => decode_param(bytes, &typ, binary).map_err(|m| {
                    AdapterError::Eval(
                        riffle_repr::strconv::ParseError::InvalidSyntax {
                            type_name: typ.name().into(),
                            input: m,
                        }
                        .into(),
                    )
                })?,
            });
        }
        Ok(Params {
            types: types.into_iter().map(Some).collect(),
            values: Some(values),
        })
    }

    /// Parameter types: what the client declared, else what the planner inferred.
    async fn param_types(&self, stmt: &StoredStatement<Prepared>) -> Result<(Vec<ScalarType>, Option<RelationDesc>), AdapterError> {
        let declared: Vec<Option<ScalarType>> = stmt.parameter_types.iter().map(|t| t.as_ref().and_then(scalar_type)).collect();
        let (inferred, desc) = self.adapter.describe(&stmt.statement.stmt, &declared).await?;
        let n = declared.len().max(inferred.len());
        let types = (0..n)
            .map(|i| {
                declared
                    .get(i)
                    .cloned()
                    .flatten()
                    .or_else(|| inferred.get(i).cloned())
                    .unwrap_or(ScalarType::String)
            })
            .collect();
        Ok((types, desc))
    }
}

#[async_trait]
impl NoopStartupHandler for Handler {
    fn connection_manager(&self) -> Option<Arc<pgwire::api::ConnectionManager>> {
        Some(self.connections.clone())
    }
}

#[async_trait]
impl SimpleQueryHandler for Handler {
    async fn on_query<C>(&self, client: &mut C, query: pgwire::messages::simplequery::Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + futures::Sink<pgwire::messages::PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: pgwire::api::store::PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<pgwire::messages::PgWireBackendMessage>>::Error>,
    {
        refuse_if_expired(client, &self.adapter).await?;
        match riffle_sql::parse(&query.query).as_deref() {
            Ok([stmt]) if matches!(stmt, Statement::Subscribe(_)) || crate::copy::is_copy_out(stmt) => {
                self.stream_subscribe(client, stmt, &Params::default(), true).await
            }
            Ok(stmts) if stmts.iter().any(|s| matches!(s, Statement::Subscribe(_))) => Err(user_error(&AdapterError::Unsupported(
                "SUBSCRIBE must be the only statement in a query string".into(),
            ))),
            _ => self._on_query(client, query).await,
        }
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + futures::Sink<pgwire::messages::PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: pgwire::api::store::PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<pgwire::messages::PgWireBackendMessage>>::Error>,
    {
        let stmts = match riffle_sql::parse(query) {
            Ok(s) => s,
            Err(e) => return Ok(vec![Response::Error(Box::new(error_info(&AdapterError::Plan(e))))]),
        };
        let mut out = Vec::new();
        for stmt in &stmts {
            match self.run(client, stmt, &Params::default(), &Format::UnifiedText).await {
                Ok(r) => out.push(r),
                Err(e) => {
                    log_error(&e);
                    out.push(Response::Error(Box::new(error_info(&e))));
                    break;
                }
            }
        }
        Ok(out)
    }
}

fn error_info(e: &AdapterError) -> ErrorInfo {
    ErrorInfo::new("ERROR".into(), e.code().into(), e.to_string())
}

fn log_error(e: &AdapterError) {
    if e.code() == "XX000" {
        warn!(error = %e, "internal error");
    } else {
        debug!(error = %e, code = e.code(), "statement failed");
    }
}

#[async_trait]
impl ExtendedQueryHandler for Handler {
    type Statement = Prepared;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        self.parser.clone()
    }

    /// SUBSCRIBE streams COPY-out rows for as long as it runs, which the default Execute
    /// handling (collect a response, then send it) cannot do.
    async fn on_execute<C>(&self, client: &mut C, message: pgwire::messages::extendedquery::Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + futures::Sink<pgwire::messages::PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: pgwire::api::store::PortalStore<Statement = Prepared>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<pgwire::messages::PgWireBackendMessage>>::Error>,
    {
        refuse_if_expired(client, &self.adapter).await?;
        use pgwire::api::store::{Entry, PortalStore};
        let name = message.name.as_deref().unwrap_or(pgwire::api::DEFAULT_NAME);
        let portal = match client.portal_store().get_portal(name) {
            Some(Entry::Value(p))
                if matches!(p.statement.statement.stmt, Statement::Subscribe(_))
                    || crate::copy::is_copy_out(&p.statement.statement.stmt) =>
            {
                p
            }
            _ => return self._on_execute(client, message).await,
        };
        let params = self.bind_params(&portal).await.map_err(|e| user_error(&e))?;
        client.set_state(pgwire::api::PgWireConnectionState::QueryInProgress);
        let result = self
            .stream_subscribe(client, &portal.statement.statement.stmt, &params, false)
            .await;
        client.set_state(pgwire::api::PgWireConnectionState::ReadyForQuery);
        result
    }

    async fn do_describe_statement<C>(&self, _client: &mut C, stmt: &StoredStatement<Prepared>) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + futures::Sink<pgwire::messages::PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: pgwire::api::store::PortalStore<Statement = Prepared>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<pgwire::messages::PgWireBackendMessage>>::Error>,
    {
        let (types, desc) = self.param_types(stmt).await.map_err(|e| user_error(&e))?;
        let fields = desc.map(|d| fields(&d, &Format::UnifiedText)).unwrap_or_default();
        Ok(DescribeStatementResponse::new(types.iter().map(pg_type).collect(), fields))
    }

    async fn do_describe_portal<C>(&self, _client: &mut C, portal: &Portal<Prepared>) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + futures::Sink<pgwire::messages::PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: pgwire::api::store::PortalStore<Statement = Prepared>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<pgwire::messages::PgWireBackendMessage>>::Error>,
    {
        let (_, desc) = self.param_types(&portal.statement).await.map_err(|e| user_error(&e))?;
        let fields = desc.map(|d| fields(&d, &portal.result_column_format)).unwrap_or_default();
        Ok(DescribePortalResponse::new(fields))
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<Prepared>, _max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + futures::Sink<pgwire::messages::PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: pgwire::api::store::PortalStore<Statement = Prepared>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<pgwire::messages::PgWireBackendMessage>>::Error>,
    {
        let result = async {
            let params = self.bind_params(portal).await?;
            self.run(client, &portal.statement.statement.stmt, &params, &portal.result_column_format)
                .await
        }
        .await;
        result.map_err(|e| {
            log_error(&e);
            user_error(&e)
        })
    }
}

struct Factory {
    handler: Arc<Handler>,
    startup: Arc<crate::auth::Startup>,
}

impl PgWireServerHandlers for Factory {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.handler.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.handler.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }

    fn copy_handler(&self) -> Arc<impl pgwire::api::copy::CopyHandler> {
        self.handler.clone()
    }

    fn error_handler(&self) -> Arc<impl pgwire::api::ErrorHandler> {
        Arc::new(crate::auth::LoginErrors)
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        Arc::new(pgwire::api::cancel::DefaultCancelHandler::new(self.handler.connections.clone()))
    }
}

/// After a statement that leaves a transaction block open, starts the session's
/// `idle_in_transaction_session_timeout` clock: if no statement follows in time, the block is
/// rolled back (its snapshot released at once) and the connection is closed at its next message.
fn watch_idle_transaction(shared: &Arc<Mutex<Session>>, session: &Session) {
    let Some(timeout) = session.idle_in_transaction_timeout().filter(|_| session.in_transaction()) else {
        return;
    };
    let (shared, after) = (shared.clone(), session.statements_run());
    tokio::spawn(async move {
        tokio::time::sleep(timeout).await;
        let mut session = shared.lock().await;
        if session.statements_run() == after {
            info!("closing a session idle in a transaction block past idle_in_transaction_session_timeout");
            session.expire_idle_transaction();
        }
    });
}

/// The error that ends a session whose block outlived `idle_in_transaction_session_timeout`.
async fn refuse_if_expired<C: ClientInfo>(client: &C, adapter: &Adapter) -> PgWireResult<()> {
    if session_of(client, adapter).lock().await.idle_expired() {
        return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
            "FATAL".into(),
            "25P03".into(),
            "terminating connection due to idle-in-transaction timeout".into(),
        ))));
    }
    Ok(())
}

/// How connections are secured: TLS (optional, or required) on top of the adapter's
/// authentication (passwords when its role catalog requires them).
#[derive(Clone, Debug, Default)]
pub struct Security {
    /// TLS certificate and key; None: plain connections only.
    pub tls: Option<crate::TlsConfig>,
    /// Refuse connections that did not negotiate TLS.
    pub tls_required: bool,
}

/// Accepts connections on `listener` until the process exits. Fails at once if the TLS files
/// cannot be read.
pub async fn serve(listener: TcpListener, adapter: Arc<Adapter>, security: Security) -> std::io::Result<()> {
    let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
    let acceptor = security.tls.as_ref().map(|t| t.acceptor()).transpose().map_err(invalid)?;
    if security.tls_required && acceptor.is_none() {
        return Err(invalid("--tls-required needs --tls-cert and --tls-key".into()));
    }
    let handler = Arc::new(Handler {
        adapter,
        parser: Arc::new(Parser),
        connections: Arc::new(pgwire::api::ConnectionManager::new()),
    });
    let cert_pem = security.tls.as_ref().and_then(|t| t.cert_pem());
    let startup = crate::auth::Startup::new(handler.clone(), security.tls_required, cert_pem.as_deref()).map_err(invalid)?;
    let factory = Arc::new(Factory {
        handler,
        startup: Arc::new(startup),
    });
    loop {
        let (socket, addr) = listener.accept().await?;
        let factory = factory.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            debug!(%addr, "connection");
            if let Err(e) = pgwire::tokio::process_socket(socket, acceptor, factory).await {
                debug!(%addr, error = %e, "connection closed with error");
            }
        });
        let _ = info_once();
    }
}

fn info_once() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| info!("first client connected"));
}
