//! Behaviour under abuse and malformed input: limits, GraphQL over HTTP, profiles, rate
//! limits, websockets.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use canopy::config::{Profile, ServerOptions};
use canopy::rate_limit::Rate;

use crate::helpers::{TestApp, error_code};

fn post_json(body: String, accept: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/graphql").header("content-type", "application/json");
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    request.body(Body::from(body)).unwrap()
}

#[tokio::test]
async fn too_deep_too_wide_and_too_many_aliases_are_refused() {
    let app = TestApp::spawn().await;
    let staff = app.staff_token().await;
    let deep = format!("{{ viewer {{ homeAccount {} {{ id }} {} }} }}", "{ parent ".repeat(12), "}".repeat(12));
    let body = app.gql(Some(&staff), &deep, json!({})).await;
    assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "{body}");
    let wide = format!("{{ {} }}", "__typename ".repeat(1001));
    let body = app.gql(Some(&staff), &wide, json!({})).await;
    assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "__typename counts: {body}");
    let aliases: String = (0..101).map(|n| format!("a{n}: __typename ")).collect();
    let body = app.gql(Some(&staff), &format!("{{ {aliases} }}"), json!({})).await;
    assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "{body}");
    let costly = "{ viewer { accounts(first: 100) { edges { node { secondaries(first: 100) { edges { node { invoices(first: 100) { edges { node { lines { description } } } } } } } } } } } }";
    let body = app.gql(Some(&staff), costly, json!({})).await;
    assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "{body}");
}

#[tokio::test]
async fn the_spa_tree_query_stays_inside_every_limit() {
    let app = TestApp::spawn().await;
    let staff = app.staff_token().await;
    let tree = "{ viewer { accounts(first: 20) { edges { cursor node { id customerNumber friendlyName role status billingMode
        group { id name } openBalance { amountCents currency }
        invoices(first: 5) { edges { node { id number status totalCents currency dueAt } } }
        secondaries(first: 25) { edges { node { id customerNumber friendlyName role status billingMode group { id name }
            openBalance { amountCents currency } invoices(first: 5) { edges { node { id number status totalCents currency dueAt } } } } } }
    } } pageInfo { hasNextPage endCursor } } } }";
    app.data(Some(&staff), tree, json!({})).await;
}

#[tokio::test]
async fn json_array_batches_are_refused() {
    let app = TestApp::spawn().await;
    let batch = json!([{"query": "{ products { code } }"}, {"query": "{ products { code } }"}]).to_string();
    let (status, _) = app.send(post_json(batch, None), "127.0.0.1:1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// The body is parsed once (`graphql_post`): a body of the wrong shape gets the fixed
/// malformed-request answer, no Rust text; `documentId` counts only as the body's own
/// key, not as a word inside the document or a variable.
#[tokio::test]
async fn post_bodies_of_the_wrong_shape_get_one_fixed_answer_and_only_a_top_level_document_id_names_a_document() {
    let app = TestApp::spawn().await;
    for body in [
        json!({"query": 5}).to_string(),
        json!({"query": "{ products { code } }", "variables": "x"}).to_string(),
        json!({"query": "{ products { code } }", "operationName": ["a"]}).to_string(),
        "{\"query\": \"{ products { code } }\"".to_owned(),
        "\"documentId\"".to_owned(),
    ] {
        let (status, answer) = app.send(post_json(body.clone(), None), "127.0.0.1:1").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(error_code(&answer), Some("GRAPHQL_VALIDATION_FAILED"), "{body}: {answer}");
        let text = answer.to_string();
        assert!(!text.contains("Error(") && !text.contains("invalid type"), "no Rust or serde text: {text}");
    }
    let worded = json!({
        "query": "{ products { code } documentId: __typename }",
        "extensions": {"client": {"documentId": format!("sha256:{}", "0".repeat(64))}},
    });
    let (status, answer) = app.send(post_json(worded.to_string(), None), "127.0.0.1:1").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"]["documentId"], "QueryRoot", "the word in the document named nothing: {answer}");
    // A documentId that is not a string names nothing: the query in the body runs.
    let odd = json!({"documentId": 7, "query": "{ products { code } }"});
    let (status, answer) = app.send(post_json(odd.to_string(), None), "127.0.0.1:1").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer["data"]["products"].is_array(), "{answer}");
}

#[tokio::test]
async fn graphql_response_json_is_negotiated_with_the_spec_s_status_codes() {
    let app = TestApp::spawn().await;
    let media = "application/graphql-response+json";
    let ok = json!({"query": "{ products { code } }"}).to_string();
    let response = tower::ServiceExt::oneshot(app.router.clone(), post_json(ok.clone(), Some(media))).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], media);
    let invalid = json!({"query": "{ nope }"}).to_string();
    let response =
        tower::ServiceExt::oneshot(app.router.clone(), post_json(invalid.clone(), Some(media))).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response =
        tower::ServiceExt::oneshot(app.router.clone(), post_json(invalid, Some("application/json"))).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn malformed_scalars_are_validation_errors() {
    let app = TestApp::spawn().await;
    let staff = app.staff_token().await;
    for (query, variables) in [
        ("query($d: Date!) { __typename @include(if: true) } ", json!({"d": "2026-13-45"})),
        ("mutation($c: Cents!) { __typename }", json!({"c": "12"})),
        ("mutation($c: Cents!) { __typename }", json!({"c": 1e30})),
        ("query($id: ID!) { node(id: $id) { id } }", json!({"id": 12.5})),
    ] {
        let body = app.gql(Some(&staff), query, variables).await;
        assert_eq!(error_code(&body), Some("GRAPHQL_VALIDATION_FAILED"), "{query}: {body}");
    }
}

