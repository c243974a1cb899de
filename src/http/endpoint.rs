//! The GraphQL endpoint over HTTP: `POST /graphql` and `GET /graphql` (queries only),
//! with trusted documents, rate limits and media types.

use async_graphql::ServerError;
use async_graphql_axum::GraphQLRequest;
use axum::extract::{FromRequest, FromRequestParts, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::auth::{bearer_token, client_of, viewer_for_token};
use super::socket::{subscribe, websocket_protocol};
use super::{HttpState, MAX_BODY_BYTES};
use crate::config::Profile;
use crate::error::{AppError, ErrorCode};
use crate::graphql::context::RequestContext;
use crate::rate_limit::RateLimiter;
use crate::telemetry::{REQUEST_ID, new_request_id};

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
    let body = match crate::graphql::prewritten::write_response(&response) {
        Ok(body) => body,
        Err(err) => {
            tracing::error!(error = %err, "could not serialise a response");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let mut http = (status, [(header::CONTENT_TYPE, content_type)], axum::body::Body::new(body)).into_response();
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
    coded_error("PersistedQueryNotFound", ErrorCode::PersistedQueryNotFound, media)
}

/// A request-level error with a message and code of its own (200, as GraphQL clients expect).
fn coded_error(message: &str, code: ErrorCode, media: MediaType) -> Response {
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
            return coded_error("this server runs only its clients' trusted documents", ErrorCode::Forbidden, media);
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
        crate::error::code_engine_errors(&mut response);
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

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

pub(super) async fn graphql_post(State(state): State<HttpState>, request: axum::extract::Request) -> Response {
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
    let bytes = match axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "request body over 1 MiB").into_response(),
    };
    // One parse of the body, as async-graphql's JSON extractor would make it (a batch, a
    // JSON array, is refused as it refuses it): parsing it a second time for `documentId`
    // cost more than the rest of reading an `openItems` request.
    let Ok(mut request) = serde_json::from_slice::<async_graphql::Request>(&bytes) else {
        return malformed_request(negotiate(&headers));
    };
    let named = named_document(&bytes, &request);
    let Some(provenance) = resolve_named_document(&state, &mut request, named.as_deref()) else {
        return persisted_query_not_found(negotiate(&headers));
    };
    execute(state, headers, client, request, provenance).await
}

/// The id of the trusted document a POST body names, if it names one: `documentId`
/// (which async-graphql's request type has no field for, so the body is read for it again
/// only when it holds the word), or the persisted-query hash in its extensions.
fn named_document(body: &[u8], request: &async_graphql::Request) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct DocumentId {
        #[serde(rename = "documentId")]
        document_id: Option<serde_json::Value>,
    }
    let document_id = match body.windows(b"documentId".len()).any(|w| w == b"documentId") {
        true => serde_json::from_slice::<DocumentId>(body).ok().and_then(|body| body.document_id),
        false => None,
    };
    let extensions = request.extensions.0.get("persistedQuery").and_then(|v| v.clone().into_json().ok());
    let extensions = extensions.map(|persisted| serde_json::json!({ "persistedQuery": persisted }));
    crate::trusted_documents::named_id(document_id.as_ref(), extensions.as_ref())
}

/// A body or query string that is not a GraphQL request. The extractor's own rejection
/// text is Rust Debug output (`InvalidRequest(Error(...`): the client gets a fixed message.
fn malformed_request(media: MediaType) -> Response {
    let error = crate::error::coded_server_error(
        "the request is not a GraphQL request: send JSON with a `query` string (and optional `variables` object)",
        ErrorCode::GraphqlValidationFailed,
    );
    graphql_response(async_graphql::Response::from_errors(vec![error]), media, Some(StatusCode::BAD_REQUEST))
}

pub(super) async fn graphql_get(State(state): State<HttpState>, request: axum::extract::Request) -> Response {
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
