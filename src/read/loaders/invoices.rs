//! Loaders of invoices, collective invoices, balances and payments.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use sea_orm::sea_query::{Alias, Expr, Func, Query, SelectStatement};
use sea_orm::{ColumnTrait, Condition, DbBackend, EntityTrait, FromQueryResult, QueryFilter, QuerySelect, QueryTrait};

use super::{PageOf, PageQuery, Reader, first_rows_per, parents_by_shape};
use crate::domain::access::{Permission, Viewer};
use crate::entity::enums::InvoiceStatus;
use crate::entity::{account, collective_invoice, invoice, invoice_line, payment};
use crate::error::AppError;
use crate::read::invoice_page::InvoicePage;
use crate::read::rows;

/// The open balance of an account, per currency. Only for viewers with VIEW_INVOICES;
/// the caller checks that on the account it already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpenBalanceKey(pub i64);

impl Loader<OpenBalanceKey> for Reader {
    type Value = Vec<(String, i64)>;
    type Error = AppError;

    async fn load(&self, keys: &[OpenBalanceKey]) -> Result<HashMap<OpenBalanceKey, Self::Value>, Self::Error> {
        let select = invoice::Entity::find()
            .select_only()
            .column(invoice::Column::AccountId)
            .column(invoice::Column::Currency)
            .column_as(
                Expr::from(Func::cast_as(Func::sum(Expr::col(invoice::Column::TotalCents)), Alias::new("BIGINT"))),
                "total",
            )
            .filter(self.one_of(invoice::Column::AccountId, keys.iter().map(|k| k.0)))
            .filter(invoice::Column::Status.eq(InvoiceStatus::Open))
            .group_by(invoice::Column::AccountId)
            .group_by(invoice::Column::Currency)
            .build(self.db().get_database_backend());
        let found = self.reads.fetch_all(select).await?;
        let rows = found.iter().map(rows::balance_at).collect::<Result<Vec<_>, _>>()?;
        let mut map: HashMap<_, Vec<(String, i64)>> = keys.iter().map(|k| (*k, Vec::new())).collect();
        for (account_id, currency, total) in rows {
            map.entry(OpenBalanceKey(account_id)).or_default().push((currency, total));
        }
        for balances in map.values_mut() {
            balances.sort();
        }
        Ok(map)
    }
}

/// A page of an account's invoices, newest first, optionally of one status (read as
/// `first + 1` rows, to know whether more follow). The caller checks VIEW_INVOICES on the
/// account it already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InvoicesPage {
    pub account_id: i64,
    pub status: Option<InvoiceStatus>,
    /// Only invoices with a smaller id; `i64::MAX` for the first page.
    pub before_id: i64,
    pub first: u64,
}

impl PageOf for InvoicesPage {
    type Shape = (Option<InvoiceStatus>, i64, u64);
    fn parent(&self) -> i64 {
        self.account_id
    }
    fn shape(&self) -> Self::Shape {
        (self.status, self.before_id, self.first)
    }
    fn at(account_id: i64, (status, before_id, first): Self::Shape) -> Self {
        InvoicesPage { account_id, status, before_id, first }
    }
}

impl Loader<InvoicesPage> for Reader {
    type Value = InvoicePage;
    type Error = AppError;

