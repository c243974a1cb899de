//! Spend for dashboards: `Account.spend` and `Account.familySpend`, asked the way a
//! dashboard asks, by a family's owner, group members with and without VIEW_INVOICES,
//! another family's customer and staff; with void invoices, a change of currency, range
//! edges, bad ranges, and the statements a page of accounts costs.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use canopy::entity::invoice;

use crate::billing::issue;
use crate::family::link;
use crate::helpers::{CreatedAccount, PASSWORD, TestApp, decode_number, error_code, invite_and_accept};
use crate::payments::pay;
use crate::trust::{create_group, regroup};

const SPEND: &str = "query($id: ID!, $from: Date!, $to: Date!, $g: SpendGranularity!) {
    account(id: $id) { spend(from: $from, to: $to, granularity: $g) {
        periodStart periodEnd currency amountCents invoiceCount } } }";

const FAMILY_SPEND: &str = "query($id: ID!, $from: Date!, $to: Date!, $g: SpendGranularity!) {
    account(id: $id) { familySpend(from: $from, to: $to, granularity: $g) {
        account { customerNumber } buckets { periodStart currency amountCents invoiceCount } } } }";

/// Moves an invoice's issue instant (setup: invoices are issued "now").
async fn issued_at(app: &TestApp, invoice_id: &str, at: &str) {
    let at: chrono::DateTime<chrono::Utc> = at.parse().unwrap();
    invoice::Entity::update_many()
        .col_expr(invoice::Column::IssuedAt, Expr::value(at))
        .filter(invoice::Column::Id.eq(decode_number(invoice_id)))
        .exec(&app.db)
        .await
        .unwrap();
}

/// Staff issue a one-line invoice and date it `at`; returns its id.
async fn issue_at(app: &TestApp, account: &CreatedAccount, currency: &str, cents: i64, at: &str) -> String {
    let id = issue(app, &account.id, currency, "2030-01-01", cents).await;
    issued_at(app, &id, at).await;
    id
}

async fn void(app: &TestApp, invoice_id: &str) {
    let staff = app.staff_token().await;
    let voided = app
        .data(
            Some(&staff),
            "mutation($i: AdminVoidInvoiceInput!) { adminVoidInvoice(input: $i) { invoice { status } userErrors { code } } }",
            json!({"i": {"invoiceId": invoice_id}}),
        )
        .await;
    assert_eq!(voided["adminVoidInvoice"]["invoice"]["status"], "VOID", "{voided}");
}

/// `account(id) { spend(...) }` as the holder of `token`: the response's body.
async fn spend_body(app: &TestApp, token: &str, id: &str, range: (&str, &str, &str)) -> Value {
    let (from, to, granularity) = range;
    app.gql(Some(token), SPEND, json!({"id": id, "from": from, "to": to, "g": granularity})).await
}

/// The buckets of `spend`, as `[periodStart, periodEnd, currency, amountCents, invoiceCount]`.
async fn spend(app: &TestApp, token: &str, id: &str, range: (&str, &str, &str)) -> Vec<Value> {
    let body = spend_body(app, token, id, range).await;
    assert!(body.get("errors").is_none(), "{body}");
    let buckets = body["data"]["account"]["spend"].as_array().unwrap_or_else(|| panic!("no spend: {body}"));
    buckets
        .iter()
        .map(|b| json!([b["periodStart"], b["periodEnd"], b["currency"], b["amountCents"], b["invoiceCount"]]))
        .collect()
}

/// `familySpend` as (customer number, its buckets as `[periodStart, currency, amountCents,
/// invoiceCount]`) rows; `None` when the account itself is not visible.
async fn family_spend(
    app: &TestApp,
    token: &str,
    id: &str,
    range: (&str, &str, &str),
) -> Option<Vec<(String, Vec<Value>)>> {
    let (from, to, granularity) = range;
    let data = app.data(Some(token), FAMILY_SPEND, json!({"id": id, "from": from, "to": to, "g": granularity})).await;
    let rows = data["account"]["familySpend"].as_array()?;
    Some(
        rows.iter()
            .map(|row| {
                let buckets = row["buckets"].as_array().unwrap();
                let buckets = buckets
                    .iter()
                    .map(|b| json!([b["periodStart"], b["currency"], b["amountCents"], b["invoiceCount"]]))
                    .collect();
                (row["account"]["customerNumber"].as_str().unwrap().to_owned(), buckets)
            })
            .collect(),
    )
}

