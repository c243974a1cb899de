//! Loaders of accounts and what hangs off them: secondaries, products, users, orders
//! and audit events.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{ColumnTrait, Condition, EntityTrait, FromQueryResult, QueryFilter, QuerySelect};

use super::{PageQuery, Reader};
use crate::entity::{account, product, user};
use crate::error::AppError;

/// An account the viewer can see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountKey(pub i64);

impl Loader<AccountKey> for Reader {
    type Value = account::Model;
    type Error = AppError;

    async fn load(&self, keys: &[AccountKey]) -> Result<HashMap<AccountKey, Self::Value>, Self::Error> {
        let viewer = self.viewer()?;
        let rows = self.accounts_by_id(keys.iter().map(|k| k.0).collect()).await?;
        Ok(rows.into_values().filter(|a| viewer.can_see(a)).map(|a| (AccountKey(a.id), a)).collect())
    }
}

/// How many secondaries an account has (its role is derived from this).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecondaryCountKey(pub i64);

impl Loader<SecondaryCountKey> for Reader {
    type Value = u64;
    type Error = AppError;

    async fn load(&self, keys: &[SecondaryCountKey]) -> Result<HashMap<SecondaryCountKey, u64>, Self::Error> {
        #[derive(FromQueryResult)]
        struct Row {
            parent_id: i64,
            n: i64,
        }
        let rows = account::Entity::find()
            .select_only()
            .column(account::Column::ParentId)
            .column_as(Expr::from(Func::count(Expr::col(account::Column::Id))), "n")
            .filter(self.one_of(account::Column::ParentId, keys.iter().map(|k| k.0)))
            .group_by(account::Column::ParentId)
            .into_model::<Row>()
            .all(self.db())
            .await?;
        let mut map: HashMap<_, _> = keys.iter().map(|k| (*k, 0)).collect();
        for row in rows {
            map.insert(SecondaryCountKey(row.parent_id), u64::try_from(row.n).unwrap_or(0));
        }
        Ok(map)
    }
}

/// A page of a main account's secondaries visible to the viewer, by id, after a cursor.
/// Holds `first + 1` rows so the caller knows whether there is a next page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecondariesPage {
    pub parent_id: i64,
    pub after: i64,
    pub first: u64,
}

page_of!(SecondariesPage, parent_id, after);

impl Loader<SecondariesPage> for Reader {
    type Value = Vec<account::Model>;
    type Error = AppError;

    async fn load(&self, keys: &[SecondariesPage]) -> Result<HashMap<SecondariesPage, Self::Value>, Self::Error> {
        let viewer = self.viewer()?;
        let query = PageQuery {
            entity: account::Entity,
            parent: account::Column::ParentId,
            order: account::Column::Id,
            newest_first: false,
        };
        let condition = |parents: Vec<i64>, after: i64| {
            Condition::all()
                .add(self.one_of(account::Column::ParentId, parents))
                .add(account::Column::Id.gt(after))
                .add(viewer.visible_accounts())
        };
        self.rows_per_parent(keys, query, condition, |row| row.parent_id).await
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProductKey(pub i64);

impl Loader<ProductKey> for Reader {
    type Value = product::Model;
    type Error = AppError;

    async fn load(&self, keys: &[ProductKey]) -> Result<HashMap<ProductKey, Self::Value>, Self::Error> {
        Ok(product::Entity::find()
            .filter(product::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(self.db())
            .await?
            .into_iter()
            .map(|p| (ProductKey(p.id), p))
            .collect())
    }
}

/// A user; visible to themselves and staff (others see users through groups' members).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserKey(pub i64);

impl Loader<UserKey> for Reader {
    type Value = user::Model;
    type Error = AppError;

    async fn load(&self, keys: &[UserKey]) -> Result<HashMap<UserKey, Self::Value>, Self::Error> {
        let viewer = self.viewer()?;
        Ok(user::Entity::find()
            .filter(user::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(self.db())
            .await?
            .into_iter()
            .filter(|u| viewer.is_staff() || u.id == viewer.user.id)
            .map(|u| (UserKey(u.id), u))
            .collect())
    }
}

/// An order, visible to those who may see its main account's family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountOrderKey(pub i64);

impl Loader<AccountOrderKey> for Reader {
    type Value = crate::entity::account_order::Model;
    type Error = AppError;

    async fn load(&self, keys: &[AccountOrderKey]) -> Result<HashMap<AccountOrderKey, Self::Value>, Self::Error> {
        use crate::entity::account_order;
        let viewer = self.viewer()?;
        let rows = account_order::Entity::find()
            .filter(account_order::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(self.db())
            .await?;
        let mains = self.accounts_by_id(rows.iter().map(|o| o.main_account_id).collect()).await?;
        Ok(rows
            .into_iter()
            .filter(|o| mains.get(&o.main_account_id).is_some_and(|m| viewer.rights_on_family(m).visible()))
            .map(|o| (AccountOrderKey(o.id), o))
            .collect())
    }
}

/// An audit event, visible to staff and to the owner of its family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuditEventKey(pub i64);

impl Loader<AuditEventKey> for Reader {
    type Value = crate::entity::audit_event::Model;
    type Error = AppError;

    async fn load(&self, keys: &[AuditEventKey]) -> Result<HashMap<AuditEventKey, Self::Value>, Self::Error> {
        use crate::entity::audit_event;
        let viewer = self.viewer()?;
        let rows = audit_event::Entity::find()
            .filter(audit_event::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(self.db())
            .await?;
        Ok(rows
            .into_iter()
            .filter(|e| viewer.is_staff() || e.family_main_id.is_some_and(|m| viewer.owns_family(m)))
            .map(|e| (AuditEventKey(e.id), e))
            .collect())
    }
}
