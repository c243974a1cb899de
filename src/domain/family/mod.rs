//! Account families: attach (link, order, staff attach), detach and remove, rename and
//! regroup, settings. Every change locks the rows it reasons about (in id order, so two
//! changes never wait on each other in a cycle), checks the invariants against what it
//! holds, writes, records its audit event and commits. `validate_only` runs the same path
//! and rolls back.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, Set, TransactionTrait,
};
use serde_json::{Value, json};

use crate::config::Settings;
use crate::domain::access::{Permission, Viewer};
use crate::domain::accounts::{
    NewAccount, bump_token_version, default_group_of, insert_account, lock_accounts, product_by_code, validate_name,
};
use crate::domain::audit::AuditEntry;
use crate::domain::identity::{self, revoke_sessions_of_account, verify_credentials, verify_token_proof};
use crate::domain::notify;
use crate::domain::refusal::{self, refuse};
use crate::entity::enums::{AccountStatus, BillingMode, InvoiceStatus, OrderStatus};
use crate::entity::{account, account_order, collective_invoice, group, invoice, user};
use crate::error::{AppError, AppResult, UserError, UserErrorCode};
use crate::events::{Event, TreeChangeKind};

fn account_snapshot(a: &account::Model) -> Value {
    json!({
        "parentId": a.parent_id, "groupId": a.group_id, "friendlyName": a.friendly_name,
        "status": a.status, "billingMode": a.billing_mode,
    })
}

/// The proof that the signed-in user controls the account being linked.
pub enum Proof {
    EnrollmentToken { customer_number: String, token: String },
    Credentials { login_name: String, password: String },
}

/// Options shared by the hierarchy mutations.
#[derive(Debug, Clone, Copy, Default)]
pub struct Safety {
    /// Check and report, change nothing.
    pub validate_only: bool,
    /// Refuse if the account's parent is not this one (it changed since the client looked).
    pub expected_parent_id: Option<i64>,
}

/// What a hierarchy mutation did (or, with `validate_only`, would do).
pub struct Change {
    pub account: account::Model,
    pub event: Option<Event>,
}

/// Commits or, for `validate_only`, rolls back.
async fn finish(txn: DatabaseTransaction, safety: Safety) -> AppResult<()> {
    if safety.validate_only {
        txn.rollback().await?
    } else {
        txn.commit().await?
    }
    Ok(())
}

