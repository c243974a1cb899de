//! Moving a secondary to another family in one step: rights on both families, the
//! destination's group, a dry run, stale views, subscribers of both families, and a move
//! racing a detach.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use canopy::entity::{account, audit_event, invoice};

use crate::billing::{days_from_today, issue};
use crate::collective::{SET_MODE, consolidate, today};
use crate::family::link;
use crate::helpers::{CreatedAccount, TestApp, decode_number, invite_and_accept, user_error_code};

const MOVE: &str = "mutation($i: MoveAccountInput!) { moveAccount(input: $i) {
    account { id role billingMode friendlyName parent { customerNumber } group { name } }
    validateOnly userErrors { code message field } } }";

async fn move_account(app: &TestApp, token: &str, input: Value) -> Value {
    app.data(Some(token), MOVE, json!({"i": input})).await["moveAccount"].clone()
}

async fn create_group(app: &TestApp, owner: &str, main: &CreatedAccount, name: &str, permissions: Value) -> String {
    let data = app
        .data(
            Some(owner),
            "mutation($i: CreateGroupInput!) { createGroup(input: $i) { group { id } userErrors { code } } }",
            json!({"i": {"mainAccountId": main.id, "name": name, "permissions": permissions}}),
        )
        .await;
    data["createGroup"]["group"]["id"].as_str().unwrap_or_else(|| panic!("create group: {data}")).to_owned()
}

fn row_of<'a>(rows: &'a [account::Model], account: &CreatedAccount) -> &'a account::Model {
    rows.iter().find(|r| r.id == decode_number(&account.id)).unwrap()
}

/// Two families, A (with a secondary, billed collectively) and B; A's owner also manages
/// B's accounts through a group of B with MANAGE_ACCOUNTS.
struct TwoFamilies {
    a: CreatedAccount,
    a_owner: String,
    secondary: CreatedAccount,
    b: CreatedAccount,
    b_owner: String,
    b_group: String,
}

async fn two_families(app: &TestApp, tag: &str) -> TwoFamilies {
    let (a, a_owner) = app.enrolled_account("Family A", &format!("a-owner-{tag}")).await;
    let (b, b_owner) = app.enrolled_account("Family B", &format!("b-owner-{tag}")).await;
    let secondary = app.create_account("Moving Line").await;
    assert_eq!(link(app, &a_owner, &a, &secondary).await["userErrors"], json!([]));
    let b_secondary = app.create_account("B's own line").await;
    assert_eq!(link(app, &b_owner, &b, &b_secondary).await["userErrors"], json!([]));
    let b_group = create_group(app, &b_owner, &b, "Managers", json!(["MANAGE_ACCOUNTS", "VIEW_INVOICES"])).await;
    // A's owner joins B's Managers group with the login they have.
    let joined = invite_and_accept(app, &b_owner, &b.id, &b_group, &format!("a-owner-{tag}")).await;
    let _ = joined;
    TwoFamilies { a, a_owner, secondary, b, b_owner, b_group }
}

async fn next_event(stream: &mut futures_util::stream::BoxStream<'static, Value>) -> Value {
    tokio::time::timeout(Duration::from_secs(10), stream.next()).await.expect("an event").expect("stream open")
}

