//! Dead letters: messages a consumer gave up on, kept in the consumer's own database with
//! the error and attempt count, for operators to inspect, retry or purge
//! (`nakku events dlq ...`).

use crate::db::WriteOn;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::bus::{Delivery, EventBus, Message};
use super::Envelope;
use crate::db::{opt_text, text, Db};
use crate::id::{is_id, ms_to_rfc3339, new_id, now_ms};

/// One dead letter.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub id: String,
    pub consumer: String,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub topic: String,
    pub partition: i64,
    pub offset: i64,
    pub key: Option<String>,
    /// The message as received (lossy UTF-8 if it was not text).
    pub payload: String,
    pub error: String,
    pub attempts: i64,
    pub created_at: String,
    pub retried_at: Option<String>,
}

const COLS: &str = "id, consumer, event_id, event_type, topic, partition_no, offset_no, msg_key, payload, error, attempts, created_at, retried_at";

fn from_row(r: &AnyRow) -> Result<DeadLetter, sqlx::Error> {
    let retried: Option<i64> = r.try_get("retried_at")?;
    Ok(DeadLetter {
        id: text(r, "id")?,
        consumer: text(r, "consumer")?,
        event_id: opt_text(r, "event_id")?,
        event_type: opt_text(r, "event_type")?,
        topic: text(r, "topic")?,
        partition: r.try_get("partition_no")?,
        offset: r.try_get("offset_no")?,
        key: opt_text(r, "msg_key")?,
        payload: text(r, "payload")?,
        error: text(r, "error")?,
        attempts: r.try_get("attempts")?,
        created_at: ms_to_rfc3339(r.try_get("created_at")?),
        retried_at: retried.map(ms_to_rfc3339),
    })
}

/// Stores a dead letter; returns its id.
pub async fn insert(
    db: &Db,
    consumer: &str,
    d: &Delivery,
    env: Option<&Envelope>,
    error: &str,
    attempts: u32,
) -> Result<String, sqlx::Error> {
    let id = new_id();
    let now = now_ms();
    sqlx::query(&format!(
        "INSERT INTO dead_letters ({COLS}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)"
    ))
    .bind(&id)
    .bind(consumer)
    .bind(env.map(|e| e.id.clone()))
    .bind(env.map(|e| e.event_type.clone()))
    .bind(&d.topic)
    .bind(i64::from(d.partition))
    .bind(d.offset)
    .bind(d.key.clone())
    .bind(String::from_utf8_lossy(&d.payload).into_owned())
    .bind(error.chars().take(1900).collect::<String>())
    .bind(i64::from(attempts))
    .bind(now)
    .bind(now)
    .write_on(db)
    .await?;
    Ok(id)
}

/// Dead letters not yet retried or purged, oldest first; all of them with `include_retried`.
pub async fn list(db: &Db, consumer: Option<&str>, include_retried: bool) -> Result<Vec<DeadLetter>, sqlx::Error> {
    let mut qb =
        sqlx::QueryBuilder::<sqlx::Any>::new(format!("SELECT {COLS} FROM dead_letters WHERE deleted_at IS NULL"));
    if !include_retried {
        qb.push(" AND retried_at IS NULL");
    }
    if let Some(c) = consumer {
        qb.push(" AND consumer = ").push_bind(c);
    }
    qb.push(" ORDER BY id LIMIT 1000");
    qb.build().fetch_all(db.pool()).await?.iter().map(from_row).collect()
}

pub async fn get(db: &Db, id: &str) -> Result<Option<DeadLetter>, sqlx::Error> {
    if !is_id(id) {
        return Ok(None);
    }
    sqlx::query(&format!(
        "SELECT {COLS} FROM dead_letters WHERE id = ? AND deleted_at IS NULL"
    ))
    .bind(id)
    .fetch_optional(db.pool())
    .await?
    .map(|r| from_row(&r))
    .transpose()
}

/// Re-delivers a dead letter by publishing it again to its topic with its key. Consumers
/// that already applied it drop it as a duplicate; the one that gave up applies it now.
pub async fn retry(db: &Db, bus: &dyn EventBus, dl: &DeadLetter) -> anyhow::Result<()> {
    let msg = Message {
        topic: dl.topic.clone(),
        key: dl.key.clone().unwrap_or_default(),
        payload: dl.payload.clone().into_bytes(),
        // The envelope inside carries its own context; a retry is not a new cause.
        traceparent: None,
    };
    bus.publish(std::slice::from_ref(&msg)).await?;
    let now = now_ms();
    sqlx::query("UPDATE dead_letters SET retried_at = ?, updated_at = ? WHERE id = ?")
        .bind(now)
        .bind(now)
        .bind(&dl.id)
        .write_on(db)
        .await?;
    Ok(())
}

/// Purges (soft-deletes) dead letters: one by id, or all of a consumer's, or all.
pub async fn purge(db: &Db, id: Option<&str>, consumer: Option<&str>) -> Result<u64, sqlx::Error> {
    let now = now_ms();
    let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new("UPDATE dead_letters SET deleted_at = ");
    qb.push_bind(now)
        .push(", updated_at = ")
        .push_bind(now)
        .push(" WHERE deleted_at IS NULL");
    if let Some(i) = id {
        qb.push(" AND id = ").push_bind(i);
    }
    if let Some(c) = consumer {
        qb.push(" AND consumer = ").push_bind(c);
    }
    Ok(db.write(qb.build()).await?.rows_affected())
}
