//! Database access: one pool per service database, on MySQL/MariaDB or SQLite.
//!
//! Queries go through sqlx's `Any` driver so that the stores hold one SQL text for both
//! backends. Its limits shape the schema: MySQL `TINYINT`, `DECIMAL` and `DATETIME` columns
//! cannot be read through `Any`, so flags are `INT`, money is `BIGINT` minor units and
//! timestamps are `BIGINT` milliseconds; `TEXT`-family columns arrive as bytes (see
//! [`text`]).

pub mod batch;
pub mod dialect;
pub mod migrate;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, ConnectOptions, Connection, Executor, Row};

pub use dialect::Dialect;

use crate::config::{is_db_name, redact_url, Secret};

/// How long a pooled connection may sit idle before it is pinged when next handed out.
pub const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// The target of the trace event [`Db::begin`] emits (counted by `nakku bench orders`).
pub const TRANSACTION_TARGET: &str = "nakku::db::transaction";

/// A pool on one service database and the dialect it speaks.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    dialect: Dialect,
    display_url: String,
    /// SQLite: the one connection this process writes through. SQLite lets one writer in at
    /// a time and makes the others poll (its busy handler sleeps 1, 2, 5, 10... ms between
    /// tries), which under concurrent checkouts wastes most of the time asleep; queueing for
    /// this connection hands the lock over as soon as it is free. Being the only writer,
    /// its page cache also stays valid between transactions (a connection that sees another
    /// connection's commit throws its whole cache away). Other processes on the same file
    /// still meet the busy timeout.
    writer: Option<AnyPool>,
    /// Told after each write transaction of this process commits (see [`Db::committed`]).
    committed: Arc<tokio::sync::Notify>,
}

/// `query.write_on(&db)`: [`Db::write`] in method position, for statements built with binds.
pub trait WriteOn<'q>: Sized {
    fn write_on<'d>(
        self,
        db: &'d Db,
    ) -> impl std::future::Future<Output = Result<sqlx::any::AnyQueryResult, sqlx::Error>> + Send + 'd
    where
        'q: 'd;
}

impl<'q> WriteOn<'q> for sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    fn write_on<'d>(
        self,
        db: &'d Db,
    ) -> impl std::future::Future<Output = Result<sqlx::any::AnyQueryResult, sqlx::Error>> + Send + 'd
    where
        'q: 'd,
    {
        db.write(self)
    }
}

/// A write transaction (on SQLite, on this process's writer connection, held until commit,
/// rollback or drop).
pub struct Tx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    committed: Arc<tokio::sync::Notify>,
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await?;
        self.committed.notify_one();
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl std::ops::Deref for Tx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

