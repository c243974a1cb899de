//! DataLoaders, one key type per relation, batched into one statement per relation and
//! level. The access policy is applied inside each batch: a row the viewer may not see
//! is simply not in the map, exactly like a missing one.
//!
//! By area: `accounts` (accounts, secondaries, products, users, orders, audit events),
//! `invoices` (invoices, collective invoices, balances, payments), `groups` and `spend`
//! (what accounts and families were billed per period, for dashboards). Pages
//! under a parent (a main's secondaries, a group's accounts, ...) all go through
//! `pages_per_parent`: keys grouped by page shape, one `first_rows_per` statement per
//! shape, rows handed back to their parents.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use sea_orm::sea_query::{Alias, Asterisk, Expr, Order, PgFunc, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, ExprTrait, FromQueryResult,
    IdenStatic,
};

use crate::config::Settings;
use crate::domain::access::Viewer;
use crate::entity::account;
use crate::error::AppError;
use crate::read::rows;

/// The viewer of a request, shared with its reader. It changes once at most: when a
/// `login`/`enroll` in the request signs someone in, the rest of the response (the
/// payload's `user { ... }`) is resolved as them.
pub type RequestViewer = Arc<std::sync::RwLock<Option<Arc<Viewer>>>>;

pub fn read_viewer(shared: &RequestViewer) -> Option<Arc<Viewer>> {
    shared.read().ok().and_then(|v| v.clone())
}

/// The per-request reader behind the DataLoader: one database handle and the viewer
/// whose rights filter every batch.
pub struct Reader {
    /// The hot reads' statements (`db::Reads`), and SeaORM's pool for the others.
    pub reads: crate::db::Reads,
    pub viewer: RequestViewer,
    pub settings: Arc<Settings>,
}

impl Reader {
    fn db(&self) -> &DatabaseConnection {
        self.reads.db()
    }

    fn one_of(&self, column: impl ColumnTrait, ids: impl IntoIterator<Item = i64>) -> Expr {
        one_of(self.db().get_database_backend(), column, ids)
    }

    fn viewer(&self) -> Result<Arc<Viewer>, AppError> {
        read_viewer(&self.viewer).ok_or(AppError::Unauthenticated)
    }

    /// Accounts by id, unfiltered (for policy checks on related rows). Decoded by
    /// position (`read::rows`): SeaORM's decoding by column name was a fifth of an
    /// `openItems` request's CPU.
    async fn accounts_by_id(&self, ids: Vec<i64>) -> Result<HashMap<i64, account::Model>, AppError> {
        let statement = rows::select_account_columns(&mut Query::select())
            .from(account::Entity)
            .and_where(self.one_of(account::Column::Id, ids))
            .to_owned();
        let found = self.reads.select_all(&statement).await?;
        let mut accounts = HashMap::with_capacity(found.len());
        for row in &found {
            let account = rows::account_at(row)?;
            accounts.insert(account.id, account);
        }
        Ok(accounts)
    }
}

/// `column IN (ids)`. On PostgreSQL it is `column = ANY($1)` with one array parameter:
/// the statement text, and so its prepared plan, is the same whatever the number of ids,
/// and there are no hundreds of parameters to parse and bind.
pub fn one_of(backend: DbBackend, column: impl ColumnTrait, ids: impl IntoIterator<Item = i64>) -> Expr {
    let ids: Vec<i64> = ids.into_iter().collect();
    match backend {
        DbBackend::Postgres => Expr::col(column.as_column_ref()).eq(PgFunc::any(Expr::val(ids))),
        _ => column.is_in(ids),
    }
}

/// The first `limit` rows per partition, in one statement (ROW_NUMBER over a window).
async fn first_rows_per<E>(
    db: &impl ConnectionTrait,
    entity: E,
    partition: E::Column,
    order: E::Column,
    descending: bool,
    condition: Condition,
    limit: u64,
) -> Result<Vec<E::Model>, AppError>
where
    E: EntityTrait,
    E::Model: FromQueryResult,
{
    let window = format!(
        "ROW_NUMBER() OVER (PARTITION BY {} ORDER BY {} {})",
        partition.as_str(),
        order.as_str(),
        if descending { "DESC" } else { "ASC" }
    );
    let inner: SelectStatement = Query::select()
        .column(Asterisk)
        .expr_as(Expr::cust(window), Alias::new("canopy_row"))
        .from(entity)
        .cond_where(condition)
        .to_owned();
    let outer = Query::select()
        .column(Asterisk)
        .from_subquery(inner, Alias::new("ranked"))
        .and_where(Expr::col(Alias::new("canopy_row")).lte(limit))
        .order_by(Alias::new(partition.as_str()), Order::Asc)
        .order_by(Alias::new(order.as_str()), if descending { Order::Desc } else { Order::Asc })
        .to_owned();
    let statement = db.get_database_backend().build(&outer);
    Ok(E::find().from_raw_sql(statement).all(db).await?)
}

