//! The `Invoice` and `CollectiveInvoice` types, staff invoice mutations.

use async_graphql::connection::{Connection, ConnectionNameType, Edge, EdgeNameType, EmptyFields, OpaqueCursor};
use async_graphql::{Context, ID, InputObject, Object, OutputType, Result, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};

use crate::documents::Format;
use crate::domain::billing::{self, IssueRequest, NewLine};
use crate::domain::collective::{self, ConsolidateRequest};
use crate::entity::enums::{BillingMode, CollectiveInvoiceStatus, InvoiceStatus};
use crate::entity::{collective_invoice, invoice};
use crate::error::UserError;
use crate::graphql::account::Account;
use crate::graphql::connection::{IdConnection, connection_from_rows, decode_cursor, page_size};
use crate::graphql::context::ContextExt;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::links::signed_path;
use crate::graphql::open_items::OpenItemsPage;
use crate::graphql::payload::into_payload;
use crate::graphql::prewritten::{RowFields, RowValue};
use crate::graphql::scalars::{Cents, Date, Money};
use crate::read::invoice_page::InvoiceFields;
use crate::read::invoices::{self, OpenItems, OpenItemsFilter};
use crate::read::loaders::{
    AccountKey, CollectiveInvoiceKey, CollectiveMembersPage, CollectiveWholeKey, InvoiceLinesKey,
};

/// An invoice of one account.
pub struct Invoice(pub invoice::Model);

/// A signed download link; only resolvers of objects the viewer may view call this.
/// `token_of`: the account whose enrollment token the PDF prints, if the viewer may see it.
async fn download_link(
    ctx: &Context<'_>,
    node_type: NodeType,
    id: i64,
    format: Format,
    token_of: Option<i64>,
) -> Result<Option<String>> {
    let shows_token = match (format, token_of) {
        (Format::Pdf, Some(account_id)) => {
            let account = ctx.loader()?.load_one(AccountKey(account_id)).await?;
            account.is_some_and(|a| ctx.viewer().is_ok_and(|v| v.may_manage(&a)))
        }
        _ => false,
    };
    let now = Utc::now().timestamp();
    Ok(Some(signed_path(&ctx.settings()?.secret, node_type, id, format, now, shows_token)))
}

/// One line of an invoice.
#[derive(SimpleObject)]
pub struct InvoiceLine {
    /// What was billed.
    pub description: String,
    /// How many units.
    pub quantity: i64,
    /// Price of one unit in minor units.
    pub unit_cents: Cents,
    /// `quantity × unitCents`.
    pub amount_cents: Cents,
}

/// An invoice of one account.
#[Object]
impl Invoice {
    /// The global id.
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::Invoice, self.0.id)
    }
    /// The invoice number printed on it.
    async fn number(&self) -> &str {
        &self.0.number
    }
    /// The account billed.
    async fn account(&self, ctx: &Context<'_>) -> Result<Option<Account>> {
        Ok(ctx.loader()?.load_one(AccountKey(self.0.account_id)).await?.map(Account))
    }
    /// OPEN, PAID or VOID.
    async fn status(&self) -> InvoiceStatus {
        self.0.status
    }
    /// ISO 4217 currency of every amount on the invoice.
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    /// The sum of the lines, in minor units.
    async fn total_cents(&self) -> Cents {
        Cents(self.0.total_cents)
    }
    /// When the invoice was issued.
    async fn issued_at(&self) -> DateTime<Utc> {
        self.0.issued_at
    }
    /// The day payment is due.
    async fn due_at(&self) -> Date {
        Date(self.0.due_at)
    }
    /// The invoice's lines, in order.
    async fn lines(&self, ctx: &Context<'_>) -> Result<Vec<InvoiceLine>> {
        let lines = ctx.loader()?.load_one(InvoiceLinesKey(self.0.id)).await?.unwrap_or_default();
        Ok(lines
            .into_iter()
            .map(|l| InvoiceLine {
                description: l.description,
                quantity: l.quantity,
                unit_cents: Cents(l.unit_cents),
                amount_cents: Cents(l.amount_cents),
            })
            .collect())
    }
    /// The collective invoice this invoice was consolidated into, if any.
    async fn collective_invoice(&self, ctx: &Context<'_>) -> Result<Option<CollectiveInvoice>> {
        let Some(id) = self.0.collective_invoice_id else {
            return Ok(None);
        };
        Ok(ctx.loader()?.load_one(CollectiveInvoiceKey(id)).await?.map(CollectiveInvoice))
    }
    /// A signed link to the PDF, relative to this server; it works without the bearer
    /// token for ten minutes. The account's enrollment token is printed on it for those who
    /// may manage the account (its owner, MANAGE_ACCOUNTS, staff), masked for others.
    async fn pdf_url(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        download_link(ctx, NodeType::Invoice, self.0.id, Format::Pdf, Some(self.0.account_id)).await
    }
    /// A signed link to the CSV (RFC 4180), relative to this server; it works without
    /// the bearer token for ten minutes.
    async fn csv_url(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        download_link(ctx, NodeType::Invoice, self.0.id, Format::Csv, None).await
    }
}

