//! A page of `openItems`, written from its rows.
//!
//! The portal's open-items list asks for a page of invoices with a few stored fields,
//! the account each is billed to and the totals. Through the general resolvers that was
//! ~60 futures, a `Value` tree and its serialisation per page: a fifth of the server's
//! CPU for the request (callgrind). When the selection is plain (stored fields, the
//! account's stored fields, no fragments or directives), the connection's JSON is written
//! here in one walk (`prewritten`), as `graphql/tree.rs` writes the account tree.
//!
//! The walk decides nothing about rights: the invoices are the ones `read::invoices`
//! found for the viewer, and their accounts the ones it read with them and kept by the
//! access policy's `can_see`, as the `AccountKey` loader keeps them; an account it did not
//! keep is written as `null`, as `Invoice.account` answers it. Anything else takes the general path, the accounts fed
//! to the request's loader first (`the_prewritten_open_items_answer_like_the_general_resolvers`
//! compares both).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::connection::CursorType;
use async_graphql::dataloader::{DataLoader, HashMapCache};
use async_graphql::parser::types::{Field, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{ContextSelectionSet, OutputType, Positioned, ServerResult, Value};

use crate::entity::{account, invoice};
use crate::graphql::account::Account;
use crate::graphql::invoice::{Invoice, OpenItemsConnection};
use crate::graphql::prewritten::{Json, Page, RowValue, leaf, money_field, object, prewritten_json};
use crate::graphql::scalars::Money;
use crate::metrics;
use crate::read::invoice_page::InvoiceFields;
use crate::read::loaders::{AccountKey, Reader};

/// The accounts of a page's invoices, as the `AccountKey` loader would answer them.
pub type PageAccounts = HashMap<AccountKey, account::Model>;

/// A page of open items (the schema's `OpenItemsConnection`) with its accounts.
pub struct OpenItemsPage {
    page: OpenItemsConnection,
    loader: Arc<DataLoader<Reader, HashMapCache>>,
    /// Taken (and fed to the loader) when the general resolvers have to run; `None` when
    /// the query does not ask for accounts.
    accounts: Mutex<Option<PageAccounts>>,
}

impl OpenItemsPage {
    pub fn new(
        page: OpenItemsConnection,
        loader: Arc<DataLoader<Reader, HashMapCache>>,
        accounts: Option<PageAccounts>,
    ) -> Self {
        OpenItemsPage { page, loader, accounts: Mutex::new(accounts) }
    }

    fn walk(&self, ctx: &ContextSelectionSet<'_>) -> Option<Value> {
        if !prewritten_json(ctx) {
            return None;
        }
        let accounts = self.accounts.lock().ok()?;
        let connection = &self.page;
        let page = Page {
            node_type: "OpenItems",
            items: &connection.edges,
            has_previous_page: connection.has_previous_page,
            has_next_page: connection.has_next_page,
        };
        let mut out = Json::with_capacity(512 + 256 * connection.edges.len());
        page.write(
            &ctx.item.node,
            |edge| RowValue::Value(Value::String(edge.cursor.encode_cursor())),
            |set, edge, out| invoice(set, &edge.node.0, accounts.as_ref(), out),
            |field, out| match field.name.node.as_str() {
                "totals" => out.list(&connection.additional_fields.totals, |money: &Money, out| {
                    leaf(&field.selection_set.node, "Money", out, |name| {
                        money_field(money.amount_cents, &money.currency, name)
                    })
                }),
                _ => None,
            },
            &mut out,
        )?;
        Some(out.into_value())
    }
}

/// Writes an invoice of the page: its stored fields, and its account when that was
/// loaded ahead (`accounts`).
fn invoice(set: &SelectionSet, row: &invoice::Model, accounts: Option<&PageAccounts>, out: &mut Json) -> Option<()> {
    let fields = InvoiceFields::from(row);
    object(set, out, |field: &Field, out| {
        if !field.arguments.is_empty() {
            return None;
        }
        match field.name.node.as_str() {
            "__typename" => out.string("Invoice"),
            "account" => match accounts?.get(&AccountKey(row.account_id)) {
                None => out.stored(&RowValue::Value(Value::Null)),
                Some(account) => {
                    leaf(&field.selection_set.node, "Account", out, |name| Account::stored_field(account, name))
                }
            },
            name if field.selection_set.node.items.is_empty() => out.stored(&Invoice::stored_field(&fields, name)?),
            _ => None,
        }
    })
}

impl OutputType for OpenItemsPage {
    fn type_name() -> Cow<'static, str> {
        OpenItemsConnection::type_name()
    }

    fn qualified_type_name() -> String {
        OpenItemsConnection::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        OpenItemsConnection::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        if let Some(value) = self.walk(ctx) {
            metrics::count_open_items_page(true);
            return Ok(value);
        }
        metrics::count_open_items_page(false);
        let accounts = self.accounts.lock().ok().and_then(|mut slot| slot.take());
        if let Some(accounts) = accounts {
            self.loader.feed_many(accounts).await;
        }
        self.page.resolve(ctx, field).await
    }
}
