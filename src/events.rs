//! Change events for subscriptions. Within one process they travel on a broadcast
//! channel; with PostgreSQL they also travel through LISTEN/NOTIFY, so a change made
//! through one server process reaches subscribers connected to another.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// What changed in a family's tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
pub enum TreeChangeKind {
    /// An account joined the family (link, order, staff attach).
    Attached,
    /// An account left the family (detach or remove).
    Detached,
    /// A new secondary account was ordered and provisioned.
    Ordered,
    /// An account moved to another group.
    Regrouped,
    /// An account got another friendly name.
    Renamed,
    /// A secondary moved from one family to another in one step (both families are
    /// told; it was never standalone in between).
    Moved,
}

/// One event, small enough for a NOTIFY payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    TreeChanged {
        kind: TreeChangeKind,
        main_account_id: i64,
        account_id: i64,
    },
    InvoiceIssued {
        invoice_id: i64,
        account_id: i64,
    },
    /// Sessions or rights changed: these users' websockets (every user's, when `None`)
    /// check their session again and close (4403) if it ended or its grants changed.
    AccessChanged {
        user_ids: Option<Vec<i64>>,
    },
}

#[derive(Clone)]
pub struct EventBus {
    local: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    pub fn new() -> Self {
        let (local, _) = broadcast::channel(1024);
        Self { local }
    }

    /// Delivers an event to this process's subscribers.
    pub fn publish_local(&self, event: Event) {
        // No subscribers is not an error.
        let _ = self.local.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.local.subscribe()
    }

    /// Publishes an event after its transaction committed. On PostgreSQL it goes through
    /// NOTIFY, so every process listening on the database (this one included) delivers
    /// it; on SQLite, which has one process, it is delivered here directly.
    pub async fn publish(&self, db: &DatabaseConnection, event: Event) {
        if db.get_database_backend() != DbBackend::Postgres {
            self.publish_local(event);
            return;
        }
        let Ok(payload) = serde_json::to_string(&event) else { return };
        let sent = db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [CHANNEL.into(), payload.into()],
            ))
            .await;
        if let Err(err) = sent {
            // Subscriptions are best effort; the change itself is committed.
            tracing::warn!(error = %err, "could not publish an event; delivering it locally only");
            self.publish_local(event);
        }
    }

    /// On PostgreSQL, relays NOTIFY messages of every process to this process's
    /// subscribers, reconnecting with backoff when the database goes away. Returns once
    /// the first LISTEN is in place, so no event published afterwards is missed.
    pub async fn start_postgres_relay(&self, db: &DatabaseConnection) {
        if db.get_database_backend() != DbBackend::Postgres {
            return;
        }
        let pool = db.get_postgres_connection_pool().clone();
        let bus = self.clone();
        let mut listener = listen(&pool).await.ok();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(200);
            loop {
                let current = match listener.take() {
                    Some(l) => Ok(l),
                    None => listen(&pool).await,
                };
                let outcome = match current {
                    Ok(l) => relay(l, &bus).await,
                    Err(err) => Err(err),
                };
                if let Err(err) = outcome {
                    tracing::warn!(error = %err, "event relay lost its PostgreSQL connection; reconnecting");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        });
    }
}

async fn listen(pool: &sea_orm::sqlx::PgPool) -> Result<sea_orm::sqlx::postgres::PgListener, sea_orm::sqlx::Error> {
    let mut listener = sea_orm::sqlx::postgres::PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// The NOTIFY channel of Canopy's events.
pub const CHANNEL: &str = "canopy_events";

async fn relay(mut listener: sea_orm::sqlx::postgres::PgListener, bus: &EventBus) -> Result<(), sea_orm::sqlx::Error> {
    loop {
        let notification = listener.recv().await?;
        match serde_json::from_str::<Event>(notification.payload()) {
            Ok(event) => bus.publish_local(event),
            Err(err) => tracing::warn!(error = %err, "ignoring a malformed event"),
        }
    }
}
