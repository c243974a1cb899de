use sea_orm::entity::prelude::*;

use super::enums::OrderStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account_orders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub main_account_id: i64,
    pub product_id: i64,
    /// JSON object of chosen options.
    #[sea_orm(column_type = "Text")]
    pub options: String,
    pub friendly_name: Option<String>,
    pub group_id: Option<i64>,
    pub status: OrderStatus,
    pub failure_reason: Option<String>,
    pub account_id: Option<i64>,
    pub ordered_by: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
