//! Trust: each test is an attacker's steps against paths the first version's per-field
//! checks missed (issue 13). Every one of them read other people's data or kept a way
//! back into a family before the one access policy applied where rows are read.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::billing::{days_from_today, issue};
use crate::collective::{SET_MODE, consolidate, today};
use crate::downloads::{get, pdftotext};
use crate::family::{LINK, link};
use crate::helpers::{CreatedAccount, PASSWORD, TestApp, invite_and_accept, user_error_code};

const MASKED: &str = "shown only to the account's owner";

pub async fn create_group(app: &TestApp, owner: &str, main_id: &str, name: &str, permissions: Value) -> String {
    let data = app
        .data(
            Some(owner),
            "mutation($i: CreateGroupInput!) { createGroup(input: $i) { group { id } userErrors { code message } } }",
            json!({"i": {"mainAccountId": main_id, "name": name, "permissions": permissions}}),
        )
        .await;
    data["createGroup"]["group"]["id"].as_str().unwrap_or_else(|| panic!("createGroup: {data}")).to_owned()
}

pub async fn regroup(app: &TestApp, owner: &str, account_id: &str, group_id: &str) {
    let data = app
        .data(
            Some(owner),
            "mutation($a: ID!, $g: ID!) { updateLinkedAccount(input: {accountId: $a, groupId: $g}) { userErrors { code message } } }",
            json!({"a": account_id, "g": group_id}),
        )
        .await;
    assert_eq!(data["updateLinkedAccount"]["userErrors"], json!([]), "{data}");
}

/// An existing login accepts an invitation into another family's group.
async fn join_with_existing_login(app: &TestApp, owner: &str, main_id: &str, group_id: &str, login_name: &str) {
    let invited = app
        .data(
            Some(owner),
            "mutation($i: InviteUserInput!) { inviteUser(input: $i) { invitationToken userErrors { code } } }",
            json!({"i": {"mainAccountId": main_id, "email": "shared@example.com", "groupIds": [group_id]}}),
        )
        .await;
    let invitation = invited["inviteUser"]["invitationToken"].as_str().unwrap().to_owned();
    let accepted = app
        .data(
            None,
            "mutation($i: AcceptInvitationInput!) { acceptInvitation(input: $i) { token userErrors { code message } } }",
            json!({"i": {"invitationToken": invitation, "loginName": login_name, "password": PASSWORD}}),
        )
        .await;
    assert_eq!(accepted["acceptInvitation"]["userErrors"], json!([]), "{accepted}");
}

fn numbers(connection: &Value) -> Vec<String> {
    let mut out: Vec<String> = connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("a connection: {connection}"))
        .iter()
        .map(|e| e["node"]["customerNumber"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_family_owner_does_not_list_another_family_s_accounts_through_a_shared_member() {
    let app = TestApp::spawn().await;
    // Family B: its member "shared" sees B's secondary through B's group.
    let (main_b, owner_b) = app.enrolled_account("Family B", "b-owner").await;
    let secret_b = app.create_account("B's Secret Branch").await;
    let secret_b_id = link(&app, &owner_b, &main_b, &secret_b).await["account"]["id"].as_str().unwrap().to_owned();
    let group_b = create_group(&app, &owner_b, &main_b.id, "B team", json!(["VIEW_INVOICES"])).await;
    regroup(&app, &owner_b, &secret_b_id, &group_b).await;
    invite_and_accept(&app, &owner_b, &main_b.id, &group_b, "shared").await;

    // Family A invites the same login into its own group.
    let (main_a, owner_a) = app.enrolled_account("Family A", "a-owner").await;
    let branch_a = app.create_account("A's Branch").await;
    let branch_a_id = link(&app, &owner_a, &main_a, &branch_a).await["account"]["id"].as_str().unwrap().to_owned();
    let group_a = create_group(&app, &owner_a, &main_a.id, "A team", json!(["VIEW_INVOICES"])).await;
    regroup(&app, &owner_a, &branch_a_id, &group_a).await;
    join_with_existing_login(&app, &owner_a, &main_a.id, &group_a, "shared").await;

    // The attacker, A's owner, lists the member and the member's accounts.
    let data = app
        .data(
            Some(&owner_a),
            "query($g: ID!) { node(id: $g) { ... on Group { members { edges { node { loginName
                accounts(first: 50) { edges { node { customerNumber } } } } } } } } }",
            json!({"g": group_a}),
        )
        .await;
    let member = &data["node"]["members"]["edges"][0]["node"];
    assert_eq!(member["loginName"], json!("shared"));
    assert_eq!(numbers(&member["accounts"]), vec![branch_a.customer_number.clone()], "nothing of family B: {data}");

    // The member still sees both families' accounts as themselves.
    let shared = app.login("shared", PASSWORD).await;
    let own = app
        .data(Some(&shared), "{ viewer { accounts(first: 50) { edges { node { customerNumber } } } } }", json!({}))
        .await;
    let mut both = vec![branch_a.customer_number.clone(), secret_b.customer_number.clone()];
    both.sort();
    assert_eq!(numbers(&own["viewer"]["accounts"]), both);
}

