//! Spend for dashboards: what accounts were billed, per period and currency.
//!
//! Spend counts the invoices that were issued and not voided (open or paid), by the UTC
//! day of their `issued_at`, as collective invoices match their period. The statement
//! reads only the four columns the buckets need; the buckets are formed here in Rust, so
//! SQLite and PostgreSQL, whose date functions differ, answer alike. A range is at most
//! ten years long (`SpendShape::new` refuses longer ones), which bounds the rows one key
//! can read and the buckets it can answer (121 months at most).
//!
//! The policy is applied in the statement: invoices are joined to their accounts and
//! only those of accounts on which the viewer has VIEW_INVOICES are read, with the SQL
//! condition of the one rule table (`Viewer::accounts_with`).

use std::collections::{BTreeMap, HashMap};

use async_graphql::dataloader::Loader;
use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveTime, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, Condition, EntityTrait, ExprTrait, FromQueryResult, QueryFilter, QueryOrder};

use super::{PageOf, Reader, parents_by_shape};
use crate::domain::access::{Permission, Viewer};
use crate::entity::enums::InvoiceStatus;
use crate::entity::{account, invoice};
use crate::error::{AppError, AppResult};

/// How long each period of a spend report is. Periods are calendar periods in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, async_graphql::Enum)]
pub enum SpendGranularity {
    /// Calendar months (2026-03-01 to 2026-03-31).
    Month,
    /// Calendar quarters: January to March, April to June, July to September, October
    /// to December.
    Quarter,
    /// Calendar years.
    Year,
}

impl SpendGranularity {
    /// The number of the period a day falls in, counted from year 0 (consecutive
    /// periods have consecutive numbers).
    fn index(self, day: NaiveDate) -> i64 {
        let year = i64::from(day.year());
        match self {
            SpendGranularity::Month => year * 12 + i64::from(day.month0()),
            SpendGranularity::Quarter => year * 4 + i64::from(day.month0() / 3),
            SpendGranularity::Year => year,
        }
    }
}

/// The first and last day of the period `day` falls in.
fn period_of(day: NaiveDate, granularity: SpendGranularity) -> Option<(NaiveDate, NaiveDate)> {
    let (first_month, months) = match granularity {
        SpendGranularity::Month => (day.month(), 1),
        SpendGranularity::Quarter => (day.month0() / 3 * 3 + 1, 3),
        SpendGranularity::Year => (1, 12),
    };
    let start = NaiveDate::from_ymd_opt(day.year(), first_month, 1)?;
    let end = start.checked_add_months(Months::new(months))?.pred_opt()?;
    Some((start, end))
}

/// The range and granularity of a spend report: the days `from` to `to`, both included.
/// Only valid ranges can be built (`new`), so a loader never reads an unbounded one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpendShape {
    from: NaiveDate,
    to: NaiveDate,
    granularity: SpendGranularity,
}

impl SpendShape {
    /// The longest range, in years.
    pub const MAX_YEARS: u32 = 10;

    /// A range of at most `MAX_YEARS` years, `from` on or before `to`, both between the
    /// years 1 and 9999 (the `Date` scalar writes four-digit years).
    pub fn new(from: NaiveDate, to: NaiveDate, granularity: SpendGranularity) -> AppResult<SpendShape> {
        if from > to {
            return Err(AppError::InvalidInput(format!("`from` ({from}) must not be after `to` ({to})")));
        }
        if from.year() < 1 || to.year() > 9999 {
            return Err(AppError::InvalidInput("spend dates lie between 0001-01-01 and 9999-12-31".to_owned()));
        }
        let limit = from
            .checked_add_months(Months::new(12 * Self::MAX_YEARS))
            .ok_or_else(|| AppError::InvalidInput("`from` is too far in the future".to_owned()))?;
        if to >= limit {
            return Err(AppError::InvalidInput(format!(
                "a spend range covers at most {} years: `to` must be before {limit}",
                Self::MAX_YEARS
            )));
        }
        Ok(SpendShape { from, to, granularity })
    }

    pub fn granularity(&self) -> SpendGranularity {
        self.granularity
    }

    /// How many periods the range touches (its first and last may be partial): at most
    /// 121 months, 41 quarters or 11 years.
    pub fn periods(&self) -> usize {
        let count = self.granularity.index(self.to) - self.granularity.index(self.from) + 1;
        usize::try_from(count).unwrap_or(1).max(1)
    }

    /// `[from 00:00 UTC, the day after to 00:00 UTC)`.
    fn instants(&self) -> AppResult<(DateTime<Utc>, DateTime<Utc>)> {
        let after = self.to.succ_opt().ok_or_else(|| AppError::internal("spend range ends at the last date"))?;
        Ok((self.from.and_time(NaiveTime::MIN).and_utc(), after.and_time(NaiveTime::MIN).and_utc()))
    }
}

/// What an account was billed in one period in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendBucket {
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub currency: String,
    pub amount_cents: i64,
    pub invoice_count: u32,
}

/// The spend of one account over one range, in buckets ordered by period and then
/// currency, only non-empty ones; empty where the viewer may not view its invoices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpendKey {
    pub account_id: i64,
    pub shape: SpendShape,
}

