//! SCRAM-SHA-256 verifiers: how passwords are stored.
//!
//! A password never reaches the catalog, the log or a catalog relation: `CREATE ROLE …
//! PASSWORD '…'` stores PostgreSQL's verifier (RFC 5803's format, as in `pg_authid.rolpassword`)
//!
//! ```text
//! SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>      (base64 fields)
//! ```
//!
//! from which a server can check a client's SCRAM proof but cannot recover the password. A
//! statement may also give such a verifier instead of a password (as `pg_dumpall` writes
//! them), which is stored as is. The pgwire layer turns a stored verifier into its SCRAM
//! exchange (`riffle_pgwire`'s auth source).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::{digest, hmac, pbkdf2, rand::SecureRandom};
use std::num::NonZeroU32;

/// PostgreSQL's default iteration count (`scram_iterations`).
pub const ITERATIONS: u32 = 4096;
const SALT_LEN: usize = 16;
const PREFIX: &str = "SCRAM-SHA-256$";

/// A parsed verifier.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    /// The salt the client hashes its password with.
    pub salt: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// `SHA-256(HMAC(SaltedPassword, "Client Key"))`: checks the client's proof.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`: signs the server's final message.
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// The verifier of `password` with a fresh random salt.
    pub fn new(password: &str) -> Verifier {
        let mut salt = vec![0u8; SALT_LEN];
        ring::rand::SystemRandom::new()
            .fill(&mut salt)
            .expect("the operating system's random source failed");
        Verifier::with_salt(password, salt, ITERATIONS)
    }

    /// The verifier of `password` with a given salt.
    pub fn with_salt(password: &str, salt: Vec<u8>, iterations: u32) -> Verifier {
        // SASLprep is the identity on the ASCII passwords nearly everyone uses; PostgreSQL
        // also falls back to the raw bytes when a password is not valid for SASLprep.
        let mut salted = [0u8; 32];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            NonZeroU32::new(iterations.max(1)).expect("at least one iteration"),
            &salt,
            password.as_bytes(),
            &mut salted,
        );
        let key = hmac::Key::new(hmac::HMAC_SHA256, &salted);
        let client_key = hmac::sign(&key, b"Client Key");
        let server_key = hmac::sign(&key, b"Server Key");
        Verifier {
            salt,
            iterations,
            stored_key: digest::digest(&digest::SHA256, client_key.as_ref()).as_ref().to_vec(),
            server_key: server_key.as_ref().to_vec(),
        }
    }

    /// Reads PostgreSQL's text form; None if `text` is not a SCRAM-SHA-256 verifier.
    pub fn parse(text: &str) -> Option<Verifier> {
        let rest = text.strip_prefix(PREFIX)?;
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        let v = Verifier {
            salt: B64.decode(salt).ok()?,
            iterations: iterations.parse().ok().filter(|n| *n > 0)?,
            stored_key: B64.decode(stored).ok()?,
            server_key: B64.decode(server).ok()?,
        };
        (v.stored_key.len() == 32 && v.server_key.len() == 32 && !v.salt.is_empty()).then_some(v)
    }

    /// PostgreSQL's text form.
    pub fn to_text(&self) -> String {
        format!(
            "{PREFIX}{}:{}${}:{}",
            self.iterations,
            B64.encode(&self.salt),
            B64.encode(&self.stored_key),
            B64.encode(&self.server_key)
        )
    }

    /// What `PASSWORD '…'` stores: the text itself when it already is a verifier, otherwise
    /// the verifier of the password.
    pub fn from_statement(password: &str) -> Verifier {
        Verifier::parse(password).unwrap_or_else(|| Verifier::new(password))
    }

    /// A verifier no password matches, stable per user name: what a login as an unknown
    /// user is checked against, so that the exchange looks the same whether or not the user
    /// exists (PostgreSQL's "mock authentication").
    pub fn mock(user: &str, server_secret: &[u8]) -> Verifier {
        let key = hmac::Key::new(hmac::HMAC_SHA256, server_secret);
        let salt = hmac::sign(&key, user.as_bytes()).as_ref()[..SALT_LEN].to_vec();
        let mut keys = [0u8; 32];
        ring::rand::SystemRandom::new().fill(&mut keys).expect("random source");
        Verifier {
            salt,
            iterations: ITERATIONS,
            stored_key: keys.to_vec(),
            server_key: keys.to_vec(),
        }
    }

    /// Whether `password` is the one this verifier was made from (for tests and for the
    /// console's login, which has no SCRAM exchange).
    pub fn matches(&self, password: &str) -> bool {
        let other = Verifier::with_salt(password, self.salt.clone(), self.iterations);
        // Compared in constant time: every byte is looked at whatever differs.
        other.stored_key.len() == self.stored_key.len()
            && other.stored_key.iter().zip(&self.stored_key).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The verifier PostgreSQL 15 stores for `CREATE ROLE u PASSWORD 'pencil'` with a known
    /// salt is reproduced exactly (RFC 7677's test vector: user "user", password "pencil",
    /// salt `W22ZaJ0SNY7soEsUEjb6gQ==`, 4096 iterations).
    #[test]
    fn matches_rfc_7677() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let v = Verifier::with_salt("pencil", salt, 4096);
        // From RFC 7677: ServerSignature and ClientProof derive from these keys; the keys
        // themselves, computed independently (Python hashlib/hmac):
        assert_eq!(B64.encode(&v.stored_key), "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=");
        assert_eq!(B64.encode(&v.server_key), "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
        assert!(v.matches("pencil"));
        assert!(!v.matches("pencil "));
    }

    #[test]
    fn text_round_trip_and_refusals() {
        let v = Verifier::new("s3cret");
        let text = v.to_text();
        assert!(text.starts_with("SCRAM-SHA-256$4096:"));
        assert!(!text.contains("s3cret"));
        assert_eq!(Verifier::parse(&text), Some(v.clone()));
        assert_eq!(Verifier::from_statement(&text), v);
        for bad in [
            "",
            "md5abc",
            "SCRAM-SHA-256$",
            "SCRAM-SHA-256$0:AAAA$AAAA:AAAA",
            "SCRAM-SHA-256$4096:!!$a:b",
        ] {
            assert_eq!(Verifier::parse(bad), None, "{bad}");
        }
        // Two verifiers of one password differ (fresh salts).
        assert_ne!(Verifier::new("x").salt, Verifier::new("x").salt);
        assert!(!format!("{v:?}").contains(&B64.encode(&v.stored_key)));
    }

    #[test]
    fn mock_salts_are_stable_per_user() {
        assert_eq!(Verifier::mock("a", b"k").salt, Verifier::mock("a", b"k").salt);
        assert_ne!(Verifier::mock("a", b"k").salt, Verifier::mock("b", b"k").salt);
    }
}