impl Db {
    /// Connects to `url`, creating the database (MySQL) or the file (SQLite) when missing.
    /// SQLite connections get WAL, a busy timeout and foreign keys.
    pub async fn connect(url: &Secret, max_connections: u32) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let url = normalise(url.expose());
        let dialect =
            Dialect::from_url(&url).with_context(|| format!("unsupported database URL {}", redact_url(&url)))?;
        let display_url = redact_url(&url);
        let url = match dialect {
            Dialect::MySql => {
                create_mysql_database(&url).await?;
                url
            }
            Dialect::Sqlite => sqlite_url_creating_dirs(&url)?,
        };
        let options = AnyConnectOptions::from_str(&url)
            .with_context(|| format!("parsing database URL {display_url}"))?
            // Every statement as a trace-level `sqlx::query` event (`NAKKU_LOG=sqlx::query=trace`
            // prints them; `nakku bench orders` counts them per service). Nothing is formatted
            // unless a subscriber wants the event.
            .log_statements(log::LevelFilter::Trace)
            .log_slow_statements(log::LevelFilter::Trace, Duration::from_secs(1));
        let pool = pool_options(dialect)
            .max_connections(match dialect {
                Dialect::MySql => max_connections,
                // Readers under WAL: each connection is a thread in sqlx's driver, and on a
                // small machine more than a few only add context switches.
                Dialect::Sqlite => max_connections.clamp(1, 4),
            })
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.clone())
            .await
            .map_err(|e| connect_error(e, &display_url))?;
        let writer = match dialect {
            Dialect::MySql => None,
            Dialect::Sqlite => Some(
                pool_options(dialect)
                    .max_connections(1)
                    // Waiting for the writer is queueing, not a fault: allow a long queue.
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await
                    .with_context(|| format!("connecting to {display_url}"))?,
            ),
        };
        Ok(Db {
            pool,
            dialect,
            display_url,
            writer,
            committed: Arc::default(),
        })
    }

    /// Whether the database behind `url` exists yet (used by `nakku migrate status`, which
    /// must not create anything).
    pub async fn exists(url: &Secret) -> anyhow::Result<bool> {
        sqlx::any::install_default_drivers();
        let url = normalise(url.expose());
        match Dialect::from_url(&url) {
            Some(Dialect::Sqlite) => Ok(Path::new(sqlite_path(&url)).exists()),
            Some(Dialect::MySql) => {
                let (server, name) = split_mysql_url(&url)?;
                let mut conn = sqlx::AnyConnection::connect(&server)
                    .await
                    .map_err(|e| connect_error(e, &redact_url(&server)))?;
                let row = sqlx::query("SELECT COUNT(*) AS n FROM information_schema.schemata WHERE schema_name = ?")
                    .bind(name)
                    .fetch_one(&mut conn)
                    .await?;
                let n: i64 = row.try_get("n")?;
                let _ = conn.close().await;
                Ok(n > 0)
            }
            None => anyhow::bail!("unsupported database URL {}", redact_url(&url)),
        }
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Each pool's connections now: `(pool, in use, idle, max)`. `"main"` is the pool of
    /// every read and (MySQL) every write; `"writer"` SQLite's one write connection, in use
    /// whenever a write transaction runs (queueing for it is by design, not a fault).
    pub fn pool_stats(&self) -> Vec<(&'static str, u32, u32, u32)> {
        let of = |name, p: &AnyPool| {
            let open = p.size();
            let idle = u32::try_from(p.num_idle()).unwrap_or(open);
            (name, open.saturating_sub(idle), idle, p.options().get_max_connections())
        };
        let mut out = vec![of("main", &self.pool)];
        if let Some(w) = &self.writer {
            out.push(of("writer", w));
        }
        out
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Resolves once a write transaction of this process on this database has committed
    /// since the last time it resolved (or at once when one has): what wakes the outbox
    /// relay as soon as an event is written, instead of it polling every few milliseconds.
    /// Commits by other processes are not seen here.
    pub async fn committed(&self) {
        self.committed.notified().await;
    }

    /// The URL with its password hidden, for logs and tables.
    pub fn display_url(&self) -> &str {
        &self.display_url
    }

    /// A cheap round trip, used by `/health`.
    pub async fn ping(&self) -> anyhow::Result<()> {
        let mut conn = self.pool.acquire().await.context("acquiring a connection")?;
        conn.execute("SELECT 1").await.context("SELECT 1")?;
        Ok(())
    }

    /// Starts a write transaction. On SQLite it is `BEGIN IMMEDIATE`: a deferred transaction
    /// that reads first and writes later fails at once with SQLITE_BUSY (no busy-timeout
    /// wait) when another connection wrote in between, which in WAL mode is common with the
    /// relay and consumers running beside the request handlers.
    ///
    /// On SQLite the transaction first waits for this process's turn to write (see
    /// [`Db`]); a use case must not open a second write transaction on the same database
    /// while it holds one.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        tracing::trace!(target: TRANSACTION_TARGET, "begin");
        let tx = match &self.writer {
            Some(writer) => writer.begin_with("BEGIN IMMEDIATE").await?,
            None => self.pool.begin().await?,
        };
        Ok(Tx {
            tx,
            committed: self.committed.clone(),
        })
    }

    /// [`Db::begin`] at `READ COMMITTED` on MySQL (set for this transaction only, in the
    /// same round trip as its `BEGIN`): for a consumer's effects, and for the inventory's
    /// moves of a reservation, whose locked read of it by order must not lock the gap where
    /// the reservation writer inserts new ones (the two deadlocked about once in a
    /// thousand orders under `nakku bench orders`).
    ///
    /// At MySQL's default `REPEATABLE READ`, a search that finds no row — an `UPDATE` of a
    /// replica row not there yet, a `DELETE` before a re-insert, the `NOT EXISTS` of an
    /// `INSERT … SELECT` — locks the gap where the row would go, and an insert into a gap
    /// another transaction locked waits for it. Two instances of one service share each
    /// consumer group, each with its own partitions; their batches of new rows in one table
    /// (new stock levels after a restock, new products) took gap locks and then inserted
    /// into each other's gaps: deadlocks, retried with backoff, over and over. At `READ
    /// COMMITTED` InnoDB takes no gap locks for searches, so such batches do not wait for
    /// each other at all. What a consumer relies on stays: its event ids' primary key
    /// (a duplicate delivered to two instances at once still collides), the conditional
    /// updates of a replica row ("newer facts only", one statement each), and row locks.
    /// SQLite runs one writer at a time and has no gap locks: the same as [`Db::begin`].
    pub async fn begin_read_committed(&self) -> Result<Tx, sqlx::Error> {
        if self.dialect != Dialect::MySql {
            return self.begin().await;
        }
        tracing::trace!(target: TRANSACTION_TARGET, "begin");
        let tx = self
            .pool
            .begin_with("SET TRANSACTION ISOLATION LEVEL READ COMMITTED; BEGIN")
            .await?;
        Ok(Tx {
            tx,
            committed: self.committed.clone(),
        })
    }

    /// One write statement outside a transaction, on SQLite through this process's writer
    /// connection like [`Db::begin`].
    pub async fn write<'q>(
        &self,
        q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<sqlx::any::AnyQueryResult, sqlx::Error> {
        q.execute(self.writer.as_ref().unwrap_or(&self.pool)).await
    }

    pub async fn close(&self) {
        if let Some(w) = &self.writer {
            w.close().await;
        }
        self.pool.close().await;
    }
}