/// A key for one page of rows under one parent (an account's secondaries, a group's
/// accounts, ...): the parent, and the page's shape (cursor and size; every key of a
/// request's batch almost always has the same one).
pub trait PageOf: Copy + Eq + Hash {
    type Shape: Copy + Eq + Hash;
    fn parent(&self) -> i64;
    fn shape(&self) -> Self::Shape;
    fn at(parent: i64, shape: Self::Shape) -> Self;
}

/// The keys' parents, by page shape: one statement per shape.
pub fn parents_by_shape<K: PageOf>(keys: &[K]) -> HashMap<K::Shape, Vec<i64>> {
    let mut shapes: HashMap<K::Shape, Vec<i64>> = HashMap::new();
    for key in keys {
        shapes.entry(key.shape()).or_default().push(key.parent());
    }
    shapes
}

/// One page per key. `fetch(parents, shape)` reads the rows of every parent with that
/// page shape at once, each paired with its parent (`first_rows_per` does it in one
/// statement); every key gets its page, empty where no row came back.
pub async fn pages_per_parent<K, M, F, Fut>(keys: &[K], fetch: F) -> Result<HashMap<K, Vec<M>>, AppError>
where
    K: PageOf,
    F: Fn(Vec<i64>, K::Shape) -> Fut,
    Fut: Future<Output = Result<Vec<(i64, M)>, AppError>>,
{
    let mut out = HashMap::new();
    for (shape, parents) in parents_by_shape(keys) {
        let mut pages: HashMap<i64, Vec<M>> = parents.iter().map(|p| (*p, Vec::new())).collect();
        for (parent, row) in fetch(parents, shape).await? {
            pages.entry(parent).or_default().push(row);
        }
        out.extend(pages.into_iter().map(|(parent, rows)| (K::at(parent, shape), rows)));
    }
    Ok(out)
}

/// How pages of one table are read: the column that names a row's parent, and the
/// column the pages are ordered by (descending when `newest_first`).
pub struct PageQuery<E: EntityTrait> {
    pub entity: E,
    pub parent: E::Column,
    pub order: E::Column,
    pub newest_first: bool,
}

impl Reader {
    /// One page of rows per key, for every page shape in one `first_rows_per` statement:
    /// `condition(parents, cursor)` selects the parents' rows past the cursor (and only
    /// those the viewer may see), `parent_of` names a row's parent.
    async fn rows_per_parent<K, E>(
        &self,
        keys: &[K],
        query: PageQuery<E>,
        condition: impl Fn(Vec<i64>, i64) -> Condition,
        parent_of: impl Fn(&E::Model) -> Option<i64> + Copy,
    ) -> Result<HashMap<K, Vec<E::Model>>, AppError>
    where
        K: PageOf<Shape = (i64, u64)>,
        E: EntityTrait + Copy,
        E::Model: FromQueryResult,
    {
        let query = &query;
        pages_per_parent(keys, |parents, (cursor, first)| {
            let condition = condition(parents, cursor);
            async move {
                let rows = first_rows_per(
                    self.db(),
                    query.entity,
                    query.parent,
                    query.order,
                    query.newest_first,
                    condition,
                    first + 1,
                )
                .await?;
                Ok(rows.into_iter().filter_map(|row| Some((parent_of(&row)?, row))).collect())
            }
        })
        .await
    }
}

/// Implements `PageOf` for a page key of the form `{ parent, cursor, first }`.
macro_rules! page_of {
    ($key:ident, $parent:ident, $cursor:ident) => {
        impl $crate::read::loaders::PageOf for $key {
            type Shape = (i64, u64);
            fn parent(&self) -> i64 {
                self.$parent
            }
            fn shape(&self) -> (i64, u64) {
                (self.$cursor, self.first)
            }
            fn at($parent: i64, ($cursor, first): (i64, u64)) -> Self {
                $key { $parent, $cursor, first }
            }
        }
    };
}

mod accounts;
mod groups;
mod invoices;
mod link_requests;
mod spend;

pub use accounts::{
    AccountKey, AccountOrderKey, AuditEventKey, ProductKey, SecondariesPage, SecondaryCountKey, UserKey,
};
pub use groups::{GroupAccountsPage, GroupKey, GroupMembersPage};
pub use invoices::{
    CollectiveInvoiceKey, CollectiveInvoicesPage, CollectiveMembersPage, CollectiveWholeKey, InvoiceKey,
    InvoiceLinesKey, InvoicesPage, OpenBalanceKey, PaymentInvoicesKey, PaymentKey,
};
pub use link_requests::LinkRequestKey;
pub use spend::{FamilySpendKey, SpendBucket, SpendGranularity, SpendKey, SpendShape};
