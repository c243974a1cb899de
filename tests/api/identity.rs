//! Enrollment, sign-in, sessions, staff, groups and rights, tried as a confused user or
//! an attacker would.

use axum::http::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use canopy::entity::{session, user};

use crate::helpers::{PASSWORD, TestApp, error_code, user_error_code};

const ENROLL: &str = "mutation($i: EnrollInput!) { enroll(input: $i) { token user { loginName homeAccount { customerNumber } } userErrors { code message field } } }";
const LOGIN: &str = "mutation($i: LoginInput!) { login(input: $i) { token userErrors { code message } } }";

fn enroll_input(customer_number: &str, token: &str, login: &str, password: &str) -> Value {
    json!({"i": {"customerNumber": customer_number, "enrollmentToken": token, "loginName": login, "password": password, "email": "x@example.com"}})
}

#[tokio::test]
async fn enroll_with_the_token_from_an_invoice_creates_the_owner_login() {
    let app = TestApp::spawn().await;
    let account = app.create_account("Ada Holder").await;
    let data = app
        .data(None, ENROLL, enroll_input(&account.customer_number, &account.enrollment_token, "ada", PASSWORD))
        .await;
    assert_eq!(data["enroll"]["userErrors"], json!([]));
    assert_eq!(data["enroll"]["user"]["homeAccount"]["customerNumber"], json!(account.customer_number));
    let token = data["enroll"]["token"].as_str().unwrap();
    let viewer = app
        .data(Some(token), "{ viewer { loginName accounts { edges { node { customerNumber role } } } } }", json!({}))
        .await;
    assert_eq!(
        viewer["viewer"]["accounts"]["edges"],
        json!([{"node": {"customerNumber": account.customer_number, "role": "STANDALONE"}}])
    );
}

#[tokio::test]
async fn typed_tokens_ignore_case_spaces_and_dashes() {
    let app = TestApp::spawn().await;
    let account = app.create_account("Typing Holder").await;
    let sloppy = account.enrollment_token.to_lowercase().replace('-', " ");
    let data = app.data(None, ENROLL, enroll_input(&account.customer_number, &sloppy, "typist", PASSWORD)).await;
    assert_eq!(data["enroll"]["userErrors"], json!([]));
}

#[tokio::test]
async fn an_enrollment_token_is_spent_by_a_successful_enroll() {
    let app = TestApp::spawn().await;
    let account = app.create_account("Once Holder").await;
    app.data(None, ENROLL, enroll_input(&account.customer_number, &account.enrollment_token, "first", PASSWORD)).await;
    let again = app
        .data(None, ENROLL, enroll_input(&account.customer_number, &account.enrollment_token, "second", PASSWORD))
        .await;
    assert_eq!(user_error_code(&again["enroll"]), Some("INVALID_PROOF"));
    assert_ne!(app.current_enrollment_token(&account.id).await, account.enrollment_token);
}

#[tokio::test]
async fn wrong_token_and_unknown_customer_number_answer_alike() {
    let app = TestApp::spawn().await;
    let account = app.create_account("Guarded Holder").await;
    let wrong = app
        .data(None, ENROLL, enroll_input(&account.customer_number, "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA", "eve1", PASSWORD))
        .await;
    let unknown = app.data(None, ENROLL, enroll_input("1234567890", &account.enrollment_token, "eve2", PASSWORD)).await;
    assert_eq!(wrong["enroll"]["userErrors"], unknown["enroll"]["userErrors"]);
    assert_eq!(user_error_code(&wrong["enroll"]), Some("INVALID_PROOF"));
    assert_eq!(wrong["enroll"]["token"], json!(null));
}

#[tokio::test]
async fn weak_passwords_are_refused_with_the_rule_and_change_nothing() {
    let app = TestApp::spawn().await;
    let account = app.create_account("Weak Holder").await;
    for weak in ["short", "password123", "weakling99", "aaaaaaaaaaaaaaaa"] {
        let data = app
            .data(None, ENROLL, enroll_input(&account.customer_number, &account.enrollment_token, "weakling99", weak))
            .await;
        let payload = &data["enroll"];
        assert_eq!(user_error_code(payload), Some("WEAK_PASSWORD"), "{weak}");
        assert!(payload["userErrors"][0]["message"].as_str().unwrap().contains("12"), "the rule is said");
        assert_eq!(payload["userErrors"][0]["field"], json!(["input", "password"]));
    }
    // Nothing was spent: the same token still enrolls.
    let ok = app
        .data(None, ENROLL, enroll_input(&account.customer_number, &account.enrollment_token, "strong", PASSWORD))
        .await;
    assert_eq!(ok["enroll"]["userErrors"], json!([]));
}

