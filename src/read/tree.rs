//! A page of accounts with what the tree query asks next, in one statement.
//!
//! The SPA's tree query asks for a page of accounts and, for each, its first secondaries;
//! then groups, open balances and invoices of both levels. Loaded level by level that is
//! one statement per relation *and level*. Fetching the page together with the first
//! secondaries of each account lets both levels' groups, balances and invoices be loaded
//! in the same batches: one statement per relation for the whole tree. The same statement
//! counts each page account's secondaries, which is what its `role` needs.
//!
//! The page's groups, open balances and invoice pages are then loaded right away, through
//! the same loaders, with the policy applied here: `graphql::tree` only writes what these
//! reads returned, or feeds them to the request's DataLoader for the general resolvers.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use sea_orm::sea_query::{Alias, Asterisk, Expr, Func, Order, Query, SelectStatement, UnionType};
use sea_orm::{ColumnTrait, Condition, ExprTrait, IdenStatic};

use crate::domain::access::{Permission, Viewer};
use crate::entity::enums::InvoiceStatus;
use crate::entity::{account, group};
use crate::error::{AppError, AppResult};
use crate::read::invoice_page::InvoicePage;
use crate::read::loaders::{GroupKey, InvoicesPage, OpenBalanceKey, Reader, SecondariesPage};
use crate::read::rows;

const ROW: &str = "canopy_row";
const SECONDARIES: &str = "canopy_secondaries";

/// A first page: `first`, and `status` where the field has it.
pub type InvoicePageArgs = (u64, Option<InvoiceStatus>);

/// What the query asks of the accounts at one level of the tree (and so what the
/// prefetch loads for them).
#[derive(Default, Clone, Copy)]
pub struct LevelSelection {
    pub group: bool,
    pub open_balance: bool,
    /// The invoice page every account at this level asks for (`None`: not asked, or not
    /// one plain first page).
    pub invoices: Option<InvoicePageArgs>,
    /// Set when invoices are asked for in a shape the prefetch leaves to the loader.
    pub invoices_elsewhere: bool,
}

/// The groups, open balances and invoice pages of a tree's two levels, loaded ahead.
#[derive(Default)]
pub struct Relations {
    /// What was loaded for the page's accounts (`[0]`) and for their secondaries (`[1]`).
    pub levels: [LevelSelection; 2],
    pub groups: HashMap<GroupKey, group::Model>,
    pub balances: HashMap<OpenBalanceKey, Vec<(String, i64)>>,
    pub invoices: HashMap<InvoicesPage, InvoicePage>,
}

impl Relations {
    /// Hands everything to the request's loader, for the general resolvers.
    pub async fn feed(self, loader: &DataLoader<Reader, HashMapCache>) {
        loader.feed_many(self.groups).await;
        loader.feed_many(self.balances).await;
        loader.feed_many(self.invoices).await;
    }
}

/// Loads, through the loaders, the groups, open balances and invoice pages that the page's
/// accounts (`level_one`) and their secondaries (`level_two`) will ask for, as `levels`
/// says. Open balances and invoices only of accounts on which the viewer has
/// VIEW_INVOICES (decided here, by the policy's row check).
pub async fn relations<'a>(
    batch: &Reader,
    viewer: &Viewer,
    levels: [LevelSelection; 2],
    level_one: impl Iterator<Item = &'a account::Model>,
    level_two: impl Iterator<Item = &'a account::Model>,
) -> AppResult<Relations> {
    if levels.iter().any(|a| a.invoices_elsewhere) {
        // One level would load through the loader anyway: let both, so they share a batch.
        return Ok(Relations::default());
    }
    let mut groups = Vec::new();
    let mut balances = Vec::new();
    let mut invoices = Vec::new();
    let accounts = level_one.map(|a| (&levels[0], a)).chain(level_two.map(|a| (&levels[1], a)));
    for (asked, account) in accounts {
        if asked.group
            && let Some(group_id) = account.group_id
        {
            groups.push(GroupKey(group_id));
        }
        let may_view = viewer.rights_on(account).has(Permission::ViewInvoices);
        if asked.open_balance && may_view {
            balances.push(OpenBalanceKey(account.id));
        }
        if let Some((first, status)) = asked.invoices
            && may_view
        {
            invoices.push(InvoicesPage { account_id: account.id, status, before_id: i64::MAX, first });
        }
    }
    groups.sort_unstable_by_key(|k| k.0);
    groups.dedup();
    let (groups, balances, invoices) = futures_util::try_join!(
        load_if_any(batch, groups),
        load_if_any(batch, balances),
        load_if_any(batch, invoices),
    )?;
    Ok(Relations { levels, groups, balances, invoices })
}

async fn load_if_any<K>(batch: &Reader, keys: Vec<K>) -> AppResult<HashMap<K, <Reader as Loader<K>>::Value>>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    Reader: Loader<K, Error = AppError>,
{
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    batch.load(&keys).await
}

