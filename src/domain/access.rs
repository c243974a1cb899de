//! The one access policy: what a signed-in user may see and do. The read layer
//! (`crate::read`) and the services ask here and nowhere else. Rights are computed per
//! request from the database, never cached in a session.
//!
//! The rules are one table, [`Grant`]: each way of holding rights says, in one `match`
//! arm each, which account rows it covers (`covers`, decided row by row) and the same as an
//! SQL condition on the accounts table (`condition`). Every other question — rights on a
//! row, the accounts with a permission, rights over a family — is a fold over the
//! viewer's grants, so the Rust decision and the SQL selection cannot drift apart (a
//! property test, `tests/api/policy.rs`, holds them equal on random families).
//!
//! - Staff see and do everything.
//! - A login's home account: its users have every right on it and, if it is a main
//!   account, on every secondary of its family ("the owner has every right").
//! - A group member has the group's permissions on the accounts in that group that belong
//!   to the group's own family.
//! - Nothing else is visible: other ids answer exactly like missing ones.
//! - Link requests have two sides: the requesting side holds MANAGE_ACCOUNTS over the
//!   requesting family, the deciding side holds MANAGE_ACCOUNTS on the account asked for
//!   ([`Viewer::link_request_sides`], and as SQL [`Viewer::link_requests_visible`]).

use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter};

use crate::entity::enums::AccountStatus;
use crate::entity::{account, group, group_member, link_request, user};
use crate::error::AppResult;

/// A right on an account (DOMAIN.md, "Groups and rights").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum Permission {
    /// See the account's invoices, open items and downloads.
    ViewInvoices,
    /// Pay the account's invoices.
    PayInvoices,
    /// Change the account's settings (call forwarding, paperless billing, notifications).
    ManageSettings,
    /// Link, order, rename, regroup and detach accounts of the family.
    ManageAccounts,
    /// Create, change and delete groups, and invite users.
    ManageGroups,
}

impl Permission {
    pub const ALL: [Permission; 5] = [
        Permission::ViewInvoices,
        Permission::PayInvoices,
        Permission::ManageSettings,
        Permission::ManageAccounts,
        Permission::ManageGroups,
    ];

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ViewInvoices => "VIEW_INVOICES",
            Permission::PayInvoices => "PAY_INVOICES",
            Permission::ManageSettings => "MANAGE_SETTINGS",
            Permission::ManageAccounts => "MANAGE_ACCOUNTS",
            Permission::ManageGroups => "MANAGE_GROUPS",
        }
    }
}

/// A set of permissions; `SEE` is the empty set that still makes an account visible.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rights {
    visible: bool,
    bits: u8,
}

impl Rights {
    pub const NONE: Rights = Rights { visible: false, bits: 0 };
    pub const FULL: Rights = Rights { visible: true, bits: 0b1_1111 };

    pub fn of(permissions: &[Permission]) -> Rights {
        Rights { visible: true, bits: permissions.iter().fold(0, |acc, p| acc | p.bit()) }
    }

    pub fn visible(self) -> bool {
        self.visible
    }

    pub fn has(self, permission: Permission) -> bool {
        self.visible && self.bits & permission.bit() != 0
    }

    /// Every permission this set holds.
    pub fn permissions(self) -> Vec<Permission> {
        Permission::ALL.into_iter().filter(|p| self.has(*p)).collect()
    }

    pub fn union(self, other: Rights) -> Rights {
        Rights { visible: self.visible || other.visible, bits: self.bits | other.bits }
    }
}

/// Stored form of a permission set: comma-separated names.
pub fn permissions_to_text(permissions: &[Permission]) -> String {
    let mut names: Vec<&str> = Permission::ALL.iter().filter(|p| permissions.contains(p)).map(|p| p.as_str()).collect();
    names.dedup();
    names.join(",")
}

pub fn permissions_from_text(text: &str) -> Vec<Permission> {
    Permission::ALL.into_iter().filter(|p| text.split(',').any(|name| name == p.as_str())).collect()
}

/// Where an account sits in the hierarchy: all the policy needs of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub group_id: Option<i64>,
}

impl From<&account::Model> for Place {
    fn from(a: &account::Model) -> Place {
        Place { id: a.id, parent_id: a.parent_id, group_id: a.group_id }
    }
}

/// The rule table: one way a viewer holds rights on accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Staff: every account, every right.
    Staff,
    /// The users of an active home account own it and, if it is a main account, its
    /// secondaries: every right.
    Owner { home: i64 },
    /// A member of a group: the group's rights on the accounts in that group, as long as
    /// they are in the group's own family (a detached account's group is cleared; this
    /// is the second line of defence).
    Member { group: i64, main: i64, rights: Rights },
}