impl PageOf for SpendKey {
    type Shape = SpendShape;
    fn parent(&self) -> i64 {
        self.account_id
    }
    fn shape(&self) -> SpendShape {
        self.shape
    }
    fn at(account_id: i64, shape: SpendShape) -> Self {
        SpendKey { account_id, shape }
    }
}

impl Loader<SpendKey> for Reader {
    type Value = Vec<SpendBucket>;
    type Error = AppError;

    async fn load(&self, keys: &[SpendKey]) -> Result<HashMap<SpendKey, Self::Value>, Self::Error> {
        let viewer = self.viewer()?;
        let mut out = HashMap::new();
        for (shape, accounts) in parents_by_shape(keys) {
            let which = Condition::all().add(self.one_of(invoice::Column::AccountId, accounts.iter().copied()));
            let mut spend = self.spend_where(&viewer, which, shape).await?;
            for account_id in accounts {
                out.insert(SpendKey { account_id, shape }, spend.remove(&account_id).unwrap_or_default());
            }
        }
        Ok(out)
    }
}

/// Every account of a main's family (the main and its secondaries; a standalone
/// account's family is itself) on which the viewer has VIEW_INVOICES, the main first and
/// then the secondaries oldest first, each with its spend. A secondary's id names no
/// family: its list is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FamilySpendKey {
    pub main_id: i64,
    pub shape: SpendShape,
}

impl PageOf for FamilySpendKey {
    type Shape = SpendShape;
    fn parent(&self) -> i64 {
        self.main_id
    }
    fn shape(&self) -> SpendShape {
        self.shape
    }
    fn at(main_id: i64, shape: SpendShape) -> Self {
        FamilySpendKey { main_id, shape }
    }
}

impl Loader<FamilySpendKey> for Reader {
    type Value = Vec<(account::Model, Vec<SpendBucket>)>;
    type Error = AppError;

    /// Two statements per range, whatever the number of families: their accounts, then
    /// the spend of all of them (selected by family again, not by a list of ids that can
    /// run into the thousands).
    async fn load(&self, keys: &[FamilySpendKey]) -> Result<HashMap<FamilySpendKey, Self::Value>, Self::Error> {
        let viewer = self.viewer()?;
        let mut out = HashMap::new();
        for (shape, mains) in parents_by_shape(keys) {
            let family = || {
                Condition::any()
                    .add(self.one_of(account::Column::Id, mains.iter().copied()))
                    .add(self.one_of(account::Column::ParentId, mains.iter().copied()))
            };
            let accounts = account::Entity::find()
                .filter(family())
                .filter(viewer.accounts_with(Permission::ViewInvoices))
                .order_by_asc(account::Column::Id)
                .all(self.db())
                .await?;
            let mut spend = self.spend_where(&viewer, family(), shape).await?;
            let mut families: HashMap<i64, Self::Value> = mains.iter().map(|main| (*main, Vec::new())).collect();
            for account in accounts {
                let buckets = spend.remove(&account.id).unwrap_or_default();
                // A row names its family by its parent; the id of a secondary, asked as a
                // main, finds its own row under its real main instead, so its list stays empty.
                if let Some(rows) = families.get_mut(&account.parent_id.unwrap_or(account.id)) {
                    rows.push((account, buckets));
                }
            }
            for (main_id, mut rows) in families {
                rows.sort_by_key(|(account, _)| (account.parent_id.is_some(), account.id));
                out.insert(FamilySpendKey { main_id, shape }, rows);
            }
        }
        Ok(out)
    }
}

/// The columns a bucket needs of an invoice.
#[derive(FromQueryResult)]
struct SpendRow {
    account_id: i64,
    currency: String,
    issued_at: DateTime<Utc>,
    total_cents: i64,
}

impl Reader {
    /// The spend over `shape` of the accounts `which` selects (a condition on an invoice
    /// joined to its account), per account: one statement.
    async fn spend_where(
        &self,
        viewer: &Viewer,
        which: Condition,
        shape: SpendShape,
    ) -> AppResult<HashMap<i64, Vec<SpendBucket>>> {
        let (start, end) = shape.instants()?;
        let select = Query::select()
            .column((invoice::Entity, invoice::Column::AccountId))
            .column((invoice::Entity, invoice::Column::Currency))
            .column((invoice::Entity, invoice::Column::IssuedAt))
            .column((invoice::Entity, invoice::Column::TotalCents))
            .from(invoice::Entity)
            .inner_join(
                account::Entity,
                Expr::col((account::Entity, account::Column::Id)).equals((invoice::Entity, invoice::Column::AccountId)),
            )
            .cond_where(
                Condition::all()
                    .add(which)
                    .add(invoice::Column::Status.ne(InvoiceStatus::Void))
                    .add(invoice::Column::IssuedAt.gte(start))
                    .add(invoice::Column::IssuedAt.lt(end))
                    .add(viewer.accounts_with(Permission::ViewInvoices)),
            )
            .to_owned();
        let statement = self.db().get_database_backend().build(&select);
        let rows = SpendRow::find_by_statement(statement).all(self.db()).await?;
        buckets_of(rows, shape.granularity())
    }
}

