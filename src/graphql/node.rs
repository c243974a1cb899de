//! The Relay `Node` interface and lookups by id or customer number. Anything the viewer
//! may not see answers null, exactly like a missing id.

use async_graphql::{Context, ID, Interface, Object, Result};

use crate::error::AppError;
use crate::graphql::account::{Account, account_by_global_id};
use crate::graphql::audit::AuditEvent;
use crate::graphql::context::ContextExt;
use crate::graphql::family::AccountOrder;
use crate::graphql::group::Group;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::invoice::{CollectiveInvoice, Invoice};
use crate::graphql::link_request::LinkRequest;
use crate::graphql::payment::Payment;
use crate::graphql::user::User;
use crate::read::accounts;
use crate::read::loaders::{
    AccountKey, AccountOrderKey, AuditEventKey, CollectiveInvoiceKey, GroupKey, InvoiceKey, LinkRequestKey, PaymentKey,
    UserKey,
};

/// An object with a global id.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "The global id."))]
pub enum Node {
    Account(Account),
    User(User),
    Group(Group),
    Invoice(Invoice),
    CollectiveInvoice(CollectiveInvoice),
    Payment(Payment),
    AccountOrder(AccountOrder),
    AuditEvent(AuditEvent),
    LinkRequest(LinkRequest),
}

async fn load_node(ctx: &Context<'_>, id: &ID) -> Result<Option<Node>> {
    let Some((node_type, number)) = ids::decode_any(id) else {
        return Ok(None);
    };
    let loader = ctx.loader()?;
    Ok(match node_type {
        NodeType::Account => loader.load_one(AccountKey(number)).await?.map(|a| Node::Account(Account(a))),
        NodeType::User => loader.load_one(UserKey(number)).await?.map(|u| Node::User(User(u))),
        NodeType::Group => loader.load_one(GroupKey(number)).await?.map(|g| Node::Group(Group(g))),
        NodeType::Invoice => loader.load_one(InvoiceKey(number)).await?.map(|i| Node::Invoice(Invoice(i))),
        NodeType::CollectiveInvoice => {
            loader.load_one(CollectiveInvoiceKey(number)).await?.map(|c| Node::CollectiveInvoice(CollectiveInvoice(c)))
        }
        NodeType::AccountOrder => {
            loader.load_one(AccountOrderKey(number)).await?.map(|o| Node::AccountOrder(AccountOrder(o)))
        }
        NodeType::AuditEvent => loader.load_one(AuditEventKey(number)).await?.map(|e| Node::AuditEvent(AuditEvent(e))),
        NodeType::Payment => loader.load_one(PaymentKey(number)).await?.map(|p| Node::Payment(Payment(p))),
        NodeType::LinkRequest => {
            loader.load_one(LinkRequestKey(number)).await?.map(|r| Node::LinkRequest(LinkRequest(r)))
        }
    })
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Any object by global id; null when it does not exist or you may not see it.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>> {
        ctx.viewer()?;
        load_node(ctx, &id).await
    }

    /// Several objects by global id, in order; null where one is missing or hidden.
    #[graphql(complexity = "1 + ids.len() * child_complexity")]
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(max_items = 100))] ids: Vec<ID>,
    ) -> Result<Vec<Option<Node>>> {
        ctx.viewer()?;
        let mut out = Vec::with_capacity(ids.len());
        // The loader batches these lookups into one statement per type.
        let lookups = ids.iter().map(|id| load_node(ctx, id));
        for node in futures_util::future::join_all(lookups).await {
            out.push(node?);
        }
        Ok(out)
    }

    /// An account by global id or by customer number (give exactly one).
    async fn account(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        customer_number: Option<String>,
    ) -> Result<Option<Account>> {
        ctx.viewer()?;
        match (id, customer_number) {
            (Some(id), None) => account_by_global_id(ctx, &id).await,
            (None, Some(number)) => {
                let viewer = ctx.viewer()?;
                Ok(accounts::by_customer_number(ctx.db()?, &viewer, &number).await?.map(Account))
            }
            _ => Err(AppError::InvalidInput("give exactly one of `id` and `customerNumber`".into()).into()),
        }
    }

    /// An invoice by global id; null when missing or not yours to view.
    async fn invoice(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Invoice>> {
        ctx.viewer()?;
        let Some(number) = ids::decode_as(&id, NodeType::Invoice) else {
            return Ok(None);
        };
        Ok(ctx.loader()?.load_one(InvoiceKey(number)).await?.map(Invoice))
    }

    /// A collective invoice by global id; null when missing or not yours to view.
    async fn collective_invoice(&self, ctx: &Context<'_>, id: ID) -> Result<Option<CollectiveInvoice>> {
        ctx.viewer()?;
        let Some(number) = ids::decode_as(&id, NodeType::CollectiveInvoice) else {
            return Ok(None);
        };
        Ok(ctx.loader()?.load_one(CollectiveInvoiceKey(number)).await?.map(CollectiveInvoice))
    }
}
