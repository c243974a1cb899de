//! The tools people point at a GraphQL API (issue 15): GraphiQL, codegen and clients.

use serde_json::json;

use canopy::config::{Profile, ServerOptions};

use crate::helpers::{TestApp, error_code};

/// graphql-js 16.15's `getIntrospectionQuery()`, byte for byte (what GraphiQL, graphql-codegen,
/// Apollo Rover, Postman and Insomnia send).
const INTROSPECTION: &str = include_str!("../fixtures/graphql-js-16-introspection-query.graphql");

#[tokio::test]
async fn graphql_js_s_standard_introspection_query_answers_in_development() {
    let app = TestApp::spawn().await;
    let body = app.gql(None, INTROSPECTION, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    let types = body["data"]["__schema"]["types"].as_array().unwrap();
    let account = types.iter().find(|t| t["name"] == "Account").expect("Account in the schema");
    assert!(account["fields"].as_array().unwrap().iter().any(|f| f["name"] == "secondaries"));
    assert!(account["description"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], json!("QueryRoot"));
}

#[tokio::test]
async fn introspection_is_for_staff_in_production_and_other_queries_keep_their_depth_limit() {
    let app = TestApp::with_server_options(ServerOptions { profile: Profile::Production, ..Default::default() }).await;
    let anonymous = app.gql(None, INTROSPECTION, json!({})).await;
    assert!(anonymous["data"]["__schema"].is_null(), "{anonymous}");
    let staff = app.staff_token().await;
    let allowed = app.gql(Some(&staff), INTROSPECTION, json!({})).await;
    assert!(allowed.get("errors").is_none(), "{allowed}");
    assert!(allowed["data"]["__schema"]["types"].as_array().is_some_and(|t| t.len() > 50));
    // The deeper limit is only for introspection: a data query 14 levels deep is refused.
    let deep = "{ viewer { accounts { edges { node { secondaries { edges { node { parent { secondaries { edges { node { parent { id } } } } } } } } } } } } }";
    let refused = app.gql(Some(&staff), deep, json!({})).await;
    assert_eq!(error_code(&refused), Some("QUERY_TOO_COMPLEX"), "{refused}");
    // Neither may a query hide data fields behind `__schema` at the top level.
    let mixed = format!("{{ __typename {} }}", &deep[1..deep.len() - 1]);
    let refused = app.gql(Some(&staff), &mixed, json!({})).await;
    assert_eq!(error_code(&refused), Some("QUERY_TOO_COMPLEX"), "{refused}");
}

mod close_codes {
    use std::time::Duration;

    use futures_util::{SinkExt, StreamExt};
    use serde_json::json;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    use crate::helpers::TestApp;

    type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

    async fn connect(app: &TestApp) -> Socket {
        let addr = app.serve().await;
        let mut request = format!("ws://{addr}/graphql").into_client_request().unwrap();
        request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
        tokio_tungstenite::connect_async(request).await.unwrap().0
    }

    async fn send(socket: &mut Socket, message: serde_json::Value) {
        socket.send(Message::Text(message.to_string().into())).await.unwrap();
    }

    /// Reads until the server closes; returns the close code.
    async fn close_code(socket: &mut Socket) -> u16 {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("closed in time") {
                Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
                Some(Ok(_)) => continue,
                other => panic!("no close frame: {other:?}"),
            }
        }
    }

    async fn acknowledged(app: &TestApp, token: &str) -> Socket {
        let mut socket = connect(app).await;
        send(&mut socket, json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}}))
            .await;
        let ack = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.unwrap().unwrap().unwrap();
        assert!(ack.to_text().unwrap().contains("connection_ack"), "{ack:?}");
        socket
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn graphql_transport_ws_close_codes_are_the_protocol_s() {
        let app = TestApp::spawn().await;
        let (_, owner) = app.enrolled_account("Codes Holder", "codes-owner").await;
        let subscribe = |id: &str| json!({"id": id, "type": "subscribe", "payload": {"query": "subscription { invoiceIssued { id } }"}});

        // 4400: a message that is not one of the protocol's.
        let mut socket = connect(&app).await;
        socket.send(Message::Text("this is not json".into())).await.unwrap();
        assert_eq!(close_code(&mut socket).await, 4400);
        // 4401: subscribe before connection_ack.
        let mut socket = connect(&app).await;
        send(&mut socket, subscribe("1")).await;
        assert_eq!(close_code(&mut socket).await, 4401);
        // 4403: connection_init with a token that is no session.
        let mut socket = connect(&app).await;
        send(&mut socket, json!({"type": "connection_init", "payload": {"Authorization": "Bearer cnp_wrong"}})).await;
        assert_eq!(close_code(&mut socket).await, 4403);
        // 4409: a second subscribe with the id of a running one.
        let mut socket = acknowledged(&app, &owner).await;
        send(&mut socket, subscribe("same")).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        send(&mut socket, subscribe("same")).await;
        assert_eq!(close_code(&mut socket).await, 4409);
        // An id may be used again once its operation completed.
        let mut socket = acknowledged(&app, &owner).await;
        send(&mut socket, subscribe("again")).await;
        send(&mut socket, json!({"id": "again", "type": "complete"})).await;
        send(&mut socket, subscribe("again")).await;
        send(&mut socket, json!({"type": "ping"})).await;
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.unwrap().unwrap().unwrap();
            let text = frame.to_text().unwrap().to_owned();
            assert!(!frame.is_close(), "still open: {frame:?}");
            if text.contains("pong") {
                break;
            }
        }
        // 4429: a second connection_init.
        send(&mut socket, json!({"type": "connection_init", "payload": {}})).await;
        assert_eq!(close_code(&mut socket).await, 4429);
    }

    #[tokio::test]
    async fn a_multipart_post_is_refused_with_415_not_a_reset() {
        use axum::body::Body;
        use axum::http::{Request, StatusCode};
        let app = TestApp::spawn().await;
        let boundary = "XyZ";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{{\"query\":\"{{ __typename }}\"}}\r\n--{boundary}--\r\n"
        );
        let request = Request::post("/graphql")
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(Body::from(body))
            .unwrap();
        let (status, answer) = app.send(request, "127.0.0.1:1").await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{answer}");
        // And over a real socket, so a reset would show.
        let addr = app.serve().await;
        let response = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            let big = "x".repeat(900 * 1024);
            let head = format!(
                "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                big.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            let _ = stream.write_all(big.as_bytes());
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            answer
        })
        .await
        .unwrap();
        assert!(response.starts_with("HTTP/1.1 415"), "{response}");
    }
}

