//! Roles and privileges: PostgreSQL's model, kept in the durable catalog.
//!
//! [`Access`] holds every role (its attributes, memberships and SCRAM verifier), the owner and
//! grants of every catalog item, and who may create in schema `public`. It is stored whole, as
//! one JSON document under the durable store's access key, each time it changes (it is small:
//! one entry per role and per object), and read back at startup.
//!
//! The rules, as PostgreSQL 15's:
//! - A superuser may do anything. Otherwise a role holds a privilege on an object when it owns
//!   it, or the privilege was granted to it, to a role it is a member of (transitively), or to
//!   PUBLIC.
//! - Creating objects in `public` needs CREATE on the schema, which only superusers have until
//!   it is granted. The creator owns what it creates; only an owner (or a member of the owner)
//!   may drop, index or grant on it.
//! - `pg_read_server_files` and `pg_write_server_files` are predefined roles whose members may
//!   read and write server files (COPY, CREATE MODEL FROM).
//!
//! The coordinator decides what a statement needs (`coord::authorize`); this module answers
//! whether a role has it. The pgwire layer reads verifiers from here (through the adapter) to
//! authenticate.

use crate::scram::Verifier;
use riffle_repr::{ColumnType, Datum, GlobalId, RelationDesc, Row, ScalarType};
use riffle_sql::Privilege;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The bootstrap superuser, created with every data directory.
pub const BOOTSTRAP_SUPERUSER: &str = "riffle";
/// Members may read server files.
pub const READ_SERVER_FILES: &str = "pg_read_server_files";
/// Members may write server files.
pub const WRITE_SERVER_FILES: &str = "pg_write_server_files";
/// The pseudo-role every role belongs to (`GRANT … TO PUBLIC`).
pub const PUBLIC: &str = "public";
/// Role names a statement may not create (PostgreSQL reserves the `pg_` prefix too).
const RESERVED: &[&str] = &[PUBLIC, "none", "current_user", "session_user", "current_role"];

/// A role.
#[derive(Clone, Serialize, Deserialize)]
pub struct Role {
    /// The OID catalogs show (`pg_roles.oid`).
    pub oid: u32,
    /// Bypasses every privilege check.
    pub superuser: bool,
    /// May connect.
    pub login: bool,
    /// May create, alter and drop roles that are not superusers.
    pub create_role: bool,
    /// The SCRAM verifier (PostgreSQL's text form); None: no password, so no password login.
    pub verifier: Option<String>,
    /// Roles this one is a member of (and so holds the privileges of).
    pub member_of: BTreeSet<String>,
    /// Predefined (the bootstrap superuser and `pg_*` roles): cannot be dropped.
    pub builtin: bool,
}

impl std::fmt::Debug for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Role")
            .field("oid", &self.oid)
            .field("superuser", &self.superuser)
            .field("login", &self.login)
            .field("has_password", &self.verifier.is_some())
            .finish_non_exhaustive()
    }
}

/// An object's owner and grants.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Acl {
    /// The owning role.
    pub owner: String,
    /// Privileges granted, by grantee (`public` for PUBLIC), by PostgreSQL's name.
    pub grants: BTreeMap<String, BTreeSet<String>>,
}

/// Every role and every object's privileges.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Access {
    roles: BTreeMap<String, Role>,
    acls: BTreeMap<GlobalId, Acl>,
    /// Roles granted CREATE on schema `public` (`public` for PUBLIC).
    schema_create: BTreeSet<String>,
    /// Clients must authenticate with a password (set when the data directory was
    /// initialised, or first started, with a bootstrap password; never unset).
    pub password_auth: bool,
    next_oid: u32,
    /// Random bytes of this data directory: the mock salts of unknown users derive from them.
    #[serde(default)]
    secret: Vec<u8>,
}

/// Why a role statement was refused.
#[derive(Debug)]
pub enum RoleError {
    /// `role "x" does not exist` (42704).
    Unknown(String),
    /// `role "x" already exists` (42710).
    Exists(String),
    /// Objects or grants depend on it (2BP01).
    Dependents(String),
    /// 42501 with PostgreSQL's message.
    Denied(String),
    /// A name PostgreSQL reserves (42939).
    Reserved(String),
}

