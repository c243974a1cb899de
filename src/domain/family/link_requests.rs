//! Link requests: linking with consent, no secret shared (DOMAIN.md, "Link requests").
//!
//! A family asks by customer number only; the account's owner accepts or declines in
//! their own session.
//!
//! - **No enumeration.** Until the target accepts, the requester learns nothing about it.
//!   `request_link` answers alike whether or not the customer number names an account, and
//!   runs the same statements: the target is looked up either way, the request is stored
//!   either way (with no target when there is none; it simply expires), and the mail is
//!   queued by one `INSERT .. SELECT` that finds no recipients when there is no account.
//!   Refusals about the family's shape (SELF_ATTACH, ALREADY_ATTACHED) are given only
//!   for accounts the viewer already sees.
//! - **Expiry needs no job.** A PENDING request past `expires_at` reads EXPIRED everywhere
//!   ([`status_now`]) and cannot be decided. Its row is marked EXPIRED when its family
//!   asks again, so the one-pending-per-customer-number index never counts it.
//! - **Accepting is an attach**: `attach_locked`, under the same locks and checks as
//!   `linkAccount`, at the moment of acceptance (the target may have become a main or
//!   joined another family since).
//! - **Locks**, to stay free of cycles with the attach: a decision locks the request row,
//!   then the accounts (in id order). `request_link` marks the family's expired requests
//!   first, then locks the main account (which serialises the family's requests, so the
//!   pending limit holds under concurrency).

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QuerySelect, Set, TransactionTrait,
};
use serde_json::json;

use super::link::{AttachRequest, attach_locked};
use super::{Change, ChangeOptions, family_group, lock_active_main, main_or_home, managed_main};
use crate::domain::access::{LinkRequestSides, Viewer};
use crate::domain::accounts::validate_name;
use crate::domain::audit::AuditEntry;
use crate::domain::notify;
use crate::domain::refusal::{self, refuse};
use crate::entity::enums::{AccountStatus, LinkRequestStatus};
use crate::entity::{account, link_request};
use crate::error::{AppError, AppResult, UserError, UserErrorCode, unique_violation_as};

/// How long a request waits for a decision.
pub const LIFETIME_DAYS: i64 = 14;

/// Most pending requests one family may have at a time.
pub const MOST_PENDING_PER_FAMILY: usize = 20;

/// Longest message a requester may add (it is mailed to the target's logins).
const MESSAGE_MAX_CHARS: usize = 500;

/// The status a request has now: a PENDING one past its expiry reads EXPIRED.
pub fn status_now(request: &link_request::Model, now: DateTime<Utc>) -> LinkRequestStatus {
    match request.status {
        LinkRequestStatus::Pending if request.expires_at <= now => LinkRequestStatus::Expired,
        status => status,
    }
}

/// The SQL condition for requests whose status is `status` now (see [`status_now`]).
pub fn status_condition(status: LinkRequestStatus, now: DateTime<Utc>) -> Condition {
    let stored = |s: LinkRequestStatus| link_request::Column::Status.eq(s);
    match status {
        LinkRequestStatus::Pending => {
            Condition::all().add(stored(LinkRequestStatus::Pending)).add(link_request::Column::ExpiresAt.gt(now))
        }
        LinkRequestStatus::Expired => Condition::any().add(stored(LinkRequestStatus::Expired)).add(
            Condition::all().add(stored(LinkRequestStatus::Pending)).add(link_request::Column::ExpiresAt.lte(now)),
        ),
        other => Condition::all().add(stored(other)),
    }
}

/// What the deciding side sees of the family that asks: its main account's holder name
/// and customer number, so it can decide (DOMAIN.md). Nothing else of that family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestingMain {
    pub holder_name: String,
    pub customer_number: String,
}

impl From<&account::Model> for RequestingMain {
    fn from(main: &account::Model) -> Self {
        RequestingMain { holder_name: main.holder_name.clone(), customer_number: main.customer_number.clone() }
    }
}

/// A link request with the requesting family's public face.
#[derive(Debug, Clone)]
pub struct LinkRequestRecord {
    pub request: link_request::Model,
    pub requester: RequestingMain,
}