/// One invoice for a main account's family over a period, consolidating the open
/// invoices of the main and of its COLLECTIVE secondaries in one currency.
pub struct CollectiveInvoice(pub collective_invoice::Model);

/// The stored fields of an invoice, for the fast path (they must equal the resolvers above).
impl RowFields for Invoice {
    fn row_field(&self, name: &str) -> Option<RowValue<'_>> {
        Invoice::stored_field(&InvoiceFields::from(&self.0), name)
    }
}

impl Invoice {
    /// The value of a stored field of `invoice` (`None` for the others).
    pub fn stored_field<'a>(invoice: &InvoiceFields<'a>, name: &str) -> Option<RowValue<'a>> {
        match StoredInvoiceField::of(name)? {
            StoredInvoiceField::Typename => None,
            field => Some(field.value(invoice)),
        }
    }
}

/// The stored fields of `Invoice`, and `__typename`, for `prewritten::LeafPlan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredInvoiceField {
    Typename,
    Id,
    Number,
    Status,
    Currency,
    TotalCents,
    IssuedAt,
    DueAt,
}

impl StoredInvoiceField {
    pub fn of(name: &str) -> Option<Self> {
        Some(match name {
            "__typename" => StoredInvoiceField::Typename,
            "id" => StoredInvoiceField::Id,
            "number" => StoredInvoiceField::Number,
            "status" => StoredInvoiceField::Status,
            "currency" => StoredInvoiceField::Currency,
            "totalCents" => StoredInvoiceField::TotalCents,
            "issuedAt" => StoredInvoiceField::IssuedAt,
            "dueAt" => StoredInvoiceField::DueAt,
            _ => return None,
        })
    }

    /// The field's value for `invoice`: each as its resolver above answers.
    pub fn value<'a>(self, invoice: &InvoiceFields<'a>) -> RowValue<'a> {
        use async_graphql::ScalarType;
        match self {
            StoredInvoiceField::Typename => RowValue::Str("Invoice"),
            StoredInvoiceField::Id => RowValue::Value(ids::encode(NodeType::Invoice, invoice.id).to_value()),
            StoredInvoiceField::Number => RowValue::Str(invoice.number),
            StoredInvoiceField::Status => RowValue::enum_of(invoice.status),
            StoredInvoiceField::Currency => RowValue::Str(invoice.currency),
            StoredInvoiceField::TotalCents => RowValue::Int(invoice.total_cents),
            StoredInvoiceField::IssuedAt => RowValue::Value(invoice.issued_at.to_value()),
            StoredInvoiceField::DueAt => RowValue::Date(Date(invoice.due_at)),
        }
    }
}

