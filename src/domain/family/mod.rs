//! Account families, by what a customer does with one:
//!
//! - `link.rs`: "Add New Account" with a proof, and staff attach (DOMAIN.md invariants 1-3);
//! - `link_requests.rs`: linking with consent: a request by customer number that the
//!   account's owner accepts or declines;
//! - `move_account.rs`: a secondary moves to another family in one step;
//! - `order.rs`: order a new secondary account;
//! - `detach.rs`: detach or remove a secondary, and the readiness report that says what a
//!   detach would meet (one list of preconditions for both);
//! - `rename.rs`: rename or regroup an account of the family;
//! - `settings.rs`: an account's own settings, which its local team manages.
//!
//! Every change locks the rows it reasons about (in id order, so two changes never wait on
//! each other in a cycle), checks the invariants against what it holds, writes, records
//! its audit event and commits. `validate_only` runs the same path and rolls back. What
//! the changes share lives here.

mod detach;
mod link;
mod link_requests;
mod move_account;
mod order;
mod rename;
mod settings;

use sea_orm::{ConnectionTrait, DatabaseTransaction, EntityTrait};
use serde_json::{Value, json};

use crate::domain::access::{Permission, Viewer};
use crate::domain::accounts::{default_group_of, lock_accounts};
use crate::domain::audit::AuditEntry;
use crate::domain::refusal::{self, refuse};
use crate::entity::enums::AccountStatus;
use crate::entity::{account, group};
use crate::error::{AppError, AppResult, UserErrorCode};
use crate::events::Event;

pub use detach::{DetachReadiness, admin_detach, detach_account, detach_readiness};
pub use link::{AttachRequest, LinkAccountRequest, Proof, admin_attach, link_account};
pub use link_requests::{
    LIFETIME_DAYS, LinkRequestRecord, MOST_PENDING_PER_FAMILY, NewLinkRequest, RequestingMain, accept_link_request,
    cancel_link_request, decline_link_request, request_link, status_condition, status_now,
};
pub use move_account::{MoveRequest, move_account};
pub use order::{OrderRequest, order_secondary_account};
pub use rename::update_linked_account;
pub use settings::{SettingsChange, check_e164, update_account_settings};

/// An account's place in its family and its names, as the audit log records them.
fn account_snapshot(a: &account::Model) -> Value {
    json!({
        "parentId": a.parent_id, "groupId": a.group_id, "friendlyName": a.friendly_name,
        "status": a.status, "billingMode": a.billing_mode,
    })
}

/// Records a change to a family account in the audit log, where the family's owner reads
/// it: the account as it was (`before`, an [`account_snapshot`]) and as it is now.
async fn record_account_change(
    txn: &DatabaseTransaction,
    actor: &Viewer,
    action: &'static str,
    main_id: i64,
    before: Value,
    account: &account::Model,
) -> AppResult<()> {
    AuditEntry::new(Some(actor.user.id), action, "Account", account.id)
        .family(Some(main_id))
        .before(before)
        .after(account_snapshot(account))
        .record(txn)
        .await
}

/// Options shared by the hierarchy mutations.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChangeOptions {
    /// Check and report, change nothing.
    pub validate_only: bool,
    /// Refuse if the account's parent is not this one (it changed since the client looked).
    pub expected_parent_id: Option<i64>,
}

/// What a hierarchy mutation did (or, with `validate_only`, would do).
pub struct Change {
    pub account: account::Model,
    /// What to publish once committed (a move tells both families).
    pub events: Vec<Event>,
}

/// Commits or, for `validate_only`, rolls back.
async fn finish(txn: DatabaseTransaction, options: ChangeOptions) -> AppResult<()> {
    if options.validate_only {
        txn.rollback().await?
    } else {
        txn.commit().await?
    }
    Ok(())
}

fn check_expected_parent(account: &account::Model, options: ChangeOptions) -> AppResult<()> {
    match options.expected_parent_id {
        Some(expected) if account.parent_id != Some(expected) => {
            Err(AppError::User(refusal::parent_changed_since_seen()))
        }
        _ => Ok(()),
    }
}

/// An account the viewer can see and the main account of its family (itself when it is
/// not a secondary), both locked in id order; NOT_FOUND on `accountId` otherwise.
pub async fn lock_account_and_main(
    txn: &DatabaseTransaction,
    viewer: &Viewer,
    account_id: i64,
) -> AppResult<(account::Model, account::Model)> {
    let found = account::Entity::find_by_id(account_id).one(txn).await?;
    let Some(found) = found.filter(|a| viewer.can_see(a)) else {
        return Err(AppError::User(refusal::not_found("account", "accountId")));
    };
    let main_id = found.parent_id.unwrap_or(found.id);
    let locked = lock_accounts(txn, vec![main_id, account_id]).await?;
    match (locked.iter().find(|a| a.id == main_id).cloned(), locked.iter().find(|a| a.id == account_id).cloned()) {
        (Some(main), Some(account)) => Ok((main, account)),
        _ => Err(AppError::User(refusal::not_found("account", "accountId"))),
    }
}

/// The main account a family is about to grow under, locked: it must still be able to
/// have secondaries (not a secondary itself, not deactivated) now that the lock is held.
async fn lock_active_main(txn: &DatabaseTransaction, main_id: i64) -> AppResult<account::Model> {
    let main = lock_accounts(txn, vec![main_id])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| AppError::User(refusal::not_found("account", "mainAccountId")))?;
    if main.parent_id.is_some() {
        return Err(AppError::User(refusal::secondary_cannot_have_secondaries()));
    }
    if main.status != AccountStatus::Active {
        return Err(AppError::User(refusal::main_deactivated()));
    }
    Ok(main)
}

/// The main account a family mutation is about: the one named, else the viewer's home.
fn main_or_home(viewer: &Viewer, main_account_id: Option<i64>) -> AppResult<i64> {
    main_account_id.or(viewer.home_account_id).ok_or_else(|| {
        refuse(UserErrorCode::NotFound, "you have no home account; name the main account", "mainAccountId")
    })
}

/// A main account the viewer may manage accounts of, or why not. Refusals about the
/// family's shape come before rights wherever the viewer may see the account: naming one
/// of your own secondaries as the main answers TARGET_IS_SECONDARY, not NOT_PERMITTED.
async fn managed_main(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    main_account_id: i64,
    field: &str,
) -> AppResult<account::Model> {
    let main = account::Entity::find_by_id(main_account_id).one(db).await?;
    let Some(main) = main.filter(|m| viewer.can_see(m) || viewer.rights_on_family(m).visible()) else {
        return Err(AppError::User(refusal::not_found("account", field)));
    };
    if main.parent_id.is_some() {
        return Err(AppError::User(refusal::secondary_cannot_have_secondaries().at(field)));
    }
    if !viewer.rights_on_family(&main).has(Permission::ManageAccounts) {
        return Err(AppError::User(refusal::needs_on_family(Permission::ManageAccounts)));
    }
    Ok(main)
}

/// The group an account joins: the named one (of this family) or the Default Group.
async fn family_group(db: &impl ConnectionTrait, main_id: i64, group_id: Option<i64>) -> AppResult<i64> {
    match group_id {
        None => Ok(default_group_of(db, main_id).await?.id),
        Some(id) => {
            let found = group::Entity::find_by_id(id).one(db).await?;
            match found {
                Some(g) if g.main_account_id == main_id => Ok(g.id),
                _ => Err(AppError::User(refusal::not_found("group in this family", "groupId"))),
            }
        }
    }
}
