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
            _ => Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "ERROR".into(),
                "42601".into(),
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
    adapter: Arc<Adapter>,
    parser: Arc<Parser>,
    /// Tracks connections so that a CancelRequest (psql's Ctrl-C) can stop a running query or
    /// SUBSCRIBE.
    connections: Arc<pgwire::api::ConnectionManager>,
}

fn user_error(e: &AdapterError) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".into(), e.code().into(), e.to_string())))
}

fn fields(desc: &RelationDesc, format: &Format) -> Vec<FieldInfo> {
    desc.iter()
        .enumerate()
        .map(|(i, (name, typ))| FieldInfo::new(name.clone(), None, None, pg_type(&typ.scalar_type), format.format_for(i)))
        .collect()
}

fn session_of<C: ClientInfo>(client: &C) -> Arc<Mutex<Session>> {
    client.session_extensions().get_or_insert_with(|| Mutex::new(Session::new()))
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
                    for (i, d) in row.datums().iter().enumerate() {
                        encode_field(&mut buf, d, &types[i], binary[i], &zone);
                    }
                    Ok(DataRow::new(buf, row.arity() as i16))
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
    }
}

/// Recognises `SUBSCRIBE [TO] <relation | (query)> [WITH (SNAPSHOT = true|false)]`, also
/// wrapped as `COPY (SUBSCRIBE …) TO STDOUT` as psql users of Materialize write it. Returns the
/// query to subscribe to and whether to start with a snapshot.
fn parse_subscribe(sql: &str) -> Option<Result<SubscribeRequest, String>> {
    let mut text = sql.trim().trim_end_matches(';').trim().to_string();
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("copy") {
        let rest = text[4..].trim_start();
        if !rest.starts_with('(') || !rest[1..].trim_start().to_ascii_lowercase().starts_with("subscribe") {
            return None;
        }
        let close = rest.rfind(')')?;
        text = rest[1..close].trim().to_string();
    }
    let lower = text.to_ascii_lowercase();
    let rest = lower.strip_prefix("subscribe")?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let mut body = text[9..].trim_start();
    if body.to_ascii_lowercase().starts_with("to ") {
        body = body[3..].trim_start();
    }
    let (target, options) = if body.starts_with('(') {
        let mut depth = 0;
        let mut end = None;
        for (i, c) in body.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(end) = end else {
            return Some(Err("unbalanced parentheses in SUBSCRIBE".into()));
        };
        (body[1..end].to_string(), body[end + 1..].trim())
    } else {
        let name_end = body.find(char::is_whitespace).unwrap_or(body.len());
        (format!("SELECT * FROM {}", &body[..name_end]), body[name_end..].trim())
    };
    let mut snapshot = true;
    let mut progress = false;
    if !options.is_empty() {
        let opts = options.to_ascii_lowercase().replace(' ', "");
        let Some(inner) = opts.strip_prefix("with(").and_then(|o| o.strip_suffix(')')) else {
            return Some(Err(format!("unexpected text after SUBSCRIBE target: {options}")));
        };
        for opt in inner.split(',') {
            match opt {
                "snapshot" | "snapshot=true" => snapshot = true,
                "snapshot=false" => snapshot = false,
                "progress" | "progress=true" => progress = true,
                "progress=false" => progress = false,
                other => return Some(Err(format!("SUBSCRIBE option {other} is not supported"))),
            }
        }
    }
    Some(Ok(SubscribeRequest {
        query: target,
        snapshot,
        progress,
    }))
}

/// A parsed SUBSCRIBE.
struct SubscribeRequest {
    query: String,
    snapshot: bool,
    /// Also emit a row each time the subscription's time advances (`mz_progressed` column).
    progress: bool,
}

