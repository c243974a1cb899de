//! Rows of the tree query and of the hottest loaders (accounts by id, open items)
//! decoded by position.
//!
//! SeaORM decodes a model column by column by name (building each name and looking it up
//! in the row); for the tree query's ~3,600 rows that was a fifth of the server's CPU.
//! The statements here select their columns in the order these decoders read them.
//!
//! On PostgreSQL the plain columns are read straight from sqlx's row without its per-value
//! type check (a clone, compare and lookup of the column's type for each of ~35,000
//! values: a sixth of the server's CPU in perf). The statements here fix every column's
//! type, and a value of the wrong width still fails to decode; the tests run both paths.
//! Integers, timestamps and dates are read from PostgreSQL's binary format here
//! (`Binary`): sqlx's decoders, a variable-length copy per integer and calendar
//! arithmetic per date, were a tenth of the server's CPU on the tree query.

use async_graphql::resolver_utils::EnumType;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Alias, Expr, SelectStatement};
use sea_orm::sqlx::postgres::PgValueFormat;
use sea_orm::sqlx::{self, Postgres, Row, ValueRef};
use sea_orm::{DbErr, EntityTrait, IdenStatic, QueryResult, TryGetable};

use crate::entity::{account, invoice};
use crate::read::invoice_page::{InvoicePage, InvoiceRow, TextAt};

/// A value that could not be read: SeaORM's error, boxed. The decoders below run for
/// each of a tree query's ~40,000 values, and moving `Result<T, DbErr>` (a large enum)
/// through each of them was a tenth of the server's CPU; boxed, the error is one
/// pointer. The row decoders hand SeaORM's error out unboxed.
struct Unread(Box<DbErr>);

impl From<DbErr> for Unread {
    fn from(err: DbErr) -> Self {
        Unread(Box::new(err))
    }
}

fn unread(text: String) -> Unread {
    Unread::from(DbErr::Type(text))
}

/// sqlx's error for a value it could not read, as SeaORM's.
fn decode_error(err: sqlx::Error) -> Unread {
    unread(err.to_string())
}

/// Runs a row decoder, handing its error out as SeaORM's.
fn decoded<T>(decode: impl FnOnce() -> Result<T, Unread>) -> Result<T, DbErr> {
    decode().map_err(|err| *err.0)
}

/// Column `index` of `row`.
fn column<'r, T>(row: &'r QueryResult, index: usize) -> Result<T, Unread>
where
    T: TryGetable + sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    match row.try_as_pg_row() {
        Some(pg) => pg.try_get_unchecked(index).map_err(decode_error),
        None => Ok(row.try_get_by_index(index)?),
    }
}

/// A column type read straight from PostgreSQL's binary format.
trait Binary: Sized {
    fn from_binary(bytes: &[u8]) -> Option<Self>;
}

impl Binary for i64 {
    fn from_binary(bytes: &[u8]) -> Option<Self> {
        Some(i64::from_be_bytes(bytes.try_into().ok()?))
    }
}

impl Binary for i32 {
    fn from_binary(bytes: &[u8]) -> Option<Self> {
        Some(i32::from_be_bytes(bytes.try_into().ok()?))
    }
}

/// PostgreSQL counts timestamps in microseconds and dates in days from 2000-01-01.
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;
const POSTGRES_EPOCH_DAYS_FROM_CE: i32 = 730_120;

impl Binary for DateTime<Utc> {
    fn from_binary(bytes: &[u8]) -> Option<Self> {
        DateTime::from_timestamp_micros(i64::from_binary(bytes)?.checked_add(POSTGRES_EPOCH_MICROS)?)
    }
}

impl Binary for NaiveDate {
    fn from_binary(bytes: &[u8]) -> Option<Self> {
        NaiveDate::from_num_days_from_ce_opt(i32::from_binary(bytes)?.checked_add(POSTGRES_EPOCH_DAYS_FROM_CE)?)
    }
}

/// Column `index` of `row` through `Binary` on PostgreSQL; `None` for NULL.
fn binary_column<T>(row: &QueryResult, index: usize) -> Result<Option<T>, Unread>
where
    T: Binary,
    Option<T>: TryGetable,
{
    let Some(pg) = row.try_as_pg_row() else { return Ok(row.try_get_by_index(index)?) };
    let value = pg.try_get_raw(index).map_err(decode_error)?;
    if value.is_null() {
        return Ok(None);
    }
    let bytes = match value.format() {
        PgValueFormat::Binary => value.as_bytes().ok(),
        PgValueFormat::Text => None,
    };
    match bytes.and_then(T::from_binary) {
        Some(decoded) => Ok(Some(decoded)),
        None => Err(unread(format!("column {index} is not a binary {}", std::any::type_name::<T>()))),
    }
}

