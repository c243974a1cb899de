//! Canopy: the GraphQL backend of a customer portal where one login manages a family of
//! accounts. `app()` builds the whole HTTP service, so tests drive it without a socket.

pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod documents;
pub mod domain;
pub mod entity;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod rate_limit;
pub mod read;
pub mod seed;
pub mod telemetry;
pub mod trusted_documents;

use std::sync::Arc;

use axum::Router;
use sea_orm::DatabaseConnection;

use crate::config::Settings;
use crate::events::EventBus;
use crate::graphql::context::AppState;

/// Everything a running server holds.
pub fn state(db: DatabaseConnection, settings: Settings) -> AppState {
    AppState {
        reads: db::Reads::new(&db),
        db,
        settings: Arc::new(settings),
        events: EventBus::new(),
        payments: Arc::new(domain::payments::ImmediateSettlement),
    }
}

/// The HTTP service over a ready database.
pub fn app(state: AppState) -> Router {
    metrics::install();
    let production = state.settings.server.profile == config::Profile::Production;
    let build = |introspection: bool, depth: usize| {
        let mut builder = graphql::schema_builder().data(state.clone()).limit_depth(depth);
        if production {
            // Suggestions ("did you mean …") leak the schema to anonymous probing.
            builder = builder.disable_suggestions();
        }
        if !introspection {
            builder = builder.disable_introspection();
        }
        builder.finish()
    };
    let (depth, introspection_depth) = (graphql::MAX_DEPTH, graphql::INTROSPECTION_DEPTH);
    let schema = graphql::limits::LimitedSchema::new(build(true, depth), build(true, introspection_depth));
    // Websockets authenticate after the upgrade, so in production they get a schema
    // without introspection; staff introspect over HTTP.
    let websocket_schema = match production {
        true => graphql::limits::LimitedSchema::new(build(false, depth), build(false, introspection_depth)),
        false => schema.clone(),
    };
    http::router(state, schema, websocket_schema)
}

/// Background work of a serving process: the event relay between processes and the
/// outbox mail worker (SMTP when configured, else the log). The relay is listening when
/// this returns, so no event published afterwards is missed.
pub async fn start_background(state: &AppState) -> anyhow::Result<()> {
    state.events.start_postgres_relay(&state.db).await;
    metrics::spawn_upkeep();
    let sender = domain::outbox_worker::sender_from_settings(&state.settings)?;
    domain::outbox_worker::spawn(state.db.clone(), sender);
    Ok(())
}
