//! Invoice documents: the PDF a customer prints (with the account's enrollment token, as
//! DOMAIN.md asks) and the CSV a spreadsheet reads. Pure functions of the rows they show.

pub mod csv;
mod fonts;
pub mod pdf;

use std::collections::HashMap;

use crate::domain::billing::format_amount;
use crate::entity::{account, collective_invoice, invoice, invoice_line};
use crate::error::AppResult;
use pdf::{Cell, Document, MARGIN, PAGE_WIDTH};

const RIGHT: f32 = PAGE_WIDTH - MARGIN;
const BODY: f32 = 10.0;

fn date(d: chrono::NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn day(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// Which document of which object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pdf,
    Csv,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Csv => "csv",
        }
    }
}

/// Everything an invoice document shows.
pub struct InvoiceDocument<'a> {
    pub invoice: &'a invoice::Model,
    pub lines: &'a [invoice_line::Model],
    pub account: &'a account::Model,
    /// The account's current enrollment token.
    pub enrollment_token: &'a str,
    /// The collective invoice it is consolidated into, if any.
    pub collective_number: Option<&'a str>,
}

fn account_block(doc: &mut Document, account: &account::Model) {
    doc.row(BODY, &[Cell::left(MARGIN, "Account holder:"), Cell::left(MARGIN + 110.0, &account.holder_name)]);
    doc.row(BODY, &[Cell::left(MARGIN, "Customer number:"), Cell::left(MARGIN + 110.0, &account.customer_number)]);
    if let Some(name) = &account.friendly_name {
        doc.row(BODY, &[Cell::left(MARGIN, "Account:"), Cell::left(MARGIN + 110.0, name)]);
    }
}

fn token_block(doc: &mut Document, token: &str) {
    doc.gap(24.0);
    doc.row(BODY, &[Cell::left(MARGIN, "Enrollment token:").bold(), Cell::left(MARGIN + 110.0, token).bold()]);
    doc.row(
        8.0,
        &[Cell::left(
            MARGIN,
            "Manage this account online: enroll or link it in the customer portal with its customer number and this token.",
        )],
    );
}

pub fn invoice_pdf(d: &InvoiceDocument<'_>) -> AppResult<Vec<u8>> {
    let inv = d.invoice;
    let mut doc = Document::new(&format!("Invoice {}", inv.number))?;
    doc.heading(&format!("Invoice {}", inv.number), 18.0);
    account_block(&mut doc, d.account);
    let status = format!("{:?}", inv.status).to_uppercase();
    doc.row(BODY, &[Cell::left(MARGIN, "Issued:"), Cell::left(MARGIN + 110.0, &day(inv.issued_at))]);
    doc.row(BODY, &[Cell::left(MARGIN, "Due:"), Cell::left(MARGIN + 110.0, &date(inv.due_at))]);
    doc.row(BODY, &[Cell::left(MARGIN, "Status:"), Cell::left(MARGIN + 110.0, &status)]);
    if let Some(number) = d.collective_number {
        doc.row(
            BODY,
            &[Cell::left(MARGIN, &format!("Part of collective invoice {number}: it is paid with that invoice."))],
        );
    }
    doc.gap(12.0);
    let (qty_x, unit_x) = (RIGHT - 180.0, RIGHT - 90.0);
    doc.row(
        BODY,
        &[
            Cell::left(MARGIN, "Description").bold(),
            Cell::right(qty_x, "Qty").bold(),
            Cell::right(unit_x, &format!("Unit ({})", inv.currency)).bold(),
            Cell::right(RIGHT, &format!("Amount ({})", inv.currency)).bold(),
        ],
    );
    let description_width = qty_x - 40.0 - MARGIN;
    for line in d.lines {
        let wrapped = doc.wrap(&line.description, description_width, BODY);
        let (qty, unit, amount) = (
            line.quantity.to_string(),
            format_amount(line.unit_cents, &inv.currency),
            format_amount(line.amount_cents, &inv.currency),
        );
        for (i, text) in wrapped.iter().enumerate() {
            if i == 0 {
                doc.row(
                    BODY,
                    &[
                        Cell::left(MARGIN, text),
                        Cell::right(qty_x, &qty),
                        Cell::right(unit_x, &unit),
                        Cell::right(RIGHT, &amount),
                    ],
                );
            } else {
                doc.row(BODY, &[Cell::left(MARGIN, text)]);
            }
        }
    }
    doc.gap(6.0);
    doc.row(
        11.0,
        &[
            Cell::left(MARGIN, &format!("Total {}", inv.currency)).bold(),
            Cell::right(RIGHT, &format_amount(inv.total_cents, &inv.currency)).bold(),
        ],
    );
    token_block(&mut doc, d.enrollment_token);
    doc.render()
}

