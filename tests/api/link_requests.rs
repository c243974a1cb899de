//! Link requests: a family asks by customer number, the account's owner decides in their
//! own session. Tried as a requester fishing for accounts, as a stranger, as the wrong
//! side, with a replay, after expiry and in a race.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use canopy::entity::{account, audit_event, link_request, outbox};

use crate::family::link;
use crate::helpers::{CreatedAccount, TestApp, decode_number, invite_and_accept, user_error_code};

const FIELDS: &str = "id status customerNumber friendlyName message createdAt expiresAt decidedAt
    mainAccount { customerNumber } requestedBy { holderName customerNumber } account { customerNumber role }";

fn request_document() -> String {
    format!(
        "mutation($i: RequestLinkInput!) {{ requestLink(input: $i) {{ linkRequest {{ {FIELDS} }} userErrors {{ code message field }} }} }}"
    )
}

fn decision_document(mutation: &str) -> String {
    let account =
        if mutation == "acceptLinkRequest" { "account { customerNumber role parent { customerNumber } }" } else { "" };
    format!(
        "mutation($id: ID!) {{ {mutation}(input: {{linkRequestId: $id}}) {{ linkRequest {{ {FIELDS} }} {account} userErrors {{ code message field }} }} }}"
    )
}

fn list_document() -> String {
    format!(
        "query($d: LinkRequestDirection, $s: LinkRequestStatus) {{ viewer {{ linkRequests(direction: $d, status: $s) {{
            edges {{ node {{ {FIELDS} }} }} }} }} }}"
    )
}

/// `requestLink` as `token`; returns the payload.
async fn request(app: &TestApp, token: &str, input: Value) -> Value {
    app.data(Some(token), &request_document(), json!({"i": input})).await["requestLink"].clone()
}

/// Asks for `customer_number` into `main`'s family; returns the new request's id.
async fn request_ok(app: &TestApp, token: &str, main: &CreatedAccount, customer_number: &str) -> String {
    let payload = request(app, token, json!({"mainAccountId": main.id, "customerNumber": customer_number})).await;
    assert_eq!(payload["userErrors"], json!([]), "{payload}");
    payload["linkRequest"]["id"].as_str().unwrap().to_owned()
}

async fn decide(app: &TestApp, token: &str, mutation: &str, id: &str) -> Value {
    app.data(Some(token), &decision_document(mutation), json!({"id": id})).await[mutation].clone()
}

