//! Compute layer: maintains collections as timely/differential dataflows.
//!
//! A [`ComputeController`] owns `n` timely worker threads. Every command is broadcast to all
//! workers in the same order, so each worker builds the same dataflows; table updates are
//! spread across workers and differential exchanges them by key. Every table, materialized
//! view and index is an *arrangement* (a trace) that later dataflows import and that peeks
//! read directly, so a maintained view is never recomputed to be read.
#![warn(missing_docs)]

mod accumulate;
mod controller;
mod hierarchical;
pub mod introspect;
mod render;
mod spines;
mod worker;

pub use controller::{ComputeController, Health, PeekResult, PeekTarget, ReadError, ReadHold, SubscribeBatch, SubscribeReceiver};
pub use render::MODEL_VERSIONS;