/// A column that is never NULL, through `Binary`.
fn required<T>(row: &QueryResult, index: usize) -> Result<T, Unread>
where
    T: Binary,
    Option<T>: TryGetable,
{
    binary_column(row, index)?.ok_or_else(|| unread(format!("column {index} is NULL")))
}

/// Text column `index` of `row`, appended to `page`'s buffer (on PostgreSQL without a
/// `String` of its own).
fn text_into(row: &QueryResult, index: usize, page: &mut InvoicePage) -> Result<TextAt, Unread> {
    match row.try_as_pg_row() {
        Some(pg) => {
            let text: &str = pg.try_get_unchecked(index).map_err(decode_error)?;
            Ok(page.push_text(text))
        }
        None => Ok(page.push_text(&row.try_get_by_index::<String>(index)?)),
    }
}

/// Enum column `index` of `row`. On PostgreSQL its text is matched against the enum's
/// GraphQL names without a `String` for it: the enums in `entity::enums` store their
/// GraphQL names (both SCREAMING_SNAKE_CASE; the unit test below holds them to it).
fn enum_column<E>(row: &QueryResult, index: usize) -> Result<E, Unread>
where
    E: EnumType + TryGetable,
{
    match row.try_as_pg_row() {
        Some(pg) => {
            let name: &str = pg.try_get_unchecked(index).map_err(decode_error)?;
            let item = E::items().iter().find(|item| item.name == name);
            item.map(|item| item.value).ok_or_else(|| unread(format!("column {index} holds an unknown value")))
        }
        None => Ok(row.try_get_by_index(index)?),
    }
}

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

/// Selects `columns` of `entity`'s table, in that order, for a decoder by position (named
/// `c{first}`, `c{first + 1}`, ...).
fn select_columns<E: EntityTrait>(select: &mut SelectStatement, entity: E, columns: &[E::Column], first: usize) {
    for (n, column) in columns.iter().enumerate() {
        select.expr_as(Expr::col((entity, *column)), Alias::new(format!("c{}", first + n)));
    }
}

/// Selects `ACCOUNT_COLUMNS` of the `accounts` table (unaliased).
pub fn select_account_columns(select: &mut SelectStatement) -> &mut SelectStatement {
    select_columns(select, account::Entity, &ACCOUNT_COLUMNS, 0);
    select
}

/// Selects `ACCOUNT_COLUMNS` of the `accounts` table after `INVOICE_COLUMNS`, for a
/// statement that joins each invoice's account (`invoice_account_columns_at`).
pub fn select_invoice_account_columns(select: &mut SelectStatement) -> &mut SelectStatement {
    select_columns(select, account::Entity, &ACCOUNT_COLUMNS, INVOICE_COLUMNS.len());
    select
}

/// An account from `ACCOUNT_COLUMNS` at positions 0..16.
pub fn account_at(row: &QueryResult) -> Result<account::Model, DbErr> {
    account_from(row, 0)
}

/// The account from `select_invoice_account_columns`, after the invoice's columns.
pub fn invoice_account_columns_at(row: &QueryResult) -> Result<account::Model, DbErr> {
    account_from(row, INVOICE_COLUMNS.len())
}

/// An account from `ACCOUNT_COLUMNS` at positions `at..at + 16`.
fn account_from(row: &QueryResult, at: usize) -> Result<account::Model, DbErr> {
    decoded(|| {
        Ok(account::Model {
            id: required(row, at)?,
            customer_number: column(row, at + 1)?,
            holder_name: column(row, at + 2)?,
            contact_email: column(row, at + 3)?,
            friendly_name: column(row, at + 4)?,
            parent_id: binary_column(row, at + 5)?,
            group_id: binary_column(row, at + 6)?,
            status: enum_column(row, at + 7)?,
            billing_mode: enum_column(row, at + 8)?,
            product_id: required(row, at + 9)?,
            token_version: required(row, at + 10)?,
            call_forwarding_to: column(row, at + 11)?,
            paperless_billing: column(row, at + 12)?,
            ebill_notifications: column(row, at + 13)?,
            created_at: required(row, at + 14)?,
            updated_at: required(row, at + 15)?,
        })
    })
}

/// An open balance row (account id, currency, total cents), as the `OpenBalanceKey`
/// loader selects them.
pub fn balance_at(row: &QueryResult) -> Result<(i64, String, i64), DbErr> {
    decoded(|| Ok((required(row, 0)?, column(row, 1)?, required(row, 2)?)))
}

