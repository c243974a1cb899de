//! An account's own settings (call forwarding, paperless billing, e-bill notifications):
//! whoever has MANAGE_SETTINGS on the account changes them, its local team included.

use sea_orm::{ActiveModelTrait, DatabaseConnection, Set, TransactionTrait};
use serde_json::{Value, json};

use crate::domain::access::{Permission, Viewer};
use crate::domain::accounts::lock_accounts;
use crate::domain::audit::AuditEntry;
use crate::domain::refusal::{self, refuse};
use crate::entity::account;
use crate::error::{AppError, AppResult, UserErrorCode};

/// Typed settings of one account.
#[derive(Debug, Clone, Default)]
pub struct SettingsChange {
    /// `Some(None)` turns forwarding off.
    pub call_forwarding_to: Option<Option<String>>,
    pub paperless_billing: Option<bool>,
    pub ebill_notifications: Option<bool>,
}

/// The settings as the audit log records them, before and after.
fn settings_snapshot(a: &account::Model) -> Value {
    json!({
        "callForwardingTo": a.call_forwarding_to, "paperlessBilling": a.paperless_billing,
        "ebillNotifications": a.ebill_notifications,
    })
}

/// E.164: a plus, a non-zero digit and 7 to 14 more digits.
pub fn check_e164(number: &str) -> AppResult<String> {
    let n = number.trim();
    let digits = n.strip_prefix('+').unwrap_or("");
    let ok = (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) && !digits.starts_with('0');
    if ok {
        Ok(n.to_owned())
    } else {
        Err(refuse(
            UserErrorCode::InvalidInput,
            "call forwarding needs an E.164 number like +4930123456",
            "callForwardingTo",
        ))
    }
}

/// Changes an account's settings; needs MANAGE_SETTINGS on that account.
pub async fn update_account_settings(
    db: &DatabaseConnection,
    viewer: &Viewer,
    account_id: i64,
    change: SettingsChange,
) -> AppResult<account::Model> {
    let forwarding = match &change.call_forwarding_to {
        Some(Some(number)) => Some(Some(check_e164(number)?)),
        Some(None) => Some(None),
        None => None,
    };
    let txn = db.begin().await?;
    let locked = lock_accounts(&txn, vec![account_id]).await?;
    let Some(account) = locked.into_iter().next().filter(|a| viewer.can_see(a)) else {
        return Err(AppError::User(refusal::not_found("account", "accountId")));
    };
    if !viewer.rights_on(&account).has(Permission::ManageSettings) {
        return Err(AppError::User(refusal::needs_on_account(Permission::ManageSettings)));
    }
    let before = settings_snapshot(&account);
    let mut active: account::ActiveModel = account.clone().into();
    if let Some(forwarding) = forwarding {
        active.call_forwarding_to = Set(forwarding);
    }
    if let Some(paperless) = change.paperless_billing {
        active.paperless_billing = Set(paperless);
    }
    if let Some(ebill) = change.ebill_notifications {
        active.ebill_notifications = Set(ebill);
    }
    active.updated_at = Set(chrono::Utc::now());
    let account = active.update(&txn).await?;
    AuditEntry::new(Some(viewer.user.id), "account.settings_updated", "Account", account.id)
        .family(Some(account.parent_id.unwrap_or(account.id)))
        .before(before)
        .after(settings_snapshot(&account))
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(account)
}
