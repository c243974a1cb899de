//! The account tree, answered from what the prefetch loaded.
//!
//! `viewer.accounts` loads its page, the first secondaries of each account and their
//! groups, open balances and invoice pages ahead (`prefetch`). When the query asks for
//! nothing else, the whole connection is built here in one synchronous walk of the
//! selection set, instead of async-graphql resolving ~5,000 account fields as futures
//! (in perf, that machinery was most of the server's CPU for the SPA's tree query).
//!
//! Every field answered here answers exactly as its resolver in `account.rs` would
//! (`tree_and_general_paths_answer_alike` compares them). Any field this does not know,
//! any fragment or directive, a page shape that was not loaded ahead: the walk gives up,
//! the prefetched rows are fed to the request's loader, and the general resolvers run
//! from that cache.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use async_graphql::dataloader::{DataLoader, HashMapCache};
use async_graphql::parser::types::{Field, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::enum_value;
use async_graphql::{ContextSelectionSet, Name, OutputType, Positioned, ScalarType, ServerResult, Value};

use crate::domain::access::{Permission, Viewer};
use crate::domain::accounts::{AccountRole, role_of};
use crate::entity::account;
use crate::graphql::account::Account;
use crate::graphql::connection::IdConnection;
use crate::graphql::group::Group;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::invoice::Invoice;
use crate::graphql::loaders::{Batch, GroupKey, InvoicesPage, OpenBalanceKey};
use crate::graphql::plain::{PlainFields, connection_of, leaf_of, object};
use crate::graphql::prefetch::{self, PageShape, Relations, SecondaryPages};
use crate::graphql::scalars::{Cents, Money};
use crate::metrics;

/// What was loaded ahead for one page of accounts.
pub struct Prefetched {
    pub viewer: Arc<Viewer>,
    pub secondary_counts: std::collections::HashMap<i64, u64>,
    pub secondaries: Option<SecondaryPages>,
    pub relations: Relations,
}

/// A page of accounts (the schema's `AccountConnection`) with what was loaded ahead.
pub struct AccountTree {
    page: IdConnection<Account>,
    loader: Arc<DataLoader<Batch, HashMapCache>>,
    /// Taken (and fed to the loader) when the general resolvers have to run.
    prefetched: Mutex<Option<Prefetched>>,
}

impl AccountTree {
    pub fn new(page: IdConnection<Account>, loader: Arc<DataLoader<Batch, HashMapCache>>, data: Prefetched) -> Self {
        AccountTree { page, loader, prefetched: Mutex::new(Some(data)) }
    }

    fn walk(&self, ctx: &ContextSelectionSet<'_>) -> Option<Value> {
        let guard = self.prefetched.lock().ok()?;
        let walk = Walk { ctx, data: guard.as_ref()? };
        connection_of(
            &ctx.item.node,
            "Account",
            &self.page.edges,
            self.page.has_previous_page,
            self.page.has_next_page,
            |edge| edge.cursor.0,
            |set, edge| walk.account(set, &edge.node.0, 0),
        )
    }
}

impl OutputType for AccountTree {
    fn type_name() -> Cow<'static, str> {
        IdConnection::<Account>::type_name()
    }

    fn qualified_type_name() -> String {
        IdConnection::<Account>::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        IdConnection::<Account>::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        if let Some(value) = self.walk(ctx) {
            metrics::count_account_tree(true);
            return Ok(value);
        }
        metrics::count_account_tree(false);
        let prefetched = self.prefetched.lock().ok().and_then(|mut slot| slot.take());
        if let Some(data) = prefetched {
            prefetch::Page::feed(data.secondary_counts, data.secondaries, &self.loader).await;
            data.relations.feed(&self.loader).await;
        }
        self.page.resolve(ctx, field).await
    }
}

/// One walk of the selection set over the prefetched rows; every method answers `None`
/// when the general resolvers are needed.
struct Walk<'a> {
    ctx: &'a ContextSelectionSet<'a>,
    data: &'a Prefetched,
}

