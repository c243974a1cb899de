//! The access policy's two forms agree: for random families, groups, grants, detached and
//! moved accounts (whose group may still name another family's group) and staff, every
//! viewer's SQL selection of the accounts with a permission equals the row-by-row
//! decision, on the suite's database; and so does every viewer's SQL selection of link
//! requests (each direction) with the row-by-row sides of each request.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sea_orm::{ActiveModelTrait, EntityTrait, QueryFilter, Set, TransactionTrait};

use canopy::domain::access::{LinkRequestDirection, Permission, Viewer};
use canopy::domain::accounts::{NewAccount, insert_account};
use canopy::entity::enums::{AccountStatus, LinkRequestStatus};
use canopy::entity::{account, group, group_member, link_request, product, user};

use crate::helpers::TestApp;

/// One random world: accounts with their family, groups with rights, users with grants.
#[derive(Debug, Clone)]
struct World {
    /// Per account: is it a main (others may hang under a main), its parent choice, its
    /// group choice (an index into every group of the world, any family), deactivated.
    accounts: Vec<(bool, Option<usize>, Option<usize>, bool)>,
    /// Per group: the account whose family it belongs to, and its permission bits.
    groups: Vec<(usize, u8)>,
    /// Per user: staff, home account choice, groups joined.
    users: Vec<(bool, Option<usize>, Vec<usize>)>,
}

fn world() -> impl Strategy<Value = World> {
    (2usize..9, 0usize..6, 1usize..6).prop_flat_map(|(n_accounts, n_groups, n_users)| {
        let accounts = prop::collection::vec(
            (
                any::<bool>(),
                prop::option::of(0..n_accounts),
                prop::option::of(0..n_groups.max(1)),
                prop::bool::weighted(0.1),
            ),
            n_accounts,
        );
        let groups = prop::collection::vec((0..n_accounts, 0u8..32), n_groups);
        let users = prop::collection::vec(
            (
                prop::bool::weighted(0.1),
                prop::option::of(0..n_accounts),
                prop::collection::vec(0..n_groups.max(1), 0..3),
            ),
            n_users,
        );
        (accounts, groups, users).prop_map(|(accounts, groups, users)| World { accounts, groups, users })
    })
}

fn permission_text(bits: u8) -> String {
    Permission::ALL
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, p)| p.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

