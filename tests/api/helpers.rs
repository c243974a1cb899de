//! `TestApp`: a fresh database per test, real migrations, the real router.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use tower::ServiceExt;

use canopy::config::{Secret, Settings};
use canopy::graphql::context::AppState;

pub const PASSWORD: &str = "correct-horse-battery";
pub const STAFF_LOGIN: &str = "staff.one";

/// The PostgreSQL server URL the tests may use, if any.
pub fn postgres_server() -> Option<String> {
    std::env::var("CANOPY_TEST_POSTGRES").ok().filter(|v| !v.is_empty())
}

/// For tests that only mean something on PostgreSQL: the server URL, or None after saying
/// so. Under CI=true a missing server fails the test instead.
pub fn require_postgres(test: &str) -> Option<String> {
    match postgres_server() {
        Some(url) => Some(url),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{test} needs PostgreSQL: set CANOPY_TEST_POSTGRES (CI must run it)")
        }
        None => {
            eprintln!("SKIPPED {test}: set CANOPY_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test to run it");
            None
        }
    }
}

static NEXT_DB: AtomicU64 = AtomicU64::new(0);
static CLEANED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

fn with_database(server_url: &str, database: &str) -> String {
    // Replace the path of the server URL (its database) and keep any query string.
    let (base, query) = match server_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server_url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[scheme_end..].find('/').map(|i| scheme_end + i).unwrap_or(base.len());
    let mut url = format!("{}/{database}", &base[..host_end]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

async fn drop_leftover_databases(server_url: &str) {
    let Ok(admin) = Database::connect(server_url).await else { return };
    let rows = admin
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT datname FROM pg_database WHERE datname LIKE 'canopy_t_%'",
        ))
        .await
        .unwrap_or_default();
    // Names carry their creation time: only databases from runs over an hour old are
    // dropped, so concurrent test runs on one server leave each other alone.
    let cutoff = unix_now().saturating_sub(3600);
    for row in rows {
        if let Ok(name) = row.try_get::<String>("", "datname")
            && name.split('_').nth(2).and_then(|t| t.parse::<u64>().ok()).is_none_or(|created| created < cutoff)
        {
            let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
        }
    }
}

/// Creates a fresh, empty PostgreSQL database and returns its URL.
pub async fn fresh_postgres_database(server_url: &str) -> String {
    let admin = Database::connect(server_url).await.expect("connect to CANOPY_TEST_POSTGRES");
    CLEANED
        .get_or_init(|| async {
            // Drop databases left by earlier runs of this suite, on a thread of its own so
            // no test waits for it.
            let server = server_url.to_owned();
            std::thread::spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
                runtime.block_on(drop_leftover_databases(&server));
            });
        })
        .await;
    let name = format!("canopy_t_{}_{}_{}", unix_now(), std::process::id(), NEXT_DB.fetch_add(1, Ordering::Relaxed));
    admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create test database");
    admin.close().await.ok();
    with_database(server_url, &name)
}

pub struct TestApp {
    pub router: Router,
    pub db: DatabaseConnection,
    pub state: AppState,
    pub database_url: String,
    statements: Arc<AtomicU64>,
    _dir: Option<tempfile::TempDir>,
}

pub fn test_settings() -> Settings {
    Settings::new(Secret::new(b"test-secret-test-secret-test-secret!".to_vec()))
}

/// The backend of the general suite: PostgreSQL when CANOPY_TEST_POSTGRES is set, unless
/// CANOPY_TEST_BACKEND=sqlite asks for SQLite (CI runs the suite both ways; tests that
/// only mean something on PostgreSQL still get their server then).
fn suite_postgres() -> Option<String> {
    if std::env::var("CANOPY_TEST_BACKEND").is_ok_and(|v| v == "sqlite") {
        return None;
    }
    postgres_server()
}

impl TestApp {
    /// A fresh database on the suite's backend.
    pub async fn spawn() -> TestApp {
        Self::with_settings(test_settings()).await
    }

