//! Groups and rights, sessions and invitations: each permission granted and withheld, and
//! a member of one family probing another.

use std::time::Duration;

use futures_util::StreamExt;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use canopy::entity::{invitation, session};

use crate::family::link;
use crate::helpers::{PASSWORD, TestApp, error_code, invite_and_accept, user_error_code};

const CREATE_GROUP: &str = "mutation($i: CreateGroupInput!) { createGroup(input: $i) { group { id name permissions } userErrors { code message } } }";

async fn create_group(app: &TestApp, token: &str, main_id: &str, name: &str, permissions: Value) -> Value {
    let data = app
        .data(
            Some(token),
            CREATE_GROUP,
            json!({"i": {"mainAccountId": main_id, "name": name, "permissions": permissions}}),
        )
        .await;
    data["createGroup"].clone()
}

async fn regroup(app: &TestApp, owner: &str, account_id: &Value, group_id: &Value) {
    let data = app
        .data(Some(owner), "mutation($a: ID!, $g: ID!) { updateLinkedAccount(input: {accountId: $a, groupId: $g}) { userErrors { code } } }", json!({"a": account_id, "g": group_id}))
        .await;
    assert_eq!(data["updateLinkedAccount"]["userErrors"], json!([]));
}

#[tokio::test]
async fn a_group_member_sees_exactly_the_group_s_accounts() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main", "g-owner").await;
    let mail = app.create_account("Mail").await;
    let phones = app.create_account("Phones").await;
    let mail_id = link(&app, &owner, &main, &mail).await["account"]["id"].clone();
    link(&app, &owner, &main, &phones).await;
    let team = create_group(&app, &owner, &main.id, "Mail team", json!(["VIEW_INVOICES"])).await;
    let team_id = team["group"]["id"].clone();
    regroup(&app, &owner, &mail_id, &team_id).await;
    let member = invite_and_accept(&app, &owner, &main.id, team_id.as_str().unwrap(), "mailer").await;
    let data =
        app.data(Some(&member), "{ viewer { accounts { edges { node { customerNumber } } } } }", json!({})).await;
    assert_eq!(data["viewer"]["accounts"]["edges"], json!([{"node": {"customerNumber": mail.customer_number}}]));
    // Neither the main nor the other secondary, by any route.
    let probe = app
        .data(
            Some(&member),
            "query($a: ID!, $b: ID!) { a: account(id: $a) { id } b: account(id: $b) { id } }",
            json!({"a": main.id, "b": phones.id}),
        )
        .await;
    assert_eq!(probe, json!({"a": null, "b": null}));
}

#[tokio::test]
async fn view_invoices_granted_and_withheld() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main", "v-owner").await;
    let target = app.create_account("Billed").await;
    let target_id = link(&app, &owner, &main, &target).await["account"]["id"].clone();
    let db_account = canopy::entity::account::Entity::find()
        .filter(canopy::entity::account::Column::CustomerNumber.eq(&target.customer_number))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let txn = sea_orm::TransactionTrait::begin(&app.db).await.unwrap();
    let lines = [canopy::domain::billing::NewLine { description: "Fee".into(), quantity: 2, unit_cents: 1250 }];
    canopy::domain::billing::insert_invoice(
        &txn,
        &db_account,
        "EUR",
        chrono::NaiveDate::from_ymd_opt(2030, 1, 31).unwrap(),
        &lines,
    )
    .await
    .unwrap();
    txn.commit().await.unwrap();

    let blind = create_group(&app, &owner, &main.id, "Blind", json!([])).await["group"]["id"].clone();
    regroup(&app, &owner, &target_id, &blind).await;
    let member = invite_and_accept(&app, &owner, &main.id, blind.as_str().unwrap(), "blind").await;
    let query = "query($id: ID!) { account(id: $id) { customerNumber openBalance { amountCents currency } invoices { edges { node { number } } } settings { paperlessBilling } } }";
    let withheld = app.data(Some(&member), query, json!({"id": target_id})).await;
    assert_eq!(withheld["account"]["customerNumber"], json!(target.customer_number), "visible as a group account");
    assert_eq!(withheld["account"]["openBalance"], json!([]));
    assert_eq!(withheld["account"]["invoices"]["edges"], json!([]));
    assert_eq!(withheld["account"]["settings"], json!(null));

    app.data(Some(&owner), "mutation($g: ID!) { updateGroup(input: {groupId: $g, permissions: [VIEW_INVOICES, MANAGE_SETTINGS]}) { userErrors { code } } }", json!({"g": blind}))
        .await;
    let granted = app.data(Some(&member), query, json!({"id": target_id})).await;
    assert_eq!(granted["account"]["openBalance"], json!([{"amountCents": 2500, "currency": "EUR"}]));
    assert_eq!(granted["account"]["invoices"]["edges"].as_array().unwrap().len(), 1);
    assert_eq!(
        granted["account"]["settings"],
        json!({"paperlessBilling": false}),
        "rights are read per request, not cached"
    );
}

