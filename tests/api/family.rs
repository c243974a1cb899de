//! Building and changing families: link, order, detach, remove, regroup, with every
//! invariant of DOMAIN.md tried the way a confused user, an attacker or a race would.

use std::sync::Arc;

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use canopy::entity::{account, outbox};

use crate::helpers::{CreatedAccount, PASSWORD, TestApp, decode_number, error_code, user_error_code};

pub const LINK: &str = "mutation($i: LinkAccountInput!) { linkAccount(input: $i) {
    account { id customerNumber role friendlyName parent { id customerNumber } group { name } }
    validateOnly userErrors { code message field } } }";
pub const DETACH: &str = "mutation($i: DetachAccountInput!) { detachAccount(input: $i) {
    account { id role billingMode status group { name } } validateOnly userErrors { code message } } }";
const TREE: &str = "{ viewer { accounts(first: 50) { edges { node { customerNumber role friendlyName
    secondaries(first: 50) { edges { node { customerNumber } } } } } } } }";

fn token_proof(target: &CreatedAccount, token: &str) -> Value {
    json!({"enrollmentToken": {"customerNumber": target.customer_number, "token": token}})
}

/// Links `target` into the family of `main` as its owner, with the target's token.
pub async fn link(app: &TestApp, owner: &str, main: &CreatedAccount, target: &CreatedAccount) -> Value {
    let token = app.current_enrollment_token(&target.id).await;
    let data = app
        .data(
            Some(owner),
            LINK,
            json!({"i": {"mainAccountId": main.id, "proof": token_proof(target, &token), "friendlyName": "Linked"}}),
        )
        .await;
    data["linkAccount"].clone()
}

async fn customer_numbers_visible(app: &TestApp, token: &str) -> Vec<String> {
    let data = app.data(Some(token), TREE, json!({})).await;
    let mut numbers: Vec<String> = data["viewer"]["accounts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["customerNumber"].as_str().unwrap().to_owned())
        .collect();
    numbers.sort();
    numbers
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn link_an_account_by_its_enrollment_token() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main Holder", "owner").await;
    let target = app.create_account("Target Holder").await;
    let payload = link(&app, &owner, &main, &target).await;
    assert_eq!(payload["userErrors"], json!([]));
    assert_eq!(payload["account"]["role"], json!("SECONDARY"));
    assert_eq!(payload["account"]["parent"]["customerNumber"], json!(main.customer_number));
    assert_eq!(payload["account"]["group"]["name"], json!("Default Group"));
    assert_eq!(payload["account"]["friendlyName"], json!("Linked"));
    let tree = app.data(Some(&owner), TREE, json!({})).await;
    let main_node = &tree["viewer"]["accounts"]["edges"][0]["node"];
    assert_eq!(main_node["role"], json!("MAIN"));
    assert_eq!(main_node["secondaries"]["edges"][0]["node"]["customerNumber"], json!(target.customer_number));
    // The token on the old invoice is spent.
    assert_ne!(app.current_enrollment_token(&target.id).await, target.enrollment_token);
}

#[tokio::test]
async fn link_an_already_enrolled_account_by_its_login() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main Holder", "boss").await;
    let (target, local) = app.enrolled_account("Branch Holder", "branch").await;
    let data = app
        .data(Some(&owner), LINK, json!({"i": {"proof": {"credentials": {"loginName": "branch", "password": PASSWORD}}, "friendlyName": "Branch"}}))
        .await;
    assert_eq!(data["linkAccount"]["userErrors"], json!([]), "mainAccountId defaults to the home account");
    assert_eq!(data["linkAccount"]["account"]["parent"]["customerNumber"], json!(main.customer_number));
    // The local team keeps its own account, and only that.
    assert_eq!(customer_numbers_visible(&app, &local).await, vec![target.customer_number.clone()]);
    let parent = app
        .data(Some(&local), "query($id: ID!) { account(id: $id) { parent { id } } }", json!({"id": target.id}))
        .await;
    assert_eq!(parent["account"]["parent"], json!(null), "a secondary's team does not see the main");
    assert_eq!(
        customer_numbers_visible(&app, &owner).await,
        sorted(vec![main.customer_number.clone(), target.customer_number.clone()])
    );
}

