//! Planning of role and privilege statements: CREATE/ALTER/DROP ROLE, GRANT and REVOKE (on
//! objects and of role membership), SET ROLE and SET SESSION AUTHORIZATION.
//!
//! The planner only shapes these statements; whether the roles exist, whether the session may
//! run them and what they change is the adapter's (its role catalog is not part of
//! [`crate::SessionCatalog`]). A password is carried to the adapter as given and never appears
//! in an error message.

use crate::plan::{object_name, Plan, Planner};
use crate::{ItemKind, PlanError};
use riffle_repr::GlobalId;
use sqlparser::ast;

/// A privilege on an object, by PostgreSQL's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Privilege {
    /// Read a relation (SELECT, COPY TO, SUBSCRIBE, a sink reading it).
    Select,
    /// Add rows (INSERT, COPY FROM).
    Insert,
    /// UPDATE rows.
    Update,
    /// DELETE rows.
    Delete,
    /// Use a model (`predict`, `embed`) or a connection (a source or sink through it).
    Usage,
    /// Create objects in a schema.
    Create,
}

impl Privilege {
    /// PostgreSQL's name of the privilege.
    pub fn name(self) -> &'static str {
        match self {
            Privilege::Select => "SELECT",
            Privilege::Insert => "INSERT",
            Privilege::Update => "UPDATE",
            Privilege::Delete => "DELETE",
            Privilege::Usage => "USAGE",
            Privilege::Create => "CREATE",
        }
    }

    /// The privileges `GRANT ALL` means on an object of this kind.
    pub fn all_for(kind: &ItemKind) -> &'static [Privilege] {
        match kind {
            ItemKind::Table(_) => &[Privilege::Select, Privilege::Insert, Privilege::Update, Privilege::Delete],
            ItemKind::Model(_) | ItemKind::Connection(_) => &[Privilege::Usage],
            _ => &[Privilege::Select],
        }
    }
}

/// CREATE ROLE or ALTER ROLE: the attributes the statement names (None: not named).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RolePlan {
    /// The role.
    pub name: String,
    /// `IF NOT EXISTS` (CREATE only).
    pub if_not_exists: bool,
    /// `[NO]SUPERUSER`.
    pub superuser: Option<bool>,
    /// `[NO]LOGIN` (CREATE USER implies LOGIN).
    pub login: Option<bool>,
    /// `[NO]CREATEROLE`.
    pub create_role: Option<bool>,
    /// `PASSWORD '…'` (Some(Some)) or `PASSWORD NULL` (Some(None)): the text as given, or a
    /// SCRAM verifier PostgreSQL-style (`SCRAM-SHA-256$…`).
    pub password: Option<Option<String>>,
    /// `IN ROLE r, …`: roles the new role becomes a member of.
    pub in_roles: Vec<String>,
}

/// What a GRANT or REVOKE of privileges is about.
#[derive(Clone, Debug, PartialEq)]
pub enum GrantTarget {
    /// Catalog items (tables, views, sources, models, connections), with their names.
    Items(Vec<(GlobalId, String)>),
    /// The schema `public` (`GRANT CREATE ON SCHEMA public`).
    Schema(String),
}

/// GRANT or REVOKE of privileges.
#[derive(Clone, Debug, PartialEq)]
pub struct GrantPlan {
    /// The privileges (ALL already expanded for the target's kind).
    pub privileges: Vec<Privilege>,
    /// Where.
    pub target: GrantTarget,
    /// To or from whom: role names, `public` for PUBLIC.
    pub grantees: Vec<String>,
}

/// GRANT or REVOKE of role membership (`GRANT pg_read_server_files TO alice`).
#[derive(Clone, Debug, PartialEq)]
pub struct MembershipPlan {
    /// The roles whose membership is granted.
    pub roles: Vec<String>,
    /// The roles that become (or stop being) members.
    pub members: Vec<String>,
}

/// A role's name as written: identifiers fold to lower case unless quoted.
fn role_name(ident: &ast::Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_ascii_lowercase(),
    }
}

fn object_role_name(name: &ast::ObjectName) -> Result<String, PlanError> {
    match name.0.as_slice() {
        [part] => part
            .as_ident()
            .map(role_name)
            .ok_or_else(|| PlanError::Syntax(format!("invalid role name {name}"))),
        _ => Err(PlanError::Syntax(format!("invalid role name {name}"))),
    }
}

