//! Linking an account into a family: "Add New Account" with the account's enrollment
//! token or a login of it, and staff attach without proof. Both end in `attach_locked`,
//! which holds DOMAIN.md invariants 1 (depth one) and 2 (one family at most).

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, Set, TransactionTrait,
};

use super::{
    Change, ChangeOptions, account_snapshot, check_expected_parent, family_group, finish, main_or_home, managed_main,
    record_account_change,
};
use crate::config::Settings;
use crate::domain::access::Viewer;
use crate::domain::accounts::{bump_token_version, lock_accounts, validate_name};
use crate::domain::identity::{verify_credentials, verify_token_proof};
use crate::domain::refusal::{self, refuse};
use crate::entity::account;
use crate::entity::enums::AccountStatus;
use crate::error::{AppError, AppResult, UserErrorCode};
use crate::events::{Event, TreeChangeKind};

/// The proof that the signed-in user controls the account being linked.
pub enum Proof {
    EnrollmentToken { customer_number: String, token: String },
    Credentials { login_name: String, password: String },
}

async fn has_secondaries(db: &impl ConnectionTrait, account_id: i64) -> AppResult<bool> {
    Ok(account::Entity::find().filter(account::Column::ParentId.eq(account_id)).count(db).await? > 0)
}

/// An attach, from a link or from staff: the main, the account joining it, and how.
pub struct AttachRequest {
    pub main_id: i64,
    pub target_id: i64,
    pub friendly_name: Option<String>,
    pub group_id: Option<i64>,
    /// For a token proof: the token version that was checked, which must still be current.
    pub proven_token_version: Option<i32>,
}

/// The shared core of link and staff attach (DOMAIN.md invariants 1 and 2).
pub(super) async fn attach_locked(
    txn: &DatabaseTransaction,
    actor: &Viewer,
    action: &'static str,
    req: AttachRequest,
    options: ChangeOptions,
) -> AppResult<Change> {
    if req.main_id == req.target_id {
        return Err(refuse(UserErrorCode::SelfAttach, "an account cannot be attached to itself", "proof"));
    }
    let friendly_name = req.friendly_name.as_deref().map(|n| validate_name(n, "friendlyName")).transpose()?;
    let locked = lock_accounts(txn, vec![req.main_id, req.target_id]).await?;
    let (Some(main), Some(target)) =
        (locked.iter().find(|a| a.id == req.main_id).cloned(), locked.iter().find(|a| a.id == req.target_id).cloned())
    else {
        return Err(AppError::User(refusal::not_found("account", "mainAccountId")));
    };
    check_expected_parent(&target, options)?;
    if let Some(version) = req.proven_token_version
        && target.token_version != version
    {
        return Err(AppError::User(refusal::token_mismatch()));
    }
    if target.parent_id.is_some() {
        return Err(refuse(
            UserErrorCode::AlreadyAttached,
            "this account already belongs to a family; detach it first",
            "proof",
        ));
    }
    if main.parent_id.is_some() {
        return Err(AppError::User(refusal::secondary_cannot_have_secondaries()));
    }
    if has_secondaries(txn, target.id).await? {
        return Err(refuse(
            UserErrorCode::IsMain,
            "this account is a main account with secondaries of its own",
            "proof",
        ));
    }
    if target.status != AccountStatus::Active || main.status != AccountStatus::Active {
        return Err(AppError::user(UserErrorCode::NotActive, "deactivated accounts cannot be attached or attached to"));
    }
    let group_id = family_group(txn, main.id, req.group_id).await?;
    let before = account_snapshot(&target);
    let target = bump_token_version(txn, target).await?;
    let mut active: account::ActiveModel = target.into();
    active.parent_id = Set(Some(main.id));
    active.group_id = Set(Some(group_id));
    if friendly_name.is_some() {
        active.friendly_name = Set(friendly_name);
    }
    active.updated_at = Set(chrono::Utc::now());
    let account = active.update(txn).await?;
    record_account_change(txn, actor, action, main.id, before, &account).await?;
    let event = Event::TreeChanged { kind: TreeChangeKind::Attached, main_account_id: main.id, account_id: account.id };
    Ok(Change { account, events: vec![event] })
}

/// What `linkAccount` asks for.
pub struct LinkAccountRequest {
    /// Defaults to the viewer's home account.
    pub main_account_id: Option<i64>,
    pub proof: Proof,
    pub friendly_name: Option<String>,
    pub group_id: Option<i64>,
}

/// "Add New Account": links an account the user proves control of to a main account.
pub async fn link_account(
    db: &DatabaseConnection,
    settings: &Settings,
    client: &str,
    viewer: &Viewer,
    request: LinkAccountRequest,
    options: ChangeOptions,
) -> AppResult<Change> {
    let LinkAccountRequest { main_account_id, proof, friendly_name, group_id } = request;
    let main_id = main_or_home(viewer, main_account_id)?;
    managed_main(db, viewer, main_id, "mainAccountId").await?;
    let (target_id, proven_token_version) = match proof {
        Proof::EnrollmentToken { customer_number, token } => {
            let account = verify_token_proof(db, settings, client, &customer_number, &token).await?;
            (account.id, Some(account.token_version))
        }
        Proof::Credentials { login_name, password } => {
            let user = verify_credentials(db, settings, client, &login_name, &password).await?;
            let home = user.home_account_id.ok_or_else(|| {
                AppError::user(UserErrorCode::InvalidProof, "that login does not belong to an account")
            })?;
            (home, None)
        }
    };
    let txn = db.begin().await?;
    let request = AttachRequest { main_id, target_id, friendly_name, group_id, proven_token_version };
    let change = attach_locked(&txn, viewer, "account.linked", request, options).await?;
    finish(txn, options).await?;
    Ok(change)
}

/// Staff attach an account to a main account, no proof needed.
pub async fn admin_attach(
    db: &DatabaseConnection,
    viewer: &Viewer,
    request: AttachRequest,
    options: ChangeOptions,
) -> AppResult<Change> {
    crate::domain::accounts::require_staff(viewer)?;
    let txn = db.begin().await?;
    let change = attach_locked(&txn, viewer, "account.attached_by_staff", request, options).await?;
    finish(txn, options).await?;
    Ok(change)
}
