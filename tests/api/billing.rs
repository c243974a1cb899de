//! Invoices as staff issue them and customers receive them: computed totals, e-bill mails
//! through the outbox, voiding, and the `invoiceIssued` subscription.

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use canopy::entity::{audit_event, invoice, outbox};

use crate::family::link;
use crate::helpers::{TestApp, error_code, user_error_code};

pub const ISSUE: &str = "mutation($i: AdminIssueInvoiceInput!) { adminIssueInvoice(input: $i) {
    invoice { id number status currency totalCents dueAt lines { description quantity unitCents amountCents }
              account { customerNumber } }
    userErrors { code message field } } }";

/// Staff issue an invoice with the given lines; returns the payload.
pub async fn issue_lines(app: &TestApp, account_id: &str, currency: &str, due_at: &str, lines: Value) -> Value {
    let staff = app.staff_token().await;
    let data = app
        .data(
            Some(&staff),
            ISSUE,
            json!({"i": {"accountId": account_id, "currency": currency, "dueAt": due_at, "lines": lines}}),
        )
        .await;
    data["adminIssueInvoice"].clone()
}

/// Staff issue a one-line invoice; returns its global id.
pub async fn issue(app: &TestApp, account_id: &str, currency: &str, due_at: &str, cents: i64) -> String {
    let payload = issue_lines(
        app,
        account_id,
        currency,
        due_at,
        json!([{"description": "Monthly fee", "quantity": 1, "unitCents": cents}]),
    )
    .await;
    payload["invoice"]["id"].as_str().unwrap_or_else(|| panic!("issue failed: {payload}")).to_owned()
}

#[tokio::test]
async fn staff_issue_an_invoice_whose_total_is_the_exact_sum_of_its_lines() {
    let app = TestApp::spawn().await;
    let account = app.create_account("Billed Holder").await;
    let payload = issue_lines(
        &app,
        &account.id,
        "eur",
        "2026-12-31",
        json!([
            {"description": "Thirds", "quantity": 3, "unitCents": 333},
            {"description": "Penny", "quantity": 1, "unitCents": 1},
            {"description": "Large, beyond 32 bits", "quantity": 2, "unitCents": 3_000_000_000i64},
        ]),
    )
    .await;
    assert_eq!(payload["userErrors"], json!([]));
    let invoice = &payload["invoice"];
    assert_eq!(invoice["status"], json!("OPEN"));
    assert_eq!(invoice["currency"], json!("EUR"));
    assert_eq!(invoice["dueAt"], json!("2026-12-31"));
    assert_eq!(invoice["totalCents"], json!(6_000_001_000i64));
    assert_eq!(invoice["account"]["customerNumber"], json!(account.customer_number));
    assert_eq!(invoice["number"], json!(format!("{}-0001", account.customer_number)));
    let amounts: Vec<i64> =
        invoice["lines"].as_array().unwrap().iter().map(|l| l["amountCents"].as_i64().unwrap()).collect();
    assert_eq!(amounts, vec![999, 1, 6_000_000_000]);
    let audit = audit_event::Entity::find().filter(audit_event::Column::Action.eq("invoice.issued")).count(&app.db);
    assert_eq!(audit.await.unwrap(), 1);
}

