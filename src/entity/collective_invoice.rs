use sea_orm::entity::prelude::*;

use super::enums::CollectiveInvoiceStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "collective_invoices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub number: String,
    pub main_account_id: i64,
    pub period_start: Date,
    pub period_end: Date,
    pub currency: String,
    pub total_cents: i64,
    pub status: CollectiveInvoiceStatus,
    pub created_at: DateTimeUtc,
    pub paid_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