impl Access {
    /// A fresh data directory's roles: the bootstrap superuser (with `password`'s verifier if
    /// given, which turns password authentication on) and the predefined roles.
    pub fn bootstrap(password: Option<&str>) -> Access {
        let mut secret = vec![0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret).expect("random source");
        let mut access = Access {
            roles: BTreeMap::new(),
            acls: BTreeMap::new(),
            schema_create: BTreeSet::new(),
            password_auth: false,
            next_oid: 16_384,
            secret,
        };
        let role = |oid, superuser, login| Role {
            oid,
            superuser,
            login,
            create_role: superuser,
            verifier: None,
            member_of: BTreeSet::new(),
            builtin: true,
        };
        // PostgreSQL's OIDs: the bootstrap superuser is 10, the predefined roles 43xx.
        access.roles.insert(BOOTSTRAP_SUPERUSER.into(), role(10, true, true));
        access.roles.insert(READ_SERVER_FILES.into(), role(4569, false, false));
        access.roles.insert(WRITE_SERVER_FILES.into(), role(4570, false, false));
        if let Some(p) = password {
            access.set_bootstrap_password(p);
        }
        access
    }

    /// Gives the bootstrap superuser a password and turns password authentication on.
    pub fn set_bootstrap_password(&mut self, password: &str) {
        if let Some(r) = self.roles.get_mut(BOOTSTRAP_SUPERUSER) {
            r.verifier = Some(Verifier::new(password).to_text());
        }
        self.password_auth = true;
    }