mod trusted_documents {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use serde_json::{Value, json};

    use canopy::config::ServerOptions;
    use canopy::trusted_documents::{TrustedDocuments, document_hash};

    use crate::helpers::{TestApp, error_code};

    const CATALOGUE: &str = "query Catalogue { products { code } }";
    const VIEWER: &str = "query Me { viewer { loginName } }";

    fn options(only: bool) -> ServerOptions {
        let manifest = json!({
            format!("sha256:{}", document_hash(CATALOGUE)): CATALOGUE,
            document_hash(VIEWER): VIEWER,
        });
        let documents = TrustedDocuments::from_json(&manifest.to_string(), only).unwrap();
        ServerOptions { trusted_documents: Some(Arc::new(documents)), ..Default::default() }
    }

    async fn app(only: bool) -> TestApp {
        TestApp::with_server_options(options(only)).await
    }

    async fn post(app: &TestApp, token: Option<&str>, body: Value) -> Value {
        let mut request = Request::post("/graphql").header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        app.send(request.body(Body::from(body.to_string())).unwrap(), "127.0.0.1:1").await.1
    }

    #[test]
    fn a_manifest_whose_ids_are_not_its_documents_hashes_is_refused() {
        let wrong = json!({format!("sha256:{}", document_hash("{ a }")): "{ b }"});
        assert!(TrustedDocuments::from_json(&wrong.to_string(), false).is_err());
        assert!(TrustedDocuments::from_json("[1, 2]", false).is_err());
    }