/// One invoice for a main account's family over a period, consolidating the open
/// invoices of the main and of its COLLECTIVE secondaries in one currency.
#[Object]
impl CollectiveInvoice {
    /// The global id.
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::CollectiveInvoice, self.0.id)
    }
    /// The number printed on it.
    async fn number(&self) -> &str {
        &self.0.number
    }
    /// The main account billed.
    async fn main_account(&self, ctx: &Context<'_>) -> Result<Option<Account>> {
        Ok(ctx.loader()?.load_one(AccountKey(self.0.main_account_id)).await?.map(Account))
    }
    /// First day of the period.
    async fn period_start(&self) -> Date {
        Date(self.0.period_start)
    }
    /// Last day of the period.
    async fn period_end(&self) -> Date {
        Date(self.0.period_end)
    }
    /// ISO 4217 currency of the collective invoice and all its members.
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    /// The sum of its member invoices, in minor units.
    async fn total_cents(&self) -> Cents {
        Cents(self.0.total_cents)
    }
    /// OPEN or PAID.
    async fn status(&self) -> CollectiveInvoiceStatus {
        self.0.status
    }
    /// A signed link to the PDF listing every member invoice, relative to this server;
    /// it works without the bearer token for ten minutes. Null unless you may view the
    /// invoices of every member account.
    async fn pdf_url(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        if !ctx.loader()?.load_one(CollectiveWholeKey(self.0.id)).await?.unwrap_or(false) {
            return Ok(None);
        }
        download_link(ctx, NodeType::CollectiveInvoice, self.0.id, Format::Pdf, Some(self.0.main_account_id)).await
    }
    /// A signed link to the CSV (RFC 4180) of the member invoices, relative to this
    /// server; it works without the bearer token for ten minutes. Null unless you may
    /// view the invoices of every member account.
    async fn csv_url(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        if !ctx.loader()?.load_one(CollectiveWholeKey(self.0.id)).await?.unwrap_or(false) {
            return Ok(None);
        }
        download_link(ctx, NodeType::CollectiveInvoice, self.0.id, Format::Csv, None).await
    }
    /// The member invoices whose accounts' invoices you may view.
    #[graphql(complexity = "crate::graphql::connection::page_cost(first, child_complexity)")]
    async fn invoices(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge seen.")] after: Option<String>,
    ) -> Result<IdConnection<Invoice>> {
        let first = page_size(first)?;
        let after_id = decode_cursor::<i64>(after.as_deref())?;
        let page = CollectiveMembersPage { collective_invoice_id: self.0.id, after: after_id.unwrap_or(0), first };
        let rows = ctx.loader()?.load_one(page).await?.unwrap_or_default();
        Ok(connection_from_rows(rows, first, after_id.is_some(), |i| i.id, Invoice))
    }
}

/// One line of a new invoice.
#[derive(InputObject)]
pub struct InvoiceLineInput {
    /// What is billed.
    pub description: String,
    /// How many units (at least 1).
    pub quantity: i64,
    /// Price of one unit in minor units (at least 0).
    pub unit_cents: Cents,
}

/// Input of `adminIssueInvoice`.
#[derive(InputObject)]
pub struct AdminIssueInvoiceInput {
    /// The account billed.
    pub account_id: ID,
    /// ISO 4217 currency of every amount, e.g. `EUR`.
    pub currency: String,
    /// The day payment is due.
    pub due_at: Date,
    /// The lines (1 to 500); the total is computed from them.
    pub lines: Vec<InvoiceLineInput>,
}

/// Input of `adminVoidInvoice`.
#[derive(InputObject)]
pub struct AdminVoidInvoiceInput {
    /// The open invoice to cancel.
    pub invoice_id: ID,
}

/// Result of an invoice mutation.
#[derive(SimpleObject)]
pub struct InvoicePayload {
    /// The invoice as the mutation left it.
    pub invoice: Option<Invoice>,
    /// Why the change was refused, if it was.
    pub user_errors: Vec<UserError>,
}

/// What every open item a query matches adds up to (not just the page shown).
#[derive(SimpleObject)]
pub struct OpenItemsTotals {
    /// The sum of the matching open invoices, one entry per currency, by currency code.
    pub totals: Vec<Money>,
}

/// Names the open-items connection `OpenItemsConnection`.
pub struct OpenItemsConnectionName;

