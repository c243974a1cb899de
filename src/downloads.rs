//! Invoice downloads: `GET /invoices/{id}.pdf|.csv` and
//! `GET /collective-invoices/{id}.pdf|.csv`, where `{id}` is the global id.
//!
//! Authorised either by `Authorization: Bearer <token>` (the viewer needs VIEW_INVOICES
//! on the invoice's account, or on the main account of a collective invoice), or by a
//! short-lived signed link (`?expires=<unix seconds>&signature=<hex HMAC-SHA256 of
//! path and expiry under the server secret>`), as `Invoice.pdfUrl` hands out: a browser
//! can open it without the token. A missing, hidden or malformed id answers 404 alike.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;

use crate::config::Secret;
use crate::crypto;
use crate::documents::{self, CollectiveDocument, InvoiceDocument};
use crate::domain::access::{Permission, Viewer};
use crate::entity::{account, collective_invoice, invoice, invoice_line};
use crate::error::{AppError, AppResult};
use crate::graphql::context::AppState;
use crate::graphql::ids::{self, NodeType};
use crate::http::{HttpState, bearer_token, viewer_for_token};

/// How long a signed download link works.
pub const LINK_SECONDS: i64 = 10 * 60;

/// Which document of which object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pdf,
    Csv,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Csv => "csv",
        }
    }
}

fn collection(node_type: NodeType) -> &'static str {
    match node_type {
        NodeType::CollectiveInvoice => "collective-invoices",
        _ => "invoices",
    }
}

/// A signed link to a document, valid for ten minutes from `now`.
pub fn signed_path(secret: &Secret, node_type: NodeType, id: i64, format: Format, now: i64) -> String {
    let path = format!("/{}/{}.{}", collection(node_type), ids::encode(node_type, id).0, format.extension());
    let expires = now + LINK_SECONDS;
    let signature = crypto::download_signature(secret, &path, expires);
    format!("{path}?expires={expires}&signature={signature}")
}

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/invoices/{file}", get(|s, p, q, h| download(NodeType::Invoice, s, p, q, h)))
        .route("/collective-invoices/{file}", get(|s, p, q, h| download(NodeType::CollectiveInvoice, s, p, q, h)))
}

#[derive(Deserialize)]
struct LinkParams {
    expires: Option<i64>,
    signature: Option<String>,
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], text).into_response()
}

fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "not found")
}

async fn download(
    node_type: NodeType,
    State(state): State<HttpState>,
    Path(file): Path<String>,
    Query(link): Query<LinkParams>,
    headers: HeaderMap,
) -> Response {
    let state = &state.app;
    let parsed = file.rsplit_once('.').and_then(|(id, extension)| {
        let format = match extension {
            "pdf" => Format::Pdf,
            "csv" => Format::Csv,
            _ => return None,
        };
        ids::decode_as(&async_graphql::ID(id.to_owned()), node_type).map(|n| (n, format))
    });
    // Who may read: a valid signed link, or a signed-in viewer checked against the object.
    let viewer = match (link.expires, link.signature.as_deref()) {
        (Some(expires), Some(signature)) => {
            let path = format!("/{}/{file}", collection(node_type));
            let now = chrono::Utc::now().timestamp();
            let fresh = expires >= now && expires <= now + LINK_SECONDS + 60;
            if !fresh || !crypto::download_signature_matches(&state.settings.secret, &path, expires, signature) {
                return plain(StatusCode::FORBIDDEN, "this download link is invalid or has expired");
            }
            None
        }
        _ => match viewer_for_token(state, bearer_token(&headers)).await {
            Ok(Some((viewer, _))) => Some(viewer),
            Ok(None) | Err(AppError::Unauthenticated) => {
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer"), (header::CACHE_CONTROL, "no-store")],
                    "sign in, or use a signed download link",
                )
                    .into_response();
            }
            Err(err) => return internal(err),
        },
    };
    let Some((id, format)) = parsed else { return not_found() };
    let rendered = match node_type {
        NodeType::CollectiveInvoice => collective_document(state, viewer.as_ref(), id, format).await,
        _ => invoice_document(state, viewer.as_ref(), id, format).await,
    };
    match rendered {
        Ok(Some((name, body))) => document_response(&name, format, body),
        Ok(None) => not_found(),
        Err(err) => internal(err),
    }
}

fn internal(err: AppError) -> Response {
    if let AppError::Internal(detail) = &err {
        tracing::error!(%detail, "download failed");
    }
    plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

fn document_response(name: &str, format: Format, body: Vec<u8>) -> Response {
    let content_type = match format {
        Format::Pdf => "application/pdf",
        Format::Csv => "text/csv; charset=utf-8",
    };
    // Numbers are digits, dashes and letters; anything else is dropped from the name.
    let safe: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    let disposition = format!("attachment; filename=\"{safe}.{}\"", format.extension());
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

fn may_view(viewer: Option<&Viewer>, account: &account::Model) -> bool {
    // No viewer means a verified signed link.
    viewer.is_none_or(|v| v.rights_on(account).has(Permission::ViewInvoices))
}

async fn invoice_document(
    state: &AppState,
    viewer: Option<&Viewer>,
    id: i64,
    format: Format,
) -> AppResult<Option<(String, Vec<u8>)>> {
    let db = &state.db;
    let Some(found) = invoice::Entity::find_by_id(id).one(db).await? else { return Ok(None) };
    let Some(account) = account::Entity::find_by_id(found.account_id).one(db).await? else { return Ok(None) };
    if !may_view(viewer, &account) {
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
    let token = crypto::enrollment_token(&state.settings.secret, account.id, account.token_version);
    let doc = InvoiceDocument {
        invoice: &found,
        lines: &lines,
        account: &account,
        enrollment_token: &token,
        collective_number: collective_number.as_deref(),
    };
    let body = match format {
        Format::Pdf => documents::invoice_pdf(&doc),
        Format::Csv => documents::invoice_csv(&doc).into_bytes(),
    };
    Ok(Some((found.number.clone(), body)))
}

async fn collective_document(
    state: &AppState,
    viewer: Option<&Viewer>,
    id: i64,
    format: Format,
) -> AppResult<Option<(String, Vec<u8>)>> {
    let db = &state.db;
    let Some(found) = collective_invoice::Entity::find_by_id(id).one(db).await? else { return Ok(None) };
    let Some(main) = account::Entity::find_by_id(found.main_account_id).one(db).await? else { return Ok(None) };
    if !may_view(viewer, &main) {
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
    let token = crypto::enrollment_token(&state.settings.secret, main.id, main.token_version);
    let doc = CollectiveDocument {
        collective: &found,
        main: &main,
        members: &members,
        accounts: &accounts,
        enrollment_token: &token,
    };
    let body = match format {
        Format::Pdf => documents::collective_pdf(&doc),
        Format::Csv => documents::collective_csv(&doc).into_bytes(),
    };
    Ok(Some((found.number.clone(), body)))
}
