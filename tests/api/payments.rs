//! Paying invoices: one atomic payment per request, idempotency keys, races, and
//! refusals that leave nothing behind.

use std::sync::Arc;

use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use canopy::entity::{payment, payment_allocation};

use crate::billing::{days_from_today, issue};
use crate::family::link;
use crate::helpers::{TestApp, user_error_code};

pub const PAY: &str = "mutation($i: PayInvoicesInput!) { payInvoices(input: $i) {
    payment { id amountCents currency status method invoices { id status } createdAt }
    replayed userErrors { code message field } } }";

/// Pays `ids` with `key`; returns the payload.
pub async fn pay(app: &TestApp, token: &str, ids: &[&str], key: &str) -> Value {
    let data = app.data(Some(token), PAY, json!({"i": {"invoiceIds": ids, "idempotencyKey": key}})).await;
    data["payInvoices"].clone()
}

async fn status_of(app: &TestApp, invoice_id: &str) -> Value {
    let staff = app.staff_token().await;
    let data =
        app.data(Some(&staff), "query($id: ID!) { invoice(id: $id) { status } }", json!({"id": invoice_id})).await;
    data["invoice"]["status"].clone()
}

async fn payments_written(app: &TestApp) -> (u64, u64) {
    (
        payment::Entity::find().count(&app.db).await.unwrap(),
        payment_allocation::Entity::find().count(&app.db).await.unwrap(),
    )
}

#[tokio::test]
async fn pay_several_invoices_of_the_family_in_one_payment() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Payer Main", "payer").await;
    let branch = app.create_account("Payer Branch").await;
    link(&app, &owner, &main, &branch).await;
    let a = issue(&app, &main.id, "EUR", &days_from_today(10), 1_250).await;
    let b = issue(&app, &branch.id, "EUR", &days_from_today(20), 3_000_000_000).await;
    let payload = pay(&app, &owner, &[&a, &b], "key-1").await;
    assert_eq!(payload["userErrors"], json!([]));
    assert_eq!(payload["replayed"], json!(false));
    let payment = &payload["payment"];
    assert_eq!(payment["amountCents"], json!(3_000_001_250i64));
    assert_eq!(payment["currency"], json!("EUR"));
    assert_eq!(payment["status"], json!("SETTLED"));
    assert_eq!(payment["method"], json!("CARD"), "CARD when omitted");
    let mut paid: Vec<Value> = payment["invoices"].as_array().unwrap().clone();
    paid.sort_by_key(|i| i["id"].as_str().unwrap().to_owned());
    let mut expected = vec![json!({"id": a, "status": "PAID"}), json!({"id": b, "status": "PAID"})];
    expected.sort_by_key(|i| i["id"].as_str().unwrap().to_owned());
    assert_eq!(paid, expected);
    let balance = app
        .data(
            Some(&owner),
            "query($id: ID!) { account(id: $id) { openBalance { amountCents } } }",
            json!({"id": main.id}),
        )
        .await;
    assert_eq!(balance["account"]["openBalance"], json!([]));

    // The payment is a node for its payer and staff; to anyone else it does not exist.
    let payment_id = payment["id"].as_str().unwrap();
    let query = "query($id: ID!) { node(id: $id) { ... on Payment { amountCents method } } }";
    let mine = app.data(Some(&owner), query, json!({"id": payment_id})).await;
    assert_eq!(mine["node"]["amountCents"], json!(3_000_001_250i64));
    let staff = app.staff_token().await;
    assert!(app.data(Some(&staff), query, json!({"id": payment_id})).await["node"].is_object());
    let (_, stranger) = app.enrolled_account("Stranger", "pay-stranger").await;
    assert_eq!(app.data(Some(&stranger), query, json!({"id": payment_id})).await["node"], json!(null));
}

