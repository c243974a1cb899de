//! Data that is not schema: the default product catalogue, demo families, bulk data.

use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, PaginatorTrait, Set, TransactionTrait};
use serde_json::json;

use crate::config::Settings;
use crate::crypto;
use crate::domain::accounts::{NewAccount, default_group_of, insert_account, product_by_code};
use crate::domain::billing::{NewLine, insert_invoice};
use crate::domain::identity::{create_staff, insert_user};
use crate::entity::{account, group_member, product};
use crate::error::{AppError, AppResult};

/// Inserts the default catalogue into an empty products table.
pub async fn ensure_default_products(db: &DatabaseConnection) -> AppResult<()> {
    if product::Entity::find().count(db).await? > 0 {
        return Ok(());
    }
    let catalogue = [
        (
            "MOBILE",
            "Mobile",
            "A mobile phone line",
            json!([
                {"code": "plan", "name": "Plan", "choices": ["S", "M", "L"], "required": true},
                {"code": "esim", "name": "eSIM", "choices": ["yes", "no"], "required": false}
            ]),
        ),
        (
            "FIXED_LINE",
            "Fixed line",
            "A landline telephone",
            json!([
                {"code": "number_porting", "name": "Keep an existing number", "choices": [], "required": false}
            ]),
        ),
        (
            "BROADBAND",
            "Broadband",
            "Home or office internet",
            json!([
                {"code": "speed", "name": "Speed", "choices": ["100", "500", "1000"], "required": true}
            ]),
        ),
        (
            "DIGITAL",
            "Digital services",
            "Cloud mailbox and storage",
            json!([
                {"code": "mailboxes", "name": "Mailboxes", "choices": ["1", "5", "25"], "required": true}
            ]),
        ),
        ("SHARED_MAIL", "Shared mail", "A shared mailbox for a team", json!([])),
    ];
    for (code, name, description, options) in catalogue {
        product::ActiveModel {
            code: Set(code.to_owned()),
            name: Set(name.to_owned()),
            description: Set(description.to_owned()),
            options: Set(options.to_string()),
            orderable: Set(true),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// A demo login printed at start.
pub struct DemoLogin {
    pub login_name: String,
    pub password: &'static str,
    pub what: String,
}

pub const DEMO_PASSWORD: &str = "canopy-demo-2026";

/// True when the database has no accounts yet (first start).
pub async fn is_empty(db: &DatabaseConnection) -> AppResult<bool> {
    Ok(account::Entity::find().count(db).await? == 0)
}

/// A few families with invoices: an owner with secondaries, a group member, a local team,
/// a standalone account, and staff.
pub async fn seed_demo(db: &DatabaseConnection, settings: &Settings) -> AppResult<Vec<DemoLogin>> {
    ensure_default_products(db).await?;
    let mobile = product_by_code(db, "MOBILE").await?.ok_or_else(|| AppError::internal("no MOBILE product"))?;
    let digital = product_by_code(db, "DIGITAL").await?.ok_or_else(|| AppError::internal("no DIGITAL product"))?;
    let hash = crypto::hash_password(DEMO_PASSWORD.to_owned(), settings.password_params).await?;
    let mut logins = Vec::new();

    if crate::domain::identity::find_by_login(db, "staff").await?.is_none() {
        create_staff(db, settings, "staff", DEMO_PASSWORD.to_owned(), "staff@canopy.invalid").await?;
    }
    logins.push(DemoLogin {
        login_name: "staff".into(),
        password: DEMO_PASSWORD,
        what: "staff (admin mutations)".into(),
    });

    let txn = db.begin().await?;
    let due = chrono::Utc::now().date_naive() + chrono::Duration::days(14);
    let new = |holder: &str, product_id: i64, parent_id: Option<i64>, friendly: Option<&str>| NewAccount {
        holder_name: holder.to_owned(),
        contact_email: "billing@example.com".to_owned(),
        product_id,
        parent_id,
        friendly_name: friendly.map(str::to_owned),
        group_id: None,
    };
    let main = insert_account(&txn, new("Acme Ltd", mobile.id, None, Some("Head office"))).await?;
    let default_group = default_group_of(&txn, main.id).await?;
    let mut secondaries = Vec::new();
    for (name, product_id) in [("Shared Mail", digital.id), ("Digital", digital.id), ("Field team phones", mobile.id)] {
        let mut acc = insert_account(&txn, new("Acme Ltd", product_id, Some(main.id), Some(name))).await?;
        let mut active: account::ActiveModel = acc.clone().into();
        active.group_id = Set(Some(default_group.id));
        acc = active.update(&txn).await?;
        secondaries.push(acc);
    }
    for (i, acc) in std::iter::once(&main).chain(secondaries.iter()).enumerate() {
        let lines = [
            NewLine { description: "Monthly fee".into(), quantity: 1, unit_cents: 2_990 + i as i64 * 500 },
            NewLine { description: "Extra usage".into(), quantity: 3, unit_cents: 199 },
        ];
        insert_invoice(&txn, acc, "EUR", due, &lines).await?;
    }
    insert_user(&txn, "alice", "alice@example.com", hash.clone(), false, Some(main.id)).await?;
    logins.push(DemoLogin {
        login_name: "alice".into(),
        password: DEMO_PASSWORD,
        what: format!("owner of main account {} (Acme Ltd) and its 3 secondaries", main.customer_number),
    });

    let carol = insert_user(&txn, "carol", "carol@example.com", hash.clone(), false, None).await?;
    group_member::ActiveModel {
        group_id: Set(default_group.id),
        user_id: Set(carol.id),
        created_at: Set(chrono::Utc::now()),
    }
    .insert(&txn)
    .await?;
    logins.push(DemoLogin {
        login_name: "carol".into(),
        password: DEMO_PASSWORD,
        what: "member of Acme's Default Group (VIEW_INVOICES)".into(),
    });

    if let Some(team) = secondaries.first() {
        insert_user(&txn, "dave", "dave@example.com", hash.clone(), false, Some(team.id)).await?;
        logins.push(DemoLogin {
            login_name: "dave".into(),
            password: DEMO_PASSWORD,
            what: format!("local team of secondary {} (Shared Mail)", team.customer_number),
        });
    }

    let solo = insert_account(&txn, new("Bob Jones", mobile.id, None, None)).await?;
    insert_invoice(
        &txn,
        &solo,
        "EUR",
        due,
        &[NewLine { description: "Monthly fee".into(), quantity: 1, unit_cents: 1_500 }],
    )
    .await?;
    insert_user(&txn, "bob", "bob@example.com", hash, false, Some(solo.id)).await?;
    logins.push(DemoLogin {
        login_name: "bob".into(),
        password: DEMO_PASSWORD,
        what: format!("owner of standalone account {}", solo.customer_number),
    });

    let unenrolled = insert_account(&txn, new("Erin Unenrolled", mobile.id, None, None)).await?;
    txn.commit().await?;
    logins.push(DemoLogin {
        login_name: format!("(enroll) {}", unenrolled.customer_number),
        password: "",
        what: "not enrolled yet; staff can read its enrollmentToken in GraphiQL".to_owned(),
    });
    Ok(logins)
}

/// Bulk data for benchmarks: `mains` families of `secondaries` each, `invoices` per
/// account, each family with its Default Group. The rows are generated inside the
/// database (recursive CTEs, one statement per table), so 50,000 accounts and 600,000
/// invoices take seconds, not minutes.
pub async fn seed_bulk(db: &DatabaseConnection, mains: u32, secondaries: u32, invoices: u32) -> AppResult<String> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    ensure_default_products(db).await?;
    let product = product_by_code(db, "MOBILE").await?.ok_or_else(|| AppError::internal("no MOBILE product"))?;
    let backend = db.get_database_backend();
    let postgres = backend == DbBackend::Postgres;
    // Written with PostgreSQL's $n placeholders; SQLite takes ?n.
    let statement = |sql: &str, values: Vec<sea_orm::Value>| {
        let sql = if postgres { sql.to_owned() } else { sql.replace('$', "?") };
        Statement::from_sql_and_values(backend, sql, values)
    };
    let txn = db.begin().await?;
    if postgres {
        // Bulk seeding is an operator's command, not a request: a million accounts take
        // longer than the per-statement limit that guards the server.
        txn.execute_unprepared("SET LOCAL statement_timeout = 0").await?;
    }
    let start: i64 = txn
        .query_one_raw(Statement::from_string(backend, "SELECT COALESCE(MAX(id), 0) AS m FROM accounts"))
        .await?
        .ok_or_else(|| AppError::internal("no max id"))?
        .try_get::<i64>("", "m")?;
    let family = i64::from(secondaries) + 1;
    let total = i64::from(mains) * family;
    let now = chrono::Utc::now();
    let today = now.date_naive();
    // Account x is the main of its family when (x - start - 1) is a multiple of the family size.
    txn.execute_raw(statement(
        "INSERT INTO accounts (id, customer_number, holder_name, contact_email, friendly_name, parent_id, group_id, status, \
         billing_mode, product_id, token_version, call_forwarding_to, paperless_billing, ebill_notifications, created_at, updated_at) \
         WITH RECURSIVE g(x) AS (SELECT $1 + 1 UNION ALL SELECT x + 1 FROM g WHERE x < $1 + $2) \
         SELECT x, CAST(9000000000 + x AS TEXT), 'Bulk holder ' || CAST(x AS TEXT), 'bulk@example.com', \
                CASE WHEN (x - $1 - 1) % $3 = 0 THEN NULL ELSE 'Line ' || CAST(x AS TEXT) END, \
                CASE WHEN (x - $1 - 1) % $3 = 0 THEN NULL ELSE x - ((x - $1 - 1) % $3) END, \
                NULL, 'ACTIVE', 'INDIVIDUAL', $4, 1, NULL, false, true, $5, $5 FROM g",
        vec![start.into(), total.into(), family.into(), product.id.into(), now.into()],
    ))
    .await?;
    txn.execute_raw(statement(
        "INSERT INTO groups (main_account_id, name, is_default, permissions, created_at) \
         SELECT id, 'Default Group', true, 'VIEW_INVOICES', $2 FROM accounts WHERE id > $1 AND parent_id IS NULL",
        vec![start.into(), now.into()],
    ))
    .await?;
    txn.execute_raw(statement(
        "UPDATE accounts SET group_id = (SELECT g.id FROM groups g WHERE g.main_account_id = accounts.parent_id AND g.is_default) \
         WHERE id > $1 AND parent_id IS NOT NULL",
        vec![start.into()],
    ))
    .await?;
    // Invoice n of an account is due n weeks from today; every third one is paid.
    let due = if postgres { "$3 + CAST(n * 7 AS INTEGER)" } else { "date($3, '+' || (n * 7) || ' days')" };
    txn.execute_raw(statement(
        &format!(
            "INSERT INTO invoices (number, account_id, status, currency, total_cents, issued_at, due_at) \
             WITH RECURSIVE a(x) AS (SELECT $1 + 1 UNION ALL SELECT x + 1 FROM a WHERE x < $1 + $2), \
                            m(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM m WHERE n < $4) \
             SELECT CAST(9000000000 + x AS TEXT) || '-' || CAST(n AS TEXT), x, \
                    CASE WHEN n % 3 = 0 THEN 'PAID' ELSE 'OPEN' END, 'EUR', 1000 + n * 100, $5, {due} \
             FROM a, m"
        ),
        vec![start.into(), total.into(), today.into(), i64::from(invoices).into(), now.into()],
    ))
    .await?;
    if postgres {
        txn.execute_unprepared(
            "SELECT setval(pg_get_serial_sequence('accounts', 'id'), (SELECT MAX(id) FROM accounts))",
        )
        .await?;
    }
    txn.commit().await?;
    if postgres {
        db.execute_unprepared("ANALYZE accounts, invoices, groups").await?;
    }
    Ok(format!("seeded {total} accounts and {} invoices", total * i64::from(invoices)))
}
