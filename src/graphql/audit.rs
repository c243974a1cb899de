//! The audit log: `AuditEvent` and the `auditEvents` connection.

use async_graphql::{Context, ID, Json, Object, Result};
use chrono::{DateTime, Utc};

use crate::entity::audit_event;
use crate::graphql::connection::{IdConnection, connection_from_rows, decode_cursor, page_size};
use crate::graphql::context::ContextExt;
use crate::graphql::ids::{self, NodeType};
use crate::read::audit;

/// One successful change: who did what to which object, before and after.
pub struct AuditEvent(pub audit_event::Model);

/// One successful change: who did what to which object, before and after.
#[Object]
impl AuditEvent {
    /// The global id.
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::AuditEvent, self.0.id)
    }
    /// What happened, e.g. `account.linked`.
    async fn action(&self) -> &str {
        &self.0.action
    }
    /// The global id of the user who did it (null for the system).
    async fn actor_id(&self) -> Option<ID> {
        self.0.actor_user_id.map(|id| ids::encode(NodeType::User, id))
    }
    /// The kind of object changed, e.g. `Account`.
    async fn subject_type(&self) -> &str {
        &self.0.subject_type
    }
    /// The global id of the object changed.
    async fn subject_id(&self) -> ID {
        let node_type = match self.0.subject_type.as_str() {
            "Group" => NodeType::Group,
            "User" => NodeType::User,
            "Invoice" => NodeType::Invoice,
            "CollectiveInvoice" => NodeType::CollectiveInvoice,
            "Payment" => NodeType::Payment,
            "AccountOrder" => NodeType::AccountOrder,
            _ => NodeType::Account,
        };
        ids::encode(node_type, self.0.subject_id)
    }
    /// The state before the change, where it has one.
    async fn before(&self) -> Option<Json<serde_json::Value>> {
        self.0.before.as_deref().and_then(|t| serde_json::from_str(t).ok()).map(Json)
    }
    /// The state after the change.
    async fn after(&self) -> Option<Json<serde_json::Value>> {
        self.0.after.as_deref().and_then(|t| serde_json::from_str(t).ok()).map(Json)
    }
    /// When it happened.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The audit log, newest first. Staff see everything (or one family with
    /// `mainAccountId`); a main account's owner sees their family's events.
    #[graphql(complexity = "crate::graphql::connection::page_cost(first, child_complexity)")]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this family's events.")] main_account_id: Option<ID>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge seen.")] after: Option<String>,
    ) -> Result<IdConnection<AuditEvent>> {
        let viewer = ctx.viewer()?;
        let first = page_size(first)?;
        let after_id = decode_cursor::<i64>(after.as_deref())?;
        let requested = main_account_id.as_ref().map(|id| ids::decode_as(id, NodeType::Account).unwrap_or(-1));
        let rows = audit::page(ctx.db()?, &viewer, requested, after_id.unwrap_or(i64::MAX), first).await?;
        Ok(connection_from_rows(rows, first, after_id.is_some(), |e| e.id, AuditEvent))
    }
}
