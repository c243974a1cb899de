//! The server as a new user meets it: health, GraphiQL, transport rules, ids, migrations.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use migration::{Migrator, MigratorTrait};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::spawn().await;
    let (status, body) = app.send(Request::get("/healthz").body(Body::empty()).unwrap(), "127.0.0.1:1").await;
    assert_eq!((status, body), (StatusCode::OK, json!("ok")));
    let (status, _) = app.send(Request::get("/readyz").body(Body::empty()).unwrap(), "127.0.0.1:1").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn graphiql_is_served_at_the_root() {
    let app = TestApp::spawn().await;
    let (status, body) = app.send(Request::get("/").body(Body::empty()).unwrap(), "127.0.0.1:1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.as_str().unwrap_or_default().contains("graphiql"), "{body}");
}

#[tokio::test]
async fn queries_run_over_get_but_mutations_are_refused() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .send(Request::get("/graphql?query=%7Bproducts%7Bcode%7D%7D").body(Body::empty()).unwrap(), "127.0.0.1:1")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["data"]["products"].as_array().is_some_and(|p| !p.is_empty()), "{body}");

    let mutation = "/graphql?query=mutation%7Blogout%7Bok%7D%7D";
    let response = tower::ServiceExt::oneshot(app.router.clone(), Request::get(mutation).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers().get("allow").unwrap(), "POST");
}