#[tokio::test]
async fn every_refusal_has_its_code_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main", "m-owner").await;
    let (other_main, other_owner) = app.enrolled_account("Other main", "o-owner").await;
    let target = app.create_account("Target").await;
    let other_secondary = app.create_account("Other secondary").await;
    assert_eq!(link(&app, &other_owner, &other_main, &other_secondary).await["userErrors"], json!([]));

    // SELF_ATTACH: the main itself.
    assert_eq!(user_error_code(&link(&app, &owner, &main, &main).await), Some("SELF_ATTACH"));
    // ALREADY_ATTACHED: a secondary of another family.
    assert_eq!(user_error_code(&link(&app, &owner, &main, &other_secondary).await), Some("ALREADY_ATTACHED"));
    // IS_MAIN: a main account with secondaries.
    assert_eq!(user_error_code(&link(&app, &owner, &main, &other_main).await), Some("IS_MAIN"));
    // TARGET_IS_SECONDARY: attaching under a secondary (staff may try anything).
    let staff = app.staff_token().await;
    let under_secondary = app
        .data(
            Some(&staff),
            "mutation($i: AdminAttachAccountInput!) { adminAttachAccount(input: $i) { userErrors { code } } }",
            json!({"i": {"mainAccountId": other_secondary.id, "accountId": target.id}}),
        )
        .await;
    assert_eq!(user_error_code(&under_secondary["adminAttachAccount"]), Some("TARGET_IS_SECONDARY"));
    // INVALID_PROOF: a wrong token.
    let wrong = app
        .data(Some(&owner), LINK, json!({"i": {"proof": token_proof(&target, "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA")}}))
        .await;
    assert_eq!(user_error_code(&wrong["linkAccount"]), Some("INVALID_PROOF"));
    // NOT_FOUND: a group of another family.
    let other_group = app
        .data(
            Some(&other_owner),
            "{ viewer { accounts { edges { node { secondaries { edges { node { group { id } } } } } } } } }",
            json!({}),
        )
        .await;
    let other_group_id =
        other_group["viewer"]["accounts"]["edges"][0]["node"]["secondaries"]["edges"][0]["node"]["group"]["id"].clone();
    let token = app.current_enrollment_token(&target.id).await;
    let foreign_group = app
        .data(Some(&owner), LINK, json!({"i": {"proof": token_proof(&target, &token), "groupId": other_group_id}}))
        .await;
    assert_eq!(user_error_code(&foreign_group["linkAccount"]), Some("NOT_FOUND"));
    // NOT_ACTIVE: a removed account.
    let removed = app.create_account("Removed").await;
    assert_eq!(link(&app, &owner, &main, &removed).await["userErrors"], json!([]));
    let detached = app.data(Some(&owner), DETACH, json!({"i": {"accountId": removed.id, "deactivate": true}})).await;
    assert_eq!(detached["detachAccount"]["account"]["status"], json!("DEACTIVATED"));
    assert_eq!(user_error_code(&link(&app, &other_owner, &other_main, &removed).await), Some("NOT_ACTIVE"));

    // None of the refusals changed the target: it is still standalone and its token works.
    let still = app
        .data(Some(&staff), "query($id: ID!) { account(id: $id) { role parent { id } } }", json!({"id": target.id}))
        .await;
    assert_eq!(still["account"], json!({"role": "STANDALONE", "parent": null}));
    assert_eq!(app.current_enrollment_token(&target.id).await, token);
}