#[tokio::test]
async fn an_overflowing_or_malformed_invoice_is_refused_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let account = app.create_account("Overflow Holder").await;
    let cases = [
        ("EUR", json!([{"description": "Huge", "quantity": 2, "unitCents": i64::MAX / 2 + 1}]), "lines"),
        (
            "EUR",
            json!([{"description": "Max", "quantity": 1, "unitCents": i64::MAX}, {"description": "One more", "quantity": 1, "unitCents": 1}]),
            "lines",
        ),
        ("EUR", json!([{"description": "Negative", "quantity": 1, "unitCents": -5}]), "lines"),
        ("EUR", json!([{"description": "Zero", "quantity": 0, "unitCents": 5}]), "lines"),
        ("EUR", json!([]), "lines"),
        ("EURO", json!([{"description": "Fee", "quantity": 1, "unitCents": 5}]), "currency"),
    ];
    for (currency, lines, field) in cases {
        let payload = issue_lines(&app, &account.id, currency, "2026-12-31", lines.clone()).await;
        assert_eq!(user_error_code(&payload), Some("INVALID_INPUT"), "{lines}: {payload}");
        assert_eq!(payload["userErrors"][0]["field"], json!(["input", field]));
        assert_eq!(payload["invoice"], json!(null));
    }
    assert_eq!(invoice::Entity::find().count(&app.db).await.unwrap(), 0);
    // A Cents value beyond 64 bits never reaches the service.
    let staff = app.staff_token().await;
    let body = app
        .gql(
            Some(&staff),
            ISSUE,
            json!({"i": {"accountId": account.id, "currency": "EUR", "dueAt": "2026-12-31",
                "lines": [{"description": "x", "quantity": 1, "unitCents": 1e20}]}}),
        )
        .await;
    assert_eq!(error_code(&body), Some("GRAPHQL_VALIDATION_FAILED"), "{body}");
    let body = app
        .gql(
            Some(&staff),
            ISSUE,
            json!({"i": {"accountId": account.id, "currency": "EUR", "dueAt": "31.12.2026",
                "lines": [{"description": "x", "quantity": 1, "unitCents": 1}]}}),
        )
        .await;
    assert_eq!(error_code(&body), Some("GRAPHQL_VALIDATION_FAILED"), "a Date is YYYY-MM-DD: {body}");
}

#[tokio::test]
async fn customers_cannot_issue_or_void_invoices() {
    let app = TestApp::spawn().await;
    let (account, owner) = app.enrolled_account("Own Holder", "self-biller").await;
    let body = app
        .gql(
            Some(&owner),
            ISSUE,
            json!({"i": {"accountId": account.id, "currency": "EUR", "dueAt": "2026-12-31",
                "lines": [{"description": "Free money", "quantity": 1, "unitCents": 1}]}}),
        )
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"));
    let invoice_id = issue(&app, &account.id, "EUR", "2026-12-31", 100).await;
    let void = "mutation($i: AdminVoidInvoiceInput!) { adminVoidInvoice(input: $i) { invoice { status } userErrors { code } } }";
    let body = app.gql(Some(&owner), void, json!({"i": {"invoiceId": invoice_id}})).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"));
    let staff = app.staff_token().await;
    let voided = app.data(Some(&staff), void, json!({"i": {"invoiceId": invoice_id}})).await;
    assert_eq!(voided["adminVoidInvoice"]["invoice"]["status"], json!("VOID"));
    let again = app.data(Some(&staff), void, json!({"i": {"invoiceId": invoice_id}})).await;
    assert_eq!(user_error_code(&again["adminVoidInvoice"]), Some("NOT_ACTIVE"));
    let missing = app.data(Some(&staff), void, json!({"i": {"invoiceId": account.id}})).await;
    assert_eq!(user_error_code(&missing["adminVoidInvoice"]), Some("NOT_FOUND"));
}

async fn mails_for(app: &TestApp, invoice_id: &str) -> Vec<outbox::Model> {
    let number = crate::helpers::decode_number(invoice_id);
    let mut rows = outbox::Entity::find()
        .filter(outbox::Column::DedupeKey.starts_with(format!("invoice:{number}:")))
        .all(&app.db)
        .await
        .unwrap();
    rows.sort_by(|a, b| a.recipient.cmp(&b.recipient));
    rows
}

