//! Trust, part 2 (issue 14): sessions, proofs and inputs an attacker controls. Each test is
//! the attacker's steps against the landed server, then what they get now.

use serde_json::{Value, json};

use crate::helpers::{TestApp, invite_and_accept, user_error_code};
use crate::trust::create_group;

const UPDATE_GROUP: &str = "mutation($i: UpdateGroupInput!) { updateGroup(input: $i) { group { permissions } userErrors { code message field } } }";
const CREATE_GROUP: &str =
    "mutation($i: CreateGroupInput!) { createGroup(input: $i) { group { id } userErrors { code message field } } }";
const INVITE: &str =
    "mutation($i: InviteUserInput!) { inviteUser(input: $i) { invitationToken userErrors { code message field } } }";

/// The Default Group of a family, read off a secondary linked into it.
async fn default_group(app: &TestApp, owner: &str, main: &crate::helpers::CreatedAccount) -> String {
    let branch = app.create_account("Default Branch").await;
    let linked = crate::family::link(app, owner, main, &branch).await;
    let data = app
        .data(
            Some(owner),
            "query($id: ID!) { account(id: $id) { group { id isDefault } } }",
            json!({"id": linked["account"]["id"]}),
        )
        .await;
    assert_eq!(data["account"]["group"]["isDefault"], json!(true), "{data}");
    data["account"]["group"]["id"].as_str().unwrap().to_owned()
}

async fn permissions_of(app: &TestApp, owner: &str, group_id: &str) -> Value {
    let data = app
        .data(
            Some(owner),
            "query($id: ID!) { node(id: $id) { ... on Group { permissions } } }",
            json!({"id": group_id}),
        )
        .await;
    data["node"]["permissions"].clone()
}

#[tokio::test]
async fn a_member_with_manage_groups_cannot_raise_their_own_rights() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Escalation Main", "esc-owner").await;
    let admins = create_group(&app, &owner, &main.id, "Admins", json!(["MANAGE_GROUPS", "VIEW_INVOICES"])).await;
    let other = create_group(&app, &owner, &main.id, "Other", json!(["VIEW_INVOICES"])).await;
    let member = invite_and_accept(&app, &owner, &main.id, &admins, "esc-member").await;
    let default = default_group(&app, &owner, &main).await;

    // Their own group to every permission.
    let all = json!(["VIEW_INVOICES", "PAY_INVOICES", "MANAGE_SETTINGS", "MANAGE_ACCOUNTS", "MANAGE_GROUPS"]);
    let data = app.data(Some(&member), UPDATE_GROUP, json!({"i": {"groupId": admins, "permissions": all}})).await;
    assert_eq!(user_error_code(&data["updateGroup"]), Some("NOT_PERMITTED"), "{data}");
    assert_eq!(permissions_of(&app, &owner, &admins).await, json!(["VIEW_INVOICES", "MANAGE_GROUPS"]));
    // Another group, or a new one, with a right they do not hold, or with MANAGE_GROUPS.
    for permissions in [json!(["PAY_INVOICES"]), json!(["MANAGE_GROUPS"])] {
        let data =
            app.data(Some(&member), UPDATE_GROUP, json!({"i": {"groupId": other, "permissions": permissions}})).await;
        assert_eq!(user_error_code(&data["updateGroup"]), Some("NOT_PERMITTED"), "{data}");
        let data = app
            .data(
                Some(&member),
                CREATE_GROUP,
                json!({"i": {"mainAccountId": main.id, "name": "Mine", "permissions": permissions}}),
            )
            .await;
        assert_eq!(user_error_code(&data["createGroup"]), Some("NOT_PERMITTED"), "{data}");
    }
    assert_eq!(permissions_of(&app, &owner, &other).await, json!(["VIEW_INVOICES"]));
    // Themselves (any mailbox) into the Default Group, or into their own group again.
    for group in [&default, &admins] {
        let data = app
            .data(
                Some(&member),
                INVITE,
                json!({"i": {"mainAccountId": main.id, "email": "me@example.com", "groupIds": [group]}}),
            )
            .await;
        assert_eq!(user_error_code(&data["inviteUser"]), Some("NOT_PERMITTED"), "{data}");
        assert_eq!(data["inviteUser"]["invitationToken"], Value::Null);
    }
    // Deleting their own group (to fall back into the Default Group) is refused too.
    let data = app
        .data(
            Some(&member),
            "mutation($g: ID!) { deleteGroup(input: {groupId: $g}) { userErrors { code } } }",
            json!({"g": admins}),
        )
        .await;
    assert_eq!(user_error_code(&data["deleteGroup"]), Some("NOT_PERMITTED"));

    // What they hold they may hand on: a group with VIEW_INVOICES, and invitations into it.
    let data = app
        .data(
            Some(&member),
            CREATE_GROUP,
            json!({"i": {"mainAccountId": main.id, "name": "Readers", "permissions": ["VIEW_INVOICES"]}}),
        )
        .await;
    assert_eq!(data["createGroup"]["userErrors"], json!([]));
    let readers = data["createGroup"]["group"]["id"].as_str().unwrap().to_owned();
    let data = app
        .data(
            Some(&member),
            INVITE,
            json!({"i": {"mainAccountId": main.id, "email": "reader@example.com", "groupIds": [readers]}}),
        )
        .await;
    assert_eq!(data["inviteUser"]["userErrors"], json!([]));
    // The owner grants anything.
    let data = app.data(Some(&owner), UPDATE_GROUP, json!({"i": {"groupId": other, "permissions": all}})).await;
    assert_eq!(data["updateGroup"]["userErrors"], json!([]));
}

