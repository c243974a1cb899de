//! Logins and sessions: enrollment, sign-in and sign-out, staff creation.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter,
    Set, TransactionTrait,
};
use serde_json::json;

use crate::config::Settings;
use crate::crypto::{self, PasswordCheck};
use crate::db::Reads;
use crate::domain::access::Viewer;
use crate::domain::accounts::{bump_token_version, lock_account, validate_email};
use crate::domain::audit::AuditEntry;
use crate::domain::{lockout, refusal};
use crate::entity::enums::AccountStatus;
use crate::entity::{account, group, group_member, session, user};
use crate::error::{AppError, AppResult, UserError, UserErrorCode, unique_violation_as};

/// A new session: the bearer token (shown once) and its user.
pub struct SignedIn {
    pub token: String,
    pub user: user::Model,
}

pub const MIN_PASSWORD_CHARS: usize = 12;
const DENIED_PASSWORDS: &[&str] = &[
    "password",
    "password1",
    "password123",
    "123456789012",
    "qwertyuiopas",
    "letmein12345",
    "iloveyou1234",
    "welcome12345",
    "adminadmin12",
    "changeme1234",
    "passwordpassword",
    "000000000000",
    "111111111111",
];

/// The password rule, said in full in the error so people know what to type.
pub fn check_password_rule(password: &str, login_name: &str) -> AppResult<()> {
    let chars = password.chars().count();
    let lowered = password.to_lowercase();
    let weak = !(MIN_PASSWORD_CHARS..=256).contains(&chars)
        || DENIED_PASSWORDS.contains(&lowered.as_str())
        || lowered == login_name.to_lowercase()
        || password.chars().all(|c| c == password.chars().next().unwrap_or(c));
    if weak {
        return Err(AppError::User(
            UserError::new(
                UserErrorCode::WeakPassword,
                format!(
                    "passwords need {MIN_PASSWORD_CHARS} to 256 characters, must differ from the login name and must not be a common password"
                ),
            )
            .at("password"),
        ));
    }
    Ok(())
}

/// Login names: 3 to 64 characters of letters, digits and `. _ - @`; unique ignoring case.
pub fn check_login_name(login_name: &str) -> AppResult<String> {
    let name = login_name.trim();
    let ok = (3..=64).contains(&name.chars().count())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if !ok {
        return Err(AppError::User(
            UserError::new(UserErrorCode::InvalidInput, "login names have 3 to 64 letters, digits or . _ - @")
                .at("loginName"),
        ));
    }
    Ok(name.to_owned())
}

pub fn login_key(login_name: &str) -> String {
    login_name.trim().to_lowercase()
}

pub struct EnrollInput {
    pub customer_number: String,
    pub enrollment_token: String,
    pub login_name: String,
    pub password: String,
    pub email: String,
}

fn invalid_proof() -> AppError {
    AppError::User(refusal::token_mismatch())
}

/// Checks an enrollment-token proof, counting the attempt first. Unknown customer numbers
/// and wrong tokens answer alike.
pub async fn verify_token_proof(
    db: &DatabaseConnection,
    settings: &Settings,
    client: &str,
    customer_number: &str,
    token: &str,
) -> AppResult<account::Model> {
    let number = customer_number.trim();
    let attempt = lockout::begin_attempt(db, &format!("customer:{number}"), client).await?;
    let account = account::Entity::find().filter(account::Column::CustomerNumber.eq(number)).one(db).await?;
    // Check against a made-up account when there is none, so both cases cost the same.
    let (id, version) = account.as_ref().map(|a| (a.id, a.token_version)).unwrap_or((-1, 0));
    let matches = crypto::enrollment_token_matches(&settings.secret, id, version, token);
    match account {
        Some(account) if matches => {
            attempt.succeeded(db).await?;
            Ok(account)
        }
        _ => {
            attempt.failed("enrollment_token");
            Err(invalid_proof())
        }
    }
}