#[tokio::test]
async fn move_a_secondary_to_another_family_in_one_step() {
    let app = TestApp::spawn().await;
    let f = two_families(&app, "one").await;
    // The secondary is billed collectively, with an invoice in A's open collective invoice.
    let staff = app.staff_token().await;
    let set = app.data(Some(&f.a_owner), SET_MODE, json!({"a": f.secondary.id, "m": "COLLECTIVE"})).await;
    assert_eq!(set["setBillingMode"]["userErrors"], json!([]));
    let invoice_id = issue(&app, &f.secondary.id, "EUR", &days_from_today(14), 1_250).await;
    let collective = consolidate(&app, &f.a_owner, &f.a, &today(), &today()).await;
    assert_eq!(collective["userErrors"], json!([]), "{collective}");
    let _ = staff;

    let watch = |main: &CreatedAccount| {
        format!(
            "subscription {{ accountTreeChanged(mainAccountId: \"{}\") {{ kind account {{ customerNumber role }} }} }}",
            main.id
        )
    };
    let mut a_events = app.subscribe(&f.a_owner, &watch(&f.a)).await;
    let mut b_events = app.subscribe(&f.b_owner, &watch(&f.b)).await;

    let moved = move_account(
        &app,
        &f.a_owner,
        json!({"accountId": f.secondary.id, "expectedParentId": f.a.id, "toMainAccountId": f.b.id, "groupId": f.b_group}),
    )
    .await;
    assert_eq!(moved["userErrors"], json!([]), "{moved}");
    assert_eq!(moved["account"]["role"], "SECONDARY");
    assert_eq!(moved["account"]["billingMode"], "INDIVIDUAL");
    assert_eq!(moved["account"]["group"]["name"], "Managers");
    // B's owner now has it as a secondary of B.
    let seen = app
        .data(
            Some(&f.b_owner),
            "query($id: ID!) { account(id: $id) { parent { customerNumber } } }",
            json!({"id": f.secondary.id}),
        )
        .await;
    assert_eq!(seen["account"]["parent"]["customerNumber"], json!(f.b.customer_number));

    let rows = account::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(row_of(&rows, &f.secondary).parent_id, Some(decode_number(&f.b.id)));
    // The invoice stays in A's open collective invoice.
    let member = invoice::Entity::find_by_id(decode_number(&invoice_id)).one(&app.db).await.unwrap().unwrap();
    assert!(member.collective_invoice_id.is_some(), "an invoice in an open collective invoice stays there");

    // B's subscriber sees it arrive as a secondary; A's subscriber is told, and no longer
    // sees the account. Neither ever sees it standalone or detached.
    let b_event = next_event(&mut b_events).await;
    assert_eq!(
        b_event,
        json!({"accountTreeChanged": {"kind": "MOVED", "account": {"customerNumber": f.secondary.customer_number, "role": "SECONDARY"}}})
    );
    let a_event = next_event(&mut a_events).await;
    assert_eq!(a_event["accountTreeChanged"]["kind"], "MOVED");
    // A's owner manages B through its Managers group, where the account now is.
    assert_eq!(a_event["accountTreeChanged"]["account"]["role"], "SECONDARY");
    for stream in [&mut a_events, &mut b_events] {
        let more = tokio::time::timeout(Duration::from_millis(300), stream.next()).await;
        assert!(more.is_err(), "one event per family: {more:?}");
    }

    // Each family's log has its side of the move.
    let actions = |main: &CreatedAccount| {
        let main = decode_number(&main.id);
        let db = app.db.clone();
        async move {
            audit_event::Entity::find()
                .filter(audit_event::Column::FamilyMainId.eq(main))
                .order_by_desc(audit_event::Column::Id)
                .all(&db)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.action)
                .next()
        }
    };
    assert_eq!(actions(&f.a).await.as_deref(), Some("account.moved_out"));
    assert_eq!(actions(&f.b).await.as_deref(), Some("account.moved_in"));
}

#[tokio::test]
async fn moving_needs_manage_accounts_on_both_families() {
    let app = TestApp::spawn().await;
    let (a, a_owner) = app.enrolled_account("Family A", "rights-a").await;
    let (b, b_owner) = app.enrolled_account("Family B", "rights-b").await;
    let secondary = app.create_account("Line").await;
    link(&app, &a_owner, &a, &secondary).await;

    // A's owner cannot see B: "not found", as for a missing id.
    let blind = move_account(&app, &a_owner, json!({"accountId": secondary.id, "toMainAccountId": b.id})).await;
    assert_eq!(user_error_code(&blind), Some("NOT_FOUND"));
    assert_eq!(blind["userErrors"][0]["field"], json!(["input", "toMainAccountId"]));
    // B's owner cannot pull A's secondary over.
    let pull = move_account(&app, &b_owner, json!({"accountId": secondary.id, "toMainAccountId": b.id})).await;
    assert_eq!(user_error_code(&pull), Some("NOT_FOUND"));
    assert_eq!(pull["userErrors"][0]["field"], json!(["input", "accountId"]));
    // A member of B with VIEW_INVOICES only sees B's family but may not move into it.
    let viewers = create_group(&app, &b_owner, &b, "Viewers", json!(["VIEW_INVOICES"])).await;
    invite_and_accept(&app, &b_owner, &b.id, &viewers, "rights-a").await;
    let a_owner = app.login("rights-a", crate::helpers::PASSWORD).await;
    let weak = move_account(&app, &a_owner, json!({"accountId": secondary.id, "toMainAccountId": b.id})).await;
    assert_eq!(user_error_code(&weak), Some("NOT_PERMITTED"));
    let rows = account::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(row_of(&rows, &secondary).parent_id, Some(decode_number(&a.id)), "nothing moved");
}

