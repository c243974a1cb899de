//! The id of the request being served, for logs and the text of INTERNAL errors. It lives
//! in the base layer so that `error` can name it without reaching up into `http`, which
//! sets it for each request.

use std::sync::atomic::{AtomicU64, Ordering};

tokio::task_local! {
    pub static REQUEST_ID: String;
}

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

/// The id of the request being served, or `-` outside one.
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(|id| id.clone()).unwrap_or_else(|_| "-".to_owned())
}

/// A new id: the process id and a counter, unique across replicas' logs in practice.
pub fn new_request_id() -> String {
    format!("{:x}-{:x}", std::process::id(), NEXT_REQUEST.fetch_add(1, Ordering::Relaxed))
}