#[tokio::test]
async fn spend_counts_issued_invoices_per_month_and_currency_and_leaves_out_void_ones() {
    let app = TestApp::spawn().await;
    let (account, owner) = app.enrolled_account("Spend Holder", "spend-owner").await;
    issue_at(&app, &account, "EUR", 7, "2024-12-31T23:59:59Z").await; // the day before the range
    issue_at(&app, &account, "EUR", 1000, "2025-01-01T00:00:00Z").await; // its first instant
    issue_at(&app, &account, "EUR", 2000, "2025-01-20T12:00:00Z").await;
    let void_eur = issue_at(&app, &account, "EUR", 5000, "2025-01-10T09:00:00Z").await;
    let void_usd = issue_at(&app, &account, "USD", 800, "2025-01-05T09:00:00Z").await;
    // The account is billed in dollars from February, and once more in euros.
    issue_at(&app, &account, "USD", 500, "2025-02-03T08:00:00Z").await;
    issue_at(&app, &account, "EUR", 300, "2025-02-28T23:59:59Z").await;
    let paid = issue_at(&app, &account, "EUR", 40, "2025-03-15T10:00:00Z").await;
    issue_at(&app, &account, "USD", 250, "2025-03-31T23:59:59Z").await; // its last instant
    issue_at(&app, &account, "USD", 9, "2025-04-01T00:00:00Z").await; // the day after
    void(&app, &void_eur).await;
    void(&app, &void_usd).await;
    let payment = pay(&app, &owner, &[&paid], "spend-pays-once").await;
    assert_eq!(payment["userErrors"], json!([]), "{payment}");

    let months = spend(&app, &owner, &account.id, ("2025-01-01", "2025-03-31", "MONTH")).await;
    assert_eq!(
        months,
        vec![
            // January: the two euro invoices; both void ones are left out, and no dollar bucket is shown.
            json!(["2025-01-01", "2025-01-31", "EUR", 3000, 2]),
            json!(["2025-02-01", "2025-02-28", "EUR", 300, 1]),
            json!(["2025-02-01", "2025-02-28", "USD", 500, 1]),
            // A paid invoice was issued as much as an open one.
            json!(["2025-03-01", "2025-03-31", "EUR", 40, 1]),
            json!(["2025-03-01", "2025-03-31", "USD", 250, 1]),
        ]
    );
    let quarters = spend(&app, &owner, &account.id, ("2025-01-01", "2025-03-31", "QUARTER")).await;
    assert_eq!(
        quarters,
        vec![json!(["2025-01-01", "2025-03-31", "EUR", 3340, 4]), json!(["2025-01-01", "2025-03-31", "USD", 750, 2])]
    );
    let years = spend(&app, &owner, &account.id, ("2024-06-01", "2025-12-31", "YEAR")).await;
    assert_eq!(
        years,
        vec![
            json!(["2024-01-01", "2024-12-31", "EUR", 7, 1]),
            json!(["2025-01-01", "2025-12-31", "EUR", 3340, 4]),
            json!(["2025-01-01", "2025-12-31", "USD", 759, 3]),
        ]
    );
    // A period is named whole, but only the days asked for are counted.
    let part = spend(&app, &owner, &account.id, ("2025-01-15", "2025-02-15", "QUARTER")).await;
    assert_eq!(
        part,
        vec![json!(["2025-01-01", "2025-03-31", "EUR", 2000, 1]), json!(["2025-01-01", "2025-03-31", "USD", 500, 1])]
    );
    // Without a granularity, months.
    let body = app
        .gql(
            Some(&owner),
            "query($id: ID!) { account(id: $id) { spend(from: \"2025-01-01\", to: \"2025-03-31\") { amountCents } } }",
            json!({"id": account.id}),
        )
        .await;
    assert_eq!(body["data"]["account"]["spend"].as_array().map(Vec::len), Some(5), "{body}");
    // A range with nothing billed is an empty list.
    assert!(spend(&app, &owner, &account.id, ("2023-01-01", "2023-12-31", "MONTH")).await.is_empty());
}

