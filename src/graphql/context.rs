//! Per-request data and typed getters, so resolvers never unwrap context lookups.

use std::sync::{Arc, RwLock};

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, HashMapCache};
use sea_orm::DatabaseConnection;

use crate::config::Settings;
use crate::db::Reads;
use crate::domain::access::Viewer;
use crate::domain::payments::PaymentProvider;
use crate::error::{AppError, AppResult};
use crate::events::EventBus;
use crate::graphql::connection::MAX_PAGE_SIZE;
use crate::read::loaders::{Reader, RequestViewer, read_viewer};

/// Shared by all requests: attached to the schema when the server starts.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    /// The hot reads (`db::Reads`), over `db`.
    pub reads: Reads,
    pub settings: Arc<Settings>,
    pub events: EventBus,
    /// Collects payments (see `domain::payments`).
    pub payments: Arc<dyn PaymentProvider>,
}

/// Who is asking, built by the HTTP handler for each request.
#[derive(Clone)]
pub struct RequestContext {
    viewer: RequestViewer,
    pub session_id: Option<i64>,
    /// The client address, for lockouts and rate limits.
    pub client: String,
    pub loader: Arc<DataLoader<Reader, HashMapCache>>,
    /// The response is written by `prewritten::write_response` (HTTP), so the fast path may
    /// hand it JSON text written ahead. Off for websockets, whose responses async-graphql
    /// serialises itself.
    pub prewritten_json: bool,
    /// Credential checks (password hashing) this request has started: at most one.
    credential_checks: Arc<std::sync::atomic::AtomicU32>,
}

impl RequestContext {
    pub fn new(state: &AppState, viewer: Option<Viewer>, session_id: Option<i64>, client: String) -> Self {
        let viewer: RequestViewer = Arc::new(RwLock::new(viewer.map(Arc::new)));
        let batch = Reader { reads: state.reads.clone(), viewer: viewer.clone(), settings: state.settings.clone() };
        // One batch may hold a whole tree page: 100 accounts with 100 secondaries each.
        let most_keys = (MAX_PAGE_SIZE * (MAX_PAGE_SIZE + 1)) as usize;
        // Batches run in tasks of their own; they carry the operation's span along, so
        // their statements show up under it in traces.
        let span = tracing::Span::current();
        let spawn = move |batch| tokio::spawn(tracing::Instrument::instrument(batch, span.clone()));
        let loader = DataLoader::with_cache(batch, spawn, HashMapCache::default())
            .delay(state.settings.loader_delay)
            .max_batch_size(most_keys);
        Self {
            viewer,
            session_id,
            client,
            loader: Arc::new(loader),
            prewritten_json: false,
            credential_checks: Arc::default(),
        }
    }

    pub fn viewer(&self) -> Option<Arc<Viewer>> {
        read_viewer(&self.viewer)
    }

    /// Claims this request's one credential check (login, enroll, acceptInvitation,
    /// changePassword, linkAccount by login). A second one in the same request — aliases,
    /// several mutations — is refused before any hashing: 30 aliased logins would otherwise
    /// check 30 passwords (30 × 19 MiB of argon2) for the price of one request.
    pub fn claim_credential_check(&self) -> AppResult<()> {
        match self.credential_checks.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 => Ok(()),
            _ => Err(AppError::OneCredentialCheck),
        }
    }

    /// Resolves the rest of this request as a user who just signed in.
    pub fn sign_in(&self, viewer: Viewer) {
        if let Ok(mut slot) = self.viewer.write() {
            *slot = Some(Arc::new(viewer));
        }
    }
}

pub trait ContextExt {
    fn state(&self) -> AppResult<&AppState>;
    fn request(&self) -> AppResult<&RequestContext>;
    fn db(&self) -> AppResult<&DatabaseConnection> {
        Ok(&self.state()?.db)
    }
    fn reads(&self) -> AppResult<&Reads> {
        Ok(&self.state()?.reads)
    }
    fn settings(&self) -> AppResult<&Settings> {
        Ok(&self.state()?.settings)
    }
    fn loader(&self) -> AppResult<&DataLoader<Reader, HashMapCache>> {
        Ok(&self.request()?.loader)
    }
    /// The signed-in viewer, or UNAUTHENTICATED.
    fn viewer(&self) -> AppResult<Arc<Viewer>> {
        self.request()?.viewer().ok_or(AppError::Unauthenticated)
    }
    fn maybe_viewer(&self) -> Option<Arc<Viewer>> {
        self.request().ok().and_then(|r| r.viewer())
    }
    fn client(&self) -> &str {
        self.request().map(|r| r.client.as_str()).unwrap_or("unknown")
    }
}

/// Tells every replica's websockets that sessions or rights changed (`None`: anyone's), so
/// the affected ones check their session again and close if it ended or its rights moved.
pub async fn announce_access_changed(ctx: &Context<'_>, user_ids: Option<Vec<i64>>) -> AppResult<()> {
    let state = ctx.state()?;
    state.events.publish(&state.db, crate::events::Event::AccessChanged { user_ids }).await;
    Ok(())
}

impl ContextExt for Context<'_> {
    fn state(&self) -> AppResult<&AppState> {
        self.data::<AppState>().map_err(|_| AppError::internal("AppState missing from schema data"))
    }
    fn request(&self) -> AppResult<&RequestContext> {
        self.data::<RequestContext>().map_err(|_| AppError::internal("RequestContext missing from request data"))
    }
}
