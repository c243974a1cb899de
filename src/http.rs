//! HTTP routes: `/graphql` (POST, GET for queries, websocket subscriptions), GraphiQL on
//! `/`, `/healthz`, `/readyz`, `/metrics`, and the invoice downloads (`downloads.rs`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_graphql::http::WebSocketProtocols;
use async_graphql::{Data, ServerError};
use async_graphql_axum::GraphQLRequest;
use axum::Router;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;

use crate::config::Profile;
use crate::domain::access::Viewer;
use crate::domain::identity;
use crate::error::AppError;
use crate::graphql::context::{AppState, RequestContext};
use crate::graphql::limits::LimitedSchema;
use crate::rate_limit::RateLimiter;

/// Largest request body accepted (413 above it).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub use crate::telemetry::current_request_id;
use crate::telemetry::{REQUEST_ID, new_request_id};

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
        .merge(crate::graphiql::routes())
        .merge(crate::downloads::routes())
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

/// A panic anywhere in a request answers 500 with a generic INTERNAL error; the panic's
/// text goes to the log only.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without text");
    tracing::error!(%detail, "request panicked");
    let body = serde_json::json!({"errors": [{"message": "internal error", "extensions": {"code": "INTERNAL"}}]});
    (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn graphiql(State(state): State<HttpState>) -> Response {
    if !state.app.settings.server.graphiql {
        return (StatusCode::NOT_FOUND, "GraphiQL is off in this profile").into_response();
    }
    crate::graphiql::page()
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
    crate::metrics::observe_database(&app.db).await;
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

/// The client a request counts against (rate limits, lockouts): the TCP peer, or, when
/// the peer is a trusted reverse proxy, the right-most `X-Forwarded-For` address that is
/// not a trusted proxy (the left part of that header is whatever the client wrote). An
/// IPv6 client is counted per /64, the block one subscriber gets: rotating addresses
/// inside it is free, so they must not be free guesses.
pub fn client_key(peer: Option<std::net::IpAddr>, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> String {
    let Some(peer) = peer else { return "local".to_owned() };
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer;
    if is_trusted(&peer) {
        let hops: Vec<Option<std::net::IpAddr>> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|hop| hop.trim().parse().ok())
            .collect();
        // Right to left: the first hop no trusted proxy vouches for is the client. A hop
        // that is not an address ends the walk (trusted proxies write addresses): the
        // last trusted hop, or the peer, is all that can be believed.
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) if is_trusted(ip) => client = *ip,
                Some(ip) => {
                    client = *ip;
                    break;
                }
                None => break,
            }
        }
    }
    match client {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => ipnet::Ipv6Net::new(v6, 64).map(|net| net.trunc().to_string()).unwrap_or_else(|_| v6.to_string()),
        },
    }
}

pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// Resolves a bearer token to the viewer. `Ok(None)` is anonymous; a token that does not
/// resolve is UNAUTHENTICATED rather than silently anonymous.
pub async fn viewer_for_token(state: &AppState, token: Option<&str>) -> Result<Option<(Viewer, i64)>, AppError> {
    identity::live_viewer(&state.db, &state.settings, token).await
}

/// Which media type the client asked for (the GraphQL-over-HTTP specification).
#[derive(Clone, Copy, PartialEq, Eq)]
enum MediaType {
    Json,
    GraphqlResponseJson,
}

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

fn negotiate(headers: &HeaderMap) -> MediaType {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.contains(GRAPHQL_RESPONSE_JSON) { MediaType::GraphqlResponseJson } else { MediaType::Json }
}

