//! The `Account` type and account queries.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::crypto;
use crate::domain::access::Permission;
use crate::domain::accounts::{AccountRole, role_of};
use crate::entity::enums::{AccountStatus, BillingMode, InvoiceStatus};
use crate::entity::{account, invoice};
use crate::graphql::connection::{IdConnection, connection_from_rows, connection_of_page, decode_cursor, page_size};
use crate::graphql::context::ContextExt;
use crate::graphql::group::Group;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::invoice::{CollectiveInvoice, Invoice};
use crate::graphql::prewritten::{Prewritten, PrewrittenConnection, RowValue};
use crate::graphql::product::Product;
use crate::graphql::scalars::{Cents, Date, Money};
use crate::graphql::spend::{self, AccountSpend, SpendBucket, SpendGranularity};
use crate::read::loaders::{
    AccountKey, CollectiveInvoicesPage, GroupKey, InvoicesPage, OpenBalanceKey, ProductKey, SecondariesPage,
    SecondaryCountKey,
};

/// A customer account: a main account, a secondary of one, or standalone.
pub struct Account(pub account::Model);

/// Settings the account's local team (and the family) manage.
#[derive(SimpleObject)]
pub struct AccountSettings {
    /// E.164 number calls are forwarded to, or null when forwarding is off.
    pub call_forwarding_to: Option<String>,
    /// Invoices are not printed and posted.
    pub paperless_billing: bool,
    /// The account's users get an email when an invoice is issued.
    pub ebill_notifications: bool,
}