#[tokio::test]
async fn wrong_proofs_lock_the_target_after_five() {
    let app = TestApp::spawn().await;
    let (_, owner) = app.enrolled_account("Main", "locker").await;
    let target = app.create_account("Target").await;
    for _ in 0..5 {
        let wrong = app
            .data(Some(&owner), LINK, json!({"i": {"proof": token_proof(&target, "CCCC-CCCC-CCCC-CCCC-CCCC-CCCC")}}))
            .await;
        assert_eq!(user_error_code(&wrong["linkAccount"]), Some("INVALID_PROOF"));
    }
    let right = app.current_enrollment_token(&target.id).await;
    let locked = app.data(Some(&owner), LINK, json!({"i": {"proof": token_proof(&target, &right)}})).await;
    assert_eq!(user_error_code(&locked["linkAccount"]), Some("LOCKED"));
}

#[tokio::test]
async fn validate_only_reports_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main", "dry").await;
    let target = app.create_account("Target").await;
    let audit_before = canopy::entity::audit_event::Entity::find().count(&app.db).await.unwrap();
    let data = app
        .data(
            Some(&owner),
            LINK,
            json!({"i": {"proof": token_proof(&target, &target.enrollment_token), "validateOnly": true}}),
        )
        .await;
    assert_eq!(data["linkAccount"]["validateOnly"], json!(true));
    assert_eq!(data["linkAccount"]["userErrors"], json!([]));
    let row = account::Entity::find()
        .filter(account::Column::CustomerNumber.eq(&target.customer_number))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.parent_id, None);
    assert_eq!(row.token_version, 1, "a dry run does not spend the token");
    assert_eq!(canopy::entity::audit_event::Entity::find().count(&app.db).await.unwrap(), audit_before);
    // A real link afterwards works with the same token; a dry-run detach changes nothing.
    assert_eq!(link(&app, &owner, &main, &target).await["userErrors"], json!([]));
    let dry = app
        .data(Some(&owner), DETACH, json!({"i": {"accountId": target.id, "validateOnly": true, "deactivate": true}}))
        .await;
    // A dry run reports that it would succeed and shows the account as it still is.
    assert_eq!(dry["detachAccount"]["userErrors"], json!([]));
    assert_eq!(dry["detachAccount"]["account"]["status"], json!("ACTIVE"));
    let row = account::Entity::find()
        .filter(account::Column::CustomerNumber.eq(&target.customer_number))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(row.parent_id.is_some());
    assert_eq!(row.status, canopy::entity::enums::AccountStatus::Active);
}

