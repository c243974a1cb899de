//! Invoices: issuing with computed totals (never trusted from input), e-bill
//! notifications through the outbox, voiding, and an account's billing mode.

use std::collections::BTreeMap;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, QuerySelect, Set, TransactionTrait,
};
use serde_json::json;

use crate::domain::access::{Permission, Viewer, permissions_from_text};
use crate::domain::accounts::{lock_account, require_staff};
use crate::domain::audit::AuditEntry;
use crate::domain::family::lock_account_and_main;
use crate::domain::notify;
use crate::domain::refusal::{self, refuse};
use crate::entity::enums::{AccountStatus, BillingMode, InvoiceStatus};
use crate::entity::{account, group, group_member, invoice, invoice_line, user};
use crate::error::{AppError, AppResult, UserError, UserErrorCode};
use crate::events::Event;

/// One line as given by staff.
#[derive(Debug, Clone)]
pub struct NewLine {
    pub description: String,
    pub quantity: i64,
    pub unit_cents: i64,
}

/// ISO 4217 shape: three upper-case letters.
pub fn check_currency(currency: &str) -> AppResult<String> {
    let c = currency.trim().to_ascii_uppercase();
    if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_uppercase()) {
        Ok(c)
    } else {
        Err(AppError::User(
            UserError::new(UserErrorCode::InvalidInput, "currency must be an ISO 4217 code like EUR").at("currency"),
        ))
    }
}

/// Sums lines in checked 64-bit arithmetic; an overflow is a user error, not a wrap.
pub fn total_of(lines: &[NewLine]) -> AppResult<i64> {
    let overflow = || AppError::User(UserError::new(UserErrorCode::InvalidInput, "amounts are too large").at("lines"));
    lines.iter().try_fold(0i64, |acc, line| {
        let amount = line.quantity.checked_mul(line.unit_cents).ok_or_else(overflow)?;
        acc.checked_add(amount).ok_or_else(overflow)
    })
}

/// Inserts an invoice and its lines for an account, numbered `<customer number>-<n>`.
pub async fn insert_invoice(
    txn: &DatabaseTransaction,
    account: &account::Model,
    currency: &str,
    due_at: chrono::NaiveDate,
    lines: &[NewLine],
) -> AppResult<invoice::Model> {
    if lines.is_empty() || lines.len() > 500 {
        return Err(AppError::User(
            UserError::new(UserErrorCode::InvalidInput, "an invoice has 1 to 500 lines").at("lines"),
        ));
    }
    for line in lines {
        if line.quantity <= 0 || line.unit_cents < 0 || line.description.trim().is_empty() {
            return Err(AppError::User(
                UserError::new(
                    UserErrorCode::InvalidInput,
                    "each line needs a description, a positive quantity and a unit price of at least 0",
                )
                .at("lines"),
            ));
        }
    }
    let currency = check_currency(currency)?;
    let total = total_of(lines)?;
    let mut sequence = invoice::Entity::find().filter(invoice::Column::AccountId.eq(account.id)).count(txn).await? + 1;
    let mut last_err = None;
    for _ in 0..5 {
        let savepoint = txn.begin().await?;
        let row = invoice::ActiveModel {
            number: Set(format!("{}-{sequence:04}", account.customer_number)),
            account_id: Set(account.id),
            status: Set(InvoiceStatus::Open),
            currency: Set(currency.clone()),
            total_cents: Set(total),
            issued_at: Set(chrono::Utc::now()),
            due_at: Set(due_at),
            collective_invoice_id: Set(None),
            paid_at: Set(None),
            ..Default::default()
        };
        match row.insert(&savepoint).await {
            Ok(invoice) => {
                for (position, line) in lines.iter().enumerate() {
                    invoice_line::ActiveModel {
                        invoice_id: Set(invoice.id),
                        position: Set(i32::try_from(position).unwrap_or(i32::MAX)),
                        description: Set(line.description.trim().to_owned()),
                        quantity: Set(line.quantity),
                        unit_cents: Set(line.unit_cents),
                        amount_cents: Set(line.quantity * line.unit_cents),
                        ..Default::default()
                    }
                    .insert(&savepoint)
                    .await?;
                }
                savepoint.commit().await?;
                return Ok(invoice);
            }
            Err(err) => {
                savepoint.rollback().await?;
                last_err = Some(err);
                sequence += 1;
            }
        }
    }
    Err(last_err.map(AppError::from).unwrap_or_else(|| AppError::internal("no invoice number")))
}