    async fn load(&self, keys: &[InvoicesPage]) -> Result<HashMap<InvoicesPage, Self::Value>, Self::Error> {
        let mut out = HashMap::with_capacity(keys.len());
        for ((status, before_id, first), accounts) in parents_by_shape(keys) {
            // Every row is filed by its account here: the tree query's ~3,000 rows
            // through SipHash were a percent of its CPU, and the keys are our own ids.
            let mut pages: foldhash::HashMap<i64, InvoicePage> =
                accounts.iter().map(|a| (*a, InvoicePage::with_capacity(first as usize + 1))).collect();
            if self.db().get_database_backend() == DbBackend::Postgres {
                latest_invoices_lateral(&self.reads, &accounts, status, before_id, first + 1, &mut pages).await?;
            } else {
                let mut condition = Condition::all()
                    .add(invoice::Column::AccountId.is_in(accounts.clone()))
                    .add(invoice::Column::Id.lt(before_id));
                if let Some(status) = status {
                    condition = condition.add(invoice::Column::Status.eq(status));
                }
                let rows = first_rows_per(
                    self.db(),
                    invoice::Entity,
                    invoice::Column::AccountId,
                    invoice::Column::Id,
                    true,
                    condition,
                    first + 1,
                )
                .await?;
                for row in rows {
                    pages.entry(row.account_id).or_default().push_model(row);
                }
            }
            for (account_id, mut page) in pages {
                page.keep_first(first);
                out.insert(InvoicesPage { account_id, status, before_id, first }, page);
            }
        }
        Ok(out)
    }
}

/// The latest `limit` invoices (by id, below `before_id`) of each account, on PostgreSQL:
/// one index scan of (account_id, id) per account that stops after `limit` rows, where the
/// window function would read every invoice of every account. Each row goes to its
/// account's page in `pages`.
async fn latest_invoices_lateral(
    reads: &crate::db::Reads,
    accounts: &[i64],
    status: Option<InvoiceStatus>,
    before_id: i64,
    limit: u64,
    pages: &mut foldhash::HashMap<i64, InvoicePage>,
) -> Result<(), AppError> {
    let status_filter = if status.is_some() { "AND i.status = $4" } else { "" };
    let sql = format!(
        "SELECT {} FROM unnest($1::bigint[]) AS a(id) CROSS JOIN LATERAL \
         (SELECT * FROM invoices i WHERE i.account_id = a.id AND i.id < $2 {status_filter} ORDER BY i.id DESC LIMIT $3) AS i",
        rows::invoice_columns("i")
    );
    let mut values: Vec<sea_orm::Value> = vec![accounts.to_vec().into(), before_id.into(), (limit as i64).into()];
    if let Some(status) = status {
        values.push(sea_orm::ActiveEnum::to_value(&status).into());
    }
    let statement = sea_orm::Statement::from_sql_and_values(DbBackend::Postgres, sql, values);
    for row in reads.fetch_all(statement).await? {
        let account_id = rows::invoice_account_at(&row)?;
        let page = pages.entry(account_id).or_default();
        // Each account's rows come newest first (the lateral subquery's order, which the
        // nested loop keeps): the last of `limit` only says that more follow, and is not
        // decoded (a sixth of the tree query's invoice rows).
        if page.rows().len() as u64 + 1 >= limit {
            page.mark_more();
            continue;
        }
        rows::push_invoice_at(&row, account_id, page)?;
    }
    Ok(())
}

/// An invoice whose account the viewer may view invoices of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InvoiceKey(pub i64);

impl Loader<InvoiceKey> for Reader {
    type Value = invoice::Model;
    type Error = AppError;

    async fn load(&self, keys: &[InvoiceKey]) -> Result<HashMap<InvoiceKey, Self::Value>, Self::Error> {
        let viewer = self.viewer()?;
        let invoices =
            invoice::Entity::find().filter(invoice::Column::Id.is_in(keys.iter().map(|k| k.0))).all(self.db()).await?;
        let accounts = self.accounts_by_id(invoices.iter().map(|i| i.account_id).collect()).await?;
        Ok(invoices
            .into_iter()
            .filter(|i| accounts.get(&i.account_id).is_some_and(|a| viewer.rights_on(a).has(Permission::ViewInvoices)))
            .map(|i| (InvoiceKey(i.id), i))
            .collect())
    }
}

/// The lines of an invoice, in order. The caller holds the (authorised) invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InvoiceLinesKey(pub i64);

impl Loader<InvoiceLinesKey> for Reader {
    type Value = Vec<invoice_line::Model>;
    type Error = AppError;