pub async fn enroll(
    db: &DatabaseConnection,
    settings: &Settings,
    client: &str,
    input: EnrollInput,
) -> AppResult<SignedIn> {
    let login_name = check_login_name(&input.login_name)?;
    check_password_rule(&input.password, &login_name)?;
    let email = validate_email(&input.email, "email")?;
    let proven = verify_token_proof(db, settings, client, &input.customer_number, &input.enrollment_token).await?;
    // Hash before the transaction: it is slow and needs no database.
    let password_hash = crypto::hash_password(input.password, settings.password_params).await?;

    let txn = db.begin().await?;
    let account = lock_account(&txn, proven.id).await?.ok_or_else(invalid_proof)?;
    if account.token_version != proven.token_version {
        // Someone enrolled or linked with this token meanwhile: it is spent.
        return Err(invalid_proof());
    }
    let reactivating = account.status == AccountStatus::Deactivated;
    if !reactivating && has_logins(&txn, account.id).await? {
        return Err(AppError::user(
            UserErrorCode::AlreadyAttached,
            "this account is already enrolled; sign in with its login, or ask its owner for an invitation",
        ));
    }
    let user = insert_user(&txn, &login_name, &email, password_hash, false, Some(account.id)).await?;
    let mut account = bump_token_version(&txn, account).await?;
    if reactivating {
        let mut active: account::ActiveModel = account.into();
        active.status = Set(AccountStatus::Active);
        account = active.update(&txn).await?;
    }
    AuditEntry::new(Some(user.id), "account.enrolled", "Account", account.id)
        .family(Some(account.parent_id.unwrap_or(account.id)))
        .after(json!({"loginName": user.login_name, "reactivated": reactivating}))
        .record(&txn)
        .await?;
    let token = open_session(&txn, settings, user.id).await?;
    txn.commit().await?;
    Ok(SignedIn { token, user })
}

async fn has_logins(db: &impl ConnectionTrait, account_id: i64) -> AppResult<bool> {
    Ok(user::Entity::find().filter(user::Column::HomeAccountId.eq(account_id)).one(db).await?.is_some())
}

pub async fn insert_user(
    txn: &DatabaseTransaction,
    login_name: &str,
    email: &str,
    password_hash: String,
    is_staff: bool,
    home_account_id: Option<i64>,
) -> AppResult<user::Model> {
    let now = chrono::Utc::now();
    let row = user::ActiveModel {
        login_name: Set(login_name.to_owned()),
        login_key: Set(login_key(login_name)),
        email: Set(email.to_owned()),
        password_hash: Set(password_hash),
        is_staff: Set(is_staff),
        home_account_id: Set(home_account_id),
        notifications_enabled: Set(true),
        created_at: Set(now),
        password_changed_at: Set(now),
        ..Default::default()
    };
    // Checked first for a clear answer; the unique index settles races.
    if user::Entity::find().filter(user::Column::LoginKey.eq(login_key(login_name))).one(txn).await?.is_some() {
        return Err(AppError::User(login_taken()));
    }
    let savepoint = txn.begin().await?;
    match row.insert(&savepoint).await {
        Ok(user) => {
            savepoint.commit().await?;
            Ok(user)
        }
        Err(err) => Err(unique_violation_as(err, login_taken())),
    }
}

fn login_taken() -> UserError {
    UserError::new(UserErrorCode::DuplicateName, "that login name is taken").at("loginName")
}

fn wrong_login() -> AppError {
    AppError::user(UserErrorCode::InvalidProof, "wrong login name or password")
}

/// Checks a login name and password, counting the attempt first. Unknown logins and
/// wrong passwords answer alike and take the same time. Used by `login` and by
/// `linkAccount`'s credentials proof.
pub async fn verify_credentials(
    db: &DatabaseConnection,
    settings: &Settings,
    client: &str,
    login_name: &str,
    password: &str,
) -> AppResult<user::Model> {
    // The check runs to its end in a task of its own: a client that hangs up mid-check
    // must not leave its attempt counted as a failure (nor skip counting a wrong one).
    let (db, params, client) = (db.clone(), settings.password_params, client.to_owned());
    let (login_name, password) = (login_name.to_owned(), password.to_owned());
    let check = async move { check_credentials(&db, params, &client, &login_name, &password).await };
    tokio::spawn(tracing::Instrument::in_current_span(check)).await?
}

