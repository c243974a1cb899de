//! Loaders of groups, their accounts and their members.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter};

use super::{PageQuery, Reader};
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
            .all(self.db())
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
        let query = PageQuery {
            entity: account::Entity,
            parent: account::Column::GroupId,
            order: account::Column::Id,
            newest_first: false,
        };
        let condition = |groups: Vec<i64>, after: i64| {
            Condition::all()
                .add(account::Column::GroupId.is_in(groups))
                .add(account::Column::Id.gt(after))
                .add(viewer.visible_accounts())
        };
        self.rows_per_parent(keys, query, condition, |row| row.group_id).await
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
        let query = PageQuery {
            entity: group_member::Entity,
            parent: group_member::Column::GroupId,
            order: group_member::Column::UserId,
            newest_first: false,
        };
        let condition = |groups: Vec<i64>, after: i64| {
            Condition::all()
                .add(group_member::Column::GroupId.is_in(groups))
                .add(group_member::Column::UserId.gt(after))
        };
        let pages = self.rows_per_parent(keys, query, condition, |m| Some(m.group_id)).await?;
        let member_ids = pages.values().flatten().map(|m| m.user_id);
        let users: HashMap<i64, user::Model> = user::Entity::find()
            .filter(user::Column::Id.is_in(member_ids))
            .all(self.db())
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        Ok(pages
            .into_iter()
            .map(|(key, members)| (key, members.iter().filter_map(|m| users.get(&m.user_id).cloned()).collect()))
            .collect())
    }
}
