//! The `Payment` type and `payInvoices`.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::payments::{self, PayRequest, PayTarget};
use crate::entity::enums::{PaymentMethod, PaymentStatus};
use crate::entity::payment;
use crate::error::{AppError, AppResult, UserError};
use crate::graphql::context::ContextExt;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::invoice::Invoice;
use crate::graphql::payload::into_payload;
use crate::graphql::scalars::Cents;
use crate::read::loaders::PaymentInvoicesKey;

/// One payment of one or several invoices, in one currency.
pub struct Payment(pub payment::Model);

/// One payment of one or several invoices, in one currency.
#[Object]
impl Payment {
    /// The global id.
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::Payment, self.0.id)
    }
    /// The amount paid, in minor units: the sum of the invoices paid.
    async fn amount_cents(&self) -> Cents {
        Cents(self.0.amount_cents)
    }
    /// ISO 4217 currency of the payment and of every invoice it paid.
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    /// Whether the money was received.
    async fn status(&self) -> PaymentStatus {
        self.0.status
    }
    /// How it was paid.
    async fn method(&self) -> PaymentMethod {
        self.0.method
    }
    /// The invoices it paid (those you may view), including every member of a
    /// collective invoice paid with it.
    async fn invoices(&self, ctx: &Context<'_>) -> Result<Vec<Invoice>> {
        let rows = ctx.loader()?.load_one(PaymentInvoicesKey(self.0.id)).await?.unwrap_or_default();
        Ok(rows.into_iter().map(Invoice).collect())
    }
    /// When it was made.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Input of `payInvoices`.
#[derive(InputObject)]
pub struct PayInvoicesInput {
    /// The invoices to pay (1 to 100), all in one currency. A `CollectiveInvoice` id
    /// pays every invoice consolidated in it; its members cannot be paid on their own.
    pub invoice_ids: Vec<ID>,
    /// A key you choose per payment attempt: repeating the request with the same key
    /// answers the first payment instead of paying twice.
    pub idempotency_key: String,
    /// How to pay; CARD when omitted.
    pub method: Option<PaymentMethod>,
}

/// Result of `payInvoices`.
#[derive(SimpleObject)]
pub struct PayInvoicesPayload {
    /// The payment (on a repeat with the same key: the first one).
    pub payment: Option<Payment>,
    /// True when this answers an earlier request with the same idempotency key.
    pub replayed: bool,
    /// Why the payment was refused, if it was.
    pub user_errors: Vec<UserError>,
}

fn pay_target(id: &ID) -> AppResult<PayTarget> {
    match ids::decode_any(id) {
        Some((NodeType::Invoice, n)) => Ok(PayTarget::Invoice(n)),
        Some((NodeType::CollectiveInvoice, n)) => Ok(PayTarget::CollectiveInvoice(n)),
        _ => Err(AppError::User(crate::domain::refusal::not_found("invoice", "invoiceIds"))),
    }
}

#[derive(Default)]
pub struct PaymentMutation;

#[Object]
impl PaymentMutation {
    /// Pays one or several invoices (or collective invoices) of one currency at once.
    /// Needs PAY_INVOICES on each invoice's account (on the main account for a
    /// collective invoice). Settlement is immediate.
    async fn pay_invoices(&self, ctx: &Context<'_>, input: PayInvoicesInput) -> Result<PayInvoicesPayload> {
        let outcome = async {
            let viewer = ctx.viewer()?;
            let targets = input.invoice_ids.iter().map(pay_target).collect::<AppResult<Vec<_>>>()?;
            let request = PayRequest {
                targets,
                idempotency_key: input.idempotency_key,
                method: input.method.unwrap_or(PaymentMethod::Card),
            };
            let state = ctx.state()?;
            payments::pay(&state.db, state.payments.as_ref(), &viewer, request).await
        }
        .await;
        into_payload(outcome, |outcome, user_errors| PayInvoicesPayload {
            replayed: outcome.as_ref().is_some_and(|o| o.replayed),
            payment: outcome.map(|o| Payment(o.payment)),
            user_errors,
        })
    }
}