async fn check_credentials(
    db: &DatabaseConnection,
    params: crypto::PasswordParams,
    client: &str,
    login_name: &str,
    password: &str,
) -> AppResult<user::Model> {
    let key = login_key(login_name);
    let attempt = lockout::begin_attempt(db, &format!("login:{key}"), client).await?;
    let found = user::Entity::find().filter(user::Column::LoginKey.eq(key)).one(db).await?;
    let check =
        crypto::verify_password(password.to_owned(), found.as_ref().map(|u| u.password_hash.clone()), params).await?;
    let Some(user) = found.filter(|_| check != PasswordCheck::Wrong) else {
        attempt.failed("password");
        return Err(wrong_login());
    };
    attempt.succeeded(db).await?;
    if check == PasswordCheck::RightNeedsRehash {
        let fresh = crypto::hash_password(password.to_owned(), params).await?;
        let mut active: user::ActiveModel = user.clone().into();
        active.password_hash = Set(fresh);
        active.update(db).await?;
    }
    Ok(user)
}

/// Refuses logins whose home account is deactivated ("removed").
pub async fn ensure_may_sign_in(db: &impl ConnectionTrait, user: &user::Model) -> AppResult<()> {
    if let Some(home) = user.home_account_id {
        let active = account::Entity::find_by_id(home)
            .filter(account::Column::Status.eq(AccountStatus::Active))
            .one(db)
            .await?
            .is_some();
        if !active {
            return Err(AppError::user(UserErrorCode::NotActive, "this login's account is deactivated"));
        }
    }
    Ok(())
}

pub async fn login(
    db: &DatabaseConnection,
    settings: &Settings,
    client: &str,
    login_name: &str,
    password: &str,
) -> AppResult<SignedIn> {
    let user = verify_credentials(db, settings, client, login_name, password).await?;
    ensure_may_sign_in(db, &user).await?;
    let txn = db.begin().await?;
    let token = open_session(&txn, settings, user.id).await?;
    AuditEntry::new(Some(user.id), "user.signed_in", "User", user.id).record(&txn).await?;
    txn.commit().await?;
    Ok(SignedIn { token, user })
}

