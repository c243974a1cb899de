//! Collective invoices: a family's open invoices consolidated per period and currency,
//! paid as a whole, never member by member, and kept when a secondary leaves.

use serde_json::{Value, json};

use crate::billing::{days_from_today, issue};
use crate::family::link;
use crate::helpers::{CreatedAccount, TestApp, user_error_code};
use crate::payments::pay;

pub const SET_MODE: &str = "mutation($a: ID!, $m: BillingMode!) { setBillingMode(input: {accountId: $a, mode: $m}) {
    account { billingMode } userErrors { code message field } } }";
pub const CONSOLIDATE: &str = "mutation($i: CreateCollectiveInvoiceInput!) { createCollectiveInvoice(input: $i) {
    collectiveInvoices { id number currency totalCents status periodStart periodEnd
        mainAccount { customerNumber }
        invoices(first: 50) { edges { node { id status totalCents account { customerNumber } collectiveInvoice { id } } } } }
    collectiveInvoice { id currency }
    userErrors { code message field } } }";

pub fn today() -> String {
    days_from_today(0)
}

/// Consolidates today's open invoices of `main`'s family; returns the payload.
pub async fn consolidate(app: &TestApp, token: &str, main: &CreatedAccount, start: &str, end: &str) -> Value {
    let data = app
        .data(
            Some(token),
            CONSOLIDATE,
            json!({"i": {"mainAccountId": main.id, "periodStart": start, "periodEnd": end}}),
        )
        .await;
    data["createCollectiveInvoice"].clone()
}

fn member_ids(collective: &Value) -> Vec<String> {
    let mut ids: Vec<String> = collective["invoices"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| (*s).clone()).collect();
    ids.sort();
    ids
}

struct Family {
    main: CreatedAccount,
    owner: String,
    collective: CreatedAccount,
    collective_team: String,
    individual: CreatedAccount,
}

async fn family(app: &TestApp, prefix: &str) -> Family {
    let (main, owner) = app.enrolled_account("Collective Main", &format!("{prefix}-owner")).await;
    let (collective, collective_team) = app.enrolled_account("Collective Branch", &format!("{prefix}-team")).await;
    let individual = app.create_account("Individual Branch").await;
    link(app, &owner, &main, &collective).await;
    link(app, &owner, &main, &individual).await;
    let set = app.data(Some(&owner), SET_MODE, json!({"a": collective.id, "m": "COLLECTIVE"})).await;
    assert_eq!(set["setBillingMode"]["account"]["billingMode"], json!("COLLECTIVE"));
    Family { main, owner, collective, collective_team, individual }
}

#[tokio::test]
async fn only_a_secondary_is_billed_collectively_and_only_by_who_manages_the_family() {
    let app = TestApp::spawn().await;
    let f = family(&app, "mode").await;
    let main = app.data(Some(&f.owner), SET_MODE, json!({"a": f.main.id, "m": "COLLECTIVE"})).await;
    assert_eq!(user_error_code(&main["setBillingMode"]), Some("INVALID_INPUT"));
    let team = app.data(Some(&f.collective_team), SET_MODE, json!({"a": f.collective.id, "m": "INDIVIDUAL"})).await;
    assert_eq!(user_error_code(&team["setBillingMode"]), Some("NOT_PERMITTED"), "its own team cannot opt out");
    let (_, stranger) = app.enrolled_account("Stranger", "mode-stranger").await;
    let foreign = app.data(Some(&stranger), SET_MODE, json!({"a": f.collective.id, "m": "INDIVIDUAL"})).await;
    assert_eq!(user_error_code(&foreign["setBillingMode"]), Some("NOT_FOUND"));
    let back = app.data(Some(&f.owner), SET_MODE, json!({"a": f.collective.id, "m": "INDIVIDUAL"})).await;
    assert_eq!(back["setBillingMode"]["account"]["billingMode"], json!("INDIVIDUAL"));
}

