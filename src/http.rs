//! HTTP routes: `/graphql` (POST, GET for queries, websocket subscriptions), GraphiQL on
//! `/`, `/healthz`, `/readyz`, `/metrics`, and the invoice downloads (`downloads.rs`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use async_graphql::http::GraphiQLSource;
use async_graphql::{Data, ServerError};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::Router;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tower_http::limit::RequestBodyLimitLayer;

use crate::domain::access::Viewer;
use crate::domain::identity;
use crate::error::AppError;
use crate::graphql::AppSchema;
use crate::graphql::context::{AppState, RequestContext};

/// Largest request body accepted (413 above it).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

tokio::task_local! {
    static REQUEST_ID: String;
}

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

/// The id of the request being served, for error messages and logs.
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(|id| id.clone()).unwrap_or_else(|_| "-".to_owned())
}

fn new_request_id() -> String {
    format!("{:x}-{:x}", std::process::id(), NEXT_REQUEST.fetch_add(1, Ordering::Relaxed))
}

#[derive(Clone)]
pub struct HttpState {
    pub app: AppState,
    pub schema: AppSchema,
}

pub fn router(app: AppState, schema: AppSchema) -> Router {
    let state = HttpState { app, schema };
    Router::new()
        .route("/", get(graphiql))
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(|| async { crate::metrics::render() }))
        .merge(crate::downloads::routes())
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .with_state(state)
}

async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").subscription_endpoint("/graphql").finish())
}

async fn readyz(State(state): State<HttpState>) -> Response {
    if crate::db::is_ready(&state.app.db).await {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
    }
}

fn client_address(connect_info: Option<&ConnectInfo<SocketAddr>>) -> String {
    connect_info.map(|c| c.0.ip().to_string()).unwrap_or_else(|| "local".to_owned())
}

pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// Resolves a bearer token to the viewer. `Ok(None)` is anonymous; a token that does not
/// resolve is UNAUTHENTICATED rather than silently anonymous.
pub async fn viewer_for_token(state: &AppState, token: Option<&str>) -> Result<Option<(Viewer, i64)>, AppError> {
    let Some(token) = token else { return Ok(None) };
    let Some((session, user)) = identity::authenticate(&state.db, &state.settings, token).await? else {
        return Err(AppError::Unauthenticated);
    };
    let had_home = user.home_account_id.is_some();
    let viewer = Viewer::load(&state.db, user).await?;
    if had_home && viewer.home_account_id.is_none() {
        // The login's account was deactivated ("removed"): it may not sign in.
        return Err(AppError::Unauthenticated);
    }
    Ok(Some((viewer, session.id)))
}

fn error_response(err: AppError) -> Response {
    let status = match err {
        AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
        _ => StatusCode::OK,
    };
    let gql_err: async_graphql::Error = err.into();
    let server_error: ServerError = gql_err.into_server_error(async_graphql::Pos::default());
    let mut response = async_graphql::Response::from_errors(vec![server_error]);
    response.http_headers = Default::default();
    (status, GraphQLResponse::from(response)).into_response()
}

async fn execute(state: HttpState, headers: HeaderMap, client: String, request: GraphQLRequest) -> Response {
    let request_id = new_request_id();
    let span = tracing::info_span!("graphql", request_id = %request_id);
    let _entered = span.enter();
    drop(_entered);
    REQUEST_ID
        .scope(request_id, async move {
            let viewer = match viewer_for_token(&state.app, bearer_token(&headers)).await {
                Ok(v) => v,
                Err(err) => return error_response(err),
            };
            let (viewer, session_id) = match viewer {
                Some((v, s)) => (Some(v), Some(s)),
                None => (None, None),
            };
            let context = RequestContext::new(&state.app, viewer, session_id, client);
            let request = request.into_inner().data(context);
            // Unconstrained: tokio's cooperative budget would otherwise make a wide level
            // of the tree yield halfway through queueing its loader keys, splitting one
            // batch into several statements. Every await in here is real I/O anyway.
            let mut response = tokio::task::unconstrained(state.schema.execute(request)).await;
            give_every_error_a_code(&mut response);
            crate::metrics::count_request(!response.errors.is_empty());
            GraphQLResponse::from(response).into_response()
        })
        .await
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

fn client_of(request: &axum::extract::Request) -> String {
    client_address(request.extensions().get::<ConnectInfo<SocketAddr>>())
}

async fn graphql_post(State(state): State<HttpState>, request: axum::extract::Request) -> Response {
    let headers = request.headers().clone();
    // Only JSON bodies execute: forms and plain text are what a cross-site page can send
    // without a preflight, so refusing them closes the CSRF door.
    if !is_json(&headers) {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "send application/json").into_response();
    }
    let client = client_of(&request);
    // Read the body here, so an oversized one is a clear 413 (the GraphQL extractor
    // would turn the limit error into a 400).
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "request body over 1 MiB").into_response(),
    };
    let request = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
    let request: GraphQLRequest = match GraphQLRequest::from_request(request, &()).await {
        Ok(request) => request,
        Err(rejection) => return rejection.into_response(),
    };
    execute(state, headers, client, request).await
}

async fn graphql_get(State(state): State<HttpState>, request: axum::extract::Request) -> Response {
    let headers = request.headers().clone();
    let client = client_of(&request);
    let (mut parts, body) = request.into_parts();
    if headers.contains_key(header::UPGRADE) {
        let protocol = GraphQLProtocol::from_request_parts(&mut parts, &()).await;
        let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &()).await;
        return match (upgrade, protocol) {
            (Ok(upgrade), Ok(protocol)) => subscribe(state, upgrade, protocol, client),
            (Err(rejection), _) => rejection.into_response(),
            (_, Err(rejection)) => rejection.into_response(),
        };
    }
    let request = axum::extract::Request::from_parts(parts, body);
    let request: GraphQLRequest = match GraphQLRequest::from_request(request, &()).await {
        Ok(request) => request,
        Err(rejection) => return rejection.into_response(),
    };
    if !is_query_only(&request.0) {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")], "mutations need POST").into_response();
    }
    execute(state, headers, client, request).await
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

fn subscribe(state: HttpState, upgrade: WebSocketUpgrade, protocol: GraphQLProtocol, client: String) -> Response {
    let app = state.app.clone();
    upgrade.protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS).on_upgrade(move |stream| {
        GraphQLWebSocket::new(stream, state.schema.clone(), protocol)
            .on_connection_init(move |payload| async move {
                let token = payload
                    .get("Authorization")
                    .or_else(|| payload.get("authorization"))
                    .and_then(|v| v.as_str())
                    .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).to_owned())
                    .or_else(|| payload.get("token").and_then(|v| v.as_str()).map(str::to_owned));
                let viewer = viewer_for_token(&app, token.as_deref()).await?;
                let (viewer, session_id) = match viewer {
                    Some((v, s)) => (Some(v), Some(s)),
                    None => (None, None),
                };
                let mut data = Data::default();
                data.insert(RequestContext::new(&app, viewer, session_id, client));
                Ok(data)
            })
            .serve()
    })
}
