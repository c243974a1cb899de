//! Invoices: issuing with computed totals (never trusted from input).

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, Set, TransactionTrait,
};

use crate::entity::enums::InvoiceStatus;
use crate::entity::{account, invoice, invoice_line};
use crate::error::{AppError, AppResult, UserError, UserErrorCode};

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
