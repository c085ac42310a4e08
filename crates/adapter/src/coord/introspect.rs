//! What the coordinator shows of itself: the Prometheus exposition, named from the catalog.
//! (The introspection relations, `riffle_*`, are answered by the catalog itself:
//! [`crate::catalog`].)

use super::Adapter;

impl Adapter {
    /// The Prometheus text exposition of every metric, with the per-collection families read
    /// from the workers' and sources' latest statistics.
    pub async fn metrics_text(&self) -> String {
        let stats = self.compute.introspection();
        let coord = self.coord.lock().await;
        crate::metrics::render(&coord.catalog, &stats)
    }
}
