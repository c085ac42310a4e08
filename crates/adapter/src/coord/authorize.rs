//! Who may do what: logins' view of the role catalog, the privileges each plan needs
//! (checked after planning, before sequencing), and the role statements themselves.
//!
//! What a statement reads is learned while it is planned: the planner sees the catalog through
//! [`Resolving`], which notes every item and system relation a name resolved to. A view's own
//! reads are not resolved again (its plan is stored), so reading a view needs SELECT on the
//! view only; the view's owner must hold SELECT on what the view reads (definer's rights, as
//! PostgreSQL checks views).

use super::{command, Adapter, Coordinator, Guard};
use crate::access::{Access, RoleError, READ_SERVER_FILES, WRITE_SERVER_FILES};
use crate::catalog::Catalog;
use crate::scram::Verifier;
use crate::{AdapterError, ExecuteResponse, Session};
use riffle_repr::{GlobalId, RelationDesc, Row};
use riffle_sql::{CatalogItem, CopyTarget, GrantPlan, GrantTarget, ItemKind, Plan, Privilege, SessionCatalog};
use std::cell::RefCell;
use std::collections::BTreeSet;

/// The catalog as one statement's planner sees it, noting what its names resolve to.
pub(crate) struct Resolving<'a> {
    inner: &'a Catalog,
    items: RefCell<BTreeSet<GlobalId>>,
    system: RefCell<BTreeSet<String>>,
}

/// What a statement's names resolved to.
pub(crate) struct Resolved {
    items: BTreeSet<GlobalId>,
    system: BTreeSet<String>,
}

impl<'a> Resolving<'a> {
    pub(crate) fn new(inner: &'a Catalog) -> Self {
        Resolving {
            inner,
            items: RefCell::default(),
            system: RefCell::default(),
        }
    }

    pub(crate) fn resolved(self) -> Resolved {
        Resolved {
            items: self.items.into_inner(),
            system: self.system.into_inner(),
        }
    }
}

impl SessionCatalog for Resolving<'_> {
    fn get(&self, name: &str) -> Option<&CatalogItem> {
        let found = self.inner.get(name);
        if let Some(item) = found {
            self.items.borrow_mut().insert(item.id);
        }
        found
    }

    fn get_by_id(&self, id: GlobalId) -> Option<&CatalogItem> {
        self.inner.get_by_id(id)
    }

    fn items(&self) -> Vec<&CatalogItem> {
        self.inner.items()
    }

    fn system_rows(&self, name: &str) -> Option<(RelationDesc, Vec<Row>)> {
        let found = self.inner.system_rows(name);
        if found.is_some() {
            self.system.borrow_mut().insert(name.to_string());
        }
        found
    }
}

fn denied(msg: impl Into<String>) -> AdapterError {
    AdapterError::PermissionDenied(msg.into())
}

impl From<RoleError> for AdapterError {
    fn from(e: RoleError) -> Self {
        match e {
            RoleError::Unknown(r) => AdapterError::UnknownRole(r),
            RoleError::Exists(r) => AdapterError::RoleExists(r),
            RoleError::Dependents(r) => AdapterError::RoleInUse(r),
            RoleError::Denied(m) => AdapterError::PermissionDenied(m),
            RoleError::Reserved(r) => AdapterError::ReservedRole(r),
        }
    }
}

/// The privilege reading an item takes: USAGE for models and connections, SELECT otherwise.
fn read_privilege(kind: &ItemKind) -> Privilege {
    match kind {
        ItemKind::Model(_) | ItemKind::Connection(_) => Privilege::Usage,
        _ => Privilege::Select,
    }
}

/// Refuses unless `role` may read `id`; for a view, its owner must also be able to read what
/// the view reads.
fn check_read(access: &Access, catalog: &Catalog, role: &str, id: GlobalId, privilege: Privilege) -> Result<(), AdapterError> {
    let Some(item) = catalog.get_by_id(id) else { return Ok(()) };
    if item.is_system() || access.is_superuser(role) {
        return Ok(());
    }
    if !access.has(role, id, privilege) {
        return Err(denied(format!("permission denied for {} {}", item.kind.noun(), item.name)));
    }
    if let ItemKind::View { .. } = item.kind {
        let owner = access.owner(id).to_string();
        for dep in &item.depends_on {
            if let Some(d) = catalog.get_by_id(*dep) {
                check_read(access, catalog, &owner, *dep, read_privilege(&d.kind))?;
            }
        }
    }
    Ok(())
}

fn must_own(access: &Access, catalog: &Catalog, role: &str, id: GlobalId) -> Result<(), AdapterError> {
    match catalog.get_by_id(id) {
        Some(item) if !access.owns(role, id) => Err(denied(format!("must be owner of {} {}", item.kind.noun(), item.name))),
        _ => Ok(()),
    }
}