#[tokio::test]
async fn only_json_bodies_execute() {
    let app = TestApp::spawn().await;
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let request = Request::post("/graphql")
            .header("content-type", content_type)
            .body(Body::from(r#"{"query":"{ products { code } }"}"#))
            .unwrap();
        let (status, _) = app.send(request, "127.0.0.1:1").await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type}");
    }
    let (status, _) = app.send(Request::post("/graphql").body(Body::from("{}")).unwrap(), "127.0.0.1:1").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "no content type");
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_refused_with_413() {
    let app = TestApp::spawn().await;
    let padding = "x".repeat(1024 * 1024 + 10);
    let body = json!({"query": "{ products { code } }", "variables": {"pad": padding}}).to_string();
    let request = Request::post("/graphql").header("content-type", "application/json").body(Body::from(body)).unwrap();
    let (status, _) = app.send(request, "127.0.0.1:1").await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_bad_token_is_unauthenticated_not_anonymous() {
    let app = TestApp::spawn().await;
    let (status, body) = app.post(Some("cnp_not-a-real-token"), "{ viewer { loginName } }", json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
    let body = app.gql(None, "{ viewer { loginName } }", json!({})).await;
    assert_eq!(body["data"]["viewer"], json!(null));
    let body = app.gql(None, "{ node(id: \"QWNjb3VudDox\") { id } }", json!({})).await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn node_and_nodes_resolve_global_ids_and_hide_garbage() {
    let app = TestApp::spawn().await;
    let account = app.create_account("Node Holder").await;
    let staff = app.staff_token().await;
    let data = app
        .data(
            Some(&staff),
            "query($id: ID!, $ids: [ID!]!) { node(id: $id) { id ... on Account { customerNumber } } nodes(ids: $ids) { id } }",
            json!({"id": account.id, "ids": [account.id, "garbage", "QWNjb3VudDo5OTk5OQ"]}),
        )
        .await;
    assert_eq!(data["node"]["customerNumber"], json!(account.customer_number));
    assert_eq!(data["nodes"], json!([{"id": account.id}, null, null]));
}

#[tokio::test]
async fn malformed_cursors_and_page_sizes_are_validation_errors() {
    let app = TestApp::spawn().await;
    let staff = app.staff_token().await;
    let body = app
        .gql(Some(&staff), "{ viewer { accounts(first: 5, after: \"%%%\") { edges { cursor } } } }", json!({}))
        .await;
    assert_eq!(error_code(&body), Some("GRAPHQL_VALIDATION_FAILED"), "{body}");
    let body = app.gql(Some(&staff), "{ viewer { accounts(first: 101) { edges { cursor } } } }", json!({})).await;
    assert_eq!(error_code(&body), Some("GRAPHQL_VALIDATION_FAILED"), "{body}");
}

#[tokio::test]
async fn connections_page_by_keyset_cursor() {
    let app = TestApp::spawn().await;
    for n in 0..5 {
        app.create_account(&format!("Holder {n}")).await;
    }
    let staff = app.staff_token().await;
    let query = "query($after: String) { viewer { accounts(first: 2, after: $after) { edges { cursor node { holderName } } pageInfo { hasNextPage endCursor } } } }";
    let mut seen = Vec::new();
    let mut after = serde_json::Value::Null;
    loop {
        let data = app.data(Some(&staff), query, json!({"after": after})).await;
        let page = &data["viewer"]["accounts"];
        for edge in page["edges"].as_array().unwrap() {
            seen.push(edge["node"]["holderName"].as_str().unwrap().to_owned());
        }
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, (0..5).map(|n| format!("Holder {n}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn migrations_go_down_and_up_again() {
    let app = TestApp::spawn().await;
    Migrator::down(&app.db, None).await.expect("down");
    Migrator::up(&app.db, None).await.expect("up again");
    assert!(Migrator::get_pending_migrations(&app.db).await.expect("status").is_empty());
}

#[tokio::test]
async fn demo_seed_gives_working_logins() {
    let app = TestApp::spawn().await;
    let logins = canopy::seed::seed_demo(&app.db, &app.state.settings).await.expect("seed");
    assert!(logins.iter().any(|l| l.login_name == "alice"));
    let token = app.login("alice", canopy::seed::DEMO_PASSWORD).await;
    let data = app.data(Some(&token), "{ viewer { accounts { edges { node { role } } } } }", json!({})).await;
    let roles: Vec<_> =
        data["viewer"]["accounts"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["role"].clone()).collect();
    assert_eq!(roles, vec![json!("MAIN"), json!("SECONDARY"), json!("SECONDARY"), json!("SECONDARY")]);
}

#[tokio::test]
async fn migrations_run_on_sqlite() {
    let app = TestApp::sqlite().await;
    assert!(Migrator::get_pending_migrations(&app.db).await.expect("status").is_empty());
}

#[tokio::test]
async fn migrations_run_on_postgres() {
    let Some(server) = crate::helpers::require_postgres("migrations_run_on_postgres") else { return };
    let url = crate::helpers::fresh_postgres_database(&server).await;
    let app = TestApp::on_url(url, None).await;
    assert!(app.is_postgres());
    assert!(Migrator::get_pending_migrations(&app.db).await.expect("status").is_empty());
    Migrator::down(&app.db, None).await.expect("down");
    Migrator::up(&app.db, None).await.expect("up again");
}

/// The SPA's tree query (issue 6): a page of main accounts, each with its secondaries,
/// their groups, open balances and latest 5 invoices.
const SPA_TREE_QUERY: &str = "query($n: Int!) { viewer { accounts(first: $n, topLevel: true) { edges { node {
    id customerNumber friendlyName role group { name } openBalance { amountCents currency }
    invoices(first: 5) { edges { node { number status totalCents currency dueAt } } }
    secondaries(first: 10) { edges { node {
        id customerNumber friendlyName role group { name } openBalance { amountCents currency }
        invoices(first: 5) { edges { node { number status totalCents currency dueAt } } }
    } } }
} } pageInfo { hasNextPage endCursor } } } }";

/// A wider tree: products, group permissions and invoice lines too.
const WIDE_TREE_QUERY: &str = "query($n: Int!) { viewer { accounts(first: $n) { edges { node {
    customerNumber role friendlyName product { code } group { name permissions }
    openBalance { amountCents currency }
    invoices(first: 5) { edges { node { number totalCents lines { amountCents } } } }
    secondaries(first: 10) { edges { node {
        customerNumber role group { name } openBalance { amountCents currency }
        invoices(first: 5) { edges { node { number status totalCents } } }
    } } }
} } } } }";

