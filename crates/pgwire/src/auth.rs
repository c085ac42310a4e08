//! Client authentication: SCRAM-SHA-256 with pgwire's SASL handler when the data directory
//! requires passwords, none otherwise; and the refusal of plain connections under
//! `--tls-required`.
//!
//! Verifiers come from the adapter's role catalog ([`Adapter::login_verifier`]), so a
//! password is checked without the server ever holding it. A login as a user that does not
//! exist, may not log in or has no password runs the same exchange against a mock verifier
//! and fails the same way: 28P01, `password authentication failed for user "…"`.

use crate::handler::Handler;
use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::sasl::scram::{ScramAuth, ScramSecret};
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::{AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler};
use pgwire::api::ClientInfo;
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use riffle_adapter::Adapter;
use std::fmt::Debug;
use std::sync::Arc;

/// The role catalog as pgwire's SCRAM implementation reads it.
struct Verifiers {
    adapter: Arc<Adapter>,
}

impl Debug for Verifiers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifiers")
    }
}

#[async_trait]
impl AuthSource for Verifiers {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        // Only SCRAM is offered, which asks for `get_scram_secret`.
        Err(PgWireError::InvalidPassword(login.user().unwrap_or_default().to_string()))
    }

    async fn get_scram_secret(&self, login: &LoginInfo) -> PgWireResult<(ScramSecret, Option<()>)> {
        let v = self.adapter.login_verifier(login.user().unwrap_or_default());
        Ok((
            ScramSecret::Verifier {
                salt: v.salt,
                iterations: v.iterations as usize,
                stored_key: v.stored_key,
                server_key: v.server_key,
            },
            None,
        ))
    }
}

/// How a connection's startup is handled.
pub struct Startup {
    handler: Arc<Handler>,
    /// Some when passwords are required.
    sasl: Option<SASLAuthStartupHandler<DefaultServerParameterProvider>>,
    /// Plain (non-TLS) connections are refused.
    tls_required: bool,
}

impl Startup {
    /// The startup handling for this server: SCRAM when the adapter requires passwords
    /// (with channel binding when `cert_pem`, the TLS certificate, is given).
    pub(crate) fn new(handler: Arc<Handler>, tls_required: bool, cert_pem: Option<&[u8]>) -> Result<Startup, String> {
        let sasl = if handler.adapter.password_auth() {
            let mut scram = ScramAuth::new(Arc::new(Verifiers {
                adapter: handler.adapter.clone(),
            }));
            if let Some(pem) = cert_pem {
                // SCRAM-SHA-256-PLUS: the proof is bound to this server's certificate, so a
                // man in the middle with another certificate cannot relay it.
                scram
                    .configure_certificate(pem)
                    .map_err(|e| format!("channel binding with the TLS certificate: {e}"))?;
            }
            Some(
                SASLAuthStartupHandler::new(Arc::new(DefaultServerParameterProvider::default()))
                    .with_scram(scram)
                    .with_connection_manager(handler.connections.clone()),
            )
        } else {
            None
        };
        Ok(Startup {
            handler,
            sasl,
            tls_required,
        })
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if self.tls_required && matches!(message, PgWireFrontendMessage::Startup(_)) && !client.is_secure() {
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".to_string(),
                "28000".to_string(),
                "this server accepts only TLS connections (--tls-required): connect with sslmode=require".to_string(),
            ))));
        }
        match &self.sasl {
            Some(sasl) => sasl.on_startup(client, message).await,
            // No authentication: the handler's own (pgwire's no-op startup).
            None => StartupHandler::on_startup(&*self.handler, client, message).await,
        }
    }
}

/// Gives failed logins PostgreSQL's message, with the user's name (pgwire's SCRAM reports no
/// name); the same for every cause, so that no one learns which users exist.
pub(crate) struct LoginErrors;

impl pgwire::api::ErrorHandler for LoginErrors {
    fn on_error<C>(&self, client: &C, error: &mut PgWireError)
    where
        C: ClientInfo,
    {
        if matches!(error, PgWireError::InvalidPassword(_) | PgWireError::InvalidScramMessage(_)) {
            let user = client.metadata().get(pgwire::api::METADATA_USER).cloned().unwrap_or_default();
            *error = PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".to_string(),
                "28P01".to_string(),
                format!("password authentication failed for user \"{user}\""),
            )));
        }
    }
}
