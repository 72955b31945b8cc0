//! The embedded durable log: an append-only table in its own SQLite file
//! (`<data_dir>/nakku_events.db`, WAL, synchronous=FULL), with consumer-group offsets beside it.
//!
//! Why SQLite rather than hand-written segment files: it already gives crash-safe appends
//! (a torn write is rolled back, not half-read), an index for replay by offset or time,
//! and safe sharing between the server and `nakku events ...` run from another terminal.
//! Offsets are global and increase monotonically (not contiguous within one topic); each
//! topic has a single partition, so order is total per topic.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use tokio::sync::Notify;

use super::bus::*;
use crate::id::now_ms;

/// The log, shared by every service of an embedded process.
#[derive(Clone, Debug)]
pub struct EmbeddedLog {
    pool: SqlitePool,
    /// Readers in this process, by topic: an append wakes only the readers of its topics.
    waiters: Arc<std::sync::Mutex<HashMap<String, Vec<std::sync::Weak<Notify>>>>>,
}

fn unavailable(e: sqlx::Error) -> BusError {
    BusError::Unavailable(format!("embedded log: {e}"))
}

impl EmbeddedLog {
    /// Opens (creating if needed) the log file at `path`.
    pub async fn open(path: &Path) -> anyhow::Result<EmbeddedLog> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(opts).await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS log (
                 offset  INTEGER PRIMARY KEY AUTOINCREMENT,
                 topic   TEXT    NOT NULL,
                 key     TEXT    NOT NULL,
                 ts      INTEGER NOT NULL,
                 payload BLOB    NOT NULL)",
        )
        .execute(&pool)
        .await?;
        sqlx::query("CREATE INDEX IF NOT EXISTS log_topic ON log (topic, offset)")
            .execute(&pool)
            .await?;
        sqlx::query("CREATE INDEX IF NOT EXISTS log_ts ON log (ts)")
            .execute(&pool)
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS group_offsets (
                 grp         TEXT    NOT NULL,
                 topic       TEXT    NOT NULL,
                 next_offset INTEGER NOT NULL,
                 updated_at  INTEGER NOT NULL,
                 PRIMARY KEY (grp, topic))",
        )
        .execute(&pool)
        .await?;
        // Live members of each group, so a rewind cannot pull offsets from under a running
        // consumer (which would keep its own position and overwrite them).
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS group_members (
                 grp       TEXT    NOT NULL,
                 member    TEXT    NOT NULL,
                 last_seen INTEGER NOT NULL,
                 PRIMARY KEY (grp, member))",
        )
        .execute(&pool)
        .await?;
        Ok(EmbeddedLog {
            pool,
            waiters: Arc::new(std::sync::Mutex::new(HashMap::new())),
        })
    }

    async fn position(&self, topic: &str, at: Position) -> Result<i64, BusError> {
        let row = match at {
            Position::Beginning => return Ok(0),
            Position::Offset(n) => return Ok(n),
            Position::End => {
                sqlx::query("SELECT COALESCE(MAX(offset), 0) + 1 AS p FROM log WHERE topic = ?")
                    .bind(topic)
                    .fetch_one(&self.pool)
                    .await
            }
            Position::Time(t) => {
                sqlx::query(
                    "SELECT COALESCE(MIN(offset), (SELECT COALESCE(MAX(offset), 0) + 1 FROM log)) AS p \
                 FROM log WHERE topic = ? AND ts >= ?",
                )
                .bind(topic)
                .bind(t)
                .fetch_one(&self.pool)
                .await
            }
        };
        row.and_then(|r| r.try_get("p")).map_err(unavailable)
    }

    /// Retention: deletes messages stored before `before_ms` that every consumer group has
    /// already read past (a message some group still needs is kept, however old). Returns
    /// how many were deleted. Group-less readers (`events tail`) do not hold messages back.
    pub async fn compact(&self, before_ms: i64) -> Result<u64, BusError> {
        let r = sqlx::query(
            "DELETE FROM log WHERE ts < ? AND offset < COALESCE( \
                 (SELECT MIN(g.next_offset) FROM group_offsets g WHERE g.topic = log.topic), 0)",
        )
        .bind(before_ms)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(r.rows_affected())
    }

    /// A wake-up for a reader of `topics` (a stored permit: an append between the reader's
    /// fetch and its wait is not missed).
    fn register(&self, topics: impl Iterator<Item = String>) -> Arc<Notify> {
        let wake = Arc::new(Notify::new());
        if let Ok(mut w) = self.waiters.lock() {
            for t in topics {
                w.entry(t).or_default().push(Arc::downgrade(&wake));
            }
        }
        wake
    }

    fn wake(&self, msgs: &[Message]) {
        let Ok(mut w) = self.waiters.lock() else { return };
        let mut topics: Vec<&str> = msgs.iter().map(|m| m.topic.as_str()).collect();
        topics.sort_unstable();
        topics.dedup();
        for t in topics {
            if let Some(list) = w.get_mut(t) {
                list.retain(|r| match r.upgrade() {
                    Some(n) => {
                        n.notify_one();
                        true
                    }
                    None => false,
                });
            }
        }
    }

    fn reader(&self, group: Option<String>, positions: HashMap<String, i64>) -> Box<dyn Subscriber> {
        let wake = self.register(positions.keys().cloned());
        Box::new(EmbeddedSubscriber {
            wake,
            log: self.clone(),
            group,
            positions,
            member: crate::id::new_id(),
            seen_at: 0,
            swept_at: 0,
            last_message: tokio::time::Instant::now(),
        })
    }
}