#[tokio::test]
async fn a_production_server_on_an_empty_database_seeds_no_demo_logins() {
    let app = TestApp::spawn().await;
    let server = crate::processes::start_server_with(&app.database_url, &["--profile", "production"]).await;
    // The attacker signs in with the demo staff login that README used to print.
    let login = app
        .data(
            None,
            "mutation($i: LoginInput!) { login(input: $i) { token userErrors { code } } }",
            json!({"i": {"loginName": "staff", "password": canopy::seed::DEMO_PASSWORD}}),
        )
        .await;
    assert_eq!(login["login"]["token"], Value::Null, "{login}");
    assert!(canopy::seed::is_empty(&app.db).await.unwrap(), "no demo accounts in a production database");
    drop(server);
}

#[tokio::test]
async fn an_invoice_line_written_as_a_formula_downloads_as_text() {
    use crate::billing::{days_from_today, issue_lines};
    use crate::downloads::{get, parse_csv};
    let app = TestApp::spawn().await;
    let (account, owner) = app.enrolled_account("=cmd|' /C calc'!A0", "csv-owner").await;
    let lines = json!([
        {"description": "=HYPERLINK(\"http://evil.example/pay\",\"Pay here\")", "quantity": 1, "unitCents": 100},
        {"description": "@SUM(1+1)", "quantity": 1, "unitCents": 100},
        {"description": "+1-1", "quantity": 1, "unitCents": 100},
        {"description": "-2+3", "quantity": 1, "unitCents": 100},
    ]);
    let payload = issue_lines(&app, &account.id, "EUR", &days_from_today(10), lines).await;
    let id = payload["invoice"]["id"].as_str().unwrap_or_else(|| panic!("{payload}")).to_owned();
    let (status, _, body) = get(&app, &format!("/invoices/{id}.csv"), Some(&owner)).await;
    assert_eq!(status, axum::http::StatusCode::OK);
    let cells: Vec<String> = parse_csv(&String::from_utf8(body).unwrap()).into_iter().flatten().collect();
    let dangerous: Vec<&String> = cells.iter().filter(|c| c.starts_with(['=', '+', '@', '\t', '\r'])).collect();
    assert!(dangerous.is_empty(), "cells a spreadsheet would run: {dangerous:?}");
    for expected in ["'=HYPERLINK(\"http://evil.example/pay\",\"Pay here\")", "'@SUM(1+1)", "'+1-1", "'-2+3"] {
        assert!(cells.iter().any(|c| c == expected), "{expected} missing from {cells:?}");
    }
    assert!(cells.iter().all(|c| !c.starts_with('-') || c.parse::<f64>().is_ok()), "{cells:?}");
}

