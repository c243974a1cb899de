//! The `Group` type and group mutations.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use crate::domain::access::Permission;
use crate::domain::groups::{self as group_service, group_permissions};
use crate::entity::group;
use crate::error::{AppResult, UserError};
use crate::graphql::account::Account;
use crate::graphql::connection::{IdConnection, connection_from_rows, decode_cursor, page_size};
use crate::graphql::context::{ContextExt, announce_access_changed};
use crate::graphql::ids::{self, NodeType};
use crate::graphql::payload::into_payload;
use crate::graphql::prewritten::RowValue;
use crate::graphql::user::User;
use crate::read::loaders::{AccountKey, GroupAccountsPage, GroupMembersPage};

/// A group of a main account's family: its accounts, its members and their permissions
/// on those accounts.
pub struct Group(pub group::Model);

/// The stored fields of a group, for the fast path (they must equal the resolvers below).
impl crate::graphql::prewritten::RowFields for Group {
    fn row_field(&self, name: &str) -> Option<RowValue<'_>> {
        Group::stored_field(&self.0, name)
    }
}

impl Group {
    /// The value of a stored field of `group` (`None` for the others).
    pub fn stored_field<'a>(group: &'a group::Model, name: &str) -> Option<RowValue<'a>> {
        use async_graphql::ScalarType;
        use async_graphql::resolver_utils::enum_value;
        Some(match name {
            "id" => RowValue::Value(ids::encode(NodeType::Group, group.id).to_value()),
            "name" => RowValue::Str(&group.name),
            "isDefault" => RowValue::Value(async_graphql::Value::Boolean(group.is_default)),
            "permissions" => RowValue::Value(async_graphql::Value::List(
                group_permissions(group).into_iter().map(enum_value).collect(),
            )),
            _ => return None,
        })
    }
}

/// A group of a main account's family: its accounts, its members and their permissions
/// on those accounts.
#[Object]
impl Group {
    /// The global id.
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::Group, self.0.id)
    }
    /// The group's name, unique in its family.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// True for the family's Default Group, which cannot be deleted or renamed.
    async fn is_default(&self) -> bool {
        self.0.is_default
    }
    /// What members may do on the group's accounts.
    async fn permissions(&self) -> Vec<Permission> {
        group_permissions(&self.0)
    }
    /// The main account whose family the group belongs to.
    async fn main_account(&self, ctx: &Context<'_>) -> Result<Option<Account>> {
        Ok(ctx.loader()?.load_one(AccountKey(self.0.main_account_id)).await?.map(Account))
    }
    /// The accounts in the group that you may see.
    #[graphql(complexity = "crate::graphql::connection::page_cost(first, child_complexity)")]
    async fn accounts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge seen.")] after: Option<String>,
    ) -> Result<IdConnection<Account>> {
        let first = page_size(first)?;
        let after_id = decode_cursor::<i64>(after.as_deref())?;
        let page = GroupAccountsPage { group_id: self.0.id, after: after_id.unwrap_or(0), first };
        let rows = ctx.loader()?.load_one(page).await?.unwrap_or_default();
        Ok(connection_from_rows(rows, first, after_id.is_some(), |a| a.id, Account))
    }
    /// The group's members (empty unless you may manage the family's groups).
    #[graphql(complexity = "crate::graphql::connection::page_cost(first, child_complexity)")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge seen.")] after: Option<String>,
    ) -> Result<IdConnection<User>> {
        let first = page_size(first)?;
        let after_id = decode_cursor::<i64>(after.as_deref())?;
        let main = ctx.loader()?.load_one(AccountKey(self.0.main_account_id)).await?;
        let may_list =
            main.is_some_and(|m| ctx.viewer().is_ok_and(|v| v.rights_on_family(&m).has(Permission::ManageGroups)));
        if !may_list {
            return Ok(connection_from_rows(Vec::new(), first, false, |u: &crate::entity::user::Model| u.id, User));
        }
        let page = GroupMembersPage { group_id: self.0.id, after: after_id.unwrap_or(0), first };
        let rows = ctx.loader()?.load_one(page).await?.unwrap_or_default();
        Ok(connection_from_rows(rows, first, after_id.is_some(), |u| u.id, User))
    }
}

/// Input of `createGroup`.
#[derive(InputObject)]
pub struct CreateGroupInput {
    /// The main account whose family gets the group.
    pub main_account_id: ID,
    /// The group's name, unique in the family.
    pub name: String,
    /// What members may do on the group's accounts.
    pub permissions: Vec<Permission>,
}