struct CollectiveFamily {
    main: CreatedAccount,
    owner: String,
    branch: CreatedAccount,
    collective_id: String,
    main_invoice: String,
}

/// A main with a COLLECTIVE branch, both invoiced and consolidated; a member whose group
/// holds only the main account, with VIEW_INVOICES.
async fn collective_family(app: &TestApp) -> (CollectiveFamily, String) {
    let (main, owner) = app.enrolled_account("Collective Main", "cm-owner").await;
    let branch = app.create_account("Collective Branch").await;
    link(app, &owner, &main, &branch).await;
    let set = app.data(Some(&owner), SET_MODE, json!({"a": branch.id, "m": "COLLECTIVE"})).await;
    assert_eq!(set["setBillingMode"]["userErrors"], json!([]));
    let main_invoice = issue(app, &main.id, "EUR", &days_from_today(30), 1_000).await;
    issue(app, &branch.id, "EUR", &days_from_today(30), 2_000).await;
    let payload = consolidate(app, &owner, &main, &days_from_today(-1), &today()).await;
    let collective_id = payload["collectiveInvoice"]["id"].as_str().unwrap_or_else(|| panic!("{payload}")).to_owned();
    let group = create_group(app, &owner, &main.id, "Head office", json!(["VIEW_INVOICES"])).await;
    regroup(app, &owner, &main.id, &group).await;
    let member = invite_and_accept(app, &owner, &main.id, &group, "head-office").await;
    (CollectiveFamily { main, owner, branch, collective_id, main_invoice }, member)
}

const COLLECTIVE: &str = "query($id: ID!) { collectiveInvoice: node(id: $id) { ... on CollectiveInvoice {
    totalCents pdfUrl csvUrl invoices(first: 50) { edges { node { id account { customerNumber } pdfUrl } } } } } }";

#[tokio::test]
async fn a_member_who_sees_the_main_does_not_read_the_collective_branches_invoices() {
    let app = TestApp::spawn().await;
    let (f, member) = collective_family(&app).await;

    let data = app.data(Some(&member), COLLECTIVE, json!({"id": f.collective_id})).await;
    let collective = &data["collectiveInvoice"];
    assert_eq!(collective["totalCents"], json!(3_000), "the total is the collective invoice's own: {data}");
    let members = collective["invoices"]["edges"].as_array().unwrap();
    assert_eq!(members.len(), 1, "only the main's own invoice: {data}");
    assert_eq!(members[0]["node"]["id"], json!(f.main_invoice));
    assert_eq!(collective["pdfUrl"], Value::Null, "the collective documents list every member");
    assert_eq!(collective["csvUrl"], Value::Null);

    // Straight to the download with the bearer token: the same "not found" as a missing id.
    for format in ["pdf", "csv"] {
        let path = format!("/collective-invoices/{}.{format}", f.collective_id);
        let (status, _, _) = get(&app, &path, Some(&member)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }

    // The owner, who may view every member, gets both members and the documents.
    let data = app.data(Some(&f.owner), COLLECTIVE, json!({"id": f.collective_id})).await;
    assert_eq!(data["collectiveInvoice"]["invoices"]["edges"].as_array().unwrap().len(), 2);
    let pdf_url = data["collectiveInvoice"]["pdfUrl"].as_str().expect("the owner's link").to_owned();
    let (status, _, body) = get(&app, &pdf_url, None).await;
    assert_eq!(status, StatusCode::OK);
    if let Some(text) = pdftotext(&body) {
        assert!(text.contains(&f.branch.customer_number), "{text}");
    }
}

#[tokio::test]
async fn an_invoice_pdf_prints_the_enrollment_token_only_for_who_may_manage_the_account() {
    let app = TestApp::spawn().await;
    let (f, member) = collective_family(&app).await;
    let token = app.current_enrollment_token(&f.main.id).await;
    let query = "query($id: ID!) { invoice: node(id: $id) { ... on Invoice { pdfUrl } } }";

    // The member may view the main's invoices, not manage the account: the token is masked.
    let data = app.data(Some(&member), query, json!({"id": f.main_invoice})).await;
    let member_url = data["invoice"]["pdfUrl"].as_str().unwrap().to_owned();
    assert!(!member_url.contains("token=shown"), "{member_url}");
    let (status, _, body) = get(&app, &member_url, None).await;
    assert_eq!(status, StatusCode::OK);
    if let Some(text) = pdftotext(&body) {
        assert!(!text.contains(&token), "the member's PDF must not print the token: {text}");
        assert!(text.contains(MASKED), "{text}");
    }
    // The same through the bearer token.
    let path = format!("/invoices/{}.pdf", f.main_invoice);
    let (_, _, body) = get(&app, &path, Some(&member)).await;
    assert!(!pdftotext(&body).is_some_and(|text| text.contains(&token)));

    // Editing the signed link to ask for the token breaks its signature.
    let forged = member_url.replace("&signature=", "&token=shown&signature=");
    let (status, _, _) = get(&app, &forged, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The owner's link prints it.
    let data = app.data(Some(&f.owner), query, json!({"id": f.main_invoice})).await;
    let owner_url = data["invoice"]["pdfUrl"].as_str().unwrap().to_owned();
    let (_, _, body) = get(&app, &owner_url, None).await;
    if let Some(text) = pdftotext(&body) {
        assert!(text.contains(&token), "{text}");
    }
}

#[tokio::test]
async fn a_dry_run_link_reveals_nothing_of_the_target_and_its_wrong_proofs_lock_it() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Prober", "prober").await;
    let target = app.create_account("Target With Invoices").await;
    issue(&app, &target.id, "EUR", &days_from_today(30), 4_200).await;
    let token = app.current_enrollment_token(&target.id).await;
    let probe = "mutation($i: LinkAccountInput!) { linkAccount(input: $i) {
        account { id customerNumber holderName settings { paperlessBilling }
                  invoices(first: 5) { edges { node { id totalCents } } } openBalance { amountCents } }
        validateOnly userErrors { code } } }";
    let input = |token: &str| {
        json!({"i": {"mainAccountId": main.id, "validateOnly": true,
            "proof": {"enrollmentToken": {"customerNumber": target.customer_number, "token": token}}}})
    };

    // A right token, as often as wanted: it would succeed, and that is all it says.
    for _ in 0..3 {
        let data = app.data(Some(&owner), probe, input(&token)).await;
        assert_eq!(data["linkAccount"], json!({"account": null, "validateOnly": true, "userErrors": []}));
    }
    let hidden = app.data(Some(&owner), "query($id: ID!) { node(id: $id) { id } }", json!({"id": target.id})).await;
    assert_eq!(hidden["node"], Value::Null, "nothing was attached");
    assert_eq!(app.current_enrollment_token(&target.id).await, token, "a dry run spends nothing");

    // Wrong tokens in dry runs count toward the lockout like real attempts.
    for _ in 0..5 {
        let data = app.data(Some(&owner), probe, input("AAAA-BBBB-CCCC-DDDD")).await;
        assert_eq!(user_error_code(&data["linkAccount"]), Some("INVALID_PROOF"));
    }
    let real = json!({"i": {"mainAccountId": main.id,
        "proof": {"enrollmentToken": {"customerNumber": target.customer_number, "token": token}}}});
    let data = app.data(Some(&owner), LINK, real).await;
    assert_eq!(user_error_code(&data["linkAccount"]), Some("LOCKED"), "{data}");
}