impl EventBus for EmbeddedLog {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    fn publish<'a>(&'a self, msgs: &'a [Message]) -> BoxFut<'a, Result<(), BusError>> {
        crate::trace::as_service(crate::trace::EVENT_LOG, async move {
            let mut tx = self.pool.begin().await.map_err(unavailable)?;
            let ts = now_ms();
            // Many rows per statement: each statement is a round trip to sqlx's SQLite thread.
            for chunk in msgs.chunks(100) {
                let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new("INSERT INTO log (topic, key, ts, payload) ");
                qb.push_values(chunk, |mut row, m| {
                    row.push_bind(&m.topic)
                        .push_bind(&m.key)
                        .push_bind(ts)
                        .push_bind(&m.payload);
                });
                qb.build().execute(&mut *tx).await.map_err(unavailable)?;
            }
            tx.commit().await.map_err(unavailable)?;
            self.wake(msgs);
            Ok(())
        })
    }

    fn subscribe<'a>(
        &'a self,
        group: &'a str,
        topics: &'a [String],
    ) -> BoxFut<'a, Result<Box<dyn Subscriber>, BusError>> {
        crate::trace::as_service(crate::trace::EVENT_LOG, async move {
            let mut positions = HashMap::new();
            for t in topics {
                let committed: Option<i64> =
                    sqlx::query("SELECT next_offset FROM group_offsets WHERE grp = ? AND topic = ?")
                        .bind(group)
                        .bind(t)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(unavailable)?
                        .map(|r| r.try_get("next_offset"))
                        .transpose()
                        .map_err(unavailable)?;
                positions.insert(t.clone(), committed.unwrap_or(0));
            }
            Ok(self.reader(Some(group.to_owned()), positions))
        })
    }

    fn read<'a>(&'a self, topics: &'a [String], from: Position) -> BoxFut<'a, Result<Box<dyn Subscriber>, BusError>> {
        crate::trace::as_service(crate::trace::EVENT_LOG, async move {
            let mut positions = HashMap::new();
            for t in topics {
                positions.insert(t.clone(), self.position(t, from).await?);
            }
            Ok(self.reader(None, positions))
        })
    }

    fn rewind<'a>(&'a self, group: &'a str, topics: &'a [String], to: Position) -> BoxFut<'a, Result<(), BusError>> {
        crate::trace::as_service(crate::trace::EVENT_LOG, async move {
            let live: i64 = sqlx::query("SELECT COUNT(*) AS n FROM group_members WHERE grp = ? AND last_seen > ?")
                .bind(group)
                .bind(now_ms() - MEMBER_TIMEOUT_MS)
                .fetch_one(&self.pool)
                .await
                .and_then(|r| r.try_get("n"))
                .map_err(unavailable)?;
            if live > 0 {
                return Err(BusError::Rejected(format!(
                    "consumer group {group} is running; stop its service first"
                )));
            }
            for t in topics {
                let p = self.position(t, to).await?;
                commit_offset(&self.pool, group, t, p).await?;
            }
            Ok(())
        })
    }

    fn group_lag<'a>(&'a self, group: &'a str, topics: &'a [String]) -> BoxFut<'a, Result<i64, BusError>> {
        crate::trace::as_service(crate::trace::EVENT_LOG, async move {
            let mut total = 0i64;
            for topic in topics {
                let n: i64 = sqlx::query(
                    "SELECT COUNT(*) AS n FROM log WHERE topic = ? AND offset >= \
                     COALESCE((SELECT next_offset FROM group_offsets WHERE grp = ? AND topic = ?), 0)",
                )
                .bind(topic)
                .bind(group)
                .bind(topic)
                .fetch_one(&self.pool)
                .await
                .and_then(|r| r.try_get("n"))
                .map_err(unavailable)?;
                total += n;
            }
            Ok(total)
        })
    }

    fn topics(&self) -> BoxFut<'_, Result<Vec<String>, BusError>> {
        crate::trace::as_service(crate::trace::EVENT_LOG, async move {
            let rows = sqlx::query("SELECT DISTINCT topic FROM log ORDER BY topic")
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
            rows.iter().map(|r| r.try_get("topic").map_err(unavailable)).collect()
        })
    }

    fn ping(&self) -> BoxFut<'_, Result<(), BusError>> {
        crate::trace::as_service(crate::trace::EVENT_LOG, async move {
            sqlx::query("SELECT 1").execute(&self.pool).await.map_err(unavailable)?;
            Ok(())
        })
    }
}