/// Input of `updateGroup`.
#[derive(InputObject)]
pub struct UpdateGroupInput {
    /// The group to change.
    pub group_id: ID,
    /// A new name (the Default Group keeps its name).
    pub name: Option<String>,
    /// The new permission set, replacing the old one.
    pub permissions: Option<Vec<Permission>>,
}

/// Input of `deleteGroup`.
#[derive(InputObject)]
pub struct DeleteGroupInput {
    /// The group to delete; its accounts move to the Default Group.
    pub group_id: ID,
}

/// Input of `inviteUser`.
#[derive(InputObject)]
pub struct InviteUserInput {
    /// The main account whose family the invitee joins.
    pub main_account_id: ID,
    /// Where the invitation is mailed.
    pub email: String,
    /// The groups the invitee joins.
    pub group_ids: Vec<ID>,
}

/// Result of a group mutation.
#[derive(SimpleObject)]
pub struct GroupPayload {
    /// The group (for `deleteGroup`, as it was).
    pub group: Option<Group>,
    /// Why the change was refused, if it was.
    pub user_errors: Vec<UserError>,
}

/// Result of `inviteUser`.
#[derive(SimpleObject)]
pub struct InviteUserPayload {
    /// The single-use invitation code, also mailed to the invitee.
    pub invitation_token: Option<String>,
    /// Why the invitation was refused, if it was.
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct GroupMutation;

#[Object]
impl GroupMutation {
    /// Creates a group in a family (needs MANAGE_GROUPS).
    async fn create_group(&self, ctx: &Context<'_>, input: CreateGroupInput) -> Result<GroupPayload> {
        let outcome: AppResult<Group> = async {
            let viewer = &*ctx.viewer()?;
            let main_id = ids::decode_input(&input.main_account_id, NodeType::Account, "mainAccountId")?;
            let group =
                group_service::create_group(ctx.db()?, viewer, main_id, &input.name, &input.permissions).await?;
            Ok(Group(group))
        }
        .await;
        into_payload(outcome, |group, user_errors| GroupPayload { group, user_errors })
    }

    /// Renames a group or replaces its permissions (needs MANAGE_GROUPS).
    async fn update_group(&self, ctx: &Context<'_>, input: UpdateGroupInput) -> Result<GroupPayload> {
        let outcome: AppResult<Group> = async {
            let viewer = &*ctx.viewer()?;
            let group_id = ids::decode_input(&input.group_id, NodeType::Group, "groupId")?;
            let group = group_service::update_group(
                ctx.db()?,
                viewer,
                group_id,
                input.name.as_deref(),
                input.permissions.as_deref(),
            )
            .await?;
            Ok(Group(group))
        }
        .await;
        if outcome.is_ok() {
            // Its members' rights changed: their websockets reconnect with the new ones.
            announce_access_changed(ctx, None).await?;
        }
        into_payload(outcome, |group, user_errors| GroupPayload { group, user_errors })
    }

    /// Deletes a group; its accounts fall back to the Default Group (needs MANAGE_GROUPS).
    async fn delete_group(&self, ctx: &Context<'_>, input: DeleteGroupInput) -> Result<GroupPayload> {
        let outcome: AppResult<Group> = async {
            let viewer = &*ctx.viewer()?;
            let group_id = ids::decode_input(&input.group_id, NodeType::Group, "groupId")?;
            Ok(Group(group_service::delete_group(ctx.db()?, viewer, group_id).await?))
        }
        .await;
        if outcome.is_ok() {
            announce_access_changed(ctx, None).await?;
        }
        into_payload(outcome, |group, user_errors| GroupPayload { group, user_errors })
    }

    /// Invites a user by email into groups of a family (needs MANAGE_GROUPS). The
    /// invitation is single use and expires after 7 days.
    async fn invite_user(&self, ctx: &Context<'_>, input: InviteUserInput) -> Result<InviteUserPayload> {
        let outcome: AppResult<String> = async {
            let viewer = &*ctx.viewer()?;
            let main_id = ids::decode_input(&input.main_account_id, NodeType::Account, "mainAccountId")?;
            let group_ids = input
                .group_ids
                .iter()
                .map(|id| ids::decode_input(id, NodeType::Group, "groupIds"))
                .collect::<AppResult<Vec<_>>>()?;
            group_service::invite_user(ctx.db()?, viewer, main_id, &input.email, &group_ids).await
        }
        .await;
        into_payload(outcome, |invitation_token, user_errors| InviteUserPayload { invitation_token, user_errors })
    }
}