/// Serialises a response with the negotiated media type. With
/// `application/graphql-response+json`, a request that did not execute (no data) is a 400,
/// as the specification says; `application/json` clients always get 200.
fn graphql_response(response: async_graphql::Response, media: MediaType, status: Option<StatusCode>) -> Response {
    let status = status.unwrap_or_else(|| {
        let not_executed = response.data == async_graphql::Value::Null && !response.errors.is_empty();
        if media == MediaType::GraphqlResponseJson && not_executed { StatusCode::BAD_REQUEST } else { StatusCode::OK }
    });
    let content_type = match media {
        MediaType::Json => "application/json",
        MediaType::GraphqlResponseJson => GRAPHQL_RESPONSE_JSON,
    };
    let headers = response.http_headers.clone();
    let body = match crate::graphql::plain::write_response(&response) {
        Ok(body) => body,
        Err(err) => {
            tracing::error!(error = %err, "could not serialise a response");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let mut http = (status, [(header::CONTENT_TYPE, content_type)], body).into_response();
    http.headers_mut().extend(headers);
    http
}

fn error_response(err: AppError, media: MediaType) -> Response {
    let status = match &err {
        AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
        AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::OK,
    };
    let retry_after = match &err {
        AppError::RateLimited { retry_after } => Some(retry_after.as_secs().max(1)),
        _ => None,
    };
    let gql_err: async_graphql::Error = err.into();
    let server_error: ServerError = gql_err.into_server_error(async_graphql::Pos::default());
    let mut response = graphql_response(async_graphql::Response::from_errors(vec![server_error]), media, Some(status));
    if let Some(secs) = retry_after
        && let Ok(value) = secs.to_string().parse()
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn rate_check(limiter: &RateLimiter, key: &str) -> Result<(), AppError> {
    limiter.check(key).map_err(|retry_after| {
        tracing::info!(limit = key.split(':').next().unwrap_or(""), "rate limited");
        AppError::RateLimited { retry_after }
    })
}

/// What a request's document is, as far as trusted documents go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Provenance {
    /// Named by id (`documentId` or a persisted query hash) and found in the manifest.
    NamedTrusted,
    /// Sent as text; `true` when that text is one of the trusted documents.
    Text { trusted: bool },
}

/// Replaces a named document by its text from the manifest; `None` when the id names
/// no trusted document (the caller answers PERSISTED_QUERY_NOT_FOUND).
fn resolve_named_document(
    state: &HttpState,
    request: &mut async_graphql::Request,
    named: Option<&str>,
) -> Option<Provenance> {
    let documents = state.app.settings.server.trusted_documents.as_deref();
    match named {
        Some(id) => {
            request.query = documents?.get(id)?.to_owned();
            Some(Provenance::NamedTrusted)
        }
        None => Some(Provenance::Text { trusted: documents.is_some_and(|d| d.contains_text(&request.query)) }),
    }
}

fn persisted_query_not_found(media: MediaType) -> Response {
    coded_error("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND", media)
}

/// A request-level error with a message and code of its own (200, as GraphQL clients expect).
fn coded_error(message: &str, code: &str, media: MediaType) -> Response {
    let error = crate::error::coded_server_error(message, code);
    graphql_response(async_graphql::Response::from_errors(vec![error]), media, Some(StatusCode::OK))
}

async fn execute(
    state: HttpState,
    headers: HeaderMap,
    client: String,
    request: async_graphql::Request,
    provenance: Provenance,
) -> Response {
    let request_id = new_request_id();
    let media = negotiate(&headers);
    let operation = request.operation_name.clone().or_else(|| operation_name_of(&request.query)).unwrap_or_default();
    let span = tracing::info_span!(
        "graphql",
        otel.name = %format_args!("graphql {}", if operation.is_empty() { "anonymous" } else { &operation }),
        graphql.operation.name = %operation,
        request_id = %request_id,
        operation = %operation,
    );
    let started = std::time::Instant::now();
    let served = REQUEST_ID.scope(request_id, async move {
        if let Err(err) = rate_check(&state.per_client, &format!("client:{client}")) {
            return error_response(err, media);
        }
        let viewer = match viewer_for_token(&state.app, bearer_token(&headers)).await {
            Ok(v) => v,
            Err(err) => return error_response(err, media),
        };
        let (viewer, session_id) = match viewer {
            Some((v, s)) => (Some(v), Some(s)),
            None => (None, None),
        };
        if let Some(viewer) = &viewer
            && let Err(err) = rate_check(&state.per_user, &format!("user:{}", viewer.user.id))
        {
            return error_response(err, media);
        }
        let only_trusted = state.app.settings.server.trusted_documents.as_ref().is_some_and(|d| d.only);
        let is_staff = viewer.as_ref().is_some_and(|v| v.is_staff());
        if only_trusted && provenance == (Provenance::Text { trusted: false }) && !is_staff {
            return coded_error("this server runs only its clients' trusted documents", "FORBIDDEN", media);
        }
        // In production only signed-in staff may introspect.
        let may_introspect =
            state.app.settings.server.profile == Profile::Development || viewer.as_ref().is_some_and(|v| v.is_staff());
        let mut context = RequestContext::new(&state.app, viewer, session_id, client);
        context.prewritten_json = true;
        let mut request = request.data(context);
        if !may_introspect {
            request = request.disable_introspection();
        }
        // Unconstrained: tokio's cooperative budget would otherwise make a wide level
        // of the tree yield halfway through queueing its loader keys, splitting one
        // batch into several statements. Every await in here is real I/O anyway.
        let run = tokio::task::unconstrained(async_graphql::Executor::execute(&state.schema, request));
        let mut response = match tokio::time::timeout(state.app.settings.server.request_timeout, run).await {
            Ok(response) => response,
            Err(_) => return error_response(AppError::internal("request timed out"), media),
        };
        give_every_error_a_code(&mut response);
        crate::metrics::count_request(!response.errors.is_empty());
        graphql_response(response, media, None)
    });
    let response = tracing::Instrument::instrument(served, span).await;
    crate::metrics::observe_request(&operation, response.status().as_u16(), started.elapsed());
    response
}

/// The name in `query Name(...) {`, for logs and metrics when the client sends no
/// `operationName` (a cheap scan: the document is parsed once, by the executor).
fn operation_name_of(document: &str) -> Option<String> {
    let head = document.split('{').next()?;
    let mut words = head.split(|c: char| c.is_whitespace() || c == '(').filter(|w| !w.is_empty());
    match words.next()? {
        "query" | "mutation" | "subscription" => words.next().map(str::to_owned),
        _ => None,
    }
}

/// async-graphql's own errors (syntax, validation, limits, input coercion) carry no
/// code; every error a client sees gets one from the fixed set.
pub fn give_every_error_a_code(response: &mut async_graphql::Response) {
    for error in &mut response.errors {
        let has_code = error.extensions.as_ref().is_some_and(|e| e.get("code").is_some());
        if has_code {
            continue;
        }
        let message = error.message.to_lowercase();
        let code = if message.contains("too complex") || message.contains("too deep") || message.contains("too many") {
            "QUERY_TOO_COMPLEX"
        } else {
            "GRAPHQL_VALIDATION_FAILED"
        };
        error.extensions.get_or_insert_with(Default::default).set("code", code);
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

fn client_of(state: &HttpState, request: &axum::extract::Request) -> String {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    client_key(peer, request.headers(), &state.app.settings.server.trusted_proxies)
}

async fn graphql_post(State(state): State<HttpState>, request: axum::extract::Request) -> Response {
    let headers = request.headers().clone();
    // Only JSON bodies execute: forms and plain text are what a cross-site page can send
    // without a preflight, so refusing them closes the CSRF door.
    if !is_json(&headers) {
        // Read the body first (up to the limit): closing a connection with unread bytes
        // makes the kernel reset it, and the client may never see this answer.
        let _ = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES).await;
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "send application/json").into_response();
    }
    let client = client_of(&state, &request);
    // Read the body here, so an oversized one is a clear 413 (the GraphQL extractor
    // would turn the limit error into a 400).
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "request body over 1 MiB").into_response(),
    };
    // The id of a trusted document, if the body names one (async-graphql's request type
    // has no `documentId`).
    let named = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(raw) => crate::trusted_documents::named_id(raw.get("documentId"), raw.get("extensions")),
        Err(_) => None,
    };
    let request = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
    let mut request = match <GraphQLRequest>::from_request(request, &()).await {
        Ok(request) => request.into_inner(),
        Err(_) => return malformed_request(negotiate(&headers)),
    };
    let Some(provenance) = resolve_named_document(&state, &mut request, named.as_deref()) else {
        return persisted_query_not_found(negotiate(&headers));
    };
    execute(state, headers, client, request, provenance).await
}