#[tokio::test]
async fn expected_parent_refuses_a_stale_view() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main", "careful").await;
    let (other, _) = app.enrolled_account("Other", "other-careful").await;
    let target = app.create_account("Target").await;
    link(&app, &owner, &main, &target).await;
    let stale =
        app.data(Some(&owner), DETACH, json!({"i": {"accountId": target.id, "expectedParentId": other.id}})).await;
    assert_eq!(user_error_code(&stale["detachAccount"]), Some("STALE_PARENT"));
    let fresh =
        app.data(Some(&owner), DETACH, json!({"i": {"accountId": target.id, "expectedParentId": main.id}})).await;
    assert_eq!(fresh["detachAccount"]["userErrors"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_mains_race_to_link_one_account_and_exactly_one_wins() {
    let app = Arc::new(TestApp::spawn().await);
    let target = app.create_account("Contested").await;
    let mut owners = Vec::new();
    for n in 0..10 {
        owners.push(app.enrolled_account(&format!("Main {n}"), &format!("racer-{n}")).await);
    }
    let token = target.enrollment_token.clone();
    let mut tasks = Vec::new();
    for (n, (main, owner)) in owners.into_iter().enumerate() {
        let app = app.clone();
        let input = json!({"i": {"mainAccountId": main.id, "proof": token_proof(&target, &token)}});
        tasks.push(tokio::spawn(async move {
            // Different client addresses, so the lockout does not decide the race.
            let (_, body) = app.post_from(Some(&owner), LINK, input, &format!("10.0.0.{}:1", n + 1)).await;
            (main.id, body["data"]["linkAccount"].clone())
        }));
    }
    let mut winners = Vec::new();
    let mut refusals = Vec::new();
    for task in tasks {
        let (main_id, payload) = task.await.unwrap();
        match user_error_code(&payload) {
            None => winners.push(main_id),
            Some(code) => refusals.push(code.to_owned()),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one link wins: {refusals:?}");
    // The winner spends the token (its version moves on), so every other link is refused
    // for its proof: at the check, or under the lock when the version it proved is stale.
    assert_eq!(refusals, vec!["INVALID_PROOF"; 9]);
    let row = account::Entity::find()
        .filter(account::Column::CustomerNumber.eq(&target.customer_number))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let winner_number = decode_number(&winners[0]);
    assert_eq!(row.parent_id, Some(winner_number));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_accounts_linking_each_other_at_once_never_make_a_cycle() {
    for round in 0..5 {
        let app = Arc::new(TestApp::spawn().await);
        let (a, a_owner) = app.enrolled_account("A", &format!("a-{round}")).await;
        let (b, b_owner) = app.enrolled_account("B", &format!("b-{round}")).await;
        let a_token = app.current_enrollment_token(&a.id).await;
        let b_token = app.current_enrollment_token(&b.id).await;
        let first = {
            let app = app.clone();
            let input = json!({"i": {"proof": token_proof(&b, &b_token)}});
            tokio::spawn(async move { app.post_from(Some(&a_owner), LINK, input, "10.1.0.1:1").await.1 })
        };
        let second = {
            let app = app.clone();
            let input = json!({"i": {"proof": token_proof(&a, &a_token)}});
            tokio::spawn(async move { app.post_from(Some(&b_owner), LINK, input, "10.1.0.2:1").await.1 })
        };
        let (first, second) = (first.await.unwrap(), second.await.unwrap());
        let codes = [user_error_code(&first["data"]["linkAccount"]), user_error_code(&second["data"]["linkAccount"])];
        // The two lock A and B in the same order, so one goes first and wins; the other then
        // finds its own main a secondary of the winner's family.
        let (winner_main, winner_target) = match codes {
            [None, Some("TARGET_IS_SECONDARY")] => (&a, &b),
            [Some("TARGET_IS_SECONDARY"), None] => (&b, &a),
            _ => panic!("round {round}: one link wins, the other is refused TARGET_IS_SECONDARY: {first} {second}"),
        };
        let rows = account::Entity::find().all(&app.db).await.unwrap();
        let parent_of = |id: &str| rows.iter().find(|r| r.id == decode_number(id)).unwrap().parent_id;
        assert_eq!(parent_of(&winner_target.id), Some(decode_number(&winner_main.id)), "round {round}");
        assert_eq!(parent_of(&winner_main.id), None, "round {round}");
        // Depth one everywhere: no account's parent has a parent.
        for row in &rows {
            if let Some(parent) = row.parent_id {
                let parent_row = rows.iter().find(|r| r.id == parent).unwrap();
                assert_eq!(parent_row.parent_id, None, "depth exceeded one in round {round}");
            }
        }
    }
}

#[tokio::test]
async fn a_group_member_needs_manage_accounts_to_change_the_family() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main", "chief").await;
    let target = app.create_account("Target").await;
    let make_group = |name: &str, permissions: Value| json!({"i": {"mainAccountId": main.id, "name": name, "permissions": permissions}});
    let ops = app
        .data(
            Some(&owner),
            "mutation($i: CreateGroupInput!) { createGroup(input: $i) { group { id } userErrors { code } } }",
            make_group("Ops", json!(["MANAGE_ACCOUNTS", "VIEW_INVOICES"])),
        )
        .await;
    let viewers = app
        .data(
            Some(&owner),
            "mutation($i: CreateGroupInput!) { createGroup(input: $i) { group { id } userErrors { code } } }",
            make_group("Viewers", json!(["VIEW_INVOICES"])),
        )
        .await;
    let ops_member = crate::helpers::invite_and_accept(
        &app,
        &owner,
        &main.id,
        ops["createGroup"]["group"]["id"].as_str().unwrap(),
        "opsy",
    )
    .await;
    let viewer_member = crate::helpers::invite_and_accept(
        &app,
        &owner,
        &main.id,
        viewers["createGroup"]["group"]["id"].as_str().unwrap(),
        "looky",
    )
    .await;

    let token = app.current_enrollment_token(&target.id).await;
    let refused = app
        .data(
            Some(&viewer_member),
            LINK,
            json!({"i": {"mainAccountId": main.id, "proof": token_proof(&target, &token)}}),
        )
        .await;
    assert_eq!(user_error_code(&refused["linkAccount"]), Some("NOT_PERMITTED"));
    let allowed = app
        .data(Some(&ops_member), LINK, json!({"i": {"mainAccountId": main.id, "proof": token_proof(&target, &token)}}))
        .await;
    assert_eq!(allowed["linkAccount"]["userErrors"], json!([]));
}

#[tokio::test]
async fn detach_makes_the_account_standalone_and_cuts_the_family_off_at_once() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main", "parent").await;
    let (target, local) = app.enrolled_account("Child", "child").await;
    app.data(
        Some(&owner),
        LINK,
        json!({"i": {"proof": {"credentials": {"loginName": "child", "password": PASSWORD}}}}),
    )
    .await;
    let detached = app.data(Some(&owner), DETACH, json!({"i": {"accountId": target.id}})).await;
    assert_eq!(detached["detachAccount"]["userErrors"], json!([]));
    assert_eq!(detached["detachAccount"]["account"]["role"], json!("STANDALONE"));
    assert_eq!(detached["detachAccount"]["account"]["billingMode"], json!("INDIVIDUAL"));
    assert_eq!(detached["detachAccount"]["account"]["group"], json!(null));
    // The main's users lose access at once; the account's own users keep theirs.
    assert_eq!(customer_numbers_visible(&app, &owner).await, vec![main.customer_number.clone()]);
    let hidden = app.data(Some(&owner), "query($id: ID!) { account(id: $id) { id } }", json!({"id": target.id})).await;
    assert_eq!(hidden["account"], json!(null));
    assert_eq!(customer_numbers_visible(&app, &local).await, vec![target.customer_number.clone()]);
}

#[tokio::test]
async fn removing_an_account_blocks_its_logins_until_it_is_enrolled_again() {
    let app = TestApp::spawn().await;
    let (_, owner) = app.enrolled_account("Main", "remover").await;
    let (target, local) = app.enrolled_account("Removed", "removed-team").await;
    app.data(
        Some(&owner),
        LINK,
        json!({"i": {"proof": {"credentials": {"loginName": "removed-team", "password": PASSWORD}}}}),
    )
    .await;
    let removed = app.data(Some(&owner), DETACH, json!({"i": {"accountId": target.id, "deactivate": true}})).await;
    assert_eq!(removed["detachAccount"]["account"]["status"], json!("DEACTIVATED"));
    // Its session is gone and it cannot sign in.
    let (_, body) = app.post(Some(&local), "{ viewer { loginName } }", json!({})).await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
    let login = app.data(None, "mutation { login(input: {loginName: \"removed-team\", password: \"correct-horse-battery\"}) { token userErrors { code } } }", json!({})).await;
    assert_eq!(user_error_code(&login["login"]), Some("NOT_ACTIVE"));
    // Enrolling again with its current token reactivates it.
    let token = app.current_enrollment_token(&target.id).await;
    let again = app
        .data(None, "mutation($i: EnrollInput!) { enroll(input: $i) { token userErrors { code } } }",
            json!({"i": {"customerNumber": target.customer_number, "enrollmentToken": token, "loginName": "team-again", "password": PASSWORD, "email": "t@example.com"}}))
        .await;
    assert_eq!(again["enroll"]["userErrors"], json!([]));
    app.login("removed-team", PASSWORD).await;
}

#[tokio::test]
async fn order_a_new_secondary_account() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main", "orderer").await;
    let order = "mutation($i: OrderSecondaryAccountInput!) { orderSecondaryAccount(input: $i) {
        order { id status product { code } account { customerNumber role friendlyName parent { id } } } userErrors { code message field } } }";
    let bad = app.data(Some(&owner), order, json!({"i": {"product": "MOBILE", "options": {"plan": "XXL"}}})).await;
    assert_eq!(user_error_code(&bad["orderSecondaryAccount"]), Some("INVALID_INPUT"));
    let missing = app.data(Some(&owner), order, json!({"i": {"product": "MOBILE", "options": {}}})).await;
    assert_eq!(user_error_code(&missing["orderSecondaryAccount"]), Some("INVALID_INPUT"));
    let unknown = app.data(Some(&owner), order, json!({"i": {"product": "SPACESHIP"}})).await;
    assert_eq!(user_error_code(&unknown["orderSecondaryAccount"]), Some("NOT_FOUND"));
    assert_eq!(outbox::Entity::find().count(&app.db).await.unwrap(), 0, "refusals queue nothing");

    let ok = app
        .data(
            Some(&owner),
            order,
            json!({"i": {"product": "MOBILE", "options": {"plan": "M"}, "friendlyName": "Field phone"}}),
        )
        .await;
    let payload = &ok["orderSecondaryAccount"];
    assert_eq!(payload["userErrors"], json!([]));
    assert_eq!(payload["order"]["status"], json!("PROVISIONED"));
    assert_eq!(payload["order"]["account"]["role"], json!("SECONDARY"));
    assert_eq!(payload["order"]["account"]["parent"]["id"], json!(main.id));
    let new_number = payload["order"]["account"]["customerNumber"].as_str().unwrap().to_owned();
    assert!(customer_numbers_visible(&app, &owner).await.contains(&new_number), "listed at once");
    let mails = outbox::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].recipient, "orderer@example.com");
    let node = app
        .data(
            Some(&owner),
            "query($id: ID!) { node(id: $id) { ... on AccountOrder { status } } }",
            json!({"id": payload["order"]["id"]}),
        )
        .await;
    assert_eq!(node["node"]["status"], json!("PROVISIONED"));
}

