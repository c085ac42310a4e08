//! Protocol layer: serves the PostgreSQL wire protocol with the `pgwire` crate.
//!
//! Simple and extended query protocols both go to [`riffle_adapter::Adapter`]. This crate
//! owns the mapping between Riffle's types and PostgreSQL type OIDs, and the text and
//! binary encodings of values, so that every driver sees the types PostgreSQL would send.
#![warn(missing_docs)]

mod auth;
mod codec;
mod copy;
mod handler;
mod tls;

pub use handler::{serve, Security};
pub use tls::TlsConfig;