impl Walk<'_> {
    /// An account at `level` (0: the page, 1: its secondaries).
    fn account(&self, set: &SelectionSet, account: &account::Model, level: usize) -> Option<Value> {
        let asked = self.data.relations.levels.get(level)?;
        object(set, |field| {
            let selected = &field.selection_set.node;
            let no_arguments = field.arguments.is_empty();
            match field.name.node.as_str() {
                "__typename" => Some(Value::String("Account".to_owned())),
                "id" if no_arguments => Some(ids::encode(NodeType::Account, account.id).to_value()),
                "customerNumber" if no_arguments => Some(Value::String(account.customer_number.clone())),
                "holderName" if no_arguments => Some(Value::String(account.holder_name.clone())),
                "friendlyName" if no_arguments => {
                    Some(account.friendly_name.clone().map(Value::String).unwrap_or(Value::Null))
                }
                "status" if no_arguments => Some(enum_value(account.status)),
                "billingMode" if no_arguments => Some(enum_value(account.billing_mode)),
                "createdAt" if no_arguments => Some(account.created_at.to_value()),
                "role" if no_arguments => self.role(account).map(enum_value),
                "group" if no_arguments && asked.group => match account.group_id {
                    None => Some(Value::Null),
                    Some(id) => match self.data.relations.groups.get(&GroupKey(id)) {
                        None => Some(Value::Null),
                        Some(group) => leaf_of(selected, "Group", |name| Group::stored_field(group, name)),
                    },
                },
                "openBalance" if no_arguments && asked.open_balance => self.open_balance(selected, account),
                "invoices" if asked.invoices.is_some() && self.page_shape(field) == asked.invoices => {
                    let (first, status) = asked.invoices?;
                    self.invoices(
                        selected,
                        account,
                        InvoicesPage { account_id: account.id, status, before_id: i64::MAX, first },
                    )
                }
                "secondaries" if level == 0 => self.secondaries(field, account),
                _ => None,
            }
        })
    }

    /// As `Account.role`: secondaries by their parent, page accounts by their count.
    fn role(&self, account: &account::Model) -> Option<AccountRole> {
        if account.parent_id.is_some() {
            return Some(AccountRole::Secondary);
        }
        Some(role_of(account, *self.data.secondary_counts.get(&account.id)?))
    }

    fn may_view_invoices(&self, account: &account::Model) -> bool {
        self.data.viewer.rights_on(account).has(Permission::ViewInvoices)
    }

    /// As `Account.openBalance`.
    fn open_balance(&self, set: &SelectionSet, account: &account::Model) -> Option<Value> {
        if !self.may_view_invoices(account) {
            return Some(Value::List(Vec::new()));
        }
        let balances = self.data.relations.balances.get(&OpenBalanceKey(account.id));
        let entries = balances.into_iter().flatten().map(|(currency, cents)| {
            let money = Money { amount_cents: Cents(*cents), currency: currency.clone() };
            leaf_of(set, "Money", |name| money.plain_field(name))
        });
        entries.collect::<Option<Vec<_>>>().map(Value::List)
    }

    /// As `Account.invoices` for the first page `key`.
    fn invoices(&self, set: &SelectionSet, account: &account::Model, key: InvoicesPage) -> Option<Value> {
        let rows = match self.may_view_invoices(account) {
            true => self.data.relations.invoices.get(&key).map(Vec::as_slice).unwrap_or_default(),
            false => &[],
        };
        let shown = &rows[..rows.len().min(key.first as usize)];
        let has_next = rows.len() > shown.len();
        connection_of(
            set,
            "Invoice",
            shown,
            false,
            has_next,
            |i| i.id,
            |selected, invoice| leaf_of(selected, "Invoice", |name| Invoice::stored_field(invoice, name)),
        )
    }

    /// As `Account.secondaries`, when the field asks for the first page loaded ahead.
    fn secondaries(&self, field: &Field, account: &account::Model) -> Option<Value> {
        let pages = self.data.secondaries.as_ref()?;
        if self.page_shape(field)? != (pages.first, None) {
            return None;
        }
        let rows = pages.by_parent.get(&account.id).map(Vec::as_slice).unwrap_or_default();
        let shown = &rows[..rows.len().min(pages.first as usize)];
        let has_next = rows.len() > shown.len();
        connection_of(
            &field.selection_set.node,
            "Account",
            shown,
            false,
            has_next,
            |a| a.id,
            |selected, secondary| self.account(selected, secondary, 1),
        )
    }

    /// The page shape of a connection field's arguments, variables resolved as the
    /// general path resolves them.
    fn page_shape(&self, field: &Field) -> Option<PageShape> {
        let arguments = field.arguments.iter().map(|(name, value)| {
            let value = value.node.clone().into_const_with(|variable| self.variable(&variable).ok_or(())).ok()?;
            Some((name.node.clone(), value))
        });
        prefetch::page_shape(arguments.collect::<Option<Vec<(Name, Value)>>>()?)
    }

    /// A variable's value, or its default (async-graphql's own lookup is crate-private).
    fn variable(&self, name: &str) -> Option<Value> {
        let env = &self.ctx.query_env;
        let definition = env.operation.node.variable_definitions.iter().find(|d| d.node.name.node == name)?;
        env.variables.get(&definition.node.name.node).or_else(|| definition.node.default_value()).cloned()
    }
}
