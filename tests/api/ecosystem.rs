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