async fn commit_offset(pool: &SqlitePool, group: &str, topic: &str, next: i64) -> Result<(), BusError> {
    sqlx::query(
        "INSERT INTO group_offsets (grp, topic, next_offset, updated_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT(grp, topic) DO UPDATE SET next_offset = excluded.next_offset, updated_at = excluded.updated_at",
    )
    .bind(group)
    .bind(topic)
    .bind(next)
    .bind(now_ms())
    .execute(pool)
    .await
    .map_err(unavailable)?;
    Ok(())
}

/// A group member not seen for this long is gone.
const MEMBER_TIMEOUT_MS: i64 = 5_000;
/// How often a member says it is alive: twice within the timeout. Each is a write (and an
/// fsync) of the log's file, so not every poll, nor every second.
const HEARTBEAT_MS: i64 = 2_000;
/// How often a member clears the rows of members long gone.
const SWEEP_MS: i64 = 60_000;

struct EmbeddedSubscriber {
    /// Woken by appends to its topics in this process.
    wake: Arc<Notify>,
    log: EmbeddedLog,
    group: Option<String>,
    /// Next offset to deliver, per topic.
    positions: HashMap<String, i64>,
    member: String,
    seen_at: i64,
    swept_at: i64,
    /// When it last fetched a message (its naps lengthen after a quiet second).
    last_message: tokio::time::Instant,
}