/// A customer account: a main account, a secondary of one, or standalone.
#[Object]
impl Account {
    /// The global id.
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::Account, self.0.id)
    }

    /// The customer number printed on invoices.
    async fn customer_number(&self) -> &str {
        &self.0.customer_number
    }

    /// The account holder's name.
    async fn holder_name(&self) -> &str {
        &self.0.holder_name
    }

    /// The name the family gave this account ("Shared Mail"), if any.
    async fn friendly_name(&self) -> Option<&str> {
        self.0.friendly_name.as_deref()
    }

    /// MAIN, SECONDARY or STANDALONE, derived from the hierarchy.
    async fn role(&self, ctx: &Context<'_>) -> Result<AccountRole> {
        if self.0.parent_id.is_some() {
            return Ok(AccountRole::Secondary);
        }
        let count = ctx.loader()?.load_one(SecondaryCountKey(self.0.id)).await?.unwrap_or(0);
        Ok(role_of(&self.0, count))
    }

    /// Whether the account's portal access is live.
    async fn status(&self) -> AccountStatus {
        self.0.status
    }

    /// The product the account is for.
    async fn product(&self, ctx: &Context<'_>) -> Result<Option<Product>> {
        Ok(ctx.loader()?.load_one(ProductKey(self.0.product_id)).await?.map(Product))
    }

    /// INDIVIDUAL, or COLLECTIVE when billed through the main's collective invoice.
    async fn billing_mode(&self) -> BillingMode {
        self.0.billing_mode
    }

    /// The main account, for a secondary you may see the main of; otherwise null.
    async fn parent(&self, ctx: &Context<'_>) -> Result<Option<Account>> {
        let Some(parent_id) = self.0.parent_id else {
            return Ok(None);
        };
        Ok(ctx.loader()?.load_one(AccountKey(parent_id)).await?.map(Account))
    }

    /// The secondaries of a main account that you may see, oldest first.
    #[graphql(complexity = "crate::graphql::connection::page_cost(first, child_complexity)")]
    async fn secondaries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge seen.")] after: Option<String>,
    ) -> Result<IdConnection<Account>> {
        let first = page_size(first)?;
        let after_id = decode_cursor::<i64>(after.as_deref())?;
        let page = SecondariesPage { parent_id: self.0.id, after: after_id.unwrap_or(0), first };
        let rows = ctx.loader()?.load_one(page).await?.unwrap_or_default();
        Ok(connection_from_rows(rows, first, after_id.is_some(), |a| a.id, Account))
    }

    /// The family group this account is in, if any and if you may see it.
    async fn group(&self, ctx: &Context<'_>) -> Result<Option<Prewritten<Group>>> {
        let Some(group_id) = self.0.group_id else {
            return Ok(None);
        };
        Ok(ctx.loader()?.load_one(GroupKey(group_id)).await?.map(|g| Prewritten(Group(g))))
    }

    /// What is owed on open invoices, one entry per currency (empty without VIEW_INVOICES).
    async fn open_balance(&self, ctx: &Context<'_>) -> Result<Vec<Prewritten<Money>>> {
        if !ctx.viewer()?.rights_on(&self.0).has(Permission::ViewInvoices) {
            return Ok(Vec::new());
        }
        let balances = ctx.loader()?.load_one(OpenBalanceKey(self.0.id)).await?.unwrap_or_default();
        Ok(balances
            .into_iter()
            .map(|(currency, cents)| Prewritten(Money { amount_cents: Cents(cents), currency }))
            .collect())
    }

    /// What the account was billed from `from` to `to` (both included), per period and
    /// currency: its invoices issued in that range (by the UTC day of `issuedAt`) that are
    /// not void, open and paid alike. One bucket per period and currency with invoices,
    /// ordered by `periodStart` and then `currency`. Empty without VIEW_INVOICES. A range
    /// longer than 10 years, or `from` after `to`, is refused (GRAPHQL_VALIDATION_FAILED).
    #[graphql(complexity = "crate::graphql::spend::spend_cost(from, to, granularity, child_complexity)")]
    async fn spend(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The first day of the range (UTC).")] from: Date,
        #[graphql(desc = "The last day of the range, included (UTC); before `from` plus 10 years.")] to: Date,
        #[graphql(desc = "The length of each period (default MONTH).", default_with = "SpendGranularity::Month")]
        granularity: SpendGranularity,
    ) -> Result<Vec<SpendBucket>> {
        spend::spend_of(ctx, &self.0, from, to, granularity).await
    }

    /// The spend of the family this main account heads, as `spend` counts it: one row per
    /// account of the family (the main first, then its secondaries oldest first) on which
    /// you have VIEW_INVOICES, each with its buckets (empty when nothing was billed). A
    /// standalone account's family is itself. Empty for a secondary: ask its main.
    #[graphql(complexity = "crate::graphql::spend::family_spend_cost(from, to, granularity, child_complexity)")]
    async fn family_spend(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The first day of the range (UTC).")] from: Date,
        #[graphql(desc = "The last day of the range, included (UTC); before `from` plus 10 years.")] to: Date,
        #[graphql(desc = "The length of each period (default MONTH).", default_with = "SpendGranularity::Month")]
        granularity: SpendGranularity,
    ) -> Result<Vec<AccountSpend>> {
        spend::family_spend_of(ctx, &self.0, from, to, granularity).await
    }

    /// The account's invoices, newest first (empty without VIEW_INVOICES).
    #[graphql(complexity = "crate::graphql::connection::page_cost(first, child_complexity)")]
    async fn invoices(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge seen.")] after: Option<String>,
        #[graphql(desc = "Only invoices in this status.")] status: Option<InvoiceStatus>,
    ) -> Result<PrewrittenConnection<Invoice>> {
        let first = page_size(first)?;
        let after_id = decode_cursor::<i64>(after.as_deref())?;
        if !ctx.viewer()?.rights_on(&self.0).has(Permission::ViewInvoices) {
            return Ok(PrewrittenConnection(connection_of_page(
                Vec::new(),
                false,
                false,
                |i: &invoice::Model| i.id,
                Invoice,
            )));
        }
        let page = InvoicesPage { account_id: self.0.id, status, before_id: after_id.unwrap_or(i64::MAX), first };
        let page = ctx.loader()?.load_one(page).await?.unwrap_or_default();
        let rows = page.models();
        Ok(PrewrittenConnection(connection_of_page(rows, after_id.is_some(), page.has_more(), |i| i.id, Invoice)))
    }

    /// The collective invoices billed to this main account, newest first (empty without
    /// VIEW_INVOICES).
    #[graphql(complexity = "crate::graphql::connection::page_cost(first, child_complexity)")]
    async fn collective_invoices(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge seen.")] after: Option<String>,
    ) -> Result<IdConnection<CollectiveInvoice>> {
        let first = page_size(first)?;
        let after_id = decode_cursor::<i64>(after.as_deref())?;
        let rows = if ctx.viewer()?.rights_on(&self.0).has(Permission::ViewInvoices) {
            let page =
                CollectiveInvoicesPage { main_account_id: self.0.id, before_id: after_id.unwrap_or(i64::MAX), first };
            ctx.loader()?.load_one(page).await?.unwrap_or_default()
        } else {
            Vec::new()
        };
        Ok(connection_from_rows(rows, first, after_id.is_some(), |c| c.id, CollectiveInvoice))
    }

    /// The account's settings (null without MANAGE_SETTINGS).
    async fn settings(&self, ctx: &Context<'_>) -> Result<Option<AccountSettings>> {
        if !ctx.viewer()?.rights_on(&self.0).has(Permission::ManageSettings) {
            return Ok(None);
        }
        Ok(Some(AccountSettings {
            call_forwarding_to: self.0.call_forwarding_to.clone(),
            paperless_billing: self.0.paperless_billing,
            ebill_notifications: self.0.ebill_notifications,
        }))
    }

    /// When the account was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// The current enrollment token, as printed on the account's invoices. Staff only;
    /// null for everyone else.
    async fn enrollment_token(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        if !ctx.viewer()?.is_staff() {
            return Ok(None);
        }
        Ok(Some(crypto::enrollment_token(&ctx.settings()?.secret, self.0.id, self.0.token_version)))
    }
}

impl Account {
    /// The value of a stored field of `account` for the fast path (`None` for the
    /// others): each must answer as its resolver above does.
    pub fn stored_field<'a>(account: &'a account::Model, name: &str) -> Option<RowValue<'a>> {
        use async_graphql::ScalarType;
        Some(match name {
            "id" => RowValue::Value(ids::encode(NodeType::Account, account.id).to_value()),
            "customerNumber" => RowValue::Str(&account.customer_number),
            "holderName" => RowValue::Str(&account.holder_name),
            "friendlyName" => RowValue::optional(account.friendly_name.as_deref()),
            "status" => RowValue::enum_of(account.status),
            "billingMode" => RowValue::enum_of(account.billing_mode),
            "createdAt" => RowValue::Value(account.created_at.to_value()),
            _ => return None,
        })
    }
}

/// Looks up an account the viewer may see by global id.
pub async fn account_by_global_id(ctx: &Context<'_>, id: &ID) -> Result<Option<Account>> {
    let Some(number) = ids::decode_as(id, NodeType::Account) else {
        return Ok(None);
    };
    Ok(ctx.loader()?.load_one(AccountKey(number)).await?.map(Account))
}
