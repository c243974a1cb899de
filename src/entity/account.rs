use sea_orm::entity::prelude::*;

use super::enums::{AccountStatus, BillingMode};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub customer_number: String,
    pub holder_name: String,
    /// Where mail about the account goes before anyone has enrolled it.
    pub contact_email: String,
    pub friendly_name: Option<String>,
    /// The main account this one is a secondary of. The role is derived from it.
    pub parent_id: Option<i64>,
    /// The group of the main's family this secondary (or the main itself) belongs to.
    pub group_id: Option<i64>,
    pub status: AccountStatus,
    pub billing_mode: BillingMode,
    pub product_id: i64,
    /// Enrollment tokens are derived from (id, token_version); bumping it retires the old one.
    pub token_version: i32,
    pub call_forwarding_to: Option<String>,
    pub paperless_billing: bool,
    pub ebill_notifications: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