fn member_of(access: &Access, role: &str, of: &str, what: &str) -> Result<(), AdapterError> {
    if access.is_member(role, of) {
        Ok(())
    } else {
        Err(denied(format!("must be superuser or a member of the {of} role to {what}")))
    }
}

/// Whether an UPDATE or DELETE reads the target's columns (a WHERE, or a SET computed from
/// them), which takes SELECT on it too, as in PostgreSQL.
fn reads_target(plan: &riffle_sql::ReadThenWritePlan) -> bool {
    let filtered = !matches!(plan.selection, riffle_expr::RelExpr::Get { .. });
    let computed = plan.assignments.as_ref().is_some_and(|a| {
        a.iter()
            .enumerate()
            .any(|(i, e)| *e != riffle_expr::ScalarExpr::Column(i) && !e.is_constant())
    });
    filtered || computed
}

impl Coordinator {
    /// Refuses a plan the session's role may not run (42501). Superusers may run anything
    /// but reading `pg_authid` is theirs alone either way.
    pub(crate) fn authorize(&self, session: &Session, plan: &Plan, resolved: &Resolved) -> Result<(), AdapterError> {
        let access = self.catalog.access.read().expect("access lock");
        let role = session.current_user.as_str();
        if access.is_superuser(role) {
            return Ok(());
        }
        if resolved.system.contains("pg_authid") {
            return Err(denied("permission denied for table pg_authid"));
        }
        let catalog = &self.catalog;
        let existing = |name: &str| catalog.get(name).map(|i| i.id);
        let create = || {
            if access.may_create(role) {
                Ok(())
            } else {
                Err(denied("permission denied for schema public"))
            }
        };
        // The item a plan writes, with the privilege that takes, and whether it also reads it.
        let mut target: Option<(GlobalId, Privilege, bool)> = None;
        match plan {
            Plan::Insert { table, .. } => target = Some((*table, Privilege::Insert, false)),
            Plan::ReadThenWrite(p) => {
                let privilege = if p.tag == "UPDATE" { Privilege::Update } else { Privilege::Delete };
                target = Some((p.table, privilege, reads_target(p)));
            }
            Plan::CopyFrom(c) => {
                target = Some((c.table, Privilege::Insert, false));
                if matches!(c.source, CopyTarget::File(_)) {
                    member_of(&access, role, READ_SERVER_FILES, "COPY from a file")?;
                }
            }
            Plan::CopyTo(c) => {
                if matches!(c.target, CopyTarget::File(_)) {
                    member_of(&access, role, WRITE_SERVER_FILES, "COPY to a file")?;
                }
            }
            Plan::CreateModel(m) => {
                create()?;
                if m.train.is_none() {
                    member_of(&access, role, READ_SERVER_FILES, "create a model from a file")?;
                }
                if let Some(id) = existing(&m.name).filter(|_| m.or_replace) {
                    must_own(&access, catalog, role, id)?;
                }
            }
            Plan::CreateView { name, or_replace, .. } => {
                create()?;
                if let Some(id) = existing(name).filter(|_| *or_replace) {
                    must_own(&access, catalog, role, id)?;
                }
            }
            Plan::CreateTable { .. } | Plan::CreateConnection { .. } | Plan::CreateSource { .. } | Plan::CreateSink { .. } => create()?,
            Plan::CreateIndex { on, .. } => must_own(&access, catalog, role, *on)?,
            Plan::Drop(d) => {
                for name in &d.names {
                    if let Some(id) = existing(name) {
                        must_own(&access, catalog, role, id)?;
                    }
                }
            }
            Plan::Grant(g) | Plan::Revoke(g) => match &g.target {
                GrantTarget::Items(items) => {
                    for (id, name) in items {
                        if !access.owns(role, *id) {
                            let noun = catalog.get_by_id(*id).map_or("table", |i| i.kind.noun());
                            return Err(denied(format!("permission denied for {noun} {name}")));
                        }
                    }
                }
                GrantTarget::Schema(s) => return Err(denied(format!("permission denied for schema {s}"))),
            },
            _ => {}
        }
        for id in &resolved.items {
            let Some(item) = catalog.get_by_id(*id) else { continue };
            match target {
                Some((t, _, false)) if t == *id => continue,
                _ => {}
            }
            // Names a DROP, GRANT or CREATE INDEX resolves are checked above as ownership; a
            // plain view's reads are checked when it is read, as its owner (PostgreSQL creates
            // it without looking).
            if matches!(
                plan,
                Plan::Drop(_) | Plan::Grant(_) | Plan::Revoke(_) | Plan::CreateIndex { .. } | Plan::CreateView { materialized: false, .. }
            ) {
                continue;
            }
            check_read(&access, catalog, role, *id, read_privilege(&item.kind))?;
        }
        if let Some((id, privilege, _)) = target {
            if !access.has(role, id, privilege) {
                let item = catalog.get_by_id(id);
                let (noun, name) = item.map_or(("table", String::new()), |i| (i.kind.noun(), i.name.clone()));
                return Err(denied(format!("permission denied for {noun} {name}")));
            }
        }
        Ok(())
    }