/// The invoice columns, in the order `invoice_at` and `push_invoice_at` read them.
const INVOICE_COLUMNS: [invoice::Column; 10] = [
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
];

/// The invoice columns of table alias `i`, in the order `invoice_at` reads them.
pub fn invoice_columns(alias: &str) -> String {
    INVOICE_COLUMNS.iter().map(|c| format!("{alias}.{}", c.as_str())).collect::<Vec<_>>().join(", ")
}

/// Selects `INVOICE_COLUMNS` of the `invoices` table (unaliased).
pub fn select_invoice_columns(select: &mut SelectStatement) -> &mut SelectStatement {
    select_columns(select, invoice::Entity, &INVOICE_COLUMNS, 0);
    select
}

/// An invoice from `INVOICE_COLUMNS` at positions 0..10.
pub fn invoice_at(row: &QueryResult) -> Result<invoice::Model, DbErr> {
    decoded(|| {
        Ok(invoice::Model {
            id: required(row, 0)?,
            number: column(row, 1)?,
            account_id: required(row, 2)?,
            status: enum_column(row, 3)?,
            currency: column(row, 4)?,
            total_cents: required(row, 5)?,
            issued_at: required(row, 6)?,
            due_at: required(row, 7)?,
            collective_invoice_id: binary_column(row, 8)?,
            paid_at: binary_column(row, 9)?,
        })
    })
}

/// The account of the invoice in `row` (from `invoice_columns`).
pub fn invoice_account_at(row: &QueryResult) -> Result<i64, DbErr> {
    decoded(|| required(row, 2))
}

/// The invoice from `invoice_columns` at positions 0..10, of account `account_id` (read
/// with `invoice_account_at`), appended to `page`.
pub fn push_invoice_at(row: &QueryResult, account_id: i64, page: &mut InvoicePage) -> Result<(), DbErr> {
    decoded(|| {
        let number = text_into(row, 1, page)?;
        let currency = text_into(row, 4, page)?;
        page.push(InvoiceRow {
            id: required(row, 0)?,
            number,
            account_id,
            status: enum_column(row, 3)?,
            currency,
            total_cents: required(row, 5)?,
            issued_at: required(row, 6)?,
            due_at: required(row, 7)?,
            collective_invoice_id: binary_column(row, 8)?,
            paid_at: binary_column(row, 9)?,
        });
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use async_graphql::resolver_utils::EnumType;
    use sea_orm::{ActiveEnum, Iterable};

    use crate::entity::enums::{AccountStatus, BillingMode, InvoiceStatus};

    fn stores_graphql_names<E: EnumType + ActiveEnum<Value = String> + Iterable>() {
        for value in E::iter() {
            let item = E::items().iter().find(|item| item.value == value);
            assert_eq!(item.map(|item| item.name.to_owned()), Some(value.to_value()));
        }
    }

    /// PostgreSQL's binary timestamps and dates count from 2000-01-01.
    #[test]
    fn binary_values_decode_from_postgres_epoch() {
        use super::Binary;
        use chrono::{DateTime, NaiveDate, Utc};
        let epoch = DateTime::<Utc>::from_binary(&0i64.to_be_bytes());
        assert_eq!(epoch.map(|t| t.to_rfc3339()), Some("2000-01-01T00:00:00+00:00".to_owned()));
        let later = DateTime::<Utc>::from_binary(&(86_400_000_000i64 + 1).to_be_bytes());
        assert_eq!(later.map(|t| t.to_rfc3339()), Some("2000-01-02T00:00:00.000001+00:00".to_owned()));
        assert_eq!(NaiveDate::from_binary(&0i32.to_be_bytes()), NaiveDate::from_ymd_opt(2000, 1, 1));
        assert_eq!(NaiveDate::from_binary(&(-1i32).to_be_bytes()), NaiveDate::from_ymd_opt(1999, 12, 31));
        assert_eq!(NaiveDate::from_binary(&9822i32.to_be_bytes()), NaiveDate::from_ymd_opt(2026, 11, 22));
        assert_eq!(i64::from_binary(&(-5i64).to_be_bytes()), Some(-5));
        assert_eq!(i64::from_binary(&[0, 1]), None, "a value of another width is refused");
    }

    /// `enum_column` reads these enums by their GraphQL names.
    #[test]
    fn enums_read_by_position_store_their_graphql_names() {
        stores_graphql_names::<AccountStatus>();
        stores_graphql_names::<BillingMode>();
        stores_graphql_names::<InvoiceStatus>();
    }
}