    async fn load(&self, keys: &[InvoiceLinesKey]) -> Result<HashMap<InvoiceLinesKey, Self::Value>, Self::Error> {
        use sea_orm::QueryOrder;
        let rows = invoice_line::Entity::find()
            .filter(self.one_of(invoice_line::Column::InvoiceId, keys.iter().map(|k| k.0)))
            .order_by_asc(invoice_line::Column::InvoiceId)
            .order_by_asc(invoice_line::Column::Position)
            .all(self.db())
            .await?;
        let mut map: HashMap<_, Vec<_>> = keys.iter().map(|k| (*k, Vec::new())).collect();
        for row in rows {
            map.entry(InvoiceLinesKey(row.invoice_id)).or_default().push(row);
        }
        Ok(map)
    }
}

/// A collective invoice, visible to those who may view the main account's invoices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CollectiveInvoiceKey(pub i64);

impl Loader<CollectiveInvoiceKey> for Reader {
    type Value = collective_invoice::Model;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[CollectiveInvoiceKey],
    ) -> Result<HashMap<CollectiveInvoiceKey, Self::Value>, Self::Error> {
        let viewer = self.viewer()?;
        let rows = collective_invoice::Entity::find()
            .filter(collective_invoice::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(self.db())
            .await?;
        let mains = self.accounts_by_id(rows.iter().map(|c| c.main_account_id).collect()).await?;
        Ok(rows
            .into_iter()
            .filter(|c| {
                mains.get(&c.main_account_id).is_some_and(|m| viewer.rights_on(m).has(Permission::ViewInvoices))
            })
            .map(|c| (CollectiveInvoiceKey(c.id), c))
            .collect())
    }
}

/// The ids of the accounts on which the viewer has `permission`, as a subquery.
fn viewable_accounts(viewer: &Viewer, permission: Permission) -> SelectStatement {
    Query::select()
        .column(account::Column::Id)
        .from(account::Entity)
        .cond_where(viewer.accounts_with(permission))
        .to_owned()
}

/// Whether the viewer may view the invoices of every member account of a collective
/// invoice (the collective documents list them all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CollectiveWholeKey(pub i64);

impl Loader<CollectiveWholeKey> for Reader {
    type Value = bool;
    type Error = AppError;

    async fn load(&self, keys: &[CollectiveWholeKey]) -> Result<HashMap<CollectiveWholeKey, bool>, Self::Error> {
        #[derive(FromQueryResult)]
        struct Row {
            collective_invoice_id: i64,
        }
        let viewer = self.viewer()?;
        let hidden: Vec<Row> = invoice::Entity::find()
            .select_only()
            .column(invoice::Column::CollectiveInvoiceId)
            .filter(invoice::Column::CollectiveInvoiceId.is_in(keys.iter().map(|k| k.0)))
            .filter(invoice::Column::AccountId.not_in_subquery(viewable_accounts(&viewer, Permission::ViewInvoices)))
            .group_by(invoice::Column::CollectiveInvoiceId)
            .into_model::<Row>()
            .all(self.db())
            .await?;
        let mut map: HashMap<_, _> = keys.iter().map(|k| (*k, true)).collect();
        for row in hidden {
            map.insert(CollectiveWholeKey(row.collective_invoice_id), false);
        }
        Ok(map)
    }
}

/// A page of the member invoices of a collective invoice whose accounts' invoices the
/// viewer may view, by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CollectiveMembersPage {
    pub collective_invoice_id: i64,
    pub after: i64,
    pub first: u64,
}

page_of!(CollectiveMembersPage, collective_invoice_id, after);

