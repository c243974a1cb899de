//! Trusted documents (persisted operations): the operations a deployment's clients were
//! built with, registered at start from the JSON manifest GraphQL codegen's client preset
//! and Relay emit (`{"sha256:<hex>": "<document>", ...}`; keys without the `sha256:`
//! prefix are read the same way).
//!
//! A request names one by `documentId` (GraphQL-over-HTTP persisted documents) or by
//! Apollo's `extensions.persistedQuery.sha256Hash`; an unknown id answers
//! `PERSISTED_QUERY_NOT_FOUND`. With `--only-trusted-documents`, any other document is
//! refused (`FORBIDDEN`) unless the viewer is staff: a production SPA's API then runs
//! exactly the operations its build shipped, and nothing an attacker writes.

use std::collections::HashMap;
use std::path::Path;

use sha2::{Digest, Sha256};

/// The manifest, by lowercase hex SHA-256 of each document.
#[derive(Debug, Clone, Default)]
pub struct TrustedDocuments {
    by_hash: HashMap<String, String>,
    /// Refuse every other document from non-staff.
    pub only: bool,
}

/// The lowercase hex SHA-256 of a document's text.
pub fn document_hash(text: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(text.as_bytes()))
}

/// `sha256:<hex>` or `<hex>` as a lowercase hex digest, if it is one.
fn normalise_id(id: &str) -> Option<String> {
    let hex = id.strip_prefix("sha256:").unwrap_or(id).to_ascii_lowercase();
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

impl TrustedDocuments {
    /// Reads a manifest; every key must be the SHA-256 of its document (a manifest that
    /// does not hash right is refused at start rather than trusted).
    pub fn from_json(text: &str, only: bool) -> Result<Self, String> {
        let manifest: HashMap<String, String> = serde_json::from_str(text)
            .map_err(|e| format!("the trusted documents are not a JSON object of strings: {e}"))?;
        let mut by_hash = HashMap::with_capacity(manifest.len());
        for (id, document) in manifest {
            let hash = normalise_id(&id).ok_or_else(|| format!("`{id}` is not a sha256 document id"))?;
            if document_hash(&document) != hash {
                return Err(format!("the document under `{id}` does not hash to its id"));
            }
            by_hash.insert(hash, document);
        }
        Ok(Self { by_hash, only })
    }

    pub fn from_file(path: &Path, only: bool) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::from_json(&text, only)
    }

    /// The document with this id (`sha256:<hex>` or `<hex>`).
    pub fn get(&self, id: &str) -> Option<&str> {
        self.by_hash.get(&normalise_id(id)?).map(String::as_str)
    }

    /// True when `text` is one of the documents (sent in full, as Apollo clients do
    /// after a miss, or by a client that does not send ids).
    pub fn contains_text(&self, text: &str) -> bool {
        self.by_hash.contains_key(&document_hash(text))
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

/// The document id a request names: `documentId`, or Apollo's persisted query hash.
pub fn named_id(document_id: Option<&serde_json::Value>, extensions: Option<&serde_json::Value>) -> Option<String> {
    document_id
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .or_else(|| extensions?.get("persistedQuery")?.get("sha256Hash")?.as_str().map(str::to_owned))
}
