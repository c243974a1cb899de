//! The product catalogue (public to every signed-in user).

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::entity::product;
use crate::error::AppResult;

/// The orderable products, by code.
pub async fn orderable(db: &impl ConnectionTrait) -> AppResult<Vec<product::Model>> {
    Ok(product::Entity::find()
        .filter(product::Column::Orderable.eq(true))
        .order_by_asc(product::Column::Code)
        .all(db)
        .await?)
}
