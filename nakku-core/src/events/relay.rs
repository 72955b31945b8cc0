//! The outbox relay: publishes unsent outbox rows in order, then marks them sent.
//!
//! - Order: one relay instance per database publishes at a time. Instances compete for a
//!   lease row (`outbox_lease`); the holder renews it while it works, and a standby takes
//!   over when it lapses. This keeps `seq` order on the bus, which row-by-row claiming with
//!   `SKIP LOCKED` would not.
//! - At least once: a crash between publish and mark-sent republishes the batch;
//!   consumers drop the duplicates by event id.
//! - Outages: when the bus is down rows simply wait; the relay backs off (100 ms doubling to
//!   10 s, with jitter) and `/health` reports the bus down and the backlog.

use crate::db::WriteOn;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::Row;
use tokio_util::sync::CancellationToken;

use super::bus::EventBus;
use super::Envelope;
use crate::db::{text, Db};
use crate::error::is_unique_violation;
use crate::id::{ms_to_rfc3339, new_id, now_ms};
use crate::retry::backoff;

/// Relay tuning.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub batch: usize,
    /// How often a relay looks for new rows while events flow (and for a second after).
    pub poll: Duration,
    /// How often it looks once nothing has come for a second. A commit on its database in
    /// this process wakes it at once either way; this bounds the wait for events written
    /// by other processes (other instances of the service).
    pub idle_poll: Duration,
    pub lease: Duration,
    pub topic_prefix: String,
    pub max_event_bytes: usize,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            batch: 500,
            poll: Duration::from_millis(20),
            idle_poll: Duration::from_millis(100),
            lease: Duration::from_secs(10),
            topic_prefix: "nakku".to_owned(),
            max_event_bytes: super::DEFAULT_MAX_EVENT_BYTES,
        }
    }
}

/// How often a standby relay asks for the lease (the holder renews it every half lease;
/// a standby takes over within a second of its lapse).
const STANDBY_POLL: Duration = Duration::from_secs(1);

/// What `/health` and `/metrics` read about a relay.
#[derive(Debug, Default)]
pub struct RelayStatus {
    pub bus_up: AtomicBool,
    pub published: AtomicI64,
    pub last_error: Mutex<Option<String>>,
}

/// Relays one service database's outbox to the bus.
#[derive(Clone)]
pub struct Relay {
    service: &'static str,
    db: Db,
    bus: Arc<dyn EventBus>,
    cfg: RelayConfig,
    instance: String,
    status: Arc<RelayStatus>,
    /// Until when this instance is known to hold the lease (ms): it is renewed only once
    /// half of it has passed, not on every poll.
    held_until: Arc<std::sync::atomic::AtomicI64>,
}

/// Backlog figures for health checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    pub unpublished: i64,
    /// Age of the oldest unpublished row, ms.
    pub oldest_age_ms: i64,
}

/// Counts unpublished rows and the age of the oldest.
pub async fn backlog(db: &Db) -> Result<Backlog, sqlx::Error> {
    let r = sqlx::query("SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox WHERE published_at IS NULL")
        .fetch_one(db.pool())
        .await?;
    let n: i64 = r.try_get("n")?;
    let oldest: Option<i64> = r.try_get("oldest")?;
    Ok(Backlog {
        unpublished: n,
        oldest_age_ms: oldest.map(|o| (now_ms() - o).max(0)).unwrap_or(0),
    })
}

impl Relay {
    pub fn new(service: &'static str, db: Db, bus: Arc<dyn EventBus>, cfg: RelayConfig) -> Relay {
        let status = Arc::new(RelayStatus::default());
        status.bus_up.store(true, Ordering::Relaxed);
        Relay {
            service,
            db,
            bus,
            cfg,
            instance: format!("{}-{}", std::process::id(), new_id()),
            status,
            held_until: Arc::new(std::sync::atomic::AtomicI64::new(0)),
        }
    }

    pub fn status(&self) -> Arc<RelayStatus> {
        self.status.clone()
    }

