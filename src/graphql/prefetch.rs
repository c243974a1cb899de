//! A page of accounts with what the tree query asks next, in one statement.
//!
//! The SPA's tree query asks for a page of accounts and, for each, its first secondaries;
//! then groups, open balances and invoices of both levels. Loaded level by level that is
//! one statement per relation *and level*. Fetching the page together with the first
//! secondaries of each account, and feeding those to the request's DataLoader, lets both
//! levels' groups, balances and invoices queue into the same batches: one statement per
//! relation for the whole tree. The same statement counts each page account's
//! secondaries, which is what its `role` needs.

use std::collections::HashMap;

use async_graphql::Context;
use async_graphql::Value;
use async_graphql::dataloader::{DataLoader, HashMapCache};
use sea_orm::sea_query::{Alias, Asterisk, Expr, Func, Order, Query, SelectStatement, UnionType};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, ExprTrait, FromQueryResult, IdenStatic};

use crate::domain::access::Viewer;
use crate::entity::account;
use crate::error::AppResult;
use crate::graphql::connection::page_size;
use crate::graphql::loaders::{Batch, SecondariesPage, SecondaryCountKey};

const ROW: &str = "canopy_row";
const SECONDARIES: &str = "canopy_secondaries";

/// The `first` of the secondaries every account of this page asks for, when all of them
/// ask for the same first page (no `after`): the shape worth fetching ahead.
pub fn secondaries_asked(ctx: &Context<'_>) -> Option<u64> {
    let ahead = ctx.look_ahead();
    let mut fields = ahead.field("edges").field("node").field("secondaries").selection_fields();
    fields.extend(ahead.field("nodes").field("secondaries").selection_fields());
    let mut shape = None;
    for field in fields {
        let mut first = None;
        for (name, value) in field.arguments().ok()? {
            match (name.as_str(), value) {
                (_, Value::Null) => {}
                ("first", Value::Number(n)) => first = Some(i32::try_from(n.as_i64()?).ok()?),
                // A later page, or an argument this does not know: leave it to the loader.
                _ => return None,
            }
        }
        let first = page_size(first).ok()?;
        if shape.is_some_and(|s| s != first) {
            return None;
        }
        shape = Some(first);
    }
    shape
}

/// `first + 1` accounts matching `page` by id after `after`, plus, when `secondaries` is
/// given, the first `secondaries + 1` secondaries of each that `viewer` may see (fed to
/// the loader as `SecondariesPage { after: 0, first: secondaries }`). Each page account's
/// secondary count is fed as its `SecondaryCountKey`.
pub async fn accounts_page(
    db: &impl ConnectionTrait,
    loader: &DataLoader<Batch, HashMapCache>,
    viewer: &Viewer,
    page: Condition,
    after: i64,
    first: u64,
    secondaries: Option<u64>,
) -> AppResult<Vec<account::Model>> {
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
    let rows = db.query_all(&statement).await?;

    let mut accounts = Vec::new();
    let mut counts = Vec::new();
    let mut children: HashMap<i64, Vec<account::Model>> = HashMap::new();
    for row in &rows {
        let account = account::Model::from_query_result(row, "")?;
        let rank: i64 = row.try_get("", ROW)?;
        if rank == 0 {
            counts.push((
                SecondaryCountKey(account.id),
                u64::try_from(row.try_get::<i64>("", SECONDARIES)?).unwrap_or(0),
            ));
            accounts.push(account);
        } else if let Some(parent) = account.parent_id {
            children.entry(parent).or_default().push(account);
        }
    }
    accounts.sort_by_key(|a| a.id);
    loader.feed_many(counts).await;
    if let Some(secondaries) = secondaries {
        let pages = accounts.iter().map(|a| {
            let mut rows = children.remove(&a.id).unwrap_or_default();
            rows.sort_by_key(|s| s.id);
            (SecondariesPage { parent_id: a.id, after: 0, first: secondaries }, rows)
        });
        loader.feed_many(pages.collect::<Vec<_>>()).await;
    }
    Ok(accounts)
}
