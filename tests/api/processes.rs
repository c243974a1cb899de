//! Several server processes on one PostgreSQL database: a change made through one
//! reaches a websocket subscriber connected to another.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::family::link;
use crate::helpers::{TestApp, fresh_postgres_database, require_postgres};

/// A `canopy serve` child process, killed when dropped.
pub struct ServerProcess {
    pub child: Child,
    pub port: u16,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

pub async fn start_server(database_url: &str) -> ServerProcess {
    start_server_with(database_url, &["--no-demo"]).await
}

/// A `canopy serve` with more arguments (a profile, ...); returns once it listens.
pub async fn start_server_with(database_url: &str, arguments: &[&str]) -> ServerProcess {
    start_server_with_env(database_url, arguments, &[]).await
}

/// Like `start_server_with`, with more environment variables.
pub async fn start_server_with_env(database_url: &str, arguments: &[&str], env: &[(&str, &str)]) -> ServerProcess {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_canopy"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(arguments)
        .envs(env.iter().copied())
        .env("DATABASE_URL", database_url)
        .env("CANOPY_SECRET", "test-secret-test-secret-test-secret!")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start canopy");
    let server = ServerProcess { child, port };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("canopy did not start on port {port}");
}

async fn next_json<S>(socket: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let message = tokio::time::timeout(Duration::from_secs(15), socket.next()).await.expect("a message in time");
        match message.expect("socket open").expect("a frame") {
            Message::Text(text) => return serde_json::from_str(&text).expect("json"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_process_reaches_a_subscriber_on_another() {
    let Some(server) = require_postgres("a_change_through_one_process_reaches_a_subscriber_on_another") else { return };
    let url = fresh_postgres_database(&server).await;
    // Process one: the test's own app, which makes the change.
    let app = TestApp::on_url(url.clone(), None).await;
    let (main, owner) = app.enrolled_account("Main", "cross").await;
    let target = app.create_account("Target").await;
    // Process two: a real `canopy serve` on the same database, holding the subscription.
    let other = start_server(&url).await;

    let mut request = format!("ws://127.0.0.1:{}/graphql", other.port).into_client_request().expect("request");
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().expect("header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("websocket");
    let init = json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {owner}")}});
    socket.send(Message::Text(init.to_string().into())).await.expect("send");
    assert_eq!(next_json(&mut socket).await["type"], json!("connection_ack"));
    let query = format!(
        "subscription {{ accountTreeChanged(mainAccountId: \"{}\") {{ kind account {{ customerNumber }} }} }}",
        main.id
    );
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {"query": query}});
    socket.send(Message::Text(subscribe.to_string().into())).await.expect("send");
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(link(&app, &owner, &main, &target).await["userErrors"], json!([]));
    let event = next_json(&mut socket).await;
    assert_eq!(event["type"], json!("next"), "{event}");
    assert_eq!(
        event["payload"]["data"]["accountTreeChanged"],
        json!({"kind": "ATTACHED", "account": {"customerNumber": target.customer_number}})
    );
}