#[tokio::test]
async fn a_sum_beyond_64_bits_answers_an_internal_error_not_a_wrong_amount() {
    let app = TestApp::spawn().await;
    let (account, owner) = app.enrolled_account("Huge Holder", "huge-owner").await;
    let first = issue_at(&app, &account, "EUR", 1, "2025-05-01T00:00:00Z").await;
    issue_at(&app, &account, "EUR", 1, "2025-05-02T00:00:00Z").await;
    invoice::Entity::update_many()
        .col_expr(invoice::Column::TotalCents, Expr::value(i64::MAX))
        .filter(invoice::Column::Id.eq(decode_number(&first)))
        .exec(&app.db)
        .await
        .unwrap();
    let body = spend_body(&app, &owner, &account.id, ("2025-05-01", "2025-05-31", "MONTH")).await;
    assert_eq!(error_code(&body), Some("INTERNAL"), "{body}");
    // The first invoice's day alone sums to exactly i64::MAX.
    let alone = spend(&app, &owner, &account.id, ("2025-05-01", "2025-05-01", "MONTH")).await;
    assert_eq!(alone, vec![json!(["2025-05-01", "2025-05-31", "EUR", i64::MAX, 1])]);
}

#[tokio::test]
async fn a_viewer_without_view_invoices_sees_no_spend_and_another_family_not_even_the_account() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Blind Main", "blind-owner").await;
    let branch = app.create_account("Blind Branch").await;
    link(&app, &owner, &main, &branch).await;
    issue_at(&app, &main, "EUR", 100, "2025-06-01T12:00:00Z").await;
    issue_at(&app, &branch, "EUR", 200, "2025-06-02T12:00:00Z").await;
    let blind = create_group(&app, &owner, &main.id, "Settings only", json!(["MANAGE_SETTINGS"])).await;
    regroup(&app, &owner, &main.id, &blind).await;
    regroup(&app, &owner, &branch.id, &blind).await;
    let member = invite_and_accept(&app, &owner, &main.id, &blind, "blind-member").await;
    let (stranger_account, stranger) = app.enrolled_account("Stranger", "spend-stranger").await;
    issue_at(&app, &stranger_account, "EUR", 400, "2025-06-03T12:00:00Z").await;
    let june = ("2025-06-01", "2025-06-30", "MONTH");

    // The owner sees both accounts' spend: the rows the others miss are there.
    assert_eq!(spend(&app, &owner, &branch.id, june).await, vec![json!(["2025-06-01", "2025-06-30", "EUR", 200, 1])]);
    let family = family_spend(&app, &owner, &main.id, june).await.unwrap();
    assert_eq!(family.len(), 2);

    // The member sees both accounts, but no spend of either.
    let seen = app
        .data(
            Some(&member),
            "query($id: ID!, $from: Date!, $to: Date!) { account(id: $id) { customerNumber
                spend(from: $from, to: $to) { amountCents } } }",
            json!({"id": branch.id, "from": june.0, "to": june.1}),
        )
        .await;
    assert_eq!(seen["account"]["customerNumber"], json!(branch.customer_number));
    assert_eq!(seen["account"]["spend"], json!([]));
    assert_eq!(family_spend(&app, &member, &main.id, june).await, Some(vec![]));

    // Another family's customer gets "not found" for the accounts, and only their own
    // account in their own family.
    assert_eq!(family_spend(&app, &stranger, &main.id, june).await, None);
    let body = spend_body(&app, &stranger, &branch.id, june).await;
    assert_eq!(body["data"]["account"], Value::Null, "{body}");
    let node = app
        .data(
            Some(&stranger),
            "query($id: ID!) { node(id: $id) { ... on Account { spend(from: \"2025-06-01\", to: \"2025-06-30\") { amountCents } } } }",
            json!({"id": main.id}),
        )
        .await;
    assert_eq!(node["node"], Value::Null);
    let own = family_spend(&app, &stranger, &stranger_account.id, june).await.unwrap();
    assert_eq!(own, vec![(stranger_account.customer_number.clone(), vec![json!(["2025-06-01", "EUR", 400, 1])])]);
}