/// Pool options shared by the reader and writer pools: SQLite connections get WAL, a busy
/// timeout (for writers in other processes) and foreign keys.
///
/// No idle timeout and no maximum lifetime, so sqlx 0.8 runs no pool maintenance task: that
/// task can read a transiently underflowed idle count (`usize::MAX`) and spin a core
/// forever, hanging shutdown (sqlx issue #3645, fixed in sqlx 0.9.1 by PR #4289; a stress
/// run here caught a test stuck in it for 30 minutes). Connections the server dropped are
/// still replaced: one that sat idle for [`PING_AFTER_IDLE`] is pinged before it is handed
/// out. Not every one: on MySQL a ping is a round trip, and pinging each acquisition made
/// two of every five round trips of the order flow pings (`Com_admin_commands` against
/// `Questions`). A connection busy a moment ago that breaks fails its next statement, as it
/// would had it broken just after a ping.
fn pool_options(dialect: Dialect) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .idle_timeout(None)
        .max_lifetime(None)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_AFTER_IDLE {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if dialect == Dialect::Sqlite {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                    )
                    .await?;
                }
                Ok(())
            })
        })
}

fn normalise(url: &str) -> String {
    match url.strip_prefix("mariadb://") {
        Some(rest) => format!("mysql://{rest}"),
        None => url.to_owned(),
    }
}

/// Splits `mysql://u:p@h:port/db?x` into (`mysql://u:p@h:port?x`, `db`).
fn split_mysql_url(url: &str) -> anyhow::Result<(String, String)> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let slash = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .with_context(|| format!("{} names no database", redact_url(url)))?;
    let name = base[slash + 1..].to_owned();
    anyhow::ensure!(
        is_db_name(&name),
        "database name {name:?} must be letters, digits and _"
    );
    let mut server = base[..slash].to_owned();
    if let Some(q) = query {
        server.push('?');
        server.push_str(q);
    }
    Ok((server, name))
}

