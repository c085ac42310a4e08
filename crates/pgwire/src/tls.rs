//! TLS for client connections, with rustls on the `ring` crypto provider (the provider
//! pgwire's `server-api-ring` feature builds; aws-lc-rs would add a long C build).
//!
//! Clients ask for TLS with PostgreSQL's SSLRequest (or direct TLS with ALPN `postgresql`),
//! which pgwire answers when an acceptor is configured. `sslmode=require` and `verify-full`
//! work as against PostgreSQL: the server presents the certificate chain of `--tls-cert`, and
//! a client that checks it against its CA and the host name (verify-full) sees the name the
//! certificate was made for. With `--tls-client-ca`, clients must also present a certificate
//! signed by that CA.

use pgwire::tokio::tokio_rustls::rustls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the server's TLS material is, and whether plain connections are refused.
#[derive(Clone, Debug)]
pub struct TlsConfig {
    /// The server's certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// A CA (PEM) whose certificates clients must present; None: no client certificates.
    pub client_ca: Option<PathBuf>,
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("reading certificates from {}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("reading certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

impl TlsConfig {
    /// The acceptor for these files; an error says which file is wrong and why (never
    /// echoing a key).
    pub fn acceptor(&self) -> Result<pgwire::tokio::TlsAcceptor, String> {
        // ring's provider lacks the post-quantum key exchange aws-lc-rs has (hence rustls's
        // deprecation note); it is chosen for build time, see docs/architecture.md.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = certs(&self.cert)?;
        let key =
            PrivateKeyDer::from_pem_file(&self.key).map_err(|e| format!("reading the private key from {}: {e}", self.key.display()))?;
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in certs(ca)? {
                    roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| format!("client CA {}: {e}", ca.display()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(chain, key).map_err(|e| {
            format!(
                "the certificate {} and key {} do not make a TLS identity: {e}",
                self.cert.display(),
                self.key.display()
            )
        })?;
        // Direct TLS (PostgreSQL 17's sslnegotiation=direct) requires this ALPN name.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(pgwire::tokio::TlsAcceptor::from(Arc::new(config)))
    }

    /// The certificate chain's PEM, for SCRAM channel binding (`tls-server-end-point`).
    pub fn cert_pem(&self) -> Option<Vec<u8>> {
        std::fs::read(&self.cert).ok()
    }
}
