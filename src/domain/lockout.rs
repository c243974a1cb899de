//! Brute-force protection for every proof: passwords, enrollment tokens, invitation tokens.
//!
//! An attempt is counted *before* the proof is checked, in a transaction that first
//! serialises on (target, client), so parallel requests, aliases and batches all see each
//! other's attempts. A successful proof removes its own attempt again; a failed one stays
//! for the window. After `MAX_FAILURES` in `WINDOW`, the target is locked for that client.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, Set, Statement, TransactionTrait,
};

use crate::entity::proof_failure;
use crate::error::{AppError, AppResult, UserErrorCode};

pub const MAX_FAILURES: u64 = 5;
pub const WINDOW_MINUTES: i64 = 15;

/// A counted attempt; call [`ProofAttempt::succeeded`] once the proof checks out.
#[must_use]
pub struct ProofAttempt {
    id: i64,
}

/// Counts an attempt at `target` from `client`, or refuses with `LOCKED`.
pub async fn begin_attempt(db: &DatabaseConnection, target: &str, client: &str) -> AppResult<ProofAttempt> {
    let txn = db.begin().await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        // Serialise attempts on the same (target, client) until this transaction ends.
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            [format!("{target}\u{1f}{client}").into()],
        ))
        .await?;
    }
    let since = chrono::Utc::now() - chrono::Duration::minutes(WINDOW_MINUTES);
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