#[tokio::test]
async fn a_repeat_with_the_same_key_answers_the_first_payment() {
    let app = TestApp::spawn().await;
    let (account, owner) = app.enrolled_account("Retry Holder", "retrier").await;
    let a = issue(&app, &account.id, "EUR", &days_from_today(10), 500).await;
    let b = issue(&app, &account.id, "EUR", &days_from_today(10), 700).await;
    let first = app
        .data(
            Some(&owner),
            PAY,
            json!({"i": {"invoiceIds": [a, b], "idempotencyKey": "order-42", "method": "DIRECT_DEBIT"}}),
        )
        .await["payInvoices"]
        .clone();
    assert_eq!(first["userErrors"], json!([]));
    // The same request again (ids in another order): the first payment, nothing new.
    let again = app
        .data(
            Some(&owner),
            PAY,
            json!({"i": {"invoiceIds": [b, a, a], "idempotencyKey": "order-42", "method": "DIRECT_DEBIT"}}),
        )
        .await["payInvoices"]
        .clone();
    assert_eq!(again["replayed"], json!(true));
    assert_eq!(again["payment"], first["payment"]);
    assert_eq!(payments_written(&app).await, (1, 2));
    // The same key with another request is refused.
    let other_method = app
        .data(Some(&owner), PAY, json!({"i": {"invoiceIds": [a, b], "idempotencyKey": "order-42", "method": "CARD"}}))
        .await;
    assert_eq!(user_error_code(&other_method["payInvoices"]), Some("IDEMPOTENCY_KEY_REUSED"));
    let c = issue(&app, &account.id, "EUR", &days_from_today(10), 900).await;
    let other_invoices = pay(&app, &owner, &[&c], "order-42").await;
    assert_eq!(user_error_code(&other_invoices), Some("IDEMPOTENCY_KEY_REUSED"));
    assert_eq!(other_invoices["userErrors"][0]["field"], json!(["input", "idempotencyKey"]));
    // A new key on a paid invoice is refused: no invoice is paid twice.
    let twice = pay(&app, &owner, &[&a], "order-43").await;
    assert_eq!(user_error_code(&twice), Some("ALREADY_PAID"));
    assert_eq!(payments_written(&app).await, (1, 2));
    assert_eq!(status_of(&app, &c).await, json!("OPEN"));
    // Keys are per user: another payer's key of the same text is theirs.
    let staff = app.staff_token().await;
    let staff_pays = pay(&app, &staff, &[&c], "order-42").await;
    assert_eq!(staff_pays["userErrors"], json!([]));
    assert_eq!(staff_pays["replayed"], json!(false));
}

#[tokio::test]
async fn refusals_name_their_reason_and_write_nothing() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Refusal Main", "refused").await;
    let (other, other_owner) = app.enrolled_account("Other Family", "refusal-other").await;
    let eur = issue(&app, &main.id, "EUR", &days_from_today(10), 100).await;
    let usd = issue(&app, &main.id, "USD", &days_from_today(10), 100).await;
    let void = issue(&app, &main.id, "EUR", &days_from_today(10), 100).await;
    let foreign = issue(&app, &other.id, "EUR", &days_from_today(10), 100).await;
    let staff = app.staff_token().await;
    app.data(
        Some(&staff),
        "mutation($i: AdminVoidInvoiceInput!) { adminVoidInvoice(input: $i) { userErrors { code } } }",
        json!({"i": {"invoiceId": void}}),
    )
    .await;

    assert_eq!(user_error_code(&pay(&app, &owner, &[&eur, &usd], "k1").await), Some("CURRENCY_MISMATCH"));
    assert_eq!(user_error_code(&pay(&app, &owner, &[&eur, &void], "k2").await), Some("NOT_ACTIVE"));
    assert_eq!(user_error_code(&pay(&app, &owner, &[], "k3").await), Some("INVALID_INPUT"));
    assert_eq!(user_error_code(&pay(&app, &owner, &[&eur], "  ").await), Some("INVALID_INPUT"));
    assert_eq!(user_error_code(&pay(&app, &owner, &[&main.id], "k4").await), Some("NOT_FOUND"));
    // Another family's invoice answers exactly like a missing one.
    let missing = "SW52b2ljZTo5OTk5OTk"; // Invoice:999999
    let hidden = pay(&app, &owner, &[&eur, &foreign], "k5").await;
    let absent = pay(&app, &owner, &[&eur, missing], "k6").await;
    assert_eq!(user_error_code(&hidden), Some("NOT_FOUND"));
    assert_eq!(hidden["userErrors"], absent["userErrors"]);
    assert_eq!(payments_written(&app).await, (0, 0));
    assert_eq!(status_of(&app, &eur).await, json!("OPEN"));
    assert_eq!(status_of(&app, &foreign).await, json!("OPEN"));
    // Its owner still pays it.
    assert_eq!(pay(&app, &other_owner, &[&foreign], "k5").await["userErrors"], json!([]));
}