    /// Takes or renews the lease; false when another instance holds it.
    async fn hold_lease(&self) -> Result<bool, sqlx::Error> {
        let now = now_ms();
        let lease_ms = self.cfg.lease.as_millis() as i64;
        if self.held_until.load(Ordering::Relaxed) - lease_ms / 2 > now {
            return Ok(true);
        }
        let held = self.take_lease(now).await?;
        let until = if held { now + lease_ms } else { 0 };
        self.held_until.store(until, Ordering::Relaxed);
        Ok(held)
    }

    async fn take_lease(&self, now: i64) -> Result<bool, sqlx::Error> {
        let until = now + self.cfg.lease.as_millis() as i64;
        let r = sqlx::query(
            "UPDATE outbox_lease SET holder = ?, expires_at = ?, updated_at = ? \
             WHERE name = 'relay' AND (holder = ? OR expires_at < ?)",
        )
        .bind(&self.instance)
        .bind(until)
        .bind(now)
        .bind(&self.instance)
        .bind(now)
        .write_on(&self.db)
        .await?;
        if r.rows_affected() > 0 {
            return Ok(true);
        }
        match sqlx::query("INSERT INTO outbox_lease (name, holder, expires_at, updated_at) VALUES ('relay', ?, ?, ?)")
            .bind(&self.instance)
            .bind(until)
            .bind(now)
            .write_on(&self.db)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the lease up (at shutdown) so a standby can take over at once.
    pub async fn release_lease(&self) {
        self.held_until.store(0, Ordering::Relaxed);
        let _ = sqlx::query("UPDATE outbox_lease SET expires_at = 0 WHERE name = 'relay' AND holder = ?")
            .bind(&self.instance)
            .write_on(&self.db)
            .await;
    }

    /// Publishes one batch if this instance holds the lease. Returns how many rows it sent.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        if !self.hold_lease().await? {
            return Ok(0);
        }
        let rows = sqlx::query(
            "SELECT seq, id, event_type, source, aggregate_id, correlation_id, version, occurred_at, payload, traceparent \
             FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT ?",
        )
        .bind(self.cfg.batch as i64)
        .fetch_all(self.db.pool())
        .await?;
        if rows.is_empty() {
            metrics::gauge!("nakku_outbox_backlog", "service" => self.service).set(0.0);
            metrics::gauge!("nakku_outbox_oldest_age_seconds", "service" => self.service).set(0.0);
            return Ok(0);
        }
        let mut seqs = Vec::with_capacity(rows.len());
        let mut msgs = Vec::with_capacity(rows.len());
        // Traced events get a `publish` span, a child of the span that wrote the event; it
        // travels on as the event's context, so consumers hang below the relay.
        let mut spans = Vec::new();
        let mut types = Vec::with_capacity(rows.len());
        for r in &rows {
            let version: i64 = r.try_get("version")?;
            let mut env = Envelope {
                id: r.try_get("id")?,
                event_type: r.try_get("event_type")?,
                source: r.try_get("source")?,
                aggregate_id: r.try_get("aggregate_id")?,
                occurred_at: ms_to_rfc3339(r.try_get("occurred_at")?),
                correlation_id: r.try_get("correlation_id")?,
                version: u32::try_from(version).unwrap_or(1),
                payload: serde_json::from_str(&text(r, "payload")?)?,
                traceparent: r.try_get("traceparent")?,
            };
            if env.traceparent.is_some() && crate::trace::enabled() {
                let span = tracing::info_span!(
                    "publish",
                    otel.name = format!("publish {}", env.event_type),
                    otel.kind = "producer",
                    event_type = %env.event_type,
                    event_id = %env.id,
                    service = self.service,
                    trace_id = tracing::field::Empty,
                );
                crate::trace::adopt(&span, env.traceparent.as_deref());
                env.traceparent = crate::trace::traceparent_of(&span).or(env.traceparent);
                spans.push(span);
            }
            msgs.push(env.to_message(&self.cfg.topic_prefix, self.cfg.max_event_bytes)?);
            types.push(env.event_type);
            seqs.push(r.try_get::<i64, _>("seq")?);
        }
        if let Err(e) = self.bus.publish(&msgs).await {
            self.status.bus_up.store(false, Ordering::Relaxed);
            *self.status.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
            metrics::counter!("nakku_outbox_publish_failures_total", "service" => self.service).increment(1);
            let _ = sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?")
                .bind(e.to_string().chars().take(1900).collect::<String>())
                .bind(seqs[0])
                .write_on(&self.db)
                .await;
            return Err(e.into());
        }
        self.status.bus_up.store(true, Ordering::Relaxed);
        drop(spans); // published: the spans end here
        mark_published(&self.db, &seqs).await?;
        let n = seqs.len();
        // Business event rates (stock alerts, deliveries completed...) by type.
        for t in &types {
            metrics::counter!("nakku_events_published_total", "type" => t.clone()).increment(1);
        }
        self.status.published.fetch_add(n as i64, Ordering::Relaxed);
        metrics::counter!("nakku_outbox_published_total", "service" => self.service).increment(n as u64);
        Ok(n)
    }

    /// Runs until `shutdown`, then publishes what is left (if the bus is up) and gives up
    /// the lease.
    ///
    /// Its rhythm: a full batch is followed by the next at once; while events flow it
    /// looks every `poll` (so a busy outbox goes out in batches, not row by row); once a
    /// look finds nothing it waits for a commit on its database in this process (which is
    /// where a service's events are written) or `poll`, `idle_poll` after a quiet second —
    /// an idle service does not query its outbox fifty times a second. A standby (another
    /// instance holds the lease) asks for the lease once a second.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut failures: u32 = 0;
        let mut last_gauge = tokio::time::Instant::now() - Duration::from_secs(2);
        let mut last_row = tokio::time::Instant::now();
        loop {
            let result = tokio::select! {
                r = self.run_once() => r,
                _ = shutdown.cancelled() => break,
            };
            let mut wake_on_commit = false;
            let pause = match result {
                Ok(n) if n >= self.cfg.batch => Duration::ZERO,
                Ok(n) if n > 0 => {
                    failures = 0;
                    last_row = tokio::time::Instant::now();
                    self.cfg.poll
                }
                Ok(_) if self.held_until.load(Ordering::Relaxed) <= now_ms() => {
                    failures = 0;
                    STANDBY_POLL
                }
                Ok(_) => {
                    failures = 0;
                    wake_on_commit = true;
                    if last_row.elapsed() < Duration::from_secs(1) {
                        self.cfg.poll
                    } else {
                        self.cfg.idle_poll.max(self.cfg.poll)
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let backoff = backoff(failures, Duration::from_millis(100), Duration::from_secs(10));
                    tracing::warn!(service = self.service, error = %e, retry_in_ms = backoff.as_millis() as u64, "outbox relay: publish failed");
                    backoff
                }
            };
            // The backlog gauge: about once a second, not on every poll.
            if last_gauge.elapsed() >= Duration::from_secs(1) {
                last_gauge = tokio::time::Instant::now();
                if let Ok(b) = backlog(&self.db).await {
                    metrics::gauge!("nakku_outbox_backlog", "service" => self.service).set(b.unpublished as f64);
                    metrics::gauge!("nakku_outbox_oldest_age_seconds", "service" => self.service)
                        .set(b.oldest_age_ms as f64 / 1000.0);
                }
            }
            if !pause.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = self.db.committed(), if wake_on_commit => {}
                    _ = shutdown.cancelled() => break,
                }
            }
        }
        self.flush().await;
        self.release_lease().await;
    }

    /// Publishes until the outbox is empty or publishing fails (used at shutdown).
    pub async fn flush(&self) {
        for _ in 0..100 {
            match tokio::time::timeout(Duration::from_secs(5), self.run_once()).await {
                Ok(Ok(n)) if n > 0 => continue,
                _ => break,
            }
        }
    }
}

async fn mark_published(db: &Db, seqs: &[i64]) -> Result<(), sqlx::Error> {
    let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new("UPDATE outbox SET published_at = ");
    qb.push_bind(now_ms()).push(", attempts = attempts + 1 WHERE seq IN ");
    crate::db::push_list(&mut qb, seqs.iter().copied());
    db.write(qb.build()).await?;
    Ok(())
}