/// A body or query string that is not a GraphQL request. The extractor's own rejection
/// text is Rust Debug output (`InvalidRequest(Error(...`): the client gets a fixed message.
fn malformed_request(media: MediaType) -> Response {
    let error = crate::error::coded_server_error(
        "the request is not a GraphQL request: send JSON with a `query` string (and optional `variables` object)",
        "GRAPHQL_VALIDATION_FAILED",
    );
    graphql_response(async_graphql::Response::from_errors(vec![error]), media, Some(StatusCode::BAD_REQUEST))
}

async fn graphql_get(State(state): State<HttpState>, request: axum::extract::Request) -> Response {
    let headers = request.headers().clone();
    let client = client_of(&state, &request);
    let (mut parts, body) = request.into_parts();
    if headers.contains_key(header::UPGRADE) {
        let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &()).await;
        return match (upgrade, websocket_protocol(&headers)) {
            (Ok(upgrade), Some(protocol)) => subscribe(state, &headers, upgrade, protocol, client),
            (Err(rejection), _) => rejection.into_response(),
            (_, None) => (StatusCode::BAD_REQUEST, "ask for the graphql-transport-ws subprotocol").into_response(),
        };
    }
    let media = negotiate(&headers);
    let params = axum::extract::Query::<std::collections::HashMap<String, String>>::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let extensions = params.get("extensions").and_then(|e| serde_json::from_str::<serde_json::Value>(e).ok());
    let document_id = params.get("documentId").map(|id| serde_json::Value::String(id.clone()));
    let named = crate::trusted_documents::named_id(document_id.as_ref(), extensions.as_ref());
    let mut request = match &named {
        // A named document: `query` may be absent, which async-graphql's GET extractor refuses.
        Some(_) => {
            let variables = match params.get("variables").map(|v| serde_json::from_str::<serde_json::Value>(v)) {
                None => async_graphql::Variables::default(),
                Some(Ok(value)) => async_graphql::Variables::from_json(value),
                Some(Err(_)) => return malformed_request(media),
            };
            let mut request = async_graphql::Request::new("").variables(variables);
            if let Some(name) = params.get("operationName") {
                request = request.operation_name(name.clone());
            }
            request
        }
        None => match <GraphQLRequest>::from_request(axum::extract::Request::from_parts(parts, body), &()).await {
            Ok(request) => request.into_inner(),
            Err(_) => return malformed_request(media),
        },
    };
    let Some(provenance) = resolve_named_document(&state, &mut request, named.as_deref()) else {
        return persisted_query_not_found(media);
    };
    if !is_query_only(&request) {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")], "mutations need POST").into_response();
    }
    let mut response = execute(state, headers.clone(), client, request, provenance).await;
    if provenance == Provenance::NamedTrusted && response.status() == StatusCode::OK {
        // A GET naming a trusted document is cacheable: the URL is the whole request. An
        // answer for a signed-in viewer stays in that viewer's own (private) cache.
        let shared = if headers.contains_key(header::AUTHORIZATION) { "private" } else { "public" };
        if let Ok(value) = format!("{shared}, max-age=60").parse() {
            response.headers_mut().insert(header::CACHE_CONTROL, value);
        }
        response.headers_mut().insert(header::VARY, axum::http::HeaderValue::from_static("Authorization"));
    }
    response
}

