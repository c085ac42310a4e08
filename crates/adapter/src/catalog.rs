//! The in-memory catalog, persisted through the durable store.

use riffle_repr::GlobalId;
use riffle_sql::{CatalogItem, SessionCatalog};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What is stored per catalog item: its id and the SQL that recreates it.
///
/// Plans are not stored: at startup each item is re-planned from its SQL, so a change to
/// the plan representation never strands an old data directory.
#[derive(Serialize, Deserialize)]
pub struct StoredItem {
    /// The statement that created the item.
    pub create_sql: String,
}

/// Catalog items by id and by name.
#[derive(Default)]
pub struct Catalog {
    items: BTreeMap<GlobalId, CatalogItem>,
    by_name: BTreeMap<String, GlobalId>,
    next_id: u64,
}

impl Catalog {
    /// Allocates an id for a new item.
    pub fn allocate_id(&mut self) -> GlobalId {
        self.next_id += 1;
        GlobalId(self.next_id)
    }

    /// Adds an item.
    pub fn insert(&mut self, item: CatalogItem) {
        self.next_id = self.next_id.max(item.id.0);
        self.by_name.insert(item.name.clone(), item.id);
        self.items.insert(item.id, item);
    }

    /// Removes an item.
    pub fn remove(&mut self, id: GlobalId) -> Option<CatalogItem> {
        let item = self.items.remove(&id)?;
        self.by_name.remove(&item.name);
        Some(item)
    }

    /// Items that read `id` directly (views, materialized views, indexes).
    pub fn dependents(&self, id: GlobalId) -> Vec<GlobalId> {
        self.items.values().filter(|i| i.depends_on.contains(&id)).map(|i| i.id).collect()
    }
}

impl SessionCatalog for Catalog {
    fn get(&self, name: &str) -> Option<&CatalogItem> {
        self.by_name.get(name).and_then(|id| self.items.get(id))
    }

    fn get_by_id(&self, id: GlobalId) -> Option<&CatalogItem> {
        self.items.get(&id)
    }

    fn items(&self) -> Vec<&CatalogItem> {
        self.items.values().collect()
    }
}