#[tokio::test]
async fn rename_and_regroup_within_the_family_only() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main", "renamer").await;
    let (other_main, other_owner) = app.enrolled_account("Other", "other-renamer").await;
    let target = app.create_account("Target").await;
    let linked = link(&app, &owner, &main, &target).await;
    let account_id = linked["account"]["id"].clone();
    let group = app.data(Some(&owner), "mutation($m: ID!) { createGroup(input: {mainAccountId: $m, name: \"Sales\", permissions: [VIEW_INVOICES]}) { group { id } } }", json!({"m": main.id})).await;
    let foreign = app.data(Some(&other_owner), "mutation($m: ID!) { createGroup(input: {mainAccountId: $m, name: \"Theirs\", permissions: []}) { group { id } } }", json!({"m": other_main.id})).await;
    let update = "mutation($i: UpdateLinkedAccountInput!) { updateLinkedAccount(input: $i) { account { friendlyName group { name } } userErrors { code } } }";
    let ok = app.data(Some(&owner), update, json!({"i": {"accountId": account_id, "friendlyName": "Digital", "groupId": group["createGroup"]["group"]["id"]}})).await;
    assert_eq!(ok["updateLinkedAccount"]["account"], json!({"friendlyName": "Digital", "group": {"name": "Sales"}}));
    let refused = app
        .data(
            Some(&owner),
            update,
            json!({"i": {"accountId": account_id, "groupId": foreign["createGroup"]["group"]["id"]}}),
        )
        .await;
    assert_eq!(user_error_code(&refused["updateLinkedAccount"]), Some("NOT_FOUND"));
    let outsider =
        app.data(Some(&other_owner), update, json!({"i": {"accountId": account_id, "friendlyName": "Mine now"}})).await;
    assert_eq!(user_error_code(&outsider["updateLinkedAccount"]), Some("NOT_FOUND"));
}