impl Grant {
    /// The rights this grant gives on the accounts it covers.
    pub fn rights(self) -> Rights {
        match self {
            Grant::Staff | Grant::Owner { .. } => Rights::FULL,
            Grant::Member { rights, .. } => Rights { visible: true, ..rights },
        }
    }

    /// Row by row: does this grant cover the account?
    pub fn covers(self, a: Place) -> bool {
        match self {
            Grant::Staff => true,
            Grant::Owner { home } => a.id == home || a.parent_id == Some(home),
            Grant::Member { group, main, .. } => {
                a.group_id == Some(group) && (a.id == main || a.parent_id == Some(main))
            }
        }
    }

    /// The same as an SQL condition on the accounts table.
    pub fn condition(self) -> Condition {
        match self {
            Grant::Staff => Condition::all(),
            Grant::Owner { home } => {
                Condition::any().add(account::Column::Id.eq(home)).add(account::Column::ParentId.eq(home))
            }
            Grant::Member { group, main, .. } => Condition::all()
                .add(account::Column::GroupId.eq(group))
                .add(Condition::any().add(account::Column::Id.eq(main)).add(account::Column::ParentId.eq(main))),
        }
    }

    /// The rights this grant gives over a whole family (managing it and its groups).
    pub fn rights_on_family(self, main_account_id: i64) -> Rights {
        match self {
            Grant::Staff => Rights::FULL,
            Grant::Owner { home } if home == main_account_id => Rights::FULL,
            Grant::Member { main, .. } if main == main_account_id => self.rights(),
            _ => Rights::NONE,
        }
    }
}

/// Which link requests a list shows: those the viewer's families sent, those asking for
/// accounts the viewer decides on, or (when not given) both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum LinkRequestDirection {
    /// Requests asking to link an account you manage into another family: yours to decide.
    Incoming,
    /// Requests your families sent.
    Outgoing,
}

/// The viewer's part in one link request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkRequestSides {
    /// Holds MANAGE_ACCOUNTS over the requesting family: may see and cancel it.
    pub requesting: bool,
    /// Holds MANAGE_ACCOUNTS on the account asked for: may see, accept and decline it.
    pub deciding: bool,
}

impl LinkRequestSides {
    pub fn any(self) -> bool {
        self.requesting || self.deciding
    }
}

/// Who is asking, and what they may do. Built once per request.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: user::Model,
    /// The home account if it is active: its users own it (and its family, if it is a main).
    pub home_account_id: Option<i64>,
    /// Every grant the viewer holds (the rule table applied to this user).
    grants: Vec<Grant>,
}

