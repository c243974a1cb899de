//! Spend for dashboards: `Account.spend` and `Account.familySpend`, what was billed per
//! period and currency (the read layer's `loaders::spend` forms the buckets and applies
//! the policy), and what those fields cost in the complexity count.

use async_graphql::{Context, InputType, Object, Result, ScalarType, Value};

use crate::domain::access::Permission;
use crate::entity::account;
use crate::graphql::account::Account;
use crate::graphql::connection::MAX_PAGE_SIZE;
use crate::graphql::context::ContextExt;
use crate::graphql::scalars::{Cents, Date};
use crate::read::loaders::{self, FamilySpendKey, SpendKey, SpendShape};

pub use crate::read::loaders::SpendGranularity;

/// What an account was billed in one period in one currency: the sum and number of its
/// invoices issued in that period (by the UTC day of `issuedAt`) that are not void.
pub struct SpendBucket(pub loaders::SpendBucket);

/// What an account was billed in one period in one currency: the sum and number of its
/// invoices issued in that period (by the UTC day of `issuedAt`) that are not void.
#[Object]
impl SpendBucket {
    /// The first day of the period (the first of a month, quarter or year).
    async fn period_start(&self) -> Date {
        Date(self.0.period_start)
    }

    /// The last day of the period. A period is reported whole even where the asked range
    /// covers only part of it; only invoices issued within the range are counted.
    async fn period_end(&self) -> Date {
        Date(self.0.period_end)
    }

    /// The ISO 4217 currency of the invoices counted here.
    async fn currency(&self) -> &str {
        &self.0.currency
    }

    /// The sum of their totals, in minor units of `currency`.
    async fn amount_cents(&self) -> Cents {
        Cents(self.0.amount_cents)
    }

    /// How many invoices were counted.
    async fn invoice_count(&self) -> i32 {
        i32::try_from(self.0.invoice_count).unwrap_or(i32::MAX)
    }
}

/// One account of a family with what it was billed, period by period.
pub struct AccountSpend {
    account: Account,
    buckets: Vec<SpendBucket>,
}

/// One account of a family with what it was billed, period by period.
#[Object]
impl AccountSpend {
    /// The account.
    async fn account(&self) -> &Account {
        &self.account
    }

    /// Its spend in the asked range: one bucket per period and currency with invoices,
    /// ordered by `periodStart` and then `currency`; empty when nothing was billed.
    async fn buckets(&self) -> &[SpendBucket] {
        &self.buckets
    }
}

/// `Account.spend`: the account's buckets, empty without VIEW_INVOICES on it.
pub async fn spend_of(
    ctx: &Context<'_>,
    account: &account::Model,
    from: Date,
    to: Date,
    granularity: SpendGranularity,
) -> Result<Vec<SpendBucket>> {
    let shape = SpendShape::new(from.0, to.0, granularity)?;
    if !ctx.viewer()?.rights_on(account).has(Permission::ViewInvoices) {
        return Ok(Vec::new());
    }
    let buckets = ctx.loader()?.load_one(SpendKey { account_id: account.id, shape }).await?.unwrap_or_default();
    Ok(buckets.into_iter().map(SpendBucket).collect())
}

/// `Account.familySpend`: every account of the family with VIEW_INVOICES, with its
/// buckets; empty for a secondary.
pub async fn family_spend_of(
    ctx: &Context<'_>,
    account: &account::Model,
    from: Date,
    to: Date,
    granularity: SpendGranularity,
) -> Result<Vec<AccountSpend>> {
    let shape = SpendShape::new(from.0, to.0, granularity)?;
    if account.parent_id.is_some() {
        return Ok(Vec::new());
    }
    let rows = ctx.loader()?.load_one(FamilySpendKey { main_id: account.id, shape }).await?.unwrap_or_default();
    Ok(rows
        .into_iter()
        .map(|(account, buckets)| AccountSpend {
            account: Account(account),
            buckets: buckets.into_iter().map(SpendBucket).collect(),
        })
        .collect())
}

/// The periods a range touches, for the complexity count: 1 for a range the resolver
/// refuses (it answers an error, not buckets).
fn periods(from: Date, to: Date, granularity: SpendGranularity) -> usize {
    SpendShape::new(from.0, to.0, granularity).map(|shape| shape.periods()).unwrap_or(1)
}

/// The declared cost of `spend`: one bucket per period (in one currency) times what each
/// selects. Ten years of months cost 121 times the bucket's selection.
pub fn spend_cost(from: Date, to: Date, granularity: SpendGranularity, child_complexity: usize) -> usize {
    periods(from, to, granularity).saturating_mul(child_complexity).saturating_add(1)
}

/// The declared cost of `familySpend`: a family is charged as 100 accounts (the most a
/// page of secondaries holds), each with one bucket per period, times what a row selects.
pub fn family_spend_cost(from: Date, to: Date, granularity: SpendGranularity, child_complexity: usize) -> usize {
    let rows = (MAX_PAGE_SIZE as usize).saturating_mul(periods(from, to, granularity));
    rows.saturating_mul(child_complexity).saturating_add(1)
}

/// The same costs for `graphql::limits`, which counts complexity over the document before
/// async-graphql does: `None` for any other field. `argument(name)` is an argument's value
/// with variables resolved. Arguments that do not parse cost as a plain field (the
/// engine refuses them).
pub fn cost_by_name(name: &str, argument: impl Fn(&str) -> Option<Value>, child_complexity: usize) -> Option<usize> {
    let cost = match name {
        "spend" => spend_cost,
        "familySpend" => family_spend_cost,
        _ => return None,
    };
    let date = |name: &str| argument(name).and_then(|value| <Date as ScalarType>::parse(value).ok());
    let granularity = match argument("granularity") {
        None => Some(SpendGranularity::Month),
        Some(value) => <SpendGranularity as InputType>::parse(Some(value)).ok(),
    };
    Some(match (date("from"), date("to"), granularity) {
        (Some(from), Some(to), Some(granularity)) => cost(from, to, granularity, child_complexity),
        _ => child_complexity.saturating_add(1),
    })
}