/// True when the operation a GET request would run is a query. Unparseable documents pass
/// through, so the client gets the normal syntax error.
fn is_query_only(request: &async_graphql::Request) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return true;
    };
    let is_query = |t: OperationType| t == OperationType::Query;
    match &document.operations {
        DocumentOperations::Single(op) => is_query(op.node.ty),
        DocumentOperations::Multiple(ops) => match &request.operation_name {
            Some(name) => ops.get(name.as_str()).is_none_or(|op| is_query(op.node.ty)),
            None => ops.values().all(|op| is_query(op.node.ty)),
        },
    }
}

/// The GraphQL subprotocol the client asked for (`Sec-WebSocket-Protocol`).
fn websocket_protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    let offered = headers.get(header::SEC_WEBSOCKET_PROTOCOL)?.to_str().ok()?;
    offered.split(',').find_map(|p| p.trim().parse().ok())
}

/// Websocket frames larger than this close the connection.
pub const MAX_WS_MESSAGE_BYTES: usize = 64 * 1024;
/// A client that has not sent `connection_init` by then is dropped.
pub const WS_INIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Browsers send `Origin` on websocket upgrades and do not apply CORS to them, so the
/// server checks it: its own origin (same host) and the configured ones pass. Clients
/// that send no Origin (not browsers) pass too: they cannot ride a user's cookies, and
/// Canopy authenticates with bearer tokens anyway.
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or(origin);
    origin_host.eq_ignore_ascii_case(host)
        || allowed.iter().any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