#[tokio::test]
async fn a_member_who_may_only_view_cannot_pay() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Rights Main", "rights-owner").await;
    let branch = app.create_account("Rights Branch").await;
    link(&app, &owner, &main, &branch).await;
    let create = "mutation($m: ID!, $n: String!, $p: [Permission!]!) { createGroup(input: {mainAccountId: $m, name: $n, permissions: $p}) { group { id } } }";
    let regroup = "mutation($a: ID!, $g: ID!) { updateLinkedAccount(input: {accountId: $a, groupId: $g}) { userErrors { code } } }";
    let viewers = app.data(Some(&owner), create, json!({"m": main.id, "n": "Viewers", "p": ["VIEW_INVOICES"]})).await;
    let viewers = viewers["createGroup"]["group"]["id"].as_str().unwrap().to_owned();
    app.data(Some(&owner), regroup, json!({"a": branch.id, "g": viewers})).await;
    let looker = crate::helpers::invite_and_accept(&app, &owner, &main.id, &viewers, "pay-looker").await;
    let invoice = issue(&app, &branch.id, "EUR", &days_from_today(10), 100).await;
    assert_eq!(user_error_code(&pay(&app, &looker, &[&invoice], "look").await), Some("NOT_PERMITTED"));
    let payers = app
        .data(Some(&owner), create, json!({"m": main.id, "n": "Payers", "p": ["VIEW_INVOICES", "PAY_INVOICES"]}))
        .await;
    let payers = payers["createGroup"]["group"]["id"].as_str().unwrap().to_owned();
    app.data(Some(&owner), regroup, json!({"a": branch.id, "g": payers})).await;
    let payer = crate::helpers::invite_and_accept(&app, &owner, &main.id, &payers, "pay-payer").await;
    assert_eq!(pay(&app, &payer, &[&invoice], "pay").await["userErrors"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_payments_of_one_invoice_and_exactly_one_wins() {
    let app = Arc::new(TestApp::spawn().await);
    let (account, owner) = app.enrolled_account("Race Holder", "racer").await;
    let invoice = issue(&app, &account.id, "EUR", &days_from_today(10), 4_200).await;
    let mut tasks = Vec::new();
    for n in 0..20 {
        let app = app.clone();
        let owner = owner.clone();
        let invoice = invoice.clone();
        tasks.push(tokio::spawn(async move { pay(&app, &owner, &[&invoice], &format!("race-{n}")).await }));
    }
    let mut wins = 0;
    for task in tasks {
        let payload = task.await.unwrap();
        match user_error_code(&payload) {
            None => wins += 1,
            Some(code) => assert_eq!(code, "ALREADY_PAID", "{payload}"),
        }
    }
    assert_eq!(wins, 1, "exactly one payment wins");
    assert_eq!(payments_written(&app).await, (1, 1));
    assert_eq!(status_of(&app, &invoice).await, json!("PAID"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_repeats_with_one_key_make_one_payment() {
    let app = Arc::new(TestApp::spawn().await);
    let (account, owner) = app.enrolled_account("Repeat Holder", "repeater").await;
    let invoice = issue(&app, &account.id, "EUR", &days_from_today(10), 4_200).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let app = app.clone();
        let owner = owner.clone();
        let invoice = invoice.clone();
        tasks.push(tokio::spawn(async move { pay(&app, &owner, &[&invoice], "double-click").await }));
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut replays = 0;
    for task in tasks {
        let payload = task.await.unwrap();
        assert_eq!(payload["userErrors"], json!([]), "a double click is never an error: {payload}");
        ids.insert(payload["payment"]["id"].as_str().unwrap().to_owned());
        replays += usize::from(payload["replayed"] == json!(true));
    }
    assert_eq!(ids.len(), 1, "every answer is the same payment");
    assert_eq!(replays, 7);
    assert_eq!(payments_written(&app).await, (1, 1));
}