#[tokio::test]
async fn consolidate_a_family_into_one_collective_invoice_per_currency() {
    let app = TestApp::spawn().await;
    let f = family(&app, "mixed").await;
    let main_eur = issue(&app, &f.main.id, "EUR", &days_from_today(30), 1_000).await;
    let branch_eur = issue(&app, &f.collective.id, "EUR", &days_from_today(30), 2_500).await;
    let branch_usd = issue(&app, &f.collective.id, "USD", &days_from_today(30), 700).await;
    let individual = issue(&app, &f.individual.id, "EUR", &days_from_today(30), 9_999).await;

    let payload = consolidate(&app, &f.owner, &f.main, &days_from_today(-31), &today()).await;
    assert_eq!(payload["userErrors"], json!([]));
    let made = payload["collectiveInvoices"].as_array().unwrap();
    assert_eq!(made.len(), 2, "one per currency: {payload}");
    let (eur, usd) = (&made[0], &made[1]);
    assert_eq!(payload["collectiveInvoice"]["id"], eur["id"]);
    assert_eq!((eur["currency"].clone(), eur["totalCents"].clone()), (json!("EUR"), json!(3_500)));
    assert_eq!((usd["currency"].clone(), usd["totalCents"].clone()), (json!("USD"), json!(700)));
    assert_eq!(eur["status"], json!("OPEN"));
    assert_eq!(eur["periodEnd"], json!(today()));
    assert_eq!(eur["mainAccount"]["customerNumber"], json!(f.main.customer_number));
    assert_eq!(eur["number"], json!(format!("{}-C001", f.main.customer_number)));
    assert_eq!(member_ids(eur), sorted(&[&main_eur, &branch_eur]), "the INDIVIDUAL branch stays out");
    assert_eq!(member_ids(usd), vec![branch_usd.clone()]);
    let member = &eur["invoices"]["edges"][0]["node"];
    assert_eq!(member["collectiveInvoice"]["id"], eur["id"]);
    let total: i64 =
        eur["invoices"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["totalCents"].as_i64().unwrap()).sum();
    assert_eq!(json!(total), eur["totalCents"], "the total is the sum of its members");

    // The main account lists them; an invoice is in one collective invoice at most.
    let listed = app
        .data(
            Some(&f.owner),
            "query($id: ID!) { account(id: $id) { collectiveInvoices(first: 10) { edges { node { currency totalCents } } } } }",
            json!({"id": f.main.id}),
        )
        .await;
    assert_eq!(
        listed["account"]["collectiveInvoices"]["edges"],
        json!([{"node": {"currency": "USD", "totalCents": 700}}, {"node": {"currency": "EUR", "totalCents": 3_500}}])
    );
    let again = consolidate(&app, &f.owner, &f.main, &days_from_today(-31), &today()).await;
    assert_eq!(user_error_code(&again), Some("NOTHING_TO_CONSOLIDATE"));
    assert_eq!(again["collectiveInvoices"], json!([]));
    let _ = individual;
}

#[tokio::test]
async fn nothing_to_consolidate_outside_the_period_or_in_a_bad_one() {
    let app = TestApp::spawn().await;
    let f = family(&app, "empty").await;
    let nothing = consolidate(&app, &f.owner, &f.main, &today(), &today()).await;
    assert_eq!(user_error_code(&nothing), Some("NOTHING_TO_CONSOLIDATE"), "no invoices at all");
    issue(&app, &f.collective.id, "EUR", &days_from_today(30), 100).await;
    let last_month = consolidate(&app, &f.owner, &f.main, &days_from_today(-40), &days_from_today(-10)).await;
    assert_eq!(user_error_code(&last_month), Some("NOTHING_TO_CONSOLIDATE"), "issued today, not last month");
    let backwards = consolidate(&app, &f.owner, &f.main, &today(), &days_from_today(-1)).await;
    assert_eq!(user_error_code(&backwards), Some("INVALID_INPUT"));
    let of_secondary = consolidate(&app, &f.owner, &f.collective, &today(), &today()).await;
    assert_eq!(user_error_code(&of_secondary), Some("TARGET_IS_SECONDARY"));
    let (_, stranger) = app.enrolled_account("Stranger", "empty-stranger").await;
    let foreign = consolidate(&app, &stranger, &f.main, &today(), &today()).await;
    assert_eq!(user_error_code(&foreign), Some("NOT_FOUND"));
    assert_eq!(user_error_code(&consolidate(&app, &f.owner, &f.main, &today(), &today()).await), None);
}

