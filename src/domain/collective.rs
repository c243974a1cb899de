//! Collective invoices: for a period, the open invoices of a main account and of its
//! COLLECTIVE secondaries are consolidated into one collective invoice per currency
//! (DOMAIN.md invariant 5: one currency each, the total is the sum of the members, an
//! invoice is in at most one).
//!
//! The period is matched against the day an invoice was **issued** (its `issued_at`, in
//! UTC): a collective invoice for March holds what was billed in March, whenever due.
//! Paying one goes through `payments::pay`, which pays every member at once.

use std::collections::BTreeMap;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde_json::json;

use crate::domain::access::{Permission, Viewer};
use crate::domain::accounts::lock_account;
use crate::domain::audit::AuditEntry;
use crate::domain::refusal::{self, refuse};
use crate::entity::enums::{AccountStatus, BillingMode, CollectiveInvoiceStatus, InvoiceStatus};
use crate::entity::{account, collective_invoice, invoice};
use crate::error::{AppError, AppResult, UserErrorCode};

pub struct ConsolidateRequest {
    pub main_account_id: i64,
    pub period_start: chrono::NaiveDate,
    pub period_end: chrono::NaiveDate,
}

/// Start of a day in UTC.
fn day_start(day: chrono::NaiveDate) -> chrono::DateTime<chrono::Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// Consolidates a family's open invoices issued in the period: one collective invoice
/// per currency, in currency order. Needs MANAGE_ACCOUNTS on the family.
pub async fn create_collective_invoices(
    db: &DatabaseConnection,
    viewer: &Viewer,
    request: ConsolidateRequest,
) -> AppResult<Vec<collective_invoice::Model>> {
    if request.period_end < request.period_start {
        return Err(refuse(UserErrorCode::InvalidInput, "the period ends before it starts", "periodEnd"));
    }
    let end = request
        .period_end
        .succ_opt()
        .map(day_start)
        .ok_or_else(|| refuse(UserErrorCode::InvalidInput, "the period ends too late", "periodEnd"))?;
    let txn = db.begin().await?;
    let found = account::Entity::find_by_id(request.main_account_id).one(&txn).await?;
    let Some(found) = found.filter(|a| viewer.can_see(a) || viewer.rights_on_family(a).visible()) else {
        return Err(AppError::User(refusal::not_found("account", "mainAccountId")));
    };
    if found.parent_id.is_some() {
        return Err(refuse(
            UserErrorCode::TargetIsSecondary,
            "a secondary is billed through its main account's collective invoice",
            "mainAccountId",
        ));
    }
    if !viewer.rights_on_family(&found).has(Permission::ManageAccounts) {
        return Err(AppError::User(refusal::needs_on_family(Permission::ManageAccounts)));
    }
    // The main's row serialises consolidations, billing-mode changes and detaches of
    // the family.
    let main = lock_account(&txn, found.id)
        .await?
        .ok_or_else(|| AppError::User(refusal::not_found("account", "mainAccountId")))?;
    if main.parent_id.is_some() {
        return Err(AppError::User(refusal::family_changed("mainAccountId")));
    }
    if main.status != AccountStatus::Active {
        return Err(AppError::User(refusal::main_deactivated()));
    }
    let collective_secondaries: Vec<i64> = account::Entity::find()
        .select_only()
        .column(account::Column::Id)
        .filter(account::Column::ParentId.eq(main.id))
        .filter(account::Column::BillingMode.eq(BillingMode::Collective))
        .into_tuple()
        .all(&txn)
        .await?;
    let members = invoice::Entity::find()
        .filter(invoice::Column::AccountId.is_in(std::iter::once(main.id).chain(collective_secondaries)))
        .filter(invoice::Column::Status.eq(InvoiceStatus::Open))
        .filter(invoice::Column::CollectiveInvoiceId.is_null())
        .filter(invoice::Column::IssuedAt.gte(day_start(request.period_start)))
        .filter(invoice::Column::IssuedAt.lt(end))
        .order_by_asc(invoice::Column::Id)
        .lock_exclusive()
        .all(&txn)
        .await?;
    if members.is_empty() {
        return Err(AppError::user(
            UserErrorCode::NothingToConsolidate,
            "there are no open invoices issued in that period to consolidate",
        ));
    }
    let mut by_currency: BTreeMap<String, Vec<invoice::Model>> = BTreeMap::new();
    for member in members {
        by_currency.entry(member.currency.clone()).or_default().push(member);
    }
    let mut created = Vec::new();
    for (currency, members) in by_currency {
        let total = members.iter().try_fold(0i64, |acc, m| acc.checked_add(m.total_cents)).ok_or_else(|| {
            refuse(UserErrorCode::InvalidInput, "the invoices of that period add up to too much", "periodEnd")
        })?;
        let collective = insert_collective(&txn, &main, &request, &currency, total).await?;
        let ids: Vec<i64> = members.iter().map(|m| m.id).collect();
        let updated = invoice::Entity::update_many()
            .col_expr(invoice::Column::CollectiveInvoiceId, Expr::value(collective.id))
            .filter(invoice::Column::Id.is_in(ids.clone()))
            .filter(invoice::Column::CollectiveInvoiceId.is_null())
            .exec(&txn)
            .await?;
        if updated.rows_affected != ids.len() as u64 {
            return Err(AppError::internal("a consolidated invoice changed under its lock"));
        }
        AuditEntry::new(Some(viewer.user.id), "collective_invoice.created", "CollectiveInvoice", collective.id)
            .family(Some(main.id))
            .after(json!({
                "number": collective.number, "currency": collective.currency, "totalCents": collective.total_cents,
                "periodStart": collective.period_start, "periodEnd": collective.period_end, "invoiceIds": ids,
            }))
            .record(&txn)
            .await?;
        created.push(collective);
    }
    txn.commit().await?;
    Ok(created)
}

/// Inserts a collective invoice numbered `<main's customer number>-C<n>`.
async fn insert_collective(
    txn: &DatabaseTransaction,
    main: &account::Model,
    request: &ConsolidateRequest,
    currency: &str,
    total: i64,
) -> AppResult<collective_invoice::Model> {
    let mut sequence = collective_invoice::Entity::find()
        .filter(collective_invoice::Column::MainAccountId.eq(main.id))
        .count(txn)
        .await?
        + 1;
    let mut last_err = None;
    for _ in 0..5 {
        let savepoint = txn.begin().await?;
        let row = collective_invoice::ActiveModel {
            number: Set(format!("{}-C{sequence:03}", main.customer_number)),
            main_account_id: Set(main.id),
            period_start: Set(request.period_start),
            period_end: Set(request.period_end),
            currency: Set(currency.to_owned()),
            total_cents: Set(total),
            status: Set(CollectiveInvoiceStatus::Open),
            created_at: Set(chrono::Utc::now()),
            paid_at: Set(None),
            ..Default::default()
        };
        match row.insert(&savepoint).await {
            Ok(collective) => {
                savepoint.commit().await?;
                return Ok(collective);
            }
            Err(err) => {
                savepoint.rollback().await?;
                last_err = Some(err);
                sequence += 1;
            }
        }
    }
    Err(last_err.map(AppError::from).unwrap_or_else(|| AppError::internal("no collective invoice number")))
}