async fn detach(app: &TestApp, owner: &str, account_id: &str, deactivate: bool) {
    let data = app
        .data(
            Some(owner),
            "mutation($i: DetachAccountInput!) { detachAccount(input: $i) { userErrors { code message } } }",
            json!({"i": {"accountId": account_id, "deactivate": deactivate}}),
        )
        .await;
    assert_eq!(data["detachAccount"]["userErrors"], json!([]), "{data}");
}

#[tokio::test]
async fn a_former_main_cannot_relink_a_detached_or_removed_account_with_a_token_it_saw() {
    let app = TestApp::spawn().await;
    for deactivate in [false, true] {
        let prefix = if deactivate { "removed" } else { "detached" };
        let (main, owner) = app.enrolled_account("Former Main", &format!("{prefix}-owner")).await;
        let target = app.create_account("Leaving Branch").await;
        link(&app, &owner, &main, &target).await;
        // While it is in the family, the owner sees its current token on its invoice PDF.
        let invoice = issue(&app, &target.id, "EUR", &days_from_today(30), 900).await;
        let seen = app.current_enrollment_token(&target.id).await;
        let (_, _, body) = get(&app, &format!("/invoices/{invoice}.pdf"), Some(&owner)).await;
        if let Some(text) = pdftotext(&body) {
            assert!(text.contains(&seen), "the owner's PDF prints it: {text}");
        }

        detach(&app, &owner, &target.id, deactivate).await;
        let relink = json!({"i": {"mainAccountId": main.id,
            "proof": {"enrollmentToken": {"customerNumber": target.customer_number, "token": seen}}}});
        let data = app.data(Some(&owner), LINK, relink).await;
        assert_eq!(user_error_code(&data["linkAccount"]), Some("INVALID_PROOF"), "{prefix}: {data}");

        // The holder enrolls again with the token staff hand over (printed on the next
        // invoice too), and owns the account.
        let current = app.current_enrollment_token(&target.id).await;
        assert_ne!(current, seen);
        let data = app
            .data(
                None,
                "mutation($i: EnrollInput!) { enroll(input: $i) { token userErrors { code } } }",
                json!({"i": {"customerNumber": target.customer_number, "enrollmentToken": current,
                    "loginName": format!("{prefix}-holder"), "password": PASSWORD, "email": "holder@example.com"}}),
            )
            .await;
        assert_eq!(data["enroll"]["userErrors"], json!([]), "{prefix}: {data}");
    }
}