impl EmbeddedSubscriber {
    /// Records that this member is alive (every [`HEARTBEAT_MS`] at most).
    async fn heartbeat(&mut self) -> Result<(), BusError> {
        let Some(g) = &self.group else { return Ok(()) };
        let now = now_ms();
        if now - self.seen_at < HEARTBEAT_MS {
            return Ok(());
        }
        self.seen_at = now;
        sqlx::query(
            "INSERT INTO group_members (grp, member, last_seen) VALUES (?, ?, ?)              ON CONFLICT(grp, member) DO UPDATE SET last_seen = excluded.last_seen",
        )
        .bind(g)
        .bind(&self.member)
        .bind(now)
        .execute(&self.log.pool)
        .await
        .map_err(unavailable)?;
        if now - self.swept_at < SWEEP_MS {
            return Ok(());
        }
        self.swept_at = now;
        sqlx::query("DELETE FROM group_members WHERE last_seen < ?")
            .bind(now - 10 * MEMBER_TIMEOUT_MS)
            .execute(&self.log.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn fetch(&mut self, max: usize) -> Result<Vec<Delivery>, BusError> {
        if self.positions.is_empty() {
            return Ok(Vec::new());
        }
        // Each topic from its own position: a quiet topic must not hold the others back (a
        // single "offset >= the lowest position" window fills up with messages of busy
        // topics already delivered, and the reader stalls).
        let (topics, from): (Vec<String>, Vec<i64>) = self.positions.iter().map(|(t, p)| (t.clone(), *p)).unzip();
        let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new("SELECT offset, topic, key, ts, payload FROM log WHERE ");
        for (i, (t, p)) in topics.iter().zip(&from).enumerate() {
            if i > 0 {
                qb.push(" OR ");
            }
            qb.push("(topic = ")
                .push_bind(t)
                .push(" AND offset >= ")
                .push_bind(*p)
                .push(")");
        }
        qb.push(" ORDER BY offset LIMIT ").push_bind(max as i64);
        let rows = qb.build().fetch_all(&self.log.pool).await.map_err(unavailable)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let topic: String = r.try_get("topic").map_err(unavailable)?;
            let offset: i64 = r.try_get("offset").map_err(unavailable)?;
            let Some(next) = self.positions.get_mut(&topic) else {
                continue;
            };
            if offset < *next {
                continue;
            }
            *next = offset + 1;
            out.push(Delivery {
                topic,
                partition: 0,
                offset,
                key: r.try_get("key").map_err(unavailable)?,
                payload: r.try_get("payload").map_err(unavailable)?,
                traceparent: None,
                timestamp_ms: r.try_get("ts").map_err(unavailable)?,
            });
        }
        Ok(out)
    }
}

impl Subscriber for EmbeddedSubscriber {
    fn poll<'a>(&'a mut self, max: usize, wait: Duration) -> BoxFut<'a, Result<Vec<Delivery>, BusError>> {
        crate::trace::as_service(crate::trace::EVENT_LOG, async move {
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                self.heartbeat().await?;
                let batch = self.fetch(max).await?;
                let now = tokio::time::Instant::now();
                if !batch.is_empty() {
                    self.last_message = now;
                    return Ok(batch);
                }
                if now >= deadline {
                    return Ok(batch);
                }
                // Woken by an append in this process; for writers in other processes it
                // looks every 100 ms while messages come, and once a quiet second has
                // passed only when the caller's wait is up (an idle consumer then reads
                // the log twice a second, not ten times).
                let nap = if now.duration_since(self.last_message) < Duration::from_secs(1) {
                    deadline.saturating_duration_since(now).min(Duration::from_millis(100))
                } else {
                    deadline.saturating_duration_since(now)
                };
                let _ = tokio::time::timeout(nap, self.wake.notified()).await;
            }
        })
    }

    fn commit<'a>(&'a mut self, d: &'a Delivery) -> BoxFut<'a, Result<(), BusError>> {
        crate::trace::as_service(crate::trace::EVENT_LOG, async move {
            match &self.group {
                Some(g) => commit_offset(&self.log.pool, g, &d.topic, d.offset + 1).await,
                None => Ok(()),
            }
        })
    }

    fn lag(&mut self) -> BoxFut<'_, Option<i64>> {
        crate::trace::as_service(crate::trace::EVENT_LOG, async move {
            let mut total = 0;
            for (topic, next) in &self.positions {
                let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM log WHERE topic = ? AND offset >= ?")
                    .bind(topic)
                    .bind(next)
                    .fetch_one(&self.log.pool)
                    .await
                    .ok()?
                    .try_get("n")
                    .ok()?;
                total += n;
            }
            Some(total)
        })
    }
}
