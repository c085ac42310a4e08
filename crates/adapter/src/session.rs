//! Per-connection state.

use crate::AdapterError;
use riffle_repr::zone::Zone;
use std::collections::BTreeMap;

/// Session variables PostgreSQL clients read or set, with their defaults.
const DEFAULTS: &[(&str, &str)] = &[
    ("application_name", ""),
    ("client_encoding", "UTF8"),
    ("datestyle", "ISO, MDY"),
    ("extra_float_digits", "1"),
    ("intervalstyle", "postgres"),
    ("integer_datetimes", "on"),
    ("search_path", "public"),
    ("server_encoding", "UTF8"),
    ("server_version", "15.0"),
    ("server_version_num", "150000"),
    ("standard_conforming_strings", "on"),
    ("statement_timeout", "0"),
    ("timezone", "UTC"),
    ("transaction_isolation", "serializable"),
    ("default_transaction_isolation", "serializable"),
    ("lc_messages", "C"),
    ("bytea_output", "hex"),
    ("max_identifier_length", "63"),
];

/// One client connection's state.
#[derive(Debug, Default)]
pub struct Session {
    vars: BTreeMap<String, String>,
}

impl Session {
    /// A session with default variables.
    pub fn new() -> Self {
        Session {
            vars: DEFAULTS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    /// SET name = value (None resets to the default).
    pub fn set(&mut self, name: &str, value: Option<String>) -> Result<(), AdapterError> {
        let name = name.to_ascii_lowercase();
        let default = DEFAULTS.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        let value = value.or(default.clone()).unwrap_or_default();
        if name == "timezone" && Zone::parse(&value).is_none() {
            return Err(AdapterError::InvalidVariable(name, value));
        }
        self.vars.insert(name, value);
        Ok(())
    }

    /// The session's TimeZone.
    pub fn zone(&self) -> Zone {
        self.vars.get("timezone").and_then(|z| Zone::parse(z)).unwrap_or(Zone::Utc)
    }

    /// SHOW name.
    pub fn get(&self, name: &str) -> Result<String, AdapterError> {
        let name = name.to_ascii_lowercase();
        let key = if name == "time zone" { "timezone".to_string() } else { name };
        self.vars.get(&key).cloned().ok_or(AdapterError::UnknownVariable(key))
    }
}
