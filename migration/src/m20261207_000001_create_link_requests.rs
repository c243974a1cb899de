//! Link requests: a main account's owner asks, by customer number only, to link another
//! account; that account's owner accepts or declines in their own session.
//!
//! - `target_account_id` is null when the customer number named no account: the request
//!   is stored all the same, so the requester cannot tell the two apart. It stays pending
//!   until it expires.
//! - At most one pending request per family and customer number: a partial unique index.
//!   Expiry is read from `expires_at`; a request past it is marked EXPIRED before the
//!   family asks again, so the index never counts an expired one.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000001_create_link_requests"
    }
}

fn fk(from_col: &'static str, to_table: &'static str, on_delete: ForeignKeyAction) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_link_requests_{from_col}"))
        .from("link_requests", from_col)
        .to(to_table, "id")
        .on_delete(on_delete)
        .on_update(ForeignKeyAction::NoAction)
        .take()
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("link_requests")
                    .col(big_pk_auto("id"))
                    .col(big_integer("main_account_id"))
                    // as the requester typed it (trimmed)
                    .col(string("customer_number"))
                    .col(big_integer_null("target_account_id"))
                    .col(string_null("friendly_name"))
                    .col(big_integer_null("group_id"))
                    .col(text_null("message"))
                    // PENDING, ACCEPTED, DECLINED, CANCELLED, EXPIRED
                    .col(string("status"))
                    .col(big_integer_null("requested_by"))
                    .col(big_integer_null("decided_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("decided_at"))
                    .foreign_key(&mut fk("main_account_id", "accounts", ForeignKeyAction::Cascade))
                    .foreign_key(&mut fk("target_account_id", "accounts", ForeignKeyAction::Cascade))
                    .foreign_key(&mut fk("group_id", "groups", ForeignKeyAction::SetNull))
                    .foreign_key(&mut fk("requested_by", "users", ForeignKeyAction::SetNull))
                    .foreign_key(&mut fk("decided_by", "users", ForeignKeyAction::SetNull))
                    .take(),
            )
            .await?;
        for (name, column) in [("main", "main_account_id"), ("target", "target_account_id")] {
            manager
                .create_index(
                    Index::create()
                        .name(format!("ix_link_requests_{name}"))
                        .table("link_requests")
                        .col(column)
                        .col("id")
                        .take(),
                )
                .await?;
        }
        // Both backends know partial indexes.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ux_link_requests_one_pending ON link_requests (main_account_id, customer_number) \
                 WHERE status = 'PENDING'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("link_requests").take()).await
    }
}
