//! Rows of the tree query decoded by position.
//!
//! SeaORM decodes a model column by column by name (building each name and looking it up
//! in the row); for the tree query's ~3,600 rows that was a fifth of the server's CPU.
//! The statements here select their columns in the order these decoders read them.

use sea_orm::sea_query::{Alias, Expr, SelectStatement};
use sea_orm::{DbErr, IdenStatic, QueryResult};

use crate::entity::{account, invoice};

/// The account columns, in the order `account_at` reads them.
pub const ACCOUNT_COLUMNS: [account::Column; 16] = [
    account::Column::Id,
    account::Column::CustomerNumber,
    account::Column::HolderName,
    account::Column::ContactEmail,
    account::Column::FriendlyName,
    account::Column::ParentId,
    account::Column::GroupId,
    account::Column::Status,
    account::Column::BillingMode,
    account::Column::ProductId,
    account::Column::TokenVersion,
    account::Column::CallForwardingTo,
    account::Column::PaperlessBilling,
    account::Column::EbillNotifications,
    account::Column::CreatedAt,
    account::Column::UpdatedAt,
];

/// Selects `ACCOUNT_COLUMNS` of the `accounts` table (unaliased).
pub fn select_account_columns(select: &mut SelectStatement) -> &mut SelectStatement {
    for (n, column) in ACCOUNT_COLUMNS.iter().enumerate() {
        select.expr_as(Expr::col((account::Entity, *column)), Alias::new(format!("c{n}")));
    }
    select
}

/// An account from `ACCOUNT_COLUMNS` at positions 0..16.
pub fn account_at(row: &QueryResult) -> Result<account::Model, DbErr> {
    Ok(account::Model {
        id: row.try_get_by_index(0)?,
        customer_number: row.try_get_by_index(1)?,
        holder_name: row.try_get_by_index(2)?,
        contact_email: row.try_get_by_index(3)?,
        friendly_name: row.try_get_by_index(4)?,
        parent_id: row.try_get_by_index(5)?,
        group_id: row.try_get_by_index(6)?,
        status: row.try_get_by_index(7)?,
        billing_mode: row.try_get_by_index(8)?,
        product_id: row.try_get_by_index(9)?,
        token_version: row.try_get_by_index(10)?,
        call_forwarding_to: row.try_get_by_index(11)?,
        paperless_billing: row.try_get_by_index(12)?,
        ebill_notifications: row.try_get_by_index(13)?,
        created_at: row.try_get_by_index(14)?,
        updated_at: row.try_get_by_index(15)?,
    })
}

/// The invoice columns of table alias `i`, in the order `invoice_at` reads them.
pub fn invoice_columns(alias: &str) -> String {
    [
        invoice::Column::Id,
        invoice::Column::Number,
        invoice::Column::AccountId,
        invoice::Column::Status,
        invoice::Column::Currency,
        invoice::Column::TotalCents,
        invoice::Column::IssuedAt,
        invoice::Column::DueAt,
        invoice::Column::CollectiveInvoiceId,
        invoice::Column::PaidAt,
    ]
    .iter()
    .map(|c| format!("{alias}.{}", c.as_str()))
    .collect::<Vec<_>>()
    .join(", ")
}

/// An invoice from `invoice_columns` at positions 0..10.
pub fn invoice_at(row: &QueryResult) -> Result<invoice::Model, DbErr> {
    Ok(invoice::Model {
        id: row.try_get_by_index(0)?,
        number: row.try_get_by_index(1)?,
        account_id: row.try_get_by_index(2)?,
        status: row.try_get_by_index(3)?,
        currency: row.try_get_by_index(4)?,
        total_cents: row.try_get_by_index(5)?,
        issued_at: row.try_get_by_index(6)?,
        due_at: row.try_get_by_index(7)?,
        collective_invoice_id: row.try_get_by_index(8)?,
        paid_at: row.try_get_by_index(9)?,
    })
}
