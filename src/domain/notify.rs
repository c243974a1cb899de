//! The transactional outbox: mail is queued in the same transaction as the change that
//! causes it, and delivered later by the worker (at least once, never twice per key).

use sea_orm::{ConnectionTrait, EntityTrait, Set};

use crate::entity::enums::OutboxStatus;
use crate::entity::outbox;
use crate::error::AppResult;

/// Kinds of mail whose body holds a secret (an invitation code): the body is cleared once
/// the mail went out, or once it will never go out, so the secret does not rest in the
/// database longer than its delivery needs.
pub const SECRET_KINDS: [&str; 1] = ["invitation"];

/// What a cleared body says instead.
pub const CLEARED_BODY: &str = "[cleared after delivery: this mail held a secret]";

/// One mail to queue. `dedupe_key` names it: queuing the same key twice queues it once.
pub struct Mail {
    pub kind: &'static str,
    pub dedupe_key: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
}

pub async fn queue(txn: &impl ConnectionTrait, mail: Mail) -> AppResult<()> {
    let now = chrono::Utc::now();
    let row = outbox::ActiveModel {
        kind: Set(mail.kind.to_owned()),
        dedupe_key: Set(mail.dedupe_key),
        recipient: Set(mail.recipient),
        subject: Set(mail.subject),
        body: Set(mail.body),
        status: Set(OutboxStatus::Pending),
        attempts: Set(0),
        next_attempt_at: Set(now),
        last_error: Set(None),
        created_at: Set(now),
        sent_at: Set(None),
        ..Default::default()
    };
    outbox::Entity::insert(row).on_conflict_do_nothing_on([outbox::Column::DedupeKey]).exec(txn).await?;
    Ok(())
}

/// Queues one mail to every login of an account, in a single statement whatever the number
/// of recipients, none included (`account_id` None, or an account without logins). A
/// caller whose answer must not tell whether an account exists (a link request by customer
/// number) runs the same statement either way. Each recipient's `dedupe_key` is
/// `dedupe_prefix` followed by their user id.
pub async fn queue_to_logins_of(
    txn: &impl ConnectionTrait,
    account_id: Option<i64>,
    kind: &'static str,
    dedupe_prefix: &str,
    subject: &str,
    body: &str,
) -> AppResult<()> {
    let backend = txn.get_database_backend();
    // Written with PostgreSQL's $n placeholders; SQLite takes ?n.
    let sql = "INSERT INTO outbox (kind, dedupe_key, recipient, subject, body, status, attempts, next_attempt_at, created_at) \
               SELECT $1, $2 || CAST(u.id AS TEXT), u.email, $3, $4, 'PENDING', 0, $5, $5 FROM users u \
               WHERE u.home_account_id = $6 ON CONFLICT (dedupe_key) DO NOTHING";
    let sql = if backend == sea_orm::DbBackend::Postgres { sql.to_owned() } else { sql.replace('$', "?") };
    let values: Vec<sea_orm::Value> = vec![
        kind.into(),
        dedupe_prefix.into(),
        subject.into(),
        body.into(),
        chrono::Utc::now().into(),
        account_id.unwrap_or(-1).into(),
    ];
    txn.execute_raw(sea_orm::Statement::from_sql_and_values(backend, sql, values)).await?;
    Ok(())
}