#[tokio::test]
async fn family_spend_of_a_group_member_lists_only_the_accounts_of_their_group_they_may_view_invoices_of() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Family Main", "family-owner").await;
    let viewed = app.create_account("Viewed Branch").await;
    let settings_only = app.create_account("Settings Branch").await;
    let default_grouped = app.create_account("Default Branch").await;
    for secondary in [&viewed, &settings_only, &default_grouped] {
        link(&app, &owner, &main, secondary).await;
    }
    for (account, cents) in [(&main, 100), (&viewed, 200), (&settings_only, 400), (&default_grouped, 800)] {
        issue_at(&app, account, "EUR", cents, "2025-08-08T08:00:00Z").await;
    }
    let viewers = create_group(&app, &owner, &main.id, "Viewers", json!(["VIEW_INVOICES"])).await;
    let settings = create_group(&app, &owner, &main.id, "Settings", json!(["MANAGE_SETTINGS"])).await;
    regroup(&app, &owner, &main.id, &viewers).await;
    regroup(&app, &owner, &viewed.id, &viewers).await;
    regroup(&app, &owner, &settings_only.id, &settings).await;
    let viewer = invite_and_accept(&app, &owner, &main.id, &viewers, "family-viewer").await;
    // A second member is in both groups: they see the settings branch too, without its invoices.
    let both = invite_to_groups(&app, &owner, &main.id, &[&viewers, &settings], "family-both").await;
    let year = ("2025-01-01", "2025-12-31", "YEAR");
    let row = |account: &CreatedAccount, cents: i64| {
        (account.customer_number.clone(), vec![json!(["2025-01-01", "EUR", cents, 1])])
    };

    let everything = family_spend(&app, &owner, &main.id, year).await.unwrap();
    assert_eq!(
        everything,
        vec![row(&main, 100), row(&viewed, 200), row(&settings_only, 400), row(&default_grouped, 800)],
        "the owner: the main first, then the secondaries oldest first"
    );
    let group_view = vec![row(&main, 100), row(&viewed, 200)];
    assert_eq!(family_spend(&app, &viewer, &main.id, year).await.unwrap(), group_view);
    assert_eq!(family_spend(&app, &both, &main.id, year).await.unwrap(), group_view);
    let seen = app
        .data(Some(&both), "query($id: ID!) { account(id: $id) { customerNumber } }", json!({"id": settings_only.id}))
        .await;
    assert_eq!(
        seen["account"]["customerNumber"],
        json!(settings_only.customer_number),
        "visible, yet not in familySpend"
    );

    // A secondary heads no family; a quarter without invoices leaves the rows with no buckets.
    assert_eq!(family_spend(&app, &owner, &viewed.id, year).await.unwrap(), vec![]);
    let empty = family_spend(&app, &viewer, &main.id, ("2025-01-01", "2025-03-31", "QUARTER")).await.unwrap();
    assert_eq!(empty, vec![(main.customer_number.clone(), vec![]), (viewed.customer_number.clone(), vec![])]);
    // Staff see the whole family, like its owner.
    let staff = app.staff_token().await;
    assert_eq!(family_spend(&app, &staff, &main.id, year).await.unwrap(), everything);
}

/// The owner invites a new user into several groups; the user accepts. Returns their token.
async fn invite_to_groups(app: &TestApp, owner: &str, main_id: &str, groups: &[&str], login_name: &str) -> String {
    let invited = app
        .data(
            Some(owner),
            "mutation($i: InviteUserInput!) { inviteUser(input: $i) { invitationToken userErrors { code } } }",
            json!({"i": {"mainAccountId": main_id, "email": format!("{login_name}@example.com"), "groupIds": groups}}),
        )
        .await;
    let invitation = invited["inviteUser"]["invitationToken"].as_str().unwrap_or_else(|| panic!("{invited}"));
    let accepted = app
        .data(
            None,
            "mutation($i: AcceptInvitationInput!) { acceptInvitation(input: $i) { token userErrors { code } } }",
            json!({"i": {"invitationToken": invitation, "loginName": login_name, "password": PASSWORD}}),
        )
        .await;
    accepted["acceptInvitation"]["token"].as_str().unwrap_or_else(|| panic!("{accepted}")).to_owned()
}

