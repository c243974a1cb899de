//! Brute-force protection for every proof: passwords, enrollment tokens, invitation tokens.
//!
//! An attempt is counted *before* the proof is checked, in a transaction that first
//! serialises on (target, client), so parallel requests, aliases and batches all see each
//! other's attempts. A successful proof removes its own attempt again; a failed one stays
//! for the window. After `MAX_FAILURES` in `WINDOW`, the target is locked for that client.
//!
//! Clients are cheap for an attacker (proxies, IPv6 addresses), so a target also has a
//! ceiling across all clients: once `TARGET_CEILING` failures from anyone are in the
//! window, attempts at it are spaced `TARGET_SPACING` apart (RATE_LIMITED with a retry
//! time). That slows guessing at one login to a trickle without locking its owner out:
//! the owner's right password still works, after a short wait at most.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, Statement, TransactionTrait,
};

use crate::entity::proof_failure;
use crate::error::{AppError, AppResult, UserErrorCode};

pub const MAX_FAILURES: u64 = 5;
pub const WINDOW_MINUTES: i64 = 15;
/// Failures at one target, from all clients together, before attempts are spaced.
pub const TARGET_CEILING: u64 = 20;
/// The spacing of attempts at a target over its ceiling.
pub const TARGET_SPACING_SECONDS: i64 = 30;

/// A counted attempt; call [`ProofAttempt::succeeded`] once the proof checks out.
#[must_use]
pub struct ProofAttempt {
    id: i64,
}

/// Counts an attempt at `target` from `client`, or refuses with `LOCKED`.
pub async fn begin_attempt(db: &DatabaseConnection, target: &str, client: &str) -> AppResult<ProofAttempt> {
    let txn = db.begin().await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        // Serialise attempts on the same target until this transaction ends (the ceiling
        // counts every client's attempts, so one client's lock is not enough).
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            [target.into()],
        ))
        .await?;
    }
    let now = chrono::Utc::now();
    let since = now - chrono::Duration::minutes(WINDOW_MINUTES);
    let failures = proof_failure::Entity::find()
        .filter(proof_failure::Column::TargetKey.eq(target))
        .filter(proof_failure::Column::ClientKey.eq(client))
        .filter(proof_failure::Column::CreatedAt.gt(since))
        .count(&txn)
        .await?;
    if failures >= MAX_FAILURES {
        txn.commit().await?;
        tracing::warn!(
            target_kind = target.split(':').next().unwrap_or(""),
            "proof refused: target locked for this client"
        );
        crate::metrics::count_lockout();
        return Err(AppError::user(
            UserErrorCode::Locked,
            format!("too many failed attempts; try again in {WINDOW_MINUTES} minutes"),
        ));
    }
    let at_target = proof_failure::Entity::find()
        .filter(proof_failure::Column::TargetKey.eq(target))
        .filter(proof_failure::Column::CreatedAt.gt(since))
        .order_by_desc(proof_failure::Column::CreatedAt)
        .limit(TARGET_CEILING)
        .all(&txn)
        .await?;
    if at_target.len() as u64 >= TARGET_CEILING
        && let Some(latest) = at_target.first()
    {
        let wait = latest.created_at + chrono::Duration::seconds(TARGET_SPACING_SECONDS) - now;
        if wait > chrono::Duration::zero() {
            txn.commit().await?;
            tracing::warn!(
                target_kind = target.split(':').next().unwrap_or(""),
                "proof spaced: target over its ceiling"
            );
            crate::metrics::count_lockout();
            return Err(AppError::RateLimited { retry_after: wait.to_std().unwrap_or_default() });
        }
    }
    let row = proof_failure::ActiveModel {
        target_key: Set(target.to_owned()),
        client_key: Set(client.to_owned()),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(ProofAttempt { id: row.id })
}

impl ProofAttempt {
    /// The proof was right: this attempt does not count as a failure.
    pub async fn succeeded(self, db: &impl ConnectionTrait) -> AppResult<()> {
        proof_failure::Entity::delete_by_id(self.id).exec(db).await?;
        Ok(())
    }

    /// The proof was wrong: the attempt stays counted.
    pub fn failed(self, target_kind: &str) {
        tracing::info!(target_kind, "proof failed");
    }
}