#[tokio::test]
async fn clients_over_their_rate_get_429_with_retry_after() {
    let options = ServerOptions { rate_per_client: Rate { per_second: 0.5, burst: 3.0 }, ..ServerOptions::default() };
    let app = TestApp::with_server_options(options).await;
    for _ in 0..3 {
        let (status, _) = app.post_from(None, "{ products { code } }", json!({}), "10.2.0.1:1").await;
        assert_eq!(status, StatusCode::OK);
    }
    let body = json!({"query": "{ products { code } }"}).to_string();
    let mut request = post_json(body, None);
    request.extensions_mut().insert(axum::extract::ConnectInfo("10.2.0.1:1".parse::<std::net::SocketAddr>().unwrap()));
    let response = tower::ServiceExt::oneshot(app.router.clone(), request).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    let (status, body) = app.post_from(None, "{ products { code } }", json!({}), "10.2.0.1:1").await;
    assert_eq!((status, error_code(&body)), (StatusCode::TOO_MANY_REQUESTS, Some("RATE_LIMITED")));
    let (status, _) = app.post_from(None, "{ products { code } }", json!({}), "10.2.0.2:1").await;
    assert_eq!(status, StatusCode::OK, "another client is not affected");
}

#[tokio::test]
async fn users_over_their_rate_are_limited_across_addresses() {
    let options = ServerOptions { rate_per_user: Rate { per_second: 0.5, burst: 2.0 }, ..ServerOptions::default() };
    let app = TestApp::with_server_options(options).await;
    let (_, token) = app.enrolled_account("Busy", "busy").await;
    let mut statuses = Vec::new();
    for n in 0..4 {
        let (status, _) =
            app.post_from(Some(&token), "{ viewer { loginName } }", json!({}), &format!("10.3.0.{n}:1")).await;
        statuses.push(status);
    }
    assert_eq!(statuses[..2], [StatusCode::OK, StatusCode::OK]);
    assert!(statuses[2..].iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
}

#[tokio::test]
async fn production_hides_the_schema_from_anonymous_clients() {
    let options = ServerOptions { profile: Profile::Production, graphiql: false, ..ServerOptions::default() };
    let app = TestApp::with_server_options(options).await;
    let introspect = "{ __schema { queryType { name } } }";
    let anonymous = app.gql(None, introspect, json!({})).await;
    assert!(anonymous["errors"].is_array() || anonymous["data"]["__schema"].is_null(), "{anonymous}");
    let staff = app.staff_token().await;
    let allowed = app.data(Some(&staff), introspect, json!({})).await;
    assert_eq!(allowed["__schema"]["queryType"]["name"], json!("QueryRoot"));
    let typo = app.gql(None, "{ prodcts { code } }", json!({})).await;
    assert!(!typo.to_string().contains("Did you mean"), "no suggestions: {typo}");
    let (status, _) = app.send(Request::get("/").body(Body::empty()).unwrap(), "127.0.0.1:1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Development keeps them.
    let dev = TestApp::spawn().await;
    assert!(dev.gql(None, "{ prodcts { code } }", json!({})).await.to_string().contains("Did you mean"));
}

async fn websocket(
    addr: std::net::SocketAddr,
    origin: Option<&str>,
) -> Result<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>, StatusCode> {
    let mut request = format!("ws://{addr}/graphql").into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(StatusCode::from_u16(response.status().as_u16()).unwrap())
        }
        Err(other) => panic!("{other}"),
    }
}