#[tokio::test]
async fn a_range_backwards_longer_than_ten_years_or_not_a_date_is_refused_with_a_stable_code() {
    let app = TestApp::spawn().await;
    let (account, owner) = app.enrolled_account("Range Holder", "range-owner").await;
    let (blind, blind_owner) = app.enrolled_account("Range Other", "range-other").await;
    let refused = [
        ("2025-03-01", "2025-02-28"),
        ("2015-01-01", "2025-01-01"),
        ("2015-06-15", "2026-01-01"),
        ("0000-12-31", "0001-01-01"),
        ("9999-12-31", "+10000-01-01"),
    ];
    for (from, to) in refused {
        for document in [SPEND, FAMILY_SPEND] {
            let body =
                app.gql(Some(&owner), document, json!({"id": account.id, "from": from, "to": to, "g": "MONTH"})).await;
            assert_eq!(error_code(&body), Some("GRAPHQL_VALIDATION_FAILED"), "{from}..{to}: {body}");
        }
    }
    for (from, to) in [("2025-13-01", "2025-12-31"), ("yesterday", "2025-12-31"), ("2025-02-30", "2025-03-01")] {
        let body = spend_body(&app, &owner, &account.id, (from, to, "MONTH")).await;
        assert_eq!(error_code(&body), Some("GRAPHQL_VALIDATION_FAILED"), "{from}..{to}: {body}");
    }
    // Exactly ten years, and a single day, are fine.
    assert!(spend(&app, &owner, &account.id, ("2015-01-01", "2024-12-31", "MONTH")).await.is_empty());
    assert!(spend(&app, &owner, &account.id, ("2025-02-28", "2025-02-28", "YEAR")).await.is_empty());
    // The range is checked before the rights, so it answers the same for someone else's own account.
    let body = spend_body(&app, &blind_owner, &blind.id, ("2025-03-01", "2025-02-28", "MONTH")).await;
    assert_eq!(error_code(&body), Some("GRAPHQL_VALIDATION_FAILED"), "{body}");
}

