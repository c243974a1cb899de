//! Process metrics through the `metrics` facade and `metrics-exporter-prometheus`, the
//! usual pair in Rust services: call sites record with the facade's macros, the exporter
//! keeps them (lock-free atomics, histograms with fixed buckets) and renders Prometheus'
//! text at `/metrics`. Names follow Prometheus' conventions: `_total` for counters,
//! `_seconds` for durations, base units throughout.
//!
//! Gauges that describe the database (pool, outbox backlog) and the hashing queue are set
//! when scraped, so they are current without a background task.

use std::sync::OnceLock;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Upper bounds (seconds) of the request latency histograms.
const LATENCY_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
/// Distinct operation names given their own label before the rest count as "other".
const MAX_OPERATIONS: usize = 200;

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static OPERATIONS: std::sync::Mutex<Option<std::collections::HashSet<String>>> = std::sync::Mutex::new(None);

/// Installs the exporter as the process's recorder (once; later calls reuse it). If
/// another recorder was installed first, metrics are not exported and `/metrics` is empty.
pub fn install() -> Option<&'static PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &LATENCY_BUCKETS)
                .ok()?;
            let handle = builder.install_recorder().ok()?;
            describe();
            // Counters a dashboard graphs from zero are there from the start.
            for name in ["canopy_proof_lockouts_total", "canopy_hashing_refused_total", "canopy_graphql_requests_total"]
            {
                counter!(name).absolute(0);
            }
            for path in ["prefetched", "general"] {
                counter!("canopy_account_tree_pages_total", "path" => path).absolute(0);
            }
            for path in ["prewritten", "general"] {
                counter!("canopy_open_items_pages_total", "path" => path).absolute(0);
            }
            gauge!("canopy_websocket_connections").set(0.0);
            Some(handle)
        })
        .as_ref()
}

/// Drains the histograms' recent samples into their buckets every few seconds, so memory
/// stays bounded between scrapes (the exporter's "upkeep").
pub fn spawn_upkeep() {
    if let Some(handle) = install() {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                handle.run_upkeep();
            }
        });
    }
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!("canopy_http_graphql_requests_total", "GraphQL requests by operation, HTTP status and outcome");
    describe_histogram!("canopy_http_request_duration_seconds", "Time to answer a GraphQL request, by operation");
    describe_counter!("canopy_graphql_requests_total", "GraphQL requests executed");
    describe_counter!("canopy_graphql_requests_with_errors_total", "GraphQL requests answered with errors");
    describe_counter!("canopy_proof_lockouts_total", "Proofs refused by a lockout or a target's ceiling");
    describe_counter!("canopy_hashing_refused_total", "Password checks refused because the hashing queue was full");
    describe_gauge!("canopy_hashing_queue_length", "Password checks waiting or running");
    describe_counter!("canopy_account_tree_pages_total", "viewer.accounts pages, by how they were answered");
    describe_counter!("canopy_open_items_pages_total", "openItems pages, by how they were answered");
    describe_gauge!("canopy_websocket_connections", "Open websocket connections");
    describe_gauge!("canopy_db_pool_connections", "PostgreSQL connections in the pool");
    describe_gauge!("canopy_db_pool_idle_connections", "Idle PostgreSQL connections in the pool");
    describe_gauge!("canopy_db_read_pool_connections", "PostgreSQL connections of the hot reads' own pool");
    describe_gauge!("canopy_db_read_pool_idle_connections", "Idle PostgreSQL connections of the hot reads' own pool");
    describe_counter!(
        "canopy_db_read_connections_closed_total",
        "Connections of the hot reads' own pool closed when taken: unfinished (a statement cut off), lifetime"
    );
    describe_gauge!("canopy_outbox_backlog", "Mails waiting in the outbox");
}

pub fn count_lockout() {
    counter!("canopy_proof_lockouts_total").increment(1);
}

pub fn count_request(had_errors: bool) {
    counter!("canopy_graphql_requests_total").increment(1);
    if had_errors {
        counter!("canopy_graphql_requests_with_errors_total").increment(1);
    }
}

pub fn count_account_tree(prefetched: bool) {
    let path = if prefetched { "prefetched" } else { "general" };
    counter!("canopy_account_tree_pages_total", "path" => path).increment(1);
}

pub fn count_open_items_page(prewritten: bool) {
    let path = if prewritten { "prewritten" } else { "general" };
    counter!("canopy_open_items_pages_total", "path" => path).increment(1);
}

/// A websocket opened (`+1`) or closed (`-1`).
pub fn websocket_connections(change: f64) {
    gauge!("canopy_websocket_connections").increment(change);
}

/// The label of an operation name: client-chosen text, so only plain names, and only the
/// first `MAX_OPERATIONS` distinct ones (label sets must stay bounded).
fn operation_label(operation: &str) -> String {
    let name = if operation.is_empty() { "anonymous" } else { operation };
    let sane = name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !sane {
        return "other".to_owned();
    }
    let Ok(mut seen) = OPERATIONS.lock() else { return "other".to_owned() };
    let seen = seen.get_or_insert_with(Default::default);
    if seen.contains(name) || (seen.len() < MAX_OPERATIONS && seen.insert(name.to_owned())) {
        name.to_owned()
    } else {
        "other".to_owned()
    }
}

pub fn observe_request(operation: &str, status: u16, elapsed: std::time::Duration) {
    let operation = operation_label(operation);
    let outcome = if status < 400 { "ok" } else { "error" };
    counter!(
        "canopy_http_graphql_requests_total",
        "operation" => operation.clone(),
        "status" => status.to_string(),
        "outcome" => outcome
    )
    .increment(1);
    histogram!("canopy_http_request_duration_seconds", "operation" => operation).record(elapsed.as_secs_f64());
}

/// The Prometheus text of everything recorded in this process.
pub fn render() -> String {
    gauge!("canopy_hashing_queue_length").set(crate::crypto::HASHING.len() as f64);
    // The queue counts its refusals itself (crypto stays below metrics).
    counter!("canopy_hashing_refused_total").absolute(crate::crypto::HASHING.refused());
    install().map(PrometheusHandle::render).unwrap_or_default()
}

/// Sets the PostgreSQL pools' gauges (read at scrape time): SeaORM's, and the hot reads'
/// own (`db::Reads`).
pub fn observe_pool(reads: &crate::db::Reads) {
    let db = reads.db();
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        let pool = db.get_postgres_connection_pool();
        gauge!("canopy_db_pool_connections").set(f64::from(pool.size()));
        gauge!("canopy_db_pool_idle_connections").set(pool.num_idle() as f64);
    }
    if let Some((open, idle)) = reads.own_connections() {
        gauge!("canopy_db_read_pool_connections").set(open as f64);
        gauge!("canopy_db_read_pool_idle_connections").set(idle as f64);
    }
}

/// Mails waiting in the outbox (counted by the read layer at scrape time).
pub fn set_outbox_backlog(backlog: u64) {
    gauge!("canopy_outbox_backlog").set(backlog as f64);
}
