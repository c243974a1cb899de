//! Link requests: the `LinkRequest` type and the mutations that ask, accept, decline and
//! cancel (DOMAIN.md, "Link requests"). The rules are in `domain::family::link_requests`.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::family::{self, LinkRequestRecord, NewLinkRequest};
use crate::entity::enums::LinkRequestStatus;
use crate::error::{AppResult, UserError};
use crate::graphql::account::Account;
use crate::graphql::context::ContextExt;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::payload::into_payload;
use crate::read::loaders::AccountKey;

/// A request to link an account into a family by its customer number, which the
/// account's owner accepts or declines. Seen by the requesting family (who manage its
/// accounts) and by the owner of the account asked for; nobody else.
pub struct LinkRequest(pub LinkRequestRecord);

/// The family that sent a link request, as the owner of the account asked for sees it.
#[derive(SimpleObject)]
pub struct RequestingFamily {
    /// The holder name of the requesting main account.
    pub holder_name: String,
    /// The customer number of the requesting main account.
    pub customer_number: String,
}

/// A request to link an account into a family by its customer number, which the
/// account's owner accepts or declines. Seen by the requesting family (who manage its
/// accounts) and by the owner of the account asked for; nobody else.
#[Object]
impl LinkRequest {
    /// The global id.
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::LinkRequest, self.0.request.id)
    }
    /// PENDING until the account's owner decides, the family cancels, or 14 days pass
    /// (EXPIRED).
    async fn status(&self) -> LinkRequestStatus {
        family::status_now(&self.0.request, Utc::now())
    }
    /// The customer number the family asked for, as typed.
    async fn customer_number(&self) -> &str {
        &self.0.request.customer_number
    }
    /// The friendly name the account gets in the family on acceptance.
    async fn friendly_name(&self) -> Option<&str> {
        self.0.request.friendly_name.as_deref()
    }
    /// The requester's message to the account's owner.
    async fn message(&self) -> Option<&str> {
        self.0.request.message.as_deref()
    }
    /// The requesting main account; null for those who may not see that family (the
    /// owner of the account asked for sees `requestedBy` instead).
    async fn main_account(&self, ctx: &Context<'_>) -> Result<Option<Account>> {
        Ok(ctx.loader()?.load_one(AccountKey(self.0.request.main_account_id)).await?.map(Account))
    }
    /// Who asks: the requesting main account's holder name and customer number.
    async fn requested_by(&self) -> RequestingFamily {
        RequestingFamily {
            holder_name: self.0.requester.holder_name.clone(),
            customer_number: self.0.requester.customer_number.clone(),
        }
    }
    /// The account asked for, if you may see it: its owner sees it; the requesting
    /// family only once it accepted (until then nothing about it is revealed).
    async fn account(&self, ctx: &Context<'_>) -> Result<Option<Account>> {
        let Some(id) = self.0.request.target_account_id else { return Ok(None) };
        Ok(ctx.loader()?.load_one(AccountKey(id)).await?.map(Account))
    }
    /// When it was sent.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.request.created_at
    }
    /// When it expires if nobody decides (14 days after it was sent).
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.request.expires_at
    }
    /// When it was accepted, declined or cancelled; null while pending or expired.
    async fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.0.request.decided_at
    }
}

/// Input of `requestLink`.
#[derive(InputObject)]
pub struct RequestLinkInput {
    /// The main account whose family asks; defaults to your home account.
    pub main_account_id: Option<ID>,
    /// The customer number of the account to link (from its invoices).
    pub customer_number: String,
    /// A friendly name for it in your family ("Shared Mail").
    pub friendly_name: Option<String>,
    /// The group it joins on acceptance; defaults to the Default Group.
    pub group_id: Option<ID>,
    /// A note to the account's owner (at most 500 characters), sent in the request mail.
    pub message: Option<String>,
}

/// Input of `acceptLinkRequest`, `declineLinkRequest` and `cancelLinkRequest`.
#[derive(InputObject)]
pub struct LinkRequestDecisionInput {
    /// The link request.
    pub link_request_id: ID,
}

/// Result of `requestLink`, `declineLinkRequest` and `cancelLinkRequest`.
#[derive(SimpleObject)]
pub struct LinkRequestPayload {
    /// The request as the change left it.
    pub link_request: Option<LinkRequest>,
    /// Why the change was refused, if it was.
    pub user_errors: Vec<UserError>,
}