/// Sums rows into buckets per account, (period, currency) in order. A sum beyond 64 bits
/// is an error, never a wrapped or clamped amount.
fn buckets_of(rows: Vec<SpendRow>, granularity: SpendGranularity) -> AppResult<HashMap<i64, Vec<SpendBucket>>> {
    let mut sums: BTreeMap<(i64, NaiveDate, String), (NaiveDate, i64, u32)> = BTreeMap::new();
    for row in rows {
        let account_id = row.account_id;
        let (start, end) = period_of(row.issued_at.date_naive(), granularity)
            .ok_or_else(|| AppError::internal(format!("no period for an invoice of account {account_id}")))?;
        let (_, amount, count) = sums.entry((account_id, start, row.currency)).or_insert((end, 0, 0));
        *amount = amount
            .checked_add(row.total_cents)
            .ok_or_else(|| AppError::internal(format!("the spend of account {account_id} overflows 64 bits")))?;
        *count = count.saturating_add(1);
    }
    let mut out: HashMap<i64, Vec<SpendBucket>> = HashMap::new();
    for ((account_id, period_start, currency), (period_end, amount_cents, invoice_count)) in sums {
        out.entry(account_id).or_default().push(SpendBucket {
            period_start,
            period_end,
            currency,
            amount_cents,
            invoice_count,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn periods_are_calendar_months_quarters_and_years() {
        use SpendGranularity::*;
        assert_eq!(period_of(day(2024, 2, 29), Month), Some((day(2024, 2, 1), day(2024, 2, 29))));
        assert_eq!(period_of(day(2023, 2, 1), Month), Some((day(2023, 2, 1), day(2023, 2, 28))));
        assert_eq!(period_of(day(2026, 12, 31), Month), Some((day(2026, 12, 1), day(2026, 12, 31))));
        assert_eq!(period_of(day(2026, 3, 31), Quarter), Some((day(2026, 1, 1), day(2026, 3, 31))));
        assert_eq!(period_of(day(2026, 4, 1), Quarter), Some((day(2026, 4, 1), day(2026, 6, 30))));
        assert_eq!(period_of(day(2026, 11, 15), Quarter), Some((day(2026, 10, 1), day(2026, 12, 31))));
        assert_eq!(period_of(day(2026, 7, 4), Year), Some((day(2026, 1, 1), day(2026, 12, 31))));
        assert_eq!(period_of(day(9999, 12, 31), Year), Some((day(9999, 1, 1), day(9999, 12, 31))));
    }

    #[test]
    fn a_range_counts_the_periods_it_touches_and_lasts_at_most_ten_years() {
        use SpendGranularity::*;
        let shape = |from, to, g| SpendShape::new(from, to, g).map(|s| s.periods());
        assert_eq!(shape(day(2026, 1, 31), day(2026, 2, 1), Month).ok(), Some(2));
        assert_eq!(shape(day(2026, 3, 31), day(2026, 4, 1), Quarter).ok(), Some(2));
        assert_eq!(shape(day(2026, 5, 5), day(2026, 5, 5), Year).ok(), Some(1));
        assert_eq!(shape(day(2017, 1, 15), day(2027, 1, 14), Month).ok(), Some(121));
        assert!(shape(day(2017, 1, 15), day(2027, 1, 15), Month).is_err(), "ten years and a day");
        assert!(shape(day(2026, 2, 1), day(2026, 1, 31), Month).is_err(), "from after to");
        assert!(shape(day(9999, 1, 1), day(10000, 1, 1), Year).is_err(), "five-digit years");
    }

    #[test]
    fn buckets_sum_per_period_and_currency_and_refuse_to_overflow() {
        let at = |y, m, d| day(y, m, d).and_hms_opt(23, 59, 59).unwrap().and_utc();
        let row = |account_id, currency: &str, issued_at, total_cents| SpendRow {
            account_id,
            currency: currency.to_owned(),
            issued_at,
            total_cents,
        };
        let rows = vec![
            row(1, "USD", at(2026, 1, 31), 5),
            row(1, "EUR", at(2026, 1, 1), 10),
            row(1, "EUR", at(2026, 1, 31), 20),
            row(1, "EUR", at(2026, 2, 1), 40),
        ];
        let buckets = buckets_of(rows, SpendGranularity::Month).unwrap();
        let found: Vec<_> = buckets[&1]
            .iter()
            .map(|b| (b.period_start, b.currency.as_str(), b.amount_cents, b.invoice_count))
            .collect();
        assert_eq!(
            found,
            vec![(day(2026, 1, 1), "EUR", 30, 2), (day(2026, 1, 1), "USD", 5, 1), (day(2026, 2, 1), "EUR", 40, 1)]
        );
        let huge = vec![row(2, "EUR", at(2026, 1, 1), i64::MAX), row(2, "EUR", at(2026, 1, 2), 1)];
        assert!(buckets_of(huge, SpendGranularity::Month).is_err());
    }
}
