//! Faults on PostgreSQL: the database going away and coming back, a statement timeout, a
//! crash in the middle of a mutation, and a graceful stop that drains requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use sea_orm::{ConnectionTrait, Database, EntityTrait, PaginatorTrait, TransactionTrait};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use canopy::entity::{account, account_order};

use crate::helpers::{TestApp, error_code, fresh_postgres_database, require_postgres};
use crate::processes::start_server;

/// A TCP proxy in front of PostgreSQL that can cut every connection and refuse new ones.
struct CuttableProxy {
    port: u16,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl CuttableProxy {
    async fn start(upstream: &'static str) -> CuttableProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::new(Mutex::new(Vec::new()));
        let (up2, links2) = (up.clone(), links.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { return };
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused at once
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                links2.lock().await.push(link);
            }
        });
        CuttableProxy { port, up, links }
    }

    async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().await.drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

fn via_proxy(url: &str, port: u16) -> String {
    url.replace("127.0.0.1:5432", &format!("127.0.0.1:{port}")).replace("localhost:5432", &format!("127.0.0.1:{port}"))
}

async fn ready(app: &TestApp) -> StatusCode {
    app.send(Request::get("/readyz").body(Body::empty()).unwrap(), "127.0.0.1:1").await.0
}

/// `query` answered while the database is away: INTERNAL, no database text, within 8 s.
async fn fails_fast(app: &TestApp, token: Option<&str>, query: &str) {
    let started = Instant::now();
    let body = app.gql(token, query, json!({})).await;
    assert_eq!(error_code(&body), Some("INTERNAL"), "{body}");
    assert!(!body.to_string().to_lowercase().contains("connection"), "no database text reaches the client: {body}");
    assert!(started.elapsed() < Duration::from_secs(8), "failed fast: {:?}", started.elapsed());
}

/// The first answer to `query` without errors, asked every 200 ms for 20 s.
async fn answered_again(app: &TestApp, token: Option<&str>, query: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body = app.gql(token, query, json!({})).await;
        if body["errors"].is_null() {
            return body;
        }
        assert!(Instant::now() < deadline, "did not recover: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_database_goes_away_requests_fail_fast_and_the_server_recovers() {
    let Some(server) = require_postgres("when_the_database_goes_away_requests_fail_fast_and_the_server_recovers")
    else {
        return;
    };
    assert!(
        server.contains("127.0.0.1:5432") || server.contains("localhost:5432"),
        "the proxy test expects the local server"
    );
    let url = fresh_postgres_database(&server).await;
    let proxy = CuttableProxy::start("127.0.0.1:5432").await;
    let app = TestApp::on_url(via_proxy(&url, proxy.port), None).await;
    assert_eq!(ready(&app).await, StatusCode::OK);

    proxy.cut().await;
    assert_eq!(ready(&app).await, StatusCode::SERVICE_UNAVAILABLE);
    fails_fast(&app, None, "{ products { code } }").await;

    proxy.restore();
    answered_again(&app, None, "{ products { code } }").await;
    assert_eq!(ready(&app).await, StatusCode::OK);
}

/// The hot reads (the session and openItems, on connections of their own: `db::Reads`)
/// fail as fast as the rest while the database is away, with no database text, and come
/// back with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hot_reads_fail_fast_while_the_database_is_away_and_recover() {
    let Some(server) = require_postgres("the_hot_reads_fail_fast_while_the_database_is_away_and_recover") else {
        return;
    };
    let url = fresh_postgres_database(&server).await;
    let proxy = CuttableProxy::start("127.0.0.1:5432").await;
    let app = TestApp::on_url(via_proxy(&url, proxy.port), None).await;
    let (_, owner) = app.enrolled_account("Away Main", "away-owner").await;
    const ITEMS: &str = "{ openItems(first: 5) { totals { amountCents } edges { node { totalCents } } } }";
    let body = app.gql(Some(&owner), ITEMS, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");

    proxy.cut().await;
    // The first takes a pooled connection that was cut; the next ones open new ones,
    // which are refused.
    for _ in 0..3 {
        fails_fast(&app, Some(&owner), ITEMS).await;
    }

    proxy.restore();
    let body = answered_again(&app, Some(&owner), ITEMS).await;
    assert_eq!(body["data"]["openItems"]["edges"], json!([]), "{body}");
}

#[tokio::test]
async fn statements_have_a_timeout_on_postgres() {
    let Some(server) = require_postgres("statements_have_a_timeout_on_postgres") else { return };
    let app = TestApp::on_url(fresh_postgres_database(&server).await, None).await;
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, "SHOW statement_timeout"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<String>("", "statement_timeout").unwrap(), "15s");
    // The hot reads' own connections too.
    let show = sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, "SHOW statement_timeout");
    let rows = app.state.reads.fetch_all(show).await.unwrap();
    assert_eq!(rows[0].try_get::<String>("", "statement_timeout").unwrap(), "15s");
}