static NEXT_LOGIN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Writes the world; returns its users.
async fn insert(app: &TestApp, world: &World) -> Vec<user::Model> {
    let txn = app.db.begin().await.unwrap();
    let product = product::Entity::find().one(&txn).await.unwrap().expect("a product");
    let mut accounts = Vec::new();
    for _ in &world.accounts {
        let new = NewAccount {
            holder_name: "Holder".into(),
            contact_email: "holder@example.com".into(),
            product_id: product.id,
            parent_id: None,
            friendly_name: None,
            group_id: None,
        };
        accounts.push(insert_account(&txn, new).await.unwrap());
    }
    let now = chrono::Utc::now();
    let mut groups = Vec::new();
    for (n, (family, bits)) in world.groups.iter().enumerate() {
        let row = group::ActiveModel {
            main_account_id: Set(accounts[*family].id),
            name: Set(format!("Group {n}")),
            is_default: Set(false),
            permissions: Set(permission_text(*bits)),
            created_at: Set(now),
            ..Default::default()
        };
        groups.push(row.insert(&txn).await.unwrap());
    }
    // Depth one: a secondary's parent is a main; a main has no parent.
    for (n, (is_main, parent, group_choice, deactivated)) in world.accounts.iter().enumerate() {
        let parent = parent.filter(|p| *p != n && world.accounts[*p].0 && !is_main).map(|p| accounts[p].id);
        let group_id = group_choice.and_then(|g| groups.get(g)).map(|g| g.id);
        let mut active: account::ActiveModel = accounts[n].clone().into();
        active.parent_id = Set(parent);
        active.group_id = Set(group_id);
        if *deactivated {
            active.status = Set(AccountStatus::Deactivated);
        }
        active.update(&txn).await.unwrap();
    }
    // A link request from every account's family for the next account, and one for a
    // customer number that names no account.
    for (n, from) in accounts.iter().enumerate() {
        let target = &accounts[(n + 1) % accounts.len()];
        for (number, target_id) in [(target.customer_number.clone(), Some(target.id)), ("1000000000".into(), None)] {
            link_request::ActiveModel {
                main_account_id: Set(from.id),
                customer_number: Set(number),
                target_account_id: Set(target_id),
                status: Set(LinkRequestStatus::Pending),
                created_at: Set(now),
                expires_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await
            .unwrap();
        }
    }
    let mut users = Vec::new();
    for (staff, home, joined) in &world.users {
        let login = format!("policy-{}", NEXT_LOGIN.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let row = user::ActiveModel {
            login_name: Set(login.clone()),
            login_key: Set(login),
            email: Set("user@example.com".into()),
            password_hash: Set("not-a-hash".into()),
            is_staff: Set(*staff),
            home_account_id: Set(home.map(|h| accounts[h].id)),
            notifications_enabled: Set(false),
            created_at: Set(now),
            password_changed_at: Set(now),
            ..Default::default()
        };
        let user = row.insert(&txn).await.unwrap();
        let joined: BTreeSet<usize> = joined.iter().copied().filter(|g| *g < groups.len()).collect();
        for g in joined {
            let member =
                group_member::ActiveModel { group_id: Set(groups[g].id), user_id: Set(user.id), created_at: Set(now) };
            member.insert(&txn).await.unwrap();
        }
        users.push(user);
    }
    txn.commit().await.unwrap();
    users
}

/// The row-by-row decision of one question.
type RowCheck = Box<dyn Fn(&account::Model) -> bool>;

/// For every user and every permission (and plain visibility), the SQL selection over all
/// accounts stored so far equals the row-by-row decision.
async fn check(app: &TestApp, users: Vec<user::Model>) -> Result<(), TestCaseError> {
    let all = account::Entity::find().all(&app.db).await.unwrap();
    for user in users {
        let viewer = Viewer::load(&app.db, user).await.unwrap();
        let mut conditions: Vec<(String, sea_orm::Condition, RowCheck)> = Vec::new();
        let v = viewer.clone();
        conditions.push(("visible".into(), viewer.visible_accounts(), Box::new(move |a| v.can_see(a))));
        for permission in Permission::ALL {
            let v = viewer.clone();
            conditions.push((
                permission.as_str().into(),
                viewer.accounts_with(permission),
                Box::new(move |a| v.rights_on(a).has(permission)),
            ));
        }
        for (name, condition, decide) in conditions {
            let selected: BTreeSet<i64> =
                account::Entity::find().filter(condition).all(&app.db).await.unwrap().iter().map(|a| a.id).collect();
            let decided: BTreeSet<i64> = all.iter().filter(|a| decide(a)).map(|a| a.id).collect();
            prop_assert_eq!(selected, decided, "{} of {:?}", name, viewer.grants());
        }
        let requests = link_request::Entity::find().all(&app.db).await.unwrap();
        for direction in [None, Some(LinkRequestDirection::Incoming), Some(LinkRequestDirection::Outgoing)] {
            let selected: BTreeSet<i64> = link_request::Entity::find()
                .filter(viewer.link_requests_visible(direction))
                .all(&app.db)
                .await
                .unwrap()
                .iter()
                .map(|r| r.id)
                .collect();
            let decided: BTreeSet<i64> = requests
                .iter()
                .filter(|r| {
                    let target = r.target_account_id.and_then(|t| all.iter().find(|a| a.id == t));
                    let sides = viewer.link_request_sides(r.main_account_id, target);
                    match direction {
                        None => sides.any(),
                        Some(LinkRequestDirection::Incoming) => sides.deciding,
                        Some(LinkRequestDirection::Outgoing) => sides.requesting,
                    }
                })
                .map(|r| r.id)
                .collect();
            prop_assert_eq!(selected, decided, "link requests {:?} of {:?}", direction, viewer.grants());
        }
    }
    Ok(())
}

#[test]
fn the_sql_selection_equals_the_row_by_row_decision_for_every_viewer_and_permission() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let app = runtime.block_on(TestApp::spawn());
    let mut runner = TestRunner::new(Config { cases: 40, failure_persistence: None, ..Config::default() });
    let outcome = runner.run(&world(), |world| {
        runtime.block_on(async {
            let users = insert(&app, &world).await;
            check(&app, users).await
        })
    });
    if let Err(failure) = outcome {
        panic!("the policy's SQL and row check disagree: {failure}");
    }
}
