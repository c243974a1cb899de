//! Detaching a secondary (it becomes standalone) or removing it (detach and deactivate
//! its portal access), and the `detachReadiness` report of what a detach would meet.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set, TransactionTrait,
};

use super::{Change, ChangeOptions, account_snapshot, finish, record_account_change};
use crate::domain::access::{Permission, Viewer};
use crate::domain::accounts::lock_accounts;
use crate::domain::identity::revoke_sessions_of_account;
use crate::domain::refusal;
use crate::entity::enums::{AccountStatus, BillingMode, InvoiceStatus};
use crate::entity::{account, invoice, user};
use crate::error::{AppError, AppResult, UserError, UserErrorCode};
use crate::events::{Event, TreeChangeKind};

/// A reason a detach (or removal) is refused. [`detach_blockers`] is the one list of them:
/// `detachAccount` refuses with the first that holds, `detachReadiness` reports them all,
/// so a precondition added there holds for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DetachBlocker {
    /// The account has no parent: there is no family to detach it from.
    NotAttached,
    /// The client's `expectedParentId` is not the account's parent (it looked at a stale
    /// tree). Only the mutation has this input.
    ParentChangedSinceSeen,
    /// The account's parent changed between reading it and locking it.
    FamilyChanged,
    /// The viewer lacks MANAGE_ACCOUNTS on the family.
    NotPermitted,
    /// The account is deactivated already.
    Deactivated,
}

impl DetachBlocker {
    /// How `detachAccount` refuses, at the input field concerned.
    fn refusal(self) -> UserError {
        match self {
            DetachBlocker::NotAttached => {
                UserError::new(UserErrorCode::InvalidInput, "this account is not attached to a family").at("accountId")
            }
            DetachBlocker::ParentChangedSinceSeen => refusal::parent_changed_since_seen(),
            DetachBlocker::FamilyChanged => refusal::family_changed("accountId"),
            DetachBlocker::NotPermitted => refusal::needs_on_family(Permission::ManageAccounts),
            DetachBlocker::Deactivated => {
                UserError::new(UserErrorCode::NotActive, "the account is already deactivated").at("accountId")
            }
        }
    }

    /// How `detachReadiness` reports it: the same code and message, and no input field,
    /// since a report has no input at fault.
    fn reported(self) -> UserError {
        UserError { field: Vec::new(), ..self.refusal() }
    }
}

/// Every reason detaching `account` would be refused now, in the order `detachAccount`
/// checks them. `main` is its family's main account as the caller found it (the account's
/// parent when read; None when it had none); `expected_parent_id` is the client's guard
/// against a stale view (None for the report, which has no such input).
fn detach_blockers(
    viewer: &Viewer,
    account: &account::Model,
    main: Option<&account::Model>,
    expected_parent_id: Option<i64>,
) -> Vec<DetachBlocker> {
    let preconditions = [
        (DetachBlocker::NotAttached, main.is_none()),
        (DetachBlocker::ParentChangedSinceSeen, expected_parent_id.is_some_and(|e| account.parent_id != Some(e))),
        (DetachBlocker::FamilyChanged, main.is_some_and(|m| account.parent_id != Some(m.id))),
        (
            DetachBlocker::NotPermitted,
            main.is_some_and(|m| !viewer.rights_on_family(m).has(Permission::ManageAccounts)),
        ),
        (DetachBlocker::Deactivated, account.status == AccountStatus::Deactivated),
    ];
    preconditions.into_iter().filter_map(|(blocker, holds)| holds.then_some(blocker)).collect()
}