async fn listed(app: &TestApp, token: &str, direction: Option<&str>, status: Option<&str>) -> Vec<Value> {
    let data = app.data(Some(token), &list_document(), json!({"d": direction, "s": status})).await;
    data["viewer"]["linkRequests"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
}

/// Puts a request's expiry in the past, as if 14 days had gone by.
async fn let_expire(app: &TestApp, id: &str) {
    link_request::Entity::update_many()
        .col_expr(link_request::Column::ExpiresAt, Expr::value(chrono::Utc::now() - chrono::Duration::minutes(1)))
        .filter(link_request::Column::Id.eq(decode_number(id)))
        .exec(&app.db)
        .await
        .unwrap();
}

async fn parent_of(app: &TestApp, account: &CreatedAccount) -> Option<i64> {
    account::Entity::find_by_id(decode_number(&account.id)).one(&app.db).await.unwrap().unwrap().parent_id
}

#[tokio::test]
async fn a_family_asks_by_customer_number_and_the_owner_accepts_in_their_own_session() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Acme Ltd", "acme").await;
    let (branch, branch_owner) = app.enrolled_account("Branch Office", "branch").await;
    let watch = format!(
        "subscription {{ accountTreeChanged(mainAccountId: \"{}\") {{ kind account {{ customerNumber }} }} }}",
        main.id
    );
    let mut events = app.subscribe(&owner, &watch).await;

    let asked = request(
        &app,
        &owner,
        json!({"customerNumber": branch.customer_number, "friendlyName": "Branch", "message": "Hello from Acme\nLet us bill you together."}),
    )
    .await;
    assert_eq!(asked["userErrors"], json!([]), "mainAccountId defaults to the home account");
    let sent = &asked["linkRequest"];
    assert_eq!(sent["status"], "PENDING");
    assert_eq!(sent["customerNumber"], json!(branch.customer_number));
    assert_eq!(sent["account"], json!(null), "the requester sees nothing of the account before it accepts");
    assert_eq!(sent["mainAccount"]["customerNumber"], json!(main.customer_number));
    assert_eq!(sent["decidedAt"], json!(null));
    let created = chrono::DateTime::parse_from_rfc3339(sent["createdAt"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(sent["expiresAt"].as_str().unwrap()).unwrap();
    assert_eq!((expires - created).num_days(), 14);
    let id = sent["id"].as_str().unwrap().to_owned();

    // A mail to the branch's login, through the outbox, with no secret in it.
    let mails = outbox::Entity::find().filter(outbox::Column::Kind.eq("link_request")).all(&app.db).await.unwrap();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].recipient, "branch@example.com");
    assert!(mails[0].body.contains("Acme Ltd") && mails[0].body.contains(&main.customer_number), "{}", mails[0].body);
    assert!(mails[0].body.contains("Let us bill you together."));
    assert!(!mails[0].body.contains(&app.current_enrollment_token(&branch.id).await));

    // The branch's owner sees who asks, and its own account; not the requesting family.
    let incoming = listed(&app, &branch_owner, Some("INCOMING"), None).await;
    assert_eq!(incoming.len(), 1);
    assert_eq!(incoming[0]["id"], json!(id));
    assert_eq!(incoming[0]["requestedBy"], json!({"holderName": "Acme Ltd", "customerNumber": main.customer_number}));
    assert_eq!(incoming[0]["mainAccount"], json!(null));
    assert_eq!(incoming[0]["account"]["customerNumber"], json!(branch.customer_number));
    assert_eq!(listed(&app, &branch_owner, Some("OUTGOING"), None).await, Vec::<Value>::new());
    assert_eq!(listed(&app, &owner, Some("OUTGOING"), None).await.len(), 1);
    assert_eq!(listed(&app, &owner, Some("INCOMING"), None).await, Vec::<Value>::new());

    let accepted = decide(&app, &branch_owner, "acceptLinkRequest", &id).await;
    assert_eq!(accepted["userErrors"], json!([]), "{accepted}");
    assert_eq!(accepted["linkRequest"]["status"], "ACCEPTED");
    assert!(accepted["linkRequest"]["decidedAt"].is_string());
    assert_eq!(accepted["account"]["role"], "SECONDARY");
    assert_eq!(accepted["account"]["parent"], json!(null), "the branch's own team does not see the main");
    assert_eq!(parent_of(&app, &branch).await, Some(decode_number(&main.id)));

    // Now the requester sees the account, with the friendly name it asked for.
    let outgoing = listed(&app, &owner, None, Some("ACCEPTED")).await;
    assert_eq!(outgoing[0]["account"], json!({"customerNumber": branch.customer_number, "role": "SECONDARY"}));
    let tree = app
        .data(
            Some(&owner),
            "query($id: ID!) { account(id: $id) { friendlyName parent { customerNumber } } }",
            json!({"id": branch.id}),
        )
        .await;
    assert_eq!(tree["account"], json!({"friendlyName": "Branch", "parent": {"customerNumber": main.customer_number}}));

    let event = tokio::time::timeout(Duration::from_secs(10), events.next()).await.expect("an event").expect("open");
    assert_eq!(
        event,
        json!({"accountTreeChanged": {"kind": "ATTACHED", "account": {"customerNumber": branch.customer_number}}})
    );

    let actions: Vec<String> = audit_event::Entity::find()
        .filter(audit_event::Column::FamilyMainId.eq(decode_number(&main.id)))
        .order_by_asc(audit_event::Column::Id)
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, vec!["account.enrolled", "link_request.created", "account.linked_by_request"]);
}

/// The parts of a request payload that do not depend on which row was written.
fn without_row_facts(mut payload: Value) -> Value {
    for field in ["id", "createdAt", "expiresAt", "customerNumber"] {
        payload["linkRequest"][field] = json!("…");
    }
    payload
}

