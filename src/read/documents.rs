//! The data of invoice documents (PDF, CSV) as a reader may see it, rendered by
//! `crate::documents`. A reader is a signed-in viewer (checked here with the policy) or
//! the holder of a verified signed link, which was only handed to a viewer who passed the
//! same checks when the link was made.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use crate::config::Secret;
use crate::crypto;
use crate::documents::{self, CollectiveDocument, Format, InvoiceDocument};
use crate::domain::access::{Permission, Viewer};
use crate::entity::{account, collective_invoice, invoice, invoice_line};
use crate::error::{AppError, AppResult};

/// What a PDF prints in place of the enrollment token for readers who may not manage the
/// account: the token lets whoever holds it enroll or link the account.
pub const MASKED_TOKEN: &str = "shown only to the account's owner";

/// Who is reading a document: a signed-in viewer, or the holder of a verified signed link
/// (which says whether the enrollment token is printed).
pub enum DocumentReader {
    Viewer(Viewer),
    Link { shows_token: bool },
}

impl DocumentReader {
    fn may_view(&self, account: &account::Model) -> bool {
        match self {
            DocumentReader::Viewer(v) => v.rights_on(account).has(Permission::ViewInvoices),
            DocumentReader::Link { .. } => true,
        }
    }

    fn token(&self, secret: &Secret, account: &account::Model) -> String {
        let shown = match self {
            DocumentReader::Viewer(v) => v.may_manage(account),
            DocumentReader::Link { shows_token } => *shows_token,
        };
        match shown {
            true => crypto::enrollment_token(secret, account.id, account.token_version),
            false => MASKED_TOKEN.to_owned(),
        }
    }
}

pub async fn invoice(
    db: &DatabaseConnection,
    secret: &Secret,
    reader: &DocumentReader,
    id: i64,
    format: Format,
) -> AppResult<Option<(String, Vec<u8>)>> {
    let Some(found) = invoice::Entity::find_by_id(id).one(db).await? else { return Ok(None) };
    let Some(account) = account::Entity::find_by_id(found.account_id).one(db).await? else { return Ok(None) };
    if !reader.may_view(&account) {
        return Ok(None);
    }
    let lines = invoice_line::Entity::find()
        .filter(invoice_line::Column::InvoiceId.eq(found.id))
        .order_by_asc(invoice_line::Column::Position)
        .all(db)
        .await?;
    let collective_number = match found.collective_invoice_id {
        Some(cid) => collective_invoice::Entity::find_by_id(cid).one(db).await?.map(|c| c.number),
        None => None,
    };
    let token = reader.token(secret, &account);
    let number = found.number.clone();
    let body = off_runtime(move || {
        let doc = InvoiceDocument {
            invoice: &found,
            lines: &lines,
            account: &account,
            enrollment_token: &token,
            collective_number: collective_number.as_deref(),
        };
        match format {
            Format::Pdf => documents::invoice_pdf(&doc),
            Format::Csv => Ok(documents::invoice_csv(&doc).into_bytes()),
        }
    })
    .await?;
    Ok(Some((number, body)))
}

pub async fn collective(
    db: &DatabaseConnection,
    secret: &Secret,
    reader: &DocumentReader,
    id: i64,
    format: Format,
) -> AppResult<Option<(String, Vec<u8>)>> {
    let Some(found) = collective_invoice::Entity::find_by_id(id).one(db).await? else { return Ok(None) };
    let Some(main) = account::Entity::find_by_id(found.main_account_id).one(db).await? else { return Ok(None) };
    if !reader.may_view(&main) {
        return Ok(None);
    }
    let members = invoice::Entity::find()
        .filter(invoice::Column::CollectiveInvoiceId.eq(found.id))
        .order_by_asc(invoice::Column::Id)
        .all(db)
        .await?;
    let accounts: HashMap<i64, account::Model> = account::Entity::find()
        .filter(account::Column::Id.is_in(members.iter().map(|m| m.account_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    // The collective document lists every member: only for readers who may view them all.
    if !accounts.values().all(|a| reader.may_view(a)) {
        return Ok(None);
    }
    let token = reader.token(secret, &main);
    let number = found.number.clone();
    let body = off_runtime(move || {
        let doc = CollectiveDocument {
            collective: &found,
            main: &main,
            members: &members,
            accounts: &accounts,
            enrollment_token: &token,
        };
        match format {
            Format::Pdf => documents::collective_pdf(&doc),
            Format::Csv => Ok(documents::collective_csv(&doc).into_bytes()),
        }
    })
    .await?;
    Ok(Some((number, body)))
}

/// Shaping text and subsetting fonts is CPU work of some milliseconds: documents are
/// rendered off the async runtime, like password hashing.
async fn off_runtime(render: impl FnOnce() -> AppResult<Vec<u8>> + Send + 'static) -> AppResult<Vec<u8>> {
    tokio::task::spawn_blocking(render).await.map_err(AppError::internal)?
}