/// The first page of secondaries under each account of a page.
pub struct SecondaryPages {
    pub first: u64,
    /// `first + 1` rows (what the loader's `SecondariesPage` holds) by parent id; every
    /// page account has an entry.
    pub by_parent: HashMap<i64, Vec<account::Model>>,
}

impl SecondaryPages {
    /// The secondaries the connections show: the first `first` of each page.
    pub fn shown(&self) -> impl Iterator<Item = &account::Model> {
        self.by_parent.values().flat_map(|rows| rows.iter().take(self.first as usize))
    }
}

/// A page of accounts (`first + 1` rows) and the secondaries shown under the first `first`.
pub struct Page {
    pub accounts: Vec<account::Model>,
    /// How many secondaries each page account has (all of them, for its `role`).
    pub secondary_counts: HashMap<i64, u64>,
    pub secondaries: Option<SecondaryPages>,
}

impl SecondaryPages {
    /// Hands the pages to the request's loader, as `SecondariesPage { after: 0, first }`.
    pub async fn feed(self, loader: &DataLoader<Reader, HashMapCache>) {
        let first = self.first;
        let pages = self.by_parent.into_iter();
        loader.feed_many(pages.map(|(parent_id, rows)| (SecondariesPage { parent_id, after: 0, first }, rows))).await;
    }
}

/// `first + 1` accounts matching `page` by id after `after`, with each one's secondary
/// count, plus, when `secondaries` is given, the first `secondaries + 1` secondaries of
/// each that `viewer` may see.
pub async fn accounts_page(
    reads: &crate::db::Reads,
    viewer: &Viewer,
    page: Condition,
    after: i64,
    first: u64,
    secondaries: Option<u64>,
) -> AppResult<Page> {
    let page_ids = |select: &mut SelectStatement| {
        select
            .from(account::Entity)
            .cond_where(page.clone())
            .and_where(account::Column::Id.gt(after))
            .order_by((account::Entity, account::Column::Id), Order::Asc)
            .limit(first + 1)
            .to_owned()
    };
    let child = Alias::new("canopy_child");
    let count = Query::select()
        .expr(Func::count(Expr::col((child.clone(), account::Column::Id))))
        .from_as(account::Entity, child.clone())
        .and_where(Expr::col((child, account::Column::ParentId)).equals((account::Entity, account::Column::Id)))
        .to_owned();
    let mut statement = Query::select()
        .column(Asterisk)
        .from_subquery(
            page_ids(
                Query::select()
                    .column((account::Entity, Asterisk))
                    .expr_as(Expr::SubQuery(None, Box::new(count.into())), Alias::new(SECONDARIES))
                    .expr_as(Expr::val(0i64), Alias::new(ROW)),
            ),
            Alias::new("canopy_page"),
        )
        .to_owned();
    if let Some(secondaries) = secondaries {
        let ids = page_ids(Query::select().column((account::Entity, account::Column::Id)));
        let ranked = Query::select()
            .column((account::Entity, Asterisk))
            .expr_as(Expr::val(0i64), Alias::new(SECONDARIES))
            .expr_as(
                Expr::cust(format!(
                    "ROW_NUMBER() OVER (PARTITION BY {} ORDER BY {})",
                    account::Column::ParentId.as_str(),
                    account::Column::Id.as_str()
                )),
                Alias::new(ROW),
            )
            .from(account::Entity)
            .and_where(account::Column::ParentId.in_subquery(ids))
            .cond_where(viewer.visible_accounts())
            .to_owned();
        statement.union(
            UnionType::All,
            Query::select()
                .column(Asterisk)
                .from_subquery(ranked, Alias::new("canopy_ranked"))
                .and_where(Expr::col(Alias::new(ROW)).lte(secondaries + 1))
                .to_owned(),
        );
    }
    let rows = reads.select_all(&statement).await?;

    let mut accounts = Vec::new();
    let mut secondary_counts = HashMap::new();
    let mut children: HashMap<i64, Vec<account::Model>> = HashMap::new();
    for row in &rows {
        let account = rows::account_at(row)?;
        let rank: i64 = row.try_get_by_index(rows::ACCOUNT_COLUMNS.len() + 1)?;
        if rank == 0 {
            let count: i64 = row.try_get_by_index(rows::ACCOUNT_COLUMNS.len())?;
            secondary_counts.insert(account.id, u64::try_from(count).unwrap_or(0));
            accounts.push(account);
        } else if let Some(parent) = account.parent_id {
            children.entry(parent).or_default().push(account);
        }
    }
    accounts.sort_by_key(|a| a.id);
    let secondaries = secondaries.map(|first| {
        let by_parent = accounts
            .iter()
            .map(|account| {
                let mut rows = children.remove(&account.id).unwrap_or_default();
                rows.sort_by_key(|s| s.id);
                (account.id, rows)
            })
            .collect();
        SecondaryPages { first, by_parent }
    });
    Ok(Page { accounts, secondary_counts, secondaries })
}
