//! The outbox worker: delivers queued mail (see `notify`) at least once, and never
//! twice per row while workers behave.
//!
//! A worker claims due rows (PENDING, or FAILED and due for a retry) in a short
//! transaction: on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so concurrent workers of any
//! number of processes pick disjoint rows; on SQLite the single connection serialises
//! claims. Claiming leases a row (its `next_attempt_at` moves `LEASE` ahead and
//! `attempts` counts up) and commits, so no transaction stays open while SMTP talks. Then
//! each mail is sent and marked SENT, or FAILED with `last_error` and an exponential
//! backoff. A worker that dies mid-send leaves its lease to expire and the row is sent
//! again (at least once). After `MAX_ATTEMPTS` a FAILED row stays for an operator.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use crate::config::Settings;
use crate::entity::enums::OutboxStatus;
use crate::entity::outbox;
use crate::error::{AppError, AppResult};

/// How long a claimed row is reserved for the worker sending it (longer than any send).
pub const LEASE: Duration = Duration::from_secs(5 * 60);
/// Sends per row before it is left FAILED for good.
pub const MAX_ATTEMPTS: i32 = 10;
const SMTP_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_secs(5);
const BATCH: u64 = 50;

/// Where mail goes. `Err` carries a reason safe to store in `last_error`.
#[async_trait]
pub trait MailSender: Send + Sync {
    async fn send(&self, mail: &outbox::Model) -> Result<(), String>;
}

/// Writes mails to the log instead of sending them (no SMTP configured). Only the kind,
/// recipient and subject are logged: bodies carry secrets such as invitation codes.
pub struct LogSender;

/// The log line of a mail: never its body.
pub fn describe(mail: &outbox::Model) -> String {
    format!("{} mail to {}: {}", mail.kind, mail.recipient, mail.subject)
}

#[async_trait]
impl MailSender for LogSender {
    async fn send(&self, mail: &outbox::Model) -> Result<(), String> {
        tracing::info!(outbox_id = mail.id, "{} (no CANOPY_SMTP_URL: not sent)", describe(mail));
        Ok(())
    }
}

/// Sends over SMTP with lettre (rustls for TLS).
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpSender {
    /// `url` as lettre reads it: `smtp://host:port` (plain), `smtp://host?tls=required`
    /// (STARTTLS), `smtps://user:pass@host` (TLS).
    pub fn new(url: &str, from: &str) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            // The URL may hold a password: never repeat it in the error.
            .map_err(|_| anyhow::anyhow!("CANOPY_SMTP_URL is not a valid smtp:// or smtps:// URL"))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let from = from.parse().map_err(|e| anyhow::anyhow!("CANOPY_MAIL_FROM is not a mailbox: {e}"))?;
        Ok(SmtpSender { transport, from })
    }
}

#[async_trait]
impl MailSender for SmtpSender {
    async fn send(&self, mail: &outbox::Model) -> Result<(), String> {
        let to: Mailbox = mail.recipient.parse().map_err(|e| format!("bad recipient: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| format!("cannot build the message: {e}"))?;
        self.transport.send(message).await.map(|_| ()).map_err(|e| format!("smtp: {e}"))
    }
}

/// The configured sender: SMTP when `smtp_url` is set, else the log.
pub fn sender_from_settings(settings: &Settings) -> anyhow::Result<Arc<dyn MailSender>> {
    match &settings.smtp_url {
        Some(url) => {
            let url = std::str::from_utf8(url.expose())?;
            Ok(Arc::new(SmtpSender::new(url, &settings.mail_from)?))
        }
        None => {
            tracing::warn!("CANOPY_SMTP_URL is not set: mails are written to the log, not sent");
            Ok(Arc::new(LogSender))
        }
    }
}

/// Wait before the next try after `attempts` failed sends: 30 s, 1 min, 2 min, ... at
/// most 6 h.
pub fn backoff(attempts: i32) -> chrono::Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(20);
    let seconds = 30i64.saturating_mul(1i64 << exponent);
    chrono::Duration::seconds(seconds.min(6 * 3600))
}

/// What one round of delivery did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub claimed: usize,
    pub sent: usize,
    pub failed: usize,
}