    /// A fresh SQLite database, whatever the suite's backend.
    pub async fn sqlite() -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("canopy.db").display());
        Self::on_url(url, Some(dir)).await
    }

    /// A fresh database whose DataLoaders gather keys for `delay` before each batch.
    /// Statement-count tests use a long window: an unoptimised test build on a busy
    /// machine can take longer than the production window to queue a wide level's keys.
    pub async fn with_loader_delay(delay: std::time::Duration) -> TestApp {
        let mut settings = test_settings();
        settings.loader_delay = delay;
        Self::with_settings(settings).await
    }

    /// A fresh database with adjusted server options (profile, rate limits, ...).
    pub async fn with_server_options(options: canopy::config::ServerOptions) -> TestApp {
        let mut settings = test_settings();
        settings.server = options;
        Self::with_settings(settings).await
    }

    /// A fresh database on the suite's backend, with these settings.
    pub async fn with_settings(settings: Settings) -> TestApp {
        match suite_postgres() {
            Some(server) => Self::build(fresh_postgres_database(&server).await, None, settings).await,
            None => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("canopy.db").display());
                Self::build(url, Some(dir), settings).await
            }
        }
    }

    /// Serves the app on a loopback port (for websocket clients); returns the address.
    pub async fn serve(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = self.router.clone().into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        addr
    }

    pub async fn on_url(url: String, dir: Option<tempfile::TempDir>) -> TestApp {
        Self::build(url, dir, test_settings()).await
    }

    /// A second app on an existing test database (another server process, in effect).
    pub async fn beside(other: &TestApp, settings: Settings) -> TestApp {
        Self::build(other.database_url.clone(), None, settings).await
    }

    async fn build(url: String, dir: Option<tempfile::TempDir>, settings: Settings) -> TestApp {
        let mut db = canopy::db::connect_and_migrate(&url).await.expect("migrate");
        let statements = Arc::new(AtomicU64::new(0));
        let counter = statements.clone();
        let print = std::env::var("CANOPY_TEST_PRINT_SQL").is_ok();
        canopy::db::watch_statements(&mut db, move |statement| {
            counter.fetch_add(1, Ordering::Relaxed);
            if print {
                eprintln!("SQL: {}", statement.sql);
            }
        });
        canopy::seed::ensure_default_products(&db).await.expect("products");
        let state = canopy::state(db.clone(), settings);
        // The event relay only: tests drive the outbox worker themselves.
        state.events.start_postgres_relay(&state.db).await;
        let router = canopy::app(state.clone());
        TestApp { router, db, state, database_url: url, statements, _dir: dir }
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }

    /// SQL statements executed so far on this app's pool.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// POSTs a GraphQL document; returns the HTTP status and JSON body.
    pub async fn post(&self, token: Option<&str>, query: &str, variables: Value) -> (StatusCode, Value) {
        self.post_from(token, query, variables, "127.0.0.1:40000").await
    }

    /// Like `post`, from a given client address.
    pub async fn post_from(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
        client: &str,
    ) -> (StatusCode, Value) {
        let body = json!({"query": query, "variables": variables});
        let mut request = Request::post("/graphql").header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(Body::from(body.to_string())).expect("request");
        self.send(request, client).await
    }

    /// Sends any request; returns the status and the body as JSON (or a JSON string).
    pub async fn send(&self, mut request: Request<Body>, client: &str) -> (StatusCode, Value) {
        let addr: SocketAddr = client.parse().expect("client address");
        request.extensions_mut().insert(ConnectInfo(addr));
        let response = self.router.clone().oneshot(request).await.expect("router answers");
        let status = response.status();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }

    /// POSTs a document and returns the JSON body, asserting HTTP 200.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(token, query, variables).await;
        assert_eq!(status, StatusCode::OK, "unexpected status; body: {body}");
        body
    }

    /// Like `gql`, asserting there are no GraphQL errors, and returning `data`.
    pub async fn data(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let body = self.gql(token, query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// Starts a subscription as the holder of `token`; yields each event's `data`.
    pub async fn subscribe(&self, token: &str, document: &str) -> futures_util::stream::BoxStream<'static, Value> {
        let (viewer, session_id) =
            canopy::http::viewer_for_token(&self.state, Some(token)).await.expect("auth").expect("a viewer");
        let context = canopy::graphql::context::RequestContext::new(
            &self.state,
            Some(viewer),
            Some(session_id),
            "127.0.0.1".into(),
        );
        let schema = canopy::graphql::schema_builder().data(self.state.clone()).finish();
        let stream = schema.execute_stream(async_graphql::Request::new(document).data(context));
        let stream = futures_util::StreamExt::map(stream, |response| {
            assert!(response.errors.is_empty(), "subscription errors: {:?}", response.errors);
            response.data.into_json().expect("json")
        });
        // Let the subscription register before the caller acts.
        let mut stream = Box::pin(stream);
        let _ = tokio::time::timeout(std::time::Duration::from_millis(50), futures_util::StreamExt::next(&mut stream))
            .await;
        stream
    }

    /// A staff login (created on first use) and its token.
    pub async fn staff_token(&self) -> String {
        if canopy::domain::identity::find_by_login(&self.db, STAFF_LOGIN).await.expect("lookup").is_none() {
            canopy::domain::identity::create_staff(
                &self.db,
                &self.state.settings,
                STAFF_LOGIN,
                PASSWORD.to_owned(),
                "staff@example.com",
            )
            .await
            .expect("create staff");
        }
        self.login(STAFF_LOGIN, PASSWORD).await
    }

    /// Signs in and returns the bearer token.
    pub async fn login(&self, login_name: &str, password: &str) -> String {
        let data = self
            .data(
                None,
                "mutation($i: LoginInput!) { login(input: $i) { token userErrors { code message } } }",
                json!({"i": {"loginName": login_name, "password": password}}),
            )
            .await;
        data["login"]["token"].as_str().unwrap_or_else(|| panic!("login failed: {data}")).to_owned()
    }

    /// Staff create an account; returns (global id, customer number, enrollment token).
    pub async fn create_account(&self, holder_name: &str) -> CreatedAccount {
        let staff = self.staff_token().await;
        let data = self
            .data(
                Some(&staff),
                "mutation($i: AdminCreateAccountInput!) { adminCreateAccount(input: $i) { account { id customerNumber } enrollmentToken userErrors { code } } }",
                json!({"i": {"holderName": holder_name, "product": "MOBILE", "email": "holder@example.com"}}),
            )
            .await;
        let payload = &data["adminCreateAccount"];
        CreatedAccount {
            id: payload["account"]["id"].as_str().expect("id").to_owned(),
            customer_number: payload["account"]["customerNumber"].as_str().expect("number").to_owned(),
            enrollment_token: payload["enrollmentToken"].as_str().expect("token").to_owned(),
        }
    }

    /// Creates an account and enrolls a login for it; returns the account and the token.
    pub async fn enrolled_account(&self, holder_name: &str, login_name: &str) -> (CreatedAccount, String) {
        let account = self.create_account(holder_name).await;
        let data = self
            .data(
                None,
                "mutation($i: EnrollInput!) { enroll(input: $i) { token userErrors { code message } } }",
                json!({"i": {
                    "customerNumber": account.customer_number,
                    "enrollmentToken": account.enrollment_token,
                    "loginName": login_name,
                    "password": PASSWORD,
                    "email": format!("{login_name}@example.com"),
                }}),
            )
            .await;
        let token = data["enroll"]["token"].as_str().unwrap_or_else(|| panic!("enroll failed: {data}")).to_owned();
        (account, token)
    }

    /// The current enrollment token of an account, as staff read it.
    pub async fn current_enrollment_token(&self, account_id: &str) -> String {
        let staff = self.staff_token().await;
        let data = self
            .data(Some(&staff), "query($id: ID!) { account(id: $id) { enrollmentToken } }", json!({"id": account_id}))
            .await;
        data["account"]["enrollmentToken"].as_str().expect("token").to_owned()
    }
}

