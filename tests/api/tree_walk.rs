//! The account tree's JSON walk (`graphql::tree`) only serialises what the read layer
//! returned: over generated selections of the tree query, for an owner, a member with
//! partial rights and staff, it answers exactly what the general resolvers answer.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;

use crate::access::{issue_invoices, tree_pages};
use crate::family::link;
use crate::helpers::{TestApp, invite_and_accept};
use crate::trust::{create_group, regroup};

/// A random, valid selection of the tree query.
#[derive(Debug, Clone)]
struct Selection {
    viewer: usize,
    accounts_first: u8,
    page_info: Vec<&'static str>,
    level_one: Level,
    secondaries: Option<(u8, Vec<&'static str>, Level)>,
}

#[derive(Debug, Clone)]
struct Level {
    scalars: Vec<&'static str>,
    group: Option<Vec<&'static str>>,
    open_balance: Option<Vec<&'static str>>,
    invoices: Option<Invoices>,
}

/// first, pageInfo fields, edge node fields, with `cursor`, with `nodes { ... }`.
type Invoices = (u8, Vec<&'static str>, Vec<&'static str>, bool, bool);

const ACCOUNT: [&str; 8] =
    ["id", "customerNumber", "holderName", "friendlyName", "role", "status", "billingMode", "createdAt"];
const GROUP: [&str; 4] = ["id", "name", "isDefault", "permissions"];
const MONEY: [&str; 2] = ["amountCents", "currency"];
const INVOICE: [&str; 7] = ["id", "number", "status", "currency", "totalCents", "issuedAt", "dueAt"];
const PAGE_INFO: [&str; 4] = ["hasNextPage", "hasPreviousPage", "startCursor", "endCursor"];

fn some_of(names: &'static [&'static str]) -> impl Strategy<Value = Vec<&'static str>> {
    prop::sample::subsequence(names, 1..=names.len())
}

fn level() -> impl Strategy<Value = Level> {
    (
        prop::sample::subsequence(&ACCOUNT[..], 0..=ACCOUNT.len()),
        prop::option::of(some_of(&GROUP)),
        prop::option::of(some_of(&MONEY)),
        prop::option::of((
            0u8..4,
            prop::sample::subsequence(&PAGE_INFO[..], 0..=4),
            some_of(&INVOICE),
            any::<bool>(),
            any::<bool>(),
        )),
    )
        .prop_map(|(scalars, group, open_balance, invoices)| Level { scalars, group, open_balance, invoices })
}

fn selection() -> impl Strategy<Value = Selection> {
    (
        0usize..3,
        1u8..6,
        prop::sample::subsequence(&PAGE_INFO[..], 0..=4),
        level(),
        prop::option::of((0u8..3, prop::sample::subsequence(&PAGE_INFO[..], 0..=4), level())),
    )
        .prop_map(|(viewer, accounts_first, page_info, level_one, secondaries)| Selection {
            viewer,
            accounts_first,
            page_info,
            level_one,
            secondaries,
        })
}

fn page_info(fields: &[&str]) -> String {
    if fields.is_empty() { String::new() } else { format!("pageInfo {{ {} }}", fields.join(" ")) }
}

/// An account object's selection; `d` is added to it (a directive sends the whole tree
/// down the general path).
fn account(level: &Level, inner: &str, d: &str) -> String {
    let mut out = format!("__typename {d} {}", level.scalars.join(" "));
    if let Some(group) = &level.group {
        out += &format!(" group {{ {} }}", group.join(" "));
    }
    if let Some(money) = &level.open_balance {
        out += &format!(" openBalance {{ {} }}", money.join(" "));
    }
    if let Some((first, info, node, cursor, nodes)) = &level.invoices {
        let cursor = if *cursor { "cursor" } else { "" };
        let nodes = if *nodes { format!("nodes {{ {} }}", node.join(" ")) } else { String::new() };
        out += &format!(
            " invoices(first: {first}) {{ {} edges {{ {cursor} node {{ {} }} }} {nodes} }}",
            page_info(info),
            node.join(" ")
        );
    }
    out + " " + inner
}

fn document(s: &Selection, d: &str) -> String {
    let inner = match &s.secondaries {
        Some((first, info, level)) => format!(
            "secondaries(first: {first}) {{ {} edges {{ cursor node {{ {} }} }} }}",
            page_info(info),
            account(level, "", d)
        ),
        None => String::new(),
    };
    format!(
        "{{ viewer {{ accounts(first: {}) {{ {} edges {{ cursor node {{ {} }} }} }} }} }}",
        s.accounts_first,
        page_info(&s.page_info),
        account(&s.level_one, &inner, d)
    )
}

#[test]
fn the_tree_walk_answers_like_the_general_resolvers_over_generated_selections() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (app, tokens) = runtime.block_on(async {
        let app = TestApp::spawn().await;
        let (main, owner) = app.enrolled_account("Walk Main", "walk-owner").await;
        let mut secondaries = Vec::new();
        for n in 0..3 {
            let account = app.create_account(&format!("TreeWriter Branch {n}")).await;
            let id = link(&app, &owner, &main, &account).await["account"]["id"].as_str().unwrap().to_owned();
            issue_invoices(&app, &account.customer_number, n + 1).await;
            secondaries.push(id);
        }
        issue_invoices(&app, &main.customer_number, 4).await;
        let (other, other_owner) = app.enrolled_account("Walk Other", "walk-other").await;
        issue_invoices(&app, &other.customer_number, 2).await;
        let viewers = create_group(&app, &owner, &main.id, "Viewers", json!(["VIEW_INVOICES"])).await;
        let hidden = create_group(&app, &owner, &main.id, "Hidden", json!(["MANAGE_SETTINGS"])).await;
        regroup(&app, &owner, &secondaries[0], &viewers).await;
        regroup(&app, &owner, &secondaries[1], &hidden).await;
        invite_and_accept(&app, &owner, &main.id, &viewers, "walk-member").await;
        let member = invite_and_accept(&app, &owner, &main.id, &hidden, "walk-member").await;
        let _ = other_owner;
        let staff = app.staff_token().await;
        (app, [owner, member, staff])
    });

    let walked_before = runtime.block_on(tree_pages(&app, "prefetched"));
    let mut runner = TestRunner::new(Config { cases: 48, failure_persistence: None, ..Config::default() });
    let outcome = runner.run(&selection(), |s| {
        runtime.block_on(async {
            let token = Some(tokens[s.viewer].as_str());
            let fast = app.gql(token, &document(&s, ""), json!({})).await;
            let general = app.gql(token, &document(&s, "__typename @include(if: true)"), json!({})).await;
            prop_assert!(fast.get("errors").is_none(), "{}", fast);
            prop_assert_eq!(&fast, &general, "{}", document(&s, ""));
            Ok(())
        })
    });
    if let Err(failure) = outcome {
        panic!("the walk and the general resolvers disagree: {failure}");
    }
    let walked = runtime.block_on(tree_pages(&app, "prefetched")) - walked_before;
    assert!(walked >= 24, "most generated selections took the walk ({walked} of 48)");
}