/// `spend` and `familySpend` are charged per period in the complexity count, and
/// `graphql::limits` counts them as async-graphql does: a document of exactly the limit
/// (60,000) runs, one of 60,003 is refused with QUERY_TOO_COMPLEX.
#[tokio::test]
async fn spend_over_many_periods_for_many_accounts_is_charged_as_the_engine_charges_it() {
    let app = TestApp::spawn().await;
    let staff = app.staff_token().await;
    // 120 months of 5 fields for 99 accounts: 2 + 99 * (3 + 120 * 5) = 59,699; with 50
    // and m accounts of `id`: + 152 + (2 + 3m).
    let spend = "query($m: Int, $from: Date!, $to: Date!) {
        a: viewer { accounts(first: 99) { edges { node { spend(from: $from, to: $to, granularity: MONTH) {
            periodStart periodEnd currency amountCents invoiceCount } } } } }
        b: viewer { accounts(first: 50) { edges { node { id } } } }
        c: viewer { accounts(first: $m) { edges { node { id } } } } }";
    let range = |m: u32| json!({"m": m, "from": "2016-01-01", "to": "2025-12-31"});
    let at_limit = app.gql(Some(&staff), spend, range(49)).await;
    assert!(at_limit.get("errors").is_none(), "60,000 runs: {at_limit}");
    let over = app.gql(Some(&staff), spend, range(50)).await;
    assert_eq!(error_code(&over), Some("QUERY_TOO_COMPLEX"), "60,003 is refused with its code: {over}");
    // A family is charged as 100 accounts: 2 + 100 * (3 + 100 * 2 * 2) = 40,302 for two
    // years of one field, 2 + 97 * (3 + 100 * 1 * 2) = 19,693 for one, and 2 + 3m.
    let family = "query($m: Int) {
        a: viewer { accounts(first: 100) { edges { node {
            familySpend(from: \"2024-01-01\", to: \"2025-12-31\", granularity: YEAR) { buckets { amountCents } } } } } }
        b: viewer { accounts(first: 97) { edges { node {
            familySpend(from: \"2025-01-01\", to: \"2025-12-31\", granularity: YEAR) { buckets { amountCents } } } } } }
        c: viewer { accounts(first: $m) { edges { node { id } } } } }";
    let at_limit = app.gql(Some(&staff), family, json!({"m": 1})).await;
    assert!(at_limit.get("errors").is_none(), "60,000 runs: {at_limit}");
    let over = app.gql(Some(&staff), family, json!({"m": 2})).await;
    assert_eq!(error_code(&over), Some("QUERY_TOO_COMPLEX"), "60,003 is refused with its code: {over}");
}

/// A fresh app with `mains` families of `secondaries` each and `invoices` per account,
/// all issued on 2025-06-15; its DataLoaders wait 300 ms for keys (see
/// `TestApp::with_loader_delay`).
async fn app_with_families(mains: u32, secondaries: u32, invoices: u32) -> TestApp {
    let app = TestApp::with_loader_delay(std::time::Duration::from_millis(300)).await;
    canopy::seed::seed_bulk(&app.db, mains, secondaries, invoices).await.unwrap();
    let at: chrono::DateTime<chrono::Utc> = "2025-06-15T12:00:00Z".parse().unwrap();
    invoice::Entity::update_many().col_expr(invoice::Column::IssuedAt, Expr::value(at)).exec(&app.db).await.unwrap();
    app
}

/// Runs one document and returns its data and the SQL statements it issued.
async fn counted(app: &TestApp, token: &str, query: &str) -> (Value, u64) {
    let before = app.statements();
    let data = app.data(Some(token), query, json!({})).await;
    (data, app.statements() - before)
}

/// The session with the viewer's grants, the page of accounts, the spend of all of them.
const SPEND_PAGE_STATEMENTS: u64 = 3;

#[tokio::test]
async fn a_page_of_2_20_or_100_accounts_with_their_spend_costs_the_same_three_statements() {
    // seed_bulk's invoices n = 1, 2, 3 of an account total 1000 + 100n; none is void.
    let query = "{ viewer { accounts(first: 100) { edges { node { customerNumber
        spend(from: \"2025-05-01\", to: \"2025-07-31\", granularity: MONTH) {
            periodStart periodEnd currency amountCents invoiceCount } } } } } }";
    let mut counts = Vec::new();
    for accounts in [2u32, 20, 100] {
        let app = app_with_families(accounts, 0, 3).await;
        let staff = app.staff_token().await;
        let (data, count) = counted(&app, &staff, query).await;
        counts.push(count);
        let edges = data["viewer"]["accounts"]["edges"].as_array().unwrap();
        assert_eq!(edges.len() as u32, accounts);
        for edge in edges {
            let june = json!([{"periodStart": "2025-06-01", "periodEnd": "2025-06-30", "currency": "EUR",
                "amountCents": 3600, "invoiceCount": 3}]);
            assert_eq!(edge["node"]["spend"], june, "{edge}");
        }
    }
    assert!(counts.iter().all(|c| *c == SPEND_PAGE_STATEMENTS), "statements for 2, 20, 100 accounts: {counts:?}");
}

#[tokio::test]
async fn a_page_of_2_20_or_100_mains_with_their_family_spend_costs_two_statements_more_than_the_page() {
    let query = "{ viewer { accounts(first: 100, topLevel: true) { edges { node { customerNumber
        familySpend(from: \"2025-01-01\", to: \"2025-12-31\", granularity: YEAR) {
            account { customerNumber } buckets { amountCents invoiceCount } } } } } } }";
    let mut counts = Vec::new();
    for mains in [2u32, 20, 100] {
        let app = app_with_families(mains, 3, 2).await;
        let staff = app.staff_token().await;
        let (data, count) = counted(&app, &staff, query).await;
        counts.push(count);
        let edges = data["viewer"]["accounts"]["edges"].as_array().unwrap();
        assert_eq!(edges.len() as u32, mains);
        for edge in edges {
            let rows = edge["node"]["familySpend"].as_array().unwrap();
            assert_eq!(rows.len(), 4, "the main and its three secondaries: {edge}");
            assert_eq!(rows[0]["account"]["customerNumber"], edge["node"]["customerNumber"], "the main first");
            for row in rows {
                assert_eq!(row["buckets"], json!([{"amountCents": 2300, "invoiceCount": 2}]), "{row}");
            }
        }
    }
    let expected = SPEND_PAGE_STATEMENTS + 1;
    assert!(counts.iter().all(|c| *c == expected), "statements for 2, 20, 100 mains: {counts:?}");
}