/// What `requestLink` asks for.
pub struct NewLinkRequest {
    /// Defaults to the viewer's home account.
    pub main_account_id: Option<i64>,
    pub customer_number: String,
    pub friendly_name: Option<String>,
    pub group_id: Option<i64>,
    pub message: Option<String>,
}

/// A customer number as printed on invoices: digits only. The format is public, so
/// refusing a malformed one tells nothing about which accounts exist.
fn check_customer_number(value: &str) -> AppResult<String> {
    let number = value.trim();
    if !(4..=20).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refuse(UserErrorCode::InvalidInput, "a customer number is 4 to 20 digits", "customerNumber"));
    }
    Ok(number.to_owned())
}

fn check_message(value: &str) -> AppResult<Option<String>> {
    let message = value.trim();
    let printable = message.chars().all(|c| c == '\n' || !c.is_control());
    if message.chars().count() > MESSAGE_MAX_CHARS || !printable {
        return Err(refuse(
            UserErrorCode::InvalidInput,
            "a message is at most 500 printable characters (line breaks allowed)",
            "message",
        ));
    }
    Ok((!message.is_empty()).then(|| message.to_owned()))
}

/// Marks the family's pending requests that are past their expiry as EXPIRED.
async fn mark_expired(txn: &DatabaseTransaction, main_id: i64, now: DateTime<Utc>) -> AppResult<()> {
    link_request::Entity::update_many()
        .col_expr(link_request::Column::Status, Expr::value(LinkRequestStatus::Expired))
        .filter(link_request::Column::MainAccountId.eq(main_id))
        .filter(link_request::Column::Status.eq(LinkRequestStatus::Pending))
        .filter(link_request::Column::ExpiresAt.lte(now))
        .exec(txn)
        .await?;
    Ok(())
}

fn duplicate_request() -> AppError {
    AppError::User(duplicate_request_error())
}

fn duplicate_request_error() -> UserError {
    UserError::new(
        UserErrorCode::DuplicateRequest,
        "your family already has a pending request for this customer number",
    )
    .at("customerNumber")
}

/// Asks to link the account with this customer number into the viewer's family. Needs
/// MANAGE_ACCOUNTS over the family. The answer is the same whether or not the number
/// names an account (see the module doc).
pub async fn request_link(
    db: &DatabaseConnection,
    viewer: &Viewer,
    new: NewLinkRequest,
) -> AppResult<LinkRequestRecord> {
    let main_id = main_or_home(viewer, new.main_account_id)?;
    let customer_number = check_customer_number(&new.customer_number)?;
    let friendly_name = new.friendly_name.as_deref().map(|n| validate_name(n, "friendlyName")).transpose()?;
    let message = new.message.as_deref().map(check_message).transpose()?.flatten();
    managed_main(db, viewer, main_id, "mainAccountId").await?;

    let now = Utc::now();
    let txn = db.begin().await?;
    mark_expired(&txn, main_id, now).await?;
    let main = lock_active_main(&txn, main_id).await?;
    let group_id = match new.group_id {
        Some(id) => Some(family_group(&txn, main.id, Some(id)).await?),
        None => None,
    };
    let target = account::Entity::find().filter(account::Column::CustomerNumber.eq(&customer_number)).one(&txn).await?;
    if let Some(target) = target.as_ref().filter(|t| viewer.can_see(t)) {
        if target.id == main.id {
            return Err(refuse(UserErrorCode::SelfAttach, "an account cannot be linked to itself", "customerNumber"));
        }
        if target.parent_id == Some(main.id) {
            return Err(refuse(
                UserErrorCode::AlreadyAttached,
                "this account is in your family already",
                "customerNumber",
            ));
        }
    }
    let pending: Vec<String> = link_request::Entity::find()
        .select_only()
        .column(link_request::Column::CustomerNumber)
        .filter(link_request::Column::MainAccountId.eq(main.id))
        .filter(link_request::Column::Status.eq(LinkRequestStatus::Pending))
        .into_tuple()
        .all(&txn)
        .await?;
    if pending.contains(&customer_number) {
        return Err(duplicate_request());
    }
    if pending.len() >= MOST_PENDING_PER_FAMILY {
        return Err(refuse(
            UserErrorCode::LimitReached,
            "your family has 20 pending link requests; cancel one or wait for decisions",
            "customerNumber",
        ));
    }

    let expires_at = now + Duration::days(LIFETIME_DAYS);
    let request = link_request::ActiveModel {
        main_account_id: Set(main.id),
        customer_number: Set(customer_number.clone()),
        target_account_id: Set(target.as_ref().map(|t| t.id)),
        friendly_name: Set(friendly_name.clone()),
        group_id: Set(group_id),
        message: Set(message.clone()),
        status: Set(LinkRequestStatus::Pending),
        requested_by: Set(Some(viewer.user.id)),
        decided_by: Set(None),
        created_at: Set(now),
        expires_at: Set(expires_at),
        decided_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|err| unique_violation_as(err, duplicate_request_error()))?;

    // A deactivated account's logins cannot sign in to decide: no mail for them.
    let recipients = target.as_ref().filter(|t| t.status == AccountStatus::Active).map(|t| t.id);
    let (subject, body) = request_mail(&main, &customer_number, message.as_deref(), expires_at);
    // One mail per family, recipient and day, however often the family asks and cancels.
    let dedupe_prefix = format!("link_request:{}:{}:user:", main.id, now.format("%Y-%m-%d"));
    notify::queue_to_logins_of(&txn, recipients, "link_request", &dedupe_prefix, &subject, &body).await?;

    // The audit event says what the requester typed, never which account it named.
    AuditEntry::new(Some(viewer.user.id), "link_request.created", "LinkRequest", request.id)
        .family(Some(main.id))
        .after(json!({
            "customerNumber": customer_number, "friendlyName": friendly_name, "groupId": group_id,
            "expiresAt": expires_at,
        }))
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(LinkRequestRecord { request, requester: RequestingMain::from(&main) })
}

