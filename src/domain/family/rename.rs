//! Renaming and regrouping an account of a family (the main itself or a secondary).

use sea_orm::{ActiveModelTrait, DatabaseConnection, Set, TransactionTrait};

use super::{
    Change, ChangeOptions, account_snapshot, check_expected_parent, family_group, finish, lock_account_and_main,
    record_account_change,
};
use crate::domain::access::{Permission, Viewer};
use crate::domain::accounts::validate_name;
use crate::domain::refusal;
use crate::entity::account;
use crate::error::{AppError, AppResult};
use crate::events::{Event, TreeChangeKind};

/// Renames or regroups an account of a family (the main itself or a secondary).
pub async fn update_linked_account(
    db: &DatabaseConnection,
    viewer: &Viewer,
    account_id: i64,
    friendly_name: Option<String>,
    group_id: Option<i64>,
    options: ChangeOptions,
) -> AppResult<Change> {
    let friendly_name = friendly_name.as_deref().map(|n| validate_name(n, "friendlyName")).transpose()?;
    let txn = db.begin().await?;
    let (main, account) = lock_account_and_main(&txn, viewer, account_id).await?;
    check_expected_parent(&account, options)?;
    if account.parent_id.unwrap_or(account.id) != main.id {
        return Err(AppError::User(refusal::family_changed("accountId")));
    }
    if !viewer.rights_on_family(&main).has(Permission::ManageAccounts) {
        return Err(AppError::User(refusal::needs_on_family(Permission::ManageAccounts)));
    }
    let before = account_snapshot(&account);
    let mut kind = None;
    let mut active: account::ActiveModel = account.clone().into();
    if let Some(group_id) = group_id {
        let group_id = family_group(&txn, main.id, Some(group_id)).await?;
        if account.group_id != Some(group_id) {
            active.group_id = Set(Some(group_id));
            kind = Some(TreeChangeKind::Regrouped);
        }
    }
    if let Some(name) = friendly_name
        && account.friendly_name.as_deref() != Some(name.as_str())
    {
        active.friendly_name = Set(Some(name));
        kind = kind.or(Some(TreeChangeKind::Renamed));
    }
    active.updated_at = Set(chrono::Utc::now());
    let account = active.update(&txn).await?;
    record_account_change(&txn, viewer, "account.updated", main.id, before, &account).await?;
    finish(txn, options).await?;
    let events = kind.map(|kind| Event::TreeChanged { kind, main_account_id: main.id, account_id: account.id });
    Ok(Change { account, events: events.into_iter().collect() })
}
