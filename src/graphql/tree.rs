//! The account tree, written from what the prefetch loaded.
//!
//! `viewer.accounts` loads its page, the first secondaries of each account and their
//! groups, open balances and invoice pages ahead (`prefetch`). When the query asks for
//! nothing else, the whole connection's JSON is written here in one synchronous walk of
//! the selection set (`prewritten`), instead of async-graphql resolving ~5,000 account fields
//! as futures, collecting them into a `Value` tree and serialising that (in perf, that
//! machinery was most of the server's CPU for the SPA's tree query).
//!
//! The walk decides nothing about rights: it writes what `read::tree` returned, which
//! holds balances and invoice pages only of accounts whose invoices the viewer may view.
//! Every field written here answers exactly as its resolver in `account.rs` would
//! (`the_prefetched_tree_answers_like_the_general_resolvers_for_every_right` compares
//! them, and `tree_walk.rs` over generated selections). Any field this does not know, any fragment or directive, a page shape that was
//! not loaded ahead, a response not written by `prewritten::write_response`: the walk gives up,
//! the prefetched rows are fed to the request's loader, and the general resolvers run
//! from that cache.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use async_graphql::dataloader::{DataLoader, HashMapCache};
use async_graphql::parser::types::{Field, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{ContextSelectionSet, Name, OutputType, Positioned, ServerResult, Value};

use crate::domain::accounts::{AccountRole, role_of};
use crate::entity::account;
use crate::graphql::account::Account;
use crate::graphql::connection::IdConnection;
use crate::graphql::group::Group;
use crate::graphql::ids::NodeType;
use crate::graphql::invoice::StoredInvoiceField;
use crate::graphql::prefetch;
use crate::graphql::prewritten::{Json, LeafPlan, RowValue, connection, leaf, money_field, object, prewritten_json};
use crate::graphql::scalars::Cents;
use crate::metrics;
use crate::read::invoice_page::{InvoiceFields, InvoiceRow};
use crate::read::loaders::{GroupKey, InvoicesPage, OpenBalanceKey, Reader, SecondaryCountKey};
use crate::read::tree::{InvoicePageArgs, Relations, SecondaryPages};

/// What was loaded ahead for one page of accounts.
pub struct Prefetched {
    pub secondary_counts: std::collections::HashMap<i64, u64>,
    pub secondaries: Option<SecondaryPages>,
    pub relations: Relations,
}

impl Prefetched {
    /// Hands everything to the request's loader, for the general resolvers.
    async fn feed(self, loader: &DataLoader<Reader, HashMapCache>) {
        let counts = self.secondary_counts.into_iter();
        loader.feed_many(counts.map(|(id, n)| (SecondaryCountKey(id), n))).await;
        if let Some(pages) = self.secondaries {
            pages.feed(loader).await;
        }
        self.relations.feed(loader).await;
    }
}

/// A page of accounts (the schema's `AccountConnection`) with what was loaded ahead.
pub struct AccountTree {
    page: IdConnection<Account>,
    loader: Arc<DataLoader<Reader, HashMapCache>>,
    /// Taken (and fed to the loader) when the general resolvers have to run.
    prefetched: Mutex<Option<Prefetched>>,
}

impl AccountTree {
    pub fn new(page: IdConnection<Account>, loader: Arc<DataLoader<Reader, HashMapCache>>, data: Prefetched) -> Self {
        AccountTree { page, loader, prefetched: Mutex::new(Some(data)) }
    }

    fn walk(&self, ctx: &ContextSelectionSet<'_>) -> Option<Value> {
        if !prewritten_json(ctx) {
            return None;
        }
        let guard = self.prefetched.lock().ok()?;
        let walk =
            TreeWriter { ctx, data: guard.as_ref()?, shapes: RefCell::default(), invoice_plans: RefCell::default() };
        let shown = self.page.edges.len() + walk.data.secondaries.as_ref().map_or(0, |s| s.shown().count());
        // About 0.8 KB per account in the SPA's tree query; at most 512 KiB up front, so
        // a wide page with a narrow selection does not reserve megabytes it never writes.
        let mut out = Json::with_capacity((1024 * shown).min(512 * 1024));
        connection(
            &ctx.item.node,
            "Account",
            &self.page.edges,
            self.page.has_previous_page,
            self.page.has_next_page,
            |edge| edge.cursor.0,
            |set, edge, out| walk.account(set, &edge.node.0, 0, out),
            &mut out,
        )?;
        Some(out.into_value())
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
            data.feed(&self.loader).await;
        }
        self.page.resolve(ctx, field).await
    }
}

/// One walk of the selection set over the prefetched rows; every method answers `None`
/// when the general resolvers are needed.
struct TreeWriter<'a> {
    ctx: &'a ContextSelectionSet<'a>,
    data: &'a Prefetched,
    /// `invoice_page_args` by field address: each connection field is read once, not once per
    /// account.
    shapes: RefCell<Vec<(usize, Option<InvoicePageArgs>)>>,
    /// The plan of each invoice selection (by address), read once for all invoices.
    invoice_plans: RefCell<Vec<(usize, Option<LeafPlan<StoredInvoiceField>>)>>,
}

