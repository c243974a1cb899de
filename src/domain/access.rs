//! The one access policy: what a signed-in user may see and do. Loaders, resolvers and
//! services ask here and nowhere else. Rights are computed per request from the database,
//! never cached in a session.
//!
//! - Staff see and do everything.
//! - A login's home account: its users have every right on it and, if it is a main
//!   account, on every secondary of its family ("the owner has every right").
//! - A group member has the group's permissions on the accounts in that group.
//! - Nothing else is visible: other ids answer exactly like missing ones.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter};

use crate::entity::enums::AccountStatus;
use crate::entity::{account, group, group_member, user};
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

    fn union(self, other: Rights) -> Rights {
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

/// Who is asking, and what they may do. Built once per request.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: user::Model,
    /// The home account if it is active: its users own it (and its family, if it is a main).
    pub home_account_id: Option<i64>,
    /// Permissions by group id, from group memberships.
    pub groups: HashMap<i64, Rights>,
    /// Main account of each group the viewer belongs to.
    pub group_mains: HashMap<i64, i64>,
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
        let groups = memberships.iter().map(|(id, _, text)| (*id, Rights::of(&permissions_from_text(text)))).collect();
        let group_mains = memberships.iter().map(|(id, main, _)| (*id, *main)).collect();
        Viewer { user, home_account_id, groups, group_mains }
    }

    pub fn is_staff(&self) -> bool {
        self.user.is_staff
    }

    /// The viewer's rights on one account, from the columns every account row carries.
    pub fn rights_on(&self, account: &account::Model) -> Rights {
        if self.is_staff() {
            return Rights::FULL;
        }
        let mut rights = Rights::NONE;
        if let Some(home) = self.home_account_id
            && (account.id == home || account.parent_id == Some(home))
        {
            return Rights::FULL;
        }
        if let Some(group_id) = account.group_id {
            // A group only covers accounts of its own family (a detached account's group
            // is cleared, so this is a second line of defence).
            let family_main = account.parent_id.unwrap_or(account.id);
            if self.group_mains.get(&group_id) == Some(&family_main)
                && let Some(group_rights) = self.groups.get(&group_id)
            {
                rights = rights.union(*group_rights);
            }
        }
        rights
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
        if self.is_staff() || self.home_account_id == Some(main_account_id) {
            return Rights::FULL;
        }
        self.group_mains
            .iter()
            .filter(|(_, m)| **m == main_account_id)
            .filter_map(|(g, _)| self.groups.get(g))
            .fold(Rights::NONE, |acc, r| acc.union(*r))
    }

    /// True when the viewer owns the main account's family (or is staff).
    pub fn owns_family(&self, main_account_id: i64) -> bool {
        self.is_staff() || self.home_account_id == Some(main_account_id)
    }

    /// The SQL condition selecting exactly the accounts this viewer can see.
    pub fn visible_accounts(&self) -> Condition {
        if self.is_staff() {
            return Condition::all();
        }
        let mut any = Condition::any();
        if let Some(home) = self.home_account_id {
            any = any.add(account::Column::Id.eq(home)).add(account::Column::ParentId.eq(home));
        }
        let group_ids: Vec<i64> = self.groups.keys().copied().collect();
        if !group_ids.is_empty() {
            any = any.add(account::Column::GroupId.is_in(group_ids));
        }
        if self.home_account_id.is_none() && self.groups.is_empty() {
            // No grants: an always-false condition.
            return Condition::all().add(account::Column::Id.eq(-1));
        }
        any
    }

    /// The SQL condition selecting exactly the accounts on which this viewer has
    /// `permission` (what `rights_on(..).has(permission)` decides row by row): the home
    /// account and its secondaries, and the accounts of groups granting it, within the
    /// group's own family.
    pub fn accounts_with(&self, permission: Permission) -> Condition {
        if self.is_staff() {
            return Condition::all();
        }
        let mut any = Condition::any();
        if let Some(home) = self.home_account_id {
            any = any.add(account::Column::Id.eq(home)).add(account::Column::ParentId.eq(home));
        }
        let mut granted: Vec<(i64, i64)> = self
            .groups
            .iter()
            .filter(|(_, rights)| rights.has(permission))
            .filter_map(|(group, _)| self.group_mains.get(group).map(|main| (*group, *main)))
            .collect();
        granted.sort_unstable();
        for (group, main) in &granted {
            any = any.add(
                Condition::all()
                    .add(account::Column::GroupId.eq(*group))
                    .add(Condition::any().add(account::Column::Id.eq(*main)).add(account::Column::ParentId.eq(*main))),
            );
        }
        if self.home_account_id.is_none() && granted.is_empty() {
            return Condition::all().add(account::Column::Id.eq(-1));
        }
        any
    }
}