impl Handler {
    /// Streams a subscription as COPY-out text rows (`mz_timestamp`, `mz_diff`, columns…),
    /// flushing each batch, until the client goes away (which drops the subscription).
    async fn stream_subscribe<C>(&self, client: &mut C, request: Result<SubscribeRequest, String>) -> PgWireResult<()>
    where
        C: ClientInfo + futures::Sink<pgwire::messages::PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<pgwire::messages::PgWireBackendMessage>>::Error>,
    {
        use futures::SinkExt;
        use pgwire::messages::copy::{CopyData, CopyDone, CopyOutResponse};
        use pgwire::messages::response::{CommandComplete, ReadyForQuery, TransactionStatus};
        use pgwire::messages::PgWireBackendMessage as M;
        let session = session_of(client);
        let mut progress = false;
        let started = match request {
            Err(msg) => Err(ErrorInfo::new("ERROR".into(), "42601".into(), msg)),
            Ok(req) => {
                progress = req.progress;
                let session = session.lock().await;
                match self.adapter.subscribe(&session, &req.query, req.snapshot).await {
                    Ok((desc, rx)) => Ok((desc, rx, session.zone())),
                    Err(e) => Err(error_info(&e)),
                }
            }
        };
        let (desc, mut rx, zone) = match started {
            Ok(s) => s,
            Err(info) => {
                client.feed(M::ErrorResponse(info.into())).await?;
                client.send(M::ReadyForQuery(ReadyForQuery::new(TransactionStatus::Idle))).await?;
                return Ok(());
            }
        };
        let columns = desc.arity() + if progress { 3 } else { 2 };
        client
            .send(M::CopyOutResponse(CopyOutResponse::new(0, columns as i16, vec![0; columns])))
            .await?;
        let mut cancel = match client.session_extensions().get::<Arc<pgwire::api::ConnectionHandle>>() {
            Some(handle) => Some(handle.start_query().await),
            None => None,
        };
        loop {
            let next = match cancel.as_mut() {
                Some(c) => tokio::select! {
                    batch = rx.recv() => batch,
                    _ = c => {
                        let info = ErrorInfo::new("ERROR".into(), "57014".into(), "canceling statement due to user request".into());
                        client.feed(M::ErrorResponse(info.into())).await?;
                        client.send(M::ReadyForQuery(ReadyForQuery::new(TransactionStatus::Idle))).await?;
                        return Ok(());
                    }
                },
                None => rx.recv().await,
            };
            let Some(batch) = next else { break };
            match batch {
                Ok(batch) => {
                    // One CopyData message per row, as PostgreSQL sends them; flush per batch.
                    for (t, d, row) in batch.updates {
                        let mut text = if progress { format!("{t}\tf\t{d}") } else { format!("{t}\t{d}") };
                        for datum in row.datums() {
                            text.push('\t');
                            match riffle_repr::strconv::format_datum_in(datum, &zone) {
                                None => text.push_str("\\N"),
                                Some(v) => text.push_str(&v.replace('\\', "\\\\").replace('\t', "\\t").replace('\n', "\\n")),
                            }
                        }
                        text.push('\n');
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
                Err(e) => {
                    client.feed(M::ErrorResponse(error_info(&AdapterError::Eval(e)).into())).await?;
                    client.send(M::ReadyForQuery(ReadyForQuery::new(TransactionStatus::Idle))).await?;
                    return Ok(());
                }
            }
        }
        client.feed(M::CopyDone(CopyDone::new())).await?;
        client.feed(M::CommandComplete(CommandComplete::new("SUBSCRIBE".into()))).await?;
        client.send(M::ReadyForQuery(ReadyForQuery::new(TransactionStatus::Idle))).await?;
        Ok(())
    }

    async fn run(&self, session: &Mutex<Session>, stmt: &Statement, params: &Params, format: &Format) -> Result<Response, AdapterError> {
        let mut session = session.lock().await;
        debug!(%stmt, "execute");
        let resp = self.adapter.execute(&mut session, stmt, params).await?;
        Ok(to_response(resp, format, &session.zone()))
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
        match parse_subscribe(&query.query) {
            Some(request) => self.stream_subscribe(client, request).await,
            None => self._on_query(client, query).await,
        }
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + futures::Sink<pgwire::messages::PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: pgwire::api::store::PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<pgwire::messages::PgWireBackendMessage>>::Error>,
    {
        let session = session_of(client);

        let stmts = match riffle_sql::parse(query) {
            Ok(s) => s,
            Err(e) => return Ok(vec![Response::Error(Box::new(error_info(&AdapterError::Plan(e))))]),
        };
        let mut out = Vec::new();
        for stmt in &stmts {
            match self.run(&session, stmt, &Params::default(), &Format::UnifiedText).await {
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
        let session = session_of(client);
        let result = async {
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
            let params = Params {
                types: types.into_iter().map(Some).collect(),
                values: Some(values),
            };
            self.run(&session, &portal.statement.statement.stmt, &params, &portal.result_column_format)
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
}

impl PgWireServerHandlers for Factory {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.handler.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.handler.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.handler.clone()
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        Arc::new(pgwire::api::cancel::DefaultCancelHandler::new(self.handler.connections.clone()))
    }
}

/// Accepts connections on `listener` until the process exits.
pub async fn serve(listener: TcpListener, adapter: Arc<Adapter>) -> std::io::Result<()> {
    let factory = Arc::new(Factory {
        handler: Arc::new(Handler {
            adapter,
            parser: Arc::new(Parser),
            connections: Arc::new(pgwire::api::ConnectionManager::new()),
        }),
    });
    loop {
        let (socket, addr) = listener.accept().await?;
        let factory = factory.clone();
        tokio::spawn(async move {
            debug!(%addr, "connection");
            if let Err(e) = pgwire::tokio::process_socket(socket, None, factory).await {
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