/// Result of `acceptLinkRequest`.
#[derive(SimpleObject)]
pub struct AcceptLinkRequestPayload {
    /// The request, now ACCEPTED.
    pub link_request: Option<LinkRequest>,
    /// The account, now a secondary of the requesting family.
    pub account: Option<Account>,
    /// Why the acceptance was refused, if it was.
    pub user_errors: Vec<UserError>,
}

fn link_request_payload(outcome: AppResult<LinkRequestRecord>) -> Result<LinkRequestPayload> {
    into_payload(outcome, |record, user_errors| LinkRequestPayload {
        link_request: record.map(LinkRequest),
        user_errors,
    })
}

/// A decision that only closes a request: by the account's owner or by the requester.
enum Closing {
    Decline,
    Cancel,
}

async fn close(ctx: &Context<'_>, input: LinkRequestDecisionInput, closing: Closing) -> Result<LinkRequestPayload> {
    let outcome = async {
        let viewer = ctx.viewer()?;
        let id = ids::decode_input(&input.link_request_id, NodeType::LinkRequest, "linkRequestId")?;
        match closing {
            Closing::Decline => family::decline_link_request(ctx.db()?, &viewer, id).await,
            Closing::Cancel => family::cancel_link_request(ctx.db()?, &viewer, id).await,
        }
    }
    .await;
    link_request_payload(outcome)
}

#[derive(Default)]
pub struct LinkRequestMutation;

#[Object]
impl LinkRequestMutation {
    /// Asks the owner of the account with this customer number to let it join your family
    /// (no secret needed; they accept or decline in their own session). The answer is the
    /// same whether or not the number names an account. Needs MANAGE_ACCOUNTS; at most
    /// one pending request per customer number and 20 per family.
    async fn request_link(&self, ctx: &Context<'_>, input: RequestLinkInput) -> Result<LinkRequestPayload> {
        let outcome = async {
            let viewer = ctx.viewer()?;
            let new = NewLinkRequest {
                main_account_id: ids::decode_optional_input(
                    input.main_account_id.as_ref(),
                    NodeType::Account,
                    "mainAccountId",
                )?,
                customer_number: input.customer_number,
                friendly_name: input.friendly_name,
                group_id: ids::decode_optional_input(input.group_id.as_ref(), NodeType::Group, "groupId")?,
                message: input.message,
            };
            family::request_link(ctx.db()?, &viewer, new).await
        }
        .await;
        link_request_payload(outcome)
    }

    /// Accepts a link request for an account you own: it becomes a secondary of the
    /// requesting family, if every attach rule allows it now (IS_MAIN, ALREADY_ATTACHED,
    /// ...). A decided or expired request answers NOT_PENDING.
    async fn accept_link_request(
        &self,
        ctx: &Context<'_>,
        input: LinkRequestDecisionInput,
    ) -> Result<AcceptLinkRequestPayload> {
        let outcome = async {
            let viewer = ctx.viewer()?;
            let id = ids::decode_input(&input.link_request_id, NodeType::LinkRequest, "linkRequestId")?;
            family::accept_link_request(ctx.db()?, &viewer, id).await
        }
        .await;
        if let Ok((_, change)) = &outcome {
            for event in &change.events {
                ctx.state()?.events.publish(ctx.db()?, event.clone()).await;
            }
        }
        into_payload(outcome, |accepted, user_errors| {
            let (link_request, account) = match accepted {
                Some((record, change)) => (Some(LinkRequest(record)), Some(Account(change.account))),
                None => (None, None),
            };
            AcceptLinkRequestPayload { link_request, account, user_errors }
        })
    }

    /// Declines a link request for an account you own; nothing else changes.
    async fn decline_link_request(
        &self,
        ctx: &Context<'_>,
        input: LinkRequestDecisionInput,
    ) -> Result<LinkRequestPayload> {
        close(ctx, input, Closing::Decline).await
    }

    /// Withdraws a pending link request your family sent.
    async fn cancel_link_request(
        &self,
        ctx: &Context<'_>,
        input: LinkRequestDecisionInput,
    ) -> Result<LinkRequestPayload> {
        close(ctx, input, Closing::Cancel).await
    }
}