    /// Reads the stored form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Access, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("the role catalog is unreadable: {e}"))
    }

    /// The stored form.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("roles serialize")
    }

    /// A role by name.
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }

    /// Every role, by name.
    pub fn roles(&self) -> impl Iterator<Item = (&String, &Role)> {
        self.roles.iter()
    }

    /// The verifier a login as `user` is checked against: the role's, or — for an unknown
    /// user, a role that may not log in or one without a password — a mock one no password
    /// matches, so that every failure looks alike (28P01).
    pub fn login_verifier(&self, user: &str) -> Verifier {
        self.roles
            .get(user)
            .filter(|r| r.login)
            .and_then(|r| r.verifier.as_deref())
            .and_then(Verifier::parse)
            .unwrap_or_else(|| Verifier::mock(user, &self.secret))
    }

    /// Whether `role` is a superuser.
    pub fn is_superuser(&self, role: &str) -> bool {
        self.roles.get(role).is_some_and(|r| r.superuser)
    }

    /// Whether `role` is `of` or a member of it, directly or through other roles
    /// (superusers are members of every role, as in PostgreSQL's privilege checks).
    pub fn is_member(&self, role: &str, of: &str) -> bool {
        of == PUBLIC || self.is_superuser(role) || self.is_member_strict(role, of)
    }

    /// The owner of an item (items from before roles existed belong to the bootstrap
    /// superuser).
    pub fn owner(&self, id: GlobalId) -> &str {
        self.acls.get(&id).map_or(BOOTSTRAP_SUPERUSER, |a| a.owner.as_str())
    }

    /// Whether `role` owns the item (or is a member of its owner).
    pub fn owns(&self, role: &str, id: GlobalId) -> bool {
        self.is_member(role, self.owner(id))
    }

    /// Whether `role` holds `privilege` on the item.
    pub fn has(&self, role: &str, id: GlobalId, privilege: Privilege) -> bool {
        if self.owns(role, id) {
            return true;
        }
        self.acls.get(&id).is_some_and(|acl| {
            acl.grants
                .iter()
                .any(|(grantee, privs)| privs.contains(privilege.name()) && self.is_member(role, grantee))
        })
    }

    /// Whether `role` may create objects in schema `public`.
    pub fn may_create(&self, role: &str) -> bool {
        self.is_superuser(role) || self.schema_create.iter().any(|g| self.is_member(role, g))
    }

    /// Records a new item's owner (replacing whatever an earlier item of the same id left).
    pub fn created(&mut self, id: GlobalId, owner: &str) {
        self.acls.insert(
            id,
            Acl {
                owner: owner.to_string(),
                grants: BTreeMap::new(),
            },
        );
    }

    /// Forgets dropped items.
    pub fn dropped(&mut self, ids: &[GlobalId]) {
        for id in ids {
            self.acls.remove(id);
        }
    }

    /// GRANT (`grant` true) or REVOKE of privileges on items.
    pub fn grant(&mut self, ids: &[GlobalId], privileges: &[Privilege], grantees: &[String], grant: bool) -> Result<(), RoleError> {
        self.known(grantees)?;
        for id in ids {
            let acl = self.acls.entry(*id).or_insert_with(|| Acl {
                owner: BOOTSTRAP_SUPERUSER.into(),
                grants: BTreeMap::new(),
            });
            for g in grantees {
                let privs = acl.grants.entry(g.clone()).or_default();
                for p in privileges {
                    if grant {
                        privs.insert(p.name().to_string());
                    } else {
                        privs.remove(p.name());
                    }
                }
                if privs.is_empty() {
                    acl.grants.remove(g);
                }
            }
        }
        Ok(())
    }

    /// GRANT or REVOKE CREATE on schema `public`.
    pub fn grant_schema_create(&mut self, grantees: &[String], grant: bool) -> Result<(), RoleError> {
        self.known(grantees)?;
        for g in grantees {
            if grant {
                self.schema_create.insert(g.clone());
            } else {
                self.schema_create.remove(g);
            }
        }
        Ok(())
    }

    fn known(&self, names: &[String]) -> Result<(), RoleError> {
        match names.iter().find(|n| *n != PUBLIC && !self.roles.contains_key(*n)) {
            Some(n) => Err(RoleError::Unknown(n.clone())),
            None => Ok(()),
        }
    }

    /// CREATE ROLE by `by`.
    pub fn create_role(&mut self, by: &str, plan: &riffle_sql::RolePlan) -> Result<bool, RoleError> {
        self.may_manage(by, plan.superuser == Some(true), "create role")?;
        if self.roles.contains_key(&plan.name) {
            return if plan.if_not_exists {
                Ok(false)
            } else {
                Err(RoleError::Exists(plan.name.clone()))
            };
        }
        if RESERVED.contains(&plan.name.as_str()) || plan.name.starts_with("pg_") {
            return Err(RoleError::Reserved(plan.name.clone()));
        }
        self.known(&plan.in_roles)?;
        let oid = self.next_oid;
        self.next_oid += 1;
        let role = Role {
            oid,
            superuser: plan.superuser.unwrap_or(false),
            login: plan.login.unwrap_or(false),
            create_role: plan.create_role.unwrap_or(false),
            verifier: plan.password.clone().flatten().map(|p| Verifier::from_statement(&p).to_text()),
            member_of: plan.in_roles.iter().cloned().collect(),
            builtin: false,
        };
        self.roles.insert(plan.name.clone(), role);
        Ok(true)
    }

    /// ALTER ROLE by `by`: a role may change its own password; other changes need
    /// CREATEROLE (and superuser for superusers).
    pub fn alter_role(&mut self, by: &str, plan: &riffle_sql::RolePlan) -> Result<(), RoleError> {
        let target = self.roles.get(&plan.name).ok_or_else(|| RoleError::Unknown(plan.name.clone()))?;
        let own_password_only =
            by == plan.name && plan.superuser.is_none() && plan.login.is_none() && plan.create_role.is_none() && plan.in_roles.is_empty();
        if !own_password_only {
            self.may_manage(by, target.superuser || plan.superuser == Some(true), "alter role")?;
        }
        let role = self.roles.get_mut(&plan.name).expect("checked above");
        if let Some(s) = plan.superuser {
            role.superuser = s;
        }
        if let Some(l) = plan.login {
            role.login = l;
        }
        if let Some(c) = plan.create_role {
            role.create_role = c;
        }
        if let Some(p) = &plan.password {
            role.verifier = p.as_deref().map(|p| Verifier::from_statement(p).to_text());
        }
        Ok(())
    }

    /// DROP ROLE by `by`: refused while the role owns objects, holds grants, or is in use by
    /// `session_roles` (the roles sessions act as).
    pub fn drop_role(&mut self, by: &str, name: &str, if_exists: bool, in_use: &BTreeSet<String>) -> Result<(), RoleError> {
        let Some(target) = self.roles.get(name) else {
            return if if_exists {
                Ok(())
            } else {
                Err(RoleError::Unknown(name.to_string()))
            };
        };
        self.may_manage(by, target.superuser, "drop role")?;
        if target.builtin {
            return Err(RoleError::Reserved(name.to_string()));
        }
        if in_use.contains(name) {
            return Err(RoleError::Denied(format!(
                "current user cannot be dropped: role \"{name}\" is in use by a session"
            )));
        }
        let owns = self.acls.values().any(|a| a.owner == name);
        let granted = self.acls.values().any(|a| a.grants.contains_key(name)) || self.schema_create.contains(name);
        if owns || granted {
            return Err(RoleError::Dependents(name.to_string()));
        }
        self.roles.remove(name);
        for r in self.roles.values_mut() {
            r.member_of.remove(name);
        }
        Ok(())
    }

    /// GRANT (`grant` true) or REVOKE role membership, by `by`.
    pub fn grant_membership(&mut self, by: &str, roles: &[String], members: &[String], grant: bool) -> Result<(), RoleError> {
        self.known(roles)?;
        self.known(members)?;
        for r in roles {
            let superuser = self.is_superuser(r);
            self.may_manage(by, superuser, &format!("grant role \"{r}\""))?;
            for m in members {
                if grant && self.is_member_strict(r, m) {
                    return Err(RoleError::Denied(format!("role \"{m}\" is a member of role \"{r}\"")));
                }
                let member = self.roles.get_mut(m).expect("checked by known");
                if grant {
                    member.member_of.insert(r.clone());
                } else {
                    member.member_of.remove(r);
                }
            }
        }
        Ok(())
    }

    /// Membership through `member_of` alone, without the superuser and PUBLIC shortcuts (also
    /// what refuses membership loops).
    fn is_member_strict(&self, role: &str, of: &str) -> bool {
        let mut todo = vec![role.to_string()];
        let mut seen = BTreeSet::new();
        while let Some(r) = todo.pop() {
            if r == of {
                return true;
            }
            if seen.insert(r.clone()) {
                todo.extend(self.roles.get(&r).into_iter().flat_map(|x| x.member_of.iter().cloned()));
            }
        }
        false
    }

    /// Superusers manage every role; CREATEROLE roles manage roles that are not superusers.
    fn may_manage(&self, by: &str, superuser_target: bool, what: &str) -> Result<(), RoleError> {
        let Some(r) = self.roles.get(by) else {
            return Err(RoleError::Denied(format!("permission denied to {what}")));
        };
        if r.superuser || (r.create_role && !superuser_target) {
            Ok(())
        } else {
            Err(RoleError::Denied(format!("permission denied to {what}")))
        }
    }
}

