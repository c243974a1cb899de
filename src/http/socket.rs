//! GraphQL over websockets (graphql-transport-ws and the older graphql-ws): every
//! operation and every event checks the socket's session again.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_graphql::Data;
use async_graphql::http::WebSocketProtocols;
use axum::extract::WebSocketUpgrade;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::HttpState;
use super::auth::viewer_for_token;
use crate::domain::access::Viewer;
use crate::domain::identity;
use crate::error::AppError;
use crate::graphql::context::{AppState, RequestContext};
use crate::graphql::limits::LimitedSchema;

/// The GraphQL subprotocol the client asked for (`Sec-WebSocket-Protocol`).
pub(super) fn websocket_protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    let offered = headers.get(header::SEC_WEBSOCKET_PROTOCOL)?.to_str().ok()?;
    offered.split(',').find_map(|p| p.trim().parse().ok())
}

/// Websocket frames larger than this close the connection.
pub const MAX_WS_MESSAGE_BYTES: usize = 64 * 1024;
/// The read buffer each websocket allocates up front. tungstenite's default is 128 KiB,
/// which made an idle subscription cost about 166 kB of server memory (bench/events.sh);
/// GraphQL messages from clients are small, and a larger frame (up to
/// `MAX_WS_MESSAGE_BYTES`) is still read whole, in several reads.
pub const WS_READ_BUFFER_BYTES: usize = 8 * 1024;
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

pub(super) fn subscribe(
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
        .read_buffer_size(WS_READ_BUFFER_BYTES)
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
                Some(id) => match identity::live_session(&app.reads, &app.settings, id).await {
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
                            let error = crate::error::coded_server_error(
                                "PersistedQueryNotFound",
                                crate::error::ErrorCode::PersistedQueryNotFound,
                            );
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
                    let now = identity::live_session(&app.reads, &app.settings, session_id).await;
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