#[tokio::test]
async fn text_with_control_characters_is_invalid_input_and_changes_nothing() {
    use canopy::entity::account;
    use sea_orm::{EntityTrait, PaginatorTrait};
    let app = TestApp::spawn().await;
    // NUL in a login name, through a variable and as a literal.
    let body = app
        .gql(
            None,
            "mutation($i: LoginInput!) { login(input: $i) { token } }",
            json!({"i": {"loginName": "a\u{0}b", "password": "whatever-long-enough"}}),
        )
        .await;
    assert_eq!(crate::helpers::error_code(&body), Some("INVALID_INPUT"), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], json!("$i.loginName"));
    let body = app
        .gql(None, r#"mutation { login(input: {loginName: "a\u0000b", password: "x"}) { token } }"#, json!({}))
        .await;
    assert_eq!(crate::helpers::error_code(&body), Some("INVALID_INPUT"), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], json!("login.input.loginName"));

    // Staff creating an account with a NUL or a line break in the holder's name: refused,
    // nothing stored, no internal error on either database.
    let staff = app.staff_token().await;
    let before = account::Entity::find().count(&app.db).await.unwrap();
    for name in ["Evil\u{0}Corp", "Two\nLines", "Bell\u{7}"] {
        let body = app
            .gql(
                Some(&staff),
                "mutation($i: AdminCreateAccountInput!) { adminCreateAccount(input: $i) { account { id } } }",
                json!({"i": {"holderName": name, "product": "MOBILE", "email": "x@example.com"}}),
            )
            .await;
        assert_eq!(crate::helpers::error_code(&body), Some("INVALID_INPUT"), "{name:?}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], json!("$i.holderName"));
    }
    assert_eq!(account::Entity::find().count(&app.db).await.unwrap(), before);
}

#[tokio::test]
async fn a_malformed_body_answers_a_fixed_message_without_rust_debug_text() {
    use axum::body::Body;
    use axum::http::Request;
    let app = TestApp::spawn().await;
    for body in ["{\"query\": ", "{\"query\": 5}", "[1,2", "{\"query\": \"{ viewer { id } }\", \"variables\": 7}"] {
        let request =
            Request::post("/graphql").header("content-type", "application/json").body(Body::from(body)).unwrap();
        let (status, answer) = app.send(request, "127.0.0.1:40000").await;
        assert_eq!(status, axum::http::StatusCode::BAD_REQUEST, "{body}: {answer}");
        let text = answer.to_string();
        assert!(!text.contains("InvalidRequest") && !text.contains("Error("), "{text}");
        assert_eq!(crate::helpers::error_code(&answer), Some("GRAPHQL_VALIDATION_FAILED"), "{text}");
    }
}

mod sockets {
    use std::time::Duration;

    use futures_util::{SinkExt, StreamExt};
    use sea_orm::sea_query::Expr;
    use sea_orm::{EntityTrait, QueryFilter};
    use serde_json::{Value, json};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    use crate::family::link;
    use crate::helpers::{TestApp, invite_and_accept};
    use crate::trust::create_group;

    type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

    /// A graphql-transport-ws connection signed in with `token`, acknowledged.
    async fn open(app: &TestApp, token: &str) -> Socket {
        let addr = app.serve().await;
        open_at(&addr.to_string(), token).await
    }

