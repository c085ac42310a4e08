//! SET and SHOW: session variables, and the two server settings a statement may move (the
//! test clock, and failpoints when the server allows them).

use super::{command, Adapter, Guard};
use crate::{AdapterError, ExecuteResponse, Session};
use riffle_expr::EvalError;
use riffle_repr::{ColumnType, Datum, RelationDesc, Row, ScalarType};

impl Adapter {
    /// SET: `riffle_test_clock` moves the test clock (forward only), `riffle_failpoint`
    /// injects a failure (with `--failpoints`), anything else is a session variable.
    pub(super) fn sequence_set(
        &self,
        mut coord: Guard<'_>,
        session: &mut Session,
        name: String,
        value: Option<String>,
    ) -> Result<ExecuteResponse, AdapterError> {
        match name.as_str() {
            "riffle_test_clock" => {
                let crate::timestamp::Clock::Test(current) = coord.timestamps.clock() else {
                    return Err(AdapterError::InvalidVariable(
                        name,
                        "riffle_test_clock requires starting riffle with --test-clock".into(),
                    ));
                };
                let text = value.unwrap_or_default();
                let ms = match text.parse::<u64>() {
                    Ok(ms) => ms,
                    Err(_) => (riffle_repr::strconv::parse_timestamp(&text, true).map_err(EvalError::from)? / 1000).max(0) as u64,
                };
                if ms < current {
                    return Err(AdapterError::InvalidVariable(
                        name,
                        format!("the test clock only moves forward (it is at {current} ms)"),
                    ));
                }
                coord.timestamps.set_test_clock(ms);
                coord.tick();
            }
            "riffle_failpoint" => {
                if !coord.failpoints {
                    return Err(AdapterError::UnknownVariable(name));
                }
                match value.as_deref() {
                    Some("compute_panic") => self.compute.inject_panic(),
                    _ => return Err(AdapterError::InvalidVariable(name, value.unwrap_or_default())),
                }
            }
            _ => session.set(&name, value)?,
        }
        Ok(command("SET"))
    }
}

/// SHOW of a session variable.
pub(super) fn sequence_show(session: &Session, name: String) -> Result<ExecuteResponse, AdapterError> {
    let value = session.get(&name)?;
    Ok(ExecuteResponse::Rows {
        desc: RelationDesc::empty().with_column(name, ColumnType::nullable(ScalarType::String)),
        rows: vec![Row::new(vec![Datum::String(value)])],
        tag: "SHOW",
    })
}