/// Amounts for people: minor units as a decimal in the currency's own exponent, in
/// integer arithmetic (`123456` EUR is `1234.56`, JPY `123456`, KWD `123.456`).
pub fn format_amount(cents: i64, currency: &str) -> String {
    let exponent = minor_unit_exponent(currency);
    let sign = if cents < 0 { "-" } else { "" };
    let magnitude = cents.unsigned_abs();
    if exponent == 0 {
        return format!("{sign}{magnitude}");
    }
    let scale = 10u64.pow(exponent);
    format!("{sign}{}.{:0width$}", magnitude / scale, magnitude % scale, width = exponent as usize)
}

/// ISO 4217 minor-unit exponent: 2 unless the currency is known to differ.
pub fn minor_unit_exponent(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX" | "UYI" | "VND"
        | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// Users to notify of a new invoice on `account`: logins of the account and of its main,
/// and members of the account's group (if that group may view invoices), each with
/// notifications on. Nobody when the account is deactivated or has e-bills off.
pub async fn ebill_recipients(db: &impl ConnectionTrait, account: &account::Model) -> AppResult<Vec<user::Model>> {
    if account.status == AccountStatus::Deactivated || !account.ebill_notifications {
        return Ok(Vec::new());
    }
    let homes: Vec<i64> = std::iter::once(account.id).chain(account.parent_id).collect();
    let mut found: BTreeMap<i64, user::Model> = user::Entity::find()
        .filter(user::Column::HomeAccountId.is_in(homes))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    if let Some(group_id) = account.group_id {
        let family_main = account.parent_id.unwrap_or(account.id);
        let covering = group::Entity::find_by_id(group_id)
            .filter(group::Column::MainAccountId.eq(family_main))
            .one(db)
            .await?
            .filter(|g| permissions_from_text(&g.permissions).contains(&Permission::ViewInvoices));
        if let Some(group) = covering {
            let members = sea_orm::sea_query::Query::select()
                .column(group_member::Column::UserId)
                .from(group_member::Entity)
                .and_where(group_member::Column::GroupId.eq(group.id))
                .to_owned();
            for member in user::Entity::find().filter(user::Column::Id.in_subquery(members)).all(db).await? {
                found.insert(member.id, member);
            }
        }
    }
    Ok(found.into_values().filter(|u| u.notifications_enabled && !u.is_staff).collect())
}

/// What staff give to issue an invoice.
pub struct IssueRequest {
    pub account_id: i64,
    pub currency: String,
    pub due_at: chrono::NaiveDate,
    pub lines: Vec<NewLine>,
}

/// Staff issue an invoice: totals are computed here, and in the same transaction one
/// e-bill mail per recipient is queued. The event is for the caller to publish after
/// the commit.
pub async fn issue_invoice(
    db: &DatabaseConnection,
    viewer: &Viewer,
    request: IssueRequest,
) -> AppResult<(invoice::Model, Event)> {
    require_staff(viewer)?;
    let txn = db.begin().await?;
    let account = lock_account(&txn, request.account_id)
        .await?
        .ok_or_else(|| AppError::User(refusal::not_found("account", "accountId")))?;
    let invoice = insert_invoice(&txn, &account, &request.currency, request.due_at, &request.lines).await?;
    let recipients = ebill_recipients(&txn, &account).await?;
    for recipient in &recipients {
        notify::queue(
            &txn,
            notify::Mail {
                kind: "ebill",
                dedupe_key: format!("invoice:{}:user:{}", invoice.id, recipient.id),
                recipient: recipient.email.clone(),
                subject: format!("New invoice {} for account {}", invoice.number, account.customer_number),
                body: format!(
                    "Hello {},\n\ninvoice {} for account {} is ready: {} {}, due on {}.\nSign in to the customer portal to view, download or pay it.\n",
                    recipient.login_name,
                    invoice.number,
                    account.customer_number,
                    format_amount(invoice.total_cents, &invoice.currency),
                    invoice.currency,
                    invoice.due_at.format("%Y-%m-%d"),
                ),
            },
        )
        .await?;
    }
    AuditEntry::new(Some(viewer.user.id), "invoice.issued", "Invoice", invoice.id)
        .family(Some(account.parent_id.unwrap_or(account.id)))
        .after(json!({
            "number": invoice.number, "accountId": account.id, "currency": invoice.currency,
            "totalCents": invoice.total_cents, "dueAt": invoice.due_at, "lines": request.lines.len(),
            "notified": recipients.len(),
        }))
        .record(&txn)
        .await?;
    txn.commit().await?;
    let event = Event::InvoiceIssued { invoice_id: invoice.id, account_id: account.id };
    Ok((invoice, event))
}

/// Staff void an open invoice that is not part of a collective invoice.
pub async fn void_invoice(db: &DatabaseConnection, viewer: &Viewer, invoice_id: i64) -> AppResult<invoice::Model> {
    require_staff(viewer)?;
    let txn = db.begin().await?;
    let found = invoice::Entity::find_by_id(invoice_id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::User(refusal::not_found("invoice", "invoiceId")))?;
    match found.status {
        InvoiceStatus::Paid => {
            return Err(refuse(UserErrorCode::AlreadyPaid, "a paid invoice cannot be voided", "invoiceId"));
        }
        InvoiceStatus::Void => {
            return Err(refuse(UserErrorCode::NotActive, "the invoice is already void", "invoiceId"));
        }
        InvoiceStatus::Open => {}
    }
    if found.collective_invoice_id.is_some() {
        return Err(refuse(
            UserErrorCode::InCollectiveInvoice,
            "the invoice is part of a collective invoice, whose total must stay the sum of its members",
            "invoiceId",
        ));
    }
    let account = account::Entity::find_by_id(found.account_id).one(&txn).await?;
    let before = json!({"status": found.status});
    let mut active: invoice::ActiveModel = found.into();
    active.status = Set(InvoiceStatus::Void);
    let invoice = active.update(&txn).await?;
    AuditEntry::new(Some(viewer.user.id), "invoice.voided", "Invoice", invoice.id)
        .family(account.map(|a| a.parent_id.unwrap_or(a.id)))
        .before(before)
        .after(json!({"status": invoice.status}))
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(invoice)
}

/// Sets how a secondary is billed: COLLECTIVE consolidates its open invoices into its
/// main's collective invoices. Needs MANAGE_ACCOUNTS on the family.
pub async fn set_billing_mode(
    db: &DatabaseConnection,
    viewer: &Viewer,
    account_id: i64,
    mode: BillingMode,
) -> AppResult<account::Model> {
    let txn = db.begin().await?;
    let (main, account) = lock_account_and_main(&txn, viewer, account_id).await?;
    if account.parent_id.unwrap_or(account.id) != main.id {
        return Err(AppError::User(refusal::family_changed("accountId")));
    }
    if !viewer.rights_on_family(&main).has(Permission::ManageAccounts) {
        return Err(AppError::User(refusal::needs_on_family(Permission::ManageAccounts)));
    }
    if mode == BillingMode::Collective && account.parent_id.is_none() {
        return Err(refuse(
            UserErrorCode::InvalidInput,
            "only a secondary account can be billed collectively through its main account",
            "mode",
        ));
    }
    if account.billing_mode == mode {
        txn.commit().await?;
        return Ok(account);
    }
    let before = json!({"billingMode": account.billing_mode});
    let mut active: account::ActiveModel = account.into();
    active.billing_mode = Set(mode);
    active.updated_at = Set(chrono::Utc::now());
    let account = active.update(&txn).await?;
    AuditEntry::new(Some(viewer.user.id), "account.billing_mode_set", "Account", account.id)
        .family(Some(main.id))
        .before(before)
        .after(json!({"billingMode": account.billing_mode}))
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_formatted_in_integer_arithmetic() {
        assert_eq!(format_amount(123_456, "EUR"), "1234.56");
        assert_eq!(format_amount(5, "EUR"), "0.05");
        assert_eq!(format_amount(-1_999, "USD"), "-19.99");
        assert_eq!(format_amount(123_456, "JPY"), "123456");
        assert_eq!(format_amount(123_456, "KWD"), "123.456");
        assert_eq!(format_amount(i64::MIN, "EUR"), "-92233720368547758.08");
    }

    #[test]
    fn totals_refuse_overflow_instead_of_wrapping() {
        let line = |quantity, unit_cents| NewLine { description: "x".into(), quantity, unit_cents };
        assert_eq!(total_of(&[line(3, 333), line(1, 1)]).ok(), Some(1_000));
        assert!(total_of(&[line(2, i64::MAX / 2 + 1)]).is_err());
        assert!(total_of(&[line(1, i64::MAX), line(1, 1)]).is_err());
    }
}
