//! SQL layer: turns SQL text into plans, reading the catalog through [`SessionCatalog`].
//!
//! `parse` wraps `sqlparser` (PostgreSQL dialect); `plan` binds names and types and produces
//! a [`Plan`], whose queries are [`riffle_expr::RelExpr`] trees. This crate never sees
//! storage or dataflows, so it can be tested with an in-memory catalog.
#![warn(missing_docs)]

mod aggregate;
mod catalog;
mod coerce;
mod copy;
mod ddl;
mod depth;
mod dialect;
mod dml;
mod error;
mod expr;
mod extensions;
mod from;
mod functions;
mod kafka;
mod memory;
mod operators;
mod plan;
mod query;
mod roles;
mod scope;
mod select;
pub mod source;
mod statement;
mod subquery;
mod system;
mod types;
mod window;

pub use catalog::{CatalogItem, CheckConstraint, ItemKind, ModelDesc, ModelOutput, SessionCatalog, TableDesc, UniqueKey, SYSTEM_TABLES};
pub use copy::CopyTarget;
pub use error::PlanError;
pub use kafka::{avro_desc, avro_type};
pub use memory::MemCatalog;
pub use plan::{
    plan, CopyFromPlan, CopyToPlan, CreateModelPlan, DropKind, DropPlan, Params, Plan, PlanContext, ReadThenWritePlan, SelectPlan,
    ShowKind, SubscribePlan, TrainPlan,
};
pub use roles::{GrantPlan, GrantTarget, MembershipPlan, Privilege, RolePlan};
pub use statement::{
    parse, CreateConnection, CreateModel, CreateSink, CreateSource, FormatSpec, ObjectKind, Statement, StatementOption, Subscribe,
    TrainSpec,
};
pub use types::parse_type_name;
