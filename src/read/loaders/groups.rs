//! Loaders of groups, their accounts and their members.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter};

use super::{Reader, first_rows_per, pages_per_parent};
use crate::entity::{account, group, user};
use crate::error::AppError;

/// A group, visible to whoever can see an account of its family, or is its member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupKey(pub i64);

impl Loader<GroupKey> for Reader {
    type Value = group::Model;
    type Error = AppError;

    async fn load(&self, keys: &[GroupKey]) -> Result<HashMap<GroupKey, Self::Value>, Self::Error> {
        let viewer = self.viewer()?;
        let groups = group::Entity::find()
            .filter(self.one_of(group::Column::Id, keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await?;
        Ok(groups
            .into_iter()
            .filter(|g| viewer.is_member_of(g.id) || viewer.rights_on_family_of(g.main_account_id).visible())
            .map(|g| (GroupKey(g.id), g))
            .collect())
    }
}

/// A page of the accounts in a group that the viewer may see, by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupAccountsPage {
    pub group_id: i64,
    pub after: i64,
    pub first: u64,
}

page_of!(GroupAccountsPage, group_id, after);

impl Loader<GroupAccountsPage> for Reader {
    type Value = Vec<account::Model>;
    type Error = AppError;

    async fn load(&self, keys: &[GroupAccountsPage]) -> Result<HashMap<GroupAccountsPage, Self::Value>, Self::Error> {
        let viewer = self.viewer()?;
        pages_per_parent(keys, |groups, (after, first)| {
            let condition = Condition::all()
                .add(account::Column::GroupId.is_in(groups))
                .add(account::Column::Id.gt(after))
                .add(viewer.visible_accounts());
            async move {
                let rows = first_rows_per(
                    &self.db,
                    account::Entity,
                    account::Column::GroupId,
                    account::Column::Id,
                    false,
                    condition,
                    first + 1,
                )
                .await?;
                Ok(rows.into_iter().filter_map(|row| Some((row.group_id?, row))).collect())
            }
        })
        .await
    }
}

/// A page of a group's members, by user id. The caller checks the viewer may list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupMembersPage {
    pub group_id: i64,
    pub after: i64,
    pub first: u64,
}

page_of!(GroupMembersPage, group_id, after);

impl Loader<GroupMembersPage> for Reader {
    type Value = Vec<user::Model>;
    type Error = AppError;

    async fn load(&self, keys: &[GroupMembersPage]) -> Result<HashMap<GroupMembersPage, Self::Value>, Self::Error> {
        use crate::entity::group_member;
        pages_per_parent(keys, |groups, (after, first)| {
            let condition = Condition::all()
                .add(group_member::Column::GroupId.is_in(groups))
                .add(group_member::Column::UserId.gt(after));
            async move {
                let members = first_rows_per(
                    &self.db,
                    group_member::Entity,
                    group_member::Column::GroupId,
                    group_member::Column::UserId,
                    false,
                    condition,
                    first + 1,
                )
                .await?;
                let users: HashMap<i64, user::Model> = user::Entity::find()
                    .filter(user::Column::Id.is_in(members.iter().map(|m| m.user_id)))
                    .all(&self.db)
                    .await?
                    .into_iter()
                    .map(|u| (u.id, u))
                    .collect();
                // A user may be a member of several groups of one batch.
                Ok(members.into_iter().filter_map(|m| Some((m.group_id, users.get(&m.user_id).cloned()?))).collect())
            }
        })
        .await
    }
}
