//! Invoice downloads: `GET /invoices/{id}.pdf|.csv` and
//! `GET /collective-invoices/{id}.pdf|.csv`, where `{id}` is the global id.
//!
//! Authorised either by `Authorization: Bearer <token>` (the viewer needs VIEW_INVOICES
//! on the invoice's account, or on the main account of a collective invoice), or by a
//! short-lived signed link (`?expires=<unix seconds>&signature=<hex HMAC-SHA256 of
//! path and expiry under the server secret>`), as `Invoice.pdfUrl` hands out: a browser
//! can open it without the token. A missing, hidden or malformed id answers 404 alike.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::HttpState;
use super::auth::{bearer_token, viewer_for_token};
use crate::crypto;
use crate::documents::Format;
use crate::error::AppError;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::links::{LINK_SECONDS, collection, signed_material};
use crate::read::documents::{self, DocumentReader};

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/invoices/{file}", get(|s, p, q, h| download(NodeType::Invoice, s, p, q, h)))
        .route("/collective-invoices/{file}", get(|s, p, q, h| download(NodeType::CollectiveInvoice, s, p, q, h)))
}

#[derive(Deserialize)]
struct LinkParams {
    expires: Option<i64>,
    token: Option<String>,
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
    let reader = match (link.expires, link.signature.as_deref()) {
        (Some(expires), Some(signature)) => {
            let shows_token = link.token.as_deref() == Some("shown");
            let path = signed_material(&format!("/{}/{file}", collection(node_type)), shows_token);
            let now = chrono::Utc::now().timestamp();
            let fresh = expires >= now && expires <= now + LINK_SECONDS + 60;
            if !fresh || !crypto::download_signature_matches(&state.settings.secret, &path, expires, signature) {
                return plain(StatusCode::FORBIDDEN, "this download link is invalid or has expired");
            }
            DocumentReader::Link { shows_token }
        }
        _ => match viewer_for_token(state, bearer_token(&headers)).await {
            Ok(Some((viewer, _))) => DocumentReader::Viewer(viewer),
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
        NodeType::CollectiveInvoice => {
            documents::collective(&state.db, &state.settings.secret, &reader, id, format).await
        }
        _ => documents::invoice(&state.db, &state.settings.secret, &reader, id, format).await,
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