#[tokio::test]
async fn a_requester_learns_nothing_about_a_customer_number_from_the_answer_or_the_statements() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Fisher", "fisher").await;
    let (enrolled, _) = app.enrolled_account("Enrolled Holder", "enrolled").await;
    let unenrolled = app.create_account("Unenrolled Holder").await;
    // A main of another family, and a secondary of it: they cannot be linked, and the
    // requester must not learn that either.
    let (other_main, other_owner) = app.enrolled_account("Other Main", "other").await;
    let other_secondary = app.create_account("Other Secondary").await;
    link(&app, &other_owner, &other_main, &other_secondary).await;
    let missing = "9999999999".to_owned();

    let mut answers = Vec::new();
    let mut statements = Vec::new();
    for number in [
        enrolled.customer_number.clone(),
        unenrolled.customer_number.clone(),
        other_main.customer_number.clone(),
        other_secondary.customer_number.clone(),
        missing.clone(),
    ] {
        let before = app.statements();
        let payload =
            request(&app, &owner, json!({"mainAccountId": main.id, "customerNumber": number, "friendlyName": "Probe"}))
                .await;
        statements.push(app.statements() - before);
        assert_eq!(payload["userErrors"], json!([]), "{number}: {payload}");
        answers.push(without_row_facts(payload));
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "the same answer for every number: {answers:#?}");
    assert!(statements.iter().all(|n| *n == statements[0]), "the same statements for every number: {statements:?}");
    assert_eq!(answers[0]["linkRequest"]["status"], "PENDING");
    assert_eq!(answers[0]["linkRequest"]["account"], json!(null));

    // Read back, by node and in the list, every request looks alike too.
    let listed_now = listed(&app, &owner, Some("OUTGOING"), None).await;
    assert_eq!(listed_now.len(), 5);
    for node in &listed_now {
        assert_eq!(node["status"], "PENDING");
        assert_eq!(node["account"], json!(null));
    }
    // Asking twice for an unknown number answers like asking twice for a known one.
    let again_missing = request(&app, &owner, json!({"customerNumber": missing})).await;
    let again_known = request(&app, &owner, json!({"customerNumber": enrolled.customer_number})).await;
    assert_eq!(user_error_code(&again_missing), Some("DUPLICATE_REQUEST"));
    assert_eq!(again_missing["userErrors"][0]["message"], again_known["userErrors"][0]["message"]);
    // A malformed number is refused for its format, which is public.
    let malformed = request(&app, &owner, json!({"customerNumber": "12ab"})).await;
    assert_eq!(user_error_code(&malformed), Some("INVALID_INPUT"));
}

#[tokio::test]
async fn a_decided_request_cannot_be_decided_again() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main", "decider-main").await;
    let (target, target_owner) = app.enrolled_account("Target", "decider-target").await;
    let (other, other_target_owner) = app.enrolled_account("Other Target", "decider-other").await;

    let accepted = request_ok(&app, &owner, &main, &target.customer_number).await;
    assert_eq!(decide(&app, &target_owner, "acceptLinkRequest", &accepted).await["userErrors"], json!([]));
    for mutation in ["acceptLinkRequest", "declineLinkRequest"] {
        let again = decide(&app, &target_owner, mutation, &accepted).await;
        assert_eq!(user_error_code(&again), Some("NOT_PENDING"), "{mutation} after accept: {again}");
    }
    assert_eq!(user_error_code(&decide(&app, &owner, "cancelLinkRequest", &accepted).await), Some("NOT_PENDING"));

    let declined = request_ok(&app, &owner, &main, &other.customer_number).await;
    let no = decide(&app, &other_target_owner, "declineLinkRequest", &declined).await;
    assert_eq!(no["userErrors"], json!([]));
    assert_eq!(no["linkRequest"]["status"], "DECLINED");
    assert_eq!(
        user_error_code(&decide(&app, &other_target_owner, "acceptLinkRequest", &declined).await),
        Some("NOT_PENDING")
    );
    assert_eq!(parent_of(&app, &other).await, None, "a declined request links nothing");
    assert_eq!(listed(&app, &owner, None, Some("DECLINED")).await.len(), 1);

    // After a decline the family may ask again; a cancelled request cannot be accepted.
    let asked_again = request_ok(&app, &owner, &main, &other.customer_number).await;
    let cancelled = decide(&app, &owner, "cancelLinkRequest", &asked_again).await;
    assert_eq!(cancelled["linkRequest"]["status"], "CANCELLED");
    assert_eq!(
        user_error_code(&decide(&app, &other_target_owner, "acceptLinkRequest", &asked_again).await),
        Some("NOT_PENDING")
    );
    assert_eq!(parent_of(&app, &other).await, None);
}

