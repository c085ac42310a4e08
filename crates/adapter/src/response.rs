//! What a statement answers: rows, a command tag, or a stream the protocol layer drives.

use riffle_repr::{GlobalId, RelationDesc, Row};

/// The result of a statement.
#[derive(Debug)]
pub enum ExecuteResponse {
    /// A result set.
    Rows {
        /// Columns.
        desc: RelationDesc,
        /// Rows, in order.
        rows: Vec<Row>,
        /// Command tag verb ("SELECT", "SHOW").
        tag: &'static str,
    },
    /// A command with a completion tag (`INSERT 0 3`, `CREATE TABLE`).
    Command {
        /// The tag.
        tag: String,
    },
    /// `COPY … TO STDOUT`: the rows to send in COPY-out messages.
    CopyOut {
        /// Columns.
        desc: RelationDesc,
        /// Rows, in order.
        rows: Vec<Row>,
        /// Format and options.
        options: riffle_copy::Options,
    },
    /// `COPY table FROM STDIN`: the client sends the data next, then [`Adapter::copy_in`]
    /// writes it.
    CopyIn {
        /// The table.
        table: GlobalId,
        /// How the data becomes rows.
        copy: crate::copy::CopyIn,
    },
    /// A running SUBSCRIBE: its columns (before `mz_timestamp`, `mz_diff`) and its batches.
    Subscribe {
        /// Columns of the watched query.
        desc: RelationDesc,
        /// Batches of changes until the receiver is dropped.
        rx: riffle_compute::SubscribeReceiver,
        /// Emit `mz_progressed` rows.
        progress: bool,
    },
}
