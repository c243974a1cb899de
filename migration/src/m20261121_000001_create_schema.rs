//! The whole first schema: accounts and their families, identity, groups and rights,
//! billing, orders, the notification outbox, the audit log and lockout counters.
//!
//! Constraints carry the invariants the database can hold by itself:
//! - one parent per account is a single nullable `parent_id` column;
//! - customer numbers, login names (lower-cased copy), invoice numbers are unique;
//! - an invoice sits in at most one collective invoice (one nullable column);
//! - an invoice is paid at most once (`payment_allocations.invoice_id` is unique);
//! - an idempotency key is unique per user;
//! - one Default Group per main account (a partial unique index).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000001_create_schema"
    }
}

fn fk(
    from_table: &'static str,
    from_col: &'static str,
    to_table: &'static str,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{from_table}_{from_col}"))
        .from(from_table, from_col)
        .to(to_table, "id")
        .on_delete(on_delete)
        .on_update(ForeignKeyAction::NoAction)
        .take()
}

fn index(table: &'static str, name: &str, cols: &[&'static str]) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(format!("ix_{table}_{name}")).table(table);
    for col in cols {
        stmt.col(*col);
    }
    stmt.take()
}

fn unique(table: &'static str, name: &str, cols: &[&'static str]) -> IndexCreateStatement {
    let mut stmt = index(table, name, cols);
    stmt.name(format!("ux_{table}_{name}")).unique();
    stmt
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sqlite = manager.get_database_backend() == DbBackend::Sqlite;

        manager
            .create_table(
                Table::create()
                    .table("products")
                    .col(big_pk_auto("id"))
                    .col(string_uniq("code"))
                    .col(string("name"))
                    .col(text("description"))
                    // JSON array of option definitions: [{code, name, kind, choices, required}]
                    .col(text("options"))
                    .col(boolean("orderable").default(true))
                    .take(),
            )
            .await?;

        // accounts.group_id references groups, and groups.main_account_id references
        // accounts. SQLite resolves foreign keys lazily, so it gets the constraint inline;
        // PostgreSQL gets it with ALTER TABLE once both tables exist.
        let mut accounts = Table::create()
            .table("accounts")
            .col(big_pk_auto("id"))
            .col(string_uniq("customer_number"))
            .col(string("holder_name"))
            .col(string("contact_email"))
            .col(string_null("friendly_name"))
            .col(big_integer_null("parent_id"))
            .col(big_integer_null("group_id"))
            .col(string("status"))
            .col(string("billing_mode"))
            .col(big_integer("product_id"))
            .col(integer("token_version").default(1))
            .col(string_null("call_forwarding_to"))
            .col(boolean("paperless_billing").default(false))
            .col(boolean("ebill_notifications").default(true))
            .col(timestamp_with_time_zone("created_at"))
            .col(timestamp_with_time_zone("updated_at"))
            .foreign_key(&mut fk("accounts", "parent_id", "accounts", ForeignKeyAction::Restrict))
            .foreign_key(&mut fk("accounts", "product_id", "products", ForeignKeyAction::Restrict))
            .take();
        if sqlite {
            accounts.foreign_key(&mut fk("accounts", "group_id", "groups", ForeignKeyAction::SetNull));
        }
        manager.create_table(accounts).await?;
        manager.create_index(index("accounts", "parent", &["parent_id", "id"])).await?;
        manager.create_index(index("accounts", "group", &["group_id"])).await?;

        manager
            .create_table(
                Table::create()
                    .table("groups")
                    .col(big_pk_auto("id"))
                    .col(big_integer("main_account_id"))
                    .col(string("name"))
                    .col(boolean("is_default").default(false))
                    // comma-separated permission names, e.g. "VIEW_INVOICES,PAY_INVOICES"
                    .col(string("permissions"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("groups", "main_account_id", "accounts", ForeignKeyAction::Cascade))
                    .take(),
            )
            .await?;
        manager.create_index(unique("groups", "main_name", &["main_account_id", "name"])).await?;
        // One Default Group per main account: a partial unique index (both backends know them).
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ux_groups_one_default ON groups (main_account_id) WHERE is_default",
            )
            .await?;
        if !sqlite {
            manager.create_foreign_key(fk("accounts", "group_id", "groups", ForeignKeyAction::SetNull)).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table("users")
                    .col(big_pk_auto("id"))
                    .col(string("login_name"))
                    // lower-cased login name: login names are unique case-insensitively
                    .col(string_uniq("login_key"))
                    .col(string("email"))
                    .col(string("password_hash"))
                    .col(boolean("is_staff").default(false))
                    .col(big_integer_null("home_account_id"))
                    .col(boolean("notifications_enabled").default(true))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("password_changed_at"))
                    .foreign_key(&mut fk("users", "home_account_id", "accounts", ForeignKeyAction::Restrict))
                    .take(),
            )
            .await?;
        manager.create_index(index("users", "home_account", &["home_account_id"])).await?;

        manager
            .create_table(
                Table::create()
                    .table("sessions")
                    .col(big_pk_auto("id"))
                    .col(big_integer("user_id"))
                    // SHA-256 of the bearer token, hex; the token itself is never stored
                    .col(string_uniq("token_hash"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("last_seen_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .foreign_key(&mut fk("sessions", "user_id", "users", ForeignKeyAction::Cascade))
                    .take(),
            )
            .await?;
        manager.create_index(index("sessions", "user", &["user_id"])).await?;

        manager
            .create_table(
                Table::create()
                    .table("group_members")
                    .col(big_integer("group_id"))
                    .col(big_integer("user_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("group_id").col("user_id"))
                    .foreign_key(&mut fk("group_members", "group_id", "groups", ForeignKeyAction::Cascade))
                    .foreign_key(&mut fk("group_members", "user_id", "users", ForeignKeyAction::Cascade))
                    .take(),
            )
            .await?;
        manager.create_index(index("group_members", "user", &["user_id"])).await?;

        manager
            .create_table(
                Table::create()
                    .table("invitations")
                    .col(big_pk_auto("id"))
                    .col(big_integer("main_account_id"))
                    .col(string("email"))
                    .col(string_uniq("token_hash"))
                    // comma-separated group ids the invitee joins on acceptance
                    .col(string("group_ids"))
                    .col(big_integer("invited_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("accepted_at"))
                    .col(big_integer_null("accepted_user_id"))
                    .foreign_key(&mut fk("invitations", "main_account_id", "accounts", ForeignKeyAction::Cascade))
                    .foreign_key(&mut fk("invitations", "invited_by", "users", ForeignKeyAction::Cascade))
                    .foreign_key(&mut fk("invitations", "accepted_user_id", "users", ForeignKeyAction::SetNull))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("collective_invoices")
                    .col(big_pk_auto("id"))
                    .col(string_uniq("number"))
                    .col(big_integer("main_account_id"))
                    .col(date("period_start"))
                    .col(date("period_end"))
                    .col(string_len("currency", 3))
                    .col(big_integer("total_cents"))
                    .col(string("status"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("paid_at"))
                    .foreign_key(&mut fk(
                        "collective_invoices",
                        "main_account_id",
                        "accounts",
                        ForeignKeyAction::Restrict,
                    ))
                    .take(),
            )
            .await?;
        manager.create_index(index("collective_invoices", "main", &["main_account_id", "id"])).await?;

        manager
            .create_table(
                Table::create()
                    .table("invoices")
                    .col(big_pk_auto("id"))
                    .col(string_uniq("number"))
                    .col(big_integer("account_id"))
                    .col(string("status"))
                    .col(string_len("currency", 3))
                    .col(big_integer("total_cents"))
                    .col(timestamp_with_time_zone("issued_at"))
                    .col(date("due_at"))
                    .col(big_integer_null("collective_invoice_id"))
                    .col(timestamp_with_time_zone_null("paid_at"))
                    .foreign_key(&mut fk("invoices", "account_id", "accounts", ForeignKeyAction::Restrict))
                    .foreign_key(&mut fk(
                        "invoices",
                        "collective_invoice_id",
                        "collective_invoices",
                        ForeignKeyAction::Restrict,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("invoices", "account_status_due", &["account_id", "status", "due_at", "id"]))
            .await?;
        manager.create_index(index("invoices", "account_latest", &["account_id", "id"])).await?;
        manager.create_index(index("invoices", "collective", &["collective_invoice_id"])).await?;

        manager
            .create_table(
                Table::create()
                    .table("invoice_lines")
                    .col(big_pk_auto("id"))
                    .col(big_integer("invoice_id"))
                    .col(integer("position"))
                    .col(string("description"))
                    .col(big_integer("quantity"))
                    .col(big_integer("unit_cents"))
                    .col(big_integer("amount_cents"))
                    .foreign_key(&mut fk("invoice_lines", "invoice_id", "invoices", ForeignKeyAction::Cascade))
                    .take(),
            )
            .await?;
        manager.create_index(unique("invoice_lines", "invoice_position", &["invoice_id", "position"])).await?;

        manager
            .create_table(
                Table::create()
                    .table("payments")
                    .col(big_pk_auto("id"))
                    .col(big_integer("user_id"))
                    .col(string("idempotency_key"))
                    // SHA-256 of the request (sorted invoice ids, method): a replay must match it
                    .col(string("request_fingerprint"))
                    .col(big_integer("amount_cents"))
                    .col(string_len("currency", 3))
                    .col(string("method"))
                    .col(string("status"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("payments", "user_id", "users", ForeignKeyAction::Restrict))
                    .take(),
            )
            .await?;
        manager.create_index(unique("payments", "user_key", &["user_id", "idempotency_key"])).await?;

        manager
            .create_table(
                Table::create()
                    .table("payment_allocations")
                    .col(big_pk_auto("id"))
                    .col(big_integer("payment_id"))
                    .col(big_integer("invoice_id"))
                    .col(big_integer("amount_cents"))
                    .foreign_key(&mut fk("payment_allocations", "payment_id", "payments", ForeignKeyAction::Cascade))
                    .foreign_key(&mut fk("payment_allocations", "invoice_id", "invoices", ForeignKeyAction::Restrict))
                    .take(),
            )
            .await?;
        // An invoice is paid at most once, whatever races above this line.
        manager.create_index(unique("payment_allocations", "invoice", &["invoice_id"])).await?;
        manager.create_index(index("payment_allocations", "payment", &["payment_id"])).await?;

        manager
            .create_table(
                Table::create()
                    .table("account_orders")
                    .col(big_pk_auto("id"))
                    .col(big_integer("main_account_id"))
                    .col(big_integer("product_id"))
                    .col(text("options"))
                    .col(string_null("friendly_name"))
                    .col(big_integer_null("group_id"))
                    .col(string("status"))
                    .col(string_null("failure_reason"))
                    .col(big_integer_null("account_id"))
                    .col(big_integer("ordered_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("account_orders", "main_account_id", "accounts", ForeignKeyAction::Restrict))
                    .foreign_key(&mut fk("account_orders", "product_id", "products", ForeignKeyAction::Restrict))
                    .foreign_key(&mut fk("account_orders", "account_id", "accounts", ForeignKeyAction::Restrict))
                    .foreign_key(&mut fk("account_orders", "group_id", "groups", ForeignKeyAction::SetNull))
                    .foreign_key(&mut fk("account_orders", "ordered_by", "users", ForeignKeyAction::Restrict))
                    .take(),
            )
            .await?;
        manager.create_index(index("account_orders", "main", &["main_account_id", "id"])).await?;

        manager
            .create_table(
                Table::create()
                    .table("outbox")
                    .col(big_pk_auto("id"))
                    .col(string("kind"))
                    // the same mail is queued at most once, e.g. "invoice:12:user:7"
                    .col(string_uniq("dedupe_key"))
                    .col(string("recipient"))
                    .col(string("subject"))
                    .col(text("body"))
                    .col(string("status"))
                    .col(integer("attempts").default(0))
                    .col(timestamp_with_time_zone("next_attempt_at"))
                    .col(string_null("last_error"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("sent_at"))
                    .take(),
            )
            .await?;
        manager.create_index(index("outbox", "due", &["status", "next_attempt_at"])).await?;

        manager
            .create_table(
                Table::create()
                    .table("audit_events")
                    .col(big_pk_auto("id"))
                    .col(big_integer_null("actor_user_id"))
                    .col(string("action"))
                    .col(string("subject_type"))
                    .col(big_integer("subject_id"))
                    // the main account whose family the event belongs to, for owners' views
                    .col(big_integer_null("family_main_id"))
                    .col(text_null("before"))
                    .col(text_null("after"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("audit_events", "actor_user_id", "users", ForeignKeyAction::SetNull))
                    .take(),
            )
            .await?;
        manager.create_index(index("audit_events", "family", &["family_main_id", "id"])).await?;

        manager
            .create_table(
                Table::create()
                    .table("proof_failures")
                    .col(big_pk_auto("id"))
                    // what was attacked, e.g. "account:42" or "login:alice"
                    .col(string("target_key"))
                    // who attacked: the client address
                    .col(string("client_key"))
                    .col(timestamp_with_time_zone("created_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("proof_failures", "target_client", &["target_key", "client_key", "created_at"]))
            .await?;

        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sqlite = manager.get_database_backend() == DbBackend::Sqlite;
        if !sqlite {
            manager
                .drop_foreign_key(ForeignKey::drop().name("fk_accounts_group_id").table("accounts").to_owned())
                .await?;
        }
        for table in [
            "proof_failures",
            "audit_events",
            "outbox",
            "account_orders",
            "payment_allocations",
            "payments",
            "invoice_lines",
            "invoices",
            "collective_invoices",
            "invitations",
            "group_members",
            "sessions",
            "users",
            "groups",
            "accounts",
            "products",
        ] {
            manager.drop_table(Table::drop().table(table).take()).await?;
        }
        Ok(())
    }
}