#[tokio::test]
async fn settings_are_typed_and_need_manage_settings() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main", "setter").await;
    let (target, local) = app.enrolled_account("Branch", "local-setter").await;
    app.data(
        Some(&owner),
        LINK,
        json!({"i": {"proof": {"credentials": {"loginName": "local-setter", "password": PASSWORD}}}}),
    )
    .await;
    let update = "mutation($i: UpdateAccountSettingsInput!) { updateAccountSettings(input: $i) { account { settings { callForwardingTo paperlessBilling ebillNotifications } } userErrors { code field } } }";
    let bad = app
        .data(Some(&local), update, json!({"i": {"accountId": target.id, "settings": {"callForwardingTo": "0301234"}}}))
        .await;
    assert_eq!(user_error_code(&bad["updateAccountSettings"]), Some("INVALID_INPUT"));
    let ok = app.data(Some(&local), update, json!({"i": {"accountId": target.id, "settings": {"callForwardingTo": "+4930123456", "paperlessBilling": true}}})).await;
    assert_eq!(
        ok["updateAccountSettings"]["account"]["settings"],
        json!({"callForwardingTo": "+4930123456", "paperlessBilling": true, "ebillNotifications": true})
    );
    // A viewer-only group member may not change settings.
    let group = app.data(Some(&owner), "mutation($m: ID!) { createGroup(input: {mainAccountId: $m, name: \"Lookers\", permissions: [VIEW_INVOICES]}) { group { id } } }", json!({"m": main.id})).await;
    let group_id = group["createGroup"]["group"]["id"].as_str().unwrap().to_owned();
    app.data(Some(&owner), "mutation($a: ID!, $g: ID!) { updateLinkedAccount(input: {accountId: $a, groupId: $g}) { userErrors { code } } }", json!({"a": target.id, "g": group_id})).await;
    let looker = crate::helpers::invite_and_accept(&app, &owner, &main.id, &group_id, "looker").await;
    let refused = app
        .data(Some(&looker), update, json!({"i": {"accountId": target.id, "settings": {"paperlessBilling": false}}}))
        .await;
    assert_eq!(user_error_code(&refused["updateAccountSettings"]), Some("NOT_PERMITTED"));
    // Forwarding off with an explicit null.
    let off = app
        .data(Some(&owner), update, json!({"i": {"accountId": target.id, "settings": {"callForwardingTo": null}}}))
        .await;
    assert_eq!(off["updateAccountSettings"]["account"]["settings"]["callForwardingTo"], json!(null));
}