/// The mail to the target's logins: who asks, and where to decide. No secret in it.
fn request_mail(
    main: &account::Model,
    customer_number: &str,
    message: Option<&str>,
    expires_at: DateTime<Utc>,
) -> (String, String) {
    let subject = format!("{} asks to link your account {customer_number}", main.holder_name);
    let mut body = format!(
        "{} (customer number {}) asks to add your account {customer_number} to their family of accounts.\n\
         Once linked, they see the account and its invoices in their portal.\n\n",
        main.holder_name, main.customer_number
    );
    if let Some(message) = message {
        body.push_str(&format!("Their message:\n{message}\n\n"));
    }
    body.push_str(&format!(
        "Sign in to the portal to accept or decline. If you do nothing, the request expires on {}.\n\
         Nobody at the portal will ask you for your password or enrollment token.\n",
        expires_at.format("%Y-%m-%d")
    ));
    (subject, body)
}

/// What a decision on a request needs of the viewer.
#[derive(Debug, Clone, Copy)]
enum Decision {
    Accept,
    Decline,
    Cancel,
}

impl Decision {
    fn allowed(self, sides: LinkRequestSides) -> bool {
        match self {
            Decision::Accept | Decision::Decline => sides.deciding,
            Decision::Cancel => sides.requesting,
        }
    }

    fn refusal(self) -> UserError {
        let message = match self {
            Decision::Accept | Decision::Decline => "only the owner of the account asked for decides this request",
            Decision::Cancel => "only the family that sent this request may cancel it",
        };
        UserError::new(UserErrorCode::NotPermitted, message).at("linkRequestId")
    }
}

fn no_such_request() -> AppError {
    AppError::User(refusal::not_found("link request", "linkRequestId"))
}

/// The request, locked, if the viewer is on one of its sides; then whether the decision
/// is theirs to make and whether the request can still be decided.
async fn lock_for_decision(
    txn: &DatabaseTransaction,
    viewer: &Viewer,
    request_id: i64,
    decision: Decision,
    now: DateTime<Utc>,
) -> AppResult<link_request::Model> {
    let request = link_request::Entity::find_by_id(request_id).lock_exclusive().one(txn).await?;
    let Some(request) = request else { return Err(no_such_request()) };
    let target = match request.target_account_id {
        Some(id) => account::Entity::find_by_id(id).one(txn).await?,
        None => None,
    };
    let sides = viewer.link_request_sides(request.main_account_id, target.as_ref());
    if !sides.any() {
        return Err(no_such_request());
    }
    if !decision.allowed(sides) {
        return Err(AppError::User(decision.refusal()));
    }
    if status_now(&request, now) != LinkRequestStatus::Pending {
        return Err(refuse(
            UserErrorCode::NotPending,
            "this request was decided, cancelled or has expired",
            "linkRequestId",
        ));
    }
    Ok(request)
}