/// The SPA's tree query with `spend` at both levels: the fast JSON walk does not know the
/// field, so the general resolvers answer, from the prefetched rows and the spend loader.
#[tokio::test]
async fn the_account_tree_with_spend_answers_from_the_general_resolvers_with_the_right_amounts() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Tree Spend Main", "tree-spend-owner").await;
    let first = app.create_account("Tree Spend One").await;
    let second = app.create_account("Tree Spend Two").await;
    link(&app, &owner, &main, &first).await;
    link(&app, &owner, &main, &second).await;
    issue_at(&app, &main, "EUR", 100, "2025-09-01T00:00:00Z").await;
    issue_at(&app, &first, "EUR", 200, "2025-09-30T23:59:59Z").await;
    issue_at(&app, &first, "USD", 300, "2025-10-01T00:00:00Z").await;
    let tree = "{ viewer { accounts(first: 20, topLevel: true) { edges { node { customerNumber role
        openBalance { amountCents currency }
        invoices(first: 5) { edges { node { totalCents } } }
        spend(from: \"2025-09-01\", to: \"2025-10-31\", granularity: QUARTER) { periodStart currency amountCents }
        secondaries(first: 10) { edges { node { customerNumber
            spend(from: \"2025-09-01\", to: \"2025-10-31\") { periodStart currency amountCents } } } } } } } } }";
    let data = app.data(Some(&owner), tree, json!({})).await;
    let node = &data["viewer"]["accounts"]["edges"][0]["node"];
    assert_eq!(node["customerNumber"], json!(main.customer_number));
    assert_eq!(node["role"], "MAIN");
    assert_eq!(node["openBalance"], json!([{"amountCents": 100, "currency": "EUR"}]));
    assert_eq!(node["spend"], json!([{"periodStart": "2025-07-01", "currency": "EUR", "amountCents": 100}]));
    let secondaries = node["secondaries"]["edges"].as_array().unwrap();
    assert_eq!(secondaries.len(), 2);
    assert_eq!(secondaries[0]["node"]["customerNumber"], json!(first.customer_number));
    assert_eq!(
        secondaries[0]["node"]["spend"],
        json!([
            {"periodStart": "2025-09-01", "currency": "EUR", "amountCents": 200},
            {"periodStart": "2025-10-01", "currency": "USD", "amountCents": 300},
        ])
    );
    assert_eq!(secondaries[1]["node"]["spend"], json!([]));
    // Without `spend` the same tree (now on the fast walk) answers the same for the rest.
    let plain = tree
        .replace("spend(from: \"2025-09-01\", to: \"2025-10-31\", granularity: QUARTER) { periodStart currency amountCents }", "")
        .replace("spend(from: \"2025-09-01\", to: \"2025-10-31\") { periodStart currency amountCents }", "");
    let walked = app.data(Some(&owner), &plain, json!({})).await;
    let walked = &walked["viewer"]["accounts"]["edges"][0]["node"];
    for field in ["customerNumber", "role", "openBalance", "invoices"] {
        assert_eq!(walked[field], node[field], "{field}");
    }
    assert_eq!(walked["secondaries"]["edges"][1]["node"]["customerNumber"], json!(second.customer_number));
}