#[tokio::test]
async fn login_names_are_unique_ignoring_case() {
    let app = TestApp::spawn().await;
    app.enrolled_account("First Holder", "Grace").await;
    let other = app.create_account("Second Holder").await;
    let data =
        app.data(None, ENROLL, enroll_input(&other.customer_number, &other.enrollment_token, "GRACE", PASSWORD)).await;
    assert_eq!(user_error_code(&data["enroll"]), Some("DUPLICATE_NAME"));
    // The refused enroll did not spend the token.
    let ok =
        app.data(None, ENROLL, enroll_input(&other.customer_number, &other.enrollment_token, "grace2", PASSWORD)).await;
    assert_eq!(ok["enroll"]["userErrors"], json!([]));
}

#[tokio::test]
async fn an_enrolled_account_cannot_be_enrolled_again_while_active() {
    let app = TestApp::spawn().await;
    let (account, _) = app.enrolled_account("Taken Holder", "owner1").await;
    let fresh = app.current_enrollment_token(&account.id).await;
    let data = app.data(None, ENROLL, enroll_input(&account.customer_number, &fresh, "intruder", PASSWORD)).await;
    assert_eq!(user_error_code(&data["enroll"]), Some("ALREADY_ATTACHED"));
}

#[tokio::test]
async fn unknown_login_and_wrong_password_answer_identically() {
    let app = TestApp::spawn().await;
    app.enrolled_account("Login Holder", "heidi").await;
    let wrong = app.data(None, LOGIN, json!({"i": {"loginName": "heidi", "password": "not-the-password"}})).await;
    let unknown =
        app.data(None, LOGIN, json!({"i": {"loginName": "nobody-here", "password": "not-the-password"}})).await;
    assert_eq!(wrong, unknown);
    assert_eq!(user_error_code(&wrong["login"]), Some("INVALID_PROOF"));
    // Login names are case-insensitive.
    app.login("HEIDI", PASSWORD).await;
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_login_for_that_client() {
    let app = TestApp::spawn().await;
    app.enrolled_account("Locked Holder", "ivan").await;
    // One password check per request (aliases are refused: tests/api/attacks.rs), so the
    // guesses come one request each.
    let mut codes = Vec::new();
    for n in 0..8 {
        let data =
            app.data(None, LOGIN, json!({"i": {"loginName": "ivan", "password": format!("guess-number-{n}")}})).await;
        codes.push(user_error_code(&data["login"]).map(str::to_owned));
    }
    assert_eq!(codes[..5].iter().flatten().collect::<Vec<_>>(), vec!["INVALID_PROOF"; 5]);
    assert_eq!(codes[5..].iter().flatten().collect::<Vec<_>>(), vec!["LOCKED"; 3]);
    // Now even the right password is locked for this client...
    let locked = app.data(None, LOGIN, json!({"i": {"loginName": "ivan", "password": PASSWORD}})).await;
    assert_eq!(user_error_code(&locked["login"]), Some("LOCKED"));
    // ...but not for another client.
    let (_, other) =
        app.post_from(None, LOGIN, json!({"i": {"loginName": "ivan", "password": PASSWORD}}), "10.9.8.7:1").await;
    assert!(other["data"]["login"]["token"].is_string(), "{other}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_tokens_cannot_slip_past_the_lockout() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let account = app.create_account("Raced Holder").await;
    let mut tasks = Vec::new();
    for n in 0..12 {
        let app = app.clone();
        let number = account.customer_number.clone();
        tasks.push(tokio::spawn(async move {
            let data = app
                .data(
                    None,
                    ENROLL,
                    enroll_input(&number, "BBBB-BBBB-BBBB-BBBB-BBBB-BBBB", &format!("racer{n}"), PASSWORD),
                )
                .await;
            user_error_code(&data["enroll"]).map(str::to_owned)
        }));
    }
    let mut invalid = 0;
    let mut locked = 0;
    for task in tasks {
        match task.await.unwrap().as_deref() {
            Some("INVALID_PROOF") => invalid += 1,
            Some("LOCKED") => locked += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((invalid, locked), (5, 7), "exactly five proofs are checked");
    // The right token is locked for this client too.
    let data = app
        .data(None, ENROLL, enroll_input(&account.customer_number, &account.enrollment_token, "late", PASSWORD))
        .await;
    assert_eq!(user_error_code(&data["enroll"]), Some("LOCKED"));
}

#[tokio::test]
async fn a_token_stops_working_after_logout() {
    let app = TestApp::spawn().await;
    let (_, token) = app.enrolled_account("Logout Holder", "judy").await;
    let data = app.data(Some(&token), "mutation { logout { ok } }", json!({})).await;
    assert_eq!(data["logout"]["ok"], json!(true));
    let (status, body) = app.post(Some(&token), "{ viewer { loginName } }", json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn secrets_are_stored_only_as_hashes() {
    let app = TestApp::spawn().await;
    let (_, token) = app.enrolled_account("Hash Holder", "kim").await;
    let stored = user::Entity::find().filter(user::Column::LoginKey.eq("kim")).one(&app.db).await.unwrap().unwrap();
    assert!(stored.password_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", stored.password_hash);
    assert!(!stored.password_hash.contains(PASSWORD));
    let sessions = session::Entity::find().filter(session::Column::UserId.eq(stored.id)).all(&app.db).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_ne!(sessions[0].token_hash, token);
    assert_eq!(sessions[0].token_hash, canopy::crypto::sha256_hex(&token));
}

#[tokio::test]
async fn customers_cannot_call_staff_mutations() {
    let app = TestApp::spawn().await;
    let (account, token) = app.enrolled_account("Prewritten Holder", "leo").await;
    let create = app
        .gql(Some(&token), "mutation { adminCreateAccount(input: {holderName: \"X\", product: \"MOBILE\", email: \"x@example.com\"}) { account { id } } }", json!({}))
        .await;
    assert_eq!(error_code(&create), Some("FORBIDDEN"));
    let rotate = app
        .gql(
            Some(&token),
            "mutation($id: ID!) { adminRotateEnrollmentToken(input: {accountId: $id}) { enrollmentToken } }",
            json!({"id": account.id}),
        )
        .await;
    assert_eq!(error_code(&rotate), Some("FORBIDDEN"));
    let read = app
        .data(Some(&token), "query($id: ID!) { account(id: $id) { enrollmentToken } }", json!({"id": account.id}))
        .await;
    assert_eq!(read["account"]["enrollmentToken"], json!(null), "only staff read tokens");
    let anonymous = app
        .gql(None, "mutation { adminCreateAccount(input: {holderName: \"X\", product: \"MOBILE\", email: \"x@example.com\"}) { account { id } } }", json!({}))
        .await;
    assert_eq!(error_code(&anonymous), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn staff_rotation_retires_the_printed_token() {
    let app = TestApp::spawn().await;
    let account = app.create_account("Rotated Holder").await;
    let staff = app.staff_token().await;
    let data = app
        .data(Some(&staff), "mutation($id: ID!) { adminRotateEnrollmentToken(input: {accountId: $id}) { enrollmentToken userErrors { code } } }", json!({"id": account.id}))
        .await;
    let fresh = data["adminRotateEnrollmentToken"]["enrollmentToken"].as_str().unwrap().to_owned();
    assert_ne!(fresh, account.enrollment_token);
    let old = app
        .data(None, ENROLL, enroll_input(&account.customer_number, &account.enrollment_token, "mona", PASSWORD))
        .await;
    assert_eq!(user_error_code(&old["enroll"]), Some("INVALID_PROOF"));
    let new = app.data(None, ENROLL, enroll_input(&account.customer_number, &fresh, "mona", PASSWORD)).await;
    assert_eq!(new["enroll"]["userErrors"], json!([]));
}

#[tokio::test]
async fn a_customer_of_family_a_probing_family_b_sees_nothing() {
    let app = TestApp::spawn().await;
    let (_, a_token) = app.enrolled_account("Family A", "alpha").await;
    let (b_account, _) = app.enrolled_account("Family B", "bravo").await;
    let data = app
        .data(
            Some(&a_token),
            "query($id: ID!, $n: String!) { node(id: $id) { id } nodes(ids: [$id]) { id } account(id: $id) { id } byNumber: account(customerNumber: $n) { id } }",
            json!({"id": b_account.id, "n": b_account.customer_number}),
        )
        .await;
    assert_eq!(data, json!({"node": null, "nodes": [null], "account": null, "byNumber": null}));
    // Same answer as an id that does not exist at all.
    let missing = app
        .data(
            Some(&a_token),
            "query($id: ID!, $n: String!) { node(id: $id) { id } nodes(ids: [$id]) { id } account(id: $id) { id } byNumber: account(customerNumber: $n) { id } }",
            json!({"id": "QWNjb3VudDo5OTk5OTk", "n": "0000000000"}),
        )
        .await;
    assert_eq!(data, missing);
}

#[tokio::test]
async fn an_old_weaker_hash_is_upgraded_at_sign_in() {
    use argon2::password_hash::{PasswordHasher, SaltString};
    use sea_orm::{ActiveModelTrait, Set};
    let app = TestApp::spawn().await;
    app.enrolled_account("Legacy Holder", "legacy").await;
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(8192, 1, 1, None).unwrap(),
    )
    .hash_password(PASSWORD.as_bytes(), &SaltString::from_b64("c29tZXNhbHRzb21lc2FsdA").unwrap())
    .unwrap()
    .to_string();
    let stored = user::Entity::find().filter(user::Column::LoginKey.eq("legacy")).one(&app.db).await.unwrap().unwrap();
    let mut active: user::ActiveModel = stored.into();
    active.password_hash = Set(weak.clone());
    active.update(&app.db).await.unwrap();
    app.login("legacy", PASSWORD).await;
    let upgraded =
        user::Entity::find().filter(user::Column::LoginKey.eq("legacy")).one(&app.db).await.unwrap().unwrap();
    assert_ne!(upgraded.password_hash, weak);
    assert!(upgraded.password_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", upgraded.password_hash);
}