#[tokio::test]
async fn manage_groups_granted_and_withheld() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main", "mg-owner").await;
    let plain = create_group(&app, &owner, &main.id, "Plain", json!(["VIEW_INVOICES"])).await["group"]["id"].clone();
    let admins =
        create_group(&app, &owner, &main.id, "Admins", json!(["MANAGE_GROUPS", "PAY_INVOICES"])).await["group"]["id"]
            .clone();
    let plain_member = invite_and_accept(&app, &owner, &main.id, plain.as_str().unwrap(), "plainy").await;
    let admin_member = invite_and_accept(&app, &owner, &main.id, admins.as_str().unwrap(), "adminy").await;
    let refused = create_group(&app, &plain_member, &main.id, "Mine", json!([])).await;
    assert_eq!(user_error_code(&refused), Some("NOT_PERMITTED"));
    // A right they hold they may grant; one they do not hold, not (tests/api/attacks.rs).
    let allowed = create_group(&app, &admin_member, &main.id, "Theirs", json!(["PAY_INVOICES"])).await;
    assert_eq!(allowed["userErrors"], json!([]));
    assert_eq!(allowed["group"]["permissions"], json!(["PAY_INVOICES"]));
    // Members are listed only to those who manage groups.
    let members = "query($g: ID!) { node(id: $g) { ... on Group { members { edges { node { loginName } } } } } }";
    let hidden = app.data(Some(&plain_member), members, json!({"g": plain})).await;
    assert_eq!(hidden["node"]["members"]["edges"], json!([]));
    let shown = app.data(Some(&owner), members, json!({"g": plain})).await;
    assert_eq!(shown["node"]["members"]["edges"], json!([{"node": {"loginName": "plainy"}}]));
}

#[tokio::test]
async fn the_default_group_stays_and_names_are_unique() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main", "dg-owner").await;
    let target = app.create_account("Target").await;
    let linked = link(&app, &owner, &main, &target).await;
    let default_query = "query($id: ID!) { account(id: $id) { group { id name isDefault } } }";
    let group =
        app.data(Some(&owner), default_query, json!({"id": linked["account"]["id"]})).await["account"]["group"].clone();
    assert_eq!(group["isDefault"], json!(true));
    let rename = app
        .data(
            Some(&owner),
            "mutation($g: ID!) { updateGroup(input: {groupId: $g, name: \"Renamed\"}) { userErrors { code } } }",
            json!({"g": group["id"]}),
        )
        .await;
    assert_eq!(user_error_code(&rename["updateGroup"]), Some("DEFAULT_GROUP"));
    let delete = app
        .data(
            Some(&owner),
            "mutation($g: ID!) { deleteGroup(input: {groupId: $g}) { userErrors { code } } }",
            json!({"g": group["id"]}),
        )
        .await;
    assert_eq!(user_error_code(&delete["deleteGroup"]), Some("DEFAULT_GROUP"));
    assert_eq!(
        user_error_code(&create_group(&app, &owner, &main.id, "Default Group", json!([])).await),
        Some("DUPLICATE_NAME")
    );
    // Deleting a group moves its accounts back to the Default Group.
    let sales = create_group(&app, &owner, &main.id, "Sales", json!([])).await["group"]["id"].clone();
    regroup(&app, &owner, &linked["account"]["id"], &sales).await;
    let deleted = app
        .data(
            Some(&owner),
            "mutation($g: ID!) { deleteGroup(input: {groupId: $g}) { group { name } userErrors { code } } }",
            json!({"g": sales}),
        )
        .await;
    assert_eq!(deleted["deleteGroup"]["group"]["name"], json!("Sales"));
    let back = app.data(Some(&owner), default_query, json!({"id": linked["account"]["id"]})).await;
    assert_eq!(back["account"]["group"]["name"], json!("Default Group"));
}

