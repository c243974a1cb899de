//! Customer accounts: creation by staff, enrollment tokens, settings.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, QuerySelect, Set, TransactionTrait,
};
use serde_json::json;

use crate::config::Secret;
use crate::crypto;
use crate::domain::access::{Permission, Viewer, permissions_to_text};
use crate::domain::audit::AuditEntry;
use crate::domain::refusal;
use crate::entity::enums::{AccountStatus, BillingMode};
use crate::entity::{account, group, product};
use crate::error::{AppError, AppResult, UserError, UserErrorCode};

/// An account's role, derived from the hierarchy (DOMAIN.md invariant 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum AccountRole {
    /// Has at least one secondary.
    Main,
    /// Belongs to a main account's family.
    Secondary,
    /// Neither: may be attached to a family.
    Standalone,
}

pub fn role_of(account: &account::Model, secondary_count: u64) -> AccountRole {
    if account.parent_id.is_some() {
        AccountRole::Secondary
    } else if secondary_count > 0 {
        AccountRole::Main
    } else {
        AccountRole::Standalone
    }
}

pub async fn secondary_count(db: &impl ConnectionTrait, account_id: i64) -> AppResult<u64> {
    Ok(account::Entity::find().filter(account::Column::ParentId.eq(account_id)).count(db).await?)
}

/// Ten digits: nine random ones (no leading zero) and a Luhn check digit, so typos on
/// paper are caught before a database round trip.
pub fn new_customer_number() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let body: u64 = rng.gen_range(100_000_000..1_000_000_000);
    let digits = body.to_string();
    format!("{digits}{}", luhn_check_digit(&digits))
}

