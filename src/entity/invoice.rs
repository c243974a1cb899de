use sea_orm::entity::prelude::*;

use super::enums::InvoiceStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invoices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub number: String,
    pub account_id: i64,
    pub status: InvoiceStatus,
    pub currency: String,
    pub total_cents: i64,
    pub issued_at: DateTimeUtc,
    pub due_at: Date,
    pub collective_invoice_id: Option<i64>,
    pub paid_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
