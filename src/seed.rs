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
/// account. Multi-row inserts in large batches.
pub async fn seed_bulk(db: &DatabaseConnection, mains: u32, secondaries: u32, invoices: u32) -> AppResult<String> {
    use sea_orm::{ConnectionTrait, Statement};
    ensure_default_products(db).await?;
    let product = product_by_code(db, "MOBILE").await?.ok_or_else(|| AppError::internal("no MOBILE product"))?;
    let backend = db.get_database_backend();
    let txn = db.begin().await?;
    let start_id: i64 = {
        let row = txn
            .query_one_raw(Statement::from_string(backend, "SELECT COALESCE(MAX(id), 0) AS m FROM accounts"))
            .await?
            .ok_or_else(|| AppError::internal("no max id"))?;
        row.try_get::<i64>("", "m")?
    };
    let now = chrono::Utc::now();
    let due = now.date_naive() + chrono::Duration::days(14);
    let mut account_rows = Vec::new();
    let mut next_id = start_id;
    let mut all_accounts = Vec::new();
    for _ in 0..mains {
        next_id += 1;
        let main_id = next_id;
        account_rows.push((main_id, None));
        all_accounts.push(main_id);
        for _ in 0..secondaries {
            next_id += 1;
            account_rows.push((next_id, Some(main_id)));
            all_accounts.push(next_id);
        }
    }
    for chunk in account_rows.chunks(2000) {
        let models = chunk.iter().map(|(id, parent)| account::ActiveModel {
            id: Set(*id),
            customer_number: Set(format!("9{:09}", id)),
            holder_name: Set(format!("Bulk holder {id}")),
            contact_email: Set("bulk@example.com".into()),
            friendly_name: Set(parent.map(|_| format!("Line {id}"))),
            parent_id: Set(None),
            group_id: Set(None),
            status: Set(crate::entity::enums::AccountStatus::Active),
            billing_mode: Set(crate::entity::enums::BillingMode::Individual),
            product_id: Set(product.id),
            token_version: Set(1),
            call_forwarding_to: Set(None),
            paperless_billing: Set(false),
            ebill_notifications: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        });
        account::Entity::insert_many(models).exec(&txn).await?;
    }
    // Parents in a second pass, so a batch never references a row of a later batch.
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        if backend == sea_orm::DbBackend::Postgres {
            "UPDATE accounts SET parent_id = id - ((id - $1 - 1) % ($2 + 1)) WHERE id > $1 AND (id - $1 - 1) % ($2 + 1) <> 0"
        } else {
            "UPDATE accounts SET parent_id = id - ((id - ?1 - 1) % (?2 + 1)) WHERE id > ?1 AND (id - ?1 - 1) % (?2 + 1) <> 0"
        },
        [start_id.into(), i64::from(secondaries).into()],
    ))
    .await?;
    let mut invoice_count = 0u64;
    let mut batch = Vec::new();
    for account_id in &all_accounts {
        for n in 0..invoices {
            batch.push(crate::entity::invoice::ActiveModel {
                number: Set(format!("9{:09}-{:04}", account_id, n + 1)),
                account_id: Set(*account_id),
                status: Set(if n % 3 == 0 {
                    crate::entity::enums::InvoiceStatus::Paid
                } else {
                    crate::entity::enums::InvoiceStatus::Open
                }),
                currency: Set("EUR".into()),
                total_cents: Set(1_000 + i64::from(n) * 100),
                issued_at: Set(now),
                due_at: Set(due),
                collective_invoice_id: Set(None),
                paid_at: Set(None),
                ..Default::default()
            });
            if batch.len() == 3000 {
                invoice_count += batch.len() as u64;
                crate::entity::invoice::Entity::insert_many(std::mem::take(&mut batch)).exec(&txn).await?;
            }
        }
    }
    if !batch.is_empty() {
        invoice_count += batch.len() as u64;
        crate::entity::invoice::Entity::insert_many(batch).exec(&txn).await?;
    }
    if backend == sea_orm::DbBackend::Postgres {
        txn.execute_unprepared(
            "SELECT setval(pg_get_serial_sequence('accounts', 'id'), (SELECT MAX(id) FROM accounts))",
        )
        .await?;
    }
    txn.commit().await?;
    Ok(format!("seeded {} accounts and {invoice_count} invoices", all_accounts.len()))
}
