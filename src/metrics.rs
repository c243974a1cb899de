//! Process-wide counters, exported at `/metrics` in Prometheus' text format.

use std::collections::HashMap;

use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

static LOCKOUTS: AtomicU64 = AtomicU64::new(0);
static HASHING_REFUSED: AtomicU64 = AtomicU64::new(0);
static GRAPHQL_REQUESTS: AtomicU64 = AtomicU64::new(0);
static GRAPHQL_ERRORS: AtomicU64 = AtomicU64::new(0);
/// Pages of `viewer.accounts` answered from the prefetched rows, and those that needed
/// the general resolvers (a selection the fast walk does not know).
static ACCOUNT_TREES_PREFETCHED: AtomicU64 = AtomicU64::new(0);
static ACCOUNT_TREES_GENERAL: AtomicU64 = AtomicU64::new(0);

pub fn count_lockout() {
    LOCKOUTS.fetch_add(1, Ordering::Relaxed);
}

/// A password check refused because the hashing queue was full.
pub fn count_hashing_refused() {
    HASHING_REFUSED.fetch_add(1, Ordering::Relaxed);
}

pub fn count_request(had_errors: bool) {
    GRAPHQL_REQUESTS.fetch_add(1, Ordering::Relaxed);
    if had_errors {
        GRAPHQL_ERRORS.fetch_add(1, Ordering::Relaxed);
    }
}

pub fn count_account_tree(prefetched: bool) {
    let counter = if prefetched { &ACCOUNT_TREES_PREFETCHED } else { &ACCOUNT_TREES_GENERAL };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Upper bounds (seconds) of the request latency histogram.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    total: u64,
    sum_seconds: f64,
}

/// Requests by (operation, HTTP status) and the latency histogram.
static BY_OPERATION: Mutex<Option<HashMap<(String, u16), u64>>> = Mutex::new(None);
static LATENCY: Mutex<Option<Histogram>> = Mutex::new(None);
/// Distinct operation names tracked before the rest count as "other" (bounds memory).
const MAX_OPERATIONS: usize = 200;

pub fn observe_request(operation: &str, status: u16, elapsed: std::time::Duration) {
    if let Ok(mut map) = BY_OPERATION.lock() {
        let map = map.get_or_insert_with(HashMap::new);
        let name = if operation.is_empty() { "anonymous" } else { operation };
        let sane = name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let key_name = if sane && (map.len() < MAX_OPERATIONS || map.contains_key(&(name.to_owned(), status))) {
            name.to_owned()
        } else {
            "other".to_owned()
        };
        *map.entry((key_name, status)).or_insert(0) += 1;
    }
    if let Ok(mut histogram) = LATENCY.lock() {
        let histogram = histogram.get_or_insert_with(Histogram::default);
        let seconds = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                histogram.counts[i] += 1;
            }
        }
        histogram.total += 1;
        histogram.sum_seconds += seconds;
    }
}

pub fn render() -> String {
    let mut out = render_counters();
    out.push_str("# TYPE canopy_http_graphql_requests_total counter\n");
    if let Ok(map) = BY_OPERATION.lock()
        && let Some(map) = map.as_ref()
    {
        let mut rows: Vec<_> = map.iter().collect();
        rows.sort();
        for ((operation, status), count) in rows {
            let outcome = if *status < 400 { "ok" } else { "error" };
            let _ = writeln!(
                out,
                "canopy_http_graphql_requests_total{{operation=\"{operation}\",status=\"{status}\",outcome=\"{outcome}\"}} {count}"
            );
        }
    }
    out.push_str("# TYPE canopy_http_request_duration_seconds histogram\n");
    if let Ok(histogram) = LATENCY.lock()
        && let Some(h) = histogram.as_ref()
    {
        for (i, bound) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "canopy_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {}", h.counts[i]);
        }
        let _ = writeln!(out, "canopy_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {}", h.total);
        let _ = writeln!(out, "canopy_http_request_duration_seconds_sum {}", h.sum_seconds);
        let _ = writeln!(out, "canopy_http_request_duration_seconds_count {}", h.total);
    }
    out
}

fn render_counters() -> String {
    format!(
        "# TYPE canopy_graphql_requests_total counter\ncanopy_graphql_requests_total {}\n\
         # TYPE canopy_graphql_requests_with_errors_total counter\ncanopy_graphql_requests_with_errors_total {}\n\
         # TYPE canopy_proof_lockouts_total counter\ncanopy_proof_lockouts_total {}\n\
         # TYPE canopy_hashing_refused_total counter\ncanopy_hashing_refused_total {}\n\
         # TYPE canopy_account_tree_pages_total counter\n\
         canopy_account_tree_pages_total{{path=\"prefetched\"}} {}\n\
         canopy_account_tree_pages_total{{path=\"general\"}} {}\n",
        GRAPHQL_REQUESTS.load(Ordering::Relaxed),
        GRAPHQL_ERRORS.load(Ordering::Relaxed),
        LOCKOUTS.load(Ordering::Relaxed),
        HASHING_REFUSED.load(Ordering::Relaxed),
        ACCOUNT_TREES_PREFETCHED.load(Ordering::Relaxed),
        ACCOUNT_TREES_GENERAL.load(Ordering::Relaxed),
    )
}

/// Gauges read from the database at scrape time: the pool and the outbox backlog.
pub async fn render_database(db: &sea_orm::DatabaseConnection) -> String {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let mut out = String::new();
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        let pool = db.get_postgres_connection_pool();
        let _ = writeln!(out, "# TYPE canopy_db_pool_connections gauge\ncanopy_db_pool_connections {}", pool.size());
        let _ = writeln!(out, "# TYPE canopy_db_pool_idle gauge\ncanopy_db_pool_idle {}", pool.num_idle());
    }
    let backlog = crate::entity::outbox::Entity::find()
        .filter(crate::entity::outbox::Column::Status.eq(crate::entity::enums::OutboxStatus::Pending))
        .count(db)
        .await;
    if let Ok(backlog) = backlog {
        let _ = writeln!(out, "# TYPE canopy_outbox_backlog gauge\ncanopy_outbox_backlog {backlog}");
    }
    out
}