/// A failed connection, explained: a refused certificate names the server and where trusted
/// CAs come from; a server that requires TLS, the setting that turned it off.
fn connect_error(e: sqlx::Error, display_url: &str) -> anyhow::Error {
    let peer = display_url
        .split("://")
        .nth(1)
        .map(|rest| rest.rsplit('@').next().unwrap_or(rest))
        .map(|hp| hp.split(['/', '?']).next().unwrap_or(hp))
        .unwrap_or(display_url);
    if let Some(why) = crate::tls::explain(&e, peer, "ssl-ca in the database URL or NAKKU_TLS_CA_FILE") {
        return anyhow::anyhow!("connecting to {display_url}: {why}");
    }
    let text = e.to_string();
    let plain = display_url.to_ascii_lowercase().contains("ssl-mode=disabled");
    // MySQL says "insecure transport"; MariaDB refuses a plain connection to a server with
    // require_secure_transport as "Access denied".
    if text.contains("insecure transport") || (plain && text.contains("1045")) {
        return anyhow::anyhow!(
            "connecting to {display_url}: refused over a plain connection; if the server requires TLS (require_secure_transport), remove ssl-mode=DISABLED from the URL and use ssl-mode=VERIFY_IDENTITY with its CA in ssl-ca or NAKKU_TLS_CA_FILE ({text})"
        );
    }
    anyhow::Error::new(e).context(format!("connecting to {display_url}"))
}

async fn create_mysql_database(url: &str) -> anyhow::Result<()> {
    let (server, name) = split_mysql_url(url)?;
    let mut conn = sqlx::AnyConnection::connect(&server)
        .await
        .map_err(|e| connect_error(e, &redact_url(&server)))?;
    // The name is checked by is_db_name, so it is safe to interpolate.
    conn.execute(
        format!("CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci").as_str(),
    )
    .await
    .with_context(|| format!("creating database {name}"))?;
    let _ = conn.close().await;
    Ok(())
}

/// Drops a MySQL database (used by tests and never by the service itself).
pub async fn drop_mysql_database(url: &Secret) -> anyhow::Result<()> {
    sqlx::any::install_default_drivers();
    let (server, name) = split_mysql_url(&normalise(url.expose()))?;
    let mut conn = sqlx::AnyConnection::connect(&server).await?;
    conn.execute(format!("DROP DATABASE IF EXISTS `{name}`").as_str())
        .await?;
    let _ = conn.close().await;
    Ok(())
}

fn sqlite_path(url: &str) -> &str {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    rest.split('?').next().unwrap_or(rest)
}

fn sqlite_url_creating_dirs(url: &str) -> anyhow::Result<String> {
    let path = sqlite_path(url);
    if let Some(parent) = Path::new(path).parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating directory {}", parent.display()))?;
        }
    }
    Ok(if url.contains('?') {
        url.to_owned()
    } else {
        format!("sqlite://{path}?mode=rwc")
    })
}

/// Appends `(?, ?, …)` to a query with one bind per value: the list of an `IN`. An empty
/// list gives `(NULL)`, which matches nothing, rather than the invalid `()`.
pub fn push_list<'args, T>(qb: &mut sqlx::QueryBuilder<'args, sqlx::Any>, values: impl IntoIterator<Item = T>)
where
    T: 'args + sqlx::Encode<'args, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    qb.push("(");
    let mut list = qb.separated(", ");
    let mut empty = true;
    for v in values {
        list.push_bind(v);
        empty = false;
    }
    if empty {
        list.push_unseparated("NULL");
    }
    list.push_unseparated(")");
}

/// Reads a text column on either backend: MySQL `TEXT` columns arrive through `Any` as
/// bytes, SQLite's as text.
pub fn text(row: &AnyRow, col: &str) -> Result<String, sqlx::Error> {
    match row.try_get::<String, _>(col) {
        Ok(s) => Ok(s),
        Err(_) => {
            let bytes: Vec<u8> = row.try_get(col)?;
            String::from_utf8(bytes).map_err(|e| sqlx::Error::Decode(Box::new(e)))
        }
    }
}