fn subscribe(
    state: HttpState,
    headers: &HeaderMap,
    upgrade: WebSocketUpgrade,
    protocol: WebSocketProtocols,
    client: String,
) -> Response {
    if !origin_allowed(headers, &state.app.settings.server.allowed_origins) {
        tracing::warn!("websocket refused: origin not allowed");
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    upgrade
        .max_message_size(MAX_WS_MESSAGE_BYTES)
        .max_frame_size(MAX_WS_MESSAGE_BYTES)
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve_socket(state, socket, protocol, client))
}

/// What a websocket keeps between operations: the session it was opened with. Every
/// operation checks that session again and runs with a viewer and loaders built for it
/// (`SessionChecked`); subscriptions check it again at every event.
#[derive(Clone)]
struct SocketSession {
    session_id: Option<i64>,
    client: String,
}

/// The schema as a websocket runs it: each operation re-authenticates the socket's
/// session (one statement) instead of reusing the viewer of `connection_init`.
#[derive(Clone)]
struct SessionChecked {
    inner: LimitedSchema,
    app: AppState,
}

impl async_graphql::Executor for SessionChecked {
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        self.inner.execute(request).await
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> futures_util::stream::BoxStream<'static, async_graphql::Response> {
        use futures_util::StreamExt;
        let session = session_data
            .as_ref()
            .and_then(|data| data.get(&std::any::TypeId::of::<SocketSession>()))
            .and_then(|any| any.downcast_ref::<SocketSession>())
            .cloned();
        let (inner, app) = (self.inner.clone(), self.app.clone());
        let mut request = request;
        futures_util::stream::once(async move {
            let Some(session) = session else {
                return refused(AppError::Unauthenticated);
            };
            let viewer = match session.session_id {
                Some(id) => match identity::live_session(&app.db, &app.settings, id).await {
                    Ok(viewer) => Some(viewer),
                    Err(err) => return refused(err),
                },
                None => None,
            };
            // Trusted documents hold over websockets as over HTTP: a subscribe may name one
            // by Apollo's persisted query hash, and with --only-trusted-documents nothing
            // else runs for non-staff.
            if let Some(documents) = app.settings.server.trusted_documents.as_deref() {
                let named = match request.extensions.get("persistedQuery") {
                    Some(async_graphql::Value::Object(query)) => match query.get("sha256Hash") {
                        Some(async_graphql::Value::String(hash)) => Some(hash.clone()),
                        _ => None,
                    },
                    _ => None,
                };
                let trusted = match named {
                    Some(id) => match documents.get(&id) {
                        Some(text) => {
                            request.query = text.to_owned();
                            true
                        }
                        None => {
                            let error =
                                crate::error::coded_server_error("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND");
                            let response = async_graphql::Response::from_errors(vec![error]);
                            return futures_util::stream::once(async move { response }).boxed();
                        }
                    },
                    None => documents.contains_text(&request.query),
                };
                if documents.only && !trusted && !viewer.as_ref().is_some_and(|v| v.is_staff()) {
                    return refused(AppError::Forbidden);
                }
            }
            let context = RequestContext::new(&app, viewer, session.session_id, session.client);
            inner.execute_stream(request.data(context), session_data)
        })
        .flatten()
        .boxed()
    }
}

