//! The audit log: every successful mutation writes one event in its own transaction.

use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde_json::Value;

use crate::entity::audit_event;
use crate::error::AppResult;

/// One audit event, described where the mutation happens.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub actor_user_id: Option<i64>,
    pub action: &'static str,
    pub subject_type: &'static str,
    pub subject_id: i64,
    /// The main account of the family concerned, so its owner can read the event.
    pub family_main_id: Option<i64>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl AuditEntry {
    pub fn new(actor_user_id: Option<i64>, action: &'static str, subject_type: &'static str, subject_id: i64) -> Self {
        Self { actor_user_id, action, subject_type, subject_id, family_main_id: None, before: None, after: None }
    }

    pub fn family(mut self, main_account_id: Option<i64>) -> Self {
        self.family_main_id = main_account_id;
        self
    }

    pub fn before(mut self, value: Value) -> Self {
        self.before = Some(value);
        self
    }

    pub fn after(mut self, value: Value) -> Self {
        self.after = Some(value);
        self
    }

    pub async fn record(self, txn: &impl ConnectionTrait) -> AppResult<()> {
        audit_event::ActiveModel {
            actor_user_id: Set(self.actor_user_id),
            action: Set(self.action.to_owned()),
            subject_type: Set(self.subject_type.to_owned()),
            subject_id: Set(self.subject_id),
            family_main_id: Set(self.family_main_id),
            before: Set(self.before.map(|v| v.to_string())),
            after: Set(self.after.map(|v| v.to_string())),
            created_at: Set(chrono::Utc::now()),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        Ok(())
    }
}