fn check_expected_parent(account: &account::Model, safety: Safety) -> AppResult<()> {
    match safety.expected_parent_id {
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

/// The main account a family mutation is about: the one named, else the viewer's home.
fn main_or_home(viewer: &Viewer, main_account_id: Option<i64>) -> AppResult<i64> {
    main_account_id.or(viewer.home_account_id).ok_or_else(|| {
        refuse(UserErrorCode::NotFound, "you have no home account; name the main account", "mainAccountId")
    })
}

/// A main account the viewer may manage accounts of, or why not.
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

async fn has_secondaries(db: &impl ConnectionTrait, account_id: i64) -> AppResult<bool> {
    Ok(account::Entity::find().filter(account::Column::ParentId.eq(account_id)).count(db).await? > 0)
}

pub struct AttachRequest {
    pub main_id: i64,
    pub target_id: i64,
    pub friendly_name: Option<String>,
    pub group_id: Option<i64>,
    /// For a token proof: the token version that was checked, which must still be current.
    pub proven_token_version: Option<i32>,
}

/// The shared core of link and staff attach (DOMAIN.md invariants 1 and 2).
async fn attach_locked(
    txn: &DatabaseTransaction,
    actor: &Viewer,
    action: &'static str,
    req: AttachRequest,
    safety: Safety,
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
    check_expected_parent(&target, safety)?;
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
    AuditEntry::new(Some(actor.user.id), action, "Account", account.id)
        .family(Some(main.id))
        .before(before)
        .after(account_snapshot(&account))
        .record(txn)
        .await?;
    let event = Event::TreeChanged { kind: TreeChangeKind::Attached, main_account_id: main.id, account_id: account.id };
    Ok(Change { account, event: Some(event) })
}

/// What `linkAccount` asks for.
pub struct LinkRequest {
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
    request: LinkRequest,
    safety: Safety,
) -> AppResult<Change> {
    let LinkRequest { main_account_id, proof, friendly_name, group_id } = request;
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
    let change = attach_locked(&txn, viewer, "account.linked", request, safety).await?;
    finish(txn, safety).await?;
    Ok(change)
}

/// Staff attach an account to a main account, no proof needed.
pub async fn admin_attach(
    db: &DatabaseConnection,
    viewer: &Viewer,
    request: AttachRequest,
    safety: Safety,
) -> AppResult<Change> {
    crate::domain::accounts::require_staff(viewer)?;
    let txn = db.begin().await?;
    let change = attach_locked(&txn, viewer, "account.attached_by_staff", request, safety).await?;
    finish(txn, safety).await?;
    Ok(change)
}

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

/// Renames or regroups an account of a family (the main itself or a secondary).
pub async fn update_linked_account(
    db: &DatabaseConnection,
    viewer: &Viewer,
    account_id: i64,
    friendly_name: Option<String>,
    group_id: Option<i64>,
    safety: Safety,
) -> AppResult<Change> {
    let friendly_name = friendly_name.as_deref().map(|n| validate_name(n, "friendlyName")).transpose()?;
    let txn = db.begin().await?;
    let (main, account) = lock_account_and_main(&txn, viewer, account_id).await?;
    check_expected_parent(&account, safety)?;
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
    AuditEntry::new(Some(viewer.user.id), "account.updated", "Account", account.id)
        .family(Some(main.id))
        .before(before)
        .after(account_snapshot(&account))
        .record(&txn)
        .await?;
    finish(txn, safety).await?;
    let event = kind.map(|kind| Event::TreeChanged { kind, main_account_id: main.id, account_id: account.id });
    Ok(Change { account, event })
}

/// Typed settings of one account.
#[derive(Debug, Clone, Default)]
pub struct SettingsChange {
    /// `Some(None)` turns forwarding off.
    pub call_forwarding_to: Option<Option<String>>,
    pub paperless_billing: Option<bool>,
    pub ebill_notifications: Option<bool>,
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
    let before = json!({"callForwardingTo": account.call_forwarding_to, "paperlessBilling": account.paperless_billing, "ebillNotifications": account.ebill_notifications});
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
        .after(json!({"callForwardingTo": account.call_forwarding_to, "paperlessBilling": account.paperless_billing, "ebillNotifications": account.ebill_notifications}))
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(account)
}

/// One option value chosen in an order, checked against the product's option list.
fn check_order_options(product: &crate::entity::product::Model, options: &Value) -> AppResult<String> {
    #[derive(serde::Deserialize)]
    struct Definition {
        code: String,
        #[serde(default)]
        choices: Vec<String>,
        #[serde(default)]
        required: bool,
    }
    let definitions: Vec<Definition> = serde_json::from_str(&product.options).map_err(AppError::internal)?;
    let empty = serde_json::Map::new();
    let given = match options {
        Value::Object(map) => map,
        Value::Null => &empty,
        _ => {
            return Err(refuse(
                UserErrorCode::InvalidInput,
                "options must be an object of option code to value",
                "options",
            ));
        }
    };
    for (code, value) in given {
        let Some(definition) = definitions.iter().find(|d| &d.code == code) else {
            return Err(refuse(
                UserErrorCode::InvalidInput,
                &format!("{} takes no option `{code}`", product.code),
                "options",
            ));
        };
        let Some(text) = value.as_str() else {
            return Err(refuse(UserErrorCode::InvalidInput, &format!("option `{code}` must be text"), "options"));
        };
        if text.len() > 200 || (!definition.choices.is_empty() && !definition.choices.iter().any(|c| c == text)) {
            let allowed = definition.choices.join(", ");
            return Err(refuse(
                UserErrorCode::InvalidInput,
                &format!("option `{code}` must be one of: {allowed}"),
                "options",
            ));
        }
    }
    if let Some(missing) = definitions.iter().find(|d| d.required && !given.contains_key(&d.code)) {
        return Err(refuse(UserErrorCode::InvalidInput, &format!("option `{}` is required", missing.code), "options"));
    }
    Ok(Value::Object(given.clone()).to_string())
}

pub struct OrderRequest {
    pub main_account_id: Option<i64>,
    pub product_code: String,
    pub options: Value,
    pub friendly_name: Option<String>,
    pub group_id: Option<i64>,
}

/// Orders a new secondary account: it is created, attached and listed at once, and a
/// confirmation mail is queued.
pub async fn order_secondary_account(
    db: &DatabaseConnection,
    viewer: &Viewer,
    request: OrderRequest,
    safety: Safety,
) -> AppResult<(account_order::Model, Option<account::Model>, Option<Event>)> {
    let main_id = main_or_home(viewer, request.main_account_id)?;
    let friendly_name = request.friendly_name.as_deref().map(|n| validate_name(n, "friendlyName")).transpose()?;
    let txn = db.begin().await?;
    managed_main(&txn, viewer, main_id, "mainAccountId").await?;
    let main = lock_accounts(&txn, vec![main_id])
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
    let product = product_by_code(&txn, request.product_code.trim())
        .await?
        .filter(|p| p.orderable)
        .ok_or_else(|| AppError::User(refusal::not_found("orderable product", "product")))?;
    let options = check_order_options(&product, &request.options)?;
    let group_id = family_group(&txn, main.id, request.group_id).await?;
    let account = insert_account(
        &txn,
        NewAccount {
            holder_name: main.holder_name.clone(),
            contact_email: main.contact_email.clone(),
            product_id: product.id,
            parent_id: Some(main.id),
            friendly_name: friendly_name.clone(),
            group_id: Some(group_id),
        },
    )
    .await?;
    let order = account_order::ActiveModel {
        main_account_id: Set(main.id),
        product_id: Set(product.id),
        options: Set(options),
        friendly_name: Set(friendly_name),
        group_id: Set(Some(group_id)),
        status: Set(OrderStatus::Provisioned),
        failure_reason: Set(None),
        account_id: Set(Some(account.id)),
        ordered_by: Set(viewer.user.id),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    notify::queue(
        &txn,
        notify::Mail {
            kind: "order_confirmation",
            dedupe_key: format!("order:{}", order.id),
            recipient: viewer.user.email.clone(),
            subject: format!("Your order of {} is ready", product.name),
            body: format!(
                "Your new {} account {} was created and added to the family of {}.\n",
                product.name, account.customer_number, main.customer_number
            ),
        },
    )
    .await?;
    AuditEntry::new(Some(viewer.user.id), "account.ordered", "AccountOrder", order.id)
        .family(Some(main.id))
        .after(json!({"product": product.code, "accountId": account.id, "options": order.options}))
        .record(&txn)
        .await?;
    finish(txn, safety).await?;
    let event = Event::TreeChanged { kind: TreeChangeKind::Ordered, main_account_id: main.id, account_id: account.id };
    Ok((order, Some(account), Some(event)))
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

/// The logins of an account, for tests and the readiness report.
pub async fn logins_of(db: &impl ConnectionTrait, account_id: i64) -> AppResult<Vec<user::Model>> {
    Ok(user::Entity::find().filter(user::Column::HomeAccountId.eq(account_id)).all(db).await?)
}

pub use identity::SignedIn;