pub struct CreatedAccount {
    pub id: String,
    pub customer_number: String,
    pub enrollment_token: String,
}

/// The `userErrors[0].code` of a payload, or None.
pub fn user_error_code(payload: &Value) -> Option<&str> {
    payload["userErrors"].as_array().and_then(|errors| errors.first()).and_then(|e| e["code"].as_str())
}

/// The `errors[0].extensions.code` of a response, or None.
pub fn error_code(body: &Value) -> Option<&str> {
    body["errors"].as_array().and_then(|errors| errors.first()).and_then(|e| e["extensions"]["code"].as_str())
}

/// The number inside a global id (tests compare with database rows).
pub fn decode_number(id: &str) -> i64 {
    canopy::graphql::ids::decode_any(id).expect("a global id").1
}

/// The owner invites a new user into a group; the user accepts. Returns their token.
pub async fn invite_and_accept(app: &TestApp, owner: &str, main_id: &str, group_id: &str, login_name: &str) -> String {
    let invited = app
        .data(
            Some(owner),
            "mutation($i: InviteUserInput!) { inviteUser(input: $i) { invitationToken userErrors { code message } } }",
            serde_json::json!({"i": {"mainAccountId": main_id, "email": format!("{login_name}@example.com"), "groupIds": [group_id]}}),
        )
        .await;
    let invitation = invited["inviteUser"]["invitationToken"]
        .as_str()
        .unwrap_or_else(|| panic!("invite failed: {invited}"))
        .to_owned();
    let accepted = app
        .data(
            None,
            "mutation($i: AcceptInvitationInput!) { acceptInvitation(input: $i) { token userErrors { code message } } }",
            serde_json::json!({"i": {"invitationToken": invitation, "loginName": login_name, "password": PASSWORD}}),
        )
        .await;
    accepted["acceptInvitation"]["token"].as_str().unwrap_or_else(|| panic!("accept failed: {accepted}")).to_owned()
}
