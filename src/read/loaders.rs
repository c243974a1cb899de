//! DataLoaders, one key type per relation, batched into one statement per relation and
//! level. The access policy is applied inside each batch: a row the viewer may not see
//! is simply not in the map, exactly like a missing one.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use sea_orm::sea_query::{Alias, Asterisk, Expr, Func, Order, PgFunc, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, ExprTrait, FromQueryResult,
    IdenStatic, QueryFilter, QuerySelect, QueryTrait,
};

use crate::config::Settings;
use crate::domain::access::{Permission, Viewer};
use crate::entity::enums::InvoiceStatus;
use crate::entity::{account, collective_invoice, group, invoice, invoice_line, payment, product, user};
use crate::error::AppError;
use crate::read::invoice_page::InvoicePage;
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
    pub db: DatabaseConnection,
    pub viewer: RequestViewer,
    pub settings: Arc<Settings>,
}

impl Reader {
    fn one_of(&self, column: impl ColumnTrait, ids: impl IntoIterator<Item = i64>) -> Expr {
        one_of(self.db.get_database_backend(), column, ids)
    }

    fn viewer(&self) -> Result<Arc<Viewer>, AppError> {
        read_viewer(&self.viewer).ok_or(AppError::Unauthenticated)
    }

    /// Accounts by id, unfiltered (for policy checks on related rows).
    async fn accounts_by_id(&self, ids: Vec<i64>) -> Result<HashMap<i64, account::Model>, AppError> {
        Ok(account::Entity::find()
            .filter(self.one_of(account::Column::Id, ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|a| (a.id, a))
            .collect())
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

/// An account the viewer can see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountKey(pub i64);

impl Loader<AccountKey> for Reader {
    type Value = account::Model;
    type Error = AppError;

    async fn load(&self, keys: &[AccountKey]) -> Result<HashMap<AccountKey, Self::Value>, Self::Error> {
        let viewer = self.viewer()?;
        let rows = self.accounts_by_id(keys.iter().map(|k| k.0).collect()).await?;
        Ok(rows.into_values().filter(|a| viewer.can_see(a)).map(|a| (AccountKey(a.id), a)).collect())
    }
}

/// How many secondaries an account has (its role is derived from this).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecondaryCountKey(pub i64);

impl Loader<SecondaryCountKey> for Reader {
    type Value = u64;
    type Error = AppError;

    async fn load(&self, keys: &[SecondaryCountKey]) -> Result<HashMap<SecondaryCountKey, u64>, Self::Error> {
        #[derive(FromQueryResult)]
        struct Row {
            parent_id: i64,
            n: i64,
        }
        let rows = account::Entity::find()
            .select_only()
            .column(account::Column::ParentId)
            .column_as(Expr::from(Func::count(Expr::col(account::Column::Id))), "n")
            .filter(self.one_of(account::Column::ParentId, keys.iter().map(|k| k.0)))
            .group_by(account::Column::ParentId)
            .into_model::<Row>()
            .all(&self.db)
            .await?;
        let mut map: HashMap<_, _> = keys.iter().map(|k| (*k, 0)).collect();
        for row in rows {
            map.insert(SecondaryCountKey(row.parent_id), u64::try_from(row.n).unwrap_or(0));
        }
        Ok(map)
    }
}

/// A page of a main account's secondaries visible to the viewer, by id, after a cursor.
/// Holds `first + 1` rows so the caller knows whether there is a next page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecondariesPage {
    pub parent_id: i64,
    pub after: i64,
    pub first: u64,
}

impl Loader<SecondariesPage> for Reader {
    type Value = Vec<account::Model>;
    type Error = AppError;

    async fn load(&self, keys: &[SecondariesPage]) -> Result<HashMap<SecondariesPage, Self::Value>, Self::Error> {
        let viewer = self.viewer()?;
        let mut out = HashMap::new();
        // Keys of one request almost always share (after, first): one statement per shape.
        let mut shapes: HashMap<(i64, u64), Vec<i64>> = HashMap::new();
        for key in keys {
            shapes.entry((key.after, key.first)).or_default().push(key.parent_id);
        }
        for ((after, first), parents) in shapes {
            let condition = Condition::all()
                .add(self.one_of(account::Column::ParentId, parents.iter().copied()))
                .add(account::Column::Id.gt(after))
                .add(viewer.visible_accounts());
            let rows = first_rows_per(
                &self.db,
                account::Entity,
                account::Column::ParentId,
                account::Column::Id,
                false,
                condition,
                first + 1,
            )
            .await?;
            let mut grouped: HashMap<i64, Vec<account::Model>> = parents.iter().map(|p| (*p, Vec::new())).collect();
            for row in rows {
                if let Some(parent) = row.parent_id {
                    grouped.entry(parent).or_default().push(row);
                }
            }
            for (parent_id, rows) in grouped {
                out.insert(SecondariesPage { parent_id, after, first }, rows);
            }
        }
        Ok(out)
    }
}

/// A group, visible to whoever can see an account of its family, or is its member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupKey(pub i64);

impl Loader<GroupKey> for Reader {
    type Value = group::Model;
    type Error = AppError;

    async fn load(&self, keys: &[GroupKey]) -> Result<HashMap<GroupKey, Self::Value>, Self::Error> {
        let viewer = self.viewer()?;
        let groups = group::Entity::find()
            .filter(self.one_of(group::Column::Id, keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await?;
        Ok(groups
            .into_iter()
            .filter(|g| viewer.is_member_of(g.id) || viewer.rights_on_family_of(g.main_account_id).visible())
            .map(|g| (GroupKey(g.id), g))
            .collect())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProductKey(pub i64);

impl Loader<ProductKey> for Reader {
    type Value = product::Model;
    type Error = AppError;

    async fn load(&self, keys: &[ProductKey]) -> Result<HashMap<ProductKey, Self::Value>, Self::Error> {
        Ok(product::Entity::find()
            .filter(product::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|p| (ProductKey(p.id), p))
            .collect())
    }
}

/// A user; visible to themselves and staff (others see users through groups' members).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserKey(pub i64);

impl Loader<UserKey> for Reader {
    type Value = user::Model;
    type Error = AppError;

    async fn load(&self, keys: &[UserKey]) -> Result<HashMap<UserKey, Self::Value>, Self::Error> {
        let viewer = self.viewer()?;
        Ok(user::Entity::find()
            .filter(user::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await?
            .into_iter()
            .filter(|u| viewer.is_staff() || u.id == viewer.user.id)
            .map(|u| (UserKey(u.id), u))
            .collect())
    }
}

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
            .build(self.db.get_database_backend());
        let found = self.db.query_all_raw(select).await?;
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

impl Loader<InvoicesPage> for Reader {
    type Value = InvoicePage;
    type Error = AppError;

    async fn load(&self, keys: &[InvoicesPage]) -> Result<HashMap<InvoicesPage, Self::Value>, Self::Error> {
        let mut out = HashMap::new();
        let mut shapes: HashMap<(Option<InvoiceStatus>, i64, u64), Vec<i64>> = HashMap::new();
        for key in keys {
            shapes.entry((key.status, key.before_id, key.first)).or_default().push(key.account_id);
        }
        for ((status, before_id, first), accounts) in shapes {
            let mut pages: HashMap<i64, InvoicePage> =
                accounts.iter().map(|a| (*a, InvoicePage::with_capacity(first as usize + 1))).collect();
            if self.db.get_database_backend() == DbBackend::Postgres {
                latest_invoices_lateral(&self.db, &accounts, status, before_id, first + 1, &mut pages).await?;
            } else {
                let mut condition = Condition::all()
                    .add(invoice::Column::AccountId.is_in(accounts.clone()))
                    .add(invoice::Column::Id.lt(before_id));
                if let Some(status) = status {
                    condition = condition.add(invoice::Column::Status.eq(status));
                }
                let rows = first_rows_per(
                    &self.db,
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
    db: &DatabaseConnection,
    accounts: &[i64],
    status: Option<InvoiceStatus>,
    before_id: i64,
    limit: u64,
    pages: &mut HashMap<i64, InvoicePage>,
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
    for row in db.query_all_raw(statement).await? {
        let account_id = rows::invoice_account_at(&row)?;
        rows::push_invoice_at(&row, account_id, pages.entry(account_id).or_default())?;
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
            invoice::Entity::find().filter(invoice::Column::Id.is_in(keys.iter().map(|k| k.0))).all(&self.db).await?;
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
            .all(&self.db)
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
            .all(&self.db)
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
            .all(&self.db)
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

impl Loader<CollectiveMembersPage> for Reader {
    type Value = Vec<invoice::Model>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[CollectiveMembersPage],
    ) -> Result<HashMap<CollectiveMembersPage, Self::Value>, Self::Error> {
        let viewer = self.viewer()?;
        let mut out = HashMap::new();
        let mut shapes: HashMap<(i64, u64), Vec<i64>> = HashMap::new();
        for key in keys {
            shapes.entry((key.after, key.first)).or_default().push(key.collective_invoice_id);
        }
        for ((after, first), parents) in shapes {
            let condition = Condition::all()
                .add(invoice::Column::CollectiveInvoiceId.is_in(parents.clone()))
                .add(invoice::Column::Id.gt(after))
                .add(invoice::Column::AccountId.in_subquery(viewable_accounts(&viewer, Permission::ViewInvoices)));
            let rows = first_rows_per(
                &self.db,
                invoice::Entity,
                invoice::Column::CollectiveInvoiceId,
                invoice::Column::Id,
                false,
                condition,
                first + 1,
            )
            .await?;
            let mut grouped: HashMap<i64, Vec<invoice::Model>> = parents.iter().map(|p| (*p, Vec::new())).collect();
            for row in rows {
                if let Some(parent) = row.collective_invoice_id {
                    grouped.entry(parent).or_default().push(row);
                }
            }
            for (collective_invoice_id, rows) in grouped {
                out.insert(CollectiveMembersPage { collective_invoice_id, after, first }, rows);
            }
        }
        Ok(out)
    }
}

/// A page of the accounts in a group that the viewer may see, by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupAccountsPage {
    pub group_id: i64,
    pub after: i64,
    pub first: u64,
}

impl Loader<GroupAccountsPage> for Reader {
    type Value = Vec<account::Model>;
    type Error = AppError;

    async fn load(&self, keys: &[GroupAccountsPage]) -> Result<HashMap<GroupAccountsPage, Self::Value>, Self::Error> {
        let viewer = self.viewer()?;
        let mut out = HashMap::new();
        let mut shapes: HashMap<(i64, u64), Vec<i64>> = HashMap::new();
        for key in keys {
            shapes.entry((key.after, key.first)).or_default().push(key.group_id);
        }
        for ((after, first), groups) in shapes {
            let condition = Condition::all()
                .add(account::Column::GroupId.is_in(groups.clone()))
                .add(account::Column::Id.gt(after))
                .add(viewer.visible_accounts());
            let rows = first_rows_per(
                &self.db,
                account::Entity,
                account::Column::GroupId,
                account::Column::Id,
                false,
                condition,
                first + 1,
            )
            .await?;
            let mut grouped: HashMap<i64, Vec<account::Model>> = groups.iter().map(|g| (*g, Vec::new())).collect();
            for row in rows {
                if let Some(group) = row.group_id {
                    grouped.entry(group).or_default().push(row);
                }
            }
            for (group_id, rows) in grouped {
                out.insert(GroupAccountsPage { group_id, after, first }, rows);
            }
        }
        Ok(out)
    }
}

/// A page of a group's members, by user id. The caller checks the viewer may list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupMembersPage {
    pub group_id: i64,
    pub after: i64,
    pub first: u64,
}

impl Loader<GroupMembersPage> for Reader {
    type Value = Vec<user::Model>;
    type Error = AppError;

    async fn load(&self, keys: &[GroupMembersPage]) -> Result<HashMap<GroupMembersPage, Self::Value>, Self::Error> {
        use crate::entity::group_member;
        let mut out = HashMap::new();
        let mut shapes: HashMap<(i64, u64), Vec<i64>> = HashMap::new();
        for key in keys {
            shapes.entry((key.after, key.first)).or_default().push(key.group_id);
        }
        for ((after, first), groups) in shapes {
            let condition = Condition::all()
                .add(group_member::Column::GroupId.is_in(groups.clone()))
                .add(group_member::Column::UserId.gt(after));
            let members = first_rows_per(
                &self.db,
                group_member::Entity,
                group_member::Column::GroupId,
                group_member::Column::UserId,
                false,
                condition,
                first + 1,
            )
            .await?;
            let users: HashMap<i64, user::Model> = user::Entity::find()
                .filter(user::Column::Id.is_in(members.iter().map(|m| m.user_id)))
                .all(&self.db)
                .await?
                .into_iter()
                .map(|u| (u.id, u))
                .collect();
            let mut grouped: HashMap<i64, Vec<user::Model>> = groups.iter().map(|g| (*g, Vec::new())).collect();
            for member in members {
                if let Some(user) = users.get(&member.user_id) {
                    grouped.entry(member.group_id).or_default().push(user.clone());
                }
            }
            for (group_id, rows) in grouped {
                out.insert(GroupMembersPage { group_id, after, first }, rows);
            }
        }
        Ok(out)
    }
}

/// An order, visible to those who may see its main account's family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountOrderKey(pub i64);

impl Loader<AccountOrderKey> for Reader {
    type Value = crate::entity::account_order::Model;
    type Error = AppError;

    async fn load(&self, keys: &[AccountOrderKey]) -> Result<HashMap<AccountOrderKey, Self::Value>, Self::Error> {
        use crate::entity::account_order;
        let viewer = self.viewer()?;
        let rows = account_order::Entity::find()
            .filter(account_order::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await?;
        let mains = self.accounts_by_id(rows.iter().map(|o| o.main_account_id).collect()).await?;
        Ok(rows
            .into_iter()
            .filter(|o| mains.get(&o.main_account_id).is_some_and(|m| viewer.rights_on_family(m).visible()))
            .map(|o| (AccountOrderKey(o.id), o))
            .collect())
    }
}

/// An audit event, visible to staff and to the owner of its family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuditEventKey(pub i64);

impl Loader<AuditEventKey> for Reader {
    type Value = crate::entity::audit_event::Model;
    type Error = AppError;

    async fn load(&self, keys: &[AuditEventKey]) -> Result<HashMap<AuditEventKey, Self::Value>, Self::Error> {
        use crate::entity::audit_event;
        let viewer = self.viewer()?;
        let rows = audit_event::Entity::find()
            .filter(audit_event::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .filter(|e| viewer.is_staff() || e.family_main_id.is_some_and(|m| viewer.owns_family(m)))
            .map(|e| (AuditEventKey(e.id), e))
            .collect())
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
            .all(&self.db)
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
        let allocations = crate::domain::payments::allocations_of(&self.db, keys.iter().map(|k| k.0).collect()).await?;
        let invoices: HashMap<i64, invoice::Model> = invoice::Entity::find()
            .filter(invoice::Column::Id.is_in(allocations.values().flatten().copied()))
            .all(&self.db)
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

impl Loader<CollectiveInvoicesPage> for Reader {
    type Value = Vec<collective_invoice::Model>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[CollectiveInvoicesPage],
    ) -> Result<HashMap<CollectiveInvoicesPage, Self::Value>, Self::Error> {
        let mut out = HashMap::new();
        let mut shapes: HashMap<(i64, u64), Vec<i64>> = HashMap::new();
        for key in keys {
            shapes.entry((key.before_id, key.first)).or_default().push(key.main_account_id);
        }
        for ((before_id, first), mains) in shapes {
            let condition = Condition::all()
                .add(collective_invoice::Column::MainAccountId.is_in(mains.clone()))
                .add(collective_invoice::Column::Id.lt(before_id));
            let rows = first_rows_per(
                &self.db,
                collective_invoice::Entity,
                collective_invoice::Column::MainAccountId,
                collective_invoice::Column::Id,
                true,
                condition,
                first + 1,
            )
            .await?;
            let mut grouped: HashMap<i64, Vec<collective_invoice::Model>> =
                mains.iter().map(|m| (*m, Vec::new())).collect();
            for row in rows {
                grouped.entry(row.main_account_id).or_default().push(row);
            }
            for (main_account_id, rows) in grouped {
                out.insert(CollectiveInvoicesPage { main_account_id, before_id, first }, rows);
            }
        }
        Ok(out)
    }
}
