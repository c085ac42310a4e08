//! Plan layer: what a query computes, independent of how it is run.
//!
//! [`RelExpr`] is the relational plan the SQL planner produces and the compute layer renders
//! into a dataflow; [`ScalarExpr`] is the per-row expression language inside it, evaluated
//! here with PostgreSQL semantics (three-valued logic, overflow checks, casts). Evaluation
//! errors are values ([`EvalError`]) so that a dataflow can carry them instead of panicking.
#![warn(missing_docs)]

mod agg;
mod batch;
mod error;
mod explain;
mod func;
mod join_order;
mod relation;
mod scalar;
pub mod scoring;
pub mod transform;
mod window;

pub use agg::{integer_average, integer_sum, AggregateExpr, AggregateFunc};
pub use batch::{calls_model, eval_map_batch, eval_map_batch_versioned, models_called};
pub use error::EvalError;
pub use func::{as_f64, date_bin, numeric_div, FloatFn, Func};
pub use relation::{ColumnOrder, JoinKind, RelExpr, RowSetFinishing, TableFunc};
pub use scalar::{Columns, Extended, ScalarExpr};
pub use window::{FrameBound, WindowExpr, WindowFrame, WindowFunc};
