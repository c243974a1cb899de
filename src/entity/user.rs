use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub login_name: String,
    /// Lower-cased login name; unique.
    #[sea_orm(unique)]
    pub login_key: String,
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    pub is_staff: bool,
    /// The account this login was enrolled for; its user owns it. None for invited users and staff.
    pub home_account_id: Option<i64>,
    pub notifications_enabled: bool,
    pub created_at: DateTimeUtc,
    pub password_changed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