pub fn luhn_check_digit(digits: &str) -> u32 {
    let sum: u32 = digits
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

/// What a new account needs.
pub struct NewAccount {
    pub holder_name: String,
    pub contact_email: String,
    pub product_id: i64,
    pub parent_id: Option<i64>,
    pub friendly_name: Option<String>,
    pub group_id: Option<i64>,
}

/// Inserts an account with a fresh customer number and its Default Group (any account can
/// become a main account, and a main always has one).
pub async fn insert_account(txn: &DatabaseTransaction, new: NewAccount) -> AppResult<account::Model> {
    let now = chrono::Utc::now();
    let mut last_err = None;
    for _ in 0..5 {
        let row = account::ActiveModel {
            customer_number: Set(new_customer_number()),
            holder_name: Set(new.holder_name.clone()),
            contact_email: Set(new.contact_email.clone()),
            friendly_name: Set(new.friendly_name.clone()),
            parent_id: Set(new.parent_id),
            group_id: Set(new.group_id),
            status: Set(AccountStatus::Active),
            billing_mode: Set(BillingMode::Individual),
            product_id: Set(new.product_id),
            token_version: Set(1),
            call_forwarding_to: Set(None),
            paperless_billing: Set(false),
            ebill_notifications: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        // A savepoint, so a customer-number collision does not poison the transaction
        // (PostgreSQL aborts a transaction on any error).
        let savepoint = txn.begin().await?;
        match row.insert(&savepoint).await {
            Ok(account) => {
                savepoint.commit().await?;
                insert_default_group(txn, account.id).await?;
                return Ok(account);
            }
            Err(err) => {
                savepoint.rollback().await?;
                last_err = Some(err);
            }
        }
    }
    Err(last_err.map(AppError::from).unwrap_or_else(|| AppError::internal("no customer number")))
}

pub const DEFAULT_GROUP_NAME: &str = "Default Group";

pub async fn insert_default_group(txn: &impl ConnectionTrait, main_account_id: i64) -> AppResult<group::Model> {
    Ok(group::ActiveModel {
        main_account_id: Set(main_account_id),
        name: Set(DEFAULT_GROUP_NAME.to_owned()),
        is_default: Set(true),
        permissions: Set(permissions_to_text(&[Permission::ViewInvoices])),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(txn)
    .await?)
}

pub async fn default_group_of(db: &impl ConnectionTrait, main_account_id: i64) -> AppResult<group::Model> {
    group::Entity::find()
        .filter(group::Column::MainAccountId.eq(main_account_id))
        .filter(group::Column::IsDefault.eq(true))
        .one(db)
        .await?
        .ok_or_else(|| AppError::internal(format!("account {main_account_id} has no default group")))
}

pub async fn product_by_code(db: &impl ConnectionTrait, code: &str) -> AppResult<Option<product::Model>> {
    Ok(product::Entity::find().filter(product::Column::Code.eq(code)).one(db).await?)
}

/// Staff create a customer account; the enrollment token is returned (shown once).
pub async fn admin_create_account(
    db: &DatabaseConnection,
    secret: &Secret,
    viewer: &Viewer,
    holder_name: &str,
    product_code: &str,
    email: &str,
) -> AppResult<(account::Model, String)> {
    require_staff(viewer)?;
    let holder_name = validate_name(holder_name, "holderName")?;
    let email = validate_email(email, "email")?;
    let txn = db.begin().await?;
    let product = product_by_code(&txn, product_code)
        .await?
        .ok_or_else(|| AppError::User(refusal::not_found("product", "product")))?;
    let account = insert_account(
        &txn,
        NewAccount {
            holder_name,
            contact_email: email,
            product_id: product.id,
            parent_id: None,
            friendly_name: None,
            group_id: None,
        },
    )
    .await?;
    AuditEntry::new(Some(viewer.user.id), "account.created", "Account", account.id)
        .after(json!({"customerNumber": account.customer_number, "holderName": account.holder_name, "product": product.code}))
        .record(&txn)
        .await?;
    txn.commit().await?;
    let token = crypto::enrollment_token(secret, account.id, account.token_version);
    Ok((account, token))
}

/// Staff retire an account's enrollment token and get the new one.
pub async fn admin_rotate_enrollment_token(
    db: &DatabaseConnection,
    secret: &Secret,
    viewer: &Viewer,
    account_id: i64,
) -> AppResult<(account::Model, String)> {
    require_staff(viewer)?;
    let txn = db.begin().await?;
    let account = lock_account(&txn, account_id)
        .await?
        .ok_or_else(|| AppError::User(refusal::not_found("account", "accountId")))?;
    let account = bump_token_version(&txn, account).await?;
    AuditEntry::new(Some(viewer.user.id), "account.token_rotated", "Account", account.id)
        .family(Some(account.parent_id.unwrap_or(account.id)))
        .after(json!({"tokenVersion": account.token_version}))
        .record(&txn)
        .await?;
    txn.commit().await?;
    let token = crypto::enrollment_token(secret, account.id, account.token_version);
    Ok((account, token))
}

pub async fn bump_token_version(txn: &impl ConnectionTrait, account: account::Model) -> AppResult<account::Model> {
    let version = account.token_version + 1;
    let mut active: account::ActiveModel = account.into();
    active.token_version = Set(version);
    active.updated_at = Set(chrono::Utc::now());
    Ok(active.update(txn).await?)
}

/// Reads an account and, on PostgreSQL, locks its row until the transaction ends.
pub async fn lock_account(txn: &impl ConnectionTrait, account_id: i64) -> AppResult<Option<account::Model>> {
    Ok(account::Entity::find_by_id(account_id).lock_exclusive().one(txn).await?)
}

/// Locks several account rows in id order, so two transactions never wait on each other
/// in a cycle.
pub async fn lock_accounts(txn: &impl ConnectionTrait, mut ids: Vec<i64>) -> AppResult<Vec<account::Model>> {
    ids.sort_unstable();
    ids.dedup();
    Ok(account::Entity::find()
        .filter(account::Column::Id.is_in(ids))
        .order_by_id_asc()
        .lock_exclusive()
        .all(txn)
        .await?)
}

pub fn require_staff(viewer: &Viewer) -> AppResult<()> {
    if viewer.is_staff() { Ok(()) } else { Err(AppError::Forbidden) }
}

pub fn validate_name(value: &str, field: &str) -> AppResult<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 100 || trimmed.chars().any(char::is_control) {
        return Err(AppError::User(
            UserError::new(UserErrorCode::InvalidInput, "must be 1 to 100 printable characters").at(field),
        ));
    }
    Ok(trimmed.to_owned())
}

pub fn validate_email(value: &str, field: &str) -> AppResult<String> {
    let trimmed = value.trim();
    let valid = trimmed.len() <= 254
        && trimmed.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        })
        && !trimmed.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        return Err(AppError::User(UserError::new(UserErrorCode::InvalidInput, "must be an email address").at(field)));
    }
    Ok(trimmed.to_owned())
}
