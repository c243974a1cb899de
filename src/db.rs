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

/// How long opening a connection, and waiting for a free one, may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options.sqlx_logging(false).connect_timeout(CONNECT_TIMEOUT).acquire_timeout(ACQUIRE_TIMEOUT);
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
/// SeaORM's pool and the hot reads' own (`Reads`) get this many each, so a replica opens
/// at most twice as many; under read load the hot reads' pool is the busy one (with 6 or
/// 12 there the tree query at c=32 moved within the noise, 2026-12-08).
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
/// and through `Reads::fetch_all`, which runs past SeaORM.
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

/// The database as the hot reads use it (the session, the tree, open items, accounts by
/// id): SeaORM's pool, and on PostgreSQL a pool of connections of their own.
///
/// sqlx pings every connection it takes back into its pool (a Sync and its answer): a
/// round trip, a task and a wakeup of the PostgreSQL backend after every statement, which
/// for `openItems` (three statements) cost about as much of the machine as a statement
/// (pgbench, the same statements with a `SELECT 1` after each: -26% tx/s). These
/// connections come from deadpool instead, which asks a connection whether it is still
/// fit when it is taken: one whose statement did not finish (an I/O error, or the request
/// dropped mid-statement) is closed, never reused; one that finished is used at once. As
/// in SeaORM's pool, a connection is pinged before use only after idling 30 s, and none
/// lives longer than 30 minutes or idles longer than 10.
#[derive(Clone)]
pub struct Reads {
    db: DatabaseConnection,
    own: Option<deadpool::managed::Pool<ReadConnections>>,
}

/// A connection is pinged before use when it idled this long (one that a proxy or a
/// restart may have dropped).
const IDLE_BEFORE_PING: Duration = Duration::from_secs(30);
/// sqlx's defaults for its pool, kept for the hot reads' own.
const MAX_IDLE: Duration = Duration::from_secs(10 * 60);
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

impl Reads {
    /// The hot reads over `db`: on PostgreSQL with as many connections of their own as
    /// `db`'s pool may open, each opened when first needed. Runs in a Tokio runtime: a
    /// task closes the connections that idled too long, until the pool is dropped.
    pub fn new(db: &DatabaseConnection) -> Self {
        if db.get_database_backend() != DbBackend::Postgres {
            return Reads { db: db.clone(), own: None };
        }
        let pool = db.get_postgres_connection_pool();
        let built = deadpool::managed::Pool::builder(ReadConnections { options: pool.connect_options() })
            .max_size(pool.options().get_max_connections() as usize)
            .wait_timeout(Some(ACQUIRE_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .runtime(deadpool::Runtime::Tokio1)
            .build();
        // It only fails without a runtime for its timeouts, which it has; SeaORM's pool
        // would serve the hot reads then.
        let own = built.inspect_err(|err| tracing::error!(%err, "no pool of the hot reads' own")).ok();
        if let Some(own) = &own {
            let weak = own.weak();
            tokio::spawn(async move {
                let mut every_minute = tokio::time::interval(Duration::from_secs(60));
                loop {
                    every_minute.tick().await;
                    let Some(own) = weak.upgrade() else { return };
                    own.retain(|_, metrics| metrics.last_used() < MAX_IDLE && metrics.age() < MAX_LIFETIME);
                }
            });
        }
        Reads { db: db.clone(), own }
    }

    /// SeaORM's pool, for everything else.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Connections of the hot reads' own pool (open, idle), when it has one.
    pub fn own_connections(&self) -> Option<(usize, usize)> {
        self.own.as_ref().map(|own| {
            let status = own.status();
            (status.size, status.available)
        })
    }

    /// Runs a read statement and returns its rows: on PostgreSQL straight through sqlx on
    /// a connection of the hot reads' own, elsewhere through SeaORM.
    ///
    /// SeaORM wraps each statement in four layers of futures (its trait's boxed future, two
    /// `#[instrument]`s and its span), and every layer moves the whole state of the ones
    /// inside it: in callgrind that copying was 29% of an `openItems` request. The span is
    /// SeaORM's own (`sea_orm.query_all`, with the parameterised text in `db.statement`;
    /// values never), so traces read the same.
    pub async fn fetch_all(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        use sea_orm::sqlx;
        use tracing::Instrument;

        let Some(own) = &self.own else { return self.db.query_all_raw(statement).await };
        let span = tracing::info_span!(
            "sea_orm.query_all",
            otel.kind = "client",
            db.system = "postgresql",
            db.operation = "SELECT",
            db.statement = statement.sql.as_str(),
            otel.status_code = tracing::field::Empty,
        );
        tell_watcher(&self.db, &statement);
        let Statement { sql, values, .. } = statement;
        let values = sea_query_sqlx::SqlxValues(values.unwrap_or_else(|| sea_orm::sea_query::Values(Vec::new())));
        let query = sqlx::query_with(sqlx::AssertSqlSafe(sql.as_str()), values);
        // The getting future is boxed, so that this one stays small (it is moved into the
        // span's wrapper).
        let fetched = async {
            let mut connection = Box::pin(own.get()).await.map_err(|err| match err {
                deadpool::managed::PoolError::Backend(err) => DbErr::Conn(sea_orm::RuntimeErr::SqlxError(err.into())),
                _ => DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout),
            })?;
            connection.finished = false;
            let rows = query.fetch_all(&mut connection.connection).await;
            // A statement the database refused leaves the connection in step (sqlx reads
            // the rest of its answer before the next statement); any other error may not.
            connection.finished = matches!(rows, Ok(_) | Err(sqlx::Error::Database(_)));
            rows.map_err(|err| DbErr::Query(sea_orm::RuntimeErr::SqlxError(err.into())))
        }
        .instrument(span.clone())
        .await;
        span.record("otel.status_code", if fetched.is_ok() { "OK" } else { "ERROR" });
        Ok(fetched?.into_iter().map(QueryResult::from).collect())
    }

    /// `fetch_all` of a select built for the connection's backend.
    pub async fn select_all(&self, select: &SelectStatement) -> Result<Vec<QueryResult>, DbErr> {
        self.fetch_all(self.db.get_database_backend().build(select)).await
    }
}

/// Opens the hot reads' connections with the options of SeaORM's pool (the statement
/// timeout among them).
struct ReadConnections {
    options: std::sync::Arc<sea_orm::sqlx::postgres::PgConnectOptions>,
}

struct ReadConnection {
    connection: sea_orm::sqlx::PgConnection,
    /// False while a statement runs: a connection given back so is closed.
    finished: bool,
}

impl deadpool::managed::Manager for ReadConnections {
    type Type = ReadConnection;
    type Error = sea_orm::sqlx::Error;

    async fn create(&self) -> Result<ReadConnection, Self::Error> {
        use sea_orm::sqlx::ConnectOptions as _;
        Ok(ReadConnection { connection: self.options.connect().await?, finished: true })
    }

    async fn recycle(
        &self,
        connection: &mut ReadConnection,
        metrics: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<Self::Error> {
        use sea_orm::sqlx::Connection as _;
        let closed = |reason: &'static str| {
            metrics::counter!("canopy_db_read_connections_closed_total", "reason" => reason).increment(1);
            Err(deadpool::managed::RecycleError::message(reason))
        };
        if !connection.finished {
            return closed("unfinished");
        }
        if metrics.age() >= MAX_LIFETIME {
            return closed("lifetime");
        }
        if metrics.last_used() >= IDLE_BEFORE_PING {
            connection.connection.ping().await?;
        }
        Ok(())
    }
}
