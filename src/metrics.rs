//! Process-wide counters, exported at `/metrics` in Prometheus' text format.

use std::sync::atomic::{AtomicU64, Ordering};

static LOCKOUTS: AtomicU64 = AtomicU64::new(0);
static GRAPHQL_REQUESTS: AtomicU64 = AtomicU64::new(0);
static GRAPHQL_ERRORS: AtomicU64 = AtomicU64::new(0);

pub fn count_lockout() {
    LOCKOUTS.fetch_add(1, Ordering::Relaxed);
}

pub fn count_request(had_errors: bool) {
    GRAPHQL_REQUESTS.fetch_add(1, Ordering::Relaxed);
    if had_errors {
        GRAPHQL_ERRORS.fetch_add(1, Ordering::Relaxed);
    }
}

pub fn render() -> String {
    format!(
        "# TYPE canopy_graphql_requests_total counter\ncanopy_graphql_requests_total {}\n\
         # TYPE canopy_graphql_requests_with_errors_total counter\ncanopy_graphql_requests_with_errors_total {}\n\
         # TYPE canopy_proof_lockouts_total counter\ncanopy_proof_lockouts_total {}\n",
        GRAPHQL_REQUESTS.load(Ordering::Relaxed),
        GRAPHQL_ERRORS.load(Ordering::Relaxed),
        LOCKOUTS.load(Ordering::Relaxed),
    )
}