impl ConnectionNameType for OpenItemsConnectionName {
    fn type_name<T: OutputType>() -> String {
        "OpenItemsConnection".to_owned()
    }
}

/// Names the open-items edges `OpenItemsEdge`.
pub struct OpenItemsEdgeName;

impl EdgeNameType for OpenItemsEdgeName {
    fn type_name<T: OutputType>() -> String {
        "OpenItemsEdge".to_owned()
    }
}

/// Keyset of the open-items order: due date, then id.
pub type DueCursor = OpaqueCursor<(NaiveDate, i64)>;

/// Open invoices with their totals per currency.
pub type OpenItemsConnection =
    Connection<DueCursor, Invoice, OpenItemsTotals, EmptyFields, OpenItemsConnectionName, OpenItemsEdgeName>;

#[derive(Default)]
pub struct InvoiceQuery;

#[Object]
impl InvoiceQuery {
    /// Open invoices of every account whose invoices you may view, in one list: the
    /// earliest due first (then by id), with their totals per currency.
    #[graphql(complexity = "crate::graphql::connection::page_cost(first, child_complexity)")]
    async fn open_items(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge seen.")] after: Option<String>,
        #[graphql(desc = "Only this account's open items.")] account_id: Option<ID>,
        #[graphql(desc = "True: only items due before today (UTC); false: only items not yet overdue.")]
        overdue: Option<bool>,
        #[graphql(desc = "Only items in this ISO 4217 currency.")] currency: Option<String>,
    ) -> Result<OpenItemsPage> {
        let viewer = ctx.viewer()?;
        let first = page_size(first)?;
        let after = decode_cursor::<(NaiveDate, i64)>(after.as_deref())?;
        let filter = OpenItemsFilter {
            // An id of another type, or a malformed one, matches nothing (like a missing account).
            account_id: account_id.map(|id| ids::decode_as(&id, NodeType::Account).unwrap_or(-1)),
            overdue,
            currency,
        };
        let ahead = ctx.look_ahead();
        let with_accounts = ahead.field("edges").field("node").field("account").exists()
            || ahead.field("nodes").field("account").exists();
        let OpenItems { rows, totals, accounts } =
            invoices::open_items(ctx.reads()?, &viewer, filter, after, first, with_accounts).await?;
        let totals =
            totals.into_iter().map(|(currency, cents)| Money { amount_cents: Cents(cents), currency }).collect();
        let has_next = rows.len() as u64 > first;
        let mut connection =
            OpenItemsConnection::with_additional_fields(after.is_some(), has_next, OpenItemsTotals { totals });
        connection.edges.extend(
            rows.into_iter()
                .take(first as usize)
                .map(|row| Edge::new(OpaqueCursor((row.due_at, row.id)), Invoice(row))),
        );
        Ok(OpenItemsPage::new(connection, ctx.request()?.loader.clone(), accounts))
    }
}

/// Input of `setBillingMode`.
#[derive(InputObject)]
pub struct SetBillingModeInput {
    /// The account (COLLECTIVE: a secondary of a family).
    pub account_id: ID,
    /// INDIVIDUAL, or COLLECTIVE to bill it through its main's collective invoices.
    pub mode: BillingMode,
}

/// Result of `setBillingMode`.
#[derive(SimpleObject)]
pub struct SetBillingModePayload {
    /// The account as it is now.
    pub account: Option<Account>,
    /// Why the change was refused, if it was.
    pub user_errors: Vec<UserError>,
}

/// Input of `createCollectiveInvoice`.
#[derive(InputObject)]
pub struct CreateCollectiveInvoiceInput {
    /// The main account billed.
    pub main_account_id: ID,
    /// First day of the period (open invoices issued on or after it are consolidated).
    pub period_start: Date,
    /// Last day of the period (open invoices issued on or before it, UTC).
    pub period_end: Date,
}

