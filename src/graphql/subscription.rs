//! Subscriptions (graphql-transport-ws).

use async_graphql::{Context, ID, Result, SimpleObject, Subscription};
use futures_util::Stream;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::domain::access::Viewer;
use crate::domain::identity;
use crate::error::AppError;
use crate::events::{Event, TreeChangeKind};
use crate::graphql::account::Account;
use crate::graphql::context::{AppState, ContextExt};
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

/// What one event means for one subscriber, decided after checking its session again.
enum Step<T> {
    Deliver(T),
    Skip,
    /// The session ended (logout, password change, removal): the stream ends here.
    End,
}

/// The session an operation runs in, to check again at each event.
fn session_of(ctx: &Context<'_>) -> Result<(AppState, i64)> {
    ctx.viewer()?;
    let session_id = ctx.request()?.session_id.ok_or(AppError::Unauthenticated)?;
    Ok((ctx.state()?.clone(), session_id))
}

/// The subscriber as they are now: their session is checked again and their rights read
/// afresh, so a subscription never outlives a logout or keeps rights that were taken away.
async fn subscriber_now(state: &AppState, session_id: i64) -> Option<Viewer> {
    identity::live_session(&state.reads, &state.settings, session_id).await.ok()
}

#[Subscription]
impl SubscriptionRoot {
    /// Changes to the tree of a family you may see: attach, detach, order, regroup, rename.
    /// Ends when your session ends.
    async fn account_tree_changed(
        &self,
        ctx: &Context<'_>,
        main_account_id: ID,
    ) -> Result<impl Stream<Item = AccountTreeChange>> {
        let (state, session_id) = session_of(ctx)?;
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
                let state = state.clone();
                async move {
                    let Some(viewer) = subscriber_now(&state, session_id).await else { return Step::End };
                    // Errors drop the event: a subscriber never sees what it cannot check.
                    let Ok(seen) = events::tree_change(&state.db, &viewer, main_id, account_id).await else {
                        return Step::Skip;
                    };
                    let change = AccountTreeChange {
                        kind,
                        main_account: seen.main_account.map(Account),
                        account: seen.account.map(Account),
                    };
                    if seen.family_visible { Step::Deliver(change) } else { Step::Skip }
                }
            })
            .take_while(|step| !matches!(step, Step::End))
            .filter_map(|step| match step {
                Step::Deliver(change) => Some(change),
                _ => None,
            }))
    }

    /// Invoices issued from now on, on every account whose invoices you may view (rights
    /// are checked again for each invoice, as they are when it is issued). Ends when your
    /// session ends.
    async fn invoice_issued(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = Invoice>> {
        let (state, session_id) = session_of(ctx)?;
        let events = BroadcastStream::new(state.events.subscribe());
        Ok(events
            .filter_map(|event| match event {
                Ok(Event::InvoiceIssued { invoice_id, .. }) => Some(invoice_id),
                _ => None,
            })
            .then(move |invoice_id| {
                let state = state.clone();
                async move {
                    let Some(viewer) = subscriber_now(&state, session_id).await else { return Step::End };
                    // Errors drop the event: a subscriber never sees what it cannot check.
                    match events::issued_invoice(&state.db, &viewer, invoice_id).await {
                        Ok(Some(invoice)) => Step::Deliver(Invoice(invoice)),
                        _ => Step::Skip,
                    }
                }
            })
            .take_while(|step| !matches!(step, Step::End))
            .filter_map(|step| match step {
                Step::Deliver(invoice) => Some(invoice),
                _ => None,
            }))
    }
}