#[tokio::test]
async fn an_expired_request_reads_expired_and_cannot_be_accepted() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main", "expiry-main").await;
    let (target, target_owner) = app.enrolled_account("Target", "expiry-target").await;
    let id = request_ok(&app, &owner, &main, &target.customer_number).await;
    let_expire(&app, &id).await;

    for token in [&owner, &target_owner] {
        let all = listed(&app, token, None, None).await;
        assert_eq!(all[0]["status"], "EXPIRED");
        assert_eq!(listed(&app, token, None, Some("EXPIRED")).await.len(), 1);
        assert_eq!(listed(&app, token, None, Some("PENDING")).await.len(), 0);
    }
    assert_eq!(user_error_code(&decide(&app, &target_owner, "acceptLinkRequest", &id).await), Some("NOT_PENDING"));
    assert_eq!(parent_of(&app, &target).await, None);

    // The family may ask again; the old request stays EXPIRED.
    let fresh = request_ok(&app, &owner, &main, &target.customer_number).await;
    let statuses: Vec<Value> = listed(&app, &owner, None, None).await.iter().map(|n| n["status"].clone()).collect();
    assert_eq!(statuses, vec![json!("PENDING"), json!("EXPIRED")]);
    assert_eq!(decide(&app, &target_owner, "acceptLinkRequest", &fresh).await["userErrors"], json!([]));
}

#[tokio::test]
async fn acceptance_checks_the_attach_rules_at_that_moment() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main", "moment-main").await;
    let (target, target_owner) = app.enrolled_account("Target", "moment-target").await;
    let (elsewhere, elsewhere_owner) = app.enrolled_account("Elsewhere", "moment-elsewhere").await;
    let id = request_ok(&app, &owner, &main, &target.customer_number).await;

    // Since the request, the target became a main account of its own.
    let own_secondary = app.create_account("Target's own secondary").await;
    assert_eq!(link(&app, &target_owner, &target, &own_secondary).await["userErrors"], json!([]));
    let refused = decide(&app, &target_owner, "acceptLinkRequest", &id).await;
    assert_eq!(user_error_code(&refused), Some("IS_MAIN"), "{refused}");
    assert_eq!(refused["userErrors"][0]["field"], json!(["input", "linkRequestId"]));
    assert_eq!(parent_of(&app, &target).await, None);

    // Another request, then the account joined another family meanwhile.
    let joiner = app.enrolled_account("Joiner", "moment-joiner").await;
    let second = request_ok(&app, &owner, &main, &joiner.0.customer_number).await;
    let staff = app.staff_token().await;
    let attached = app
        .data(
            Some(&staff),
            "mutation($i: AdminAttachAccountInput!) { adminAttachAccount(input: $i) { userErrors { code } } }",
            json!({"i": {"mainAccountId": elsewhere.id, "accountId": joiner.0.id}}),
        )
        .await;
    assert_eq!(attached["adminAttachAccount"]["userErrors"], json!([]));
    assert_eq!(user_error_code(&decide(&app, &joiner.1, "acceptLinkRequest", &second).await), Some("ALREADY_ATTACHED"));
    assert_eq!(parent_of(&app, &joiner.0).await, Some(decode_number(&elsewhere.id)));
    // Both refused requests are still pending: the refusal changed nothing.
    let pending = listed(&app, &owner, None, Some("PENDING")).await;
    assert_eq!(pending.len(), 2);
    let _ = elsewhere_owner;
}

