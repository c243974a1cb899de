//! Detaching a secondary (it becomes standalone) or removing it (detach and deactivate
//! its portal access), and the `detachReadiness` report of what a detach would meet.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set, TransactionTrait,
};

use super::{Change, Safety, account_snapshot, check_expected_parent, finish};
use crate::domain::access::{Permission, Viewer};
use crate::domain::accounts::lock_accounts;
use crate::domain::audit::AuditEntry;
use crate::domain::identity::revoke_sessions_of_account;
use crate::domain::refusal::{self, refuse};
use crate::entity::enums::{AccountStatus, BillingMode, InvoiceStatus};
use crate::entity::{account, collective_invoice, invoice, user};
use crate::error::{AppError, AppResult, UserError, UserErrorCode};
use crate::events::{Event, TreeChangeKind};

/// Detaches a secondary (it becomes standalone) and, with `deactivate`, removes its
/// portal access (DOMAIN.md invariant 7).
pub async fn detach_account(
    db: &DatabaseConnection,
    viewer: &Viewer,
    account_id: i64,
    deactivate: bool,
    safety: Safety,
) -> AppResult<Change> {
    let txn = db.begin().await?;
    let current = account::Entity::find_by_id(account_id).one(&txn).await?;
    let Some(current) = current.filter(|a| viewer.can_see(a)) else {
        return Err(AppError::User(refusal::not_found("account", "accountId")));
    };
    let Some(parent_id) = current.parent_id else {
        return Err(refuse(UserErrorCode::InvalidInput, "this account is not attached to a family", "accountId"));
    };
    let locked = lock_accounts(&txn, vec![parent_id, account_id]).await?;
    let (Some(main), Some(account)) =
        (locked.iter().find(|a| a.id == parent_id).cloned(), locked.iter().find(|a| a.id == account_id).cloned())
    else {
        return Err(AppError::User(refusal::not_found("account", "accountId")));
    };
    check_expected_parent(&account, safety)?;
    if account.parent_id != Some(main.id) {
        return Err(AppError::User(refusal::family_changed("accountId")));
    }
    if !viewer.rights_on_family(&main).has(Permission::ManageAccounts) {
        return Err(AppError::User(refusal::needs_on_family(Permission::ManageAccounts)));
    }
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
    AuditEntry::new(
        Some(viewer.user.id),
        if deactivate { "account.removed" } else { "account.detached" },
        "Account",
        account.id,
    )
    .family(Some(main.id))
    .before(before)
    .after(account_snapshot(&account))
    .record(&txn)
    .await?;
    finish(txn, safety).await?;
    let event = Event::TreeChanged { kind: TreeChangeKind::Detached, main_account_id: main.id, account_id: account.id };
    Ok(Change { account, event: Some(event) })
}

/// Staff detach (and optionally deactivate) any secondary.
pub async fn admin_detach(
    db: &DatabaseConnection,
    viewer: &Viewer,
    account_id: i64,
    deactivate: bool,
    safety: Safety,
) -> AppResult<Change> {
    crate::domain::accounts::require_staff(viewer)?;
    detach_account(db, viewer, account_id, deactivate, safety).await
}

/// Why a detach or removal would be refused, and what it would change.
pub struct DetachReadiness {
    pub blockers: Vec<UserError>,
    pub changes: Vec<String>,
}

pub async fn detach_readiness(
    db: &DatabaseConnection,
    viewer: &Viewer,
    account_id: i64,
) -> AppResult<Option<DetachReadiness>> {
    let Some(account) = account::Entity::find_by_id(account_id).one(db).await?.filter(|a| viewer.can_see(a)) else {
        return Ok(None);
    };
    let mut blockers = Vec::new();
    let mut changes = Vec::new();
    match account.parent_id {
        None => blockers.push(UserError::new(UserErrorCode::InvalidInput, "this account is not attached to a family")),
        Some(parent_id) => {
            let main = account::Entity::find_by_id(parent_id).one(db).await?;
            if !main.is_some_and(|m| viewer.rights_on_family(&m).has(Permission::ManageAccounts)) {
                blockers.push(refusal::needs_on_family(Permission::ManageAccounts));
            }
            changes.push("the account becomes standalone; the family's users lose access to it at once".to_owned());
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
        }
    }
    if account.status == AccountStatus::Deactivated {
        blockers.push(UserError::new(UserErrorCode::NotActive, "the account is already deactivated"));
    }
    let _ = collective_invoice::Entity::find(); // collective invoices are untouched by a detach
    Ok(Some(DetachReadiness { blockers, changes }))
}