fn grantee_names(grantees: &[ast::Grantee]) -> Result<Vec<String>, PlanError> {
    grantees
        .iter()
        .map(|g| match (&g.grantee_type, &g.name) {
            (ast::GranteesType::Public, _) => Ok("public".to_string()),
            (_, Some(ast::GranteeName::ObjectName(n))) => object_role_name(n),
            _ => Err(PlanError::Syntax(format!("invalid grantee {g}"))),
        })
        .collect()
}

/// The text of `PASSWORD '…'`, without ever echoing it in an error.
fn password(p: &ast::Password) -> Result<Option<String>, PlanError> {
    match p {
        ast::Password::NullPassword => Ok(None),
        ast::Password::Password(ast::Expr::Value(v)) => match &v.value {
            ast::Value::SingleQuotedString(s) => Ok(Some(s.clone())),
            ast::Value::Null => Ok(None),
            _ => Err(PlanError::Syntax("a password must be a string literal".into())),
        },
        ast::Password::Password(_) => Err(PlanError::Syntax("a password must be a string literal".into())),
    }
}

impl RolePlan {
    fn apply(&mut self, option: &ast::RoleOption) -> Result<(), PlanError> {
        match option {
            ast::RoleOption::SuperUser(b) => self.superuser = Some(*b),
            ast::RoleOption::Login(b) => self.login = Some(*b),
            ast::RoleOption::CreateRole(b) => self.create_role = Some(*b),
            ast::RoleOption::Password(p) => self.password = Some(password(p)?),
            // Accepted as PostgreSQL does, with no effect in Riffle (one database, no
            // replication, no row security).
            ast::RoleOption::Inherit(_)
            | ast::RoleOption::CreateDB(_)
            | ast::RoleOption::Replication(_)
            | ast::RoleOption::BypassRLS(_)
            | ast::RoleOption::ConnectionLimit(_) => {}
            ast::RoleOption::ValidUntil(_) => return Err(PlanError::unsupported("VALID UNTIL")),
        }
        Ok(())
    }
}

