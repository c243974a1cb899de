//! Detach preconditions: `detachReadiness` lists what `detachAccount` would refuse with,
//! for every state an account and a viewer can be in. Both come from one list in
//! `domain/family/detach.rs`; this holds them to it from the outside.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use canopy::entity::account;
use canopy::entity::enums::AccountStatus;

use crate::family::{DETACH, LINK, link};
use crate::helpers::{CreatedAccount, PASSWORD, TestApp, decode_number, invite_and_accept};
use crate::trust::create_group;

const READINESS: &str =
    "query($id: ID!) { detachReadiness(accountId: $id) { canDetach blockers { code message field } } }";

/// Links `target` into `main`'s family, into the group named.
async fn link_into(app: &TestApp, owner: &str, main: &CreatedAccount, target: &CreatedAccount, group_id: &str) {
    let token = app.current_enrollment_token(&target.id).await;
    let proof = json!({"enrollmentToken": {"customerNumber": target.customer_number, "token": token}});
    let data = app
        .data(Some(owner), LINK, json!({"i": {"mainAccountId": main.id, "proof": proof, "groupId": group_id}}))
        .await;
    assert_eq!(data["linkAccount"]["userErrors"], json!([]), "{data}");
}

/// The readiness report and a dry-run detach, for one viewer and account.
async fn both_answers(app: &TestApp, viewer: &str, account_id: &str) -> (Value, Value) {
    let report = app.data(Some(viewer), READINESS, json!({"id": account_id})).await["detachReadiness"].clone();
    let input = json!({"i": {"accountId": account_id, "validateOnly": true, "deactivate": true}});
    let detach = app.data(Some(viewer), DETACH, input).await["detachAccount"].clone();
    (report, detach)
}

fn codes(errors: &Value) -> Vec<String> {
    errors.as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn detach_readiness_blockers_are_the_refusals_detach_answers_with() {
    let app = TestApp::spawn().await;
    let staff = app.staff_token().await;
    let (main, owner) = app.enrolled_account("Main", "agree-owner").await;
    let ops = create_group(&app, &owner, &main.id, "Ops", json!(["MANAGE_ACCOUNTS"])).await;
    let lookers = create_group(&app, &owner, &main.id, "Lookers", json!(["VIEW_INVOICES"])).await;
    let ops_member = invite_and_accept(&app, &owner, &main.id, &ops, "agree-ops").await;
    let looker = invite_and_accept(&app, &owner, &main.id, &lookers, "agree-looker").await;

    let ops_branch = app.create_account("Ops branch").await;
    link_into(&app, &owner, &main, &ops_branch, &ops).await;
    let viewed_branch = app.create_account("Viewed branch").await;
    link_into(&app, &owner, &main, &viewed_branch, &lookers).await;
    let (team_branch, team) = app.enrolled_account("Team branch", "agree-team").await;
    let by_login = json!({"i": {"proof": {"credentials": {"loginName": "agree-team", "password": PASSWORD}}}});
    assert_eq!(app.data(Some(&owner), LINK, by_login).await["linkAccount"]["userErrors"], json!([]));
    let removed = app.create_account("Removed").await;
    assert_eq!(link(&app, &owner, &main, &removed).await["userErrors"], json!([]));
    let remove = json!({"i": {"accountId": removed.id, "deactivate": true}});
    assert_eq!(app.data(Some(&owner), DETACH, remove).await["detachAccount"]["userErrors"], json!([]));
    // Deactivated yet still attached: no mutation leaves an account so, a hand edit could.
    let edited = app.create_account("Edited").await;
    link_into(&app, &owner, &main, &edited, &lookers).await;
    account::Entity::update_many()
        .col_expr(account::Column::Status, Expr::value(AccountStatus::Deactivated))
        .filter(account::Column::Id.eq(decode_number(&edited.id)))
        .exec(&app.db)
        .await
        .unwrap();

    // (what, viewer, account, the blockers expected, first one first)
    let states: [(&str, &str, &str, &[&str]); 9] = [
        ("a standalone account", &owner, &main.id, &["INVALID_INPUT"]),
        ("a secondary, its family's owner", &owner, &ops_branch.id, &[]),
        ("a secondary, staff", &staff, &viewed_branch.id, &[]),
        ("a secondary, a member with MANAGE_ACCOUNTS", &ops_member, &ops_branch.id, &[]),
        ("a secondary, a member who may only view", &looker, &viewed_branch.id, &["NOT_PERMITTED"]),
        ("a secondary, its own local team", &team, &team_branch.id, &["NOT_PERMITTED"]),
        ("a removed account, staff", &staff, &removed.id, &["INVALID_INPUT", "NOT_ACTIVE"]),
        ("deactivated yet attached, its family's owner", &owner, &edited.id, &["NOT_ACTIVE"]),
        ("deactivated yet attached, a member who may only view", &looker, &edited.id, &["NOT_PERMITTED", "NOT_ACTIVE"]),
    ];
    for (what, viewer, account_id, expected) in states {
        let (report, detach) = both_answers(&app, viewer, account_id).await;
        let blockers = report["blockers"].as_array().unwrap();
        assert_eq!(codes(&report["blockers"]), expected, "{what}: {report}");
        assert_eq!(report["canDetach"], json!(expected.is_empty()), "{what}: {report}");
        assert!(blockers.iter().all(|b| b["field"] == json!([])), "{what}: a report names no input field: {report}");
        // The mutation refuses with the first blocker (code and message), or goes through.
        let refusals: Vec<Value> =
            detach["userErrors"].as_array().unwrap().iter().map(|e| json!([e["code"], e["message"]])).collect();
        let first: Vec<Value> = blockers.iter().take(1).map(|b| json!([b["code"], b["message"]])).collect();
        assert_eq!(refusals, first, "{what}: detachAccount answered {detach}, detachReadiness {report}");
        assert_eq!(detach["validateOnly"], json!(true), "{what}");
    }

    // An account the viewer may not see: no report, and the mutation does not find it.
    let (_, stranger) = app.enrolled_account("Stranger", "agree-stranger").await;
    let (report, detach) = both_answers(&app, &stranger, &ops_branch.id).await;
    assert_eq!(report, json!(null));
    assert_eq!(codes(&detach["userErrors"]), ["NOT_FOUND"], "{detach}");
}