impl Viewer {
    /// Loads a user's grants: their active home account and their group memberships.
    pub async fn load(db: &impl ConnectionTrait, user: user::Model) -> AppResult<Viewer> {
        let home_account_id = match user.home_account_id {
            Some(id) => account::Entity::find_by_id(id)
                .filter(account::Column::Status.eq(AccountStatus::Active))
                .one(db)
                .await?
                .map(|a| a.id),
            None => None,
        };
        let memberships = group::Entity::find()
            .filter(
                group::Column::Id.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(group_member::Column::GroupId)
                        .from(group_member::Entity)
                        .and_where(group_member::Column::UserId.eq(user.id))
                        .to_owned(),
                ),
            )
            .all(db)
            .await?;
        let memberships = memberships.into_iter().map(|g| (g.id, g.main_account_id, g.permissions)).collect();
        Ok(Viewer::from_grants(user, home_account_id, memberships))
    }

    /// A viewer from its grants: the active home account, if any, and its group
    /// memberships as (group id, the group's main account, permissions text).
    pub fn from_grants(
        user: user::Model,
        home_account_id: Option<i64>,
        memberships: Vec<(i64, i64, String)>,
    ) -> Viewer {
        let mut grants = Vec::new();
        if user.is_staff {
            grants.push(Grant::Staff);
        }
        if let Some(home) = home_account_id {
            grants.push(Grant::Owner { home });
        }
        let mut memberships = memberships;
        memberships.sort_unstable();
        for (group, main, text) in memberships {
            grants.push(Grant::Member { group, main, rights: Rights::of(&permissions_from_text(&text)) });
        }
        Viewer { user, home_account_id, grants }
    }

    pub fn is_staff(&self) -> bool {
        self.user.is_staff
    }

    /// The grants this viewer holds.
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// True when the viewer is a member of the group.
    pub fn is_member_of(&self, group_id: i64) -> bool {
        self.grants.iter().any(|g| matches!(g, Grant::Member { group, .. } if *group == group_id))
    }

    /// The viewer's rights on an account where it sits now.
    pub fn rights_at(&self, place: Place) -> Rights {
        self.grants.iter().filter(|g| g.covers(place)).fold(Rights::NONE, |acc, g| acc.union(g.rights()))
    }

    /// The viewer's rights on one account, from the columns every account row carries.
    pub fn rights_on(&self, account: &account::Model) -> Rights {
        self.rights_at(Place::from(account))
    }

    pub fn can_see(&self, account: &account::Model) -> bool {
        self.rights_on(account).visible()
    }

    /// Rights over a whole family as its main account's owner, needed to manage groups
    /// and the family itself. Group members get the union of their groups' rights there.
    pub fn rights_on_family(&self, main: &account::Model) -> Rights {
        self.rights_on_family_of(main.id)
    }

    /// The same, by the main account's id (no row needed).
    pub fn rights_on_family_of(&self, main_account_id: i64) -> Rights {
        self.grants.iter().fold(Rights::NONE, |acc, g| acc.union(g.rights_on_family(main_account_id)))
    }

    /// True when the viewer owns the main account's family (or is staff).
    pub fn owns_family(&self, main_account_id: i64) -> bool {
        self.grants.iter().any(|g| match g {
            Grant::Staff => true,
            Grant::Owner { home } => *home == main_account_id,
            Grant::Member { .. } => false,
        })
    }

    /// True when the viewer may manage the account itself: its enrollment token is theirs
    /// to see (printed on its PDFs). Staff, its owner (or its family's owner), and users
    /// with MANAGE_ACCOUNTS on it or on its family.
    pub fn may_manage(&self, account: &account::Model) -> bool {
        let family_main = account.parent_id.unwrap_or(account.id);
        self.rights_on(account).has(Permission::ManageAccounts)
            || self.rights_on_family_of(family_main).has(Permission::ManageAccounts)
    }

    /// The main accounts over whose families the viewer holds `permission` (what
    /// `rights_on_family_of(..).has(permission)` decides); None for every family (staff).
    pub fn families_with(&self, permission: Permission) -> Option<Vec<i64>> {
        let mut mains = Vec::new();
        for grant in &self.grants {
            match *grant {
                Grant::Staff => return None,
                Grant::Owner { home } => mains.push(home),
                Grant::Member { main, rights, .. } if rights.has(permission) => mains.push(main),
                Grant::Member { .. } => {}
            }
        }
        mains.sort_unstable();
        mains.dedup();
        Some(mains)
    }

    /// The viewer's part in a link request from the family of `main_account_id` for
    /// `target` (None when the customer number named no account: only the requesting
    /// side exists then).
    pub fn link_request_sides(&self, main_account_id: i64, target: Option<&account::Model>) -> LinkRequestSides {
        LinkRequestSides {
            requesting: self.rights_on_family_of(main_account_id).has(Permission::ManageAccounts),
            deciding: target.is_some_and(|t| self.rights_on(t).has(Permission::ManageAccounts)),
        }
    }

    /// The same as an SQL condition on the link requests table: the requests on whose
    /// `direction` side the viewer is (either side when None).
    pub fn link_requests_visible(&self, direction: Option<LinkRequestDirection>) -> Condition {
        let requesting = match self.families_with(Permission::ManageAccounts) {
            None => Condition::all(),
            Some(mains) => Condition::all().add(link_request::Column::MainAccountId.is_in(mains)),
        };
        let deciding = Condition::all().add(
            link_request::Column::TargetAccountId.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(account::Column::Id)
                    .from(account::Entity)
                    .cond_where(self.accounts_with(Permission::ManageAccounts))
                    .to_owned(),
            ),
        );
        match direction {
            Some(LinkRequestDirection::Outgoing) => requesting,
            Some(LinkRequestDirection::Incoming) => deciding,
            None => Condition::any().add(requesting).add(deciding),
        }
    }

    /// The SQL condition selecting exactly the accounts this viewer can see.
    pub fn visible_accounts(&self) -> Condition {
        self.condition_where(|_| true)
    }

    /// The SQL condition selecting exactly the accounts on which this viewer has
    /// `permission` (what `rights_on(..).has(permission)` decides row by row).
    pub fn accounts_with(&self, permission: Permission) -> Condition {
        self.condition_where(|rights| rights.has(permission))
    }

    fn condition_where(&self, keep: impl Fn(Rights) -> bool) -> Condition {
        let granting: Vec<Grant> = self.grants.iter().copied().filter(|g| keep(g.rights())).collect();
        if granting.is_empty() {
            // No grants: an always-false condition.
            return Condition::all().add(account::Column::Id.eq(-1));
        }
        if granting.contains(&Grant::Staff) {
            return Condition::all();
        }
        granting.into_iter().fold(Condition::any(), |any, g| any.add(g.condition()))
    }
}