/// Like [`text`] for a nullable column.
pub fn opt_text(row: &AnyRow, col: &str) -> Result<Option<String>, sqlx::Error> {
    match row.try_get::<Option<String>, _>(col) {
        Ok(s) => Ok(s),
        Err(_) => {
            let bytes: Option<Vec<u8>> = row.try_get(col)?;
            bytes
                .map(String::from_utf8)
                .transpose()
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_urls_split_into_server_and_database() {
        let (server, name) = split_mysql_url("mysql://root:pw@h:3306/nakku_user?ssl-mode=disabled").unwrap();
        assert_eq!(server, "mysql://root:pw@h:3306?ssl-mode=disabled");
        assert_eq!(name, "nakku_user");
        assert!(split_mysql_url("mysql://h:3306/bad-name;drop").is_err());
    }

    #[tokio::test]
    async fn sqlite_databases_are_created_in_wal_mode() {
        let dir = std::env::temp_dir().join(format!("nakku-db-{}", crate::id::new_id()));
        let url = Secret::new(format!("sqlite://{}/sub/x.db", dir.display()));
        assert!(!Db::exists(&url).await.unwrap());
        let db = Db::connect(&url, 2).await.unwrap();
        assert!(Db::exists(&url).await.unwrap());
        let row = sqlx::query("PRAGMA journal_mode").fetch_one(db.pool()).await.unwrap();
        assert_eq!(text(&row, "journal_mode").unwrap(), "wal");
        db.ping().await.unwrap();
        // No reaping, so no sqlx 0.8 maintenance task to spin (see `pool_options`).
        for pool in [Some(db.pool()), db.writer.as_ref()].into_iter().flatten() {
            assert_eq!(pool.options().get_idle_timeout(), None);
            assert_eq!(pool.options().get_max_lifetime(), None);
            assert!(!pool.options().get_test_before_acquire(), "pinged by idleness instead");
        }
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn pool_stats_show_the_connections_held_and_the_pools_sizes() {
        let dir = std::env::temp_dir().join(format!("nakku-db-{}", crate::id::new_id()));
        let db = Db::connect(&Secret::new(format!("sqlite://{}/x.db", dir.display())), 10)
            .await
            .unwrap();
        let stats = |db: &Db| {
            db.pool_stats()
                .into_iter()
                .map(|(pool, in_use, _, max)| (pool, in_use, max))
                .collect::<Vec<_>>()
        };
        // SQLite: at most four readers, and the one writer.
        assert_eq!(stats(&db), [("main", 0, 4), ("writer", 0, 1)]);
        let held = db.pool().acquire().await.unwrap();
        let other = db.pool().acquire().await.unwrap();
        let tx = db.begin().await.unwrap();
        assert_eq!(stats(&db), [("main", 2, 4), ("writer", 1, 1)]);
        drop((held, tx));
        // A connection is back in the pool once its release (a rollback for the
        // transaction) is done: in a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while stats(&db) != [("main", 1, 4), ("writer", 0, 1)] {
            assert!(std::time::Instant::now() < deadline, "{:?}", stats(&db));
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        drop(other);
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    mod mysql {
        use super::*;

        async fn connection_id(db: &Db) -> Result<i64, sqlx::Error> {
            sqlx::query("SELECT CAST(CONNECTION_ID() AS SIGNED) AS id")
                .fetch_one(db.pool())
                .await?
                .try_get("id")
        }

        /// A connection the server dropped (a restart, `wait_timeout`, a proxy) is found
        /// out by the ping it gets once it sat idle, and replaced: the caller never sees it.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[ignore = "needs NAKKU_TEST_MYSQL_URL"]
        async fn a_connection_the_server_killed_is_replaced_before_it_is_handed_out_again() {
            let server = std::env::var("NAKKU_TEST_MYSQL_URL").expect("NAKKU_TEST_MYSQL_URL");
            let url = Secret::new(format!(
                "{}/nakku_dbtest_{}",
                server.trim_end_matches('/'),
                &crate::id::new_id().replace('-', "")[20..32]
            ));
            // One connection, so the next statement must get the same one or its replacement.
            let db = Db::connect(&url, 1).await.unwrap();
            let first = connection_id(&db).await.unwrap();
            let mut admin = sqlx::AnyConnection::connect(&server).await.unwrap();
            admin.execute(format!("KILL {first}").as_str()).await.unwrap();
            // Past the idle time after which a connection is pinged when handed out.
            tokio::time::sleep(PING_AFTER_IDLE + Duration::from_millis(200)).await;
            let second = connection_id(&db)
                .await
                .expect("the killed connection is replaced, not handed out");
            assert_ne!(first, second);
            db.close().await;
            let _ = admin.close().await;
            drop_mysql_database(&url).await.unwrap();
        }
    }
}