/// One error answer, as a stream.
fn refused(err: AppError) -> futures_util::stream::BoxStream<'static, async_graphql::Response> {
    use futures_util::StreamExt;
    let error: async_graphql::Error = err.into();
    let response = async_graphql::Response::from_errors(vec![error.into_server_error(async_graphql::Pos::default())]);
    futures_util::stream::once(async move { response }).boxed()
}

/// graphql-transport-ws's close codes (its protocol document, "Invalid message" etc.).
pub mod close_code {
    /// A message the server cannot read or does not expect.
    pub const BAD_REQUEST: u16 = 4400;
    /// `subscribe` before the connection was acknowledged.
    pub const UNAUTHORIZED: u16 = 4401;
    /// `connection_init` refused, or the session ended or its rights changed since: the
    /// client signs in (or reconnects) again.
    pub const FORBIDDEN: u16 = 4403;
    /// No `connection_init` within 10 s.
    pub const INIT_TIMEOUT: u16 = 4408;
    /// A `subscribe` with the id of an operation still running.
    pub const SUBSCRIBER_EXISTS: u16 = 4409;
    /// A second `connection_init` (async-graphql sends it itself).
    pub const TOO_MANY_INITS: u16 = 4429;
}

/// What the socket loop learns from the client's messages on their way in.
enum Violation {
    SubscriberExists(String),
}

/// The ids of the operations running on one socket, to refuse a `subscribe` that reuses
/// one (async-graphql would silently replace the running operation).
type RunningIds = Arc<std::sync::Mutex<std::collections::HashSet<String>>>;

