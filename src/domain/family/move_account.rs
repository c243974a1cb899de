//! Moving a secondary to another family in one step (DOMAIN.md, "Move a secondary to
//! another family"): one transaction changes its parent from the old main to the new one,
//! so the account is never standalone in between and no subscriber can see it so.
//!
//! The viewer needs MANAGE_ACCOUNTS over both families (staff have it everywhere). The
//! account takes the chosen group of the destination (its Default Group if none) and the
//! billing mode INDIVIDUAL; invoices already in an open collective invoice of the old
//! family stay there (as on detach, invariant 7). Refusals are those of an attach, plus
//! STALE_PARENT when `expectedParentId` is not the parent any more.

use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set, TransactionTrait};

use super::{
    Change, ChangeOptions, account_snapshot, check_expected_parent, family_group, finish, managed_main,
    record_account_change,
};
use crate::domain::access::{Permission, Viewer};
use crate::domain::accounts::lock_accounts;
use crate::domain::refusal::{self, refuse};
use crate::entity::account;
use crate::entity::enums::{AccountStatus, BillingMode};
use crate::error::{AppError, AppResult, UserErrorCode};
use crate::events::{Event, TreeChangeKind};

/// What `moveAccount` asks for.
pub struct MoveRequest {
    pub account_id: i64,
    pub to_main_account_id: i64,
    /// A group of the destination family; its Default Group when None.
    pub group_id: Option<i64>,
}

/// Moves a secondary from its family to another main account's family.
pub async fn move_account(
    db: &DatabaseConnection,
    viewer: &Viewer,
    request: MoveRequest,
    options: ChangeOptions,
) -> AppResult<Change> {
    let no_such_account = || AppError::User(refusal::not_found("account", "accountId"));
    let txn = db.begin().await?;
    let current = account::Entity::find_by_id(request.account_id).one(&txn).await?;
    let Some(current) = current.filter(|a| viewer.can_see(a)) else {
        return Err(no_such_account());
    };
    // A client that names the parent it saw gets STALE_PARENT for any change since, a
    // detach included (checked again under the lock below).
    check_expected_parent(&current, options)?;
    let Some(from_main_id) = current.parent_id else {
        return Err(refuse(
            UserErrorCode::InvalidInput,
            "this account is not in a family; link it to the other main account instead",
            "accountId",
        ));
    };
    // The destination as the viewer may see it: NOT_FOUND, then its shape, then rights.
    managed_main(&txn, viewer, request.to_main_account_id, "toMainAccountId").await?;

    let locked = lock_accounts(&txn, vec![from_main_id, request.to_main_account_id, request.account_id]).await?;
    let find = |id: i64| locked.iter().find(|a| a.id == id).cloned();
    let (Some(account), Some(from_main), Some(to_main)) =
        (find(request.account_id), find(from_main_id), find(request.to_main_account_id))
    else {
        return Err(no_such_account());
    };
    check_expected_parent(&account, options)?;
    if account.parent_id != Some(from_main.id) {
        return Err(AppError::User(refusal::family_changed("accountId")));
    }
    if !viewer.rights_on_family(&from_main).has(Permission::ManageAccounts) {
        return Err(AppError::User(refusal::needs_on_family(Permission::ManageAccounts)));
    }
    if to_main.id == account.id {
        return Err(refuse(UserErrorCode::SelfAttach, "an account cannot be attached to itself", "toMainAccountId"));
    }
    if to_main.id == from_main.id {
        return Err(refuse(UserErrorCode::AlreadyAttached, "the account is in that family already", "toMainAccountId"));
    }
    if to_main.parent_id.is_some() {
        return Err(AppError::User(refusal::secondary_cannot_have_secondaries().at("toMainAccountId")));
    }
    if account.status != AccountStatus::Active || to_main.status != AccountStatus::Active {
        return Err(AppError::user(UserErrorCode::NotActive, "deactivated accounts cannot be moved or moved to"));
    }
    let group_id = family_group(&txn, to_main.id, request.group_id).await?;

    let before = account_snapshot(&account);
    // The old family has seen the enrollment token on the account's invoices: a new one,
    // as on detach, so it cannot link the account back on its own.
    let token_version = account.token_version + 1;
    let mut active: account::ActiveModel = account.into();
    active.token_version = Set(token_version);
    active.parent_id = Set(Some(to_main.id));
    active.group_id = Set(Some(group_id));
    active.billing_mode = Set(BillingMode::Individual);
    active.updated_at = Set(chrono::Utc::now());
    let account = active.update(&txn).await?;
    // Each family's owner reads the move in their own log.
    record_account_change(&txn, viewer, "account.moved_out", from_main.id, before.clone(), &account).await?;
    record_account_change(&txn, viewer, "account.moved_in", to_main.id, before, &account).await?;
    finish(txn, options).await?;
    let moved =
        |main_account_id| Event::TreeChanged { kind: TreeChangeKind::Moved, main_account_id, account_id: account.id };
    let events = vec![moved(from_main.id), moved(to_main.id)];
    Ok(Change { account, events })
}
