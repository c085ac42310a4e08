//! Per-connection state.

use crate::AdapterError;
use riffle_compute::ReadHold;
use riffle_repr::zone::Zone;
use riffle_repr::{Diff, GlobalId, Row};
use std::collections::{BTreeMap, BTreeSet};

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
    ("idle_in_transaction_session_timeout", "0"),
    ("timezone", "UTC"),
    ("transaction_isolation", "serializable"),
    ("default_transaction_isolation", "serializable"),
    ("lc_messages", "C"),
    ("bytea_output", "hex"),
    ("max_identifier_length", "63"),
];

/// One client connection's state.
#[derive(Debug)]
pub struct Session {
    vars: BTreeMap<String, String>,
    /// The open transaction block (BEGIN … COMMIT/ROLLBACK), if any.
    pub(crate) txn: Option<Transaction>,
    /// The role the client authenticated as (`session_user`).
    pub(crate) session_user: String,
    /// The role whose privileges statements run with (`current_user`; SET ROLE changes it).
    pub(crate) current_user: String,
    /// Statements run so far (an idle-in-transaction timer is for the last of them).
    pub(crate) statements: u64,
    /// The open block outlived `idle_in_transaction_session_timeout`: it was rolled back and
    /// the connection is to be closed.
    idle_expired: bool,
}

/// An open transaction block. Its reads happen at one snapshot; its writes are buffered here
/// and applied at one timestamp, in one synced log write, at COMMIT; ROLLBACK, or the client
/// going away (the session is dropped), discards them. See docs/sql.md, "Transactions".
#[derive(Debug, Default)]
pub(crate) struct Transaction {
    /// The snapshot every read of the block happens at, held readable against compaction
    /// (chosen by the block's first read or write).
    pub(crate) snapshot: Option<ReadHold>,
    /// The coordinator's count of writes when the snapshot was chosen: a write to a relation
    /// the block touched after it makes COMMIT fail with 40001.
    pub(crate) snapshot_seq: u64,
    /// Writes buffered until COMMIT.
    pub(crate) writes: Vec<(GlobalId, Row, Diff)>,
    /// Tables and sources the block read or wrote (what COMMIT validates).
    pub(crate) touched: BTreeSet<GlobalId>,
    /// A statement failed: every statement but COMMIT/ROLLBACK gets 25P02.
    pub(crate) failed: bool,
    /// READ ONLY: writes and DDL are refused (25006).
    pub(crate) read_only: bool,
}

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

impl Session {
    /// A session of the bootstrap superuser, with default variables.
    pub fn new() -> Self {
        Session::for_role(crate::access::BOOTSTRAP_SUPERUSER)
    }

    /// A session of `role` (which the caller authenticated), with default variables.
    pub(crate) fn for_role(role: &str) -> Self {
        Session {
            vars: DEFAULTS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            txn: None,
            session_user: role.to_string(),
            current_user: role.to_string(),
            statements: 0,
            idle_expired: false,
        }
    }

    /// `idle_in_transaction_session_timeout`, if set (not 0).
    pub fn idle_in_transaction_timeout(&self) -> Option<std::time::Duration> {
        let ms = self.vars.get("idle_in_transaction_session_timeout").and_then(|v| duration_ms(v))?;
        (ms > 0).then(|| std::time::Duration::from_millis(ms))
    }

    /// How many statements the session has run.
    pub fn statements_run(&self) -> u64 {
        self.statements
    }

    /// Ends an open block that sat idle past its timeout: its writes are discarded and its
    /// snapshot released at once; the connection learns on its next message (25P03, FATAL).
    pub fn expire_idle_transaction(&mut self) {
        if self.txn.take().is_some() {
            self.idle_expired = true;
        }
    }

    /// Whether the idle-in-transaction timeout ended this session.
    pub fn idle_expired(&self) -> bool {
        self.idle_expired
    }

    /// The role statements run as (`current_user`).
    pub fn current_user(&self) -> &str {
        &self.current_user
    }

    /// SET name = value (None resets to the default).
    pub fn set(&mut self, name: &str, value: Option<String>) -> Result<(), AdapterError> {
        let name = name.to_ascii_lowercase();
        let default = DEFAULTS.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        let value = value.or(default.clone()).unwrap_or_default();
        if name == "timezone" && Zone::parse(&value).is_none() {
            return Err(AdapterError::InvalidVariable(name, value));
        }
        if name.ends_with("_timeout") && duration_ms(&value).is_none() {
            return Err(AdapterError::InvalidVariable(name, value));
        }
        self.vars.insert(name, value);
        Ok(())
    }

    /// The session's TimeZone.
    pub fn zone(&self) -> Zone {
        self.vars.get("timezone").and_then(|z| Zone::parse(z)).unwrap_or(Zone::Utc)
    }

    /// Whether a transaction block is open ('T' or 'E' in ReadyForQuery).
    pub fn in_transaction(&self) -> bool {
        self.txn.is_some()
    }

    /// Marks an open transaction block failed (an error the adapter did not see, such as bad
    /// COPY data): it then hears only COMMIT (answered ROLLBACK) or ROLLBACK.
    pub fn fail_transaction(&mut self) {
        if let Some(txn) = self.txn.as_mut() {
            txn.failed = true;
        }
    }

    /// SHOW name.
    pub fn get(&self, name: &str) -> Result<String, AdapterError> {
        let name = name.to_ascii_lowercase();
        let key = if name == "time zone" { "timezone".to_string() } else { name };
        self.vars.get(&key).cloned().ok_or(AdapterError::UnknownVariable(key))
    }
}

/// A timeout setting in milliseconds, as PostgreSQL reads them: a number of milliseconds, or a
/// number with a unit (`ms`, `s`, `min`, `h`, `d`).
fn duration_ms(value: &str) -> Option<u64> {
    let v = value.trim();
    let split = v.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(v.len());
    let (number, unit) = v.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "" | "ms" => 1.0,
        "s" => 1e3,
        "min" => 60e3,
        "h" => 3600e3,
        "d" => 86_400e3,
        _ => return None,
    };
    let ms = number * scale;
    (ms.is_finite() && ms >= 0.0 && ms < u64::MAX as f64).then_some(ms.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::duration_ms;

    #[test]
    fn timeouts_read_as_postgresql_reads_them() {
        assert_eq!(duration_ms("0"), Some(0));
        assert_eq!(duration_ms("250"), Some(250));
        assert_eq!(duration_ms("5s"), Some(5000));
        assert_eq!(duration_ms("1.5 s"), Some(1500));
        assert_eq!(duration_ms("2min"), Some(120_000));
        assert_eq!(duration_ms("-1"), None);
        assert_eq!(duration_ms("soon"), None);
    }
}
