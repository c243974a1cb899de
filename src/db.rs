//! Connecting to SQLite or PostgreSQL and bringing the schema up to date.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};

/// Opens a pool for `url` and applies pending migrations.
pub async fn connect_and_migrate(url: &str) -> anyhow::Result<DatabaseConnection> {
    let db = connect(url).await?;
    Migrator::up(&db, None).await?;
    Ok(db)
}

pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options.sqlx_logging(false).connect_timeout(Duration::from_secs(5)).acquire_timeout(Duration::from_secs(10));
    if url.starts_with("sqlite:") {
        // SQLite serialises writers anyway; one connection makes every transaction
        // exclusive, so read-then-write transactions never fail with SQLITE_BUSY, and an
        // in-memory database is one database rather than one per connection.
        options.max_connections(1).min_connections(1);
    } else {
        let size = std::env::var("CANOPY_DB_POOL").ok().and_then(|v| v.parse().ok()).unwrap_or_else(default_pool_size);
        let statement_timeout =
            std::env::var("CANOPY_STATEMENT_TIMEOUT_MS").ok().and_then(|v| v.parse::<u64>().ok()).unwrap_or(15_000);
        // A connection is pinged before use only after idling 30 s (one that a proxy or
        // a restart may have dropped). Pinging on every checkout, the default, put a round
        // trip before each of a tree query's five statements.
        options.test_before_acquire_if_idle_for(Duration::from_secs(30));
        options.max_connections(size).min_connections(1).map_sqlx_postgres_opts(move |pg| {
            // No statement may run away with a connection.
            pg.options([("statement_timeout", format!("{statement_timeout}ms"))])
        });
    }
    let db = Database::connect(options).await?;
    if db.get_database_backend() == DbBackend::Sqlite {
        db.execute_unprepared("PRAGMA foreign_keys = ON").await?;
        db.execute_unprepared("PRAGMA journal_mode = WAL").await?;
    }
    Ok(db)
}

/// Four connections per core of this machine. On the 2-core bench (server and
/// PostgreSQL together) 8 connections served the most tree queries at c=32: with 16 or
/// 32, PostgreSQL spent more CPU per request on backends contending for the cores; with
/// 4, requests waited for connections (a tree query runs three statements at once).
/// Replicas sharing a database on a host of its own set CANOPY_DB_POOL for that host.
fn default_pool_size() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    (4 * cores).clamp(4, 64)
}

/// True when the database answers a trivial query.
pub async fn is_ready(db: &DatabaseConnection) -> bool {
    tokio::time::timeout(Duration::from_secs(2), db.execute_unprepared("SELECT 1"))
        .await
        .map(|r| r.is_ok())
        .unwrap_or(false)
}