/// Detaches a secondary (it becomes standalone) and, with `deactivate`, removes its
/// portal access (DOMAIN.md invariant 7).
pub async fn detach_account(
    db: &DatabaseConnection,
    viewer: &Viewer,
    account_id: i64,
    deactivate: bool,
    options: ChangeOptions,
) -> AppResult<Change> {
    let no_such_account = || AppError::User(refusal::not_found("account", "accountId"));
    let txn = db.begin().await?;
    let current = account::Entity::find_by_id(account_id).one(&txn).await?;
    let Some(current) = current.filter(|a| viewer.can_see(a)) else {
        return Err(no_such_account());
    };
    let locked = lock_accounts(&txn, current.parent_id.into_iter().chain([account_id]).collect()).await?;
    let Some(account) = locked.iter().find(|a| a.id == account_id).cloned() else {
        return Err(no_such_account());
    };
    let main = match current.parent_id {
        Some(parent_id) => Some(locked.iter().find(|a| a.id == parent_id).cloned().ok_or_else(no_such_account)?),
        None => None,
    };
    if let Some(blocker) = detach_blockers(viewer, &account, main.as_ref(), options.expected_parent_id).first() {
        return Err(AppError::User(blocker.refusal()));
    }
    // No blocker means a main: NotAttached holds without one.
    let Some(main) = main else {
        return Err(AppError::User(DetachBlocker::NotAttached.refusal()));
    };
    let before = account_snapshot(&account);
    // The former family has seen the enrollment token on old invoices: a new one, so it
    // cannot link the account back on its own. The holder enrolls or links again with the
    // token printed on their next invoice (or one staff rotate for them).
    let token_version = account.token_version + 1;
    let mut active: account::ActiveModel = account.into();
    active.token_version = Set(token_version);
    active.parent_id = Set(None);
    active.group_id = Set(None);
    active.billing_mode = Set(BillingMode::Individual);
    if deactivate {
        active.status = Set(AccountStatus::Deactivated);
    }
    active.updated_at = Set(chrono::Utc::now());
    let account = active.update(&txn).await?;
    if deactivate {
        revoke_sessions_of_account(&txn, account.id).await?;
    }
    let action = if deactivate { "account.removed" } else { "account.detached" };
    record_account_change(&txn, viewer, action, main.id, before, &account).await?;
    finish(txn, options).await?;
    let event = Event::TreeChanged { kind: TreeChangeKind::Detached, main_account_id: main.id, account_id: account.id };
    Ok(Change { account, events: vec![event] })
}

/// Staff detach (and optionally deactivate) any secondary.
pub async fn admin_detach(
    db: &DatabaseConnection,
    viewer: &Viewer,
    account_id: i64,
    deactivate: bool,
    options: ChangeOptions,
) -> AppResult<Change> {
    crate::domain::accounts::require_staff(viewer)?;
    detach_account(db, viewer, account_id, deactivate, options).await
}

/// Why a detach or removal would be refused, and what it would change.
pub struct DetachReadiness {
    pub blockers: Vec<UserError>,
    pub changes: Vec<String>,
}

/// What detaching the account would meet now (the blockers `detachAccount` would refuse
/// with, first one first) and what it would change. None when the viewer may not see it.
pub async fn detach_readiness(
    db: &DatabaseConnection,
    viewer: &Viewer,
    account_id: i64,
) -> AppResult<Option<DetachReadiness>> {
    let Some(account) = account::Entity::find_by_id(account_id).one(db).await?.filter(|a| viewer.can_see(a)) else {
        return Ok(None);
    };
    let main = match account.parent_id {
        // A parent that is not there answers as detachAccount does, "no such account"
        // (the foreign key on parent_id keeps it from happening).
        Some(parent_id) => match account::Entity::find_by_id(parent_id).one(db).await? {
            Some(main) => Some(main),
            None => return Ok(None),
        },
        None => None,
    };
    let blockers = detach_blockers(viewer, &account, main.as_ref(), None).into_iter().map(DetachBlocker::reported);
    let changes = match main {
        Some(_) => detach_changes(db, &account).await?,
        None => Vec::new(),
    };
    Ok(Some(DetachReadiness { blockers: blockers.collect(), changes }))
}

/// What a detach of an attached account changes, in words for the person about to do it.
/// Collective invoices are untouched: invoices already in an open one stay there.
async fn detach_changes(db: &DatabaseConnection, account: &account::Model) -> AppResult<Vec<String>> {
    let mut changes = vec!["the account becomes standalone; the family's users lose access to it at once".to_owned()];
    if account.billing_mode == BillingMode::Collective {
        changes.push("its billing mode returns to INDIVIDUAL".to_owned());
    }
    if account.group_id.is_some() {
        changes.push("it leaves its group".to_owned());
    }
    let consolidated = invoice::Entity::find()
        .filter(invoice::Column::AccountId.eq(account.id))
        .filter(invoice::Column::Status.eq(InvoiceStatus::Open))
        .filter(invoice::Column::CollectiveInvoiceId.is_not_null())
        .count(db)
        .await?;
    if consolidated > 0 {
        changes.push(format!("{consolidated} open invoice(s) stay on the main account's collective invoice"));
    }
    let logins = user::Entity::find().filter(user::Column::HomeAccountId.eq(account.id)).count(db).await?;
    changes.push(format!(
        "removal (deactivate) also signs out its {logins} login(s), blocks their sign-in and stops e-bill notifications until it is enrolled again"
    ));
    Ok(changes)
}