#[tokio::test]
async fn websockets_check_the_origin() {
    let app = TestApp::spawn().await;
    let addr = app.serve().await;
    assert_eq!(websocket(addr, Some("https://evil.example")).await.err(), Some(StatusCode::FORBIDDEN));
    assert!(websocket(addr, Some(&format!("http://{addr}"))).await.is_ok(), "same origin");
    assert!(websocket(addr, None).await.is_ok(), "no origin: not a browser");
}

#[tokio::test]
async fn websockets_authenticate_in_connection_init_and_refuse_bad_tokens() {
    let app = TestApp::spawn().await;
    let addr = app.serve().await;
    let mut socket = websocket(addr, None).await.unwrap();
    let init = json!({"type": "connection_init", "payload": {"Authorization": "Bearer cnp_wrong"}});
    socket.send(Message::Text(init.to_string().into())).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.unwrap();
    match closed {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.reason.as_str(), "sign in first", "{frame:?}"),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn websocket_clients_that_never_initialise_are_dropped() {
    let app = TestApp::spawn().await;
    let addr = app.serve().await;
    let mut socket = websocket(addr, None).await.unwrap();
    let started = std::time::Instant::now();
    let end = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the server kept a silent client beyond 15 s");
    assert!(started.elapsed() >= Duration::from_secs(9));
}

#[tokio::test]
async fn metrics_count_requests_latency_lockouts_and_the_outbox() {
    let app = TestApp::spawn().await;
    app.gql(None, "query Catalogue { products { code } }", json!({})).await;
    let (status, body) = app.send(Request::get("/metrics").body(Body::empty()).unwrap(), "127.0.0.1:1").await;
    assert_eq!(status, StatusCode::OK);
    let text = body.as_str().unwrap().to_owned();
    for needle in [
        "canopy_http_graphql_requests_total{operation=\"Catalogue\",status=\"200\",outcome=\"ok\"}",
        "canopy_http_request_duration_seconds_bucket{operation=\"Catalogue\",le=\"+Inf\"}",
        "canopy_proof_lockouts_total",
        "canopy_outbox_backlog 0",
        "# TYPE canopy_websocket_connections gauge",
        "# TYPE canopy_hashing_queue_length gauge",
        "canopy_hashing_refused_total",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    if app.is_postgres() {
        assert!(text.contains("canopy_db_pool_connections"), "{text}");
        assert!(text.contains("canopy_db_read_pool_connections"), "{text}");
    }
}

#[tokio::test]
async fn websocket_messages_over_64_kib_close_the_connection() {
    let app = TestApp::spawn().await;
    let addr = app.serve().await;
    let mut socket = websocket(addr, None).await.unwrap();
    let huge = json!({"type": "connection_init", "payload": {"pad": "x".repeat(100 * 1024)}});
    let _ = socket.send(Message::Text(huge.to_string().into())).await;
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert!(end.is_ok(), "an oversized message must end the connection");
}

#[tokio::test]
async fn a_request_over_its_time_limit_is_cut_off_with_internal() {
    // The loaders wait 500 ms before their batch; the request may run 50 ms.
    let mut settings = crate::helpers::test_settings();
    settings.loader_delay = Duration::from_millis(500);
    settings.server = ServerOptions { request_timeout: Duration::from_millis(50), ..ServerOptions::default() };
    // Set up through an app without the limit, then ask through one with it: on a loaded
    // machine the setup's own requests could otherwise run out of time.
    let setup = TestApp::spawn().await;
    setup.create_account("Slow Holder").await;
    let staff = setup.staff_token().await;
    let app = TestApp::beside(&setup, settings).await;
    let body =
        app.gql(Some(&staff), "{ viewer { accounts { edges { node { product { code } } } } } }", json!({})).await;
    assert_eq!(error_code(&body), Some("INTERNAL"), "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("request id"), "{body}");
}

/// The complexity limit answers QUERY_TOO_COMPLEX because `graphql::limits` counts
/// complexity exactly as async-graphql does and checks first: a document of exactly
/// the limit (60,000) runs, and one of 60,003 is refused with the code. Were the two
/// counts to differ, the first would meet async-graphql's own check (uncoded text).
#[tokio::test]
async fn complexity_is_counted_as_the_engine_counts_it() {
    let app = TestApp::spawn().await;
    let staff = app.staff_token().await;
    // viewer { accounts(first: 100) { edges { node { secondaries(first: k) { edges { node { id } } } } } } }
    // costs 302 + 300k; viewer { accounts(first: m) { edges { node { id } } } } costs 2 + 3m.
    let nested = |alias: &str, k: u32| {
        format!(
            "{alias}: viewer {{ accounts(first: 100) {{ edges {{ node {{ secondaries(first: {k}) {{ edges {{ node {{ id }} }} }} }} }} }} }}"
        )
    };
    // The third page size is a variable: both counts read its value.
    let flat = "c: viewer { accounts(first: $m) { edges { node { id } } } }";
    let document = format!("query($m: Int) {{ {} {} {flat} }}", nested("a", 100), nested("b", 97));
    let at_limit = app.gql(Some(&staff), &document, json!({"m": 98})).await;
    assert!(at_limit.get("errors").is_none(), "30,302 + 29,402 + 296 = 60,000 runs: {at_limit}");
    let over = app.gql(Some(&staff), &document, json!({"m": 99})).await;
    assert_eq!(error_code(&over), Some("QUERY_TOO_COMPLEX"), "60,003 is refused with its code: {over}");
}

#[tokio::test]
async fn a_document_sent_again_is_checked_again_with_its_new_variables() {
    // The server parses a document's text once and reuses the parse; every limit and
    // rule that depends on the request's variables must still hold on the second send.
    let app = TestApp::spawn().await;
    let staff = app.staff_token().await;
    let paged = "query($n: Int, $m: Int) { viewer { accounts(first: $n) { edges { node {
        secondaries(first: $m) { edges { node { invoices(first: $m) { edges { node { lines { description } } } } } } } } } } } }";
    let small = app.gql(Some(&staff), paged, json!({"n": 2, "m": 2})).await;
    assert!(small.get("errors").is_none(), "{small}");
    let costly = app.gql(Some(&staff), paged, json!({"n": 100, "m": 100})).await;
    assert_eq!(error_code(&costly), Some("QUERY_TOO_COMPLEX"), "{costly}");
    // A variable of the wrong type, after the same text ran with a right one.
    let node = "query($id: ID!) { node(id: $id) { id } }";
    let fine = app.gql(Some(&staff), node, json!({"id": "QWNjb3VudDox"})).await;
    assert!(fine.get("errors").is_none(), "{fine}");
    let wrong = app.gql(Some(&staff), node, json!({"id": 12.5})).await;
    assert_eq!(error_code(&wrong), Some("GRAPHQL_VALIDATION_FAILED"), "{wrong}");
    // A NUL in a variable of a document that ran clean before.
    let login = "mutation($n: String!) { login(input: {loginName: $n, password: \"x\"}) { userErrors { code } } }";
    app.gql(None, login, json!({"n": "someone"})).await;
    let nul = app.gql(None, login, json!({"n": "some\u{0}one"})).await;
    assert_eq!(error_code(&nul), Some("INVALID_INPUT"), "{nul}");
    // @include with a variable decides per request.
    let include = "query($with: Boolean!) { viewer { isStaff loginName @include(if: $with) } }";
    let with = app.data(Some(&staff), include, json!({"with": true})).await;
    let without = app.data(Some(&staff), include, json!({"with": false})).await;
    assert_eq!(with["viewer"]["loginName"], json!(crate::helpers::STAFF_LOGIN));
    assert_eq!(without["viewer"], json!({"isStaff": true}));
}

