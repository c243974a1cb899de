//! The outbox as the metrics see it.

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};

use crate::entity::{enums::OutboxStatus, outbox};
use crate::error::AppResult;

/// Mails still waiting to go out.
pub async fn backlog(db: &DatabaseConnection) -> AppResult<u64> {
    Ok(outbox::Entity::find().filter(outbox::Column::Status.eq(OutboxStatus::Pending)).count(db).await?)
}
