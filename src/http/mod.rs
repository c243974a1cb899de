//! HTTP routes: `/graphql` (POST, GET for queries, websocket subscriptions), GraphiQL on
//! `/`, `/healthz`, `/readyz`, `/metrics`, and the invoice downloads (`downloads.rs`).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;

use crate::config::Profile;
use crate::error::ErrorCode;
use crate::graphql::context::AppState;
use crate::graphql::limits::LimitedSchema;
use crate::rate_limit::RateLimiter;

/// Largest request body accepted (413 above it).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub mod auth;
pub mod downloads;
mod endpoint;
pub mod graphiql;
mod socket;

pub use crate::telemetry::current_request_id;
pub use auth::{bearer_token, client_key, viewer_for_token};
use endpoint::{graphql_get, graphql_post};
pub use socket::{MAX_WS_MESSAGE_BYTES, WS_INIT_TIMEOUT, WS_READ_BUFFER_BYTES, close_code};

#[derive(Clone)]
pub struct HttpState {
    pub app: AppState,
    pub schema: LimitedSchema,
    websocket_schema: LimitedSchema,
    per_client: Arc<RateLimiter>,
    per_user: Arc<RateLimiter>,
}

pub fn router(app: AppState, schema: LimitedSchema, websocket_schema: LimitedSchema) -> Router {
    let options = &app.settings.server;
    let per_client = Arc::new(RateLimiter::new(options.rate_per_client));
    let per_user = Arc::new(RateLimiter::new(options.rate_per_user));
    let state = HttpState { app, schema, websocket_schema, per_client, per_user };
    Router::new()
        .route("/", get(graphiql))
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(graphiql::routes())
        .merge(downloads::routes())
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn(trace_request))
        .with_state(state)
}

/// Each request in a span of its own (exported when OpenTelemetry is on), named by its
/// route rather than its path, so that ids and signatures stay out of span names.
async fn trace_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let route = request.extensions().get::<axum::extract::MatchedPath>().map(|p| p.as_str().to_owned());
    let span =
        crate::telemetry::request_span(request.method(), route.as_deref().unwrap_or("unmatched"), request.headers());
    let response = tracing::Instrument::instrument(next.run(request), span.clone()).await;
    span.record("http.response.status_code", i64::from(response.status().as_u16()));
    response
}

/// A panic anywhere in a request answers 500 with a generic INTERNAL error; the panic's
/// text goes to the log only.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without text");
    tracing::error!(%detail, "request panicked");
    let body = serde_json::json!({"errors": [{"message": "internal error", "extensions": {"code": ErrorCode::Internal.as_str()}}]});
    (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn graphiql(State(state): State<HttpState>) -> Response {
    if !state.app.settings.server.graphiql {
        return (StatusCode::NOT_FOUND, "GraphiQL is off in this profile").into_response();
    }
    graphiql::page()
}

/// `/metrics` on the API's address: open in development; in production only with the
/// metrics bearer token (`CANOPY_METRICS_TOKEN`), else not there at all (operators serve it
/// on `CANOPY_METRICS_LISTEN`, a monitoring-only address).
async fn metrics(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    let options = &state.app.settings.server;
    if options.profile == Profile::Production {
        let presented = bearer_token(&headers).unwrap_or("");
        let allowed = options.metrics_token.as_ref().is_some_and(|token| {
            use subtle::ConstantTimeEq;
            bool::from(token.expose().ct_eq(presented.as_bytes()))
        });
        if !allowed {
            return (StatusCode::NOT_FOUND, "not found").into_response();
        }
    }
    metrics_text(&state.app).await
}

/// The Prometheus text of this process.
pub async fn metrics_text(app: &AppState) -> Response {
    crate::metrics::observe_pool(&app.reads);
    if let Ok(backlog) = crate::read::outbox::backlog(&app.db).await {
        crate::metrics::set_outbox_backlog(backlog);
    }
    let text = crate::metrics::render();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// The router of `CANOPY_METRICS_LISTEN`: `/metrics` only, for the monitoring network.
pub fn metrics_router(app: AppState) -> Router {
    Router::new().route("/metrics", get(move || async move { metrics_text(&app).await }))
}

async fn readyz(State(state): State<HttpState>) -> Response {
    if crate::db::is_ready(&state.app.db).await {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_panic_in_a_request_answers_500_with_a_masked_internal_error() {
        #[allow(clippy::panic)]
        async fn boom() -> &'static str {
            panic!("secret detail /home/app/src/x.rs")
        }
        let app: Router = Router::new().route("/boom", get(boom)).layer(CatchPanicLayer::custom(panic_response));
        let response = app.oneshot(Request::get("/boom").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("\"INTERNAL\"") && !text.contains("secret") && !text.contains(".rs"), "{text}");
    }
}