    async fn open_at(addr: &str, token: &str) -> Socket {
        let mut request = format!("ws://{addr}/graphql").into_client_request().unwrap();
        request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let init = json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}});
        socket.send(Message::Text(init.to_string().into())).await.unwrap();
        assert_eq!(next(&mut socket).await, Frame::Json(json!({"type": "connection_ack"})));
        socket
    }

    #[derive(Debug, PartialEq)]
    enum Frame {
        Json(Value),
        Closed(u16),
        Nothing,
    }

    /// The next frame within two seconds.
    async fn next(socket: &mut Socket) -> Frame {
        loop {
            let message = match tokio::time::timeout(Duration::from_secs(2), socket.next()).await {
                Err(_) => return Frame::Nothing,
                Ok(None) => return Frame::Closed(0),
                Ok(Some(Err(_))) => return Frame::Closed(0),
                Ok(Some(Ok(message))) => message,
            };
            match message {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if value["type"] == "ping" || value["type"] == "pong" {
                        continue;
                    }
                    return Frame::Json(value);
                }
                Message::Close(frame) => return Frame::Closed(frame.map(|f| u16::from(f.code)).unwrap_or(0)),
                _ => continue,
            }
        }
    }

    async fn subscribe(socket: &mut Socket, id: &str, query: &str) {
        let message = json!({"id": id, "type": "subscribe", "payload": {"query": query}});
        socket.send(Message::Text(message.to_string().into())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_socket_opened_before_logout_closes_and_streams_nothing_more() {
        let app = TestApp::spawn().await;
        let (main, owner) = app.enrolled_account("Socket Main", "sock-owner").await;
        let first = app.create_account("First").await;
        let second = app.create_account("Second").await;
        let mut socket = open(&app, &owner).await;
        let query = format!("subscription {{ accountTreeChanged(mainAccountId: \"{}\") {{ kind }} }}", main.id);
        subscribe(&mut socket, "1", &query).await;
        link(&app, &owner, &main, &first).await;
        let event = next(&mut socket).await;
        assert!(matches!(&event, Frame::Json(v) if v["type"] == "next"), "{event:?}");

        // The attacker's socket outlives the logout, today: it must not.
        let data = app.data(Some(&owner), "mutation { logout { ok } }", json!({})).await;
        assert_eq!(data["logout"]["ok"], json!(true));
        assert_eq!(next(&mut socket).await, Frame::Closed(4403));
        // A staff attach afterwards reaches no one through that socket.
        let staff = app.staff_token().await;
        app.data(
            Some(&staff),
            "mutation($i: AdminAttachAccountInput!) { adminAttachAccount(input: $i) { userErrors { code } } }",
            json!({"i": {"mainAccountId": main.id, "accountId": second.id}}),
        )
        .await;
        assert!(matches!(next(&mut socket).await, Frame::Closed(_)), "nothing more arrives");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_member_whose_group_is_deleted_is_closed_and_a_silently_ended_session_gets_nothing() {
        let app = TestApp::spawn().await;
        let (main, owner) = app.enrolled_account("Rights Main", "rights-owner").await;
        let group = create_group(&app, &owner, &main.id, "Viewers", json!(["VIEW_INVOICES"])).await;
        let member = invite_and_accept(&app, &owner, &main.id, &group, "rights-member").await;
        let mut socket = open(&app, &member).await;
        subscribe(&mut socket, "1", "subscription { invoiceIssued { id } }").await;
        let data = app
            .data(
                Some(&owner),
                "mutation($g: ID!) { deleteGroup(input: {groupId: $g}) { userErrors { code } } }",
                json!({"g": group}),
            )
            .await;
        assert_eq!(data["deleteGroup"]["userErrors"], json!([]));
        assert_eq!(next(&mut socket).await, Frame::Closed(4403), "its rights changed");

        // A session that ends without any announcement (expired, revoked in the database):
        // the next operation on an open socket is refused, and events stop.
        let mut socket = open(&app, &owner).await;
        let query = format!("subscription {{ accountTreeChanged(mainAccountId: \"{}\") {{ kind }} }}", main.id);
        subscribe(&mut socket, "1", &query).await;
        canopy::entity::session::Entity::update_many()
            .col_expr(canopy::entity::session::Column::RevokedAt, Expr::value(chrono::Utc::now()))
            .filter(sea_orm::ColumnTrait::gt(&canopy::entity::session::Column::Id, 0))
            .exec(&app.db)
            .await
            .unwrap();
        let target = app.create_account("After Revocation").await;
        let staff = app.staff_token().await;
        app.data(
            Some(&staff),
            "mutation($i: AdminAttachAccountInput!) { adminAttachAccount(input: $i) { userErrors { code } } }",
            json!({"i": {"mainAccountId": main.id, "accountId": target.id}}),
        )
        .await;
        let after = next(&mut socket).await;
        assert!(
            matches!(&after, Frame::Json(v) if v["type"] == "complete") || after == Frame::Nothing,
            "no event for an ended session: {after:?}"
        );
        subscribe(&mut socket, "2", &query).await;
        let refused = next(&mut socket).await;
        let Frame::Json(refused) = refused else { panic!("an answer: {refused:?}") };
        assert_eq!(refused["payload"]["data"], Value::Null, "{refused}");
        assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], json!("UNAUTHENTICATED"), "{refused}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_logout_through_one_replica_closes_the_socket_held_by_another() {
        let Some(server) =
            crate::helpers::require_postgres("a_logout_through_one_replica_closes_the_socket_held_by_another")
        else {
            return;
        };
        let url = crate::helpers::fresh_postgres_database(&server).await;
        let app = TestApp::on_url(url.clone(), None).await;
        let (main, owner) = app.enrolled_account("Replica Main", "replica-owner").await;
        let other = crate::processes::start_server(&url).await;
        let mut socket = open_at(&format!("127.0.0.1:{}", other.port), &owner).await;
        let query = format!("subscription {{ accountTreeChanged(mainAccountId: \"{}\") {{ kind }} }}", main.id);
        subscribe(&mut socket, "1", &query).await;
        app.data(Some(&owner), "mutation { logout { ok } }", json!({})).await;
        assert_eq!(next(&mut socket).await, Frame::Closed(4403));
    }
}

mod proofs {
    use axum::body::Body;
    use axum::http::Request;
    use sea_orm::sea_query::Expr;
    use sea_orm::{EntityTrait, PaginatorTrait};
    use serde_json::{Value, json};

    use canopy::config::ServerOptions;
    use canopy::entity::proof_failure;

    use crate::helpers::{PASSWORD, TestApp, error_code};

    const LOGIN: &str = "mutation($i: LoginInput!) { login(input: $i) { token userErrors { code } } }";

    /// A login attempt as a client behind `peer`, with an optional X-Forwarded-For.
    async fn login_via(app: &TestApp, peer: &str, forwarded: Option<&str>, password: &str) -> Value {
        let body = json!({"query": LOGIN, "variables": {"i": {"loginName": "target-owner", "password": password}}});
        let mut request = Request::post("/graphql").header("content-type", "application/json");
        if let Some(forwarded) = forwarded {
            request = request.header("x-forwarded-for", forwarded);
        }
        let (_, body) = app.send(request.body(Body::from(body.to_string())).unwrap(), peer).await;
        body
    }

    fn outcome(body: &Value) -> String {
        if let Some(code) = error_code(body) {
            return code.to_owned();
        }
        let login = &body["data"]["login"];
        match login["token"].as_str() {
            Some(_) => "SIGNED_IN".to_owned(),
            None => login["userErrors"][0]["code"].as_str().unwrap_or("?").to_owned(),
        }
    }

    #[tokio::test]
    async fn thirty_aliased_logins_check_one_password() {
        let app = TestApp::spawn().await;
        app.enrolled_account("Alias Target", "target-owner").await;
        let aliases: Vec<String> = (0..30)
            .map(|n| format!("a{n}: login(input: {{loginName: \"target-owner\", password: \"wrong-guess-{n}-xxxx\"}}) {{ token }}"))
            .collect();
        let body = app.gql(None, &format!("mutation {{ {} }}", aliases.join(" ")), json!({})).await;
        let errors = body["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 29, "every alias after the first is refused: {body}");
        assert!(errors.iter().all(|e| e["extensions"]["code"] == "RATE_LIMITED"), "{body}");
        assert!(errors[0]["message"].as_str().unwrap().contains("one password or token check per request"));
        assert_eq!(proof_failure::Entity::find().count(&app.db).await.unwrap(), 1, "one password was checked");
        // The owner is not locked out by it.
        assert_eq!(outcome(&login_via(&app, "127.0.0.1:1", None, PASSWORD).await), "SIGNED_IN");
    }

    #[tokio::test]
    async fn behind_a_trusted_proxy_one_client_s_guesses_lock_only_that_client() {
        let options = ServerOptions { trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()], ..Default::default() };
        let app = TestApp::with_server_options(options).await;
        app.enrolled_account("Proxy Target", "target-owner").await;
        // The attacker, behind the proxy at 10.0.0.2, writes a fake first hop each time.
        for n in 0..5 {
            let forwarded = format!("198.18.0.{n}, 203.0.113.5");
            let body = login_via(&app, "10.0.0.2:443", Some(&forwarded), "wrong-password-xxxx").await;
            assert_eq!(outcome(&body), "INVALID_PROOF");
        }
        let body = login_via(&app, "10.0.0.2:443", Some("198.18.0.99, 203.0.113.5"), PASSWORD).await;
        assert_eq!(outcome(&body), "LOCKED", "the attacker's address is the one the proxy saw");
        // The owner, another client behind the same proxy, signs in.
        let body = login_via(&app, "10.0.0.2:443", Some("198.51.100.7"), PASSWORD).await;
        assert_eq!(outcome(&body), "SIGNED_IN");
        // Without a trusted proxy, X-Forwarded-For is the client's own text and ignored.
        let body = login_via(&app, "192.0.2.1:5000", Some("198.51.100.7"), "wrong-password-xxxx").await;
        assert_eq!(outcome(&body), "INVALID_PROOF");
    }

    #[tokio::test]
    async fn rotating_ipv6_addresses_in_one_64_gives_no_extra_guesses() {
        let app = TestApp::spawn().await;
        app.enrolled_account("V6 Target", "target-owner").await;
        for n in 1..=5 {
            let body = login_via(&app, &format!("[2001:db8:1:2::{n:x}]:4000"), None, "wrong-password-xxxx").await;
            assert_eq!(outcome(&body), "INVALID_PROOF");
        }
        let body = login_via(&app, "[2001:db8:1:2:ffff::1]:4000", None, "wrong-password-xxxx").await;
        assert_eq!(outcome(&body), "LOCKED", "one /64 is one client");
        let body = login_via(&app, "[2001:db8:1:3::1]:4000", None, PASSWORD).await;
        assert_eq!(outcome(&body), "SIGNED_IN", "the next /64 is another client");
    }

    #[tokio::test]
    async fn guesses_from_many_clients_are_spaced_without_locking_the_owner_out() {
        let app = TestApp::spawn().await;
        app.enrolled_account("Ceiling Target", "target-owner").await;
        for n in 0..canopy::domain::lockout::TARGET_CEILING {
            let body =
                login_via(&app, &format!("198.51.{}.{}:4000", n / 200, n % 200 + 1), None, "wrong-password-xxxx").await;
            assert_eq!(outcome(&body), "INVALID_PROOF", "attempt {n}");
        }
        // A new client's guess now waits for its turn; so does the owner, briefly.
        let body = login_via(&app, "192.0.2.200:4000", None, "wrong-password-xxxx").await;
        assert_eq!(outcome(&body), "RATE_LIMITED", "{body}");
        let body = login_via(&app, "192.0.2.201:4000", None, PASSWORD).await;
        assert_eq!(outcome(&body), "RATE_LIMITED", "spaced, not locked");
        // Half a minute later (the failures moved back in time), the owner signs in.
        let earlier =
            chrono::Utc::now() - chrono::Duration::seconds(canopy::domain::lockout::TARGET_SPACING_SECONDS + 1);
        proof_failure::Entity::update_many()
            .col_expr(proof_failure::Column::CreatedAt, Expr::value(earlier))
            .exec(&app.db)
            .await
            .unwrap();
        let body = login_via(&app, "192.0.2.201:4000", None, PASSWORD).await;
        assert_eq!(outcome(&body), "SIGNED_IN", "{body}");
    }
}

mod secrets_at_rest {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use serde_json::json;

    use canopy::config::{Profile, Secret, ServerOptions};
    use canopy::domain::outbox_worker::{self, LogSender};
    use canopy::entity::outbox;

    use crate::helpers::TestApp;
    use crate::trust::create_group;

    #[tokio::test]
    async fn an_invitation_code_does_not_stay_in_the_outbox_after_the_mail_went_out() {
        let app = TestApp::spawn().await;
        let (main, owner) = app.enrolled_account("Outbox Main", "outbox-owner").await;
        let group = create_group(&app, &owner, &main.id, "Team", json!([])).await;
        let data = app
            .data(
                Some(&owner),
                "mutation($i: InviteUserInput!) { inviteUser(input: $i) { invitationToken } }",
                json!({"i": {"mainAccountId": main.id, "email": "new@example.com", "groupIds": [group]}}),
            )
            .await;
        let code = data["inviteUser"]["invitationToken"].as_str().unwrap().to_owned();
        let stored = || async {
            outbox::Entity::find().filter(outbox::Column::Kind.eq("invitation")).one(&app.db).await.unwrap().unwrap()
        };
        assert!(stored().await.body.contains(&code), "queued with the code, to be sent");
        outbox_worker::deliver_due(&app.db, &LogSender, 10).await.unwrap();
        let sent = stored().await;
        assert!(!sent.body.contains(&code), "the code is gone once delivered: {}", sent.body);
        assert_eq!(sent.body, canopy::domain::notify::CLEARED_BODY);
    }

    async fn metrics_status(app: &TestApp, token: Option<&str>) -> StatusCode {
        let mut request = Request::get("/metrics");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        app.send(request.body(Body::empty()).unwrap(), "203.0.113.9:1000").await.0
    }

    #[tokio::test]
    async fn production_metrics_answer_only_with_the_metrics_token() {
        let options = ServerOptions {
            profile: Profile::Production,
            graphiql: false,
            metrics_token: Some(Secret::new(b"metrics-token-for-the-scraper".to_vec())),
            ..Default::default()
        };
        let app = TestApp::with_server_options(options).await;
        assert_eq!(metrics_status(&app, None).await, StatusCode::NOT_FOUND);
        assert_eq!(metrics_status(&app, Some("guess")).await, StatusCode::NOT_FOUND);
        assert_eq!(metrics_status(&app, Some("metrics-token-for-the-scraper")).await, StatusCode::OK);
        let closed =
            TestApp::with_server_options(ServerOptions { profile: Profile::Production, ..Default::default() }).await;
        assert_eq!(
            metrics_status(&closed, None).await,
            StatusCode::NOT_FOUND,
            "no token: only on CANOPY_METRICS_LISTEN"
        );
        let development = TestApp::spawn().await;
        assert_eq!(metrics_status(&development, None).await, StatusCode::OK);
    }
}

/// A counter of the hot reads' own pool on /metrics (0 before its first increment).
async fn read_connections_closed(app: &TestApp, reason: &str) -> u64 {
    let (_, body) =
        app.send(axum::http::Request::get("/metrics").body(axum::body::Body::empty()).unwrap(), "127.0.0.1:1").await;
    let needle = format!("canopy_db_read_connections_closed_total{{reason=\"{reason}\"}} ");
    let text = body.as_str().unwrap_or_default();
    text.lines().find_map(|l| l.strip_prefix(needle.as_str())).map_or(0, |n| n.trim().parse().unwrap())
}

/// Polls `request` `polls` times (yielding between), then drops it unfinished: a client
/// that hangs up while its statement runs.
async fn dropped_after<F: std::future::Future>(polls: usize, request: F) {
    let mut request = std::pin::pin!(request);
    for _ in 0..polls {
        if futures_util::poll!(request.as_mut()).is_ready() {
            return;
        }
        tokio::task::yield_now().await;
    }
}

/// An attacker hangs up on their own requests while their statements run, over and over,
/// hoping a connection goes back to the pool out of step and hands what it had not yet
/// read to the next viewer's statement. Another family reading its open items all the
/// while only ever sees its own, and on PostgreSQL the hot reads' pool closed the
/// connections that were cut off instead of reusing them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_dropped_mid_statement_hand_nothing_to_the_next_viewer() {
    use crate::billing::{days_from_today, issue};
    const ITEMS: &str = "{ openItems(first: 10) { totals { amountCents currency } edges { node { totalCents account { holderName } } } } }";
    // Limits high enough that the storm reaches the database, not the rate limiter.
    let unlimited = canopy::rate_limit::Rate { per_second: 1e6, burst: 1e6 };
    let options =
        canopy::config::ServerOptions { rate_per_client: unlimited, rate_per_user: unlimited, ..Default::default() };
    let app = TestApp::with_server_options(options).await;
    let (mine, attacker) = app.enrolled_account("Dropper Main", "dropper").await;
    let (theirs, reader) = app.enrolled_account("Steady Main", "steady-reader").await;
    issue(&app, &mine.id, "EUR", &days_from_today(3), 111).await;
    issue(&app, &theirs.id, "EUR", &days_from_today(4), 222).await;
    let expect = |cents: i64, holder: &str| {
        json!({"openItems": {"totals": [{"amountCents": cents, "currency": "EUR"}],
            "edges": [{"node": {"totalCents": cents, "account": {"holderName": holder}}}]}})
    };
    let closed_before = read_connections_closed(&app, "unfinished").await;

    for polls in 1..120 {
        dropped_after(polls, app.gql(Some(&attacker), ITEMS, json!({}))).await;
        let seen = app.gql(Some(&reader), ITEMS, json!({})).await;
        assert_eq!(seen["data"], expect(222, "Steady Main"), "after a request dropped at poll {polls}: {seen}");
    }
    for _ in 0..10 {
        let seen = app.gql(Some(&attacker), ITEMS, json!({})).await;
        assert_eq!(seen["data"], expect(111, "Dropper Main"), "{seen}");
    }
    if app.is_postgres() {
        assert!(
            read_connections_closed(&app, "unfinished").await > closed_before,
            "statements were cut off, and their connections closed"
        );
    }
}
