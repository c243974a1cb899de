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
