//! Signed download links, as `Invoice.pdfUrl` and `csvUrl` hand them out: the document's
//! path and an expiry, signed under the server secret, so a browser can open the link
//! without the bearer token. `http::downloads` checks them with the same material.

use crate::config::Secret;
use crate::crypto;
use crate::documents::Format;
use crate::graphql::ids::{self, NodeType};

/// How long a signed download link works.
pub const LINK_SECONDS: i64 = 10 * 60;

pub fn collection(node_type: NodeType) -> &'static str {
    match node_type {
        NodeType::CollectiveInvoice => "collective-invoices",
        _ => "invoices",
    }
}

/// A signed link to a document, valid for ten minutes from `now`. `shows_token`: the PDF
/// prints the account's enrollment token (only for a viewer who may manage the account);
/// it is part of what is signed, so a link cannot be edited to show it.
pub fn signed_path(
    secret: &Secret,
    node_type: NodeType,
    id: i64,
    format: Format,
    now: i64,
    shows_token: bool,
) -> String {
    let path = format!("/{}/{}.{}", collection(node_type), ids::encode(node_type, id).0, format.extension());
    let expires = now + LINK_SECONDS;
    let signature = crypto::download_signature(secret, &signed_material(&path, shows_token), expires);
    let token = if shows_token { "&token=shown" } else { "" };
    format!("{path}?expires={expires}{token}&signature={signature}")
}

pub fn signed_material(path: &str, shows_token: bool) -> String {
    if shows_token { format!("{path}#enrollment-token") } else { path.to_owned() }
}
