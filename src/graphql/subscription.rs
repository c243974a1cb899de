//! Subscriptions (graphql-transport-ws).

use async_graphql::{Context, ID, Result, SimpleObject, Subscription};
use futures_util::Stream;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::events::{Event, TreeChangeKind};
use crate::graphql::account::Account;
use crate::graphql::context::ContextExt;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::invoice::Invoice;
use crate::read::events;

/// A change in a family's tree.
#[derive(SimpleObject)]
pub struct AccountTreeChange {
    /// What happened.
    pub kind: TreeChangeKind,
    /// The family's main account, as it is now (null if you no longer may see it).
    pub main_account: Option<Account>,
    /// The account that changed (null if you no longer may see it).
    pub account: Option<Account>,
}

pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// Changes to the tree of a family you may see: attach, detach, order, regroup, rename.
    async fn account_tree_changed(
        &self,
        ctx: &Context<'_>,
        main_account_id: ID,
    ) -> Result<impl Stream<Item = AccountTreeChange>> {
        let viewer = ctx.viewer()?;
        let state = ctx.state()?.clone();
        let main_id = ids::decode_as(&main_account_id, NodeType::Account).unwrap_or(-1);
        let events = BroadcastStream::new(state.events.subscribe());
        Ok(events
            .filter_map(move |event| match event {
                Ok(Event::TreeChanged { kind, main_account_id, account_id }) if main_account_id == main_id => {
                    Some((kind, main_account_id, account_id))
                }
                _ => None,
            })
            .then(move |(kind, main_id, account_id)| {
                let viewer = viewer.clone();
                let db = state.db.clone();
                async move {
                    // Errors drop the event: a subscriber never sees what it cannot check.
                    let seen = events::tree_change(&db, &viewer, main_id, account_id).await.ok()?;
                    let change = AccountTreeChange {
                        kind,
                        main_account: seen.main_account.map(Account),
                        account: seen.account.map(Account),
                    };
                    seen.family_visible.then_some(change)
                }
            })
            .filter_map(|change| change))
    }

    /// Invoices issued from now on, on every account whose invoices you may view (rights
    /// are checked again for each invoice, as they are when it is issued).
    async fn invoice_issued(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = Invoice>> {
        let user = ctx.viewer()?.user.clone();
        let state = ctx.state()?.clone();
        let events = BroadcastStream::new(state.events.subscribe());
        Ok(events
            .filter_map(|event| match event {
                Ok(Event::InvoiceIssued { invoice_id, .. }) => Some(invoice_id),
                _ => None,
            })
            .then(move |invoice_id| {
                let user = user.clone();
                let db = state.db.clone();
                async move {
                    // Errors drop the event: a subscriber never sees what it cannot check.
                    events::issued_invoice(&db, user, invoice_id).await.ok().flatten().map(Invoice)
                }
            })
            .filter_map(|visible| visible))
    }
}