#[tokio::test]
async fn only_the_owner_of_the_account_asked_for_decides_and_strangers_see_nothing() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main", "sides-main").await;
    let (target, target_owner) = app.enrolled_account("Target", "sides-target").await;
    let (_, stranger) = app.enrolled_account("Stranger", "sides-stranger").await;
    let id = request_ok(&app, &owner, &main, &target.customer_number).await;

    // The requester cannot accept its own request, nor decline it for the target.
    for mutation in ["acceptLinkRequest", "declineLinkRequest"] {
        assert_eq!(user_error_code(&decide(&app, &owner, mutation, &id).await), Some("NOT_PERMITTED"), "{mutation}");
    }
    // The target cannot cancel the family's request.
    assert_eq!(user_error_code(&decide(&app, &target_owner, "cancelLinkRequest", &id).await), Some("NOT_PERMITTED"));
    // A stranger gets "not found" for every decision, null by node, and an empty list.
    for mutation in ["acceptLinkRequest", "declineLinkRequest", "cancelLinkRequest"] {
        let tried = decide(&app, &stranger, mutation, &id).await;
        assert_eq!(user_error_code(&tried), Some("NOT_FOUND"), "{mutation}");
        assert_eq!(tried["userErrors"][0]["message"], "no such link request");
    }
    let by_node = app.data(Some(&stranger), "query($id: ID!) { node(id: $id) { id } }", json!({"id": id})).await;
    assert_eq!(by_node["node"], json!(null));
    assert_eq!(listed(&app, &stranger, None, None).await, Vec::<Value>::new());
    // A wrong kind of id is "not found" too.
    assert_eq!(user_error_code(&decide(&app, &target_owner, "acceptLinkRequest", &main.id).await), Some("NOT_FOUND"));
    // Both sides read it by node.
    for token in [&owner, &target_owner] {
        let node = app
            .data(Some(token), "query($id: ID!) { node(id: $id) { ... on LinkRequest { status } } }", json!({"id": id}))
            .await;
        assert_eq!(node["node"]["status"], "PENDING");
    }
    assert_eq!(parent_of(&app, &target).await, None);
}

#[tokio::test]
async fn a_group_member_asks_only_with_manage_accounts() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main", "member-main").await;
    let target = app.create_account("Target").await;
    let secondary = app.create_account("Secondary").await;
    link(&app, &owner, &main, &secondary).await;
    let viewers = app
        .data(
            Some(&owner),
            "mutation($i: CreateGroupInput!) { createGroup(input: $i) { group { id } } }",
            json!({"i": {"mainAccountId": main.id, "name": "Viewers", "permissions": ["VIEW_INVOICES"]}}),
        )
        .await;
    let group_id = viewers["createGroup"]["group"]["id"].as_str().unwrap().to_owned();
    let member = invite_and_accept(&app, &owner, &main.id, &group_id, "member-viewer").await;
    let sent = request_ok(&app, &owner, &main, &target.customer_number).await;

    let tried = request(&app, &member, json!({"mainAccountId": main.id, "customerNumber": "1234567890"})).await;
    assert_eq!(user_error_code(&tried), Some("NOT_PERMITTED"));
    assert_eq!(listed(&app, &member, None, None).await, Vec::<Value>::new(), "a viewer-only member sees no requests");
    assert_eq!(user_error_code(&decide(&app, &member, "cancelLinkRequest", &sent).await), Some("NOT_FOUND"));
    // Naming one of the family's own secondaries as the main: the shape first.
    let under =
        request(&app, &owner, json!({"mainAccountId": secondary.id, "customerNumber": target.customer_number})).await;
    assert_eq!(user_error_code(&under), Some("TARGET_IS_SECONDARY"));
    // Accounts the requester already sees get the attach refusals at once.
    let own = request(&app, &owner, json!({"customerNumber": main.customer_number})).await;
    assert_eq!(user_error_code(&own), Some("SELF_ATTACH"));
    let in_family = request(&app, &owner, json!({"customerNumber": secondary.customer_number})).await;
    assert_eq!(user_error_code(&in_family), Some("ALREADY_ATTACHED"));
}