#[tokio::test]
async fn invitations_are_single_use_expire_and_can_join_a_second_family() {
    let app = TestApp::spawn().await;
    let (main_a, owner_a) = app.enrolled_account("A", "inv-a").await;
    let (main_b, owner_b) = app.enrolled_account("B", "inv-b").await;
    let account_a = app.create_account("A line").await;
    let account_b = app.create_account("B line").await;
    link(&app, &owner_a, &main_a, &account_a).await;
    link(&app, &owner_b, &main_b, &account_b).await;
    let group_a =
        create_group(&app, &owner_a, &main_a.id, "Shared", json!(["VIEW_INVOICES"])).await["group"]["id"].clone();
    let group_b =
        create_group(&app, &owner_b, &main_b.id, "Shared", json!(["VIEW_INVOICES"])).await["group"]["id"].clone();
    let line_a = app
        .data(
            Some(&owner_a),
            "query($n: String!) { account(customerNumber: $n) { id } }",
            json!({"n": account_a.customer_number}),
        )
        .await;
    let line_b = app
        .data(
            Some(&owner_b),
            "query($n: String!) { account(customerNumber: $n) { id } }",
            json!({"n": account_b.customer_number}),
        )
        .await;
    regroup(&app, &owner_a, &line_a["account"]["id"], &group_a).await;
    regroup(&app, &owner_b, &line_b["account"]["id"], &group_b).await;

    let member = invite_and_accept(&app, &owner_a, &main_a.id, group_a.as_str().unwrap(), "both").await;
    let invite = "mutation($i: InviteUserInput!) { inviteUser(input: $i) { invitationToken } }";
    let accept = "mutation($i: AcceptInvitationInput!) { acceptInvitation(input: $i) { token userErrors { code } } }";
    let second = app
        .data(
            Some(&owner_b),
            invite,
            json!({"i": {"mainAccountId": main_b.id, "email": "both@example.com", "groupIds": [group_b]}}),
        )
        .await;
    let code = second["inviteUser"]["invitationToken"].as_str().unwrap().to_owned();
    // An existing login joins with its own password.
    let wrong = app
        .data(None, accept, json!({"i": {"invitationToken": code, "loginName": "both", "password": "not-my-password"}}))
        .await;
    assert_eq!(user_error_code(&wrong["acceptInvitation"]), Some("INVALID_PROOF"));
    let joined = app
        .data(None, accept, json!({"i": {"invitationToken": code, "loginName": "both", "password": PASSWORD}}))
        .await;
    assert_eq!(joined["acceptInvitation"]["userErrors"], json!([]));
    let reused = app
        .data(None, accept, json!({"i": {"invitationToken": code, "loginName": "someone", "password": PASSWORD}}))
        .await;
    assert_eq!(user_error_code(&reused["acceptInvitation"]), Some("INVALID_PROOF"), "single use");
    let both =
        app.data(Some(&member), "{ viewer { accounts { edges { node { customerNumber } } } } }", json!({})).await;
    let mut seen: Vec<_> = both["viewer"]["accounts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["customerNumber"].as_str().unwrap().to_owned())
        .collect();
    seen.sort();
    let mut expected = vec![account_a.customer_number.clone(), account_b.customer_number.clone()];
    expected.sort();
    assert_eq!(seen, expected);

    // An expired invitation is refused.
    let third = app
        .data(
            Some(&owner_b),
            invite,
            json!({"i": {"mainAccountId": main_b.id, "email": "late@example.com", "groupIds": [group_b]}}),
        )
        .await;
    invitation::Entity::update_many()
        .col_expr(invitation::Column::ExpiresAt, Expr::value(chrono::Utc::now() - chrono::Duration::minutes(1)))
        .filter(invitation::Column::AcceptedAt.is_null())
        .exec(&app.db)
        .await
        .unwrap();
    let late = app.data(None, accept, json!({"i": {"invitationToken": third["inviteUser"]["invitationToken"], "loginName": "late", "password": PASSWORD}})).await;
    assert_eq!(user_error_code(&late["acceptInvitation"]), Some("INVALID_PROOF"));
}

#[tokio::test]
async fn a_member_of_family_a_probing_every_id_of_family_b_sees_nothing() {
    let app = TestApp::spawn().await;
    let (main_a, owner_a) = app.enrolled_account("A", "probe-a").await;
    let (main_b, owner_b) = app.enrolled_account("B", "probe-b").await;
    let line_b = app.create_account("B line").await;
    let linked = link(&app, &owner_b, &main_b, &line_b).await;
    let group_b = create_group(
        &app,
        &owner_b,
        &main_b.id,
        "B team",
        json!(["VIEW_INVOICES", "MANAGE_ACCOUNTS", "MANAGE_GROUPS"]),
    )
    .await["group"]["id"]
        .clone();
    let events = app.data(Some(&owner_b), "{ auditEvents(first: 5) { edges { node { id } } } }", json!({})).await;
    let event_id = events["auditEvents"]["edges"][0]["node"]["id"].clone();
    let user_b = app.data(Some(&owner_b), "{ viewer { id } }", json!({})).await["viewer"]["id"].clone();
    let default_b = app
        .data(
            Some(&owner_b),
            "query($id: ID!) { account(id: $id) { group { id } } }",
            json!({"id": linked["account"]["id"]}),
        )
        .await;
    let ids = json!([main_b.id, line_b.id, group_b, event_id, user_b, default_b["account"]["group"]["id"]]);
    let probe = app.data(Some(&owner_a), "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", json!({"ids": ids})).await;
    assert!(probe["nodes"].as_array().unwrap().iter().all(Value::is_null), "{probe}");
    // Mutations on family B answer like a missing id.
    assert_eq!(
        user_error_code(&create_group(&app, &owner_a, &main_b.id, "Intruders", json!([])).await),
        Some("NOT_FOUND")
    );
    let invite = app.data(Some(&owner_a), "mutation($m: ID!, $g: ID!) { inviteUser(input: {mainAccountId: $m, email: \"x@example.com\", groupIds: [$g]}) { userErrors { code } } }", json!({"m": main_b.id, "g": group_b})).await;
    assert_eq!(user_error_code(&invite["inviteUser"]), Some("NOT_FOUND"));
    let update = app
        .data(
            Some(&owner_a),
            "mutation($g: ID!) { updateGroup(input: {groupId: $g, name: \"Mine\"}) { userErrors { code } } }",
            json!({"g": group_b}),
        )
        .await;
    assert_eq!(user_error_code(&update["updateGroup"]), Some("NOT_FOUND"));
    let detach = app
        .data(
            Some(&owner_a),
            "mutation($a: ID!) { detachAccount(input: {accountId: $a}) { userErrors { code } } }",
            json!({"a": line_b.id}),
        )
        .await;
    assert_eq!(user_error_code(&detach["detachAccount"]), Some("NOT_FOUND"));
    let settings = app.data(Some(&owner_a), "mutation($a: ID!) { updateAccountSettings(input: {accountId: $a, settings: {paperlessBilling: true}}) { userErrors { code } } }", json!({"a": line_b.id})).await;
    assert_eq!(user_error_code(&settings["updateAccountSettings"]), Some("NOT_FOUND"));
    let audit = app
        .gql(
            Some(&owner_a),
            "query($m: ID!) { auditEvents(mainAccountId: $m) { edges { node { id } } } }",
            json!({"m": main_b.id}),
        )
        .await;
    assert_eq!(error_code(&audit), Some("FORBIDDEN"));
    let _ = main_a;
}

#[tokio::test]
async fn changing_the_password_signs_out_other_sessions() {
    let app = TestApp::spawn().await;
    let (_, first) = app.enrolled_account("Holder", "changer").await;
    let second = app.login("changer", PASSWORD).await;
    let change = "mutation($i: ChangePasswordInput!) { changePassword(input: $i) { ok userErrors { code field } } }";
    let wrong = app
        .data(
            Some(&first),
            change,
            json!({"i": {"currentPassword": "nope-nope-nope", "newPassword": "another-long-passphrase"}}),
        )
        .await;
    assert_eq!(user_error_code(&wrong["changePassword"]), Some("INVALID_PROOF"));
    let ok = app
        .data(
            Some(&first),
            change,
            json!({"i": {"currentPassword": PASSWORD, "newPassword": "another-long-passphrase"}}),
        )
        .await;
    assert_eq!(ok["changePassword"]["ok"], json!(true));
    assert_eq!(
        app.data(Some(&first), "{ viewer { loginName } }", json!({})).await["viewer"]["loginName"],
        json!("changer")
    );
    let (_, body) = app.post(Some(&second), "{ viewer { loginName } }", json!({})).await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
    app.login("changer", "another-long-passphrase").await;
}

#[tokio::test]
async fn sessions_slide_while_used_and_end_when_expired() {
    let app = TestApp::spawn().await;
    let (_, token) = app.enrolled_account("Holder", "slider").await;
    let hash = canopy::crypto::sha256_hex(&token);
    let soon = chrono::Utc::now() + chrono::Duration::minutes(5);
    session::Entity::update_many()
        .col_expr(session::Column::LastSeenAt, Expr::value(chrono::Utc::now() - chrono::Duration::minutes(10)))
        .col_expr(session::Column::ExpiresAt, Expr::value(soon))
        .filter(session::Column::TokenHash.eq(&hash))
        .exec(&app.db)
        .await
        .unwrap();
    app.data(Some(&token), "{ viewer { loginName } }", json!({})).await;
    let renewed =
        session::Entity::find().filter(session::Column::TokenHash.eq(&hash)).one(&app.db).await.unwrap().unwrap();
    assert!(renewed.expires_at > chrono::Utc::now() + chrono::Duration::days(6), "idle expiry renewed");
    session::Entity::update_many()
        .col_expr(session::Column::ExpiresAt, Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)))
        .filter(session::Column::TokenHash.eq(&hash))
        .exec(&app.db)
        .await
        .unwrap();
    let (_, body) = app.post(Some(&token), "{ viewer { loginName } }", json!({})).await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn tree_changes_reach_subscribers_who_may_see_the_family_only() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main", "watcher").await;
    let (_, stranger) = app.enrolled_account("Stranger", "peeker").await;
    let target = app.create_account("Target").await;
    let subscription = format!(
        "subscription {{ accountTreeChanged(mainAccountId: \"{}\") {{ kind account {{ customerNumber }} mainAccount {{ customerNumber }} }} }}",
        main.id
    );
    let mut owner_stream = app.subscribe(&owner, &subscription).await;
    let mut stranger_stream = app.subscribe(&stranger, &subscription).await;
    link(&app, &owner, &main, &target).await;
    let event = tokio::time::timeout(Duration::from_secs(10), owner_stream.next())
        .await
        .expect("an event")
        .expect("stream open");
    assert_eq!(
        event,
        json!({"accountTreeChanged": {"kind": "ATTACHED", "account": {"customerNumber": target.customer_number}, "mainAccount": {"customerNumber": main.customer_number}}})
    );
    let nothing = tokio::time::timeout(Duration::from_millis(500), stranger_stream.next()).await;
    assert!(nothing.is_err(), "a stranger gets nothing: {nothing:?}");
}