/// A fresh app with `mains` families of three secondaries (in the family's default
/// group) and six invoices per account, four of them open. Statement counting uses a
/// long loader window (see `TestApp::with_loader_delay`).
async fn app_with_families(mains: u32) -> TestApp {
    let app = TestApp::with_loader_delay(std::time::Duration::from_millis(300)).await;
    canopy::seed::seed_bulk(&app.db, mains, 3, 6).await.expect("seed");
    app
}

/// Runs one document and returns its data and the SQL statements it issued.
async fn counted(app: &TestApp, token: &str, query: &str, variables: Value) -> (Value, u64) {
    let before = app.statements();
    let data = app.data(Some(token), query, variables).await;
    (data, app.statements() - before)
}

/// The most statements the tree query, `viewer.accounts` and `openItems` may issue: the
/// session with the viewer's grants, the page (with the first secondaries of each
/// account and their counts), then one statement per relation for the whole tree.
const MOST_STATEMENTS: u64 = 6;

/// Every size issued at most `most` statements, and all sizes the same number.
fn assert_few_and_constant(counts: &[u64], most: u64, sizes: &str) {
    assert!(counts.iter().all(|c| *c <= most), "statements for {sizes}: {counts:?}");
    assert!(counts.iter().all(|c| *c == counts[0]), "statements for {sizes}: {counts:?}");
}

#[tokio::test]
async fn the_tree_query_runs_the_same_few_statements_for_2_20_and_100_mains() {
    let mut counts = Vec::new();
    for mains in [2u32, 20, 100] {
        let app = app_with_families(mains).await;
        let staff = app.staff_token().await;
        let (data, count) = counted(&app, &staff, SPA_TREE_QUERY, json!({"n": 100})).await;
        counts.push(count);
        let edges = data["viewer"]["accounts"]["edges"].as_array().unwrap();
        assert_eq!(edges.len() as u32, mains);
        for edge in edges {
            let main = &edge["node"];
            assert_eq!(main["role"], "MAIN");
            assert_eq!(main["invoices"]["edges"].as_array().unwrap().len(), 5);
            assert_eq!(main["openBalance"][0]["currency"], "EUR");
            let secondaries = main["secondaries"]["edges"].as_array().unwrap();
            assert_eq!(secondaries.len(), 3);
            for secondary in secondaries {
                let node = &secondary["node"];
                assert_eq!(node["role"], "SECONDARY");
                assert_eq!(node["group"]["name"], "Default Group");
                assert_eq!(node["invoices"]["edges"].as_array().unwrap().len(), 5);
                assert_eq!(node["openBalance"][0]["currency"], "EUR");
            }
        }
    }
    assert_few_and_constant(&counts, MOST_STATEMENTS, "2, 20, 100 mains");
}

#[tokio::test]
async fn a_wider_tree_query_runs_the_same_statements_whatever_the_page() {
    let mut counts = Vec::new();
    for mains in [2u32, 10, 25] {
        let app = app_with_families(mains).await;
        let staff = app.staff_token().await;
        let (data, count) = counted(&app, &staff, WIDE_TREE_QUERY, json!({"n": 100})).await;
        counts.push(count);
        let edges = data["viewer"]["accounts"]["edges"].as_array().unwrap();
        assert_eq!(edges.len() as u32, mains * 4);
        let main = edges.iter().find(|e| e["node"]["role"] == "MAIN").unwrap();
        assert_eq!(main["node"]["secondaries"]["edges"].as_array().unwrap().len(), 3);
        assert_eq!(main["node"]["invoices"]["edges"].as_array().unwrap().len(), 5);
    }
    // Products and invoice lines are one more statement each.
    assert_few_and_constant(&counts, MOST_STATEMENTS + 2, "2, 10, 25 families");
}