const ORDER: &str =
    "mutation { orderSecondaryAccount(input: {product: \"SHARED_MAIL\"}) { order { status } userErrors { code } } }";

async fn post_to(port: u16, token: &str, query: &str) -> reqwest_like::Response {
    reqwest_like::post(port, token, query).await
}

/// A minimal HTTP/1.1 client for the child process (keeps the test free of a client crate).
mod reqwest_like {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    pub struct Response {
        pub status: u16,
        pub body: String,
    }

    pub async fn post(port: u16, token: &str, query: &str) -> Response {
        let body = serde_json::json!({"query": query}).to_string();
        let request = format!(
            "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut raw = String::new();
        let _ = stream.read_to_string(&mut raw).await;
        let status = raw.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        Response { status, body }
    }
}

/// Holds an exclusive lock on the outbox, so an order blocks after writing its account,
/// group and order rows but before it can queue its mail and commit.
async fn block_outbox(url: &str) -> sea_orm::DatabaseTransaction {
    let db = Database::connect(url).await.unwrap();
    let txn = db.begin().await.unwrap();
    txn.execute_unprepared("LOCK TABLE outbox IN EXCLUSIVE MODE").await.unwrap();
    txn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_in_the_middle_of_a_mutation_leaves_nothing_half_written() {
    let Some(server) = require_postgres("a_crash_in_the_middle_of_a_mutation_leaves_nothing_half_written") else {
        return;
    };
    let url = fresh_postgres_database(&server).await;
    let app = TestApp::on_url(url.clone(), None).await;
    let (_, owner) = app.enrolled_account("Main", "crashy").await;
    let accounts_before = account::Entity::find().count(&app.db).await.unwrap();
    let mut child = start_server(&url).await;
    let blocker = block_outbox(&url).await;
    let port = child.port;
    let owner_token = owner.clone();
    let pending = tokio::spawn(async move { post_to(port, &owner_token, ORDER).await });
    // Wait until the order's transaction has written and is waiting on the outbox.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting = app
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND relation = 'outbox'::regclass",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the order never reached the outbox");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.child.kill().unwrap(); // SIGKILL: no cleanup runs
    child.child.wait().unwrap();
    blocker.rollback().await.unwrap();
    let _ = pending.await;
    // PostgreSQL rolled the dead connection's transaction back: no account, no order.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(account::Entity::find().count(&app.db).await.unwrap(), accounts_before);
    assert_eq!(account_order::Entity::find().count(&app.db).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_before_exit() {
    let Some(server) = require_postgres("sigterm_drains_in_flight_requests_before_exit") else { return };
    let url = fresh_postgres_database(&server).await;
    let app = TestApp::on_url(url.clone(), None).await;
    let (_, owner) = app.enrolled_account("Main", "drainy").await;
    let mut child = start_server(&url).await;
    let blocker = block_outbox(&url).await;
    let port = child.port;
    let pending = tokio::spawn(async move { post_to(port, &owner, ORDER).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = child.child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(child.child.try_wait().unwrap().is_none(), "still draining");
    blocker.commit().await.unwrap();
    let response = pending.await.unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(response.body.contains("PROVISIONED"), "{}", response.body);
    let status = child.child.wait().unwrap();
    assert!(status.success(), "clean exit: {status:?}");
}
