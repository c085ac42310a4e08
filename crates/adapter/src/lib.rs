//! Adapter layer: sessions, the coordinator that sequences every command, and SQLSTATEs.
//!
//! One [`Coordinator`] (behind a mutex) owns the catalog, the durable store and the compute
//! controller. Each statement is planned against the catalog and sequenced: DDL updates the
//! catalog durably and installs dataflows; writes get a timestamp, go to the RocksDB log
//! (synced) and only then to the dataflows; reads pick the latest complete timestamp and
//! peek arrangements after releasing the lock, so slow reads never block writers.
#![warn(missing_docs)]

mod access;
mod catalog;
mod commit;
mod coord;
pub mod copy;
mod error;
pub mod metrics;
mod models;
mod response;
pub mod scram;
mod server_files;
mod session;
mod timestamp;

pub use coord::{Adapter, Config};
pub use error::AdapterError;
pub use response::ExecuteResponse;
pub use session::Session;
pub use timestamp::Clock;

/// Chooses the device models run on ("cpu", "cuda", "cuda:N"); call before [`Adapter::open`],
/// which loads the stored models.
pub fn set_model_device(name: &str) -> Result<(), AdapterError> {
    riffle_models::set_device(name).map_err(|e| AdapterError::Model(e.to_string()))?;
    tracing::info!(device = name, "models run on {name}");
    Ok(())
}