impl Planner<'_> {
    /// CREATE ROLE | USER.
    pub(crate) fn plan_create_role(&self, c: &ast::CreateRole) -> Result<Plan, PlanError> {
        let [name] = c.names.as_slice() else {
            return Err(PlanError::unsupported("CREATE ROLE with several names"));
        };
        if c.valid_until.is_some() {
            return Err(PlanError::unsupported("VALID UNTIL"));
        }
        if !c.role.is_empty() || !c.user.is_empty() || !c.admin.is_empty() {
            return Err(PlanError::unsupported("CREATE ROLE … ROLE/USER/ADMIN (use GRANT role TO member)"));
        }
        Ok(Plan::CreateRole(RolePlan {
            name: object_role_name(name)?,
            if_not_exists: c.if_not_exists,
            superuser: c.superuser,
            login: c.login,
            create_role: c.create_role,
            password: c.password.as_ref().map(password).transpose()?,
            in_roles: c.in_role.iter().chain(&c.in_group).map(role_name).collect(),
        }))
    }

    /// ALTER ROLE name [WITH] options.
    pub(crate) fn plan_alter_role(&self, name: &ast::Ident, op: &ast::AlterRoleOperation) -> Result<Plan, PlanError> {
        match op {
            ast::AlterRoleOperation::WithOptions { options } => {
                let mut plan = RolePlan {
                    name: role_name(name),
                    ..RolePlan::default()
                };
                for option in options {
                    plan.apply(option)?;
                }
                Ok(Plan::AlterRole(plan))
            }
            ast::AlterRoleOperation::RenameRole { .. } => Err(PlanError::unsupported("ALTER ROLE … RENAME")),
            _ => Err(PlanError::unsupported("ALTER ROLE with this clause")),
        }
    }

    /// GRANT privileges ON objects TO roles.
    pub(crate) fn plan_grant(
        &self,
        privileges: &ast::Privileges,
        objects: Option<&ast::GrantObjects>,
        grantees: &[ast::Grantee],
    ) -> Result<GrantPlan, PlanError> {
        let objects = objects.ok_or_else(|| PlanError::Syntax("GRANT needs ON".into()))?;
        let (target, kinds) = match objects {
            ast::GrantObjects::Schemas(names) => {
                let names: Vec<String> = names.iter().map(object_role_name).collect::<Result<_, _>>()?;
                match names.as_slice() {
                    [n] if n == "public" => (GrantTarget::Schema(n.clone()), None),
                    [n] => return Err(PlanError::UnknownObject("schema", n.clone())),
                    _ => return Err(PlanError::unsupported("GRANT on several schemas")),
                }
            }
            ast::GrantObjects::Tables(names) | ast::GrantObjects::Views(names) | ast::GrantObjects::Connections(names) => {
                let mut items = Vec::new();
                let mut kinds = Vec::new();
                for n in names {
                    let name = object_name(n)?;
                    let item = self.catalog.get(&name).ok_or_else(|| PlanError::UnknownRelation(name.clone()))?;
                    let is_connection = matches!(item.kind, ItemKind::Connection(_));
                    if is_connection != matches!(objects, ast::GrantObjects::Connections(_)) {
                        let wanted = if is_connection { "a table" } else { "a connection" };
                        return Err(PlanError::WrongObjectType(name, wanted));
                    }
                    kinds.push(item.kind.clone());
                    items.push((item.id, name));
                }
                (GrantTarget::Items(items), Some(kinds))
            }
            ast::GrantObjects::AllTablesInSchema { .. } => return Err(PlanError::unsupported("GRANT … ON ALL TABLES IN SCHEMA")),
            other => {
                return Err(PlanError::unsupported(format!(
                    "GRANT ON {}",
                    other.to_string().split_whitespace().next().unwrap_or("")
                )))
            }
        };
        let privileges = match (privileges, &kinds) {
            (ast::Privileges::All { .. }, None) => vec![Privilege::Usage, Privilege::Create],
            (ast::Privileges::All { .. }, Some(kinds)) => {
                let mut all: Vec<Privilege> = kinds.iter().flat_map(|k| Privilege::all_for(k).iter().copied()).collect();
                all.sort();
                all.dedup();
                all
            }
            (ast::Privileges::Actions(actions), kinds) => {
                let mut out = Vec::new();
                for a in actions {
                    let p = match a {
                        ast::Action::Select { columns: None } => Privilege::Select,
                        ast::Action::Insert { columns: None } => Privilege::Insert,
                        ast::Action::Update { columns: None } => Privilege::Update,
                        ast::Action::Delete => Privilege::Delete,
                        ast::Action::Usage => Privilege::Usage,
                        ast::Action::Create { .. } => Privilege::Create,
                        ast::Action::Select { .. } | ast::Action::Insert { .. } | ast::Action::Update { .. } => {
                            return Err(PlanError::unsupported("column privileges"))
                        }
                        other => return Err(PlanError::unsupported(format!("the privilege {other}"))),
                    };
                    // The privilege must exist for the object's kind (PostgreSQL's 0LP01).
                    let fits = match kinds {
                        None => matches!(p, Privilege::Usage | Privilege::Create),
                        Some(kinds) => kinds.iter().all(|k| match k {
                            ItemKind::Table(_) => !matches!(p, Privilege::Usage | Privilege::Create),
                            ItemKind::Model(_) | ItemKind::Connection(_) => p == Privilege::Usage,
                            _ => p == Privilege::Select,
                        }),
                    };
                    if !fits {
                        return Err(PlanError::InvalidGrant(format!(
                            "invalid privilege type {} for this object",
                            p.name()
                        )));
                    }
                    out.push(p);
                }
                out
            }
        };
        Ok(GrantPlan {
            privileges,
            target,
            grantees: grantee_names(grantees)?,
        })
    }

    /// GRANT | REVOKE role, … TO | FROM member, ….
    pub(crate) fn plan_membership(&self, roles: &[ast::Ident], grantees: &[ast::Grantee]) -> Result<MembershipPlan, PlanError> {
        Ok(MembershipPlan {
            roles: roles.iter().map(role_name).collect(),
            members: grantee_names(grantees)?,
        })
    }

    /// The role names of DROP ROLE.
    pub(crate) fn role_names(&self, names: &[ast::ObjectName]) -> Result<Vec<String>, PlanError> {
        names.iter().map(object_role_name).collect()
    }
}

/// SET ROLE name | NONE, SET SESSION AUTHORIZATION name | DEFAULT: the role, None to go back
/// to the session's own.
pub(crate) fn set_role(role: Option<&ast::Ident>) -> Plan {
    Plan::SetRole(role.map(role_name).filter(|r| r != "none"))
}
