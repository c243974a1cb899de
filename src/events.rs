//! Change events for subscriptions. Within one process they travel on a broadcast
//! channel; with PostgreSQL they also travel through LISTEN/NOTIFY, so a change made
//! through one server process reaches subscribers connected to another.

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
}

/// One event, small enough for a NOTIFY payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    TreeChanged { kind: TreeChangeKind, main_account_id: i64, account_id: i64 },
    InvoiceIssued { invoice_id: i64, account_id: i64 },
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
}