/// Result of `createCollectiveInvoice`.
#[derive(SimpleObject)]
pub struct CreateCollectiveInvoicePayload {
    /// The collective invoices made, one per currency, by currency code.
    pub collective_invoices: Vec<CollectiveInvoice>,
    /// The first of them (the only one when all invoices share a currency).
    pub collective_invoice: Option<CollectiveInvoice>,
    /// Why nothing was consolidated, if it was refused.
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct InvoiceMutation;

#[Object]
impl InvoiceMutation {
    /// Staff: issues an invoice to an account. The total is the sum of the lines; the
    /// account's users with e-bill notifications on are mailed.
    async fn admin_issue_invoice(&self, ctx: &Context<'_>, input: AdminIssueInvoiceInput) -> Result<InvoicePayload> {
        let outcome = async {
            let viewer = ctx.viewer()?;
            crate::domain::accounts::require_staff(&viewer)?;
            let request = IssueRequest {
                account_id: ids::decode_input(&input.account_id, NodeType::Account, "accountId")?,
                currency: input.currency,
                due_at: input.due_at.0,
                lines: input
                    .lines
                    .into_iter()
                    .map(|l| NewLine { description: l.description, quantity: l.quantity, unit_cents: l.unit_cents.0 })
                    .collect(),
            };
            billing::issue_invoice(ctx.db()?, &viewer, request).await
        }
        .await;
        if let Ok((_, event)) = &outcome {
            ctx.state()?.events.publish(ctx.db()?, event.clone()).await;
        }
        into_payload(outcome.map(|(invoice, _)| Invoice(invoice)), |invoice, user_errors| InvoicePayload {
            invoice,
            user_errors,
        })
    }

    /// Sets how an account is billed: COLLECTIVE (secondaries only) consolidates its
    /// open invoices into its main's collective invoices. Needs MANAGE_ACCOUNTS.
    async fn set_billing_mode(&self, ctx: &Context<'_>, input: SetBillingModeInput) -> Result<SetBillingModePayload> {
        let outcome = async {
            let viewer = ctx.viewer()?;
            let account_id = ids::decode_input(&input.account_id, NodeType::Account, "accountId")?;
            billing::set_billing_mode(ctx.db()?, &viewer, account_id, input.mode).await
        }
        .await;
        into_payload(outcome.map(Account), |account, user_errors| SetBillingModePayload { account, user_errors })
    }

    /// Consolidates the open invoices issued in a period, of a main account and of its
    /// COLLECTIVE secondaries, into one collective invoice per currency. Needs
    /// MANAGE_ACCOUNTS on the family.
    async fn create_collective_invoice(
        &self,
        ctx: &Context<'_>,
        input: CreateCollectiveInvoiceInput,
    ) -> Result<CreateCollectiveInvoicePayload> {
        let outcome = async {
            let viewer = ctx.viewer()?;
            let request = ConsolidateRequest {
                main_account_id: ids::decode_input(&input.main_account_id, NodeType::Account, "mainAccountId")?,
                period_start: input.period_start.0,
                period_end: input.period_end.0,
            };
            collective::create_collective_invoices(ctx.db()?, &viewer, request).await
        }
        .await;
        into_payload(outcome, |created, user_errors| {
            let collective_invoices: Vec<CollectiveInvoice> =
                created.unwrap_or_default().into_iter().map(CollectiveInvoice).collect();
            let collective_invoice = collective_invoices.first().map(|c| CollectiveInvoice(c.0.clone()));
            CreateCollectiveInvoicePayload { collective_invoices, collective_invoice, user_errors }
        })
    }

    /// Staff: voids an open invoice (not one in a collective invoice); nothing is owed.
    async fn admin_void_invoice(&self, ctx: &Context<'_>, input: AdminVoidInvoiceInput) -> Result<InvoicePayload> {
        let outcome = async {
            let viewer = ctx.viewer()?;
            crate::domain::accounts::require_staff(&viewer)?;
            let invoice_id = ids::decode_input(&input.invoice_id, NodeType::Invoice, "invoiceId")?;
            billing::void_invoice(ctx.db()?, &viewer, invoice_id).await
        }
        .await;
        into_payload(outcome.map(Invoice), |invoice, user_errors| InvoicePayload { invoice, user_errors })
    }
}
