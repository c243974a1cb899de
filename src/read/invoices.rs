//! `openItems`: open invoices across every account whose invoices the viewer may view.

use std::collections::HashMap;

use chrono::{NaiveDate, Utc};
use sea_orm::sea_query::{Alias, Expr, Func, Order, Query};
use sea_orm::{ColumnTrait, Condition, DbErr, ExprTrait};

use crate::domain::access::{Permission, Viewer};
use crate::entity::enums::InvoiceStatus;
use crate::entity::{account, invoice};
use crate::error::AppResult;
use crate::read::loaders::AccountKey;
use crate::read::rows;

/// Which open items a query asks for.
#[derive(Debug, Clone, Default)]
pub struct OpenItemsFilter {
    /// Only this account's (`Some(-1)` for an id that names nothing: matches nothing).
    pub account_id: Option<i64>,
    /// True: only items due before today (UTC); false: only items not yet overdue.
    pub overdue: Option<bool>,
    /// Only items in this ISO 4217 currency.
    pub currency: Option<String>,
}

/// A page of open items and what every match adds up to.
pub struct OpenItems {
    /// Up to `first + 1` rows, earliest due first, then by id.
    pub rows: Vec<invoice::Model>,
    /// The sum of every matching open invoice, per currency, by currency code.
    pub totals: Vec<(String, i64)>,
    /// When asked for: the rows' accounts that the viewer may see (the access policy's
    /// `can_see`), keyed as the `AccountKey` loader answers them.
    pub accounts: Option<HashMap<AccountKey, account::Model>>,
}

/// Open invoices of the accounts on which the viewer has VIEW_INVOICES, after the keyset
/// `after` (due date, id); with `with_accounts`, their accounts too, read in the same
/// statement (a join), which spares a round trip to the database for the page's accounts.
pub async fn open_items(
    reads: &crate::db::Reads,
    viewer: &Viewer,
    filter: OpenItemsFilter,
    after: Option<(NaiveDate, i64)>,
    first: u64,
    with_accounts: bool,
) -> AppResult<OpenItems> {
    let viewable = Query::select()
        .column(account::Column::Id)
        .from(account::Entity)
        .cond_where(viewer.accounts_with(Permission::ViewInvoices))
        .to_owned();
    let mut matching = Condition::all()
        .add(invoice::Column::Status.eq(InvoiceStatus::Open))
        .add(invoice::Column::AccountId.in_subquery(viewable));
    if let Some(id) = filter.account_id {
        matching = matching.add(invoice::Column::AccountId.eq(id));
    }
    if let Some(overdue) = filter.overdue {
        let today = Utc::now().date_naive();
        matching =
            matching.add(if overdue { invoice::Column::DueAt.lt(today) } else { invoice::Column::DueAt.gte(today) });
    }
    if let Some(currency) = filter.currency {
        matching = matching.add(invoice::Column::Currency.eq(currency.trim().to_ascii_uppercase()));
    }
    let mut page = matching.clone();
    if let Some((due, id)) = after {
        page = page.add(
            Condition::any()
                .add(invoice::Column::DueAt.gt(due))
                .add(Condition::all().add(invoice::Column::DueAt.eq(due)).add(invoice::Column::Id.gt(id))),
        );
    }
    let mut statement = Query::select();
    rows::select_invoice_columns(&mut statement).from(invoice::Entity);
    if with_accounts {
        rows::select_invoice_account_columns(&mut statement).inner_join(
            account::Entity,
            Expr::col((account::Entity, account::Column::Id)).equals((invoice::Entity, invoice::Column::AccountId)),
        );
    }
    statement
        .cond_where(page)
        .order_by((invoice::Entity, invoice::Column::DueAt), Order::Asc)
        .order_by((invoice::Entity, invoice::Column::Id), Order::Asc)
        .limit(first + 1);
    let totals = Query::select()
        .column(invoice::Column::Currency)
        .expr(Func::cast_as(Func::sum(Expr::col(invoice::Column::TotalCents)), Alias::new("BIGINT")))
        .from(invoice::Entity)
        .cond_where(matching)
        .group_by_col(invoice::Column::Currency)
        .order_by(invoice::Column::Currency, Order::Asc)
        .to_owned();
    // The page by position (`read::rows`), and the totals beside it on a second
    // connection: neither waits for the other.
    let page_rows = async {
        let found = reads.select_all(&statement).await?;
        let mut accounts = with_accounts.then(HashMap::new);
        let mut invoices = Vec::with_capacity(found.len());
        for row in &found {
            let invoice = rows::invoice_at(row)?;
            if let Some(accounts) = &mut accounts
                && !accounts.contains_key(&AccountKey(invoice.account_id))
            {
                accounts.insert(AccountKey(invoice.account_id), rows::invoice_account_columns_at(row)?);
            }
            invoices.push(invoice);
        }
        Ok::<_, DbErr>((invoices, accounts))
    };
    let totals = async {
        let found = reads.select_all(&totals).await?;
        found
            .iter()
            .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
            .collect::<Result<Vec<_>, DbErr>>()
    };
    let ((rows, mut accounts), totals) = futures_util::try_join!(page_rows, totals)?;
    if let Some(accounts) = &mut accounts {
        accounts.retain(|_, account| viewer.can_see(account));
    }
    Ok(OpenItems { rows, totals, accounts })
}