impl Loader<CollectiveMembersPage> for Reader {
    type Value = Vec<invoice::Model>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[CollectiveMembersPage],
    ) -> Result<HashMap<CollectiveMembersPage, Self::Value>, Self::Error> {
        let viewer = self.viewer()?;
        let query = PageQuery {
            entity: invoice::Entity,
            parent: invoice::Column::CollectiveInvoiceId,
            order: invoice::Column::Id,
            newest_first: false,
        };
        let condition = |collectives: Vec<i64>, after: i64| {
            Condition::all()
                .add(invoice::Column::CollectiveInvoiceId.is_in(collectives))
                .add(invoice::Column::Id.gt(after))
                .add(invoice::Column::AccountId.in_subquery(viewable_accounts(&viewer, Permission::ViewInvoices)))
        };
        self.rows_per_parent(keys, query, condition, |row| row.collective_invoice_id).await
    }
}

/// A payment, visible to the user who made it and to staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PaymentKey(pub i64);

impl Loader<PaymentKey> for Reader {
    type Value = payment::Model;
    type Error = AppError;

    async fn load(&self, keys: &[PaymentKey]) -> Result<HashMap<PaymentKey, Self::Value>, Self::Error> {
        let viewer = self.viewer()?;
        Ok(payment::Entity::find()
            .filter(payment::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(self.db())
            .await?
            .into_iter()
            .filter(|p| viewer.is_staff() || p.user_id == viewer.user.id)
            .map(|p| (PaymentKey(p.id), p))
            .collect())
    }
}

/// The invoices a payment paid that the viewer may view, by id. The caller holds the
/// (authorised) payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PaymentInvoicesKey(pub i64);

impl Loader<PaymentInvoicesKey> for Reader {
    type Value = Vec<invoice::Model>;
    type Error = AppError;

    async fn load(&self, keys: &[PaymentInvoicesKey]) -> Result<HashMap<PaymentInvoicesKey, Self::Value>, Self::Error> {
        let viewer = self.viewer()?;
        let allocations =
            crate::domain::payments::allocations_of(self.db(), keys.iter().map(|k| k.0).collect()).await?;
        let invoices: HashMap<i64, invoice::Model> = invoice::Entity::find()
            .filter(invoice::Column::Id.is_in(allocations.values().flatten().copied()))
            .all(self.db())
            .await?
            .into_iter()
            .map(|i| (i.id, i))
            .collect();
        let accounts = self.accounts_by_id(invoices.values().map(|i| i.account_id).collect()).await?;
        let viewable = |i: &&invoice::Model| {
            accounts.get(&i.account_id).is_some_and(|a| viewer.rights_on(a).has(Permission::ViewInvoices))
        };
        Ok(keys
            .iter()
            .map(|key| {
                let paid = allocations.get(&key.0).map(Vec::as_slice).unwrap_or_default();
                let rows = paid.iter().filter_map(|id| invoices.get(id)).filter(viewable).cloned().collect();
                (*key, rows)
            })
            .collect())
    }
}

/// A page of a main account's collective invoices, newest first. Holds `first + 1`
/// rows. The caller checks VIEW_INVOICES on the account it already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CollectiveInvoicesPage {
    pub main_account_id: i64,
    /// Only collective invoices with a smaller id; `i64::MAX` for the first page.
    pub before_id: i64,
    pub first: u64,
}

page_of!(CollectiveInvoicesPage, main_account_id, before_id);

impl Loader<CollectiveInvoicesPage> for Reader {
    type Value = Vec<collective_invoice::Model>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[CollectiveInvoicesPage],
    ) -> Result<HashMap<CollectiveInvoicesPage, Self::Value>, Self::Error> {
        let query = PageQuery {
            entity: collective_invoice::Entity,
            parent: collective_invoice::Column::MainAccountId,
            order: collective_invoice::Column::Id,
            newest_first: true,
        };
        let condition = |mains: Vec<i64>, before_id: i64| {
            Condition::all()
                .add(collective_invoice::Column::MainAccountId.is_in(mains))
                .add(collective_invoice::Column::Id.lt(before_id))
        };
        self.rows_per_parent(keys, query, condition, |row| Some(row.main_account_id)).await
    }
}