#[tokio::test]
async fn issuing_queues_one_ebill_mail_per_recipient_and_none_for_a_deactivated_account() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Main Holder", "mail-owner").await;
    let (secondary, _) = app.enrolled_account("Branch Holder", "mail-branch").await;
    assert_eq!(link(&app, &owner, &main, &secondary).await["userErrors"], json!([]));
    // A member of the Default Group (VIEW_INVOICES) of the family.
    let groups = app
        .data(
            Some(&owner),
            "query($id: ID!) { account(id: $id) { secondaries { edges { node { group { id } } } } } }",
            json!({"id": main.id}),
        )
        .await;
    let default_group =
        groups["account"]["secondaries"]["edges"][0]["node"]["group"]["id"].as_str().unwrap().to_owned();
    crate::helpers::invite_and_accept(&app, &owner, &main.id, &default_group, "mail-member").await;

    let invoice_id = issue(&app, &secondary.id, "EUR", "2026-12-31", 4_990).await;
    let mails = mails_for(&app, &invoice_id).await;
    let recipients: Vec<&str> = mails.iter().map(|m| m.recipient.as_str()).collect();
    assert_eq!(
        recipients,
        vec!["mail-branch@example.com", "mail-member@example.com", "mail-owner@example.com"],
        "the account's logins, its main's and its group's members"
    );
    let invoice_number = crate::helpers::decode_number(&invoice_id);
    for mail in &mails {
        assert!(mail.dedupe_key.starts_with(&format!("invoice:{invoice_number}:user:")));
        assert!(mail.subject.contains(&secondary.customer_number), "{}", mail.subject);
        assert!(mail.body.contains("49.90 EUR"), "{}", mail.body);
        assert!(!mail.body.contains(&app.current_enrollment_token(&secondary.id).await), "no secrets in mail");
    }

    // The main's own invoice reaches the main's users only.
    let main_invoice = issue(&app, &main.id, "EUR", "2026-12-31", 100).await;
    let recipients: Vec<String> = mails_for(&app, &main_invoice).await.into_iter().map(|m| m.recipient).collect();
    assert_eq!(recipients, vec!["mail-owner@example.com"]);

    // E-bills off: nothing queued.
    app.data(
        Some(&owner),
        "mutation($a: ID!) { updateAccountSettings(input: {accountId: $a, settings: {ebillNotifications: false}}) { userErrors { code } } }",
        json!({"a": secondary.id}),
    )
    .await;
    let quiet = issue(&app, &secondary.id, "EUR", "2026-12-31", 100).await;
    assert!(mails_for(&app, &quiet).await.is_empty());
    app.data(
        Some(&owner),
        "mutation($a: ID!) { updateAccountSettings(input: {accountId: $a, settings: {ebillNotifications: true}}) { userErrors { code } } }",
        json!({"a": secondary.id}),
    )
    .await;

    // Removed (detached and deactivated): the invoice is issued, no mail is queued.
    let removed = app
        .data(
            Some(&owner),
            "mutation($a: ID!) { detachAccount(input: {accountId: $a, deactivate: true}) { account { status } } }",
            json!({"a": secondary.id}),
        )
        .await;
    assert_eq!(removed["detachAccount"]["account"]["status"], json!("DEACTIVATED"));
    let after_removal = issue(&app, &secondary.id, "EUR", "2026-12-31", 100).await;
    assert!(mails_for(&app, &after_removal).await.is_empty(), "no e-bill for a deactivated account");
}

#[tokio::test]
async fn a_user_with_notifications_off_gets_no_ebill() {
    let app = TestApp::spawn().await;
    let (account, _) = app.enrolled_account("Quiet Holder", "quiet-user").await;
    canopy::entity::user::Entity::update_many()
        .col_expr(canopy::entity::user::Column::NotificationsEnabled, sea_orm::sea_query::Expr::value(false))
        .filter(canopy::entity::user::Column::LoginName.eq("quiet-user"))
        .exec(&app.db)
        .await
        .unwrap();
    let invoice_id = issue(&app, &account.id, "EUR", "2026-12-31", 100).await;
    assert!(mails_for(&app, &invoice_id).await.is_empty());
}

#[tokio::test]
async fn invoice_issued_reaches_only_subscribers_who_may_view_the_invoice() {
    use futures_util::StreamExt;

    let app = TestApp::spawn().await;
    let (mine, owner) = app.enrolled_account("Subscriber Holder", "sub-owner").await;
    let (theirs, _) = app.enrolled_account("Other Holder", "sub-other").await;
    // A subscription runs in a session, which it checks again at every event.
    let (viewer, session_id) = canopy::http::viewer_for_token(&app.state, Some(&owner)).await.unwrap().unwrap();
    let schema = canopy::graphql::schema_builder().data(app.state.clone()).finish();
    let context = canopy::graphql::context::RequestContext::new(
        &app.state,
        Some(viewer),
        Some(session_id),
        "127.0.0.1".to_owned(),
    );
    let request =
        async_graphql::Request::new("subscription { invoiceIssued { number totalCents account { customerNumber } } }")
            .data(context);
    let mut stream = schema.execute_stream(request);
    // On PostgreSQL events travel through NOTIFY: TestApp already runs this process's relay.
    // The subscription is live once the stream is polled; give it a moment to subscribe.
    let first = tokio::spawn(async move { stream.next().await.map(|r| r.into_result()) });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    issue(&app, &theirs.id, "EUR", "2026-12-31", 111).await;
    issue(&app, &mine.id, "EUR", "2026-12-31", 222).await;
    let response = tokio::time::timeout(std::time::Duration::from_secs(10), first)
        .await
        .expect("an event within 10 s")
        .unwrap()
        .expect("a response")
        .expect("no errors");
    let data = response.data.into_json().unwrap();
    assert_eq!(data["invoiceIssued"]["totalCents"], json!(222), "the other family's invoice is not delivered");
    assert_eq!(data["invoiceIssued"]["account"]["customerNumber"], json!(mine.customer_number));
}

