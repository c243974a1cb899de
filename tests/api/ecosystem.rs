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
