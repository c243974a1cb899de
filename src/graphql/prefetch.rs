//! What the tree query asks for, read from its selection set: the shapes worth loading
//! ahead (`read::tree` loads them, with the policy applied there).

use async_graphql::{Context, InputType, Lookahead, Name, SelectionField, Value};

use crate::domain::access::Viewer;
use crate::entity::account;
use crate::entity::enums::InvoiceStatus;
use crate::error::AppResult;
use crate::graphql::connection::page_size;
use crate::read::loaders::Reader;
use crate::read::tree::{self, InvoicePageArgs, LevelSelection, Relations};

/// The first-page shape of one connection field from its resolved arguments; `None` for
/// a later page, an invalid size, or an argument this does not know (the general path
/// answers those, errors included).
pub fn invoice_page_args(arguments: impl IntoIterator<Item = (Name, Value)>) -> Option<InvoicePageArgs> {
    let mut first = None;
    let mut status = None;
    for (name, value) in arguments {
        match (name.as_str(), value) {
            (_, Value::Null) => {}
            ("first", Value::Number(n)) => first = Some(i32::try_from(n.as_i64()?).ok()?),
            ("status", value) => status = Some(InvoiceStatus::parse(Some(value)).ok()?),
            _ => return None,
        }
    }
    Some((page_size(first).ok()?, status))
}

/// The one first-page shape of every selection in `fields`, or `None` when there are
/// none, they differ, or one asks for a later page: those are left to the loader.
fn first_invoice_page_args(fields: Vec<SelectionField<'_>>) -> Option<InvoicePageArgs> {
    let mut shape = None;
    for field in fields {
        let this = invoice_page_args(field.arguments().ok()?)?;
        if shape.is_some_and(|s| s != this) {
            return None;
        }
        shape = Some(this);
    }
    shape
}

/// What the query asks of the accounts at one level of the tree (and so what the
/// prefetch loads for them).
fn asked_of(node: Lookahead<'_>) -> LevelSelection {
    let invoices = node.field("invoices");
    let shape = first_invoice_page_args(invoices.selection_fields());
    LevelSelection {
        group: node.field("group").exists(),
        open_balance: node.field("openBalance").exists(),
        invoices_elsewhere: invoices.exists() && shape.is_none(),
        invoices: shape,
    }
}

/// The `first` of the secondaries every account of this page asks for, when all of them
/// ask for the same first page (no `after`): the shape worth fetching ahead.
pub fn secondaries_asked(ctx: &Context<'_>) -> Option<u64> {
    let ahead = ctx.look_ahead();
    let mut fields = ahead.field("edges").field("node").field("secondaries").selection_fields();
    fields.extend(ahead.field("nodes").field("secondaries").selection_fields());
    match first_invoice_page_args(fields)? {
        (first, None) => Some(first),
        _ => None,
    }
}

/// Loads ahead the groups, open balances and invoice pages that the page's accounts
/// (`level_one`) and their secondaries (`level_two`) will ask for. Only what
/// `edges { node { ... } }` selects is loaded.
pub async fn prefetch_relations<'a>(
    ctx: &Context<'_>,
    batch: &Reader,
    viewer: &Viewer,
    level_one: impl Iterator<Item = &'a account::Model>,
    level_two: impl Iterator<Item = &'a account::Model>,
) -> AppResult<Relations> {
    let node = || ctx.look_ahead().field("edges").field("node");
    let levels = [asked_of(node()), asked_of(node().field("secondaries").field("edges").field("node"))];
    tree::relations(batch, viewer, levels, level_one, level_two).await
}