#[tokio::test]
async fn viewer_accounts_run_the_same_few_statements_for_2_20_and_100_mains() {
    let mut counts = Vec::new();
    for mains in [2u32, 20, 100] {
        let app = app_with_families(mains).await;
        let staff = app.staff_token().await;
        let (data, count) = counted(
            &app,
            &staff,
            "{ viewer { accounts(first: 100) { edges { node { customerNumber role status group { name } \
             openBalance { amountCents currency } parent { customerNumber } } } pageInfo { hasNextPage } } } }",
            json!({}),
        )
        .await;
        counts.push(count);
        let edges = data["viewer"]["accounts"]["edges"].as_array().unwrap();
        assert_eq!(edges.len(), std::cmp::min(100, mains as usize * 4));
    }
    assert_few_and_constant(&counts, MOST_STATEMENTS, "2, 20, 100 mains");
}

/// Open items across every visible account cost the same statements whatever their number.
#[tokio::test]
async fn open_items_run_the_same_few_statements_for_2_20_and_100_mains() {
    let mut counts = Vec::new();
    for mains in [2u32, 20, 100] {
        let app = app_with_families(mains).await;
        let staff = app.staff_token().await;
        let (data, count) = counted(
            &app,
            &staff,
            "{ openItems(first: 100) { totals { amountCents currency } edges { node { number totalCents dueAt \
             account { customerNumber friendlyName group { name } } } } } }",
            json!({}),
        )
        .await;
        counts.push(count);
        let edges = data["openItems"]["edges"].as_array().unwrap();
        assert_eq!(edges.len(), std::cmp::min(100, mains as usize * 4 * 4));
        assert!(edges.iter().all(|e| e["node"]["account"]["customerNumber"].is_string()));
    }
    assert_few_and_constant(&counts, MOST_STATEMENTS, "2, 20, 100 mains");
}

/// Outside HTTP (websockets run the schema directly) nothing is written ahead as JSON
/// text: the schema's own answer to the tree query is the JSON the HTTP endpoint writes.
#[tokio::test]
async fn the_tree_query_answers_the_same_outside_http() {
    let app = app_with_families(3).await;
    let staff = app.staff_token().await;
    let over_http = app.data(Some(&staff), SPA_TREE_QUERY, json!({"n": 3})).await;
    let (viewer, session_id) =
        canopy::http::viewer_for_token(&app.state, Some(&staff)).await.expect("auth").expect("a viewer");
    let context =
        canopy::graphql::context::RequestContext::new(&app.state, Some(viewer), Some(session_id), "127.0.0.1".into());
    let schema = canopy::graphql::schema_builder().data(app.state.clone()).finish();
    let variables = async_graphql::Variables::from_json(json!({"n": 3}));
    let response = schema.execute(async_graphql::Request::new(SPA_TREE_QUERY).variables(variables).data(context)).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let direct = response.data.into_json().expect("json");
    assert_eq!(direct["viewer"]["accounts"]["edges"].as_array().map(Vec::len), Some(3));
    assert_eq!(direct, over_http);
}