impl TreeWriter<'_> {
    /// Writes an account at `level` (0: the page, 1: its secondaries).
    fn account(&self, set: &SelectionSet, account: &account::Model, level: usize, out: &mut Json) -> Option<()> {
        let asked = self.data.relations.levels.get(level)?;
        object(set, out, |field, out| {
            let selected = &field.selection_set.node;
            if !field.arguments.is_empty() && !matches!(field.name.node.as_str(), "invoices" | "secondaries") {
                return None;
            }
            match field.name.node.as_str() {
                "__typename" => out.string("Account"),
                "id" => out.global_id(NodeType::Account, account.id),
                "role" => out.stored(&RowValue::enum_of(self.role(account)?)),
                "group" if asked.group => {
                    let group = account.group_id.and_then(|id| self.data.relations.groups.get(&GroupKey(id)));
                    match group {
                        None => out.stored(&RowValue::Value(Value::Null)),
                        Some(group) => leaf(selected, "Group", out, |name| Group::stored_field(group, name)),
                    }
                }
                "openBalance" if asked.open_balance => self.open_balance(selected, account, out),
                "invoices" if asked.invoices.is_some() && self.invoice_page_args(field) == asked.invoices => {
                    let (first, status) = asked.invoices?;
                    let key = InvoicesPage { account_id: account.id, status, before_id: i64::MAX, first };
                    self.invoices(selected, key, out)
                }
                "secondaries" if level == 0 => self.secondaries(field, account, out),
                name => out.stored(&Account::stored_field(account, name)?),
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

    /// As `Account.openBalance`. The read layer loaded balances only of accounts whose
    /// invoices the viewer may view: any other account has none here, and shows none.
    fn open_balance(&self, set: &SelectionSet, account: &account::Model, out: &mut Json) -> Option<()> {
        let balances =
            self.data.relations.balances.get(&OpenBalanceKey(account.id)).map(Vec::as_slice).unwrap_or_default();
        out.list(balances, |(currency, cents), out| {
            leaf(set, "Money", out, |name| money_field(Cents(*cents), currency, name))
        })
    }

    /// As `Account.invoices` for the first page `key` (loaded, like balances, only where
    /// the viewer may view invoices: elsewhere the page is empty).
    fn invoices(&self, set: &SelectionSet, key: InvoicesPage, out: &mut Json) -> Option<()> {
        let page = self.data.relations.invoices.get(&key);
        let (rows, has_next) = page.map(|page| (page.rows(), page.has_more())).unwrap_or_default();
        let node = |selected: &SelectionSet, row: &InvoiceRow, out: &mut Json| {
            let fields = page?.fields(row);
            self.invoice(selected, &fields, out)
        };
        connection(set, "Invoice", rows, false, has_next, |i| i.id, node, out)
    }

    /// Writes an invoice of a page, through the plan of its selection.
    fn invoice(&self, set: &SelectionSet, fields: &InvoiceFields<'_>, out: &mut Json) -> Option<()> {
        let address = set as *const SelectionSet as usize;
        if !self.invoice_plans.borrow().iter().any(|(a, _)| *a == address) {
            let plan = LeafPlan::of(set, StoredInvoiceField::of);
            self.invoice_plans.borrow_mut().push((address, plan));
        }
        let plans = self.invoice_plans.borrow();
        // No plan is exactly where `leaf` would give up too: the general path then runs.
        let (_, plan) = plans.iter().find(|(a, _)| *a == address)?;
        plan.as_ref()?.write(out, |field, out| out.stored(&field.value(fields)))
    }

    /// As `Account.secondaries`, when the field asks for the first page loaded ahead.
    fn secondaries(&self, field: &Field, account: &account::Model, out: &mut Json) -> Option<()> {
        let pages = self.data.secondaries.as_ref()?;
        if self.invoice_page_args(field)? != (pages.first, None) {
            return None;
        }
        let rows = pages.by_parent.get(&account.id).map(Vec::as_slice).unwrap_or_default();
        let shown = &rows[..rows.len().min(pages.first as usize)];
        let has_next = rows.len() > shown.len();
        let node = |selected: &SelectionSet, secondary: &account::Model, out: &mut Json| {
            self.account(selected, secondary, 1, out)
        };
        connection(&field.selection_set.node, "Account", shown, false, has_next, |a| a.id, node, out)
    }

    /// The page shape of a connection field's arguments, variables resolved as the
    /// general path resolves them.
    fn invoice_page_args(&self, field: &Field) -> Option<InvoicePageArgs> {
        let address = field as *const Field as usize;
        if let Some((_, shape)) = self.shapes.borrow().iter().find(|(a, _)| *a == address) {
            return *shape;
        }
        let arguments = field.arguments.iter().map(|(name, value)| {
            let value = value.node.clone().into_const_with(|variable| self.variable(&variable).ok_or(())).ok()?;
            Some((name.node.clone(), value))
        });
        let shape = arguments.collect::<Option<Vec<(Name, Value)>>>().and_then(prefetch::invoice_page_args);
        self.shapes.borrow_mut().push((address, shape));
        shape
    }

    /// A variable's value, or its default (async-graphql's own lookup is crate-private).
    fn variable(&self, name: &str) -> Option<Value> {
        let env = &self.ctx.query_env;
        let definition = env.operation.node.variable_definitions.iter().find(|d| d.node.name.node == name)?;
        env.variables.get(&definition.node.name.node).or_else(|| definition.node.default_value()).cloned()
    }
}
