//! Subscriptions (graphql-transport-ws).

use async_graphql::{Context, ID, Result, SimpleObject, Subscription};
use futures_util::Stream;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::domain::access::{Permission, Viewer};
use crate::entity::{account, invoice};
use crate::events::{Event, TreeChangeKind};
use crate::graphql::account::Account;
use crate::graphql::context::ContextExt;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::invoice::Invoice;

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
                    use sea_orm::{EntityTrait, QueryFilter};
                    let rows = account::Entity::find()
                        .filter(sea_orm::ColumnTrait::is_in(&account::Column::Id, [main_id, account_id]))
                        .all(&db)
                        .await
                        .unwrap_or_default();
                    let visible = |id: i64| rows.iter().find(|a| a.id == id && viewer.can_see(a)).cloned().map(Account);
                    let main_visible = rows
                        .iter()
                        .find(|a| a.id == main_id)
                        .is_some_and(|m| viewer.rights_on_family(m).visible() || viewer.can_see(m));
                    (
                        main_visible,
                        AccountTreeChange { kind, main_account: visible(main_id), account: visible(account_id) },
                    )
                }
            })
            .filter_map(|(visible, change)| visible.then_some(change)))
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
                    use sea_orm::EntityTrait;
                    // Errors drop the event: a subscriber never sees what it cannot check.
                    let invoice = invoice::Entity::find_by_id(invoice_id).one(&db).await.ok().flatten()?;
                    let account = account::Entity::find_by_id(invoice.account_id).one(&db).await.ok().flatten()?;
                    let viewer = Viewer::load(&db, user).await.ok()?;
                    viewer.rights_on(&account).has(Permission::ViewInvoices).then_some(Invoice(invoice))
                }
            })
            .filter_map(|visible| visible))
    }
}