pub fn invoice_csv(d: &InvoiceDocument<'_>) -> String {
    let inv = d.invoice;
    let mut out = String::new();
    csv::record(
        &mut out,
        &[
            "invoice_number",
            "customer_number",
            "issued_at",
            "due_at",
            "currency",
            "line",
            "description",
            "quantity",
            "unit_cents",
            "amount_cents",
        ],
    );
    let head = [
        inv.number.clone(),
        d.account.customer_number.clone(),
        day(inv.issued_at),
        date(inv.due_at),
        inv.currency.clone(),
    ];
    for line in d.lines {
        let mut fields = head.to_vec();
        fields.extend([
            (line.position + 1).to_string(),
            line.description.clone(),
            line.quantity.to_string(),
            line.unit_cents.to_string(),
            line.amount_cents.to_string(),
        ]);
        csv::record(&mut out, &fields);
    }
    let mut total = head.to_vec();
    total.extend(["TOTAL".to_owned(), String::new(), String::new(), String::new(), inv.total_cents.to_string()]);
    csv::record(&mut out, &total);
    out
}

/// Everything a collective invoice document shows.
pub struct CollectiveDocument<'a> {
    pub collective: &'a collective_invoice::Model,
    pub main: &'a account::Model,
    /// The member invoices, by id.
    pub members: &'a [invoice::Model],
    /// The accounts of the members.
    pub accounts: &'a HashMap<i64, account::Model>,
    /// The main account's current enrollment token.
    pub enrollment_token: &'a str,
}

pub fn collective_pdf(d: &CollectiveDocument<'_>) -> AppResult<Vec<u8>> {
    let c = d.collective;
    let mut doc = Document::new(&format!("Collective invoice {}", c.number))?;
    doc.heading(&format!("Collective invoice {}", c.number), 18.0);
    account_block(&mut doc, d.main);
    let period = format!("{} to {}", date(c.period_start), date(c.period_end));
    let status = format!("{:?}", c.status).to_uppercase();
    doc.row(BODY, &[Cell::left(MARGIN, "Period:"), Cell::left(MARGIN + 110.0, &period)]);
    doc.row(BODY, &[Cell::left(MARGIN, "Created:"), Cell::left(MARGIN + 110.0, &day(c.created_at))]);
    doc.row(BODY, &[Cell::left(MARGIN, "Status:"), Cell::left(MARGIN + 110.0, &status)]);
    doc.gap(12.0);
    let (customer_x, due_x) = (MARGIN + 120.0, RIGHT - 150.0);
    doc.row(
        BODY,
        &[
            Cell::left(MARGIN, "Invoice").bold(),
            Cell::left(customer_x, "Customer number").bold(),
            Cell::left(due_x, "Due").bold(),
            Cell::right(RIGHT, &format!("Amount ({})", c.currency)).bold(),
        ],
    );
    for member in d.members {
        let customer = d.accounts.get(&member.account_id).map(|a| a.customer_number.as_str()).unwrap_or("");
        doc.row(
            BODY,
            &[
                Cell::left(MARGIN, &member.number),
                Cell::left(customer_x, customer),
                Cell::left(due_x, &date(member.due_at)),
                Cell::right(RIGHT, &format_amount(member.total_cents, &member.currency)),
            ],
        );
    }
    doc.gap(6.0);
    doc.row(
        11.0,
        &[
            Cell::left(MARGIN, &format!("Total {}", c.currency)).bold(),
            Cell::right(RIGHT, &format_amount(c.total_cents, &c.currency)).bold(),
        ],
    );
    token_block(&mut doc, d.enrollment_token);
    doc.render()
}

pub fn collective_csv(d: &CollectiveDocument<'_>) -> String {
    let c = d.collective;
    let mut out = String::new();
    csv::record(
        &mut out,
        &[
            "collective_invoice_number",
            "main_customer_number",
            "period_start",
            "period_end",
            "currency",
            "invoice_number",
            "customer_number",
            "issued_at",
            "due_at",
            "amount_cents",
        ],
    );
    let head = [
        c.number.clone(),
        d.main.customer_number.clone(),
        date(c.period_start),
        date(c.period_end),
        c.currency.clone(),
    ];
    for member in d.members {
        let mut fields = head.to_vec();
        fields.extend([
            member.number.clone(),
            d.accounts.get(&member.account_id).map(|a| a.customer_number.clone()).unwrap_or_default(),
            day(member.issued_at),
            date(member.due_at),
            member.total_cents.to_string(),
        ]);
        csv::record(&mut out, &fields);
    }
    let mut total = head.to_vec();
    total.extend(["TOTAL".to_owned(), String::new(), String::new(), String::new(), c.total_cents.to_string()]);
    csv::record(&mut out, &total);
    out
}