#[tokio::test]
async fn a_collective_invoice_is_paid_as_a_whole_and_never_member_by_member() {
    let app = TestApp::spawn().await;
    let f = family(&app, "paid").await;
    let main_eur = issue(&app, &f.main.id, "EUR", &days_from_today(30), 1_000).await;
    let branch_eur = issue(&app, &f.collective.id, "EUR", &days_from_today(30), 2_500).await;
    let outside = issue(&app, &f.individual.id, "USD", &days_from_today(30), 50).await;
    let payload = consolidate(&app, &f.owner, &f.main, &today(), &today()).await;
    let collective_id = payload["collectiveInvoice"]["id"].as_str().unwrap().to_owned();

    // A member alone is refused, for the family and for the branch's own team.
    assert_eq!(user_error_code(&pay(&app, &f.owner, &[&branch_eur], "m1").await), Some("IN_COLLECTIVE_INVOICE"));
    assert_eq!(
        user_error_code(&pay(&app, &f.collective_team, &[&branch_eur], "m2").await),
        Some("IN_COLLECTIVE_INVOICE")
    );
    assert_eq!(
        user_error_code(&pay(&app, &f.owner, &[&collective_id, &outside], "m3").await),
        Some("CURRENCY_MISMATCH")
    );
    // The branch's team cannot see its main's collective invoice: it does not exist for them.
    let hidden = pay(&app, &f.collective_team, &[&collective_id], "m4").await;
    assert_eq!(user_error_code(&hidden), Some("NOT_FOUND"));

    let paid = pay(&app, &f.owner, &[&collective_id], "whole").await;
    assert_eq!(paid["userErrors"], json!([]));
    assert_eq!(paid["payment"]["amountCents"], json!(3_500));
    let mut statuses: Vec<(String, String)> = paid["payment"]["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_str().unwrap().to_owned(), i["status"].as_str().unwrap().to_owned()))
        .collect();
    statuses.sort();
    let mut expected = vec![(main_eur.clone(), "PAID".to_owned()), (branch_eur.clone(), "PAID".to_owned())];
    expected.sort();
    assert_eq!(statuses, expected, "every member is paid");
    let collective = app
        .data(Some(&f.owner), "query($id: ID!) { collectiveInvoice(id: $id) { status } }", json!({"id": collective_id}))
        .await;
    assert_eq!(collective["collectiveInvoice"]["status"], json!("PAID"));
    assert_eq!(user_error_code(&pay(&app, &f.owner, &[&collective_id], "again").await), Some("ALREADY_PAID"));
    let replay = pay(&app, &f.owner, &[&collective_id], "whole").await;
    assert_eq!(replay["replayed"], json!(true));
    assert_eq!(replay["payment"]["id"], paid["payment"]["id"]);
}

#[tokio::test]
async fn a_detached_secondary_leaves_its_consolidated_invoices_on_the_main_collective_invoice() {
    let app = TestApp::spawn().await;
    let f = family(&app, "leave").await;
    let main_eur = issue(&app, &f.main.id, "EUR", &days_from_today(30), 1_000).await;
    let branch_eur = issue(&app, &f.collective.id, "EUR", &days_from_today(30), 2_500).await;
    let payload = consolidate(&app, &f.owner, &f.main, &today(), &today()).await;
    let collective_id = payload["collectiveInvoice"]["id"].as_str().unwrap().to_owned();

    let detached = app
        .data(
            Some(&f.owner),
            "mutation($a: ID!) { detachAccount(input: {accountId: $a}) { account { billingMode role } userErrors { code } } }",
            json!({"a": f.collective.id}),
        )
        .await;
    assert_eq!(detached["detachAccount"]["account"], json!({"billingMode": "INDIVIDUAL", "role": "STANDALONE"}));
    let staff = app.staff_token().await;
    let query = "query($id: ID!) { collectiveInvoice(id: $id) { totalCents invoices { edges { node { id } } } } }";
    let still = app.data(Some(&staff), query, json!({"id": collective_id})).await;
    assert_eq!(still["collectiveInvoice"]["totalCents"], json!(3_500));
    assert_eq!(member_ids(&still["collectiveInvoice"]), sorted(&[&main_eur, &branch_eur]));
    // The detached account's own team still cannot pay it alone; the main pays it all.
    assert_eq!(
        user_error_code(&pay(&app, &f.collective_team, &[&branch_eur], "alone").await),
        Some("IN_COLLECTIVE_INVOICE")
    );
    let paid = pay(&app, &f.owner, &[&collective_id], "after-detach").await;
    assert_eq!(paid["userErrors"], json!([]));
    assert_eq!(paid["payment"]["amountCents"], json!(3_500));
    let team_view = app
        .data(Some(&f.collective_team), "query($id: ID!) { invoice(id: $id) { status } }", json!({"id": branch_eur}))
        .await;
    assert_eq!(team_view["invoice"]["status"], json!("PAID"));
}

#[tokio::test]
async fn another_family_cannot_see_or_pay_a_collective_invoice() {
    let app = TestApp::spawn().await;
    let f = family(&app, "private").await;
    issue(&app, &f.main.id, "EUR", &days_from_today(30), 1_000).await;
    let payload = consolidate(&app, &f.owner, &f.main, &today(), &today()).await;
    let collective_id = payload["collectiveInvoice"]["id"].as_str().unwrap().to_owned();
    let (_, stranger) = app.enrolled_account("Stranger", "private-stranger").await;
    for query in ["query($id: ID!) { collectiveInvoice(id: $id) { id } }", "query($id: ID!) { node(id: $id) { id } }"] {
        let data = app.data(Some(&stranger), query, json!({"id": collective_id})).await;
        assert!(data.as_object().unwrap().values().all(Value::is_null), "{data}");
    }
    let hidden = pay(&app, &stranger, &[&collective_id], "steal").await;
    let missing = pay(&app, &stranger, &["Q29sbGVjdGl2ZUludm9pY2U6OTk5OTk"], "steal-2").await;
    assert_eq!(user_error_code(&hidden), Some("NOT_FOUND"));
    assert_eq!(hidden["userErrors"], missing["userErrors"]);
}