#[tokio::test]
async fn one_pending_request_per_customer_number_and_twenty_per_family() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main", "limits-main").await;
    let first = request_ok(&app, &owner, &main, "1000000001").await;
    assert_eq!(
        user_error_code(&request(&app, &owner, json!({"customerNumber": " 1000000001 "})).await),
        Some("DUPLICATE_REQUEST")
    );
    for n in 2..=20 {
        request_ok(&app, &owner, &main, &format!("10000000{n:02}")).await;
    }
    let over = request(&app, &owner, json!({"customerNumber": "1000000099"})).await;
    assert_eq!(user_error_code(&over), Some("LIMIT_REACHED"));
    assert_eq!(listed(&app, &owner, None, Some("PENDING")).await.len(), 20);
    decide(&app, &owner, "cancelLinkRequest", &first).await;
    request_ok(&app, &owner, &main, "1000000099").await;
}

#[tokio::test]
async fn bad_input_is_refused_with_a_code_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main", "input-main").await;
    let target = app.create_account("Target").await;
    let cases = [
        json!({"customerNumber": "12345\u{0}67890"}),
        json!({"customerNumber": target.customer_number, "message": "hi\u{0}there"}),
        json!({"customerNumber": target.customer_number, "message": "x".repeat(501)}),
        json!({"customerNumber": target.customer_number, "friendlyName": "  "}),
        json!({"customerNumber": target.customer_number, "groupId": main.id}),
        json!({"customerNumber": "1".repeat(10_000)}),
    ];
    for input in cases {
        let (_, body) = app.post(Some(&owner), &request_document(), json!({"i": input})).await;
        let payload = &body["data"]["requestLink"];
        let code = user_error_code(payload).or_else(|| crate::helpers::error_code(&body));
        assert!(matches!(code, Some("INVALID_INPUT" | "NOT_FOUND")), "{input}: {body}");
        assert!(!body.to_string().contains("SQL") && !body.to_string().contains("DbErr"), "{body}");
    }
    assert!(link_request::Entity::find().all(&app.db).await.unwrap().is_empty());
    let (_, anonymous) =
        app.post(None, &request_document(), json!({"i": {"customerNumber": target.customer_number}})).await;
    assert_eq!(crate::helpers::error_code(&anonymous), Some("UNAUTHENTICATED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_families_requests_accepted_at_once_for_one_account_exactly_one_wins() {
    for round in 0..4 {
        let app = Arc::new(TestApp::spawn().await);
        let (first_main, first_owner) = app.enrolled_account("First", &format!("first-{round}")).await;
        let (second_main, second_owner) = app.enrolled_account("Second", &format!("second-{round}")).await;
        let (target, target_owner) = app.enrolled_account("Contested", &format!("contested-{round}")).await;
        let a = request_ok(&app, &first_owner, &first_main, &target.customer_number).await;
        let b = request_ok(&app, &second_owner, &second_main, &target.customer_number).await;
        let accept = |id: String| {
            let app = app.clone();
            let token = target_owner.clone();
            tokio::spawn(async move { decide(&app, &token, "acceptLinkRequest", &id).await })
        };
        let (ta, tb) = (accept(a), accept(b));
        let (ra, rb) = (ta.await.unwrap(), tb.await.unwrap());
        let winner = match (user_error_code(&ra), user_error_code(&rb)) {
            (None, Some("ALREADY_ATTACHED")) => &first_main,
            (Some("ALREADY_ATTACHED"), None) => &second_main,
            _ => panic!("round {round}: exactly one acceptance wins, the other is ALREADY_ATTACHED: {ra} {rb}"),
        };
        assert_eq!(parent_of(&app, &target).await, Some(decode_number(&winner.id)), "round {round}");
        let accepted = link_request::Entity::find()
            .filter(link_request::Column::Status.eq(canopy::entity::enums::LinkRequestStatus::Accepted))
            .all(&app.db)
            .await
            .unwrap();
        assert_eq!(accepted.len(), 1, "round {round}: one request accepted, the other still pending");
        assert_eq!(accepted[0].main_account_id, decode_number(&winner.id));
    }
}