/// Records the decision on the request row.
async fn decide(
    txn: &DatabaseTransaction,
    viewer: &Viewer,
    request: link_request::Model,
    status: LinkRequestStatus,
    now: DateTime<Utc>,
) -> AppResult<link_request::Model> {
    let mut active: link_request::ActiveModel = request.into();
    active.status = Set(status);
    active.decided_by = Set(Some(viewer.user.id));
    active.decided_at = Set(Some(now));
    Ok(active.update(txn).await?)
}

async fn with_requester(txn: &impl ConnectionTrait, request: link_request::Model) -> AppResult<LinkRequestRecord> {
    let main = account::Entity::find_by_id(request.main_account_id)
        .one(txn)
        .await?
        .ok_or_else(|| AppError::internal("a link request without its main account"))?;
    Ok(LinkRequestRecord { requester: RequestingMain::from(&main), request })
}

/// A user errors of the attach, named at the request: the input a client sent.
fn at_request(err: AppError) -> AppError {
    match err {
        AppError::User(user_error) => AppError::User(user_error.at("linkRequestId")),
        other => other,
    }
}

/// The target's owner accepts: the account joins the requesting family, with every attach
/// invariant checked now (`attach_locked`).
pub async fn accept_link_request(
    db: &DatabaseConnection,
    viewer: &Viewer,
    request_id: i64,
) -> AppResult<(LinkRequestRecord, Change)> {
    let now = Utc::now();
    let txn = db.begin().await?;
    let request = lock_for_decision(&txn, viewer, request_id, Decision::Accept, now).await?;
    let target_id = request.target_account_id.ok_or_else(no_such_request)?;
    let attach = AttachRequest {
        main_id: request.main_account_id,
        target_id,
        friendly_name: request.friendly_name.clone(),
        group_id: request.group_id,
        proven_token_version: None,
    };
    let change = attach_locked(&txn, viewer, "account.linked_by_request", attach, ChangeOptions::default())
        .await
        .map_err(at_request)?;
    let request = decide(&txn, viewer, request, LinkRequestStatus::Accepted, now).await?;
    let record = with_requester(&txn, request).await?;
    txn.commit().await?;
    Ok((record, change))
}

/// The target's owner declines; nothing else changes.
pub async fn decline_link_request(
    db: &DatabaseConnection,
    viewer: &Viewer,
    request_id: i64,
) -> AppResult<LinkRequestRecord> {
    close_request(db, viewer, request_id, Decision::Decline).await
}

/// The requesting family withdraws its request.
pub async fn cancel_link_request(
    db: &DatabaseConnection,
    viewer: &Viewer,
    request_id: i64,
) -> AppResult<LinkRequestRecord> {
    close_request(db, viewer, request_id, Decision::Cancel).await
}

async fn close_request(
    db: &DatabaseConnection,
    viewer: &Viewer,
    request_id: i64,
    decision: Decision,
) -> AppResult<LinkRequestRecord> {
    let now = Utc::now();
    let txn = db.begin().await?;
    let request = lock_for_decision(&txn, viewer, request_id, decision, now).await?;
    let (status, action, family) = match decision {
        // A decline goes in the log of the account that declined (if it heads a family),
        // not in the requester's: who declined is the target's business.
        Decision::Decline => (LinkRequestStatus::Declined, "link_request.declined", request.target_account_id),
        Decision::Cancel => (LinkRequestStatus::Cancelled, "link_request.cancelled", Some(request.main_account_id)),
        Decision::Accept => return Err(AppError::internal("an acceptance goes through accept_link_request")),
    };
    let request = decide(&txn, viewer, request, status, now).await?;
    AuditEntry::new(Some(viewer.user.id), action, "LinkRequest", request.id)
        .family(family)
        .before(json!({"status": LinkRequestStatus::Pending}))
        .after(json!({"status": status}))
        .record(&txn)
        .await?;
    let record = with_requester(&txn, request).await?;
    txn.commit().await?;
    Ok(record)
}