/// Claims up to `limit` due mails, sends them and records the outcome.
pub async fn deliver_due(db: &DatabaseConnection, sender: &dyn MailSender, limit: u64) -> AppResult<DeliveryReport> {
    let claimed = claim_due(db, limit).await?;
    let mut report = DeliveryReport { claimed: claimed.len(), ..Default::default() };
    for mail in claimed {
        let outcome = sender.send(&mail).await;
        let now = chrono::Utc::now();
        let update = outbox::Entity::update_many().filter(outbox::Column::Id.eq(mail.id));
        let holds_secret = crate::domain::notify::SECRET_KINDS.contains(&mail.kind.as_str());
        let finished = outcome.is_ok() || mail.attempts >= MAX_ATTEMPTS;
        let update = match outcome {
            Ok(()) => {
                report.sent += 1;
                update
                    .col_expr(outbox::Column::Status, Expr::value(OutboxStatus::Sent))
                    .col_expr(outbox::Column::SentAt, Expr::value(Some(now)))
                    .col_expr(outbox::Column::LastError, Expr::value(Option::<String>::None))
            }
            Err(reason) => {
                report.failed += 1;
                tracing::warn!(outbox_id = mail.id, attempts = mail.attempts, %reason, "mail not sent; will retry");
                let reason: String = reason.chars().take(500).collect();
                update
                    .col_expr(outbox::Column::Status, Expr::value(OutboxStatus::Failed))
                    .col_expr(outbox::Column::LastError, Expr::value(Some(reason)))
                    .col_expr(outbox::Column::NextAttemptAt, Expr::value(now + backoff(mail.attempts)))
            }
        };
        let update = match holds_secret && finished {
            true => update.col_expr(outbox::Column::Body, Expr::value(crate::domain::notify::CLEARED_BODY)),
            false => update,
        };
        update.exec(db).await?;
    }
    Ok(report)
}

/// Leases due rows to this worker and returns them (with `attempts` already counted).
async fn claim_due(db: &DatabaseConnection, limit: u64) -> AppResult<Vec<outbox::Model>> {
    let now = chrono::Utc::now();
    let txn = db.begin().await?;
    let mut due = outbox::Entity::find()
        .filter(outbox::Column::Status.is_in([OutboxStatus::Pending, OutboxStatus::Failed]))
        .filter(outbox::Column::NextAttemptAt.lte(now))
        .filter(outbox::Column::Attempts.lt(MAX_ATTEMPTS))
        .order_by_asc(outbox::Column::NextAttemptAt)
        .order_by_asc(outbox::Column::Id)
        .limit(limit);
    if txn.get_database_backend() == DbBackend::Postgres {
        due = due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let rows = due.all(&txn).await?;
    if rows.is_empty() {
        txn.commit().await?;
        return Ok(rows);
    }
    let lease_until = now + chrono::Duration::from_std(LEASE).map_err(AppError::internal)?;
    outbox::Entity::update_many()
        .col_expr(outbox::Column::NextAttemptAt, Expr::value(lease_until))
        .col_expr(outbox::Column::Attempts, sea_orm::sea_query::ExprTrait::add(Expr::col(outbox::Column::Attempts), 1))
        .filter(outbox::Column::Id.is_in(rows.iter().map(|r| r.id)))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(rows
        .into_iter()
        .map(|mut r| {
            r.attempts += 1;
            r.next_attempt_at = lease_until;
            r
        })
        .collect())
}

/// Runs the worker until the process ends: a round whenever the last one filled its
/// batch, else every few seconds.
pub fn spawn(db: DatabaseConnection, sender: Arc<dyn MailSender>) {
    tokio::spawn(async move {
        loop {
            match deliver_due(&db, sender.as_ref(), BATCH).await {
                Ok(report) if report.claimed as u64 == BATCH => continue,
                Ok(_) => {}
                Err(err) => {
                    let detail = match &err {
                        AppError::Internal(detail) => detail.clone(),
                        other => other.public_message(),
                    };
                    tracing::warn!(%detail, "outbox delivery round failed");
                }
            }
            tokio::time::sleep(POLL).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_thirty_seconds_up_to_six_hours() {
        assert_eq!(backoff(1), chrono::Duration::seconds(30));
        assert_eq!(backoff(2), chrono::Duration::seconds(60));
        assert_eq!(backoff(5), chrono::Duration::seconds(480));
        assert_eq!(backoff(40), chrono::Duration::hours(6));
        assert_eq!(backoff(0), chrono::Duration::seconds(30));
    }
}