#[tokio::test]
async fn a_websocket_message_larger_than_the_read_buffer_but_under_64_kib_is_served() {
    // The server reads websockets in 8 KiB chunks; a 40 KiB operation arrives in several
    // reads and is still one message, answered whole.
    let app = TestApp::spawn().await;
    let staff = app.staff_token().await;
    let addr = app.serve().await;
    let mut socket = websocket(addr, None).await.unwrap();
    let init = json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {staff}")}});
    socket.send(Message::Text(init.to_string().into())).await.unwrap();
    let ack = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.unwrap().unwrap().unwrap();
    assert!(ack.to_string().contains("connection_ack"), "{ack}");
    // A query padded with a 40 KiB comment: well over the read buffer, under the limit.
    let query = format!("{{ viewer {{ loginName }} }}\n#{}", "x".repeat(40 * 1024));
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {"query": query}});
    assert!(subscribe.to_string().len() > 5 * canopy::http::WS_READ_BUFFER_BYTES);
    socket.send(Message::Text(subscribe.to_string().into())).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.unwrap().unwrap().unwrap();
    let next: serde_json::Value = serde_json::from_str(&next.to_string()).unwrap();
    assert_eq!(next["payload"]["data"]["viewer"]["loginName"], json!(crate::helpers::STAFF_LOGIN), "{next}");
}