#[tokio::test]
async fn audit_events_are_written_and_shown_to_the_family_owner_only() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main", "audited").await;
    let (other_main, other_owner) = app.enrolled_account("Other", "other-audited").await;
    let target = app.create_account("Target").await;
    link(&app, &owner, &main, &target).await;
    app.data(Some(&owner), DETACH, json!({"i": {"accountId": target.id}})).await;
    let query = "query($m: ID) { auditEvents(mainAccountId: $m, first: 10) { edges { node { action subjectType before after } } } }";
    let mine = app.data(Some(&owner), query, json!({"m": null})).await;
    let actions: Vec<_> = mine["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(&actions[..2], ["account.detached", "account.linked"]);
    let linked = &mine["auditEvents"]["edges"][1]["node"];
    assert_eq!(linked["before"]["parentId"], json!(null));
    assert!(linked["after"]["parentId"].is_number());
    let theirs = app.data(Some(&other_owner), query, json!({"m": null})).await;
    assert!(
        theirs["auditEvents"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| !e["node"]["action"].as_str().unwrap().starts_with("account.linked"))
    );
    let probe = app.gql(Some(&other_owner), query, json!({"m": main.id})).await;
    assert_eq!(error_code(&probe), Some("FORBIDDEN"));
    let _ = other_main;
}