impl Default for Access {
    /// A data directory's roles before any password: see [`Access::bootstrap`].
    fn default() -> Self {
        Access::bootstrap(None)
    }
}

/// `pg_roles`, `pg_authid`, `pg_user` and `pg_auth_members`, if `name` is one of them. Only
/// `pg_authid` shows verifiers; the coordinator lets only superusers read it.
pub fn catalog_rows(access: &Access, name: &str) -> Option<(RelationDesc, Vec<Row>)> {
    use ScalarType::{Bool, Int32, Int64, String as Text, TimestampTz};
    let desc = |cols: &[(&str, ScalarType)]| {
        cols.iter().fold(RelationDesc::empty(), |d, (n, t)| {
            d.with_column(*n, ColumnType::nullable(t.clone()))
        })
    };
    let text = |s: &str| Datum::String(s.to_string());
    let masked = |r: &Role| if r.verifier.is_some() { text("********") } else { Datum::Null };
    match name {
        "pg_roles" | "pg_authid" => {
            let authid = name == "pg_authid";
            let mut cols = vec![
                ("oid", Int64),
                ("rolname", Text),
                ("rolsuper", Bool),
                ("rolinherit", Bool),
                ("rolcreaterole", Bool),
                ("rolcreatedb", Bool),
                ("rolcanlogin", Bool),
                ("rolreplication", Bool),
                ("rolbypassrls", Bool),
                ("rolconnlimit", Int32),
                ("rolpassword", Text),
                ("rolvaliduntil", TimestampTz),
            ];
            if !authid {
                cols.push(("rolconfig", Text));
            }
            let rows = access
                .roles()
                .map(|(n, r)| {
                    let mut row = vec![
                        Datum::Int64(r.oid as i64),
                        text(n),
                        Datum::Bool(r.superuser),
                        Datum::Bool(true),
                        Datum::Bool(r.create_role),
                        Datum::Bool(r.superuser),
                        Datum::Bool(r.login),
                        Datum::Bool(false),
                        Datum::Bool(r.superuser),
                        Datum::Int32(-1),
                        if authid {
                            r.verifier.as_deref().map_or(Datum::Null, text)
                        } else {
                            masked(r)
                        },
                        Datum::Null,
                    ];
                    if !authid {
                        row.push(Datum::Null);
                    }
                    Row::new(row)
                })
                .collect();
            Some((desc(&cols), rows))
        }
        "pg_user" => Some((
            desc(&[
                ("usename", Text),
                ("usesysid", Int64),
                ("usecreatedb", Bool),
                ("usesuper", Bool),
                ("userepl", Bool),
                ("usebypassrls", Bool),
                ("passwd", Text),
                ("valuntil", TimestampTz),
                ("useconfig", Text),
            ]),
            access
                .roles()
                .filter(|(_, r)| r.login)
                .map(|(n, r)| {
                    Row::new(vec![
                        text(n),
                        Datum::Int64(r.oid as i64),
                        Datum::Bool(r.superuser),
                        Datum::Bool(r.superuser),
                        Datum::Bool(false),
                        Datum::Bool(r.superuser),
                        text("********"),
                        Datum::Null,
                        Datum::Null,
                    ])
                })
                .collect(),
        )),
        "pg_auth_members" => Some((
            desc(&[("roleid", Int64), ("member", Int64), ("grantor", Int64), ("admin_option", Bool)]),
            access
                .roles()
                .flat_map(|(_, member)| {
                    member.member_of.iter().filter_map(move |of| {
                        let of = access.role(of)?;
                        Some(Row::new(vec![
                            Datum::Int64(of.oid as i64),
                            Datum::Int64(member.oid as i64),
                            Datum::Int64(10),
                            Datum::Bool(false),
                        ]))
                    })
                })
                .collect(),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use riffle_sql::RolePlan;

    fn plan(name: &str) -> RolePlan {
        RolePlan {
            name: name.into(),
            login: Some(true),
            ..RolePlan::default()
        }
    }

    #[test]
    fn privileges_follow_grants_membership_and_ownership() {
        let mut a = Access::bootstrap(None);
        a.create_role("riffle", &plan("alice")).unwrap();
        a.create_role("riffle", &plan("bob")).unwrap();
        a.create_role("riffle", &plan("readers")).unwrap();
        let t = GlobalId(7);
        a.created(t, "alice");
        assert!(a.has("alice", t, Privilege::Delete));
        assert!(!a.has("bob", t, Privilege::Select));
        a.grant(&[t], &[Privilege::Select], &["readers".into()], true).unwrap();
        assert!(!a.has("bob", t, Privilege::Select));
        a.grant_membership("riffle", &["readers".into()], &["bob".into()], true).unwrap();
        assert!(a.has("bob", t, Privilege::Select));
        assert!(!a.has("bob", t, Privilege::Insert));
        a.grant(&[t], &[Privilege::Insert], &[PUBLIC.into()], true).unwrap();
        assert!(a.has("bob", t, Privilege::Insert));
        a.grant(&[t], &[Privilege::Insert], &[PUBLIC.into()], false).unwrap();
        assert!(!a.has("bob", t, Privilege::Insert));
        assert!(a.has("riffle", t, Privilege::Update));
        assert!(!a.owns("bob", t));
        // Loops are refused; dependents block DROP ROLE.
        assert!(a.grant_membership("riffle", &["bob".into()], &["readers".into()], true).is_err());
        assert!(matches!(
            a.drop_role("riffle", "alice", false, &BTreeSet::new()),
            Err(RoleError::Dependents(_))
        ));
        assert!(matches!(
            a.drop_role("bob", "readers", false, &BTreeSet::new()),
            Err(RoleError::Denied(_))
        ));
        a.dropped(&[t]);
        a.drop_role("riffle", "alice", false, &BTreeSet::new()).unwrap();
        assert!(a.role("alice").is_none());
    }

    #[test]
    fn passwords_are_stored_as_verifiers() {
        let mut a = Access::bootstrap(Some("boot"));
        assert!(a.password_auth);
        let mut p = plan("carol");
        p.password = Some(Some("hunter2".into()));
        a.create_role("riffle", &p).unwrap();
        let stored = String::from_utf8(a.to_bytes()).unwrap();
        assert!(!stored.contains("hunter2") && !stored.contains("boot\""));
        assert!(a.login_verifier("carol").matches("hunter2"));
        assert!(a.login_verifier("riffle").matches("boot"));
        // Unknown users and roles without LOGIN get a verifier nothing matches.
        assert!(!a.login_verifier("nobody").matches(""));
        assert!(!a.login_verifier(READ_SERVER_FILES).matches(""));
        let back = Access::from_bytes(&a.to_bytes()).unwrap();
        assert!(back.login_verifier("carol").matches("hunter2"));
        // A role may change its own password but not make itself a superuser.
        let mut own = RolePlan {
            name: "carol".into(),
            password: Some(Some("new".into())),
            ..RolePlan::default()
        };
        a.alter_role("carol", &own).unwrap();
        assert!(a.login_verifier("carol").matches("new"));
        own.superuser = Some(true);
        assert!(a.alter_role("carol", &own).is_err());
    }
}