/// Issues `count` invoices of 12.50 EUR to the account with this customer number.
pub async fn issue_invoices(app: &TestApp, customer_number: &str, count: u32) {
    let account = canopy::entity::account::Entity::find()
        .filter(canopy::entity::account::Column::CustomerNumber.eq(customer_number))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let txn = sea_orm::TransactionTrait::begin(&app.db).await.unwrap();
    for n in 0..count {
        let lines = [canopy::domain::billing::NewLine { description: "Fee".into(), quantity: 1, unit_cents: 1250 }];
        let due = chrono::NaiveDate::from_ymd_opt(2030, 1, 1 + n).unwrap();
        canopy::domain::billing::insert_invoice(&txn, &account, "EUR", due, &lines).await.unwrap();
    }
    txn.commit().await.unwrap();
}

/// `canopy_account_tree_pages_total{path="..."}` from /metrics.
pub async fn tree_pages(app: &TestApp, path: &str) -> u64 {
    pages_by_path(app, "canopy_account_tree_pages_total", path).await
}

/// `counter{path="..."}` from /metrics.
pub async fn pages_by_path(app: &TestApp, counter: &str, path: &str) -> u64 {
    let (_, body) =
        app.send(axum::http::Request::get("/metrics").body(axum::body::Body::empty()).unwrap(), "127.0.0.1:1").await;
    let needle = format!("{counter}{{path=\"{path}\"}} ");
    let text = body.as_str().unwrap_or_default();
    let line = text.lines().find_map(|l| l.strip_prefix(needle.as_str()));
    line.unwrap_or_else(|| panic!("no {needle} in /metrics")).trim().parse().unwrap()
}