pub async fn open_session(txn: &impl ConnectionTrait, settings: &Settings, user_id: i64) -> AppResult<String> {
    let token = crypto::new_random_token("cnp_");
    let now = chrono::Utc::now();
    session::ActiveModel {
        user_id: Set(user_id),
        token_hash: Set(crypto::sha256_hex(&token)),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(now + settings.session_idle),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(token)
}

pub async fn logout(db: &DatabaseConnection, session_id: i64, user_id: i64) -> AppResult<()> {
    let txn = db.begin().await?;
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, sea_orm::sea_query::Expr::value(chrono::Utc::now()))
        .filter(session::Column::Id.eq(session_id))
        .exec(&txn)
        .await?;
    AuditEntry::new(Some(user_id), "user.signed_out", "User", user_id).record(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// Revokes every live session of the logins of an account (deactivation, password change).
pub async fn revoke_sessions_of_account(txn: &impl ConnectionTrait, account_id: i64) -> AppResult<()> {
    let users = sea_orm::sea_query::Query::select()
        .column(user::Column::Id)
        .from(user::Entity)
        .and_where(user::Column::HomeAccountId.eq(account_id))
        .to_owned();
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, sea_orm::sea_query::Expr::value(chrono::Utc::now()))
        .filter(session::Column::UserId.in_subquery(users))
        .filter(session::Column::RevokedAt.is_null())
        .exec(txn)
        .await?;
    Ok(())
}

/// A live session and the viewer behind it.
pub struct Authenticated {
    pub session_id: i64,
    pub viewer: Viewer,
    /// The login was enrolled for an account that is no longer active ("removed"): it may
    /// not sign in any more.
    pub home_deactivated: bool,
}

/// The viewer and session behind a bearer token, checked as every request and every
/// websocket operation and event checks it: `Ok(None)` when no token was given, and
/// UNAUTHENTICATED for a token that is not (or no longer) a live session, or whose login's
/// account was removed.
pub async fn live_viewer(reads: &Reads, settings: &Settings, token: Option<&str>) -> AppResult<Option<(Viewer, i64)>> {
    let Some(token) = token else { return Ok(None) };
    match authenticate(reads, settings, token).await? {
        Some(found) if !found.home_deactivated => Ok(Some((found.viewer, found.session_id))),
        // A removed account's logins may not sign in; an ended session is no session.
        _ => Err(AppError::Unauthenticated),
    }
}

/// The session, user and grants behind a bearer token, if it is live: one statement, as
/// this runs before every request (sessions ⋈ users ⟕ active home account ⟕ groups the
/// user is a member of; one row per group, at least one). Renews the session's idle
/// expiry at most once a minute, so reads do not turn into writes on every request.
pub async fn authenticate(reads: &Reads, settings: &Settings, token: &str) -> AppResult<Option<Authenticated>> {
    authenticate_session(reads, settings, SessionKey::TokenHash(crypto::sha256_hex(token))).await
}

/// How a session is looked up: by its token's hash (a request), or by its id (a websocket
/// checking the session it was opened with again, at each operation and event).
pub enum SessionKey {
    TokenHash(String),
    Id(i64),
}

/// The viewer of a session known by id, checked as `live_viewer` checks a token.
pub async fn live_session(reads: &Reads, settings: &Settings, session_id: i64) -> AppResult<Viewer> {
    match authenticate_session(reads, settings, SessionKey::Id(session_id)).await? {
        Some(found) if !found.home_deactivated => Ok(found.viewer),
        _ => Err(AppError::Unauthenticated),
    }
}

async fn authenticate_session(reads: &Reads, settings: &Settings, key: SessionKey) -> AppResult<Option<Authenticated>> {
    let now = chrono::Utc::now();
    let rows = reads.fetch_all(session_statement(reads.db().get_database_backend(), key, now)).await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    // By position, in `session_query`'s order: seven session, home and group columns,
    // then the user's (by name, this was the statement's costliest part).
    let session_id: i64 = first.try_get_by_index(0)?;
    let created_at: chrono::DateTime<chrono::Utc> = first.try_get_by_index(1)?;
    let last_seen_at: chrono::DateTime<chrono::Utc> = first.try_get_by_index(2)?;
    let home_account_id: Option<i64> = first.try_get_by_index(3)?;
    let user = user_at(first, 7)?;
    let mut memberships = Vec::new();
    for row in &rows {
        let group: Option<i64> = row.try_get_by_index(4)?;
        if let Some(group) = group {
            let main: i64 = row.try_get_by_index(5)?;
            let permissions: String = row.try_get_by_index(6)?;
            memberships.push((group, main, permissions));
        }
    }
    if now - last_seen_at > chrono::Duration::minutes(1) {
        let hard_end = created_at + settings.session_max;
        let expires_at = (now + settings.session_idle).min(hard_end);
        session::Entity::update_many()
            .col_expr(session::Column::LastSeenAt, sea_orm::sea_query::Expr::value(now))
            .col_expr(session::Column::ExpiresAt, sea_orm::sea_query::Expr::value(expires_at))
            .filter(session::Column::Id.eq(session_id))
            .exec(reads.db())
            .await?;
    }
    let home_deactivated = user.home_account_id.is_some() && home_account_id.is_none();
    let viewer = Viewer::from_grants(user, home_account_id, memberships);
    Ok(Some(Authenticated { session_id, viewer, home_deactivated }))
}

/// The user columns, in the order `session_query` selects them and `user_at` reads them.
const USER_COLUMNS: [user::Column; 10] = [
    user::Column::Id,
    user::Column::LoginName,
    user::Column::LoginKey,
    user::Column::Email,
    user::Column::PasswordHash,
    user::Column::IsStaff,
    user::Column::HomeAccountId,
    user::Column::NotificationsEnabled,
    user::Column::CreatedAt,
    user::Column::PasswordChangedAt,
];

/// A user from `USER_COLUMNS` at positions `at..at + 10`.
fn user_at(row: &sea_orm::QueryResult, at: usize) -> Result<user::Model, sea_orm::DbErr> {
    Ok(user::Model {
        id: row.try_get_by_index(at)?,
        login_name: row.try_get_by_index(at + 1)?,
        login_key: row.try_get_by_index(at + 2)?,
        email: row.try_get_by_index(at + 3)?,
        password_hash: row.try_get_by_index(at + 4)?,
        is_staff: row.try_get_by_index(at + 5)?,
        home_account_id: row.try_get_by_index(at + 6)?,
        notifications_enabled: row.try_get_by_index(at + 7)?,
        created_at: row.try_get_by_index(at + 8)?,
        password_changed_at: row.try_get_by_index(at + 9)?,
    })
}

/// `session_query` for `backend`, its text built once per backend and key kind: the
/// statement runs before every request and only its values change (building it with
/// sea-query was a tenth of an `openItems` request's CPU). Its values are, in order, the
/// home account's status, the key and the time (`the_cached_session_statement_is_the_built_one`).
fn session_statement(
    backend: sea_orm::DbBackend,
    key: SessionKey,
    now: chrono::DateTime<chrono::Utc>,
) -> sea_orm::Statement {
    use std::sync::OnceLock;

    static TEXT: [OnceLock<String>; 4] = [const { OnceLock::new() }; 4];
    let slot = match (backend, &key) {
        (sea_orm::DbBackend::Postgres, SessionKey::TokenHash(_)) => 0,
        (sea_orm::DbBackend::Postgres, SessionKey::Id(_)) => 1,
        (sea_orm::DbBackend::Sqlite, SessionKey::TokenHash(_)) => 2,
        (sea_orm::DbBackend::Sqlite, SessionKey::Id(_)) => 3,
        _ => return backend.build(&session_query(key, now)),
    };
    let key_value = match &key {
        SessionKey::TokenHash(hash) => sea_orm::Value::from(hash.clone()),
        SessionKey::Id(id) => sea_orm::Value::from(*id),
    };
    let text = TEXT[slot].get_or_init(|| backend.build(&session_query(key, now)).sql);
    let values = [
        sea_orm::Value::from(sea_orm::ActiveEnum::to_value(&AccountStatus::Active)),
        key_value,
        sea_orm::Value::from(now),
    ];
    sea_orm::Statement::from_sql_and_values(backend, text.as_str(), values)
}

/// The statement behind `authenticate`.
fn session_query(key: SessionKey, now: chrono::DateTime<chrono::Utc>) -> sea_orm::sea_query::SelectStatement {
    use sea_orm::sea_query::{Alias, Expr, JoinType, Query};
    use sea_orm::{ExprTrait, IdenStatic};

    let home = Alias::new("home");
    let mut select = Query::select();
    select
        .expr_as(Expr::col((session::Entity, session::Column::Id)), Alias::new("s_id"))
        .expr_as(Expr::col((session::Entity, session::Column::CreatedAt)), Alias::new("s_created_at"))
        .expr_as(Expr::col((session::Entity, session::Column::LastSeenAt)), Alias::new("s_last_seen_at"))
        .expr_as(Expr::col((home.clone(), account::Column::Id)), Alias::new("home_active_id"))
        .expr_as(Expr::col((group::Entity, group::Column::Id)), Alias::new("g_id"))
        .expr_as(Expr::col((group::Entity, group::Column::MainAccountId)), Alias::new("g_main_account_id"))
        .expr_as(Expr::col((group::Entity, group::Column::Permissions)), Alias::new("g_permissions"));
    for column in USER_COLUMNS {
        select.expr_as(Expr::col((user::Entity, column)), Alias::new(format!("u_{}", column.as_str())));
    }
    select
        .from(session::Entity)
        .inner_join(
            user::Entity,
            Expr::col((user::Entity, user::Column::Id)).equals((session::Entity, session::Column::UserId)),
        )
        .join_as(
            JoinType::LeftJoin,
            account::Entity,
            home.clone(),
            Expr::col((home.clone(), account::Column::Id))
                .equals((user::Entity, user::Column::HomeAccountId))
                .and(Expr::col((home, account::Column::Status)).eq(AccountStatus::Active)),
        )
        .left_join(
            group_member::Entity,
            Expr::col((group_member::Entity, group_member::Column::UserId)).equals((user::Entity, user::Column::Id)),
        )
        .left_join(
            group::Entity,
            Expr::col((group::Entity, group::Column::Id)).equals((group_member::Entity, group_member::Column::GroupId)),
        )
        .and_where(match key {
            SessionKey::TokenHash(hash) => Expr::col((session::Entity, session::Column::TokenHash)).eq(hash),
            SessionKey::Id(id) => Expr::col((session::Entity, session::Column::Id)).eq(id),
        })
        .and_where(Expr::col((session::Entity, session::Column::RevokedAt)).is_null())
        .and_where(Expr::col((session::Entity, session::Column::ExpiresAt)).gt(now));
    select
}

/// `canopy create-staff`: a staff login.
pub async fn create_staff(
    db: &DatabaseConnection,
    settings: &Settings,
    login_name: &str,
    password: String,
    email: &str,
) -> AppResult<user::Model> {
    let login_name = check_login_name(login_name)?;
    check_password_rule(&password, &login_name)?;
    let email = validate_email(email, "email")?;
    let hash = crypto::hash_password(password, settings.password_params).await?;
    let txn = db.begin().await?;
    let user = insert_user(&txn, &login_name, &email, hash, true, None).await?;
    AuditEntry::new(None, "user.staff_created", "User", user.id)
        .after(json!({"loginName": user.login_name}))
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(user)
}

pub async fn find_by_login(db: &impl ConnectionTrait, login_name: &str) -> AppResult<Option<user::Model>> {
    Ok(user::Entity::find().filter(user::Column::LoginKey.eq(login_key(login_name))).one(db).await?)
}

pub async fn user_by_id(db: &impl ConnectionTrait, id: i64) -> AppResult<user::Model> {
    user::Entity::find_by_id(id).one(db).await?.ok_or_else(|| AppError::internal(format!("user {id} vanished")))
}

/// Changes the signed-in user's password: the current one proves it is them. Every other
/// session of the login is revoked; the one in use stays.
pub async fn change_password(
    db: &DatabaseConnection,
    settings: &Settings,
    client: &str,
    user: &user::Model,
    session_id: i64,
    current_password: &str,
    new_password: String,
) -> AppResult<()> {
    check_password_rule(&new_password, &user.login_name)?;
    let verified =
        verify_credentials(db, settings, client, &user.login_name, current_password).await.map_err(|e| match e {
            AppError::User(u) if u.code == UserErrorCode::InvalidProof => AppError::User(
                UserError::new(UserErrorCode::InvalidProof, "the current password is wrong").at("currentPassword"),
            ),
            other => other,
        })?;
    let hash = crypto::hash_password(new_password, settings.password_params).await?;
    let txn = db.begin().await?;
    let now = chrono::Utc::now();
    let mut active: user::ActiveModel = verified.into();
    active.password_hash = Set(hash);
    active.password_changed_at = Set(now);
    active.update(&txn).await?;
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, sea_orm::sea_query::Expr::value(now))
        .filter(session::Column::UserId.eq(user.id))
        .filter(session::Column::Id.ne(session_id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    AuditEntry::new(Some(user.id), "user.password_changed", "User", user.id).record(&txn).await?;
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use sea_orm::{DbBackend, Iterable};

    use super::{SessionKey, USER_COLUMNS, session_query, session_statement};
    use crate::entity::user;

    /// The cached statement is the one sea-query builds, text and values, for both
    /// backends and both keys (its values are set by hand in `session_statement`).
    #[test]
    fn the_cached_session_statement_is_the_built_one() {
        let now = chrono::Utc::now();
        let keys = || [SessionKey::TokenHash("ab12".to_owned()), SessionKey::Id(42)];
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            for _ in 0..2 {
                for (cached, built) in keys().into_iter().zip(keys()) {
                    let cached = session_statement(backend, cached, now);
                    let built = backend.build(&session_query(built, now));
                    assert_eq!(cached.sql, built.sql);
                    assert_eq!(cached.values, built.values);
                }
            }
        }
    }

    /// `user_at` reads every column of `users`, each once.
    #[test]
    fn the_session_reads_every_user_column() {
        let mut names: Vec<String> = USER_COLUMNS.iter().map(|c| format!("{c:?}")).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), user::Column::iter().count());
    }
}