#[tokio::test]
async fn a_move_is_refused_as_an_attach_would_be_and_a_dry_run_changes_nothing() {
    let app = TestApp::spawn().await;
    let f = two_families(&app, "refusals").await;
    let standalone = app.create_account("Standalone").await;
    let staff = app.staff_token().await;
    let code = |payload: &Value| user_error_code(payload).map(str::to_owned);

    let stale = move_account(
        &app,
        &f.a_owner,
        json!({"accountId": f.secondary.id, "expectedParentId": f.b.id, "toMainAccountId": f.b.id}),
    )
    .await;
    assert_eq!(code(&stale).as_deref(), Some("STALE_PARENT"));
    let same = move_account(&app, &f.a_owner, json!({"accountId": f.secondary.id, "toMainAccountId": f.a.id})).await;
    assert_eq!(code(&same).as_deref(), Some("ALREADY_ATTACHED"));
    let under_secondary =
        move_account(&app, &f.a_owner, json!({"accountId": f.secondary.id, "toMainAccountId": f.secondary.id})).await;
    assert_eq!(code(&under_secondary).as_deref(), Some("TARGET_IS_SECONDARY"));
    let not_in_family =
        move_account(&app, &staff, json!({"accountId": standalone.id, "toMainAccountId": f.b.id})).await;
    assert_eq!(code(&not_in_family).as_deref(), Some("INVALID_INPUT"));
    let foreign_group = move_account(
        &app,
        &staff,
        json!({"accountId": f.secondary.id, "toMainAccountId": f.b.id, "groupId": create_group(&app, &f.a_owner, &f.a, "A's", json!([])).await}),
    )
    .await;
    assert_eq!(code(&foreign_group).as_deref(), Some("NOT_FOUND"));

    let audit_before = audit_event::Entity::find().all(&app.db).await.unwrap().len();
    let dry = move_account(
        &app,
        &f.a_owner,
        json!({"accountId": f.secondary.id, "expectedParentId": f.a.id, "toMainAccountId": f.b.id, "validateOnly": true}),
    )
    .await;
    assert_eq!(dry["userErrors"], json!([]), "{dry}");
    assert_eq!(dry["validateOnly"], true);
    assert_eq!(dry["account"]["parent"]["customerNumber"], json!(f.a.customer_number), "shown as it is");
    let rows = account::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(row_of(&rows, &f.secondary).parent_id, Some(decode_number(&f.a.id)));
    assert_eq!(audit_event::Entity::find().all(&app.db).await.unwrap().len(), audit_before, "no audit for a dry run");
    let _ = (&f.b_owner, &f.b_group);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_move_racing_a_detach_has_exactly_one_winner() {
    for round in 0..4 {
        let app = Arc::new(TestApp::spawn().await);
        let f = two_families(&app, &format!("race{round}")).await;
        let staff = app.staff_token().await;
        let mover = {
            let app = app.clone();
            let token = staff.clone();
            let input = json!({"accountId": f.secondary.id, "expectedParentId": f.a.id, "toMainAccountId": f.b.id});
            tokio::spawn(async move { move_account(&app, &token, input).await })
        };
        let detacher = {
            let app = app.clone();
            let input = json!({"i": {"accountId": f.secondary.id, "expectedParentId": f.a.id}});
            tokio::spawn(async move {
                app.data(
                    Some(&staff),
                    "mutation($i: DetachAccountInput!) { adminDetachAccount(input: $i) { userErrors { code } } }",
                    input,
                )
                .await["adminDetachAccount"]
                    .clone()
            })
        };
        let (moved, detached) = (mover.await.unwrap(), detacher.await.unwrap());
        let rows = account::Entity::find().all(&app.db).await.unwrap();
        let parent = row_of(&rows, &f.secondary).parent_id;
        // Whoever locks the account first wins; the other finds the parent it expected
        // gone: STALE_PARENT, and the account is where the winner put it.
        match (user_error_code(&moved), user_error_code(&detached)) {
            (None, Some("STALE_PARENT")) => assert_eq!(parent, Some(decode_number(&f.b.id)), "round {round}"),
            (Some("STALE_PARENT"), None) => assert_eq!(parent, None, "round {round}"),
            _ => panic!("round {round}: one wins, the other is STALE_PARENT: {moved} {detached}"),
        }
    }
}