    #[tokio::test]
    async fn documents_are_named_by_document_id_or_apollo_s_persisted_query_hash() {
        let app = app(false).await;
        let by_id = post(&app, None, json!({"documentId": format!("sha256:{}", document_hash(CATALOGUE))})).await;
        assert!(by_id["data"]["products"].as_array().is_some_and(|p| !p.is_empty()), "{by_id}");
        let apollo = json!({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": document_hash(CATALOGUE)}}});
        assert_eq!(post(&app, None, apollo).await["data"], by_id["data"]);
        let unknown = post(&app, None, json!({"documentId": format!("sha256:{}", "0".repeat(64))})).await;
        assert_eq!(error_code(&unknown), Some("PERSISTED_QUERY_NOT_FOUND"), "{unknown}");
        // Without --only-trusted-documents, any document still runs.
        let free = post(&app, None, json!({"query": "{ products { name } }"})).await;
        assert!(free["data"]["products"].is_array(), "{free}");

        // GET naming a trusted document: cacheable.
        let path = format!("/graphql?documentId=sha256:{}", document_hash(CATALOGUE));
        let response = tower::ServiceExt::oneshot(app.router.clone(), Request::get(&path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["cache-control"], "public, max-age=60");
        assert_eq!(response.headers()["vary"], "Authorization");
    }

    #[tokio::test]
    async fn only_trusted_documents_refuses_others_but_staff() {
        // Sign-ups happen through a server without the restriction; the SPA's server
        // beside it, on the same database, runs only the manifest.
        let setup = app(false).await;
        let (_, owner) = setup.enrolled_account("Trusted Holder", "trusted-owner").await;
        let staff = setup.staff_token().await;
        let mut settings = crate::helpers::test_settings();
        settings.server = options(true);
        let app = TestApp::beside(&setup, settings).await;
        let named = post(&app, Some(&owner), json!({"documentId": document_hash(VIEWER)})).await;
        assert_eq!(named["data"]["viewer"]["loginName"], json!("trusted-owner"), "{named}");
        // The same text sent in full is one of them too.
        let full = post(&app, Some(&owner), json!({"query": VIEWER})).await;
        assert_eq!(full["data"], named["data"]);
        // Anything else, from a customer or anonymous: refused before it runs.
        let attack = json!({"query": "{ viewer { accounts(first: 100) { edges { node { id } } } } }"});
        assert_eq!(error_code(&post(&app, Some(&owner), attack.clone()).await), Some("FORBIDDEN"));
        assert_eq!(error_code(&post(&app, None, attack.clone()).await), Some("FORBIDDEN"));
        // Staff's admin tools send their own documents.
        let allowed = post(&app, Some(&staff), attack).await;
        assert!(allowed.get("errors").is_none(), "{allowed}");

        // Over a websocket too: an untrusted subscription is refused, a named one runs.
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let addr = app.serve().await;
        let mut request = format!("ws://{addr}/graphql").into_client_request().unwrap();
        request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let send = |m: Value| Message::Text(m.to_string().into());
        socket
            .send(send(json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {owner}")}})))
            .await
            .unwrap();
        let mut answers = Vec::new();
        let untrusted =
            json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription { invoiceIssued { id } }"}});
        while answers.len() < 2 {
            let frame = tokio::time::timeout(std::time::Duration::from_secs(5), socket.next()).await.unwrap();
            if let Some(Ok(Message::Text(text))) = frame {
                answers.push(serde_json::from_str::<Value>(&text).unwrap());
                if answers.len() == 1 {
                    assert_eq!(answers[0]["type"], json!("connection_ack"));
                    socket.send(send(untrusted.clone())).await.unwrap();
                }
            }
        }
        assert_eq!(answers[1]["payload"]["errors"][0]["extensions"]["code"], json!("FORBIDDEN"), "{answers:?}");
    }
}

/// OpenTelemetry: a small OTLP/HTTP receiver (JSON encoding) collects what a real
/// `canopy serve` exports, and the spans of one request form one trace under the
/// caller's `traceparent`: HTTP request → GraphQL operation → each SQL statement.
mod opentelemetry {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use axum::routing::post;
    use serde_json::{Value, json};

    use crate::helpers::TestApp;

    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const CALLER_SPAN: &str = "00f067aa0ba902b7";

    /// Every span the receiver got, flattened.
    async fn start_receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
        let spans: Arc<Mutex<Vec<Value>>> = Arc::default();
        let store = spans.clone();
        let receiver = axum::Router::new().route(
            "/v1/traces",
            post(move |body: axum::body::Bytes| {
                let store = store.clone();
                async move {
                    let export: Value = serde_json::from_slice(&body).expect("OTLP JSON");
                    let mut store = store.lock().expect("lock");
                    for resource in export["resourceSpans"].as_array().into_iter().flatten() {
                        for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                            store.extend(scope["spans"].as_array().into_iter().flatten().cloned());
                        }
                    }
                    axum::Json(json!({}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, receiver).await });
        (format!("http://{address}"), spans)
    }

    fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
        let attributes = span["attributes"].as_array()?;
        attributes.iter().find(|a| a["key"] == key).map(|a| &a["value"])
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spans_for_the_request_the_operation_and_each_statement_continue_the_callers_trace() {
        let (endpoint, spans) = start_receiver().await;
        let app = TestApp::spawn().await;
        let env = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ];
        let server = crate::processes::start_server_with_env(&app.database_url, &["--no-demo"], &env).await;
        let answer: Value = post_with_traceparent(
            server.port,
            None,
            &format!("00-{TRACE_ID}-{CALLER_SPAN}-01"),
            r#"mutation SignIn { login(input: {loginName: "nobody", password: "not-a-password"}) { token userErrors { code } } }"#,
        )
        .await;
        assert_eq!(answer["data"]["login"]["token"], Value::Null, "{answer}");

        // The batch processor sends every 100 ms; give it a few seconds.
        let mut trace = Vec::new();
        for _ in 0..100 {
            trace = spans.lock().expect("lock").iter().filter(|s| s["traceId"] == TRACE_ID).cloned().collect();
            // The HTTP request's span ends last.
            if trace.iter().any(|s| s["name"] == "POST /graphql") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let named = |prefix: &str| -> Vec<Value> {
            trace.iter().filter(|s| s["name"].as_str().is_some_and(|n| n.starts_with(prefix))).cloned().collect()
        };
        let http = named("POST /graphql");
        assert_eq!(http.len(), 1, "one HTTP span in {trace:#?}");
        assert_eq!(http[0]["parentSpanId"], CALLER_SPAN, "the HTTP span continues the caller's span");
        assert_eq!(attribute(&http[0], "http.response.status_code").and_then(|v| v["intValue"].as_str()), Some("200"));
        let operation = named("graphql SignIn");
        assert_eq!(operation.len(), 1, "one operation span in {trace:#?}");
        assert_eq!(operation[0]["parentSpanId"], http[0]["spanId"]);
        let statements = named("sea_orm");
        assert!(!statements.is_empty(), "SQL spans in {trace:#?}");
        let mut selects = 0;
        for statement in &statements {
            assert_eq!(statement["parentSpanId"], operation[0]["spanId"], "{statement:#}");
            let sql = attribute(statement, "db.statement").and_then(|v| v["stringValue"].as_str()).unwrap_or_default();
            selects += usize::from(sql.starts_with("SELECT"));
            assert!(!sql.contains("nobody") && !sql.contains("not-a-password"), "values stay out of spans: {sql}");
        }
        assert!(selects >= 1, "the login's lookup is among the statements: {statements:#?}");

        // A signed-in read: its loaders' batches run in tasks of their own, and their
        // statements still belong to the operation.
        let (_, token) = app.enrolled_account("Traced", "traced").await;
        let second_trace = "0af7651916cd43dd8448eb211c80319c";
        let answer = post_with_traceparent(
            server.port,
            Some(&token),
            &format!("00-{second_trace}-b7ad6b7169203331-01"),
            "query Mine { viewer { accounts(first: 5) { edges { node { holderName product { name } parent { holderName } } } } } }",
        )
        .await;
        assert_eq!(answer["data"]["viewer"]["accounts"]["edges"][0]["node"]["holderName"], "Traced", "{answer}");
        let mut trace = Vec::new();
        for _ in 0..100 {
            trace = spans.lock().expect("lock").iter().filter(|s| s["traceId"] == second_trace).cloned().collect();
            if trace.iter().any(|s| s["name"] == "POST /graphql") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let operation = trace.iter().find(|s| s["name"] == "graphql Mine").expect("the operation's span");
        let statements: Vec<&Value> =
            trace.iter().filter(|s| s["name"].as_str().is_some_and(|n| n.starts_with("sea_orm"))).collect();
        let mut products = 0;
        for statement in &statements {
            assert_eq!(statement["parentSpanId"], operation["spanId"], "{statement:#}");
            let sql = attribute(statement, "db.statement").and_then(|v| v["stringValue"].as_str()).unwrap_or_default();
            products += usize::from(sql.contains("FROM \"products\""));
        }
        assert_eq!(products, 1, "the products' batch is in the trace: {statements:#?}");

        // Nothing the server does outside a request (outbox, metrics upkeep) starts a
        // trace of SQL statements of its own.
        let all = spans.lock().expect("lock").clone();
        let orphans = all.iter().filter(|s| {
            s["name"].as_str().is_some_and(|n| n.starts_with("sea_orm"))
                && s["parentSpanId"].as_str().is_none_or(str::is_empty)
        });
        assert_eq!(orphans.count(), 0);
        drop(server);
    }

    /// POSTs over a plain TCP connection with a `traceparent` header (the test crate has
    /// no HTTP client; hyper's is what axum uses anyway).
    async fn post_with_traceparent(port: u16, token: Option<&str>, traceparent: &str, query: &str) -> Value {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let body = json!({"query": query}).to_string();
        let authorization = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let request = format!(
            "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{authorization}traceparent: {traceparent}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        let (_, body) = response.split_once("\r\n\r\n").expect("a body");
        serde_json::from_str(body.trim()).expect("JSON body")
    }
}