    /// Changes the role catalog durably: `change` edits a copy, which is stored and then
    /// becomes the catalog (a failure leaves both as they were).
    pub(crate) fn change_access<T>(&self, change: impl FnOnce(&mut Access) -> Result<T, RoleError>) -> Result<T, AdapterError> {
        let mut next = self.catalog.access.read().expect("access lock").clone();
        let out = change(&mut next)?;
        self.durable.put_access(&next.to_bytes())?;
        *self.catalog.access.write().expect("access lock") = next;
        Ok(out)
    }

    /// Records that `owner` created a new item.
    pub(crate) fn record_owner(&self, id: GlobalId, owner: &str) -> Result<(), AdapterError> {
        self.change_access(|a| {
            a.created(id, owner);
            Ok(())
        })
    }
}

impl Adapter {
    /// Whether clients must authenticate with a password (SCRAM-SHA-256).
    pub fn password_auth(&self) -> bool {
        self.access.read().expect("access lock").password_auth
    }

    /// The SCRAM verifier a login as `user` is checked against: a mock one, which no
    /// password matches, for users that do not exist, may not log in or have no password.
    pub fn login_verifier(&self, user: &str) -> Verifier {
        self.access.read().expect("access lock").login_verifier(user)
    }

    /// A new session for a client that connected as `user` (authenticated when passwords
    /// are on). Without authentication a user name that is no role connects as the bootstrap
    /// superuser, Riffle's zero-setup default on loopback.
    pub fn session_for(&self, user: Option<&str>) -> Session {
        let access = self.access.read().expect("access lock");
        match user.filter(|u| access.role(u).is_some()) {
            Some(u) => Session::for_role(u),
            None => Session::new(),
        }
    }

    /// CREATE/ALTER/DROP ROLE, GRANT, REVOKE and SET ROLE.
    pub(super) fn sequence_access(&self, coord: Guard<'_>, session: &mut Session, plan: Plan) -> Result<ExecuteResponse, AdapterError> {
        let by = session.current_user.clone();
        let tag = match plan {
            Plan::CreateRole(p) => {
                coord.change_access(|a| a.create_role(&by, &p))?;
                "CREATE ROLE"
            }
            Plan::AlterRole(p) => {
                coord.change_access(|a| a.alter_role(&by, &p))?;
                "ALTER ROLE"
            }
            Plan::DropRoles { names, if_exists } => {
                let in_use: BTreeSet<String> = [session.current_user.clone(), session.session_user.clone()].into();
                coord.change_access(|a| names.iter().try_for_each(|n| a.drop_role(&by, n, if_exists, &in_use)))?;
                "DROP ROLE"
            }
            Plan::Grant(g) => return grant(&coord, g, true),
            Plan::Revoke(g) => return grant(&coord, g, false),
            Plan::GrantRole(m) => {
                coord.change_access(|a| a.grant_membership(&by, &m.roles, &m.members, true))?;
                "GRANT ROLE"
            }
            Plan::RevokeRole(m) => {
                coord.change_access(|a| a.grant_membership(&by, &m.roles, &m.members, false))?;
                "REVOKE ROLE"
            }
            Plan::SetRole(role) => {
                let access = coord.catalog.access.read().expect("access lock");
                let role = role.unwrap_or_else(|| session.session_user.clone());
                if access.role(&role).is_none() {
                    return Err(AdapterError::UnknownRole(role));
                }
                if !access.is_member(&session.session_user, &role) {
                    return Err(denied(format!("permission denied to set role \"{role}\"")));
                }
                session.current_user = role;
                "SET"
            }
            other => return Err(AdapterError::Internal(format!("not a role statement: {other:?}"))),
        };
        Ok(command(tag))
    }
}

fn grant(coord: &Coordinator, g: GrantPlan, grant: bool) -> Result<ExecuteResponse, AdapterError> {
    coord.change_access(|a| match &g.target {
        GrantTarget::Items(items) => {
            let ids: Vec<GlobalId> = items.iter().map(|(id, _)| *id).collect();
            a.grant(&ids, &g.privileges, &g.grantees, grant)
        }
        // USAGE on `public` is everyone's already; CREATE is what is granted.
        GrantTarget::Schema(_) if g.privileges.contains(&Privilege::Create) => a.grant_schema_create(&g.grantees, grant),
        GrantTarget::Schema(_) => Ok(()),
    })?;
    Ok(command(if grant { "GRANT" } else { "REVOKE" }))
}
