//! A page of an account's invoices as the `InvoicesPage` loader holds it.
//!
//! The tree query reads about 3,000 invoices. As models, each cost a `String` for its
//! number and one for its currency, and those allocations (cold memory under load) were
//! the costliest part of decoding them. A page keeps its rows' text in one buffer
//! instead, and knows whether more rows follow without keeping the row that told it.

use chrono::NaiveDate;
use sea_orm::prelude::DateTimeUtc;

use crate::entity::enums::InvoiceStatus;
use crate::entity::invoice;

/// Where a text column sits in its page's buffer.
#[derive(Debug, Clone, Copy)]
pub struct TextAt {
    start: u32,
    end: u32,
}

/// One invoice of a page; its text is read through the page.
#[derive(Debug, Clone)]
pub struct InvoiceRow {
    pub id: i64,
    pub number: TextAt,
    pub account_id: i64,
    pub status: InvoiceStatus,
    pub currency: TextAt,
    pub total_cents: i64,
    pub issued_at: DateTimeUtc,
    pub due_at: NaiveDate,
    pub collective_invoice_id: Option<i64>,
    pub paid_at: Option<DateTimeUtc>,
}

/// An account's invoices, newest first, and whether more follow.
#[derive(Debug, Clone, Default)]
pub struct InvoicePage {
    rows: Vec<InvoiceRow>,
    text: String,
    has_more: bool,
}

/// What a page shows of one invoice, borrowed from a page row or from a model.
pub struct InvoiceFields<'a> {
    pub id: i64,
    pub number: &'a str,
    pub status: InvoiceStatus,
    pub currency: &'a str,
    pub total_cents: i64,
    pub issued_at: DateTimeUtc,
    pub due_at: NaiveDate,
}

impl<'a> From<&'a invoice::Model> for InvoiceFields<'a> {
    fn from(invoice: &'a invoice::Model) -> Self {
        InvoiceFields {
            id: invoice.id,
            number: &invoice.number,
            status: invoice.status,
            currency: &invoice.currency,
            total_cents: invoice.total_cents,
            issued_at: invoice.issued_at,
            due_at: invoice.due_at,
        }
    }
}

impl InvoicePage {
    /// An empty page with room for `rows` invoices.
    pub fn with_capacity(rows: usize) -> Self {
        // Numbers and currencies take about 16 bytes per invoice.
        InvoicePage { rows: Vec::with_capacity(rows), text: String::with_capacity(rows * 16), has_more: false }
    }

    /// Appends `text` to the page's buffer.
    pub fn push_text(&mut self, text: &str) -> TextAt {
        let start = self.text.len() as u32;
        self.text.push_str(text);
        TextAt { start, end: self.text.len() as u32 }
    }

    /// Appends a row whose text was pushed with `push_text`.
    pub fn push(&mut self, row: InvoiceRow) {
        self.rows.push(row);
    }

    /// Appends a model.
    pub fn push_model(&mut self, invoice: invoice::Model) {
        let number = self.push_text(&invoice.number);
        let currency = self.push_text(&invoice.currency);
        self.push(InvoiceRow {
            id: invoice.id,
            number,
            account_id: invoice.account_id,
            status: invoice.status,
            currency,
            total_cents: invoice.total_cents,
            issued_at: invoice.issued_at,
            due_at: invoice.due_at,
            collective_invoice_id: invoice.collective_invoice_id,
            paid_at: invoice.paid_at,
        });
    }

    /// Notes that more rows follow than the page holds, without keeping the row that
    /// told (see `latest_invoices_lateral`).
    pub fn mark_more(&mut self) {
        self.has_more = true;
    }

    /// Orders the rows newest first and keeps the first `first`, noting whether more
    /// followed (the loader reads `first + 1` rows to know).
    pub fn keep_first(&mut self, first: u64) {
        self.rows.sort_unstable_by_key(|row| std::cmp::Reverse(row.id));
        self.has_more |= self.rows.len() as u64 > first;
        self.rows.truncate(first as usize);
    }

    pub fn rows(&self) -> &[InvoiceRow] {
        &self.rows
    }

    pub fn has_more(&self) -> bool {
        self.has_more
    }

    fn text(&self, at: TextAt) -> &str {
        self.text.get(at.start as usize..at.end as usize).unwrap_or_default()
    }

    pub fn fields(&self, row: &InvoiceRow) -> InvoiceFields<'_> {
        InvoiceFields {
            id: row.id,
            number: self.text(row.number),
            status: row.status,
            currency: self.text(row.currency),
            total_cents: row.total_cents,
            issued_at: row.issued_at,
            due_at: row.due_at,
        }
    }

    /// The rows as models, for the general resolvers.
    pub fn models(&self) -> impl Iterator<Item = invoice::Model> + '_ {
        self.rows.iter().map(|row| invoice::Model {
            id: row.id,
            number: self.text(row.number).to_owned(),
            account_id: row.account_id,
            status: row.status,
            currency: self.text(row.currency).to_owned(),
            total_cents: row.total_cents,
            issued_at: row.issued_at,
            due_at: row.due_at,
            collective_invoice_id: row.collective_invoice_id,
            paid_at: row.paid_at,
        })
    }
}