/// The `type` and `id` of a protocol message.
fn message_kind(bytes: &[u8]) -> Option<(String, Option<String>)> {
    #[derive(serde::Deserialize)]
    struct Head {
        r#type: String,
        id: Option<String>,
    }
    serde_json::from_slice::<Head>(bytes).ok().map(|h| (h.r#type, h.id))
}

/// Serves one websocket: async-graphql's protocol machine, plus a watch on access changes.
/// When a logout, password change, removal or rights change concerns this socket's user
/// (announced on every replica through the event bus), the session is checked again; if
/// it ended, or its grants are not what they were, the socket closes with 4403. Close
/// codes follow graphql-transport-ws (`close_code`).
async fn serve_socket(
    state: HttpState,
    socket: axum::extract::ws::WebSocket,
    protocol: WebSocketProtocols,
    client: String,
) {
    use axum::extract::ws::{CloseFrame, Message};
    use futures_util::{SinkExt, StreamExt};
    use std::sync::atomic::AtomicBool;

    let transport_ws = protocol == WebSocketProtocols::GraphQLWS;
    let app = state.app.clone();
    let (mut sink, source) = socket.split();
    let running: RunningIds = Arc::default();
    let (violations, mut violation) = tokio::sync::mpsc::unbounded_channel::<Violation>();
    let watched = running.clone();
    let input = source.take_while(|message| std::future::ready(message.is_ok())).filter_map(move |message| {
        let bytes = match message {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => message.into_data(),
            _ => return std::future::ready(None),
        };
        if transport_ws
            && let Some((kind, Some(id))) = message_kind(&bytes)
            && let Ok(mut ids) = watched.lock()
        {
            match kind.as_str() {
                "subscribe" if !ids.insert(id.clone()) => {
                    let _ = violations.send(Violation::SubscriberExists(id));
                    return std::future::ready(None);
                }
                "complete" => {
                    ids.remove(&id);
                }
                _ => {}
            }
        }
        std::future::ready(Some(bytes))
    });
    // The session and grants the socket was opened with (set by `connection_init`).
    let opened: Arc<std::sync::Mutex<Option<(i64, Viewer)>>> = Arc::default();
    let initialised = Arc::new(AtomicBool::new(false));
    let init_refused = Arc::new(AtomicBool::new(false));
    let (seen, seen_init, seen_refusal) = (opened.clone(), initialised.clone(), init_refused.clone());
    let executor = SessionChecked { inner: state.websocket_schema.clone(), app: app.clone() };
    let init_app = app.clone();
    let protocol_machine = async_graphql::http::WebSocket::new(executor, input, protocol).on_connection_init(
        move |payload: serde_json::Value| async move {
            seen_init.store(true, Ordering::SeqCst);
            let token = payload
                .get("Authorization")
                .or_else(|| payload.get("authorization"))
                .and_then(|v| v.as_str())
                .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).to_owned())
                .or_else(|| payload.get("token").and_then(|v| v.as_str()).map(str::to_owned));
            let viewer = match viewer_for_token(&init_app, token.as_deref()).await {
                Ok(viewer) => viewer,
                Err(err) => {
                    seen_refusal.store(true, Ordering::SeqCst);
                    return Err(err.into());
                }
            };
            let session_id = viewer.as_ref().map(|(_, id)| *id);
            if let (Some((viewer, id)), Ok(mut slot)) = (viewer, seen.lock()) {
                *slot = Some((id, viewer));
            }
            let mut data = Data::default();
            data.insert(SocketSession { session_id, client });
            Ok(data)
        },
    );
    let mut protocol_machine = std::pin::pin!(protocol_machine);
    let mut access = app.events.subscribe();
    crate::metrics::websocket_connections(1.0);
    // Counts the socket down however the loop ends.
    struct Open;
    impl Drop for Open {
        fn drop(&mut self) {
            crate::metrics::websocket_connections(-1.0);
        }
    }
    let _open = Open;
    let init_deadline = tokio::time::Instant::now() + WS_INIT_TIMEOUT;
    let close = |code: u16, reason: &str| Message::Close(Some(CloseFrame { code, reason: reason.into() }));
    loop {
        let waiting_for_init = !initialised.load(Ordering::SeqCst);
        tokio::select! {
            outgoing = protocol_machine.next() => match outgoing {
                Some(async_graphql::http::WsMessage::Text(text)) => {
                    if transport_ws
                        && let Some((kind, Some(id))) = message_kind(text.as_bytes())
                        && matches!(kind.as_str(), "complete" | "error")
                        && let Ok(mut ids) = running.lock()
                    {
                        ids.remove(&id);
                    }
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(async_graphql::http::WsMessage::Close(code, reason)) => {
                    // async-graphql's own codes, in graphql-transport-ws's terms.
                    let code = match (transport_ws, code) {
                        (true, 1002) if init_refused.load(Ordering::SeqCst) => close_code::FORBIDDEN,
                        (true, 1002) => close_code::BAD_REQUEST,
                        (true, 1011) => close_code::UNAUTHORIZED,
                        (_, code) => code,
                    };
                    let reason = if code == close_code::UNAUTHORIZED { "Unauthorized".to_owned() } else { reason };
                    let _ = sink.send(close(code, &reason)).await;
                    break;
                }
                None => break,
            },
            Some(Violation::SubscriberExists(id)) = violation.recv() => {
                let _ = sink.send(close(close_code::SUBSCRIBER_EXISTS, &format!("Subscriber for {id} already exists"))).await;
                break;
            }
            event = access.recv() => {
                let concerned = match (&event, opened.lock().ok().and_then(|o| o.clone())) {
                    (Ok(crate::events::Event::AccessChanged { user_ids }), Some((id, viewer))) => {
                        let mine = user_ids.as_ref().is_none_or(|ids| ids.contains(&viewer.user.id));
                        mine.then_some((id, viewer))
                    }
                    // Events were missed (a slow socket): check, to be safe.
                    (Err(tokio::sync::broadcast::error::RecvError::Lagged(_)), Some(opened)) => Some(opened),
                    _ => None,
                };
                if let Some((session_id, before)) = concerned {
                    let now = identity::live_session(&app.db, &app.settings, session_id).await;
                    let still = now.as_ref().is_ok_and(|v| v.grants() == before.grants());
                    if !still {
                        tracing::info!("websocket closed: its session ended or its rights changed");
                        let _ = sink.send(close(close_code::FORBIDDEN, "session ended or rights changed; sign in again")).await;
                        break;
                    }
                }
            },
            _ = tokio::time::sleep_until(init_deadline), if waiting_for_init => {
                tracing::info!("websocket closed: no connection_init within 10 s");
                let _ = sink.send(close(close_code::INIT_TIMEOUT, "Connection initialisation timeout")).await;
                break;
            }
        }
    }
}
