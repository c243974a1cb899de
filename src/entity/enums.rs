//! Enumerations stored as text columns. They double as GraphQL enums, because their
//! names are the public contract in both places (DOMAIN.md) and a second copy would drift.

use sea_orm::entity::prelude::*;

/// Whether an account's portal access is live.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, serde::Serialize, async_graphql::Enum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountStatus {
    /// Its logins sign in and it receives e-bill notifications.
    Active,
    /// Removed from a family: no sign-in, no notifications, until it is enrolled again.
    Deactivated,
}

/// How an account's invoices are billed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, serde::Serialize, async_graphql::Enum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BillingMode {
    /// The account pays its own invoices.
    Individual,
    /// A secondary whose open invoices are consolidated into its main's collective invoice.
    Collective,
}

/// The life of an invoice.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, serde::Serialize, async_graphql::Enum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InvoiceStatus {
    /// Issued and not yet paid.
    Open,
    /// Paid in full.
    Paid,
    /// Cancelled by staff; nothing is owed.
    Void,
}

/// The life of a collective invoice.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, serde::Serialize, async_graphql::Enum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CollectiveInvoiceStatus {
    /// Consolidated and not yet paid.
    Open,
    /// Paid, and with it every member invoice.
    Paid,
}

/// How a payment was made (a recorded reference; settlement is immediate in this version).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, serde::Serialize, async_graphql::Enum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentMethod {
    /// A card payment.
    Card,
    /// A direct debit from a bank account.
    DirectDebit,
    /// A bank transfer.
    BankTransfer,
}

/// The state of a payment.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, serde::Serialize, async_graphql::Enum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    /// The money was received and the invoices are paid.
    Settled,
}

/// The state of an order for a new secondary account.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, serde::Serialize, async_graphql::Enum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Received, not yet provisioned.
    Submitted,
    /// The account exists and is attached.
    Provisioned,
    /// Refused; see the failure reason.
    Rejected,
}

/// The life of a link request (DOMAIN.md, "Link requests").
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, serde::Serialize, async_graphql::Enum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LinkRequestStatus {
    /// Waiting for the account's owner to decide.
    Pending,
    /// The account's owner accepted: the account joined the requesting family.
    Accepted,
    /// The account's owner declined.
    Declined,
    /// The requesting family withdrew it.
    Cancelled,
    /// Nobody decided within 14 days.
    Expired,
}

/// The state of a queued email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, serde::Serialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OutboxStatus {
    Pending,
    Sent,
    Failed,
}