/// The account tree answered from the prefetched rows (`graphql::tree`) applies the same
/// rights and answers the same values as the general resolvers, for the family's owner
/// (full rights on two levels) and for a member who sees one secondary with
/// VIEW_INVOICES and one without. The general path is forced by a directive in each
/// account object, which the fast walk does not take.
#[tokio::test]
async fn the_prefetched_tree_answers_like_the_general_resolvers_for_every_right() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Tree Main", "tree-owner").await;
    let billed = app.create_account("Tree Billed").await;
    let blind = app.create_account("Tree Blind").await;
    let billed_id = link(&app, &owner, &main, &billed).await["account"]["id"].clone();
    let blind_id = link(&app, &owner, &main, &blind).await["account"]["id"].clone();
    issue_invoices(&app, &main.customer_number, 3).await;
    issue_invoices(&app, &billed.customer_number, 1).await;
    issue_invoices(&app, &blind.customer_number, 2).await;
    let viewers =
        create_group(&app, &owner, &main.id, "Viewers", json!(["VIEW_INVOICES"])).await["group"]["id"].clone();
    let hidden = create_group(&app, &owner, &main.id, "Hidden", json!([])).await["group"]["id"].clone();
    regroup(&app, &owner, &billed_id, &viewers).await;
    regroup(&app, &owner, &blind_id, &hidden).await;
    invite_and_accept(&app, &owner, &main.id, viewers.as_str().unwrap(), "tree-member").await;
    // Accepting with the same login adds it to the second group.
    let member = invite_and_accept(&app, &owner, &main.id, hidden.as_str().unwrap(), "tree-member").await;

    let document = |d: &str| {
        format!(
            "query($first: Int = 2, $s: Int!) {{ viewer {{ accounts(first: 10) {{
                pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
                edges {{ cursor node {{ __typename {d}
                    id customerNumber holderName friendlyName role status billingMode createdAt
                    group {{ id name isDefault permissions }}
                    openBalance {{ amountCents currency }}
                    invoices(first: $first) {{
                        pageInfo {{ hasNextPage endCursor }}
                        edges {{ cursor node {{ id number status totalCents currency issuedAt dueAt }} }}
                    }}
                    secondaries(first: $s) {{
                        pageInfo {{ hasNextPage startCursor }}
                        edges {{ node {{ __typename {d} id role customerNumber group {{ name }}
                            openBalance {{ currency amountCents }}
                            invoices(first: $first) {{ nodes {{ number }} edges {{ node {{ number }} }} }}
                        }} }}
                    }}
                }} }}
            }} }} }}"
        )
    };
    for (token, accounts) in [(&owner, 3), (&member, 2)] {
        let (prefetched, general) = (tree_pages(&app, "prefetched").await, tree_pages(&app, "general").await);
        let fast = app.data(Some(token), &document(""), json!({"s": 1})).await;
        assert!(tree_pages(&app, "prefetched").await > prefetched, "the plain tree took the fast walk");
        let slow = app.data(Some(token), &document("__typename @include(if: true)"), json!({"s": 1})).await;
        assert!(tree_pages(&app, "general").await > general, "the directive sent it down the general path");
        assert_eq!(fast, slow);
        assert_eq!(fast["viewer"]["accounts"]["edges"].as_array().unwrap().len(), accounts);
    }

    // What the answers hold: the owner sees the main's invoices two at a time and one
    // secondary of two; the member sees the billed secondary's invoice, not the blind one's.
    let owner_tree = app.data(Some(&owner), &document(""), json!({"s": 1})).await;
    let main_node = &owner_tree["viewer"]["accounts"]["edges"][0]["node"];
    assert_eq!(main_node["role"], "MAIN");
    assert_eq!(main_node["invoices"]["edges"].as_array().unwrap().len(), 2);
    assert_eq!(main_node["invoices"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(main_node["openBalance"], json!([{"amountCents": 3750, "currency": "EUR"}]));
    assert_eq!(main_node["secondaries"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(main_node["secondaries"]["edges"][0]["node"]["role"], "SECONDARY");
    let member_tree = app.data(Some(&member), &document(""), json!({"s": 1})).await;
    let by_number = |number: &str| {
        member_tree["viewer"]["accounts"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["node"]["customerNumber"] == number)
            .map(|e| e["node"].clone())
            .unwrap()
    };
    let billed_node = by_number(&billed.customer_number);
    assert_eq!(billed_node["invoices"]["edges"].as_array().unwrap().len(), 1);
    assert_eq!(billed_node["group"]["permissions"], json!(["VIEW_INVOICES"]));
    let blind_node = by_number(&blind.customer_number);
    assert_eq!(blind_node["invoices"]["edges"], json!([]));
    assert_eq!(blind_node["openBalance"], json!([]));
    assert_eq!(blind_node["role"], "SECONDARY");
}
