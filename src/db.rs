//! Connecting to SQLite or PostgreSQL and bringing the schema up to date.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sea_query::SelectStatement;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, QueryResult, Statement,
};

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

/// Told of each statement a pool runs (the tests count them with it).
type Watcher = Arc<dyn Fn(&Statement) + Send + Sync>;

/// The watchers of the pools that have one, by pool: the address of the pool's shared
/// options, which every clone of a pool shares. A later pool may get a dropped pool's
/// address; watching it replaces the old watcher, and a pool nobody watches at most tells
/// a watcher whose counter is gone.
static WATCHERS: RwLock<Vec<(usize, Watcher)>> = RwLock::new(Vec::new());

/// Calls `watcher` for every statement `db` runs: through SeaORM (its metric callback),
/// and through `fetch_all`, which runs past SeaORM.
pub fn watch_statements(db: &mut DatabaseConnection, watcher: impl Fn(&Statement) + Send + Sync + 'static) {
    let watcher: Watcher = Arc::new(watcher);
    let through_seaorm = watcher.clone();
    db.set_metric_callback(move |info| through_seaorm(info.statement));
    if db.get_database_backend() == DbBackend::Postgres
        && let Ok(mut watchers) = WATCHERS.write()
    {
        let pool = pool_key(db);
        watchers.retain(|(key, _)| *key != pool);
        watchers.push((pool, watcher));
    }
}

fn pool_key(db: &DatabaseConnection) -> usize {
    db.get_postgres_connection_pool().options() as *const _ as usize
}

fn tell_watcher(db: &DatabaseConnection, statement: &Statement) {
    let Ok(watchers) = WATCHERS.read() else { return };
    if watchers.is_empty() {
        return;
    }
    let pool = pool_key(db);
    if let Some((_, watcher)) = watchers.iter().find(|(key, _)| *key == pool) {
        watcher(statement);
    }
}

/// Runs a read statement and returns its rows: on PostgreSQL straight through sqlx's pool,
/// elsewhere through SeaORM.
///
/// SeaORM wraps each statement in four layers of futures (its trait's boxed future, two
/// `#[instrument]`s and its span), and every layer moves the whole state of the ones
/// inside it: in callgrind that copying was 29% of an `openItems` request, which runs four
/// statements. The hot reads (the session, the tree, open items, accounts by id) come
/// through here instead. The span is SeaORM's own (`sea_orm.query_all`, with the
/// parameterised text in `db.statement`; values never), so traces read the same.
pub async fn fetch_all(db: &DatabaseConnection, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
    use sea_orm::sqlx;
    use tracing::Instrument;

    if db.get_database_backend() != DbBackend::Postgres {
        return db.query_all_raw(statement).await;
    }
    let span = tracing::info_span!(
        "sea_orm.query_all",
        otel.kind = "client",
        db.system = "postgresql",
        db.operation = "SELECT",
        db.statement = statement.sql.as_str(),
        otel.status_code = tracing::field::Empty,
    );
    tell_watcher(db, &statement);
    let Statement { sql, values, .. } = statement;
    let values = sea_query_sqlx::SqlxValues(values.unwrap_or_else(|| sea_orm::sea_query::Values(Vec::new())));
    let query = sqlx::query_with(sqlx::AssertSqlSafe(sql.as_str()), values);
    // On a connection of its own: the pool's executor would pass each row through one
    // more stream. The acquiring future is boxed, so that this one stays small (it is
    // moved into the span's wrapper).
    let fetched = async {
        let mut connection = Box::pin(db.get_postgres_connection_pool().acquire()).await?;
        query.fetch_all(&mut *connection).await
    }
    .instrument(span.clone())
    .await;
    span.record("otel.status_code", if fetched.is_ok() { "OK" } else { "ERROR" });
    match fetched {
        Ok(rows) => Ok(rows.into_iter().map(QueryResult::from).collect()),
        Err(err) => Err(DbErr::Query(sea_orm::RuntimeErr::SqlxError(err.into()))),
    }
}

/// `fetch_all` of a select built for the connection's backend.
pub async fn select_all(db: &DatabaseConnection, select: &SelectStatement) -> Result<Vec<QueryResult>, DbErr> {
    fetch_all(db, db.get_database_backend().build(select)).await
}