/// The fast path for plain selections (`graphql::prewritten`) answers exactly what the general
/// resolvers answer: the same document with a directive in every plain object (which
/// sends it down the general path) gives the same data.
#[tokio::test]
async fn plain_selections_answer_like_the_general_resolvers() {
    let app = app_with_families(3).await;
    let staff = app.staff_token().await;
    let document = |d: &str| {
        format!(
            "{{ viewer {{ accounts(first: 10) {{ edges {{ node {{
                group {{ __typename id name isDefault permissions {d} }}
                openBalance {{ __typename amountCents currency {d} }}
                invoices(first: 4) {{
                    __typename
                    pageInfo {{ __typename hasPreviousPage hasNextPage startCursor endCursor {d} }}
                    edges {{ __typename cursor {d} node {{ __typename id number status currency totalCents issuedAt dueAt }} }}
                    nodes {{ __typename id number {d} }}
                    {d}
                }}
                empty: invoices(first: 0) {{ pageInfo {{ startCursor endCursor hasNextPage }} edges {{ cursor }} }}
            }} }} }} }} }}"
        )
    };
    let plain = app.data(Some(&staff), &document(""), json!({})).await;
    let general = app.data(Some(&staff), &document("__typename @include(if: true)"), json!({})).await;
    let edges = plain["viewer"]["accounts"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 10);
    let invoice = &edges[1]["node"]["invoices"]["edges"][0]["node"];
    assert_eq!(invoice["__typename"], "Invoice");
    assert!(invoice["number"].is_string() && invoice["totalCents"].is_number() && invoice["dueAt"].is_string());
    assert_eq!(edges[1]["node"]["group"]["permissions"], json!(["VIEW_INVOICES"]));
    assert_eq!(edges[1]["node"]["invoices"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(edges[1]["node"]["empty"]["pageInfo"]["startCursor"], Value::Null);
    // Every object carrying the directive selects `__typename` already, so both answers
    // have the same keys.
    assert_eq!(general, plain);
}

/// The tree's rows are decoded by position (on PostgreSQL from the binary format,
/// `graphql::rows`); every field must equal what the entity's own decoding gives, read
/// one by one through `node`. One invoice carries a timestamp with microseconds, a date
/// before 2000, a negative amount and another status.
#[tokio::test]
async fn rows_decoded_by_position_equal_the_entities() {
    use canopy::entity::{enums::InvoiceStatus, invoice};
    use sea_orm::{ActiveModelTrait, EntityTrait, QueryOrder, Set};
    let app = TestApp::spawn().await;
    canopy::seed::seed_bulk(&app.db, 2, 2, 3).await.expect("seed");
    let newest = invoice::Entity::find().order_by_desc(invoice::Column::Id).one(&app.db).await.expect("select");
    let mut edited: invoice::ActiveModel = newest.expect("an invoice").into();
    edited.issued_at = Set("2026-03-04T05:06:07.123456Z".parse().expect("timestamp"));
    edited.due_at = Set(chrono::NaiveDate::from_ymd_opt(1999, 12, 31).expect("date"));
    edited.status = Set(InvoiceStatus::Void);
    edited.total_cents = Set(-12_345);
    edited.update(&app.db).await.expect("update");
    let staff = app.staff_token().await;

    const ACCOUNT: &str = "id customerNumber holderName friendlyName status billingMode createdAt";
    const INVOICE: &str = "id number status currency totalCents issuedAt dueAt";
    let tree = app
        .data(
            Some(&staff),
            &format!("{{ viewer {{ accounts(first: 50) {{ edges {{ node {{ {ACCOUNT} invoices(first: 3) {{ edges {{ node {{ {INVOICE} }} }} }} }} }} }} }} }}"),
            json!({}),
        )
        .await;
    let mut from_rows = Vec::new();
    for edge in tree["viewer"]["accounts"]["edges"].as_array().expect("edges") {
        let mut account = edge["node"].clone();
        let invoices = account.as_object_mut().and_then(|a| a.remove("invoices")).expect("invoices");
        from_rows.push(account);
        from_rows.extend(invoices["edges"].as_array().expect("invoice edges").iter().map(|e| e["node"].clone()));
    }
    assert_eq!(from_rows.len(), 6 + 18, "six accounts with three invoices each");
    assert!(from_rows.iter().any(|r| r["issuedAt"] == "2026-03-04T05:06:07.123456+00:00"), "{from_rows:?}");

    let one_by_one = from_rows
        .iter()
        .enumerate()
        .map(|(n, row)| {
            format!(
                "n{n}: node(id: \"{}\") {{ ... on Account {{ {ACCOUNT} }} ... on Invoice {{ {INVOICE} }} }}",
                row["id"].as_str().expect("id")
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    let nodes = app.data(Some(&staff), &format!("{{ {one_by_one} }}"), json!({})).await;
    for (n, row) in from_rows.iter().enumerate() {
        assert_eq!(&nodes[format!("n{n}")], row);
    }
}
