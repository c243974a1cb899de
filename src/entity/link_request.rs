use sea_orm::entity::prelude::*;

use super::enums::LinkRequestStatus;

/// A request to link an account into a family by its customer number (see the migration
/// `m20261207_000001_create_link_requests`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "link_requests")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub main_account_id: i64,
    pub customer_number: String,
    /// None when the customer number named no account: never shown to the requester.
    pub target_account_id: Option<i64>,
    pub friendly_name: Option<String>,
    pub group_id: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub message: Option<String>,
    /// As stored: a PENDING request past `expires_at` reads EXPIRED (`domain::family::link_requests`).
    pub status: LinkRequestStatus,
    pub requested_by: Option<i64>,
    pub decided_by: Option<i64>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub decided_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