const OPEN_ITEMS: &str = "query($first: Int, $after: String, $account: ID, $overdue: Boolean, $currency: String) {
    openItems(first: $first, after: $after, accountId: $account, overdue: $overdue, currency: $currency) {
        edges { cursor node { id number totalCents currency dueAt account { customerNumber friendlyName } } }
        pageInfo { hasNextPage endCursor }
        totals { amountCents currency } } }";

/// Every open item a viewer sees, page by page; returns (invoice numbers, totals of the first page).
async fn all_open_items(app: &TestApp, token: &str, filters: Value) -> (Vec<String>, Value) {
    let mut numbers = Vec::new();
    let mut after = Value::Null;
    let mut totals = Value::Null;
    loop {
        let mut vars = filters.clone();
        vars["first"] = json!(2);
        vars["after"] = after.clone();
        let data = app.data(Some(token), OPEN_ITEMS, vars).await;
        let page = &data["openItems"];
        if totals.is_null() {
            totals = page["totals"].clone();
        }
        for edge in page["edges"].as_array().unwrap() {
            numbers.push(edge["node"]["number"].as_str().unwrap().to_owned());
        }
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            return (numbers, totals);
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

pub fn days_from_today(days: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(days)).format("%Y-%m-%d").to_string()
}

async fn number_of(app: &TestApp, invoice_id: &str) -> String {
    let staff = app.staff_token().await;
    let data =
        app.data(Some(&staff), "query($id: ID!) { invoice(id: $id) { number } }", json!({"id": invoice_id})).await;
    data["invoice"]["number"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn open_items_list_the_whole_family_by_due_date_and_follow_a_detach() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Family Main", "items-owner").await;
    let (branch, branch_team) = app.enrolled_account("Branch", "items-branch").await;
    let shop = app.create_account("Shop").await;
    link(&app, &owner, &main, &branch).await;
    link(&app, &owner, &main, &shop).await;
    let (other, other_owner) = app.enrolled_account("Other Family", "items-other").await;

    let overdue = issue(&app, &branch.id, "EUR", &days_from_today(-30), 200).await;
    let branch_soon = issue(&app, &branch.id, "EUR", &days_from_today(5), 400).await;
    let shop_soon = issue(&app, &shop.id, "USD", &days_from_today(5), 300).await;
    let main_later = issue(&app, &main.id, "EUR", &days_from_today(10), 100).await;
    let voided = issue(&app, &main.id, "EUR", &days_from_today(1), 999).await;
    let foreign = issue(&app, &other.id, "EUR", &days_from_today(1), 5_000).await;
    let staff = app.staff_token().await;
    app.data(
        Some(&staff),
        "mutation($i: AdminVoidInvoiceInput!) { adminVoidInvoice(input: $i) { userErrors { code } } }",
        json!({"i": {"invoiceId": voided}}),
    )
    .await;
    let mut expected = Vec::new();
    for id in [&overdue, &branch_soon, &shop_soon, &main_later] {
        expected.push(number_of(&app, id).await);
    }

    let (numbers, totals) = all_open_items(&app, &owner, json!({})).await;
    assert_eq!(numbers, expected, "due date first, then id; void and foreign invoices left out");
    assert_eq!(totals, json!([{"amountCents": 700, "currency": "EUR"}, {"amountCents": 300, "currency": "USD"}]));

    let first_page = app.data(Some(&owner), OPEN_ITEMS, json!({"first": 1})).await;
    let edge = &first_page["openItems"]["edges"][0]["node"];
    assert_eq!(edge["account"], json!({"customerNumber": branch.customer_number, "friendlyName": "Linked"}));

    let (overdue_only, overdue_totals) = all_open_items(&app, &owner, json!({"overdue": true})).await;
    assert_eq!(overdue_only, expected[..1]);
    assert_eq!(overdue_totals, json!([{"amountCents": 200, "currency": "EUR"}]));
    let (not_overdue, _) = all_open_items(&app, &owner, json!({"overdue": false})).await;
    assert_eq!(not_overdue, expected[1..]);
    let (usd, usd_totals) = all_open_items(&app, &owner, json!({"currency": "usd"})).await;
    assert_eq!(usd, expected[2..3]);
    assert_eq!(usd_totals, json!([{"amountCents": 300, "currency": "USD"}]));
    let (one_account, _) = all_open_items(&app, &owner, json!({"account": branch.id})).await;
    assert_eq!(one_account, expected[..2]);

    // Another family sees none of these, not even by naming the account.
    let (theirs, _) = all_open_items(&app, &other_owner, json!({})).await;
    assert_eq!(theirs, vec![number_of(&app, &foreign).await]);
    let (probe, probe_totals) = all_open_items(&app, &other_owner, json!({"account": branch.id})).await;
    assert!(probe.is_empty());
    assert_eq!(probe_totals, json!([]));

    // Detach the branch: the family's list drops it at once; its own team still sees it.
    let detached = app
        .data(
            Some(&owner),
            "mutation($a: ID!) { detachAccount(input: {accountId: $a}) { userErrors { code } } }",
            json!({"a": branch.id}),
        )
        .await;
    assert_eq!(detached["detachAccount"]["userErrors"], json!([]));
    let (after_detach, totals) = all_open_items(&app, &owner, json!({})).await;
    assert_eq!(after_detach, expected[2..]);
    assert_eq!(totals, json!([{"amountCents": 100, "currency": "EUR"}, {"amountCents": 300, "currency": "USD"}]));
    let (team_view, _) = all_open_items(&app, &branch_team, json!({})).await;
    assert_eq!(team_view, expected[..2]);
}

#[tokio::test]
async fn open_items_of_a_group_member_need_view_invoices() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Group Main", "gm-owner").await;
    let billed = app.create_account("Billed").await;
    let hidden = app.create_account("Hidden").await;
    link(&app, &owner, &main, &billed).await;
    link(&app, &owner, &main, &hidden).await;
    let create = "mutation($m: ID!, $n: String!, $p: [Permission!]!) { createGroup(input: {mainAccountId: $m, name: $n, permissions: $p}) { group { id } } }";
    let viewers = app.data(Some(&owner), create, json!({"m": main.id, "n": "Viewers", "p": ["VIEW_INVOICES"]})).await;
    let blind = app.data(Some(&owner), create, json!({"m": main.id, "n": "Blind", "p": ["MANAGE_SETTINGS"]})).await;
    let viewers = viewers["createGroup"]["group"]["id"].as_str().unwrap().to_owned();
    let blind = blind["createGroup"]["group"]["id"].as_str().unwrap().to_owned();
    let regroup = "mutation($a: ID!, $g: ID!) { updateLinkedAccount(input: {accountId: $a, groupId: $g}) { userErrors { code } } }";
    app.data(Some(&owner), regroup, json!({"a": billed.id, "g": viewers})).await;
    app.data(Some(&owner), regroup, json!({"a": hidden.id, "g": blind})).await;
    let member = crate::helpers::invite_and_accept(&app, &owner, &main.id, &viewers, "gm-viewer").await;
    let blind_member = crate::helpers::invite_and_accept(&app, &owner, &main.id, &blind, "gm-blind").await;
    let seen = issue(&app, &billed.id, "EUR", &days_from_today(3), 100).await;
    issue(&app, &hidden.id, "EUR", &days_from_today(3), 200).await;
    issue(&app, &main.id, "EUR", &days_from_today(3), 300).await;

    let (numbers, totals) = all_open_items(&app, &member, json!({})).await;
    assert_eq!(numbers, vec![number_of(&app, &seen).await]);
    assert_eq!(totals, json!([{"amountCents": 100, "currency": "EUR"}]));
    let (nothing, _) = all_open_items(&app, &blind_member, json!({})).await;
    assert!(nothing.is_empty(), "MANAGE_SETTINGS alone does not show invoices");
}

/// openItems loads its items' accounts ahead (`prefetch_accounts`) through the same
/// policy as `Invoice.account`: a group member sees her group's items with their
/// accounts and no more (not the main's, whose account she may not see as a parent
/// either), a settings-only member and another family see no items, and a fragment
/// (which the look-ahead may not follow) answers exactly like the plain selection.
#[tokio::test]
async fn open_items_show_their_accounts_only_to_who_may_view_their_invoices() {
    use crate::trust::{create_group, regroup};
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Prefetch Main", "prefetch-owner").await;
    let branch = app.create_account("Prefetch Branch").await;
    let hidden = app.create_account("Prefetch Hidden").await;
    link(&app, &owner, &main, &branch).await;
    link(&app, &owner, &main, &hidden).await;
    issue(&app, &main.id, "EUR", &days_from_today(3), 100).await;
    let branch_item = issue(&app, &branch.id, "EUR", &days_from_today(4), 200).await;
    issue(&app, &hidden.id, "EUR", &days_from_today(5), 400).await;
    let viewers = create_group(&app, &owner, &main.id, "Branch viewers", json!(["VIEW_INVOICES"])).await;
    let settings = create_group(&app, &owner, &main.id, "Hidden settings", json!(["MANAGE_SETTINGS"])).await;
    regroup(&app, &owner, &branch.id, &viewers).await;
    regroup(&app, &owner, &hidden.id, &settings).await;
    let member = crate::helpers::invite_and_accept(&app, &owner, &main.id, &viewers, "prefetch-member").await;
    let blind = crate::helpers::invite_and_accept(&app, &owner, &main.id, &settings, "prefetch-blind").await;
    let (_, stranger) = app.enrolled_account("Prefetch Stranger", "prefetch-stranger").await;

    let plain = "{ openItems(first: 10) { edges { node { id account { customerNumber parent { customerNumber } } } } totals { amountCents } } }";
    let fragment = "{ openItems(first: 10) { edges { node { id ...Owner } } totals { amountCents } } }
        fragment Owner on Invoice { account { customerNumber parent { customerNumber } } }";

    let seen = app.data(Some(&member), plain, json!({})).await;
    assert_eq!(
        seen["openItems"],
        json!({"edges": [{"node": {"id": branch_item, "account": {"customerNumber": branch.customer_number, "parent": null}}}],
               "totals": [{"amountCents": 200}]}),
        "only the branch's item, with its account; the main is no parent she may see"
    );
    assert_eq!(app.data(Some(&member), fragment, json!({})).await, seen, "a fragment answers the same");

    let owner_view = app.data(Some(&owner), plain, json!({})).await;
    let accounts: Vec<&Value> = owner_view["openItems"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"]["account"]["customerNumber"])
        .collect();
    assert_eq!(
        accounts,
        vec![&json!(main.customer_number), &json!(branch.customer_number), &json!(hidden.customer_number)]
    );
    assert_eq!(app.data(Some(&owner), fragment, json!({})).await, owner_view);

    for token in [&blind, &stranger] {
        let nothing = app.data(Some(token), plain, json!({})).await;
        assert_eq!(nothing["openItems"], json!({"edges": [], "totals": []}), "{nothing}");
    }
}

/// `canopy_open_items_pages_total{path="..."}` from /metrics.
async fn open_items_pages(app: &TestApp, path: &str) -> u64 {
    crate::access::pages_by_path(app, "canopy_open_items_pages_total", path).await
}

/// The open-items page written straight from its rows (`graphql::open_items`) answers
/// exactly as the general resolvers do: every stored field of the invoices and of their
/// accounts, cursors, page info, `nodes` and the totals, page after page, for the owner
/// and for a member who sees one secondary's invoices only. A directive sends the same
/// document down the general path.
#[tokio::test]
async fn the_prewritten_open_items_answer_like_the_general_resolvers() {
    use crate::trust::{create_group, regroup};
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Written Main", "written-owner").await;
    let branch = app.create_account("Written Branch").await;
    link(&app, &owner, &main, &branch).await;
    issue(&app, &main.id, "EUR", &days_from_today(3), 100).await;
    issue(&app, &main.id, "USD", &days_from_today(-2), 250).await;
    let branch_items = [
        issue(&app, &branch.id, "EUR", &days_from_today(4), 200).await,
        issue(&app, &branch.id, "EUR", &days_from_today(4), 300).await,
    ];
    let viewers = create_group(&app, &owner, &main.id, "Written viewers", json!(["VIEW_INVOICES"])).await;
    regroup(&app, &owner, &branch.id, &viewers).await;
    let member = crate::helpers::invite_and_accept(&app, &owner, &main.id, &viewers, "written-member").await;

    let document = |d: &str| {
        format!(
            "query($after: String) {{ openItems(first: 3, after: $after) {{ __typename {d}
                totals {{ __typename amountCents currency }}
                pageInfo {{ __typename hasNextPage hasPreviousPage startCursor endCursor }}
                edges {{ __typename cursor node {{ __typename id number status currency totalCents issuedAt dueAt
                    account {{ __typename id customerNumber holderName friendlyName status billingMode createdAt }} }} }}
                nodes {{ number account {{ customerNumber }} }}
            }} }}"
        )
    };
    for (token, expected) in [(&owner, 4), (&member, 2)] {
        let (mut after, mut seen) = (Value::Null, Vec::new());
        loop {
            let (written, statements) = (open_items_pages(&app, "prewritten").await, app.statements());
            let fast = app.data(Some(token), &document(""), json!({"after": after})).await;
            // The session, the page with its accounts (a join), the totals.
            assert_eq!(app.statements() - statements, 3, "statements of a page with its accounts");
            assert!(open_items_pages(&app, "prewritten").await > written, "the plain page was written ahead");
            let (general, statements) = (open_items_pages(&app, "general").await, app.statements());
            let slow = app.data(Some(token), &document("__typename @include(if: true)"), json!({"after": after})).await;
            assert_eq!(app.statements() - statements, 3, "the general path answers from the accounts read ahead");
            assert!(open_items_pages(&app, "general").await > general, "the directive sent it down the general path");
            assert_eq!(fast, slow);
            let page = &fast["openItems"];
            assert_eq!(page["pageInfo"]["hasPreviousPage"], !after.is_null());
            seen.extend(page["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].clone()));
            if page["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(seen.len(), expected, "{seen:?}");
        if expected == 2 {
            assert_eq!(
                seen,
                branch_items.iter().map(|id| json!(id)).collect::<Vec<_>>(),
                "the member sees the branch's"
            );
        }
    }
}

/// An attacker signed in to another family names the victim's account and replays the
/// victim's cursor: the page (written from its rows, with the joined accounts) is empty,
/// with no totals and no account of the victim's anywhere in the answer.
#[tokio::test]
async fn another_family_naming_the_victims_account_or_cursor_sees_no_open_items() {
    let app = TestApp::spawn().await;
    let (victim_main, victim) = app.enrolled_account("Victim Main", "victim-owner").await;
    issue(&app, &victim_main.id, "EUR", &days_from_today(3), 700).await;
    issue(&app, &victim_main.id, "EUR", &days_from_today(4), 800).await;
    let (_, attacker) = app.enrolled_account("Attacker Main", "attacker-owner").await;
    let page = "query($a: ID, $after: String) { openItems(first: 1, accountId: $a, after: $after) {
        totals { amountCents } edges { cursor node { id number account { id customerNumber holderName } } }
        pageInfo { hasNextPage endCursor } } }";
    let own = app.data(Some(&victim), page, json!({"a": victim_main.id})).await;
    assert_eq!(own["openItems"]["edges"].as_array().map(Vec::len), Some(1), "{own}");
    let cursor = own["openItems"]["pageInfo"]["endCursor"].clone();
    for variables in
        [json!({"a": victim_main.id}), json!({"after": cursor}), json!({"a": victim_main.id, "after": cursor})]
    {
        let seen = app.data(Some(&attacker), page, variables.clone()).await;
        assert_eq!(
            seen["openItems"],
            json!({"totals": [], "edges": [], "pageInfo": {"hasNextPage": false, "endCursor": null}}),
            "{variables}"
        );
        assert!(!seen.to_string().contains(&victim_main.customer_number), "{seen}");
    }
}