#[tokio::test]
async fn staff_attach_and_detach_without_proof_and_customers_cannot() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main", "customer").await;
    let target = app.create_account("Target").await;
    let attach = "mutation($i: AdminAttachAccountInput!) { adminAttachAccount(input: $i) { account { role } userErrors { code } } }";
    let input = json!({"i": {"mainAccountId": main.id, "accountId": target.id}});
    assert_eq!(error_code(&app.gql(Some(&owner), attach, input.clone()).await), Some("FORBIDDEN"));
    let staff = app.staff_token().await;
    let done = app.data(Some(&staff), attach, input).await;
    assert_eq!(done["adminAttachAccount"]["account"]["role"], json!("SECONDARY"));
    let detach =
        "mutation($i: DetachAccountInput!) { adminDetachAccount(input: $i) { account { role } userErrors { code } } }";
    assert_eq!(
        error_code(&app.gql(Some(&owner), detach, json!({"i": {"accountId": target.id}})).await),
        Some("FORBIDDEN")
    );
    let undone = app.data(Some(&staff), detach, json!({"i": {"accountId": target.id}})).await;
    assert_eq!(undone["adminDetachAccount"]["account"]["role"], json!("STANDALONE"));
}

#[tokio::test]
async fn detach_readiness_lists_blockers_and_changes() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main", "ready").await;
    let target = app.create_account("Target").await;
    let query = "query($id: ID!) { detachReadiness(accountId: $id) { canDetach blockers { code } changes } }";
    let standalone = app.data(Some(&owner), query, json!({"id": main.id})).await;
    assert_eq!(standalone["detachReadiness"]["canDetach"], json!(false));
    assert_eq!(standalone["detachReadiness"]["blockers"][0]["code"], json!("INVALID_INPUT"));
    link(&app, &owner, &main, &target).await;
    let ready = app.data(Some(&owner), query, json!({"id": target.id})).await;
    assert_eq!(ready["detachReadiness"]["canDetach"], json!(true));
    assert!(ready["detachReadiness"]["changes"].as_array().unwrap().len() >= 2);
    let (_, stranger) = app.enrolled_account("Stranger", "stranger").await;
    let hidden = app.data(Some(&stranger), query, json!({"id": target.id})).await;
    assert_eq!(hidden["detachReadiness"], json!(null));
}

/// Naming one of your own secondaries as the main account of a link is a mistake about
/// the family's shape, and the owner can see that account: the answer says so
/// (TARGET_IS_SECONDARY) instead of claiming a missing right, and nothing changes.
#[tokio::test]
async fn linking_under_your_own_secondary_answers_target_is_secondary() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main", "shape-owner").await;
    let secondary = app.create_account("Secondary").await;
    assert_eq!(link(&app, &owner, &main, &secondary).await["userErrors"], json!([]));
    let target = app.create_account("Target").await;
    let answer = link(&app, &owner, &secondary, &target).await;
    assert_eq!(user_error_code(&answer), Some("TARGET_IS_SECONDARY"), "{answer}");
    assert_eq!(answer["userErrors"][0]["field"], json!(["input", "mainAccountId"]), "{answer}");
    // A customer of another family naming that secondary learns nothing of its shape:
    // NOT_FOUND, as for an id that does not exist.
    let (_, stranger) = app.enrolled_account("Stranger", "shape-stranger").await;
    let probe = app.create_account("Probe").await;
    let answer = link(&app, &stranger, &secondary, &probe).await;
    assert_eq!(user_error_code(&answer), Some("NOT_FOUND"), "{answer}");
    // The target is still standalone: linking it under the main works.
    assert_eq!(link(&app, &owner, &main, &target).await["userErrors"], json!([]));
}
